"""TCP header evidence: a window copied from the other side, TCP timestamps suddenly missing.

A forger that builds its RST from the packet it rejects may copy that packet's window into the RST,
so the RST carries the *receiver's* window instead of the sender's — unless the sender's own packets used
that window too (its SYN-ACK's, say): then nothing shows it was copied. And a stack that put TCP timestamps
on every segment (RFC 7323) keeps doing so on a RST sent from the live connection, while most forgers
send a bare header. The timestamp rule is weak: Linux and Windows answer segments for an already closed
socket with a stateless RST that has no options either — so after the sender's own FIN it does not count.
"""

from __future__ import annotations

import numpy as np

from netreset.analyses.resets.evidence import Observation, ResetContext
from netreset.analyses.resets.weights import TIMESTAMPS_MIN_PACKETS, W_TIMESTAMPS_MISSING, W_WINDOW_REFLECTION


def window_observations(ctx: ResetContext) -> list[Observation]:
    """RST window equal to the other side's last window and not to the sender's own."""
    win = ctx.win
    if win == 0 or not ctx.other_count:
        return []
    own = ctx.sender_win if ctx.sender_count else None
    if win != ctx.other_win or win == own or ctx.sender_has_win:
        return []  # (a window the sender's own packets used, its SYN-ACK's say, was not copied)
    return [Observation("window_reflection", win, own, W_WINDOW_REFLECTION,
                        (_reflection_words, win, ctx.receiver_name, ctx.sender_name, own))]


def _reflection_words(win: int, receiver: str, sender: str, own: int | None) -> str:
    return (f"RST window {win} equals the window of {receiver}'s last packet, not {sender}'s own "
            f"({own if own is not None else 'unknown'}): the RST was built from the other side's packet.")


def timestamp_observations(ctx: ResetContext) -> list[Observation]:
    """The sender used TCP timestamps on every segment; the RST has none."""
    if ctx.ts_val >= 0 or not ctx.sender_count:
        return []
    if ctx.segments < TIMESTAMPS_MIN_PACKETS or ctx.segments_without_ts:
        return []
    closed = ctx.sender_closed
    weight = 0.0 if closed else W_TIMESTAMPS_MISSING
    return [Observation("timestamps_missing", "absent", "present", weight,
                        (_timestamps_words, ctx.sender_name, ctx.segments, closed))]


def _timestamps_words(name: str, segments: int, closed: bool) -> str:
    why = (" It had already sent its FIN, and a closed socket answers with a bare stateless RST, so this is "
           "no evidence." if closed else "")
    return f"{name} put TCP timestamps on all {segments} of its segments, the RST has none.{why}"


# ── All RSTs at once (netreset.analyses.resets.batch): the same observations from the fact columns ──────────────

def window_batch(b) -> None:
    """:func:`window_observations` for every RST."""
    f = b.facts
    win = f.values("win")
    sender = f.values("sender_count") > 0
    own_window = sender & ((win == f.values("sender_win")) | f.values("sender_has_win"))
    hit = (win != 0) & (f.values("other_count") > 0) & (win == f.values("other_win")) & ~own_window

    def reflections(ix: list[int]) -> list[Observation]:
        wins, own, receiver, names = f.listed("win"), f.listed("sender_win"), b.receiver_name, b.sender_names
        return [Observation("window_reflection", wins[i], own[i], W_WINDOW_REFLECTION,
                            (_reflection_words, wins[i], receiver(i), names[i], own[i])) for i in ix]

    b.put(0, hit, "window_reflection", W_WINDOW_REFLECTION, reflections)


def timestamp_batch(b) -> None:
    """:func:`timestamp_observations` for every RST."""
    f = b.facts
    segments = f.values("segments")
    hit = ((f.values("ts_val") < 0) & (f.values("sender_count") > 0) & (segments >= TIMESTAMPS_MIN_PACKETS)
           & (f.values("segments_without_ts") == 0))
    closed = f.values("sender_closed")
    weight = np.where(closed, 0.0, W_TIMESTAMPS_MISSING)
    weights, names, counts, closes = weight.tolist(), b.sender_names, f.listed("segments"), f.listed("sender_closed")
    b.put(0, hit, "timestamps_missing", weight, lambda ix: [Observation(
        "timestamps_missing", "absent", "present", weights[i], (_timestamps_words, names[i], counts[i], closes[i]))
        for i in ix])
