"""The JSON document of ``compare`` (schema_version 1), built from a two-vantage-point comparison.

Contract: ``{"schema_version": 1, "clock_offset_s", "conversations": [{"a", "b", "only_in_a",
"only_in_b", "routers_between_vantage_points", ...}]}``; ``a``/``b`` are ``[orig, orig_port, resp,
resp_port]`` as each capture saw the connection (``b`` in A's orientation; null when that capture saw
nothing of it). Extra keys add detail and never change the meaning of these. Its plain-text twin is
:func:`netreset.report.text.comparison_text`, written from this document.
"""

from __future__ import annotations

from netreset.analyses.vantage.model import Comparison, JoinedConversation, routers_between
from netreset.records.schema import SCHEMA_VERSION


def _tuple(conv, flipped: bool = False) -> list | None:
    if conv is None:
        return None
    if flipped:
        return [conv.resp_h, conv.resp_p, conv.orig_h, conv.orig_p]
    return [conv.orig_h, conv.orig_p, conv.resp_h, conv.resp_p]


def joined_dict(j: JoinedConversation, comparison: Comparison, overall: int | None) -> dict:
    routers = j.placement.routers_between if j.matched_packets else overall
    return {
        "a": _tuple(j.a), "b": _tuple(j.b, j.flipped),
        "a_conversation": j.a.id if j.a is not None else None,
        "b_conversation": j.b.id if j.b is not None else None,
        "join": j.method, "shared_packets": j.shared_keys, "matched_packets": j.matched_packets,
        "flipped": j.flipped,
        "only_in_a": [o.to_dict(comparison.a.table) for o in j.only_in_a],
        "only_in_b": [o.to_dict(comparison.b.table) for o in j.only_in_b],
        "routers_between_vantage_points": routers,
        "a_nearer": "orig" if j.placement.a_nearer_orig else "resp",
        "placement_basis": j.placement.basis,
        "modified": [m.to_dict() for m in j.modified],
        "seq_offset": {"orig": j.seq_offset[0], "resp": j.seq_offset[1]},
        "notes": list(j.notes),
    }


def comparison_dict(comparison: Comparison) -> dict:
    """The ``compare --format json`` document."""
    overall = routers_between(comparison)
    return {
        "schema_version": SCHEMA_VERSION,
        "a": comparison.a.label, "b": comparison.b.label,
        "clock_offset_s": None if comparison.clock.offset_s is None else round(comparison.clock.offset_s, 9),
        "clock": comparison.clock.to_dict(),
        "routers_between_vantage_points": overall,
        "other_interfaces": list(comparison.other_interfaces),
        "conversations": [joined_dict(j, comparison, overall) for j in comparison.conversations],
    }
