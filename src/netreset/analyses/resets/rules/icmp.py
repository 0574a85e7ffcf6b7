"""ICMP evidence: an ICMP error that quotes this conversation names a device on the path.

A firewall that rejects a connection may say so with ICMP "administratively prohibited" (ICMPv4 type 3
codes 9, 10, 13; ICMPv6 type 1 code 1) instead of, or besides, a RST. The ICMP error's source address is
the device itself, and its TTL says how far away it is — the network team's first lead.
"""

from __future__ import annotations

from netreset.packets.table import PROTO_ICMP
from netreset.analyses.resets.evidence import Observation, ResetContext
from netreset.analyses.resets.weights import ICMP_WINDOW_S, W_ICMP_OTHER, W_ICMP_PROHIBITED

#: (proto, type) → codes meaning "a filter refused this packet".
PROHIBITED = {(PROTO_ICMP, 3): {9, 10, 13}, (58, 1): {1}}


def is_prohibited(proto: int, icmp_type: int, icmp_code: int) -> bool:
    return icmp_code in PROHIBITED.get((proto, icmp_type), set())


def icmp_observations(ctx: ResetContext) -> list[Observation]:
    """One observation per distinct device that sent an ICMP error about this conversation."""
    if not ctx.icmp:
        return []  # the common case: nothing quotes the conversation
    window = (ctx.conv.end_ns - ctx.conv.start_ns) + ICMP_WINDOW_S * 1e9
    found, seen = [], set()
    rst_hops = ctx.guess(ctx.ttl).routers_between
    for icmp in ctx.icmp:
        if abs(icmp.ts_ns - ctx.ts_ns) > window or icmp.device in seen:
            continue
        seen.add(icmp.device)
        proto, kind, code, device = icmp.proto, icmp.icmp_type, icmp.icmp_code, icmp.device
        hops = ctx.guess(icmp.ttl)
        prohibited = is_prohibited(proto, kind, code)
        same = " — the same distance as the RST" if hops.routers_between == rst_hops else ""
        found.append(Observation(
            "icmp_prohibited" if prohibited else "icmp_error", f"{device} type {kind} code {code}",
            None, W_ICMP_PROHIBITED if prohibited else W_ICMP_OTHER,
            f"{device} sent an ICMP{'v6' if proto == 58 else ''} error (type {kind} code {code}"
            f"{', administratively prohibited' if prohibited else ''}) quoting this conversation in frame "
            f"{icmp.frame}; it arrived with {hops.describe()}{same}.",
        ))
    return found
