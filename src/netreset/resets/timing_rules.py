"""Timing evidence: races with the real sender, and answers faster than the sender's round trip.

* A host that sent a RST has torn its connection down; it sends nothing more on it. When the claimed
  sender keeps sending after "its" RST (Zeek's ``data_after_reset``), someone else sent the RST.
* A RST that answers a packet needs at least one round trip from the capture point to whoever sends it.
  The handshake measures the claimed sender's round trip (SYN → SYN-ACK seen at the capture point); an
  answer much faster than that came from a device closer than the sender.
"""

from __future__ import annotations

from netreset.resets.evidence import Observation, ResetContext
from netreset.resets.verdict import (
    RTT_FRACTION,
    RTT_MIN_S,
    W_DATA_AFTER_RESET,
    W_FASTER_THAN_RTT,
    W_PACKETS_AFTER_RESET,
    W_TIMING_CONSISTENT,
)


def race_observations(ctx: ResetContext) -> list[Observation]:
    """Packets from the claimed sender after its own RST: new data means a forger raced the real sender."""
    if not ctx.after_count:
        return []
    if ctx.new_count:
        return [Observation(
            "data_after_reset", ctx.new_count, 0, W_DATA_AFTER_RESET,
            f"{ctx.sender_name} kept sending new data after the RST (first in frame {ctx.new_frame}): a host that "
            "resets a connection sends nothing more on it, so another device raced it.",
        )]
    return [Observation(
        "packets_after_reset", ctx.after_count, 0, W_PACKETS_AFTER_RESET,
        f"{ctx.sender_name} sent {ctx.after_count} more packet(s) (ACKs or retransmissions, first in frame "
        f"{ctx.after_frame}) after the RST it supposedly sent.",
    )]


def rtt_observations(ctx: ResetContext) -> list[Observation]:
    """Compare how fast the RST answered the last packet it could answer with the sender's RTT.

    The round trip is the handshake's (:func:`netreset.resets.context.handshake_rtts`): responder —
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
