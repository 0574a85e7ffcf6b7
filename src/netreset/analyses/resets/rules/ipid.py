"""IPv4 header evidence: IP ID sequence, IP ID reflection, DF bit.

Many stacks number their IPv4 packets with a counter (Windows: one global counter; Linux: one per
connection), so a genuine RST continues the sender's sequence while a forger's RST does not. Some
enterprise firewalls build their RST from the packet they reject and copy its IP ID ("reflection").
Guards: stacks that randomise IP IDs have no pattern to break (no evidence); IP ID 0 is what Linux uses
for some stateless replies *and* what Linux-based firewalls use, so it tells nothing either way; a
Linux-like sender answers from a closed socket (a "stateless" RST: after its FIN, without ACK, without
its timestamps) with an IP ID from a separate counter, so a break there is no evidence; small IP IDs
(fresh counters start low) match the other side's by chance, so reflection needs a larger value, and an
IP ID the sender's own packets carried too (its SYN-ACK) was not copied from the other side.

A shared counter: RSTs claiming several different hosts whose IP IDs follow each other in time order
were numbered by one device (hosts do not share a counter) — unless the claimed hosts' own SYNs or
SYN-ACKs follow that counter too: then a device rewrites the IP IDs of all of them (a NAT, a proxy, a
hypervisor's user-mode network) and the counter says nothing about who built the RST.
"""

from __future__ import annotations

import numpy as np

from netreset.packets.table import ACK
from netreset.analyses.resets.evidence import Observation, ResetContext
from netreset.analyses.resets.weights import (
    GLOBAL_COUNTER_TTLS,
    IPID_MAX_STEP,
    IPID_MIN_PACKETS,
    IPID_RATE_SLACK,
    IPID_REFLECTION_MIN,
    W_DF_MISMATCH,
    W_IPID_BREAK,
    W_IPID_IN_SEQUENCE,
    W_IPID_REFLECTION,
    W_IPID_SHARED,
)


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
    return allowed_gap(ctx.ipid_first_ts, ctx.ipid_last_ts, ctx.ipid_step_sum, ctx.ts_ns)


def allowed_gap(first_ts: int, last_ts: int, step_sum: int, ts_ns: int) -> int:
    """:func:`_allowed_gap` from the plain numbers: the sender's measured IP ID rate over the RST's delay."""
    span_s = max((last_ts - first_ts) / 1e9, 1e-6)
    rate = float(step_sum) / span_s
    elapsed = (ts_ns - last_ts) / 1e9
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
        return [Observation("ipid_zero", 0, last, 0.0, (_zero_while_counting_words, name))]
    gap = (rst_id - last) % 65536
    allowed = _allowed_gap(ctx)
    if gap > allowed and _separate_counter(ctx):
        return [Observation("ipid_separate_counter", rst_id, last, 0.0, (_separate_counter_words, rst_id, name, last))]
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


def _zero_while_counting_words(name: str) -> str:
    return (f"RST has IP ID 0 while {name} counts upwards: Linux stateless RSTs and Linux-based firewalls both "
            "use 0, so this is no evidence.")


def _separate_counter_words(rst_id: int, name: str, last: int) -> str:
    return (f"RST IP ID {rst_id} does not continue {name}'s sequence (last {last}), but the RST looks like a "
            "stateless reply and Linux-like stacks number those from a separate counter: no evidence.")


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
    if not ctx.other_count or rst_id <= IPID_REFLECTION_MIN or ctx.other_ip_id != rst_id or ctx.sender_has_ip_id:
        return []  # (the sender's own packets carrying that ID too: nothing was copied)
    return [Observation("ipid_reflection", rst_id, "a value of the sender's own", W_IPID_REFLECTION,
                        (_reflection_words, rst_id, ctx.receiver_name, ctx.other_frame))]


def _reflection_words(rst_id: int, receiver: str, frame: int) -> str:
    return (f"RST IP ID {rst_id} equals the IP ID of the packet {receiver} sent just before (frame "
            f"{frame}): the RST was built from that packet, as firewalls do.")


def _df(ctx: ResetContext) -> list[Observation]:
    if not ctx.sender_count or not ctx.sender_df_uniform or ctx.sender_df == ctx.df:
        return []
    expected, observed = ("set" if ctx.sender_df else "clear"), ("set" if ctx.df else "clear")
    return [Observation("df_mismatch", observed, expected, W_DF_MISMATCH, (_df_words, observed, ctx.sender_name, expected))]


def _df_words(observed: str, name: str, expected: str) -> str:
    return f"RST has DF {observed}, every other packet of {name} has DF {expected}."


def ipid_observations(ctx: ResetContext) -> list[Observation]:
    """IP ID sequence, reflection and DF (IPv4 only; IPv6 has no IP ID on unfragmented packets)."""
    rst_id = ctx.ip_id
    if ctx.ip_version != 4 or rst_id < 0:
        return []
    found = _reflection(ctx, rst_id) + _df(ctx)
    if ctx.sender_count:
        found += _sequence(ctx, rst_id)
    return found


# ── All RSTs at once (netreset.analyses.resets.batch): the same observations from the fact columns ──────────────

def ipid_batch(b) -> None:
    """:func:`ipid_observations` for every RST: reflection, DF, then the sequence (three positions)."""
    f = b.facts
    rst_id = f.values("ip_id")
    v4 = (f.values("ip_version") == 4) & (rst_id >= 0)
    ids, names = f.listed("ip_id"), b.sender_names
    reflected = (v4 & (f.values("other_count") > 0) & (rst_id > IPID_REFLECTION_MIN) & f.has("other_ip_id")
                 & (f.values("other_ip_id") == rst_id) & ~f.values("sender_has_ip_id"))

    def reflections(ix: list[int]) -> list[Observation]:
        receiver, frames = b.receiver_name, f.listed("other_frame")
        return [Observation("ipid_reflection", ids[i], "a value of the sender's own", W_IPID_REFLECTION,
                            (_reflection_words, ids[i], receiver(i), frames[i])) for i in ix]

    b.put(0, reflected, "ipid_reflection", W_IPID_REFLECTION, reflections)
    sender = v4 & (f.values("sender_count") > 0)
    sender_df, df = f.listed("sender_df"), f.listed("df")
    mismatch = sender & f.values("sender_df_uniform") & (f.values("sender_df") != f.values("df"))

    def df_mismatch(i: int) -> Observation:
        expected, observed = ("set" if sender_df[i] else "clear"), ("set" if df[i] else "clear")
        return Observation("df_mismatch", observed, expected, W_DF_MISMATCH, (_df_words, observed, names[i], expected))

    b.put(1, mismatch, "df_mismatch", W_DF_MISMATCH, lambda ix: [df_mismatch(i) for i in ix])
    _sequence_batch(b, sender, rst_id)


def _sequence_batch(b, sender: np.ndarray, rst_id: np.ndarray) -> None:
    """:func:`_sequence` for every RST whose sender sent packets before it."""
    f = b.facts
    ids, names = f.listed("ip_id"), b.sender_names
    nonzero = f.values("ipid_nonzero")
    zero = sender & (f.values("sender_count") >= IPID_MIN_PACKETS) & (nonzero == 0)
    too_few = sender & ~zero & (nonzero < IPID_MIN_PACKETS)
    random = sender & ~zero & ~too_few & (f.values("ipid_breaks") != 0)
    counting = sender & ~zero & ~too_few & ~random
    pattern = np.where(random, "random", "too_few").tolist()
    b.put(2, too_few | random, "ipid_no_pattern", 0.0, lambda ix: [Observation(
        "ipid_no_pattern", ids[i], pattern[i], 0.0, (_no_pattern_words, names[i], pattern[i])) for i in ix])
    b.put(2, zero & (rst_id == 0), "ipid_zero_consistent", 0.0, lambda ix: [Observation(
        "ipid_zero_consistent", ids[i], 0, 0.0, (_zero_words, names[i], ids[i])) for i in ix])
    b.put(2, zero & (rst_id != 0), "ipid_pattern_break", W_IPID_BREAK, lambda ix: [Observation(
        "ipid_pattern_break", ids[i], 0, W_IPID_BREAK, (_zero_words, names[i], ids[i])) for i in ix])
    last = f.listed("ipid_last")
    b.put(2, counting & (rst_id == 0), "ipid_zero", 0.0, lambda ix: [Observation(
        "ipid_zero", 0, last[i], 0.0, (_zero_while_counting_words, names[i])) for i in ix])
    counting &= rst_id != 0
    gap = (rst_id - f.values("ipid_last")) % 65536
    over = counting & (gap > _allowed_gaps(f))
    initial = b.ttl_guesses(f.values("sender_ttl"), over).column("initial")
    separate = over & ~np.isin(initial, GLOBAL_COUNTER_TTLS) & looks_stateless(f)
    b.put(2, separate, "ipid_separate_counter", 0.0, lambda ix: [Observation(
        "ipid_separate_counter", ids[i], last[i], 0.0, (_separate_counter_words, ids[i], names[i], last[i])) for i in ix])
    b.put(2, counting & ~over, "ipid_in_sequence", W_IPID_IN_SEQUENCE, lambda ix: [Observation(
        "ipid_in_sequence", ids[i], last[i], W_IPID_IN_SEQUENCE, (_in_sequence_words, ids[i], names[i], last[i]))
        for i in ix])
    gaps = gap.tolist()
    first_ts, last_ts, steps, ts = (f.listed(name) for name in ("ipid_first_ts", "ipid_last_ts", "ipid_step_sum", "ts_ns"))
    b.put(2, over & ~separate, "ipid_pattern_break", W_IPID_BREAK, lambda ix: [Observation(
        "ipid_pattern_break", ids[i], last[i], W_IPID_BREAK,
        (_break_words, ids[i], gaps[i], names[i], last[i], allowed_gap(first_ts[i], last_ts[i], steps[i], ts[i])))
        for i in ix])


def _allowed_gaps(f) -> np.ndarray:
    """:func:`allowed_gap` for every RST, for comparing with a gap (0..65535): the same comparisons, as
    values beyond ±2**62 (where int64 ends) compare with such a gap as the exact integers do."""
    span_s = np.maximum((f.values("ipid_last_ts") - f.values("ipid_first_ts")) / 1e9, 1e-6)
    rate = f.values("ipid_step_sum").astype(np.float64) / span_s
    elapsed = (f.values("ts_ns") - f.values("ipid_last_ts")) / 1e9
    allowed = IPID_MAX_STEP + IPID_RATE_SLACK * rate * elapsed
    return np.trunc(np.clip(allowed, -2.0**62, 2.0**62)).astype(np.int64)


def looks_stateless(f) -> np.ndarray:
    """:attr:`ResetContext.looks_stateless` for every RST."""
    used_ts = (f.values("segments") > 0) & (f.values("segments_without_ts") == 0)
    return f.values("sender_closed") | ((f.values("flags") & ACK) == 0) | (used_ts & (f.values("ts_val") < 0))


# ── A counter shared by several claimed senders (the whole capture: pairs.shared_sequences) ─────────────

def shared_observations(ctx: ResetContext) -> list[Observation]:
    """The RST belongs to a sequence of IP IDs from one counter that RSTs claiming several hosts share."""
    if not ctx.shared_senders:
        return []
    if ctx.shared_own or _continues_own(ctx):
        return [Observation("ipid_shared_with_own", ctx.ip_id, None, 0.0,
                            (_shared_own_words, ctx.shared_rsts, ctx.shared_senders, ctx.sender_name))]
    return [Observation("ipid_shared_counter", ctx.shared_senders, 1, W_IPID_SHARED,
                        (_shared_words, ctx.ip_id, ctx.shared_rsts, ctx.shared_senders, ctx.sender_name))]


def _continues_own(ctx: ResetContext) -> bool:
    """The RST's IP ID continues the claimed sender's own incrementing counter in this conversation."""
    if not ctx.sender_count or ctx.ip_id <= 0 or ipid_pattern(ctx) != "incrementing":
        return False
    return (ctx.ip_id - ctx.ipid_last) % 65536 <= _allowed_gap(ctx)


def _shared_words(rst_id: int, rsts: int, senders: int, name: str) -> str:
    return (f"RST IP ID {rst_id} is one of {rsts} RSTs claiming {senders} different hosts (among them {name}) "
            "whose IP IDs follow each other in time order: one counter numbered them, so one device sent them "
            "all — different hosts do not share a counter.")


def _shared_own_words(rsts: int, senders: int, name: str) -> str:
    return (f"{rsts} RSTs claiming {senders} different hosts share one IP ID counter, but the SYNs or SYN-ACKs of "
            f"those hosts follow it too: a device near the capture (a NAT, a proxy, a hypervisor's user-mode "
            f"network) numbers all their packets, so the counter says nothing about who built the RST of {name}.")


def shared_batch(b) -> None:
    """:func:`shared_observations` for every RST."""
    f = b.facts
    shared = f.values("shared_senders") > 0
    rst_id, sender = f.values("ip_id"), f.values("sender_count") > 0
    nonzero = f.values("ipid_nonzero")
    counting = (sender & ~((f.values("sender_count") >= IPID_MIN_PACKETS) & (nonzero == 0)) & (nonzero >= IPID_MIN_PACKETS)
                & (f.values("ipid_breaks") == 0))
    continues = counting & (rst_id > 0) & ((rst_id - f.values("ipid_last")) % 65536 <= _allowed_gaps(f))
    own = f.values("shared_own") | continues
    ids, rsts, senders, names = f.listed("ip_id"), f.listed("shared_rsts"), f.listed("shared_senders"), b.sender_names
    b.put(0, shared & own, "ipid_shared_with_own", 0.0, lambda ix: [Observation(
        "ipid_shared_with_own", ids[i], None, 0.0, (_shared_own_words, rsts[i], senders[i], names[i])) for i in ix])
    b.put(0, shared & ~own, "ipid_shared_counter", W_IPID_SHARED, lambda ix: [Observation(
        "ipid_shared_counter", senders[i], 1, W_IPID_SHARED, (_shared_words, ids[i], rsts[i], senders[i], names[i]))
        for i in ix])
