"""TCP conversations: packets grouped by connection, each classified by its TCP state.

Contract used by every analysis (resets, handshakes, hosts, plots, reports):
``build_conversations(table) -> list[Conversation]`` (the record: :mod:`netreset.flows.model`).

Boundaries follow Zeek: packets are grouped by 5-tuple with numpy, then each tuple's packets are walked
in capture order through :class:`~netreset.flows.tcpstate.ZeekConnection`; a new Zeek connection (one
``conn.log`` row) starts when Zeek's timers would have removed the previous one or when a SYN reuses
the tuple (``IsReuse``). A conversation is one connection *attempt*: consecutive Zeek connections of a
tuple that are the same attempt (:func:`continues_attempt`: a SYN retransmitted with the same ISN after
Zeek's 5 s attempt timer, or after a refusal, gave up on the earlier one) are joined into one
conversation; ``attempts=False`` gives Zeek's connections as they are (``conversations --format zeek``).
Zeek's timers run on its network time, which never goes back: at each packet it is the newest
timestamp seen so far in the capture (:func:`~netreset.flows.tcpstate.network_time`), so a capture whose
clock steps back fires no timer early or late. Wireshark's ``tcp.stream`` and ``tcp.completeness`` come
from :mod:`netreset.flows.completeness` (see docs/tcp-states.md).
"""

from __future__ import annotations

import numpy as np

from netreset.flows.completeness import wireshark_streams
from netreset.flows.model import ATTEMPT_HORIZON_NS, ATTEMPT_STATES, OUTCOMES, Conversation
from netreset.flows.tcpstate import INACTIVE, SYN_ACK_SENT, Timing, ZeekConnection, network_time
from netreset.flows.tuples import group_by_tuple, wants_flip
from netreset.packets.table import ACK, CHECKSUM_BAD, PROTO_TCP, RST, SYN, PacketTable
from netreset.runtime.compiled import MIN_TABLE_PACKETS, use_compiled


_COLUMNS = ("ts_ns", "src", "sport", "dst", "dport", "flags", "seq", "ack", "payload_len", "win", "checksum")

def continues_attempt(state: str, orig_key, first: tuple, last_ts: int, later: tuple) -> bool:
    """Whether the Zeek connection whose first packet is ``later`` (sender key, flags, seq, ts) is the
    same connection attempt as the one before it on its tuple: that one ended in ``state`` (one of
    :data:`ATTEMPT_STATES`), was opened by ``orig_key`` with the pure SYN ``first`` (key, flags, seq, ts),
    its last packet at ``last_ts``; ``later`` is a pure SYN from the same originator with the same ISN, at
    most :data:`ATTEMPT_HORIZON_NS` after that last packet. The rule of both paths (the compiled one is
    ``flows.compiled.conversations.attempt_joins``)."""
    key, flags, seq, _ = first
    later_key, later_flags, later_seq, later_ts = later
    return (state in ATTEMPT_STATES and key == orig_key and flags & (SYN | ACK) == SYN
            and later_key == orig_key and later_flags & (SYN | ACK) == SYN and later_seq == seq
            and later_ts - last_ts <= ATTEMPT_HORIZON_NS)


def build_conversations(table: PacketTable, *, verify_checksums: bool = False,
                        timing: Timing | None = None, compiled: bool | None = None,
                        attempts: bool = True) -> list[Conversation]:
    """Every TCP conversation of ``table``, ordered by first packet, classified as Zeek and Wireshark.

    ``compiled`` picks the compiled twin (True) or this module's Python walk (False, the reference);
    None asks :func:`~netreset.runtime.compiled.use_compiled` by size. Both give the same conversations.
    ``attempts=False``: one conversation per Zeek connection (conn.log row), attempts left split.
    """
    if use_compiled(len(table), MIN_TABLE_PACKETS, compiled):
        from netreset.flows.compiled.conversations import build_conversations as build_compiled

        return build_compiled(table, verify_checksums, timing or Timing(), attempts)
    tcp_rows = np.flatnonzero(table.proto == PROTO_TCP)
    if not len(tcp_rows):
        return []
    stream_of_row, completeness_of_stream = wireshark_streams(table, tcp_rows)
    pieces = []
    groups = group_by_tuple(table, tcp_rows)
    flat = np.concatenate(groups)
    cols = {name: table.columns[name][flat].tolist() for name in _COLUMNS}
    cols["net_ns"] = network_time(table.ts_ns)[flat].tolist()
    start = 0
    for rows in groups:
        end = start + len(rows)
        view = {name: values[start:end] for name, values in cols.items()}
        split = split_connections(rows, view, verify_checksums, timing or Timing())
        pieces.extend(join_attempts(table, split) if attempts else [(r, [conn]) for r, conn in split])
        start = end
    pieces.sort(key=lambda piece: piece[0][0])
    return [_conversation(table, i, rows, conns, stream_of_row, completeness_of_stream, verify_checksums)
            for i, (rows, conns) in enumerate(pieces)]


def join_attempts(table: PacketTable, split: list) -> list[tuple[list[int], list[ZeekConnection]]]:
    """One tuple's Zeek connections (``split_connections``) joined attempt by attempt: (rows, connections)."""
    out: list[tuple[list[int], list[ZeekConnection]]] = []
    for rows, conn in split:
        if out:
            prev_rows, prev_conns = out[-1]
            prev = prev_conns[-1]
            a, b = prev_rows[0], rows[0]
            if continues_attempt(prev.conn_state(), prev.orig_key, _packet(table, a), int(table.ts_ns[prev_rows[-1]]),
                                 _packet(table, b)):
                prev_rows.extend(rows)
                prev_conns.append(conn)
                continue
        out.append((list(rows), [conn]))
    return out


def _packet(table: PacketTable, row: int) -> tuple:
    return ((int(table.src[row]), int(table.sport[row])), int(table.flags[row]), int(table.seq[row]),
            int(table.ts_ns[row]))


def split_connections(rows, cols, verify_checksums, timing) -> list[tuple[list[int], ZeekConnection]]:
    """Walk one tuple's packets (``cols``: column name -> list, in capture order; ``net_ns``: Zeek's
    network time at each, see :func:`~netreset.flows.tcpstate.network_time`) through Zeek's state machine; return (rows,
    connection) per conn.log row."""
    dst, dport = cols["dst"], cols["dport"]
    out, conn, replay = [], None, []
    for i, row in enumerate(rows.tolist()):
        t, flags, seq = cols["ts_ns"][i], cols["flags"][i], cols["seq"][i]
        key, other = (cols["src"][i], cols["sport"][i]), (dst[i], dport[i])
        packet = (t, key, flags, seq, cols["ack"][i], cols["payload_len"][i], cols["win"][i],
                  verify_checksums and cols["checksum"][i] == CHECKSUM_BAD)
        if conn is not None and (conn.removed_by(cols["net_ns"][i]) or conn.is_reuse(flags, seq)):
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


def _conversation(table, index, rows, conns, stream_of_row, completeness_of_stream,
                  verify_checksums) -> Conversation:
    """One conversation of the Zeek connections ``conns`` (one attempt): counts over all their packets;
    conn_state and history those of the last connection, which is how the attempt ended (docs/tcp-states.md:
    an earlier one holds only the SYN, and the RST refusing it, that the last one repeats)."""
    rows = np.asarray(rows, dtype=np.int64)
    conn = conns[-1]
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
        retransmissions=sum(c.orig.rexmits + c.resp.rexmits for c in conns),
        file_id=int(table.file_id[rows[0]]),
        orig_seq_bytes=sum(c.orig.size() for c in conns), resp_seq_bytes=sum(c.resp.size() for c in conns),
        zeek_starts_ns=tuple(c.start for c in conns), zeek_last_ns=conn.last_time,
    )
