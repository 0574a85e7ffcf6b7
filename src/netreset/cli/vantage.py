"""Two vantage points on the command line: ``compare A [B]`` and the work behind ``--peer-capture``.

``compare`` is a click command for the main group (register it with ``main.add_command(compare)``);
:func:`peer_reset_rows` and :func:`peer_handshake_rows` are what ``locate-reset --peer-capture`` and
``handshakes --peer-capture`` print instead of the single-capture rows. Thin, like every command: load,
call :func:`netreset.analyses.vantage.compare_vantages`, render.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from netreset.errors import UsageError

if TYPE_CHECKING:  # imported where used: every command's start-up loads this module (≈ 20 ms saved)
    from netreset.analyses.vantage import Comparison


def _score(comparison: Comparison) -> tuple[int, int]:
    """Farther apart first (the point of a second capture), then more packets in common."""
    from netreset.analyses.vantage.records import routers_between

    matched = sum(j.matched_packets for j in comparison.conversations)
    routers = routers_between(comparison)
    return (routers if routers is not None and matched else -1, matched)


def choose_comparison(a_path: str, b_path: str | None) -> Comparison:
    """Compare two files — or the interfaces of one file with each other (a capture taken on a middlebox).

    When a file holds several interfaces, every pairing is compared and the one whose capture points lie
    farthest apart (then share the most packets) is kept; the others are named in ``other_interfaces``.
    """
    from netreset.analyses.vantage import Comparison, compare_vantages, load_vantages

    a_points = load_vantages(a_path)
    if b_path is None or Path(b_path).resolve() == Path(a_path).resolve():
        if len(a_points) < 2:
            raise UsageError(f"{a_path}: one capture point only; compare needs a second capture (or interface)")
        options = [(x, y) for i, x in enumerate(a_points) for y in a_points[i + 1:]]
    else:
        options = [(x, y) for x in a_points for y in load_vantages(b_path)]
    comparisons = [compare_vantages(x, y) for x, y in options]
    best = max(comparisons, key=_score)
    used = {best.a.label, best.b.label}
    others = tuple(sorted({v.label for pair in options for v in pair if v.interface and v.label not in used}))
    return Comparison(best.a, best.b, best.clock, best.conversations, others)


def peer_comparisons(analysis, peer_path: str) -> list[Comparison]:
    """The analysed capture (A) compared with every capture point of the peer file."""
    from netreset.analyses.vantage import Vantage, compare_vantages, load_vantages

    paths = analysis.stats.paths
    label = Path(paths[0] if paths else "capture").name
    a = Vantage(label, ", ".join(paths), analysis.table, tuple(analysis.raw_conversations))
    return [compare_vantages(a, b, analysis.ttl_table) for b in load_vantages(peer_path)]


def peer_reset_rows(analysis, peer_path: str) -> list[dict]:
    """``locate-reset --peer-capture`` rows: verdicts judged again with the second capture's evidence."""
    from netreset.analyses.vantage.peer_evidence import apply_peer_evidence

    return apply_peer_evidence(analysis.resets, peer_comparisons(analysis, peer_path))


def peer_handshake_rows(analysis, peer_path: str) -> list[dict]:
    """``handshakes --peer-capture`` rows: each finding with what the other capture saw of the connection."""
    comparisons = peer_comparisons(analysis, peer_path)
    rows = []
    for finding in analysis.handshakes:
        row = finding.to_dict()
        joined = [j for c in comparisons if (j := c.joined_for(finding.conversation)) is not None]
        notes = list(dict.fromkeys(n for j in joined for n in j.notes))
        row["seen_in_peer_capture"] = any(j.b is not None for j in joined)
        row["peer_capture_notes"] = notes
        if notes:
            row["summary"] = f"{row['summary']} Second capture: {' '.join(notes)}"
        rows.append(row)
    return rows


@click.command()
@click.argument("capture_a", type=click.Path())
@click.argument("capture_b", type=click.Path(), required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Also draw the two ladders side by side (.png, .svg, .pdf): --stream N, else the first "
                   "conversation with one-sided packets.")
@click.option("--stream", type=int, metavar="N", help="Conversation N of capture A for the figure.")
def compare(capture_a: str, capture_b: str | None, fmt: str, output: str | None, stream: int | None):
    """Join two captures of the same traffic (both ends, or both interfaces of a middlebox): clock offset,
    packets only one side saw (injected / dropped), NAT, rewritten fields."""
    from netreset.analyses.vantage.records import comparison_text

    for path in (capture_a, capture_b):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"{path}: no such capture file")
    comparison = choose_comparison(capture_a, capture_b)
    document = comparison.to_dict()
    if fmt == "json":
        click.echo(json.dumps(document, indent=2) + "\n", nl=False)
    else:
        click.echo(comparison_text(document), nl=False)
    if output is not None:
        from netreset.plots.figures import image_format, save_figure
        from netreset.plots.ladder_pair import ladder_pair_figure, pick_joined

        image_format(output)
        save_figure(ladder_pair_figure(comparison, pick_joined(comparison, stream)), output)
        click.echo(f"wrote {output}", err=True)


VANTAGE_COMMANDS = (compare,)
