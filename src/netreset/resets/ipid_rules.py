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

from netreset.resets.evidence import Observation, ResetContext
from netreset.resets.verdict import (
    IPID_MAX_STEP,
    IPID_MIN_PACKETS,
    IPID_RATE_SLACK,
    IPID_REFLECTION_MIN,
    W_DF_MISMATCH,
    W_IPID_BREAK,
    W_IPID_IN_SEQUENCE,
    W_IPID_REFLECTION,
)

#: Initial TTLs of stacks with one global IP ID counter (Windows), which numbers stateless RSTs too.
GLOBAL_COUNTER_TTLS = (32, 128)


def ipid_pattern(ctx: ResetContext) -> str:
    """``incrementing`` | ``zero`` | ``random`` | ``too_few`` for the sender's IP IDs before the RST."""
    if ctx.sender_count >= IPID_MIN_PACKETS and not ctx.ipid_nonzero:
        return "zero"
    if ctx.ipid_nonzero < IPID_MIN_PACKETS:
        return "too_few"
    # Small backward steps are packets reordered on the way, not a different counter (see context).
    return "incrementing" if not ctx.ipid_breaks else "random"


def _allowed_gap(ctx: ResetContext) -> int:
    """Largest forward IP ID jump a global counter could make between the last packet and the RST."""
    span_s = max((ctx.ipid_last_ts - ctx.ipid_first_ts) / 1e9, 1e-6)
    rate = float(ctx.ipid_step_sum) / span_s
    elapsed = (ctx.ts_ns - ctx.ipid_last_ts) / 1e9
    return int(IPID_MAX_STEP + IPID_RATE_SLACK * rate * elapsed)


def _sequence(ctx: ResetContext, rst_id: int) -> list[Observation]:
    pattern = ipid_pattern(ctx)
    name = ctx.sender_name
    if pattern in ("random", "too_few"):
        return [Observation("ipid_no_pattern", rst_id, pattern, 0.0, (_no_pattern_words, name, pattern))]
    if pattern == "zero":
        weight, code = (0.0, "ipid_zero_consistent") if rst_id == 0 else (W_IPID_BREAK, "ipid_pattern_break")
        return [Observation(code, rst_id, 0, weight, (_zero_words, name, rst_id))]
    last = ctx.ipid_last
    if rst_id == 0:
        return [Observation(
            "ipid_zero", 0, last, 0.0,
            f"RST has IP ID 0 while {name} counts upwards: Linux stateless RSTs and Linux-based firewalls both "
            "use 0, so this is no evidence.",
        )]
    gap = (rst_id - last) % 65536
    allowed = _allowed_gap(ctx)
    if gap > allowed and _separate_counter(ctx):
        return [Observation(
            "ipid_separate_counter", rst_id, last, 0.0,
            f"RST IP ID {rst_id} does not continue {name}'s sequence (last {last}), but the RST looks like a "
            "stateless reply and Linux-like stacks number those from a separate counter: no evidence.",
        )]
    if gap <= allowed:
        return [Observation("ipid_in_sequence", rst_id, last, W_IPID_IN_SEQUENCE,
                            (_in_sequence_words, rst_id, name, last))]
    return [Observation("ipid_pattern_break", rst_id, last, W_IPID_BREAK,
                        (_break_words, rst_id, gap, name, last, allowed))]


def _no_pattern_words(name: str, pattern: str) -> str:
    why = "randomises its IP IDs" if pattern == "random" else "sent too few packets to show an IP ID pattern"
    return f"{name} {why}: IP ID is no evidence."


def _zero_words(name: str, rst_id: int) -> str:
    return f"{name} sends every packet with IP ID 0; the RST has {rst_id}."


def _in_sequence_words(rst_id: int, name: str, last: int) -> str:
    return f"RST IP ID {rst_id} continues {name}'s incrementing sequence (last {last})."


def _break_words(rst_id: int, gap: int, name: str, last: int, allowed: int) -> str:
    return (f"RST IP ID {rst_id} is {gap} past {name}'s last IP ID {last}, far beyond what its incrementing "
            f"counter could advance (≤ {allowed}).")


def _separate_counter(ctx: ResetContext) -> bool:
    """Linux-like senders (initial TTL 64/255) answer from no socket with an unrelated IP ID counter."""
    initial = ctx.guess(ctx.sender_ttl).initial
    return initial not in GLOBAL_COUNTER_TTLS and ctx.looks_stateless


def _reflection(ctx: ResetContext, rst_id: int) -> list[Observation]:
    if not ctx.other_count or rst_id <= IPID_REFLECTION_MIN or ctx.other_ip_id != rst_id:
        return []
    return [Observation(
        "ipid_reflection", rst_id, "a value of the sender's own", W_IPID_REFLECTION,
        f"RST IP ID {rst_id} equals the IP ID of the packet {ctx.receiver_name} sent just before (frame "
        f"{ctx.other_frame}): the RST was built from that packet, as firewalls do.",
    )]


def _df(ctx: ResetContext) -> list[Observation]:
    if not ctx.sender_count or not ctx.sender_df_uniform or ctx.sender_df == ctx.df:
        return []
    expected, observed = ("set" if ctx.sender_df else "clear"), ("set" if ctx.df else "clear")
    return [Observation(
        "df_mismatch", observed, expected, W_DF_MISMATCH,
        f"RST has DF {observed}, every other packet of {ctx.sender_name} has DF {expected}.",
    )]


def ipid_observations(ctx: ResetContext) -> list[Observation]:
    """IP ID sequence, reflection and DF (IPv4 only; IPv6 has no IP ID on unfragmented packets)."""
    rst_id = ctx.ip_id
    if ctx.ip_version != 4 or rst_id < 0:
        return []
    found = _reflection(ctx, rst_id) + _df(ctx)
    if ctx.sender_count:
        found += _sequence(ctx, rst_id)
    return found
