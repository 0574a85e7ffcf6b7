"""Wireshark's ``tcp.stream`` split and ``tcp.completeness``, compiled (numba).

The same rules as :class:`netreset.flows.completeness.StreamState`, over the packets of all tuples at
once (sorted tuple by tuple, capture order inside a tuple). A tuple has at most two senders, so
the per-direction base sequence numbers fit in two slots instead of a dict.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from netreset.flows.completeness import C_SYN
from netreset.flows.completeness import completeness_bits as _python_completeness_bits
from netreset.flows.compiled.tcpstate import ACK, SYN
from netreset.runtime.compiled import NUMBA_OPTIONS

_M32 = 0xFFFFFFFF


#: The very function the Python path uses, compiled: one definition of which packet sets which bit.
completeness_bits = nb.njit(**NUMBA_OPTIONS)(_python_completeness_bits)


#: Columns of a group's last stream state (``last`` of :func:`split_streams_seeded`): how many senders
#: it knows, the two senders, their base sequence numbers, the first packet's bit, the bits seen, packets.
SEED_N, SEED_KEY0, SEED_KEY1, SEED_BASE0, SEED_BASE1, SEED_FIRST, SEED_SEEN, SEED_PACKETS = range(8)
SEED_FIELDS = 8


@nb.njit(**NUMBA_OPTIONS)
def split_streams_seeded(group_start, key, flags, seq, length, seed_n, seed_keys, seed_base, seed_bits,
                         stream_of, stream_first, stream_value, continued, last):
    """Number the streams in walk order (``stream_of[i]`` per packet; per stream its first packet and
    final completeness; returns how many), where a group may continue a stream met before these packets (a streamed
    capture whose tuple went quiet long enough for Zeek to forget it, while Wireshark keeps the stream):
    ``seed_n[g] >= 0`` gives group g's stream state then (senders ``seed_keys[g]``, bases ``seed_base[g]``,
    ``seed_bits[g]`` = first bit, bits seen, packets), and its first stream is that one, ``continued``,
    unless its first packet opens a new one by the rule. ``last[g]`` receives each group's last stream
    state (the ``SEED_*`` columns), for the next part of the capture to continue."""
    s = 0
    keys, base = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)
    for g in range(len(group_start) - 1):
        n_keys = first = seen = packets = 0
        seeded = seed_n[g] >= 0
        if seeded:
            n_keys = seed_n[g]
            keys[0], keys[1], base[0], base[1] = seed_keys[g, 0], seed_keys[g, 1], seed_base[g, 0], seed_base[g, 1]
            first, seen, packets = seed_bits[g, 0], seed_bits[g, 1], seed_bits[g, 2]
        for i in range(group_start[g], group_start[g + 1]):
            k, f = key[i], flags[i]
            slot = 0 if n_keys > 0 and keys[0] == k else 1 if n_keys > 1 and keys[1] == k else -1
            opens = f & (SYN | ACK) == SYN and slot >= 0 and seq[i] != base[slot]
            if i == group_start[g] and seeded and not opens:  # the stream met before goes on
                stream_first[s] = i
                continued[s] = True
                s += 1
            elif i == group_start[g] or opens:
                if i != group_start[g]:  # port reuse with a new ISN: close the stream, open another
                    stream_value[s - 1] = first | (seen if packets > 1 else 0)
                stream_first[s] = i
                continued[s] = False
                s += 1
                n_keys = first = seen = packets = 0
                slot = -1
            if slot < 0:
                keys[n_keys] = k
                base[n_keys] = seq[i] if f & SYN else (seq[i] - 1) & _M32
                n_keys += 1
            if not packets and f & (SYN | ACK) == SYN:
                first = C_SYN
            seen |= completeness_bits(f, length[i])
            packets += 1
            stream_of[i] = s - 1
        if s:
            stream_value[s - 1] = first | (seen if packets > 1 else 0)
        last[g, SEED_N], last[g, SEED_KEY0], last[g, SEED_KEY1] = n_keys, keys[0], keys[1]
        last[g, SEED_BASE0], last[g, SEED_BASE1] = base[0], base[1]
        last[g, SEED_FIRST], last[g, SEED_SEEN], last[g, SEED_PACKETS] = first, seen, packets
    return s
