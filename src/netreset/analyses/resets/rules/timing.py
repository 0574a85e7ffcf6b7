"""Timing evidence: races with the real sender, and answers faster than the sender's round trip.

* A host that sent a RST has torn its connection down; it sends nothing more on it. When the claimed
  sender keeps sending after "its" RST (Zeek's ``data_after_reset``), someone else sent the RST.
* A RST that answers a packet needs at least one round trip from the capture point to whoever sends it.
  The handshake measures the claimed sender's round trip (SYN → SYN-ACK seen at the capture point); an
  answer much faster than that came from a device closer than the sender.
"""

from __future__ import annotations

import numpy as np

from netreset.analyses.resets.evidence import Observation, ResetContext
from netreset.analyses.resets.weights import (
    RTT_FRACTION,
    RTT_MIN_S,
    TTL_REWRITE_MIN_RTT_S,
    W_DATA_AFTER_RESET,
    W_DATA_AFTER_RESET_NEARBY,
    W_FASTER_THAN_RTT,
    W_PACKETS_AFTER_RESET,
    W_TIMING_CONSISTENT,
)


def race_observations(ctx: ResetContext) -> list[Observation]:
    """Packets from the claimed sender after its own RST: new data means a forger raced the real sender."""
    if not ctx.after_count:
        return []
    if ctx.new_count:
        nearby = _nearby(ctx)
        return [Observation("data_after_reset", ctx.new_count, 0, W_DATA_AFTER_RESET_NEARBY if nearby else W_DATA_AFTER_RESET,
                            (_data_after_words, ctx.sender_name, ctx.new_frame, nearby))]
    return [Observation("packets_after_reset", ctx.after_count, 0, W_PACKETS_AFTER_RESET,
                        (_packets_after_words, ctx.sender_name, ctx.after_count, ctx.after_frame))]


def _nearby(ctx: ResetContext) -> bool:
    """The claimed sender arrives 0 routers away (an untouched default TTL, not re-stamped far away) and the
    RST carries exactly its TTL: no router between them where a forger could sit."""
    if not ctx.sender_count or ctx.sender_ttl_gap != 0:
        return False
    remote = ctx.rtt is not None and ctx.rtt >= TTL_REWRITE_MIN_RTT_S
    return not remote and ctx.guess(ctx.sender_ttl).routers_between == 0


def _data_after_words(name: str, frame: int, nearby: bool) -> str:
    if nearby:
        return (f"{name} kept sending new data after the RST (first in frame {frame}), but it is 0 routers from the "
                "capture point and the RST carries its own TTL: no router stands between them where another device "
                "could forge it, so the race alone (reordering at the capture host, a reused port) is weak evidence.")
    return (f"{name} kept sending new data after the RST (first in frame {frame}): a host that "
            "resets a connection sends nothing more on it, so another device raced it.")


def _packets_after_words(name: str, count: int, frame: int) -> str:
    return (f"{name} sent {count} more packet(s) (ACKs or retransmissions, first in frame "
            f"{frame}) after the RST it supposedly sent.")


def rtt_observations(ctx: ResetContext) -> list[Observation]:
    """Compare how fast the RST answered the last packet it could answer with the sender's RTT.

    The round trip is the handshake's (:func:`netreset.analyses.resets.context.handshake_rtts`): responder —
    last SYN before the first SYN-ACK → that SYN-ACK; originator — first SYN-ACK → its first ACK after it.
    """
    rtt = ctx.rtt
    if rtt is None or rtt < RTT_MIN_S or not ctx.other_count:
        return []
    answer = (ctx.ts_ns - ctx.other_ts) / 1e9
    if answer < rtt * RTT_FRACTION:
        return [Observation("faster_than_rtt", round(answer, 6), round(rtt, 6), W_FASTER_THAN_RTT,
                            (_faster_words, answer, rtt, ctx.other_frame, ctx.sender_name))]
    if answer >= rtt:
        return [Observation("timing_consistent", round(answer, 6), round(rtt, 6), W_TIMING_CONSISTENT,
                            (_consistent_words, answer, rtt, ctx.sender_name))]
    return []


def _faster_words(answer: float, rtt: float, frame: int, name: str) -> str:
    return (f"The RST came {answer * 1e3:.2f} ms after frame {frame}, but a round trip to "
            f"{name} takes {rtt * 1e3:.2f} ms (handshake): the resetter sits about "
            f"{answer / rtt:.0%} of the way to {name}, measured in round-trip time.")


def _consistent_words(answer: float, rtt: float, name: str) -> str:
    return (f"The RST came {answer * 1e3:.2f} ms after the last packet to {name}, no faster than "
            f"its {rtt * 1e3:.2f} ms round trip.")


# ── All RSTs at once (netreset.analyses.resets.batch): the same observations from the fact columns ──────────────

def race_batch(b) -> None:
    """:func:`race_observations` for every RST."""
    f = b.facts
    after, new = f.values("after_count") > 0, f.values("new_count") > 0

    def followed(ix: list[int]) -> list[Observation]:
        names, sent, first = b.sender_names, f.listed("after_count"), f.listed("after_frame")
        return [Observation("packets_after_reset", sent[i], 0, W_PACKETS_AFTER_RESET,
                            (_packets_after_words, names[i], sent[i], first[i])) for i in ix]

    ref = b.references
    nearby = ((f.values("sender_count") > 0) & f.has("sender_ttl_gap") & (f.values("sender_ttl_gap") == 0)
              & (ref.routers == 0) & ~(f.has("rtt") & (f.values("rtt") >= TTL_REWRITE_MIN_RTT_S)))
    weight = np.where(nearby, W_DATA_AFTER_RESET_NEARBY, W_DATA_AFTER_RESET)
    weights, close = weight.tolist(), nearby.tolist()

    def raced(ix: list[int]) -> list[Observation]:
        names, counts, frames = b.sender_names, f.listed("new_count"), f.listed("new_frame")
        return [Observation("data_after_reset", counts[i], 0, weights[i], (_data_after_words, names[i], frames[i], close[i]))
                for i in ix]

    b.put(0, after & new, "data_after_reset", weight, raced)
    b.put(0, after & ~new, "packets_after_reset", W_PACKETS_AFTER_RESET, followed)


def rtt_batch(b) -> None:
    """:func:`rtt_observations` for every RST."""
    f = b.facts
    rtt = f.values("rtt")
    timed = f.has("rtt") & (rtt >= RTT_MIN_S) & (f.values("other_count") > 0)
    answer = (f.values("ts_ns") - f.values("other_ts")) / 1e9
    faster = timed & (answer < rtt * RTT_FRACTION)
    consistent = timed & ~faster & (answer >= rtt)
    answers, rtts, frames, names = answer.tolist(), f.listed("rtt"), f.listed("other_frame"), b.sender_names
    shown = faster | consistent
    answer_6, rtt_6 = rounded(np.where(shown, answer, 0.0), 6), rounded(np.where(shown, rtt, 0.0), 6)
    b.put(0, faster, "faster_than_rtt", W_FASTER_THAN_RTT, lambda ix: [Observation(
        "faster_than_rtt", answer_6[i], rtt_6[i], W_FASTER_THAN_RTT,
        (_faster_words, answers[i], rtts[i], frames[i], names[i])) for i in ix])
    b.put(0, consistent, "timing_consistent", W_TIMING_CONSISTENT, lambda ix: [Observation(
        "timing_consistent", answer_6[i], rtt_6[i], W_TIMING_CONSISTENT,
        (_consistent_words, answers[i], rtts[i], names[i])) for i in ix])


def rounded(values: np.ndarray, digits: int) -> list[float]:
    """``round(v, digits)`` of every value, the same floats Python gives, mostly without a call per value.

    Python rounds the exact binary value half-to-even at ``digits`` decimals and returns the float nearest
    to that decimal. Here the scaled value is rounded to an integer N and N / 10**digits (a correctly
    rounded division: that same nearest float) is taken; only where the scaled value is so close to a
    half that the multiplication's own rounding may have moved it across, or too large for exact
    integers, is the value left to ``round`` itself.
    """
    scale = 10.0 ** digits
    scaled = values * scale
    found = (np.rint(scaled) / scale).tolist()
    exact = np.isfinite(scaled) & (np.abs(scaled) < 2.0**50)
    size = np.where(exact, np.abs(scaled), 0.0)
    doubt = (np.abs(size - np.floor(size) - 0.5) <= 4 * np.spacing(size)) | ~exact
    for i in np.flatnonzero(doubt).tolist():
        found[i] = round(float(values[i]), digits)
    return found
