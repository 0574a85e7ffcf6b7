"""The compiled path of :func:`netreset.conversations.build_conversations`: same answers, whole arrays.

Steps, each over all packets at once: group rows by tuple (one numpy sort), walk Zeek's machine
(:mod:`netreset.boundaries_fast`) and Wireshark's stream split (:mod:`netreset.completeness_fast`)
over the sorted arrays, tally each conversation's counts in one more compiled pass, then build the
:class:`~netreset.conversations.Conversation` objects from plain Python lists. A conversation's
packets are contiguous in the sorted order, so its ``rows`` and ``from_orig`` are slices (views) of
two arrays shared by all conversations — no numpy call per conversation.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .boundaries_fast import (
    OUT_FIELDS, OUT_HIST_END, OUT_ORIG, OUT_ORIG_SIZE, OUT_RESP_SIZE, OUT_REXMITS, OUT_START, OUT_STATE,
    split_all,
)
from .completeness_fast import split_streams
from .packets import CHECKSUM_BAD, PacketTable
from .tcpstate_fast import _NUMBA, ACK, CONN_STATES, SYN, timing_array

#: Per-conversation tallies of :func:`tally`, rows of its ``out`` array.
T_ORIG_PKTS, T_RESP_PKTS, T_ORIG_BYTES, T_RESP_BYTES, T_ORIG_IP, T_RESP_IP, T_SYNS, T_END_NS, T_GAPS_END = range(9)


@nb.njit(**_NUMBA)
def tally(conv_start, orig_key, key, flags, ts, length, ip_len, bad, from_orig, gaps, out):
    """Counts of every conversation (packets ``conv_start[k]:conv_start[k + 1]``); fills ``from_orig``
    per packet and ``gaps`` (seconds between orig's pure SYNs, conversation after conversation)."""
    g = 0
    for k in range(len(conv_start) - 1):
        last_syn, end_ns = -1, ts[conv_start[k]]
        for i in range(conv_start[k], conv_start[k + 1]):
            mine = key[i] == orig_key[k]
            from_orig[i] = mine
            side = 0 if mine else 1
            out[T_ORIG_PKTS + side, k] += not bad[i]
            out[T_ORIG_BYTES + side, k] += length[i]
            out[T_ORIG_IP + side, k] += ip_len[i]
            end_ns = max(end_ns, ts[i])
            if mine and flags[i] & (SYN | ACK) == SYN:
                if out[T_SYNS, k]:
                    gaps[g] = (ts[i] - last_syn) / 1e9
                    g += 1
                out[T_SYNS, k] += 1
                last_syn = ts[i]
        out[T_END_NS, k] = end_ns
        out[T_GAPS_END, k] = g


def group_sorted(table: PacketTable, tcp_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TCP rows sorted tuple by tuple (capture order inside a tuple) and where each tuple starts."""
    from .conversations import tuple_keys

    lo, hi = tuple_keys(table, tcp_rows)
    order = np.lexsort((tcp_rows, lo, hi))
    lo, hi = lo[order], hi[order]
    starts = np.flatnonzero(np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])])
    return tcp_rows[order], np.append(starts, len(order))


def build_conversations_fast(table: PacketTable, verify_checksums: bool, timing) -> list:
    """:func:`netreset.conversations.build_conversations` on the compiled path (``timing`` is a Timing)."""
    from .conversations import LIKELY_SERVER_PORTS, PROTO_TCP

    rows, group_start = group_sorted(table, np.flatnonzero(table.proto == PROTO_TCP))
    n = len(rows)
    if not n:
        return []
    col = {name: table.columns[name][rows] for name in ("ts_ns", "flags", "seq", "ack", "payload_len", "win")}
    key = table.src[rows].astype(np.int64) << 16 | table.sport[rows]
    other = table.dst[rows].astype(np.int64) << 16 | table.dport[rows]
    bad = table.checksum[rows] == CHECKSUM_BAD if verify_checksums else np.zeros(n, dtype=np.bool_)
    server_port = np.zeros(65536, dtype=np.uint8)
    server_port[list(LIKELY_SERVER_PORTS)] = 1
    out = np.empty((OUT_FIELDS, n), dtype=np.int64)
    hist = np.empty(5 * n + 8, dtype=np.uint8)
    k = split_all(group_start, col["ts_ns"], key, other, col["flags"], col["seq"], col["ack"],
                  col["payload_len"], col["win"], bad, server_port, timing_array(timing), hist, out)
    out = out[:, :k]
    conv_start = np.append(out[OUT_START], n)
    stream_of, stream_first, stream_value = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    s = split_streams(group_start, key, col["flags"], col["seq"], col["payload_len"], stream_of, stream_first,
                      stream_value)
    number = np.empty(s, dtype=np.int64)  # tshark numbers streams in order of their first packet
    number[np.argsort(rows[stream_first[:s]], kind="stable")] = np.arange(s)
    from_orig, gaps = np.empty(n, dtype=np.bool_), np.empty(n, dtype=np.float64)
    counts = np.zeros((9, k), dtype=np.int64)
    tally(conv_start, out[OUT_ORIG], key, col["flags"], col["ts_ns"], col["payload_len"],
          table.ip_len[rows], bad, from_orig, gaps, counts)
    walk_stream = stream_of[conv_start[:-1]]
    return _assemble(table, rows, from_orig, conv_start, out, counts, number[walk_stream],
                     stream_value[walk_stream], hist, gaps)


def _assemble(table, rows, from_orig, conv_start, out, counts, streams, values, hist, gaps) -> list:
    """One Conversation per walk result, numbered in order of first packet, from plain lists."""
    from .conversations import OUTCOMES, Conversation

    k = len(conv_start) - 1
    first_row = rows[conv_start[:-1]]
    order = np.argsort(first_row, kind="stable").tolist()
    hist_end = out[OUT_HIST_END].tolist()
    history = hist[:hist_end[-1] if k else 0].tobytes().decode("ascii")
    gap_list, gap_end = gaps[:counts[T_GAPS_END, -1] if k else 0].tolist(), counts[T_GAPS_END].tolist()
    starts, ends = conv_start[:-1].tolist(), conv_start[1:].tolist()
    orig, state = out[OUT_ORIG].tolist(), out[OUT_STATE].tolist()
    resp = _resp_keys(table, rows, conv_start, out[OUT_ORIG]).tolist()
    c = counts.tolist()
    stream_list, values = streams.tolist(), values.tolist()
    ip_version, file_id = table.ip_version[first_row].tolist(), table.file_id[first_row].tolist()
    start_ns = table.ts_ns[first_row].tolist()
    rexmits, osize, rsize = out[OUT_REXMITS].tolist(), out[OUT_ORIG_SIZE].tolist(), out[OUT_RESP_SIZE].tolist()
    name = table.book.name
    convs = []
    for index, j in enumerate(order):
        a, b = starts[j], ends[j]
        code = CONN_STATES[state[j]]
        convs.append(Conversation(
            id=index, tcp_stream=stream_list[j],
            orig_h=name(orig[j] >> 16), orig_p=orig[j] & 0xFFFF, resp_h=name(resp[j] >> 16), resp_p=resp[j] & 0xFFFF,
            ip_version=ip_version[j], rows=rows[a:b], from_orig=from_orig[a:b],
            start_ns=start_ns[j], end_ns=c[T_END_NS][j], conn_state=code,
            history=history[hist_end[j - 1] if j else 0:hist_end[j]],
            completeness=values[j], outcome=OUTCOMES[code], partial=not c[T_SYNS][j],
            orig_pkts=c[T_ORIG_PKTS][j], resp_pkts=c[T_RESP_PKTS][j],
            orig_bytes=c[T_ORIG_BYTES][j], resp_bytes=c[T_RESP_BYTES][j],
            orig_ip_bytes=c[T_ORIG_IP][j], resp_ip_bytes=c[T_RESP_IP][j],
            syn_count=c[T_SYNS][j], syn_gaps_s=tuple(gap_list[gap_end[j - 1] if j else 0:gap_end[j]]),
            retransmissions=rexmits[j], file_id=file_id[j], orig_seq_bytes=osize[j], resp_seq_bytes=rsize[j],
        ))
    return convs


def _resp_keys(table, rows, conv_start, orig_key) -> np.ndarray:
    """The other endpoint of each conversation, from its first packet (whichever side sent it)."""
    first = rows[conv_start[:-1]]
    src = table.src[first].astype(np.int64) << 16 | table.sport[first]
    dst = table.dst[first].astype(np.int64) << 16 | table.dport[first]
    return np.where(src == orig_key, dst, src)
