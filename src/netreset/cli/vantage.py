"""Two vantage points on the command line: ``compare A [B]`` and the work behind ``--peer-capture``.

``compare`` is a click command that :mod:`netreset.cli.main` adds to its group (``VANTAGE_COMMANDS``);
:func:`peer_reset_rows` and :func:`peer_handshake_rows` are what ``locate-reset --peer-capture`` and
``handshakes --peer-capture`` print instead of the single-capture rows. Thin, like every command: which
capture points are compared is :mod:`netreset.analyses.vantage.choose`'s choice, the output
:mod:`netreset.report.formats`'. The vantage analysis is imported where it is used: every command's start-up loads this module.
"""

from __future__ import annotations

from pathlib import Path

import click

from netreset.cli.options import echo, format_option
from netreset.errors import UsageError
from netreset.report import formats


def peer_reset_rows(analysis, peer_path: str) -> list[dict]:
    """``locate-reset --peer-capture`` rows: verdicts judged again with the second capture's evidence."""
    from netreset.analyses.vantage.choose import peer_comparisons
    from netreset.analyses.vantage.peer_evidence import apply_peer_evidence

    return apply_peer_evidence(analysis.resets, peer_comparisons(analysis, peer_path))


def peer_handshake_rows(analysis, peer_path: str) -> list[dict]:
    """``handshakes --peer-capture`` rows: each finding with what the other capture saw of the connection."""
    from netreset.analyses.vantage.choose import peer_comparisons

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
@format_option(formats.offered("compare"))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Also draw the two ladders side by side (.png, .svg, .pdf): --stream N, else the first "
                   "conversation with one-sided packets.")
@click.option("--stream", type=int, metavar="N", help="Conversation N of capture A for the figure.")
def compare(capture_a: str, capture_b: str | None, fmt: str, output: str | None, stream: int | None):
    """Join two captures of the same traffic (both ends, or both interfaces of a middlebox): clock offset,
    packets only one side saw (injected / dropped), NAT, rewritten fields."""
    from netreset.analyses.vantage.choose import choose_comparison

    for path in (capture_a, capture_b):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"{path}: no such capture file")
    comparison = choose_comparison(capture_a, capture_b)
    formats.write("compare", fmt, comparison, echo)
    if output is not None:
        from netreset.plots.figures import image_format, save_figure
        from netreset.plots.ladder_pair import ladder_pair_figure, pick_joined

        image_format(output)
        save_figure(ladder_pair_figure(comparison, pick_joined(comparison, stream)), output)
        click.echo(f"wrote {output}", err=True)


VANTAGE_COMMANDS = (compare,)
