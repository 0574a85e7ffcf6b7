"""Sequence-number evidence: is the RST's seq one the claimed sender could have used?

* Plausibility (RFC 5961 §3): a receiver accepts a RST only inside its receive window; a genuine sender
  knows where it is (its next seq, or the ack the other side last sent it). A RST outside
  [other side's last ack, sender's next seq + receive window) was written by someone guessing.
* Injection bursts (Weaver, Sommer & Paxson, "Detecting Forged TCP Reset Packets", NDSS 2009): injectors
  that cannot see the exact seq send several RSTs to hit the window. Two RSTs less than 2 s apart where
  the second's seq is more than 2 above the first and beyond anything the sender sent and the other side
  acknowledged (RST_SEQ_CHANGE), or RSTs whose ack changes with no new data to acknowledge
  (RST_ACK_CHANGE), are not one stack's work.
"""

from __future__ import annotations

import numpy as np

from netreset.packets import ACK, FIN, RST, SYN
from netreset.resets.evidence import Observation, ResetContext
from netreset.resets.verdict import (
    SEQ_CHANGE_WINDOW_S,
    SEQ_SLACK,
    W_ACK_CHANGE,
    W_SEQ_CHANGE,
    W_SEQ_EXACT,
    W_SEQ_OUT_OF_WINDOW,
)


def serial(values, base: int) -> np.ndarray:
    """``values − base`` in 32-bit serial arithmetic (RFC 1982): signed, wraparound-safe."""
    delta = np.asarray(values, dtype=np.int64) - int(base)
    return ((delta + 2**31) % 2**32) - 2**31


def seq_ends(ctx: ResetContext, rows: np.ndarray) -> np.ndarray:
    """Absolute seq just past each packet (payload, SYN and FIN each use sequence space)."""
    flags = ctx.column("flags", rows)
    extra = ((flags & SYN) != 0).astype(np.int64) + ((flags & FIN) != 0)
    return (ctx.column("seq", rows).astype(np.int64) + ctx.column("payload_len", rows) + extra) % 2**32


def _receive_window(ctx: ResetContext) -> int | None:
    """The other side's last advertised window in bytes (scaled when both SYNs negotiated scaling)."""
    other = ctx.other[(ctx.column("flags", ctx.other) & SYN) == 0]
    if not len(other):
        return None
    conv = ctx.conv
    syns = conv.rows[(ctx.table.flags[conv.rows] & SYN) != 0]
    scales = ctx.table.wscale[syns]
    sides = conv.from_orig[(ctx.table.flags[conv.rows] & SYN) != 0]
    shift = 0
    if np.any(scales[sides] >= 0) and np.any(scales[~sides] >= 0):
        theirs = scales[sides == (not ctx.from_orig)]
        shift = int(theirs[theirs >= 0][0]) if np.any(theirs >= 0) else 0
    return ctx.value("win", int(other[-1])) << min(shift, 14)


def plausibility_observations(ctx: ResetContext) -> list[Observation]:
    """RST seq against the sender's next seq and the receiver's window."""
    if not len(ctx.sender):
        return []
    base = ctx.value("seq", int(ctx.sender[0]))
    nxt = int(np.max(serial(seq_ends(ctx, ctx.sender), base)))
    rst = int(serial([ctx.value("seq")], base)[0])
    acks = ctx.other[(ctx.column("flags", ctx.other) & ACK) != 0]
    low = min(nxt, int(np.max(serial(ctx.column("ack", acks), base)))) if len(acks) else nxt
    window = _receive_window(ctx)
    expected = (base + nxt) % 2**32
    if rst == nxt:
        return [Observation("seq_exact", ctx.value("seq"), expected, W_SEQ_EXACT,
                            f"RST seq is exactly {ctx.sender_name}'s next sequence number.")]
    if rst < low - SEQ_SLACK or (window is not None and rst >= nxt + window + SEQ_SLACK):
        where = "behind what was already acknowledged" if rst < low else f"beyond the {window}-byte window"
        return [Observation(
            "seq_out_of_window", ctx.value("seq"), expected, W_SEQ_OUT_OF_WINDOW,
            f"RST seq is {rst - nxt:+d} from {ctx.sender_name}'s next sequence number, {where}: the sender "
            "knows its own sequence numbers, a blind forger guesses (RFC 5961).",
        )]
    return [Observation("seq_in_window", ctx.value("seq"), expected, 0.0,
                        f"RST seq is {rst - nxt:+d} from {ctx.sender_name}'s next sequence number, inside the window.")]


def _burst_partners(ctx: ResetContext) -> np.ndarray:
    """The sender's other RSTs within the Weaver burst window of this one."""
    others = ctx.sender_rsts[ctx.sender_rsts != ctx.row]
    gaps = np.abs(ctx.column("ts_ns", others) - ctx.value("ts_ns")) / 1e9
    return others[gaps < SEQ_CHANGE_WINDOW_S]


def _sent_and_acked_limit(ctx: ResetContext, base: int) -> int:
    """Highest relative seq the sender sent or the other side acknowledged, anywhere in the conversation."""
    conv = ctx.conv
    mine = conv.rows[conv.from_orig == ctx.from_orig]
    mine = mine[(ctx.table.flags[mine] & RST) == 0]
    theirs = conv.rows[conv.from_orig != ctx.from_orig]
    theirs = theirs[(ctx.table.flags[theirs] & ACK) != 0]
    limits = [serial(seq_ends(ctx, mine), base)] if len(mine) else []
    limits += [serial(ctx.table.ack[theirs], base)] if len(theirs) else []
    return int(max((np.max(x) for x in limits), default=0))


def burst_observations(ctx: ResetContext) -> list[Observation]:
    """Weaver et al.: RST_SEQ_CHANGE and RST_ACK_CHANGE within a burst of RSTs from one claimed sender."""
    partners = _burst_partners(ctx)
    if not len(partners):
        return []
    found = []
    base = ctx.value("seq")
    seqs = serial(ctx.column("seq", partners), base)
    limit = _sent_and_acked_limit(ctx, base)
    jumps = (np.abs(seqs) > SEQ_SLACK) & (np.maximum(seqs, 0) > limit + SEQ_SLACK)
    if np.any(jumps):
        found.append(Observation(
            "seq_change", len(partners) + 1, 1, W_SEQ_CHANGE,
            f"{len(partners) + 1} RSTs within {SEQ_CHANGE_WINDOW_S:g} s claim {ctx.sender_name} with seqs up to "
            f"{int(np.max(seqs)):+d} apart, beyond anything it sent or was acknowledged: an injector spraying the "
            "window (Weaver et al., NDSS 2009).",
        ))
    found += _ack_change(ctx, partners)
    return found


def _ack_change(ctx: ResetContext, partners: np.ndarray) -> list[Observation]:
    if not ctx.value("flags") & ACK:
        return []
    with_ack = partners[(ctx.column("flags", partners) & ACK) != 0]
    earlier = with_ack[ctx.column("ts_ns", with_ack) <= ctx.value("ts_ns")]
    acks = ctx.column("ack", earlier)
    if not len(acks) or np.all(acks == ctx.value("ack")):
        return []
    justified = len(ctx.other) and np.any(seq_ends(ctx, ctx.other) == ctx.value("ack"))
    if justified:
        return []
    return [Observation(
        "ack_change", ctx.value("ack"), int(acks[-1]), W_ACK_CHANGE,
        f"This RST acknowledges {ctx.value('ack')}, an earlier RST from the same claimed sender {int(acks[-1])}, "
        f"and {ctx.receiver_name} sent nothing ending at {ctx.value('ack')}: not one stack's bookkeeping.",
    )]
