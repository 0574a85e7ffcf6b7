"""Joining the same TCP connections across two captures without trusting the 5-tuple.

NAT, load balancers and proxies rewrite addresses and ports, so the join rests on what they leave
alone. Sequence and acknowledgement numbers are 32-bit values chosen at random per connection (RFC 6528),
so one packet's (flags, seq, ack, length) names its connection almost surely: two conversations that
share such packets are one connection (``method = "packets"``). A terminating proxy or a sequence
randomiser (e.g. Cisco ASA) shifts each direction's numbers by a constant; then the packets still agree
*relative to each side's initial sequence number*, and the connections also overlap in time — the second
pass (``method = "relative"``) joins those, and the constant shift is reported as ``seq_offset``.

Within a joined pair, packets are matched by the same key; copies of one key (retransmissions, a SYN
sent three times) are paired by IP ID where it identifies them, else by nearest time on the fitted clock.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from netreset.flows.model import Conversation
from netreset.packets.table import ACK, FIN, RST, SYN, PacketTable
from netreset.analyses.vantage.clock import ClockFit

KEY_FLAGS = SYN | ACK | FIN | RST  #: flags in a packet key (PSH, ECN bits and URG may change on the way)
RELATIVE_MIN_KEYS = 4  #: relative keys two conversations must share to be joined by the second pass
RELATIVE_START_S = 2.0  #: ... and their first packets may be at most this far apart (on A's clock)
MOD32 = 1 << 32


@dataclass(frozen=True)
class ConvPair:
    """Two conversations (indices into each vantage's list) found to be one connection."""

    ia: int
    ib: int
    method: str  #: "packets" or "relative"
    shared: int  #: distinct packet keys both hold
    flipped: bool  #: B calls orig what A calls resp
    seq_offset: tuple[int, int]  #: (orig, resp) sequence numbers at B minus at A, signed


def packet_keys(table: PacketTable, conv: Conversation, flip: bool = False,
                offsets: tuple[int, int] = (0, 0)) -> list[tuple]:
    """(from_orig, flags, seq, ack, length) per packet; seq/ack shifted by ``offsets`` (orig's, resp's)."""
    rows = conv.rows
    flags = (table.flags[rows] & KEY_FLAGS).astype(np.int64)
    side = np.asarray(conv.from_orig, dtype=bool) ^ flip
    own = np.where(side, offsets[0], offsets[1])
    other = np.where(side, offsets[1], offsets[0])
    seq = (table.seq[rows].astype(np.int64) - own) % MOD32
    ack = np.where(flags & ACK, (table.ack[rows].astype(np.int64) - other) % MOD32, 0)
    return list(zip(side.tolist(), flags.tolist(), seq.tolist(), ack.tolist(), table.payload_len[rows].tolist()))


def initial_seqs(table: PacketTable, conv: Conversation) -> tuple[int, int]:
    """Each side's initial sequence number: its first SYN's seq, else its lowest seq (0 when silent)."""
    found = []
    for side in (True, False):
        rows = conv.rows[np.asarray(conv.from_orig) == side]
        syns = rows[(table.flags[rows] & SYN) != 0]
        pick = syns if len(syns) else rows
        found.append(int(table.seq[pick[0]]) if len(syns) else int(table.seq[pick].min()) if len(pick) else 0)
    return found[0], found[1]


def _absolute_votes(a_table, a_convs, b_table, b_convs) -> tuple[Counter, Counter]:
    """Per (A conversation, B conversation): distinct shared packets, and how many of them swap sides."""
    index: dict[tuple, list[tuple[int, bool]]] = defaultdict(list)
    for ib, conv in enumerate(b_convs):
        for key in set(packet_keys(b_table, conv)):
            index[key[1:]].append((ib, key[0]))
    votes, flips = Counter(), Counter()
    for ia, conv in enumerate(a_convs):
        for key in set(packet_keys(a_table, conv)):
            for ib, side in index.get(key[1:], ()):
                votes[ia, ib] += 1
                flips[ia, ib] += side != key[0]
    return votes, flips


def pair_by_packets(a_table, a_convs, b_table, b_convs) -> list[ConvPair]:
    """First pass: conversations sharing packets with equal seq/ack, one-to-one, most shared first."""
    votes, flips = _absolute_votes(a_table, a_convs, b_table, b_convs)
    pairs, used_a, used_b = [], set(), set()
    for (ia, ib), shared in sorted(votes.items(), key=lambda item: (-item[1], item[0])):
        if ia in used_a or ib in used_b:
            continue
        used_a.add(ia)
        used_b.add(ib)
        pairs.append(ConvPair(ia, ib, "packets", shared, flips[ia, ib] * 2 > shared, (0, 0)))
    return pairs


def pair_by_relative(a_table, a_convs, b_table, b_convs, skip_a: set[int], skip_b: set[int],
                     clock: ClockFit) -> list[ConvPair]:
    """Second pass: conversations whose packets agree relative to each side's ISN and that start together."""
    b_starts = clock.b_to_a_ns(np.array([c.start_ns for c in b_convs], dtype=np.int64))
    b_keys = {ib: (set(packet_keys(b_table, c, False, initial_seqs(b_table, c))), initial_seqs(b_table, c))
              for ib, c in enumerate(b_convs) if ib not in skip_b}
    candidates = []
    for ia, conv in enumerate(a_convs):
        if ia in skip_a:
            continue
        isn_a = initial_seqs(a_table, conv)
        keys_a = set(packet_keys(a_table, conv, False, isn_a))
        for ib, (keys_b, isn_b) in b_keys.items():
            gap = abs(int(b_starts[ib]) - conv.start_ns) / 1e9
            shared = len(keys_a & keys_b)
            if gap <= RELATIVE_START_S and shared >= RELATIVE_MIN_KEYS:
                offset = tuple(((isn_b[i] - isn_a[i] + 2**31) % MOD32) - 2**31 for i in (0, 1))
                candidates.append((-shared, gap, ia, ib, offset))
    pairs, used_a, used_b = [], set(), set()
    for negative, _, ia, ib, offset in sorted(candidates):
        if ia not in used_a and ib not in used_b:
            used_a.add(ia)
            used_b.add(ib)
            pairs.append(ConvPair(ia, ib, "relative", -negative, False, offset))
    return pairs


def _pair_copies(pa: list[int], pb: list[int], t_a, t_b, id_a, id_b) -> list[tuple[int, int]]:
    """Copies of one key: equal non-zero IP IDs first, then nearest in time, each packet used once."""
    if len(pa) == 1 and len(pb) == 1:
        return [(pa[0], pb[0])]
    options = sorted((int(id_a[i] != id_b[j] or id_a[i] <= 0), abs(int(t_a[i]) - int(t_b[j])), i, j)
                     for i in pa for j in pb)
    used_a, used_b, out = set(), set(), []
    for _, _, i, j in options:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            out.append((i, j))
    return out


def match_packets(a_table: PacketTable, ca: Conversation, b_table: PacketTable, cb: Conversation,
                  pair: ConvPair, clock: ClockFit, unique_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Rows of A and of B that are the same packet, pairwise (``unique_only``: keys seen once on each side)."""
    groups: dict[tuple, tuple[list, list]] = defaultdict(lambda: ([], []))
    for pos, key in enumerate(packet_keys(a_table, ca)):
        groups[key][0].append(pos)
    for pos, key in enumerate(packet_keys(b_table, cb, pair.flipped, pair.seq_offset)):
        groups[key][1].append(pos)
    t_a, t_b = a_table.ts_ns[ca.rows], clock.b_to_a_ns(b_table.ts_ns[cb.rows])
    id_a, id_b = a_table.ip_id[ca.rows], b_table.ip_id[cb.rows]
    found = []
    for pa, pb in groups.values():
        if pa and pb and (not unique_only or len(pa) == len(pb) == 1):
            found += _pair_copies(pa, pb, t_a, t_b, id_a, id_b)
    found.sort()
    positions_a = np.array([i for i, _ in found], dtype=np.int64)
    positions_b = np.array([j for _, j in found], dtype=np.int64)
    return ca.rows[positions_a], cb.rows[positions_b]
