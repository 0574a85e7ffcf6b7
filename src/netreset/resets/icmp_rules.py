"""ICMP evidence: an ICMP error that quotes this conversation names a device on the path.

A firewall that rejects a connection may say so with ICMP "administratively prohibited" (ICMPv4 type 3
codes 9, 10, 13; ICMPv6 type 1 code 1) instead of, or besides, a RST. The ICMP error's source address is
the device itself, and its TTL says how far away it is — the network team's first lead.
"""

from __future__ import annotations

import numpy as np

from netreset.packets import PROTO_ICMP
from netreset.resets.evidence import Observation, ResetContext
from netreset.resets.verdict import ICMP_WINDOW_S, W_ICMP_OTHER, W_ICMP_PROHIBITED
from netreset.ttl import guess_ttl

#: (proto, type) → codes meaning "a filter refused this packet".
PROHIBITED = {(PROTO_ICMP, 3): {9, 10, 13}, (58, 1): {1}}


def quoting_rows(table, icmp_rows: np.ndarray, orig: int, resp: int, orig_p: int, resp_p: int) -> np.ndarray:
    """ICMP error rows whose quoted header belongs to the conversation (either direction)."""
    q = {name: table.columns[name][icmp_rows] for name in ("q_src", "q_dst", "q_sport", "q_dport")}
    forward = (q["q_src"] == orig) & (q["q_dst"] == resp) & (q["q_sport"] == orig_p) & (q["q_dport"] == resp_p)
    backward = (q["q_src"] == resp) & (q["q_dst"] == orig) & (q["q_sport"] == resp_p) & (q["q_dport"] == orig_p)
    return icmp_rows[forward | backward]


def is_prohibited(proto: int, icmp_type: int, icmp_code: int) -> bool:
    return icmp_code in PROHIBITED.get((proto, icmp_type), set())


def icmp_observations(ctx: ResetContext) -> list[Observation]:
    """One observation per distinct device that sent an ICMP error about this conversation."""
    rows = ctx.icmp
    ts = ctx.column("ts_ns", rows)
    rows = rows[np.abs(ts - ctx.value("ts_ns")) <= (ctx.conv.end_ns - ctx.conv.start_ns) + ICMP_WINDOW_S * 1e9]
    found, seen = [], set()
    rst_hops = guess_ttl(ctx.value("ttl"), ctx.ttl_table).routers_between
    for row in rows.tolist():
        device = ctx.table.book.name(ctx.value("src", row))
        if device in seen:
            continue
        seen.add(device)
        proto, kind, code = ctx.value("proto", row), ctx.value("icmp_type", row), ctx.value("icmp_code", row)
        hops = guess_ttl(ctx.value("ttl", row), ctx.ttl_table)
        prohibited = is_prohibited(proto, kind, code)
        same = " — the same distance as the RST" if hops.routers_between == rst_hops else ""
        found.append(Observation(
            "icmp_prohibited" if prohibited else "icmp_error", f"{device} type {kind} code {code}",
            None, W_ICMP_PROHIBITED if prohibited else W_ICMP_OTHER,
            f"{device} sent an ICMP{'v6' if proto == 58 else ''} error (type {kind} code {code}"
            f"{', administratively prohibited' if prohibited else ''}) quoting this conversation in frame "
            f"{ctx.value('frame', row)}; it arrived with {hops.describe()}{same}.",
        ))
    return found
