"""The columnar packet table: one numpy array per header field, never one Python object per packet.

Every analysis reads packets through a :class:`PacketTable`. Rows are TCP segments and ICMP/ICMPv6
errors (which quote a TCP header); every other frame is only counted by the ingest layer.

Addresses are interned: ``src``/``dst`` hold small integers that index ``AddressBook.addresses``
(text form, e.g. ``"10.0.0.1"`` or ``"2001:db8::1"``). Interning keeps the table numeric (fast
grouping with numpy) while one book can be shared by every chunk and every file of a run.

"Absent" values use -1 in signed columns (e.g. ``mss`` when the SYN carried no MSS option).

Memory: each column has the narrowest dtype its field needs, and a column whose every value is the same
(the ICMP and tunnel columns of a plain TCP capture, ``iface`` of a pcap, ``file_id`` of one file) is
stored as a read-only zero-stride broadcast of that value — it reads, indexes and concatenates like any
array but costs no memory. Columns are never written in place. Copies are avoided where a table is
already what was asked for (:meth:`PacketTable.take` of every row in order, :meth:`PacketTable.concat` of
one table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

# TCP flag bits, as in the TCP header (RFC 9293; NS/AE is bit 8).
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, NS = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x100

# Values of the ``proto`` column.
PROTO_TCP, PROTO_ICMP, PROTO_ICMP6 = 6, 1, 58

# Values of the ``checksum`` column: whether the TCP (and IPv4 header) checksums were checked.
CHECKSUM_UNCHECKED, CHECKSUM_GOOD, CHECKSUM_BAD = 0, 1, 2

#: (name, dtype, default, doc). The order is the order of the columns; docs say the unit.
COLUMNS: tuple[tuple[str, str, int, str], ...] = (
    ("file_id", "u2", 0, "index of the capture file in the run (0 for the first file)"),
    ("frame", "u4", 0, "frame number in its file, 1-based, as Wireshark counts it"),
    ("ts_ns", "i8", 0, "capture timestamp, nanoseconds since the Unix epoch"),
    ("iface", "u4", 0, "pcapng interface id (0 for pcap)"),
    ("ip_version", "u1", 0, "4 or 6 (of the innermost IP header, the one carrying TCP/ICMP)"),
    ("src", "i4", -1, "source address id in the AddressBook"),
    ("dst", "i4", -1, "destination address id in the AddressBook"),
    ("ttl", "i2", -1, "IPv4 TTL or IPv6 hop limit"),
    ("ip_id", "i8", -1, "IPv4 identification; IPv6 fragment-header id when present; else -1"),
    ("df", "b1", False, "IPv4 don't-fragment bit (False for IPv6)"),
    ("ip_len", "u4", 0, "IP total length in bytes as the header claims it (IPv6: 40 + payload length)"),
    ("proto", "u1", 0, "6 TCP, 1 ICMP, 58 ICMPv6"),
    ("sport", "u2", 0, "TCP source port"),
    ("dport", "u2", 0, "TCP destination port"),
    ("flags", "u2", 0, "TCP flags (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128 NS=256)"),
    ("seq", "u4", 0, "TCP sequence number (absolute)"),
    ("ack", "u4", 0, "TCP acknowledgement number (absolute)"),
    ("win", "u2", 0, "TCP window field as sent (16 bits, not scaled)"),
    ("payload_len", "u4", 0, "TCP payload length in bytes, from the IP length (not the captured bytes)"),
    ("captured_payload", "u4", 0, "TCP payload bytes actually present in the capture (snaplen)"),
    ("mss", "i4", -1, "MSS option value, -1 when absent"),
    ("wscale", "i2", -1, "window-scale option shift count, -1 when absent"),
    ("sack_perm", "b1", False, "SACK-permitted option present"),
    ("ts_val", "i8", -1, "TCP timestamps option TSval, -1 when the option is absent"),
    ("ts_ecr", "i8", -1, "TCP timestamps option TSecr, -1 when the option is absent"),
    ("options_sig", "i4", -1, "id of the TCP option-kind sequence in the AddressBook's signatures (SYN fingerprints)"),
    ("checksum", "u1", 0, "0 not checked, 1 good, 2 bad (IPv4 header or TCP checksum wrong)"),
    ("icmp_type", "i2", -1, "ICMP/ICMPv6 type, -1 for TCP rows"),
    ("icmp_code", "i2", -1, "ICMP/ICMPv6 code, -1 for TCP rows"),
    ("q_src", "i4", -1, "ICMP errors: source address id of the quoted IP header"),
    ("q_dst", "i4", -1, "ICMP errors: destination address id of the quoted IP header"),
    ("q_sport", "i4", -1, "ICMP errors: quoted TCP source port"),
    ("q_dport", "i4", -1, "ICMP errors: quoted TCP destination port"),
    ("q_seq", "i8", -1, "ICMP errors: quoted TCP sequence number, -1 when not quoted"),
    ("q_ttl", "i2", -1, "ICMP errors: TTL of the quoted IP header (what the dropped packet had left)"),
    ("encap", "u1", 0, "tunnel the segment arrived in: 0 none, see netreset.ingest ENCAP_* codes"),
    ("outer_src", "i4", -1, "tunnelled packets: outer (tunnel) source address id"),
    ("outer_dst", "i4", -1, "tunnelled packets: outer (tunnel) destination address id"),
    ("vlan", "i2", -1, "outermost 802.1Q VLAN id (12 bits), -1 when untagged"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c[0] for c in COLUMNS)
_DTYPES = {name: np.dtype(dt) for name, dt, _, _ in COLUMNS}
_DEFAULTS = {name: default for name, _, default, _ in COLUMNS}


class AddressBook:
    """Interns address strings (and TCP option signatures) to small integers, shared across chunks."""

    def __init__(self) -> None:
        self.addresses: list[str] = []
        self._ids: dict[str, int] = {}
        self.signatures: list[str] = []
        self._sig_ids: dict[str, int] = {}

    def intern(self, address: str) -> int:
        """Return the id of ``address`` (text form), adding it on first sight."""
        found = self._ids.get(address)
        if found is None:
            found = self._ids[address] = len(self.addresses)
            self.addresses.append(address)
        return found

    def intern_signature(self, signature: str) -> int:
        """Return the id of a TCP option signature such as ``"M,S,T,N,W"``."""
        found = self._sig_ids.get(signature)
        if found is None:
            found = self._sig_ids[signature] = len(self.signatures)
            self.signatures.append(signature)
        return found

    def name(self, address_id: int) -> str:
        """Text form of an address id; ``""`` for -1 (absent)."""
        return self.addresses[address_id] if address_id >= 0 else ""


@dataclass
class PacketTable:
    """Columns of equal length, one per entry of :data:`COLUMNS`, plus the address book they refer to."""

    columns: dict[str, np.ndarray]
    book: AddressBook = field(default_factory=AddressBook)

    def __post_init__(self) -> None:
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of unequal length: {lengths}")
        self.columns = {name: _compact(np.asarray(v, dtype=_DTYPES.get(name))) for name, v in self.columns.items()}

    def __len__(self) -> int:
        return len(self.columns["frame"])

    def __getattr__(self, name: str) -> np.ndarray:
        # Columns read as attributes: table.ttl, table.flags, ...
        columns = self.__dict__.get("columns")
        if columns is not None and name in columns:
            return columns[name]
        raise AttributeError(name)

    def take(self, index: np.ndarray) -> "PacketTable":
        """A new table with the rows selected by ``index`` (integer indices or a boolean mask); the same
        columns, uncopied, when ``index`` selects every row in order (a time sort of an ordered file)."""
        index = np.asarray(index)
        if _selects_all(index, len(self)):
            return PacketTable(dict(self.columns), self.book)
        n = int(np.count_nonzero(index)) if index.dtype == bool else len(index)
        # a constant column stays one value (indexing it would write out n copies, then compare them all)
        return PacketTable({k: np.broadcast_to(v[:1], (n,)) if v.strides == (0,) and len(v) else v[index]
                            for k, v in self.columns.items()}, self.book)

    def rows(self, start: int, stop: int) -> "PacketTable":
        """Rows ``start:stop`` as views of these columns (no copy; constant columns stay constant)."""
        table = PacketTable.__new__(PacketTable)
        table.columns, table.book = {k: v[start:stop] for k, v in self.columns.items()}, self.book
        return table

    def row(self, i: int) -> dict:
        """One row as a plain dict (for tests, debugging and small reports — not for hot loops)."""
        return {k: v[i].item() for k, v in self.columns.items()}

    @classmethod
    def empty(cls, book: AddressBook | None = None) -> "PacketTable":
        return cls({name: np.zeros(0, dtype=_DTYPES[name]) for name in COLUMN_NAMES}, book or AddressBook())

    @classmethod
    def concat(cls, tables: Iterable["PacketTable"], book: AddressBook | None = None) -> "PacketTable":
        """Concatenate tables that share one address book (as chunks of one run do)."""
        tables = list(tables)
        if not tables:
            return cls.empty(book)
        book = book or tables[0].book
        if any(t.book is not book for t in tables):
            raise ValueError("tables to concatenate must share one AddressBook")
        if len(tables) == 1:
            return cls(dict(tables[0].columns), book)
        return cls({k: _concat([t.columns[k] for t in tables]) for k in COLUMN_NAMES}, book)


def _compact(values: np.ndarray) -> np.ndarray:
    """``values`` as a zero-stride broadcast of its one value when every value is the same."""
    if len(values) < 2 or values.strides == (0,) or values[0] != values[-1] or not np.all(values == values[0]):
        return values
    return np.broadcast_to(values[:1].copy(), values.shape)


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenation that keeps a column constant without materialising it when every part is."""
    first = next((p for p in parts if len(p)), None)
    if first is not None and all(p.strides == (0,) or not len(p) for p in parts) and all(
            p[0] == first[0] for p in parts if len(p)):
        return np.broadcast_to(first[:1].copy(), (sum(len(p) for p in parts),))
    return np.concatenate(parts)


def _selects_all(index: np.ndarray, n: int) -> bool:
    """``index`` picks every one of ``n`` rows in order (an identity permutation or an all-True mask)."""
    if index.dtype == bool:
        return len(index) == n and bool(index.all())
    return len(index) == n and (n == 0 or (index[0] == 0 and bool(np.all(index[1:] > index[:-1]))))


class PacketTableBuilder:
    """Collects rows (plain dicts; missing keys take the column default) and turns them into a table.

    The decoder appends one dict per TCP/ICMP row; ``build()`` converts the lists to numpy arrays once.
    """

    def __init__(self, book: AddressBook | None = None) -> None:
        self.book = book or AddressBook()
        self._lists: dict[str, list] = {name: [] for name in COLUMN_NAMES}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, row: dict) -> None:
        unknown = row.keys() - _DEFAULTS.keys()
        if unknown:
            raise KeyError(f"unknown packet columns: {sorted(unknown)}")
        for name, values in self._lists.items():
            values.append(row.get(name, _DEFAULTS[name]))
        self._n += 1

    def build(self) -> PacketTable:
        columns = {name: np.array(values, dtype=_DTYPES[name]) for name, values in self._lists.items()}
        self._lists = {name: [] for name in COLUMN_NAMES}
        self._n = 0
        return PacketTable(columns, self.book)
