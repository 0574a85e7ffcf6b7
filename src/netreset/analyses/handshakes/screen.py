"""A vectorised pre-check that clears the (many) conversations whose handshake and teardown are clean.

The opening and closing rules walk one conversation at a time; on a capture with 100k healthy
connections that walk would dominate the run. This screen computes, for all conversations at once
with numpy, a *sufficient* condition for "no rule can fire" — one SYN and one SYN-ACK acknowledged
later by orig, and either no FIN or both FINs acknowledged — and leaves every other conversation to
the rules. It may send a clean conversation to the rules (a duplicate SYN copy, say); it never clears
one the rules would report (``tests/analyses/test_handshakes.py`` checks this property on random conversations).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from netreset.flows.model import Conversation
from netreset.runtime.compiled import MIN_TABLE_PACKETS, use_compiled
from netreset.analyses.handshakes.model import Gathered, gather
from netreset.packets.table import ACK, FIN, PROTO_TCP, RST, SYN, PacketTable

_MOD = 0xFFFFFFFF
_HALF = 0x80000000


class _Segments:
    """Per-conversation questions about a mask over the concatenated packets, where conversation i
    holds positions ``starts[i]:ends[i]``: one running count of the mask answers them for every
    conversation at once (``ufunc.at`` scatters or binary searches cost several times more)."""

    def __init__(self, lengths: np.ndarray, total: int) -> None:
        self.ends = np.cumsum(lengths)
        self.starts = self.ends - lengths
        self.total = total
        self._running = np.empty(total + 1, dtype=np.int64)

    def _before(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """How many positions before each conversation's start, and before its end, hold the mask."""
        running = self._running
        running[0] = 0
        np.cumsum(mask, out=running[1:])
        return running[self.starts], running[self.ends]

    def count(self, mask: np.ndarray) -> np.ndarray:
        lo, hi = self._before(mask)
        return hi - lo

    def first(self, mask: np.ndarray) -> np.ndarray:
        """The smallest position per conversation where the mask holds (``total`` when none)."""
        lo, hi = self._before(mask)
        where = np.append(np.flatnonzero(mask), self.total)
        return np.where(hi > lo, where[lo], self.total)

    def last(self, mask: np.ndarray) -> np.ndarray:
        """The largest position per conversation where the mask holds (-1 when none)."""
        lo, hi = self._before(mask)
        where = np.append(np.flatnonzero(mask), -1)  # hi - 1 == -1 (nothing before) reads this -1
        return np.where(hi > lo, where[hi - 1], -1)


def _fin_covered(fin: np.ndarray, last_ack: np.ndarray, rows: np.ndarray, table: PacketTable) -> np.ndarray:
    """The other side's last ACK comes after this side's first FIN and acknowledges it."""
    present = (fin < len(rows)) & (last_ack > fin)
    fin_r, ack_r = rows[fin[present]], rows[last_ack[present]]
    end = (table.seq[fin_r].astype(np.int64) + table.payload_len[fin_r] + 1) & _MOD
    covered = np.zeros(len(fin), dtype=bool)
    covered[present] = ((table.ack[ack_r].astype(np.int64) - end) & _MOD) < _HALF
    return covered


def needs_rules(table: PacketTable, conversations: Sequence[Conversation], gathered: Gathered | None = None,
                compiled: bool | None = None) -> np.ndarray:
    """Bool per conversation: False only when its handshake and teardown are certainly clean.
    ``gathered``: :func:`~netreset.analyses.handshakes.model.gather` of exactly these conversations (then only
    ``len(conversations)`` is read). ``compiled``: take the numba screen (:mod:`.compiled.screen`, the same
    answers) or not; by default when :func:`~netreset.runtime.compiled.use_compiled` says so for this
    many packets."""
    n = len(conversations)
    if n == 0:
        return np.zeros(0, dtype=bool)
    rows, orig, lengths = gathered if gathered is not None else gather(conversations)
    if use_compiled(len(rows), MIN_TABLE_PACKETS, compiled):
        from netreset.analyses.handshakes.compiled.screen import needs_rules_kernel

        out = np.empty(n, dtype=bool)
        needs_rules_kernel(rows, orig, lengths, table.proto, table.flags, table.seq, table.ack, table.payload_len, out)
        return out
    tcp = table.proto[rows] == PROTO_TCP
    if not tcp.all():
        lengths = np.diff(np.r_[0, np.cumsum(tcp)][np.r_[0, np.cumsum(lengths)]])
        rows, orig = rows[tcp], orig[tcp]
    seg = _Segments(lengths, len(rows))
    flags = table.flags[rows]
    hs = flags & (SYN | ACK | RST)
    syn_count = seg.count(orig & (hs == SYN))
    synack = ~orig & (hs == (SYN | ACK))
    completed = seg.last(orig & (hs == ACK)) > seg.first(synack)
    opening_ok = (syn_count == 0) | ((syn_count == 1) & (seg.count(synack) == 1) & completed)
    fin = (flags & FIN) != 0
    has_ack = (flags & ACK) != 0
    orig_fin, resp_fin = seg.first(fin & orig), seg.first(fin & ~orig)
    orig_done = _fin_covered(orig_fin, seg.last(has_ack & ~orig), rows, table)
    resp_done = _fin_covered(resp_fin, seg.last(has_ack & orig), rows, table)
    no_fin = (orig_fin == seg.total) & (resp_fin == seg.total)
    closing_ok = no_fin | (orig_done & resp_done)
    return ~(opening_ok & closing_ok)
