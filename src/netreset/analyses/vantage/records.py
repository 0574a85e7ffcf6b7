"""The JSON document of ``compare`` (schema_version 1) and its plain-text twin.

Contract: ``{"schema_version": 1, "clock_offset_s", "conversations": [{"a", "b", "only_in_a",
"only_in_b", "routers_between_vantage_points", ...}]}``; ``a``/``b`` are ``[orig, orig_port, resp,
resp_port]`` as each capture saw the connection (``b`` in A's orientation; null when that capture saw
nothing of it). Extra keys add detail and never change the meaning of these.
"""

from __future__ import annotations

import statistics

from netreset.analyses.vantage.model import SCHEMA_VERSION, Comparison, JoinedConversation


def _tuple(conv, flipped: bool = False) -> list | None:
    if conv is None:
        return None
    if flipped:
        return [conv.resp_h, conv.resp_p, conv.orig_h, conv.orig_p]
    return [conv.orig_h, conv.orig_p, conv.resp_h, conv.resp_p]


def routers_between(comparison: Comparison) -> int | None:
    """Routers between the capture points over every joined conversation measured by TTL (median)."""
    values = [j.placement.routers_between for j in comparison.conversations
              if j.placement.basis == "ttl" or (j.placement.routers_between is not None and j.matched_packets)]
    return int(statistics.median(values)) if values else None


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


def _endpoint(t: list | None) -> str:
    return "(not seen)" if t is None else f"{t[0]}:{t[1]} → {t[2]}:{t[3]}"


def comparison_text(document: dict) -> str:
    """The compare report for a terminal or a ticket."""
    clock = document["clock"]
    lines = [f"A: {document['a']}", f"B: {document['b']}"]
    if clock["offset_s"] is None:
        lines.append("Clock: no packet seen by both captures; offset unknown.")
    else:
        delay = "" if clock["one_way_delay_s"] is None else f", one-way delay {clock['one_way_delay_s'] * 1e3:.3f} ms"
        lines.append(f"Clock: B − A = {clock['offset_s']:+.6f} s, drift {clock['drift_ppm']:+.1f} ppm{delay} "
                     f"({clock['method']}, {clock['pairs']} packets, residual median {clock['residual_median_s'] * 1e6:.1f} µs, "
                     f"max {clock['residual_max_s'] * 1e6:.1f} µs)")
    if document["routers_between_vantage_points"] is not None:
        lines.append(f"Routers between the capture points: {document['routers_between_vantage_points']}")
    if document["other_interfaces"]:
        lines.append(f"Not compared here: {', '.join(document['other_interfaces'])}")
    for c in document["conversations"]:
        lines += ["", f"A {_endpoint(c['a'])}   |   B {_endpoint(c['b'])}",
                  f"  joined by {c['join']}: {c['matched_packets']} packets in both, "
                  f"{len(c['only_in_a'])} only in A, {len(c['only_in_b'])} only in B"]
        for side in ("only_in_a", "only_in_b"):
            for o in c[side]:
                lines.append(f"  {side.replace('_', ' ')}: frame {o['frame']} {o['packet']} [{o['flags']}] "
                             f"{o['direction']} TTL {o['ttl']}: {o['kind'].upper()}")
        lines += [f"  - {note}" for note in c["notes"]]
    return "\n".join(lines) + "\n"
