"""Wireshark's ``tcp.stream`` numbering and ``tcp.completeness`` bitmask.

Wireshark (packet-tcp.c) keeps one TCP conversation per address/port pair and starts a new one
(a new ``tcp.stream`` number) only when a pure SYN arrives whose sequence number differs from the
base sequence number of its direction, or, with the same ISN, after the stream was already
closed by a FIN or RST. ``tcp.completeness`` ORs one bit per kind of packet seen in the stream; with
``tshark -2`` every packet shows the stream's final value, which is what we compute.
"""

from __future__ import annotations

import numpy as np

from netreset.flows.tuples import group_by_tuple  # one grouping for both tools
from netreset.packets.table import ACK, FIN, RST, SYN, PacketTable

# tcp.completeness bits.
C_SYN, C_SYNACK, C_ACK, C_DATA, C_FIN, C_RST = 1, 2, 4, 8, 16, 32
COMPLETENESS_NAMES = ((C_SYN, "SYN"), (C_SYNACK, "SYN-ACK"), (C_ACK, "ACK"), (C_DATA, "DATA"),
                      (C_FIN, "FIN"), (C_RST, "RST"))


def completeness_bits(flags: int, payload_len: int) -> int:
    """The bits one packet adds once its stream exists (a pure SYN adds nothing here)."""
    bits = 0
    if flags & SYN:
        bits |= C_SYNACK if flags & ACK else 0
    elif flags & ACK and payload_len == 0:
        bits |= C_ACK
    if payload_len > 0:
        bits |= C_DATA
    if flags & FIN and flags & ACK:
        bits |= C_FIN
    if flags & RST:
        bits |= C_RST
    return bits


def describe(completeness: int) -> str:
    """Human form, e.g. ``"SYN+SYN-ACK+ACK+DATA+FIN"`` (``"-"`` when nothing was seen)."""
    return "+".join(name for bit, name in COMPLETENESS_NAMES if completeness & bit) or "-"


class StreamState:
    """Per-stream facts Wireshark's new-stream test needs, fed one packet at a time."""

    __slots__ = ("base_seq", "first", "seen", "packets")

    def __init__(self) -> None:
        self.base_seq = {}  # sender key -> base sequence number of that direction
        self.first = 0  # what the stream's first packet set (SYN only)
        self.seen = 0  # OR of completeness_bits() over the stream's packets
        self.packets = 0

    @property
    def completeness(self) -> int:
        """The value tshark -2 shows on the stream's last packet (see docs/tcp-states.md)."""
        return self.first | (self.seen if self.packets > 1 else 0)

    def starts_new_stream(self, key: tuple, flags: int, seq: int) -> bool:
        """A pure SYN whose sequence number is not its direction's base: port reuse, new stream."""
        if flags & (SYN | ACK) != SYN or key not in self.base_seq:
            return False
        return seq != self.base_seq[key]

    def feed(self, key: tuple, flags: int, seq: int, payload_len: int) -> None:
        if key not in self.base_seq:
            self.base_seq[key] = seq if flags & SYN else (seq - 1) & 0xFFFFFFFF
        if not self.packets and flags & (SYN | ACK) == SYN:
            self.first = C_SYN
        self.seen |= completeness_bits(flags, payload_len)
        self.packets += 1


def wireshark_streams(table: PacketTable, tcp_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row tcp.stream (-1 for non-TCP rows) and the final completeness of every stream."""
    firsts, owners, values = [], [], []  # first row, rows and completeness per stream (file order later)
    for rows in group_by_tuple(table, tcp_rows):
        for stream_rows, state in _split_streams(table, rows):
            firsts.append(stream_rows[0])
            owners.append(stream_rows)
            values.append(state.completeness)
    order = np.argsort(np.asarray(firsts), kind="stable")
    stream_of_row = np.full(len(table), -1, dtype=np.int64)
    completeness = np.zeros(len(order), dtype=np.int64)
    for number, index in enumerate(order.tolist()):
        stream_of_row[owners[index]] = number
        completeness[number] = values[index]
    return stream_of_row, completeness


def _split_streams(table: PacketTable, rows: np.ndarray) -> list[tuple[list[int], StreamState]]:
    src, sport = table.src[rows].tolist(), table.sport[rows].tolist()
    flags, seq, plen = table.flags[rows].tolist(), table.seq[rows].tolist(), table.payload_len[rows].tolist()
    out: list[tuple[list[int], StreamState]] = []
    state = None
    for i, row in enumerate(rows.tolist()):
        key = (src[i], sport[i])
        if state is None or state.starts_new_stream(key, flags[i], seq[i]):
            state = StreamState()
            out.append(([], state))
        state.feed(key, flags[i], seq[i], plen[i])
        out[-1][0].append(row)
    return out
