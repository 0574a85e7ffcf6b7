"""Packets grouped by 5-tuple, and which end of a tuple is the server.

Both tools start here: Zeek's connections and Wireshark's streams are both cut from the packets of one
address/port pair in capture order (:mod:`netreset.flows.conversations`, :mod:`netreset.flows.completeness`),
so the grouping is written once for both.
"""

from __future__ import annotations

import numpy as np

from netreset.packets.table import ACK, SYN, PacketTable

#: Zeek's ``likely_server_ports`` (TCP) with all base protocol scripts loaded. A connection first
#: seen by a non-SYN packet *from* one of these ports is flipped at once (``WantConnection``).
LIKELY_SERVER_PORTS = frozenset({
    21, 22, 25, 53, 80, 81, 88, 110, 135, 139, 143, 389, 443, 445, 502, 563, 585, 587, 614, 631,
    636, 989, 990, 992, 993, 995, 1080, 1434, 1883, 2811, 3128, 3268, 3306, 3389, 5222, 5223, 5269,
    5432, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000,
})


def tuple_keys(table: PacketTable, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Direction-free 5-tuple key of each row: (lower endpoint, higher endpoint) as int64 pairs."""
    a = table.src[rows].astype(np.int64) * 65536 + table.sport[rows]
    b = table.dst[rows].astype(np.int64) * 65536 + table.dport[rows]
    return np.minimum(a, b), np.maximum(a, b)


def group_by_tuple(table: PacketTable, rows: np.ndarray) -> list[np.ndarray]:
    """Rows split by 5-tuple (both directions together), each group in capture order."""
    lo, hi = tuple_keys(table, rows)
    order = np.lexsort((rows, lo, hi))
    lo, hi = lo[order], hi[order]
    starts = np.flatnonzero(np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])])
    return np.split(rows[order], starts[1:])


def wants_flip(flags: int, sport: int, dport: int) -> bool:
    """Zeek's WantConnection: flip a connection first seen without a SYN when it comes from a server port."""
    if flags & SYN and not flags & ACK:
        return False
    if sport in LIKELY_SERVER_PORTS:
        if dport in LIKELY_SERVER_PORTS:
            return not flags & SYN and sport < dport
        return True
    return False
