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

from netreset.packets.table import ACK
from netreset.analyses.resets.index import serial as serial_columns
from netreset.analyses.resets.evidence import Observation, ResetContext
from netreset.analyses.resets.weights import (
    SEQ_CHANGE_WINDOW_S,
    SEQ_SLACK,
    W_ACK_CHANGE,
    W_SEQ_CHANGE,
    W_SEQ_EXACT,
    W_SEQ_OUT_OF_WINDOW,
)


def serial(delta: int) -> int:
    """A 32-bit sequence difference as a signed number (RFC 1982 serial arithmetic): wraparound-safe."""
    return ((delta + 2**31) % 2**32) - 2**31


def plausibility_observations(ctx: ResetContext) -> list[Observation]:
    """RST seq against the sender's next seq and the receiver's window."""
    if not ctx.sender_count:
        return []
    base, nxt = ctx.seq_base, ctx.seq_next
    rst = serial(ctx.seq - base)
    low = min(nxt, ctx.ack_max) if ctx.ack_max is not None else nxt
    window = ctx.receive_window
    expected = (base + nxt) % 2**32
    if rst == nxt:
        return [Observation("seq_exact", ctx.seq, expected, W_SEQ_EXACT, (_exact_words, ctx.sender_name))]
    if rst < low - SEQ_SLACK or (window is not None and rst >= nxt + window + SEQ_SLACK):
        return [Observation("seq_out_of_window", ctx.seq, expected, W_SEQ_OUT_OF_WINDOW,
                            (_out_of_window_words, rst - nxt, ctx.sender_name, rst < low, window))]
    return [Observation("seq_in_window", ctx.seq, expected, 0.0, (_in_window_words, rst - nxt, ctx.sender_name))]


def _exact_words(name: str) -> str:
    return f"RST seq is exactly {name}'s next sequence number."


def _out_of_window_words(offset: int, name: str, behind: bool, window: int | None) -> str:
    where = "behind what was already acknowledged" if behind else f"beyond the {window}-byte window"
    return (f"RST seq is {offset:+d} from {name}'s next sequence number, {where}: the sender "
            "knows its own sequence numbers, a blind forger guesses (RFC 5961).")


def _in_window_words(offset: int, name: str) -> str:
    return f"RST seq is {offset:+d} from {name}'s next sequence number, inside the window."


def burst_observations(ctx: ResetContext) -> list[Observation]:
    """Weaver et al.: RST_SEQ_CHANGE and RST_ACK_CHANGE within a burst of RSTs from one claimed sender."""
    if not ctx.partners:
        return []
    found = []
    if ctx.seq_jump:
        found.append(Observation("seq_change", ctx.partners + 1, 1, W_SEQ_CHANGE,
                                 (_change_words, ctx.partners + 1, ctx.sender_name, ctx.seq_spread)))
    found += _ack_change(ctx)
    return found


def _ack_change(ctx: ResetContext) -> list[Observation]:
    if not ctx.flags & ACK:
        return []
    if not ctx.earlier_acks or not ctx.acks_differ or ctx.ack_justified:
        return []
    return [Observation("ack_change", ctx.ack, ctx.last_ack, W_ACK_CHANGE,
                        (_ack_change_words, ctx.ack, ctx.last_ack, ctx.receiver_name))]


def _change_words(count: int, name: str, spread: int) -> str:
    return (f"{count} RSTs within {SEQ_CHANGE_WINDOW_S:g} s claim {name} with seqs up to "
            f"{spread:+d} apart, beyond anything it sent or was acknowledged: an injector spraying the "
            "window (Weaver et al., NDSS 2009).")


def _ack_change_words(ack: int, last_ack: int, receiver: str) -> str:
    return (f"This RST acknowledges {ack}, an earlier RST from the same claimed sender {last_ack}, "
            f"and {receiver} sent nothing ending at {ack}: not one stack's bookkeeping.")


# ── All RSTs at once (netreset.analyses.resets.batch): the same observations from the fact columns ──────────────

def plausibility_batch(b) -> None:
    """:func:`plausibility_observations` for every RST."""
    f = b.facts
    sender = f.values("sender_count") > 0
    base, nxt, seq = f.values("seq_base"), f.values("seq_next"), f.values("seq")
    rst = serial_columns(seq - base)
    low = np.where(f.has("ack_max"), np.minimum(nxt, f.values("ack_max")), nxt)
    windowed = f.has("receive_window")
    exact = sender & (rst == nxt)
    outside = sender & ~exact & ((rst < low - SEQ_SLACK) | (windowed & (rst >= nxt + f.values("receive_window") + SEQ_SLACK)))
    seqs, expected, names = f.listed("seq"), ((base + nxt) % 2**32).tolist(), b.sender_names
    offset, behind, window = (rst - nxt).tolist(), (rst < low).tolist(), f.listed("receive_window")
    b.put(0, exact, "seq_exact", W_SEQ_EXACT, lambda ix: [Observation(
        "seq_exact", seqs[i], expected[i], W_SEQ_EXACT, (_exact_words, names[i])) for i in ix])
    b.put(0, outside, "seq_out_of_window", W_SEQ_OUT_OF_WINDOW, lambda ix: [Observation(
        "seq_out_of_window", seqs[i], expected[i], W_SEQ_OUT_OF_WINDOW,
        (_out_of_window_words, offset[i], names[i], behind[i], window[i])) for i in ix])
    b.put(0, sender & ~exact & ~outside, "seq_in_window", 0.0, lambda ix: [Observation(
        "seq_in_window", seqs[i], expected[i], 0.0, (_in_window_words, offset[i], names[i])) for i in ix])


def burst_batch(b) -> None:
    """:func:`burst_observations` for every RST: the seq change, then the ack change (two positions)."""
    f = b.facts
    partners = f.values("partners")
    burst = partners > 0

    def seq_changes(ix: list[int]) -> list[Observation]:
        counts, names, spread = (partners + 1).tolist(), b.sender_names, f.listed("seq_spread")
        return [Observation("seq_change", counts[i], 1, W_SEQ_CHANGE, (_change_words, counts[i], names[i], spread[i]))
                for i in ix]

    def ack_changes(ix: list[int]) -> list[Observation]:
        acks, last, receiver = f.listed("ack"), f.listed("last_ack"), b.receiver_name
        return [Observation("ack_change", acks[i], last[i], W_ACK_CHANGE, (_ack_change_words, acks[i], last[i], receiver(i)))
                for i in ix]

    b.put(0, burst & f.values("seq_jump"), "seq_change", W_SEQ_CHANGE, seq_changes)
    changed = (burst & ((f.values("flags") & ACK) != 0) & (f.values("earlier_acks") > 0) & f.values("acks_differ")
               & ~f.values("ack_justified"))
    b.put(1, changed, "ack_change", W_ACK_CHANGE, ack_changes)
