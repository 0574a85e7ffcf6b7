"""TCP conversations: packets grouped by connection, each classified by its TCP state.

Contract used by every analysis (resets, handshakes, hosts, plots, reports):
``build_conversations(table) -> list[Conversation]``.

Boundaries follow Zeek so that one conversation is one ``conn.log`` row: packets are grouped by
5-tuple with numpy, then each tuple's packets are walked in capture order through
:class:`~netreset.flows.tcpstate.ZeekConnection`; a new conversation starts when Zeek's timers would have
removed the previous one or when a SYN reuses the tuple (``IsReuse``). Wireshark's ``tcp.stream``
and ``tcp.completeness`` come from :mod:`netreset.flows.completeness`; several conversations may share one
stream (see docs/tcp-states.md).
"""

from __future__ import annotations

import gc
import importlib.util
import os
from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

from netreset.flows.completeness import wireshark_streams
from netreset.packets.table import ACK, CHECKSUM_BAD, PROTO_TCP, RST, SYN, PacketTable
from netreset.flows.tcpstate import INACTIVE, SYN_ACK_SENT, Timing, ZeekConnection


@dataclass(frozen=True)
class Conversation:
    """One TCP connection as seen in the capture. ``orig`` opened it (sent the first SYN)."""

    id: int  #: 0-based, in order of the conversation's first packet (see docs/tcp-states.md)
    tcp_stream: int  #: Wireshark's ``tcp.stream`` number of this conversation's packets
    orig_h: str  #: originator address (text)
    orig_p: int  #: originator port
    resp_h: str  #: responder address (text)
    resp_p: int  #: responder port
    ip_version: int  #: 4 or 6
    rows: np.ndarray  #: int64 indices into the PacketTable, in capture order
    from_orig: np.ndarray  #: bool per entry of ``rows``: True when the packet was sent by orig
    start_ns: int  #: timestamp of the first packet, ns since the epoch
    end_ns: int  #: timestamp of the last packet, ns since the epoch
    conn_state: str  #: Zeek conn_state (S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH)
    history: str  #: Zeek history letters (upper case = orig)
    completeness: int  #: Wireshark tcp.completeness bitmask (1 SYN 2 SYN-ACK 4 ACK 8 DATA 16 FIN 32 RST)
    outcome: str  #: clean | open | syn_unanswered | refused | reset_by_orig | reset_by_resp | half_closed | partial
    partial: bool  #: True when no SYN from orig was seen (orig guessed from the first packet)
    orig_pkts: int  #: packets sent by orig
    resp_pkts: int  #: packets sent by resp
    orig_bytes: int  #: TCP payload bytes sent by orig (IP-length based)
    resp_bytes: int  #: TCP payload bytes sent by resp
    orig_ip_bytes: int  #: IP bytes sent by orig (sum of IP total lengths)
    resp_ip_bytes: int  #: IP bytes sent by resp
    syn_count: int  #: SYNs (without ACK) sent by orig, retransmissions included
    syn_gaps_s: tuple[float, ...]  #: seconds between consecutive SYNs of orig
    retransmissions: int  #: data segments seen again (both directions)
    file_id: int = 0  #: capture file index the conversation started in
    orig_seq_bytes: int = 0  #: Zeek's orig_bytes: payload bytes by sequence numbers (``Size()``)
    resp_seq_bytes: int = 0  #: Zeek's resp_bytes: payload bytes by sequence numbers

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last packet."""
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def ts(self) -> float:
        """Start time, seconds since the epoch (float), as Zeek's ``ts``."""
        return self.start_ns / 1e9


_FIELDS = tuple(field.name for field in fields(Conversation))


def conversations_from_columns(columns: dict) -> list[Conversation]:
    """Conversations from one sequence per field (all of equal length), without ``__init__``.

    The generated ``__init__`` of a frozen dataclass sets each of the 28 fields through
    ``object.__setattr__``; filling the instance dict at once makes the same objects in a third
    of the time, which matters at ~70k conversations per million packets (the compiled path).
    """
    if set(columns) != set(_FIELDS):
        raise ValueError(f"columns do not match Conversation's fields: {sorted(set(columns) ^ set(_FIELDS))}")
    new, out = object.__new__, []
    collecting = gc.isenabled()
    gc.disable()  # tens of thousands of new objects, no cycle among them: no collection can free any
    try:
        for values in zip(*(columns[name] for name in _FIELDS)):
            conv = new(Conversation)
            conv.__dict__.update(zip(_FIELDS, values))
            out.append(conv)
    finally:
        if collecting:
            gc.freeze()  # the new objects join the old ones in the oldest generation (as resets.collector
            gc.unfreeze()  # explains): re-enabling would otherwise collect over all of them at once
            gc.enable()
    return out


def with_outcome(conv: Conversation, outcome: str) -> Conversation:
    """A copy of ``conv`` with another outcome (what ``dataclasses.replace`` makes, ≈ 30× faster)."""
    copy = object.__new__(Conversation)
    copy.__dict__.update(conv.__dict__, outcome=outcome)
    return copy


#: Zeek's ``likely_server_ports`` (TCP) with all base protocol scripts loaded. A connection first
#: seen by a non-SYN packet *from* one of these ports is flipped at once (``WantConnection``).
LIKELY_SERVER_PORTS = frozenset({
    21, 22, 25, 53, 80, 81, 88, 110, 135, 139, 143, 389, 443, 445, 502, 563, 585, 587, 614, 631,
    636, 989, 990, 992, 993, 995, 1080, 1434, 1883, 2811, 3128, 3268, 3306, 3389, 5222, 5223, 5269,
    5432, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000,
})

#: Friendly outcome per Zeek conn_state.
OUTCOMES = {
    "SF": "clean", "S1": "open", "S0": "syn_unanswered", "RSTOS0": "syn_unanswered", "REJ": "refused",
    "RSTO": "reset_by_orig", "RSTR": "reset_by_resp", "RSTRH": "reset_by_resp", "S2": "half_closed",
    "S3": "half_closed", "SH": "half_closed", "SHR": "half_closed", "OTH": "partial",
}

#: Smaller tables use the Python walk: loading numba and the cached kernels costs ≈ 0.5 s, which
#: the Python walk (≈ 15 µs per packet) spends on about 30k packets.
FAST_MIN_PACKETS = 20_000

_COLUMNS = ("ts_ns", "src", "sport", "dst", "dport", "flags", "seq", "ack", "payload_len", "win", "checksum")


def build_conversations(table: PacketTable, *, verify_checksums: bool = False,
                        timing: Timing | None = None, fast: bool | None = None) -> list[Conversation]:
    """Every TCP conversation of ``table``, ordered by first packet, classified as Zeek and Wireshark.

    ``fast`` picks the compiled path (True) or this module's Python walk (False, the reference);
    None decides by size (:func:`use_fast`). Both give the same conversations.
    """
    if use_fast(len(table), fast):
        from netreset.flows.compiled.conversations import build_conversations_fast

        return build_conversations_fast(table, verify_checksums, timing or Timing())
    tcp_rows = np.flatnonzero(table.proto == PROTO_TCP)
    if not len(tcp_rows):
        return []
    stream_of_row, completeness_of_stream = wireshark_streams(table, tcp_rows)
    pieces = []
    groups = group_by_tuple(table, tcp_rows)
    flat = np.concatenate(groups)
    cols = {name: table.columns[name][flat].tolist() for name in _COLUMNS}
    start = 0
    for rows in groups:
        end = start + len(rows)
        view = {name: values[start:end] for name, values in cols.items()}
        pieces.extend(split_connections(rows, view, verify_checksums, timing or Timing()))
        start = end
    pieces.sort(key=lambda piece: piece[0][0])
    return [_conversation(table, i, rows, conn, stream_of_row, completeness_of_stream, verify_checksums)
            for i, (rows, conn) in enumerate(pieces)]


def use_fast(packets: int, force: bool | None = None) -> bool:
    """Whether to take the compiled path: not asked away (NETRESET_PLAIN=1), the compiler installed,
    and a table big enough to repay loading the compiled kernels (:data:`FAST_MIN_PACKETS`)."""
    if force is not None:
        return force
    if os.environ.get("NETRESET_PLAIN") or packets < FAST_MIN_PACKETS:
        return False
    return importlib.util.find_spec("numba") is not None


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


def split_connections(rows, cols, verify_checksums, timing) -> list[tuple[list[int], ZeekConnection]]:
    """Walk one tuple's packets (``cols``: column name -> list, in capture order) through Zeek's
    state machine; return (rows, connection) per conn.log row."""
    dst, dport = cols["dst"], cols["dport"]
    out, conn, replay = [], None, []
    for i, row in enumerate(rows.tolist()):
        t, flags, seq = cols["ts_ns"][i], cols["flags"][i], cols["seq"][i]
        key, other = (cols["src"][i], cols["sport"][i]), (dst[i], dport[i])
        packet = (t, key, flags, seq, cols["ack"][i], cols["payload_len"][i], cols["win"][i],
                  verify_checksums and cols["checksum"][i] == CHECKSUM_BAD)
        if conn is not None and (conn.removed_by(t) or conn.is_reuse(flags, seq)):
            conn = None
        if conn is None:
            conn = ZeekConnection(t, key, other, timing, wants_flip(flags, key[1], other[1]))
            first_synack = flags & (SYN | ACK | RST) == SYN | ACK and not conn.history
            replay = [] if first_synack else None
            out.append(([], conn))
        elif replay is not None and _late_flip(conn, flags, packet[5]):
            # Zeek flips a connection that began with a SYN-ACK once an ack or data follows it,
            # and logs it as if it had been flipped from the start: replay it that way.
            conn = ZeekConnection(replay[0][0], conn.orig_key, conn.resp_key, timing, True)
            for earlier in replay:
                conn.feed(*earlier)
            out[-1], replay = (out[-1][0], conn), None
        conn.feed(*packet)
        out[-1][0].append(row)
        if replay is not None:
            replay.append(packet)
    return out


def _late_flip(conn: ZeekConnection, flags: int, length: int) -> bool:
    """Still only SYN-ACKs from orig, and now an ack or data segment."""
    return (conn.orig.state == SYN_ACK_SENT and conn.resp.state == INACTIVE
            and not flags & (SYN | RST) and bool(flags & ACK or length))


def _conversation(table, index, rows, conn, stream_of_row, completeness_of_stream,
                  verify_checksums) -> Conversation:
    rows = np.asarray(rows, dtype=np.int64)
    src, sport = table.src[rows], table.sport[rows]
    from_orig = (src == conn.orig_key[0]) & (sport == conn.orig_key[1])
    counted = ~(verify_checksums & (table.checksum[rows] == CHECKSUM_BAD))
    flags, ts = table.flags[rows], table.ts_ns[rows]
    syn_times = ts[from_orig & (flags & (SYN | ACK) == SYN)]
    stream = int(stream_of_row[rows[0]])
    payload, ip_len = table.payload_len[rows].astype(np.int64), table.ip_len[rows].astype(np.int64)
    state = conn.conn_state()
    book = table.book
    return Conversation(
        id=index, tcp_stream=stream,
        orig_h=book.name(conn.orig_key[0]), orig_p=int(conn.orig_key[1]),
        resp_h=book.name(conn.resp_key[0]), resp_p=int(conn.resp_key[1]),
        ip_version=int(table.ip_version[rows[0]]), rows=rows, from_orig=from_orig,
        start_ns=int(ts[0]), end_ns=int(ts.max()), conn_state=state, history=conn.history,
        completeness=int(completeness_of_stream[stream]), outcome=OUTCOMES[state],
        partial=not len(syn_times),
        orig_pkts=int((from_orig & counted).sum()), resp_pkts=int((~from_orig & counted).sum()),
        orig_bytes=int(payload[from_orig].sum()), resp_bytes=int(payload[~from_orig].sum()),
        orig_ip_bytes=int(ip_len[from_orig].sum()), resp_ip_bytes=int(ip_len[~from_orig].sum()),
        syn_count=len(syn_times), syn_gaps_s=tuple((np.diff(syn_times) / 1e9).tolist()),
        retransmissions=conn.orig.rexmits + conn.resp.rexmits,
        file_id=int(table.file_id[rows[0]]),
        orig_seq_bytes=conn.orig.size(), resp_seq_bytes=conn.resp.size(),
    )
