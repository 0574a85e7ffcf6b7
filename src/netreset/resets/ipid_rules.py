"""IPv4 header evidence: IP ID sequence, IP ID reflection, DF bit.

Many stacks number their IPv4 packets with a counter (Windows: one global counter; Linux: one per
connection), so a genuine RST continues the sender's sequence while a forger's RST does not. Some
enterprise firewalls build their RST from the packet they reject and copy its IP ID ("reflection").
Guards: stacks that randomise IP IDs have no pattern to break (no evidence); IP ID 0 is what Linux uses
for some stateless replies *and* what Linux-based firewalls use, so it tells nothing either way; a
Linux-like sender answers from a closed socket (a "stateless" RST: after its FIN, without ACK, without
its timestamps) with an IP ID from a separate counter, so a break there is no evidence; small IP IDs
(fresh counters start low) match the other side's by chance, so reflection needs a larger value.
"""

from __future__ import annotations

import numpy as np

from netreset.resets.evidence import Observation, ResetContext
from netreset.ttl import guess_ttl
from netreset.resets.verdict import (
    IPID_MAX_STEP,
    IPID_MIN_PACKETS,
    IPID_RATE_SLACK,
    IPID_REFLECTION_MIN,
    IPID_REORDER,
    W_DF_MISMATCH,
    W_IPID_BREAK,
    W_IPID_IN_SEQUENCE,
    W_IPID_REFLECTION,
)

#: Initial TTLs of stacks with one global IP ID counter (Windows), which numbers stateless RSTs too.
GLOBAL_COUNTER_TTLS = (32, 128)


def ipid_pattern(ids: np.ndarray) -> str:
    """``incrementing`` | ``zero`` | ``random`` | ``too_few`` for a sender's IP IDs in capture order."""
    nonzero = ids[ids > 0]
    if len(ids) >= IPID_MIN_PACKETS and not len(nonzero):
        return "zero"
    if len(nonzero) < IPID_MIN_PACKETS:
        return "too_few"
    steps = np.diff(nonzero) % 65536
    # Small backward steps are packets reordered on the way, not a different counter.
    forward = (steps <= IPID_MAX_STEP) | (steps >= 65536 - IPID_REORDER)
    return "incrementing" if np.all(forward) else "random"


def _allowed_gap(ctx: ResetContext, rows: np.ndarray, ids: np.ndarray) -> int:
    """Largest forward IP ID jump a global counter could make between the last packet and the RST."""
    ts = ctx.column("ts_ns", rows)
    span_s = max((ts[-1] - ts[0]) / 1e9, 1e-6)
    rate = float(np.sum(np.diff(ids) % 65536)) / span_s
    elapsed = (ctx.value("ts_ns") - ts[-1]) / 1e9
    return int(IPID_MAX_STEP + IPID_RATE_SLACK * rate * elapsed)


def _sequence(ctx: ResetContext, rst_id: int) -> list[Observation]:
    rows = ctx.sender[ctx.column("ip_id", ctx.sender) > 0]
    ids = ctx.column("ip_id", rows)
    pattern = ipid_pattern(ctx.column("ip_id", ctx.sender))
    name = ctx.sender_name
    if pattern in ("random", "too_few"):
        why = "randomises its IP IDs" if pattern == "random" else "sent too few packets to show an IP ID pattern"
        return [Observation("ipid_no_pattern", rst_id, pattern, 0.0, f"{name} {why}: IP ID is no evidence.")]
    if pattern == "zero":
        weight, code = (0.0, "ipid_zero_consistent") if rst_id == 0 else (W_IPID_BREAK, "ipid_pattern_break")
        return [Observation(code, rst_id, 0, weight, f"{name} sends every packet with IP ID 0; the RST has {rst_id}.")]
    if rst_id == 0:
        return [Observation(
            "ipid_zero", 0, int(ids[-1]), 0.0,
            f"RST has IP ID 0 while {name} counts upwards: Linux stateless RSTs and Linux-based firewalls both "
            "use 0, so this is no evidence.",
        )]
    gap = (rst_id - int(ids[-1])) % 65536
    allowed = _allowed_gap(ctx, rows, ids)
    if gap > allowed and _separate_counter(ctx):
        return [Observation(
            "ipid_separate_counter", rst_id, int(ids[-1]), 0.0,
            f"RST IP ID {rst_id} does not continue {name}'s sequence (last {int(ids[-1])}), but the RST looks like a "
            "stateless reply and Linux-like stacks number those from a separate counter: no evidence.",
        )]
    if gap <= allowed:
        return [Observation(
            "ipid_in_sequence", rst_id, int(ids[-1]), W_IPID_IN_SEQUENCE,
            f"RST IP ID {rst_id} continues {name}'s incrementing sequence (last {int(ids[-1])}).",
        )]
    return [Observation(
        "ipid_pattern_break", rst_id, int(ids[-1]), W_IPID_BREAK,
        f"RST IP ID {rst_id} is {gap} past {name}'s last IP ID {int(ids[-1])}, far beyond what its incrementing "
        f"counter could advance (≤ {allowed}).",
    )]


def _separate_counter(ctx: ResetContext) -> bool:
    """Linux-like senders (initial TTL 64/255) answer from no socket with an unrelated IP ID counter."""
    initial = guess_ttl(ctx.value("ttl", int(ctx.sender[-1])), ctx.ttl_table).initial
    return initial not in GLOBAL_COUNTER_TTLS and ctx.looks_stateless


def _reflection(ctx: ResetContext, rst_id: int) -> list[Observation]:
    if not len(ctx.other) or rst_id <= IPID_REFLECTION_MIN:
        return []
    previous = ctx.value("ip_id", int(ctx.other[-1]))
    if previous != rst_id:
        return []
    return [Observation(
        "ipid_reflection", rst_id, "a value of the sender's own", W_IPID_REFLECTION,
        f"RST IP ID {rst_id} equals the IP ID of the packet {ctx.receiver_name} sent just before (frame "
        f"{ctx.value('frame', int(ctx.other[-1]))}): the RST was built from that packet, as firewalls do.",
    )]


def _df(ctx: ResetContext) -> list[Observation]:
    dfs = ctx.column("df", ctx.sender)
    if not len(dfs) or np.any(dfs != dfs[0]) or bool(dfs[0]) == bool(ctx.value("df")):
        return []
    expected, observed = ("set" if dfs[0] else "clear"), ("set" if ctx.value("df") else "clear")
    return [Observation(
        "df_mismatch", observed, expected, W_DF_MISMATCH,
        f"RST has DF {observed}, every other packet of {ctx.sender_name} has DF {expected}.",
    )]


def ipid_observations(ctx: ResetContext) -> list[Observation]:
    """IP ID sequence, reflection and DF (IPv4 only; IPv6 has no IP ID on unfragmented packets)."""
    rst_id = ctx.value("ip_id")
    if ctx.value("ip_version") != 4 or rst_id < 0:
        return []
    found = _reflection(ctx, rst_id) + _df(ctx)
    if len(ctx.sender):
        found += _sequence(ctx, rst_id)
    return found
