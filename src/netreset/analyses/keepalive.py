"""TCP keepalive probes and their ACKs in one conversation, by Wireshark's rules (``tcp.analysis.keep_alive``,
``tcp.analysis.keep_alive_ack``).

An idle timeout is a device forgetting a silent connection; keepalives are what keeps it from going silent.
So the ``idle_timeout`` cause (netreset.analyses.idle) needs to know whether a conversation sent any, how often,
and that a probe is not a retransmission of data (a probe repeats the last byte already acknowledged, and a
string of unanswered probes is not the first packet after a silence being retransmitted).

Wireshark's ``tcp_analyze_sequence_number`` (epan/dissectors/packet-tcp.c):

- keepalive: 0 or 1 byte of payload, ``seq == nextseq - 1`` of its direction (one byte before what should
  come next), neither SYN, FIN nor RST;
- keepalive ACK: no payload, a non-zero window equal to its direction's last window, ``seq == nextseq`` and
  ``ack == lastack`` of its direction, the other direction's last segment a keepalive, neither SYN, FIN nor RST.

``nextseq`` of a direction is the highest ``seq + len`` (+1 for SYN/FIN) it has sent, as Wireshark keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netreset.packets.table import FIN, RST, SYN

_MASK = 0xFFFFFFFF


def _after(a: int, b: int) -> bool:
    """``a`` is beyond ``b`` in sequence space (Wireshark's GT_SEQ)."""
    return a != b and ((a - b) & _MASK) < 0x80000000


@dataclass(frozen=True)
class Keepalives:
    """The keepalive probes and ACKs of one conversation, as positions into ``conv.rows``."""

    probes: tuple[int, ...]  #: positions of keepalive probes
    acks: tuple[int, ...]  #: positions of keepalive ACKs

    def probe_set(self) -> frozenset[int]:
        return frozenset(self.probes)


def keepalives(table, conv) -> Keepalives:
    """Keepalive probes and ACKs of ``conv`` (positions into ``conv.rows``), by Wireshark's rules."""
    rows = conv.rows
    if not len(rows):
        return Keepalives((), ())
    seq = table.seq[rows].astype(np.int64).tolist()
    ack = table.ack[rows].astype(np.int64).tolist()
    flags = table.flags[rows].astype(np.int64).tolist()
    length = table.payload_len[rows].astype(np.int64).tolist()
    win = table.win[rows].astype(np.int64).tolist()
    orig = conv.from_orig.tolist()
    nextseq: dict[bool, int | None] = {True: None, False: None}
    lastack: dict[bool, int | None] = {True: None, False: None}
    window: dict[bool, int | None] = {True: None, False: None}
    last_was_probe = {True: False, False: False}
    probes, acks = [], []
    for i, d in enumerate(orig):
        f, s, n = flags[i], seq[i], length[i]
        plain = not f & (SYN | FIN | RST)
        probe = acked = False
        if plain and n <= 1 and nextseq[d] is not None and s == (nextseq[d] - 1) & _MASK:
            probe = True
        elif (plain and n == 0 and win[i] and win[i] == window[d] and s == nextseq[d] and ack[i] == lastack[d]
              and last_was_probe[not d]):
            acked = True
        if probe:
            probes.append(i)
        if acked:
            acks.append(i)
        end = (s + n + (1 if f & (SYN | FIN) else 0)) & _MASK
        if nextseq[d] is None or _after(end, nextseq[d]):
            nextseq[d] = end
        lastack[d], window[d] = ack[i], win[i]
        last_was_probe[d] = probe
    return Keepalives(tuple(probes), tuple(acks))


def keepalive_timing(table, conv, found: Keepalives) -> tuple[float | None, float | None]:
    """(seconds from the previous packet of the conversation to the first probe — the keepalive time —,
    the median seconds between consecutive probes of one direction — the keepalive interval); None when not
    seen (no probe, or a single one)."""
    if not found.probes:
        return None, None
    ts = table.ts_ns[conv.rows].astype(np.int64)
    orig = conv.from_orig
    first = found.probes[0]
    first_after = round((int(ts[first]) - int(ts[first - 1])) / 1e9, 6) if first > 0 else None
    gaps = []
    for side in (True, False):
        mine = [i for i in found.probes if bool(orig[i]) == side]
        gaps += [(int(ts[b]) - int(ts[a])) / 1e9 for a, b in zip(mine, mine[1:])]
    interval = round(float(np.median(gaps)), 6) if gaps else None
    return first_after, interval
