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


@nb.njit(**NUMBA_OPTIONS)
def split_streams(group_start, key, flags, seq, length, stream_of, stream_first, stream_value):
    """Number the streams in walk order: ``stream_of[i]`` per packet, and per stream its first packet
    (sorted position) and final completeness. Returns the number of streams."""
    s = 0
    keys, base = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)
    for g in range(len(group_start) - 1):
        n_keys = first = seen = packets = 0
        for i in range(group_start[g], group_start[g + 1]):
            k, f = key[i], flags[i]
            slot = 0 if n_keys > 0 and keys[0] == k else 1 if n_keys > 1 and keys[1] == k else -1
            if i == group_start[g] or (f & (SYN | ACK) == SYN and slot >= 0 and seq[i] != base[slot]):
                if i != group_start[g]:  # port reuse with a new ISN: close the stream, open another
                    stream_value[s - 1] = first | (seen if packets > 1 else 0)
                stream_first[s] = i
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
    return s
