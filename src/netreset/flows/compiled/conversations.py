"""The compiled path of :func:`netreset.flows.conversations.build_conversations`: same answers, whole arrays.

Steps, each over all packets at once: group rows by tuple (one numpy sort), walk Zeek's machine
(:mod:`netreset.flows.compiled.boundaries`) and Wireshark's stream split (:mod:`netreset.flows.compiled.completeness`)
over the sorted arrays, tally each conversation's counts in one more compiled pass, then build the
:class:`~netreset.flows.conversations.Conversation` objects from plain Python lists. A conversation's
packets are contiguous in the sorted order, so its ``rows`` and ``from_orig`` are slices (views) of
two arrays shared by all conversations — no numpy call per conversation.
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np

from netreset.flows.compiled.boundaries import (
    OUT_FIELDS, OUT_HIST_END, OUT_LAST_TIME, OUT_ORIG, OUT_ORIG_SIZE, OUT_RESP_SIZE, OUT_REXMITS, OUT_START,
    OUT_STATE, split_all,
)
from netreset.flows.compiled.completeness import SEED_FIELDS, split_streams_seeded
from netreset.flows.compiled.tcpstate import ACK, CONN_STATES, SYN, timing_array
from netreset.flows.model import ATTEMPT_HORIZON_NS, ATTEMPT_STATES, OUTCOMES, conversations_from_columns
from netreset.flows.tcpstate import network_time
from netreset.flows.tuples import LIKELY_SERVER_PORTS, tuple_keys
from netreset.packets.table import CHECKSUM_BAD, PROTO_TCP, PacketTable
from netreset.runtime.compiled import NUMBA_OPTIONS

#: Per-conversation tallies of :func:`tally`, rows of its ``out`` array.
T_ORIG_PKTS, T_RESP_PKTS, T_ORIG_BYTES, T_RESP_BYTES, T_ORIG_IP, T_RESP_IP, T_SYNS, T_END_NS, T_GAPS_END = range(9)
T_FIELDS = 9


@nb.njit(**NUMBA_OPTIONS)
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

    lo, hi = tuple_keys(table, tcp_rows)
    order, group_start = np.empty(len(lo), dtype=np.int64), np.empty(len(lo) + 1, dtype=np.int64)
    groups = group_tuples(lo, hi, order, group_start)
    return tcp_rows[order], group_start[:groups + 1]


@nb.njit(**NUMBA_OPTIONS)
def _hash(a, b):
    x = np.uint64(a) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(b)
    x = (x ^ (x >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)
    return np.int64(x >> np.uint64(20))


@nb.njit(**NUMBA_OPTIONS)
def group_tuples(lo, hi, order, group_start):
    """Group positions by (lo, hi) in linear time (a hash table, then a counting sort): ``order`` lists
    the positions tuple by tuple (tuples in order of first sight, capture order inside), tuple g is
    ``order[group_start[g]:group_start[g + 1]]``. Returns the number of tuples."""
    n = len(lo)
    size = 2
    while size < 2 * n:
        size <<= 1
    slot_group = np.full(size, -1, dtype=np.int64)
    group_of, first = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    groups = 0
    for i in range(n):
        h = _hash(lo[i], hi[i]) & (size - 1)
        while True:
            g = slot_group[h]
            if g < 0:
                slot_group[h], first[groups], group_of[i] = groups, i, groups
                groups += 1
                break
            if lo[first[g]] == lo[i] and hi[first[g]] == hi[i]:
                group_of[i] = g
                break
            h = (h + 1) & (size - 1)
    group_start[:groups + 1] = 0
    for i in range(n):
        group_start[group_of[i] + 1] += 1
    for g in range(groups):
        group_start[g + 1] += group_start[g]
    fill = group_start[:groups].copy()
    for i in range(n):
        order[fill[group_of[i]]] = i
        fill[group_of[i]] += 1
    return groups


class Walk:
    """Zeek's and Wireshark's walks over one table's TCP rows, as arrays (no Python object per conversation).

    ``rows``: TCP rows sorted tuple by tuple (capture order inside a tuple); tuple ``g`` is
    ``rows[group_start[g]:group_start[g + 1]]``. Conversation ``c`` is ``rows[conv_start[c]:conv_start[c + 1]]``
    (walk order, not yet numbered), ``out`` holds its walk results (``OUT_*`` rows; ``OUT_GONE``: Zeek has
    removed it by time ``now``, see :func:`~netreset.flows.compiled.boundaries.split_all`). Wireshark stream ``s`` starts
    at sorted position ``stream_first[s]``; ``stream_of`` gives each sorted position's stream.

    A conversation is one connection attempt (:func:`attempt_joins`): its Zeek connections are
    ``zeek_start[zeek_first[c]:zeek_first[c + 1]]`` (sorted positions where each begins), its history
    ``hist[hist_begin[c]:out[OUT_HIST_END, c]]`` (the last connection's). ``attempts=False`` keeps one
    conversation per Zeek connection.
    """

    def __init__(self, table: PacketTable, verify_checksums: bool, timing, now: int = -1,
                 net: np.ndarray | None = None, stream_seed=None, attempts: bool = True) -> None:
        """``net``: Zeek's network time at each row of ``table`` (default: the newest timestamp so far in
        ``table``, :func:`~netreset.flows.tcpstate.network_time`; a part of a capture passes the
        capture's own). ``stream_seed(lo, hi)``, given each tuple's key (:func:`~netreset.flows.tuples.tuple_keys`
        of its first row), returns the Wireshark stream each tuple goes on with, if any (the seed arrays of
        :func:`~netreset.flows.compiled.completeness.split_streams_seeded`); then ``continued[s]`` says which
        streams go on, and ``last_state[g]`` is each tuple's last stream state."""
        rows, group_start = group_sorted(table, np.flatnonzero(table.proto == PROTO_TCP))
        self.rows, self.group_start = rows, group_start
        n = len(rows)
        self.col = col = {name: table.columns[name][rows] for name in ("ts_ns", "flags", "seq", "ack", "payload_len", "win")}
        self.key = key = table.src[rows].astype(np.int64) << 16 | table.sport[rows]
        other = table.dst[rows].astype(np.int64) << 16 | table.dport[rows]
        self.bad = bad = table.checksum[rows] == CHECKSUM_BAD if verify_checksums else np.zeros(n, dtype=np.bool_)
        server_port = np.zeros(65536, dtype=np.uint8)
        server_port[list(LIKELY_SERVER_PORTS)] = 1
        net = network_time(table.ts_ns) if net is None else net
        net = np.ascontiguousarray(net[rows], dtype=np.int64)
        walk = functools.partial(split_all, ts=col["ts_ns"], net=net, key=key, other=other, flags=col["flags"], seq=col["seq"],
                                 ack=col["ack"], length=col["payload_len"], win=col["win"], bad=bad,
                                 server_port=server_port, tm=timing_array(timing), now=now)
        zeek, self.hist = _split_in_halves(walk, group_start) if n >= SPLIT_MIN_ROWS else _split(walk, group_start)
        self.zeek_start = zeek[OUT_START]
        joins = attempt_joins(zeek, group_start, key, col["flags"], col["seq"], col["ts_ns"]) if attempts and n \
            else np.zeros(zeek.shape[1], dtype=np.bool_)
        self.out, self.hist_begin, self.zeek_first = _joined(zeek, joins)
        self.conv_start = np.append(self.out[OUT_START], n)
        self.stream_of, stream_first, self.stream_value = (np.empty(n, np.int64) for _ in range(3))
        groups = len(group_start) - 1
        self.group_lo, self.group_hi = tuple_keys(table, rows[group_start[:-1]])
        if stream_seed is None:
            seed_n = np.full(groups, -1, dtype=np.int64)
            seed_keys = seed_base = np.zeros((groups, 2), dtype=np.int64)
            seed_bits = np.zeros((groups, 3), dtype=np.int64)
        else:
            seed_n, seed_keys, seed_base, seed_bits = stream_seed(self.group_lo, self.group_hi)
        continued, self.last_state = np.zeros(n, dtype=np.bool_), np.zeros((groups, SEED_FIELDS), dtype=np.int64)
        s = split_streams_seeded(group_start, key, col["flags"], col["seq"], col["payload_len"], seed_n, seed_keys,
                                 seed_base, seed_bits, self.stream_of, stream_first, self.stream_value, continued,
                                 self.last_state) if n else 0
        self.stream_first, self.continued = stream_first[:s], continued[:s]

    def __len__(self) -> int:
        """Conversations found."""
        return len(self.conv_start) - 1

    def stream_numbers(self) -> np.ndarray:
        """tshark's ``tcp.stream`` of each stream: streams numbered in order of their first packet."""
        number = np.empty(len(self.stream_first), dtype=np.int64)
        number[np.argsort(self.rows[self.stream_first], kind="stable")] = np.arange(len(self.stream_first))
        return number

    def from_orig(self) -> np.ndarray:
        """Per sorted position: sent by its conversation's originator."""
        owner = np.repeat(self.out[OUT_ORIG], np.diff(self.conv_start))
        return self.key == owner


_ATTEMPT_CODES = np.array([CONN_STATES.index(state) for state in ATTEMPT_STATES])


def attempt_codes() -> np.ndarray:
    """The walk's conn_state codes of :data:`~netreset.flows.model.ATTEMPT_STATES`."""
    return _ATTEMPT_CODES


def attempt_joins(zeek: np.ndarray, group_start, key, flags, seq, ts) -> np.ndarray:
    """Per Zeek connection (``zeek``: the walk's ``out`` columns): True when it continues the attempt of
    the connection before it (:func:`netreset.flows.conversations.continues_attempt`, over whole arrays)."""
    k = zeek.shape[1]
    joins = np.zeros(k, dtype=np.bool_)
    if k < 2:
        return joins
    start = zeek[OUT_START]
    a, b = start[:-1], start[1:]  # first positions of each earlier connection and of the one after it
    group = np.searchsorted(group_start, start, side="right") - 1
    syn = flags & (SYN | ACK) == SYN
    joins[1:] = ((group[1:] == group[:-1]) & np.isin(zeek[OUT_STATE, :-1], attempt_codes())
                 & (key[a] == zeek[OUT_ORIG, :-1]) & syn[a] & (key[b] == key[a]) & syn[b] & (seq[b] == seq[a])
                 & (ts[b] - ts[b - 1] <= ATTEMPT_HORIZON_NS))
    return joins


def _joined(zeek: np.ndarray, joins: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``out`` columns of the joined conversations, where each one's history begins, and where each
    one's Zeek connections begin among ``zeek``'s (one more entry: the end)."""
    k = zeek.shape[1]
    hist_begin = np.r_[0, zeek[OUT_HIST_END, :-1]] if k else np.zeros(0, dtype=np.int64)
    if not joins.any():
        return zeek, hist_begin, np.arange(k + 1, dtype=np.int64)
    first = np.flatnonzero(~joins)
    last = np.r_[first[1:] - 1, k - 1]
    out = zeek[:, last].copy()  # state, history end, gone, last time: the last connection's
    out[OUT_START], out[OUT_ORIG] = zeek[OUT_START, first], zeek[OUT_ORIG, first]
    for field in (OUT_REXMITS, OUT_ORIG_SIZE, OUT_RESP_SIZE):  # counts: over all of them
        out[field] = np.add.reduceat(zeek[field], first)
    return out, hist_begin[last], np.append(first, k)


def _split(walk, group_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zeek's walk over the tuples of ``group_start`` (positions ``group_start[0]:group_start[-1]``):
    the conversations' ``out`` columns and the history letters they end at."""
    n = int(group_start[-1] - group_start[0])
    out, hist = np.empty((OUT_FIELDS, n), dtype=np.int64), np.empty(5 * n + 8, dtype=np.uint8)
    k = walk(group_start, hist=hist, out=out) if n else 0
    return out[:, :k], hist


def _split_in_halves(walk, group_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_split` with the tuples cut in two halves of about as many packets, the second walked in
    another thread while this one walks the first: the kernel releases the GIL, tuples are independent,
    and the reader thread of a streamed analysis leaves part of the second core idle. The halves'
    results are joined as one walk would have written them (history offsets moved up)."""
    middle = int(np.searchsorted(group_start, (group_start[0] + group_start[-1]) // 2))
    if middle <= 0 or middle >= len(group_start) - 1:
        return _split(walk, group_start)
    second = _helper().submit(_split, walk, group_start[middle:])
    out_a, hist_a = _split(walk, group_start[:middle + 1])
    out_b, hist_b = second.result()
    used_a = int(out_a[OUT_HIST_END, -1]) if out_a.shape[1] else 0
    used_b = int(out_b[OUT_HIST_END, -1]) if out_b.shape[1] else 0
    hist = np.empty(used_a + used_b + 8, dtype=np.uint8)
    hist[:used_a], hist[used_a:used_a + used_b] = hist_a[:used_a], hist_b[:used_b]
    out = np.concatenate([out_a, out_b], axis=1)
    out[OUT_HIST_END, out_a.shape[1]:] += used_a
    return out, hist


#: Walks of fewer packets stay in one thread (the hand-over costs more than it saves).
SPLIT_MIN_ROWS = 1 << 15
_HELPER: dict = {}  #: process id -> its helper thread's executor


def _helper():
    """The one helper thread that walks second halves (made on first use, kept for the process). A
    forked child (a judging worker) inherits the executor but not its thread, so it makes its own."""
    import os

    pid = os.getpid()
    if pid not in _HELPER:
        from concurrent.futures import ThreadPoolExecutor

        _HELPER.clear()
        _HELPER[pid] = ThreadPoolExecutor(1, thread_name_prefix="netreset-walk")
    return _HELPER[pid]


def build_conversations(table: PacketTable, verify_checksums: bool, timing, attempts: bool = True) -> list:
    """:func:`netreset.flows.conversations.build_conversations` on the compiled path (``timing`` is a Timing)."""
    return conversations_of_walk(table, Walk(table, verify_checksums, timing, attempts=attempts))


def conversations_of_walk(table: PacketTable, w: Walk, numbering=None) -> list:
    """The Conversation objects of a walk over ``table`` (for a caller that reads the walk's arrays too).
    ``numbering(first_rows, streams)``: when ``table`` is part of a capture, the capture's ``id`` and
    ``tcp_stream`` numbers (arrays) of the conversations, given their first rows in ``table`` (ascending,
    the order they are numbered in) and their streams as numbered in ``table``, and optionally a third
    array: their streams' completeness over the whole capture."""
    if not len(w.rows):
        return []
    n, k = len(w.rows), len(w)
    from_orig, gaps = np.empty(n, dtype=np.bool_), np.empty(n, dtype=np.float64)
    counts = np.zeros((T_FIELDS, k), dtype=np.int64)
    tally(w.conv_start, w.out[OUT_ORIG], w.key, w.col["flags"], w.col["ts_ns"], w.col["payload_len"],
          table.ip_len[w.rows], w.bad, from_orig, gaps, counts)
    walk_stream = w.stream_of[w.conv_start[:-1]]
    return _assemble(table, w, from_orig, counts, w.stream_numbers()[walk_stream], w.stream_value[walk_stream], gaps,
                     numbering)


def _assemble(table, w: Walk, from_orig, counts, streams, values, gaps, numbering=None) -> list:
    """One Conversation per walk result, numbered in order of first packet.

    Every per-conversation value is put in final order with numpy first and then turned into a list,
    so the Python loops below walk memory sequentially (the walk order is tuple order: random).
    """

    rows, conv_start, out, hist = w.rows, w.conv_start, w.out, w.hist
    k = len(conv_start) - 1
    order = np.argsort(rows[conv_start[:-1]], kind="stable")
    first_row = rows[conv_start[:-1][order]]
    text = hist[:out[OUT_HIST_END, -1]].tobytes().decode("ascii")
    gap_list = gaps[:counts[T_GAPS_END, -1]].tolist()
    orig, state = out[OUT_ORIG][order], out[OUT_STATE][order]
    resp = _resp_keys(table, rows, conv_start, out[OUT_ORIG])[order]
    names = table.book.addresses + [""]  # address id -1 (absent) reads as ""
    outcomes = np.array([OUTCOMES[name] for name in CONN_STATES], dtype=object)

    def final(values: np.ndarray) -> list:
        return values[order].tolist()

    def cut(whole, ends: np.ndarray, begins: np.ndarray | None = None) -> list:
        return [whole[a:b] for a, b in zip(final(np.r_[0, ends[:-1]] if begins is None else begins), final(ends))]

    zeek_ts = w.col["ts_ns"][w.zeek_start].tolist()

    ids, stream_numbers, completeness = range(k), final(streams), final(values)
    if numbering is not None:
        numbered = [numbers.tolist() for numbers in numbering(first_row, streams[order])]
        ids, stream_numbers = numbered[:2]
        completeness = numbered[2] if len(numbered) > 2 else completeness
    return conversations_from_columns({
        "id": ids, "tcp_stream": stream_numbers,
        "orig_h": [names[a] for a in (orig >> 16).tolist()], "orig_p": (orig & 0xFFFF).tolist(),
        "resp_h": [names[a] for a in (resp >> 16).tolist()], "resp_p": (resp & 0xFFFF).tolist(),
        "ip_version": table.ip_version[first_row].tolist(),
        "rows": cut(rows, conv_start[1:]), "from_orig": cut(from_orig, conv_start[1:]),
        "start_ns": table.ts_ns[first_row].tolist(), "end_ns": final(counts[T_END_NS]),
        "conn_state": _STATE_NAMES[state].tolist(), "history": cut(text, out[OUT_HIST_END], w.hist_begin),
        "completeness": completeness, "outcome": outcomes[state].tolist(),
        "partial": (counts[T_SYNS][order] == 0).tolist(),
        "orig_pkts": final(counts[T_ORIG_PKTS]), "resp_pkts": final(counts[T_RESP_PKTS]),
        "orig_bytes": final(counts[T_ORIG_BYTES]), "resp_bytes": final(counts[T_RESP_BYTES]),
        "orig_ip_bytes": final(counts[T_ORIG_IP]), "resp_ip_bytes": final(counts[T_RESP_IP]),
        "syn_count": final(counts[T_SYNS]), "syn_gaps_s": [tuple(g) for g in cut(gap_list, counts[T_GAPS_END])],
        "retransmissions": final(out[OUT_REXMITS]), "file_id": table.file_id[first_row].tolist(),
        "orig_seq_bytes": final(out[OUT_ORIG_SIZE]), "resp_seq_bytes": final(out[OUT_RESP_SIZE]),
        "zeek_starts_ns": [tuple(s) for s in cut(zeek_ts, w.zeek_first[1:], w.zeek_first[:-1])],
        "zeek_last_ns": final(out[OUT_LAST_TIME]),
    })


_STATE_NAMES = np.array(CONN_STATES, dtype=object)


def _resp_keys(table, rows, conv_start, orig_key) -> np.ndarray:
    """The other endpoint of each conversation, from its first packet (whichever side sent it)."""
    first = rows[conv_start[:-1]]
    src = table.src[first].astype(np.int64) << 16 | table.sport[first]
    dst = table.dst[first].astype(np.int64) << 16 | table.dport[first]
    return np.where(src == orig_key, dst, src)
