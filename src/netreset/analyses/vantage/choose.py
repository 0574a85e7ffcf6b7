"""Which capture point is compared with which: the pairing behind ``compare`` and ``--peer-capture``.

A file may hold several capture points (one per pcapng interface: a capture taken on a middlebox holds
both of its sides), so "compare A with B" means choosing among the pairings. ``compare`` keeps the pair
farthest apart, since that is what a second capture is for; the commands with ``--peer-capture`` compare
the analysed capture with every capture point of the peer file, and a figure draws the one that shares
the most packets with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from netreset.analyses.vantage.compare import compare_vantages
from netreset.analyses.vantage.load import load_vantages
from netreset.analyses.vantage.model import Comparison, Vantage, routers_between
from netreset.errors import UsageError


def _score(comparison: Comparison) -> tuple[int, int]:
    """Farther apart first (the point of a second capture), then more packets in common."""
    matched = _matched(comparison)
    routers = routers_between(comparison)
    return (routers if routers is not None and matched else -1, matched)


def _matched(comparison: Comparison) -> int:
    return sum(j.matched_packets for j in comparison.conversations)


def choose_comparison(a_path: str, b_path: str | None) -> Comparison:
    """Compare two files — or the interfaces of one file with each other (a capture taken on a middlebox).

    When a file holds several interfaces, every pairing is compared and the one whose capture points lie
    farthest apart (then share the most packets) is kept; the others are named in ``other_interfaces``.
    """
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
    """The analysed capture (A) compared with every capture point of the peer file. ``analysis`` is a
    whole-capture :class:`~netreset.pipeline.whole.Analysis` (its table, raw conversations, TTL table)."""
    paths = analysis.stats.paths
    label = Path(paths[0] if paths else "capture").name
    a = Vantage(label, ", ".join(paths), analysis.table, tuple(analysis.raw_conversations))
    return [compare_vantages(a, b, analysis.ttl_table) for b in load_vantages(peer_path)]


def most_matched(comparisons: Sequence[Comparison]) -> Comparison:
    """The comparison whose capture points share the most packets: the peer capture point to draw."""
    return max(comparisons, key=_matched)
