"""The packets of every conversation that holds a RST, grouped by (conversation, sending side), once.

Every reset rule compares one RST with packets of its own conversation: the claimed sender's packets
before it, the other side's packets before it, the sender's packets after it. Sorted by (conversation,
side, position), each of those sets is a contiguous run of one group, and "the last such packet
before the RST" or "how many such packets before the RST" is a prefix aggregate over the group read
at one index. :class:`Groups` holds the sorted arrays and those prefix aggregates, so facts for all
RSTs come from a handful of numpy passes instead of a dozen small numpy calls per RST.

Group id = 2 × conversation + 1 for the originator's packets, 2 × conversation for the responder's;
``g ^ 1`` is the other side of group ``g``.

The sequence-space arithmetic over those columns (:func:`serial`, :func:`seq_ends`) lives here too:
both the prefix facts (:mod:`.context`) and the pair expansions (:mod:`.pairs`) need it, and
:mod:`.context` imports :mod:`.pairs`, so neither of them can be its home.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Iterator, Sequence

import numpy as np

from netreset.flows.model import Conversation
from netreset.packets.table import FIN, RST, SYN, PacketTable

#: Columns gathered for the grouped packets (as int64, so arithmetic never wraps).
COLUMNS = ("flags", "ttl", "ip_id", "df", "ts_ns", "seq", "ack", "payload_len", "win", "ts_val", "frame",
           "wscale", "src", "dst")
#: Pair expansions (RST × packets) are processed in batches of at most this many pairs (bounded memory).
PAIR_BATCH = 1 << 21
_OFFSET = 1 << 33  #: per-group offset for prefix maxima of 32-bit serial numbers


def concatenated(conversations: Sequence[Conversation]) -> tuple[np.ndarray, np.ndarray]:
    """Every conversation's packet count, and all their ``rows`` end to end (int64)."""
    if not conversations:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pieces = list(map(attrgetter("rows"), conversations))
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    return lengths, np.concatenate(pieces).astype(np.int64, copy=False)


def rst_conversations(table: PacketTable, conversations: Sequence[Conversation]) -> list[int]:
    """Indices of the conversations holding at least one RST."""
    return with_rsts(table, conversations)[0].tolist()


def with_rsts(table: PacketTable, conversations: Sequence[Conversation]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the conversations holding at least one RST, their packet counts and their rows end to
    end: everything :class:`Groups` needs, from one pass over the conversations."""
    lengths, rows = concatenated(conversations)
    ends = np.cumsum(lengths)
    picked = np.unique(np.searchsorted(ends, np.flatnonzero((table.flags[rows] & RST) != 0), side="right"))
    kept = lengths[picked]
    first = np.cumsum(kept) - kept  # where each picked conversation starts among the kept rows
    return picked, kept, rows[np.arange(int(kept.sum())) + np.repeat(ends[picked] - kept - first, kept)]


class Groups:
    """Packets of some conversations sorted by (group, position); columns and group bounds as arrays."""

    def __init__(self, table: PacketTable, conversations: Sequence[Conversation],
                 lengths: np.ndarray | None = None, rows: np.ndarray | None = None) -> None:
        """``lengths``/``rows``: the conversations' :func:`concatenated` arrays when the caller has them."""
        n = len(conversations)
        if rows is None:
            lengths, rows = concatenated(conversations)
        orig = np.concatenate(list(map(attrgetter("from_orig"), conversations))).astype(bool, copy=False) if n else np.zeros(0, bool)
        starts = np.cumsum(lengths) - lengths
        pos = np.arange(len(rows), dtype=np.int64) - np.repeat(starts, lengths)
        gid = np.repeat(np.arange(n, dtype=np.int64) * 2, lengths) + orig
        order = np.argsort(gid, kind="stable")  # rows of a conversation are already in capture order
        self.rows, self.gid, self.pos = rows[order], gid[order], pos[order]
        self.col = {name: table.columns[name][self.rows].astype(np.int64) for name in COLUMNS}
        self.start = np.searchsorted(self.gid, np.arange(2 * n + 1))  #: first index of each group (and the end)
        self.end = self.start[1:]
        self.conv_start = self.start[0:-1:2]  #: first index of each conversation's responder group
        self._span = int(pos.max()) + 2 if len(pos) else 1
        self._key = self.gid * self._span + self.pos

    def __len__(self) -> int:
        return len(self.rows)

    def before(self, gid: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Index of the last packet of group ``gid`` at a position before ``pos`` (< start when none)."""
        return np.searchsorted(self._key, gid * self._span + pos, side="left") - 1

    def count(self, mask: np.ndarray, gid: np.ndarray, upto: np.ndarray) -> np.ndarray:
        """Packets of ``mask`` in group ``gid`` from its start up to index ``upto`` (inclusive)."""
        return self.total(mask.astype(np.int64), gid, upto)

    def total(self, values: np.ndarray, gid: np.ndarray, upto: np.ndarray) -> np.ndarray:
        """Sum of ``values`` over group ``gid`` from its start up to index ``upto`` (inclusive)."""
        sums = np.r_[0, np.cumsum(values)]
        return sums[np.maximum(upto + 1, self.start[gid])] - sums[self.start[gid]]

    def last(self, mask: np.ndarray, gid: np.ndarray, upto: np.ndarray) -> np.ndarray:
        """Index of the last ``mask`` packet of group ``gid`` at or before ``upto``; -1 when none."""
        latest = np.r_[-1, np.maximum.accumulate(np.where(mask, np.arange(len(mask)), -1))]
        found = latest[upto + 1]
        return np.where(found >= self.start[gid], found, -1)

    def first_after(self, mask: np.ndarray, gid: np.ndarray, after: np.ndarray) -> np.ndarray:
        """Index of the first ``mask`` packet of group ``gid`` after index ``after``; -1 when none."""
        big = len(mask)
        nxt = np.r_[np.minimum.accumulate(np.where(mask, np.arange(big), big)[::-1])[::-1], big]
        found = nxt[np.minimum(after + 1, big)]
        return np.where(found < self.end[gid], found, -1)

    def first(self, mask: np.ndarray, gid: np.ndarray) -> np.ndarray:
        """Index of the first ``mask`` packet of group ``gid``; -1 when none."""
        return self.first_after(mask, gid, self.start[gid] - 1)

    def prefix_max(self, values: np.ndarray, mask: np.ndarray, gid: np.ndarray, upto: np.ndarray) -> np.ndarray:
        """Largest of ``values`` (32-bit serial numbers) over ``mask`` packets of group ``gid`` up to
        ``upto``; meaningless where :meth:`count` is 0."""
        shifted = np.where(mask, values + self.gid * _OFFSET, self.gid * _OFFSET - _OFFSET // 2)
        best = np.r_[np.iinfo(np.int64).min, np.maximum.accumulate(shifted)]
        return best[upto + 1] - gid * _OFFSET


def serial(delta: np.ndarray) -> np.ndarray:
    """32-bit sequence differences as signed numbers (RFC 1982 serial arithmetic), wraparound-safe."""
    return ((delta + 2**31) % 2**32) - 2**31


def seq_ends(c: dict[str, np.ndarray]) -> np.ndarray:
    """Absolute seq just past each packet (payload, SYN and FIN each use sequence space)."""
    extra = ((c["flags"] & SYN) != 0).astype(np.int64) + ((c["flags"] & FIN) != 0)
    return (c["seq"] + c["payload_len"] + extra) % 2**32


def pairs(lo: np.ndarray, hi: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(item, element) index pairs for every item ``i`` and element in ``[lo[i], hi[i])``, in batches
    of about :data:`PAIR_BATCH` pairs (a long conversation with many RSTs must not exhaust memory)."""
    counts = np.maximum(hi - lo, 0)
    cum = np.cumsum(counts)
    first = 0
    while first < len(counts):
        done = int(cum[first - 1]) if first else 0
        last = max(int(np.searchsorted(cum, done + PAIR_BATCH, side="right")), first + 1)
        c = counts[first:last]
        item = np.repeat(np.arange(first, last), c)
        offsets = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
        yield item, np.repeat(lo[first:last], c) + offsets
        first = last
