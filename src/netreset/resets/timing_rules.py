"""Timing evidence: races with the real sender, and answers faster than the sender's round trip.

* A host that sent a RST has torn its connection down; it sends nothing more on it. When the claimed
  sender keeps sending after "its" RST (Zeek's ``data_after_reset``), someone else sent the RST.
* A RST that answers a packet needs at least one round trip from the capture point to whoever sends it.
  The handshake measures the claimed sender's round trip (SYN → SYN-ACK seen at the capture point); an
  answer much faster than that came from a device closer than the sender.
"""

from __future__ import annotations

import numpy as np

from netreset.packets import ACK, FIN, SYN
from netreset.resets.evidence import Observation, ResetContext
from netreset.resets.verdict import (
    RTT_FRACTION,
    RTT_MIN_S,
    W_DATA_AFTER_RESET,
    W_FASTER_THAN_RTT,
    W_PACKETS_AFTER_RESET,
    W_TIMING_CONSISTENT,
)


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def handshake_rtt(ctx: ResetContext) -> float | None:
    """Seconds from the capture point to the claimed sender and back, measured on the handshake.

    Responder: last SYN before the first SYN-ACK → that SYN-ACK. Originator: first SYN-ACK → the
    originator's first ACK after it. None when the handshake was not seen.
    """
    conv = ctx.conv
    flags = ctx.table.flags[conv.rows]
    ts = ctx.table.ts_ns[conv.rows]
    syn_ack = _first(((flags & (SYN | ACK)) == (SYN | ACK)) & ~conv.from_orig)
    if syn_ack is None:
        return None
    if ctx.from_orig:
        after = np.arange(len(flags)) > syn_ack
        ack = _first(after & conv.from_orig & ((flags & (SYN | ACK)) == ACK))
        return None if ack is None else float(ts[ack] - ts[syn_ack]) / 1e9
    syns = np.flatnonzero(((flags & (SYN | ACK)) == SYN) & conv.from_orig & (np.arange(len(flags)) < syn_ack))
    return None if not len(syns) else float(ts[syn_ack] - ts[syns[-1]]) / 1e9


def _signed(delta: np.ndarray) -> np.ndarray:
    """32-bit sequence differences as signed numbers (RFC 1982 serial arithmetic)."""
    return ((delta.astype(np.int64) + 2**31) % 2**32) - 2**31


def race_observations(ctx: ResetContext) -> list[Observation]:
    """Packets from the claimed sender after its own RST: new data means a forger raced the real sender."""
    after = ctx.sender_after
    if not len(after):
        return []
    rst_seq = ctx.value("seq")
    end = ctx.column("seq", after).astype(np.int64) + ctx.column("payload_len", after)
    end += (ctx.column("flags", after) & (SYN | FIN)) != 0
    new = (_signed(end - rst_seq) > 0) & (end != ctx.column("seq", after))
    frames = ctx.column("frame", after)
    if np.any(new):
        frame = int(frames[np.flatnonzero(new)[0]])
        return [Observation(
            "data_after_reset", int(np.count_nonzero(new)), 0, W_DATA_AFTER_RESET,
            f"{ctx.sender_name} kept sending new data after the RST (first in frame {frame}): a host that "
            "resets a connection sends nothing more on it, so another device raced it.",
        )]
    return [Observation(
        "packets_after_reset", len(after), 0, W_PACKETS_AFTER_RESET,
        f"{ctx.sender_name} sent {len(after)} more packet(s) (ACKs or retransmissions, first in frame "
        f"{int(frames[0])}) after the RST it supposedly sent.",
    )]


def rtt_observations(ctx: ResetContext) -> list[Observation]:
    """Compare how fast the RST answered the last packet it could answer with the sender's RTT."""
    rtt = handshake_rtt(ctx)
    if rtt is None or rtt < RTT_MIN_S or not len(ctx.other):
        return []
    trigger = int(ctx.other[-1])
    answer = (ctx.value("ts_ns") - ctx.value("ts_ns", trigger)) / 1e9
    if answer < rtt * RTT_FRACTION:
        return [Observation(
            "faster_than_rtt", round(answer, 6), round(rtt, 6), W_FASTER_THAN_RTT,
            f"The RST came {answer * 1e3:.2f} ms after frame {ctx.value('frame', trigger)}, but a round trip to "
            f"{ctx.sender_name} takes {rtt * 1e3:.2f} ms (handshake): the resetter sits about "
            f"{answer / rtt:.0%} of the way to {ctx.sender_name}, measured in round-trip time.",
        )]
    if answer >= rtt:
        return [Observation(
            "timing_consistent", round(answer, 6), round(rtt, 6), W_TIMING_CONSISTENT,
            f"The RST came {answer * 1e3:.2f} ms after the last packet to {ctx.sender_name}, no faster than "
            f"its {rtt * 1e3:.2f} ms round trip.",
        )]
    return []
