"""A big capture analysed chunk by chunk: memory bounded by the live conversations, not by the file.

The whole-table path (:class:`netreset.pipeline.whole.Analysis`) holds every packet of the capture at once:
≈ 90 bytes per packet in columns, plus what the analyses build on top. Here a reader thread decodes
the file in chunks (:func:`read_ahead`), and each batch of rows, released in file order, joins the
packets *carried* from the previous batch — those of the 5-tuples that may still be going on — in a
work table. Zeek's and Wireshark's walks run over it as arrays (:class:`~netreset.flows.compiled.conversations.Walk`,
no Python object per conversation). A tuple whose last connection Zeek has already removed (its timers
ran out before the newest packet released, so any later packet on it starts a new connection) and whose
last conversation is not an attempt a retransmitted SYN may still continue (an unanswered or refused SYN
less than :data:`~netreset.flows.model.ATTEMPT_HORIZON_NS` old: a later same-ISN SYN joins it, as on the
whole path) is *retired*: its conversations are counted, their first rows noted for numbering, and only when the
tuple has something to report — a RST, a handshake or teardown the screen cannot clear
(:func:`~netreset.analyses.handshakes.screen.needs_rules`), or application bytes the reader kept (a cause
such as a proxy's 407 may stand on a cleanly closed connection) — are its packets kept: one *piece* per batch, on
disk (:mod:`netreset.pipeline.spill`). ICMP errors are all kept (they are few and the rules quote them).

At the end the unchanged reset and handshake analyses run piece by piece (in ``--workers`` forked
processes), given the facts that need the whole capture: every host's TTL counts
(:func:`~netreset.analyses.resets.pairs.host_ttl_counts`, summed batch by batch), the TLS names that passed
per server address (:mod:`netreset.analyses.names_passing`, read from each batch's kept-payload rows as it is
released, before anything retires), the capture's last timestamp,
and the conversation ids and ``tcp.stream`` numbers, ranked from the first rows of *all* conversations
and streams. Each piece's records go to a sorted run on disk, and the output merges the runs — so every
answer is the one the whole-table path gives (``tests/pipeline/test_stream.py`` checks it with tiny chunks on
the corpus, the lab captures and generated ones), and no list of every conversation or finding exists.

A tuple whose connection Zeek removed may send again later: Zeek starts a new connection then, but
Wireshark goes on with the stream unless a SYN with a new ISN opens another. So each retired tuple's last
stream is remembered (:class:`RetiredStreams`: its senders' base sequence numbers and completeness bits,
a few numbers per tuple), a later batch's walk goes on with it, and each stream's final completeness and
number of conversations are tallied over the whole capture before anything is judged — the ``tcp.stream``
numbers, and the ``frame.number`` range that narrows a stream shared by several conversations, are the
whole-table path's. Zeek's timers run on its network time (the newest timestamp so far,
:func:`~netreset.flows.tcpstate.network_time`), carried from batch to batch, so a file whose clock steps back
streams as it is read whole.
"""

from __future__ import annotations

import mmap
import os
from collections import Counter

import numpy as np

from netreset.pipeline.whole import (Analysis, Options, count_causes, device_causes, forged_ids, refined_outcome,
                                     worker_count)
from netreset.flows.model import OUTCOMES
from netreset.ingest.frames import IngestStats
from netreset.packets.table import PROTO_TCP, RST, AddressBook, PacketTable
from netreset.pipeline.spill import PieceStore, RecordRuns, SpillDirectory
from netreset.runtime.compiled import MIN_FILE_BYTES, use_compiled
from netreset.runtime.heap import release_free_memory
from netreset.flows.tcpstate import Timing

#: Rows decoded at a time (the decoder's scratch arrays grow with it).
READ_ROWS = 1 << 16
#: Rows released at a time into the work table. Each release walks the carried rows again (the tuples
#: Zeek still holds, a few seconds of traffic), and the walk's arrays grow with batch + carry: a bigger
#: batch re-walks fewer carried rows for more memory. 256k rows is the measured trade (time and peak RSS
#: against 128k: docs/performance.md, phase 6).
BATCH_ROWS = 1 << 18
#: Rows of a kept piece at most (whole tuples; :func:`piece_parts`): what one judging step holds.
PIECE_ROWS = 1 << 16
#: Files at least this big are streamed; smaller ones are read whole as fast (the gate's file threshold,
#: a name of its own so that tests can stream a small sample).
STREAM_MIN_BYTES = MIN_FILE_BYTES


def piece_parts(groups: np.ndarray, most: int) -> list[np.ndarray]:
    """Indices into ``groups`` (the tuple of each kept row, rows of one tuple together) cut into parts of
    whole tuples, each at most ``most`` rows unless one tuple alone is more. Judging holds a piece's
    conversations, contexts and records as Python objects (≈ 1.5 KB per row), so a batch full of
    failures — or the last one, which retires every attempt still held — must not become one piece."""
    if not len(groups):
        return []
    if len(groups) <= most:
        return [np.arange(len(groups))]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    cuts, size, begin = [], 0, 0
    ends = np.r_[starts[1:], len(groups)]
    for start, end in zip(starts.tolist(), ends.tolist()):
        if size and size + (end - start) > most:
            cuts.append(np.arange(begin, start))
            begin, size = start, 0
        size += end - start
    cuts.append(np.arange(begin, len(groups)))
    return cuts


class RetiredStreams:
    """The last Wireshark stream of every retired tuple, for a later packet on that tuple to go on with.

    Keyed by the tuple (``lo``, ``hi`` of :func:`~netreset.flows.tuples.tuple_keys`): the stream's identity
    (its first row in the capture) and its state (the ``SEED_*`` columns of
    :func:`~netreset.flows.compiled.completeness.split_streams_seeded`). A tuple retired again replaces its
    entry. Held as a few sorted runs, each batch's new tuples one more run, two runs merged while the
    newer is at least half the older's size and the merge stays under :data:`RUN_MAX`: one array re-sorted
    with every batch's additions cost a copy of all of it (three, with the sort) per batch, and the
    freed copies of growing size left the heap fragmented (5M packets: 388k tuples, 34 MB)."""

    #: Entries in a run at most (a merged run stays below it, so no copy is bigger: 88 bytes each).
    RUN_MAX = 1 << 17
    #: A run this big is moved to a file and mapped (:func:`mapped_copy`): it is only read where a tuple
    #: is looked up, and its pages are handed back after each batch, so what every retired tuple needs
    #: (20M packets: 1.5M tuples, 136 MB) does not stay in memory.
    SPILL_MIN = RUN_MAX // 2

    def __init__(self, spill: SpillDirectory | None = None) -> None:
        self.runs: list[list[np.ndarray]] = []  #: [keys, ident, state] per run, keys sorted
        self.spill = spill
        self.maps: list = []  #: the mmap objects behind the spilled runs
        self.files = 0

    def __len__(self) -> int:
        return sum(len(run[0]) for run in self.runs)

    def seed(self, lo: np.ndarray, hi: np.ndarray):
        """The seed arrays of :func:`~netreset.flows.compiled.completeness.split_streams_seeded` for tuples
        ``lo``/``hi``, and the identity of the stream each one goes on with (-1: none)."""
        from netreset.flows.compiled.completeness import (SEED_BASE0, SEED_BASE1, SEED_FIRST, SEED_KEY0, SEED_KEY1,
                                                         SEED_N, SEED_PACKETS, SEED_SEEN)

        state = np.zeros((len(lo), 8), dtype=np.int64)
        ident = np.full(len(lo), -1, dtype=np.int64)
        found_any = np.zeros(len(lo), dtype=bool)
        wanted = _keys(lo, hi)
        for keys, run_ident, run_state in self.runs:
            at, found = _find(keys, wanted)
            state[found] = run_state[at[found]]
            ident[found] = run_ident[at[found]]
            found_any |= found
        n = np.where(found_any, state[:, SEED_N], -1)
        return (n, np.ascontiguousarray(state[:, [SEED_KEY0, SEED_KEY1]]),
                np.ascontiguousarray(state[:, [SEED_BASE0, SEED_BASE1]]),
                np.ascontiguousarray(state[:, [SEED_FIRST, SEED_SEEN, SEED_PACKETS]])), ident

    def put(self, lo: np.ndarray, hi: np.ndarray, ident: np.ndarray, state: np.ndarray) -> None:
        """Remember (or replace) the last stream of the tuples ``lo``/``hi``."""
        if not len(lo):
            return
        wanted = _keys(lo, hi)
        new = np.ones(len(wanted), dtype=bool)
        for keys, run_ident, run_state in self.runs:  # a tuple is in one run at most
            at, found = _find(keys, wanted)
            run_ident[at[found]], run_state[at[found]] = ident[found], state[found]
            new &= ~found
        if new.any():
            order = np.argsort(wanted[new], kind="stable")
            self.runs.append([wanted[new][order], ident[new][order], state[new][order]])
            self._merge()
            self._spill_big_runs()

    def _spill_big_runs(self) -> None:
        if self.spill is None:
            return
        for run in self.runs:
            if len(run[0]) >= self.SPILL_MIN and not _spilled(run[0]):
                for i, column in enumerate(run):
                    run[i], mapping = mapped_copy(column, self.spill.file(f"retired-{self.files}-{i}"))
                    self.maps.append(mapping)
                self.files += 1

    def release_pages(self) -> None:
        """Hand back the pages of the spilled runs read or written this batch (the file keeps them)."""
        for mapping in self.maps:
            mapping.madvise(mmap.MADV_DONTNEED)

    def _merge(self) -> None:
        runs = self.runs
        while len(runs) > 1 and 2 * len(runs[-1][0]) >= len(runs[-2][0]) \
                and len(runs[-1][0]) + len(runs[-2][0]) <= self.RUN_MAX and not _spilled(runs[-2][0]):
            newer, older = runs.pop(), runs.pop()
            keys = np.concatenate([older[0], newer[0]])
            order = np.argsort(keys, kind="stable")
            runs.append([keys[order], np.concatenate([older[1], newer[1]])[order],
                         np.concatenate([older[2], newer[2]])[order]])


class _MappedBase(mmap.mmap):
    """An mmap a spilled run's arrays are views of (so a run tells whether it is spilled)."""


def _spilled(array: np.ndarray) -> bool:
    while array is not None and not isinstance(array, _MappedBase):
        array = getattr(array, "base", None)
    return array is not None


def mapped_copy(column: np.ndarray, path: str):
    """``column`` written to ``path`` and mapped back shared (writes go to the file): the array, and the
    mapping to hand pages back with."""
    with open(path, "w+b") as f:
        f.truncate(max(column.nbytes, 1))
        mapping = _MappedBase(f.fileno(), max(column.nbytes, 1))
    array = np.frombuffer(mapping, dtype=column.dtype, count=column.size).reshape(column.shape)
    array[...] = column
    return array, mapping


def _find(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``wanted`` is in the sorted ``keys`` (``at``), and whether it is there (``found``)."""
    at = np.searchsorted(keys, wanted)
    inside = at < len(keys)
    found = np.zeros(len(wanted), dtype=bool)
    found[inside] = keys[at[inside]] == wanted[inside]
    return at, found


_KEY = np.dtype([("hi", np.int64), ("lo", np.int64)])


def _tuple_hash(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One int64 per tuple key pair (wrapping arithmetic; equal pairs, equal hashes)."""
    with np.errstate(over="ignore"):
        return lo.astype(np.int64) * np.int64(0x9E3779B97F4A7C15 - (1 << 64)) ^ hi.astype(np.int64)


def _keys(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    keys = np.empty(len(lo), dtype=_KEY)
    keys["hi"], keys["lo"] = hi, lo
    return keys


class CaptureWideSum:
    """The whole capture's :class:`~netreset.analyses.resets.pairs.CaptureWide`, added up batch by batch with
    memory bounded by the RSTs, not by the packets: the TTL counts (one per host and TTL) and the numbered
    RSTs stay in memory; the numbered SYNs and SYN-ACKs — one per connection attempt, the bulk — go to a
    file, and :meth:`total` reads back only those near a RST of a shared IP ID counter sequence
    (:func:`~netreset.analyses.resets.pairs.sequence_rst_times`, :func:`~netreset.analyses.resets.pairs.near_resets`),
    the only ones the rule reads."""

    #: SYN rows read back at a time by :meth:`total`.
    READ_ROWS = 1 << 20

    def __init__(self, spill: SpillDirectory) -> None:
        from netreset.analyses.resets.pairs import NUMBERED

        self.width = len(NUMBERED)
        self.summed = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))  #: all but the numbered SYNs
        self.syn_path = spill.file("numbered-syns.int64")
        self.syn_rows = 0

    def add(self, table: PacketTable) -> None:
        from netreset.analyses.resets.pairs import host_ttl_counts, merge_ttl_counts

        wide = host_ttl_counts(table)
        rst = wide.numbered[:, -1] == 1
        syns = wide.numbered[~rst]
        self.summed = merge_ttl_counts(self.summed, wide._replace(numbered=wide.numbered[rst]))
        if len(syns):
            with open(self.syn_path, "ab") as f:
                np.ascontiguousarray(syns, dtype=np.int64).tofile(f)
            self.syn_rows += len(syns)

    def total(self):
        from netreset.analyses.resets.pairs import CaptureWide, near_resets, sequence_rst_times

        summed = self.summed if isinstance(self.summed, CaptureWide) else CaptureWide(
            *self.summed, np.zeros((0, self.width), dtype=np.int64))
        rsts = summed.numbered
        rst_ts = sequence_rst_times(rsts)
        kept = [rsts]
        if len(rst_ts):
            row_bytes = 8 * self.width
            for start in range(0, self.syn_rows, self.READ_ROWS):
                count = min(self.READ_ROWS, self.syn_rows - start)
                syns = np.fromfile(self.syn_path, dtype=np.int64, count=count * self.width,
                                   offset=start * row_bytes).reshape(count, self.width)
                kept.append(syns[near_resets(syns, rst_ts)])
        return summed._replace(numbered=np.concatenate(kept))


class ParkedAttempts:
    """Rows of tuples set aside by :meth:`_Streamer._park`, with each row's tuple key and its tuple's
    last timestamp, in capture order."""

    def __init__(self, book: AddressBook) -> None:
        self.book = book
        self.table = PacketTable.empty(book)
        self.rows = self.net = self.lo = self.hi = self.last_ts = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, table: PacketTable, rows, net, lo, hi, last_ts) -> None:
        order = np.argsort(np.concatenate([self.rows, rows]), kind="stable")
        self.table = PacketTable.concat([self.table, table], self.book).take(order)
        self.rows, self.net, self.lo, self.hi, self.last_ts = (
            np.concatenate([mine, theirs])[order]
            for mine, theirs in ((self.rows, rows), (self.net, net), (self.lo, lo), (self.hi, hi),
                                 (self.last_ts, last_ts)))

    def seen_in(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Per parked row: its tuple may be one of ``lo``/``hi`` — a hash of both keys, so a rare collision
        brings a tuple back early, which changes nothing (it is walked again and parked again). A sort of
        the structured keys cost 0.18 s per batch at 1M packets."""
        return np.isin(_tuple_hash(self.lo, self.hi), _tuple_hash(lo, hi))

    def take(self, out: np.ndarray):
        """Remove the rows ``out`` (a mask) and return their (table, rows, network times)."""
        taken = (self.table.take(np.flatnonzero(out)), self.rows[out], self.net[out])
        stay = np.flatnonzero(~out)
        self.table = self.table.take(stay)
        self.rows, self.net, self.lo, self.hi, self.last_ts = (
            column[stay] for column in (self.rows, self.net, self.lo, self.hi, self.last_ts))
        return taken


def wanted(paths, options: Options, *, peer_capture=None) -> bool:
    """Whether a command's analysis can be streamed: one big file, the built-in decoder, nothing that
    needs every conversation (``--filter``, ``--stream``) or a second capture, and the compiled path
    allowed for a file this size (:func:`~netreset.runtime.compiled.use_compiled`)."""
    if len(paths) != 1 or peer_capture or options.filter_text or options.stream is not None or options.name_glob:
        return False
    if options.engine != "builtin":
        return False
    try:
        size = os.path.getsize(paths[0])
    except OSError:
        return False
    return use_compiled(size, STREAM_MIN_BYTES)


class StreamedAnalysis:
    """What ``summary``, ``locate-reset`` and ``handshakes`` read from an :class:`~netreset.pipeline.whole.Analysis`
    (counts, ``reset_rows``, ``handshake_rows``, ``finding_rows``), from a streamed capture.

    Counts over *all* conversations come from the tallies taken while streaming. The reset and
    handshake analyses run piece by piece over the kept tuples (:meth:`pieces`: one retired batch's
    suspect tuples with every ICMP error, conversations numbered as in the whole capture); each piece's
    records go to sorted runs on disk (:class:`~netreset.pipeline.spill.RecordRuns`) and are read back merged in
    capture order, so neither the pieces' conversations nor the records are ever in memory together.
    There is no list of every conversation, verdict or finding object: commands that need one
    (``conversations``, ``hosts``, the figures, ``--filter``, ``--peer-capture``) read the capture whole.
    """

    ttl_table = Analysis.ttl_table
    service_roots = Analysis.service_roots
    idle_timeouts = Analysis.idle_timeouts

    def __init__(self, kept: PieceStore, icmp: tuple, stats, options: Options, *, spill: SpillDirectory,
                 timing: Timing, conv_first: np.ndarray, stream_first: np.ndarray, tallies: Counter, host_ttls,
                 capture_end: dict[int, int], zeek_connections: int = 0, stream_value: np.ndarray | None = None,
                 stream_conversations: np.ndarray | None = None, span: tuple = (None, None),
                 passing_names: dict | None = None) -> None:
        self.stats, self.options = stats, options
        self._span = span
        #: server address → TLS names that passed to it, gathered from every batch as it was released
        self.passing_names = passing_names or {}
        self._kept, self._icmp, self._spill, self._timing = kept, icmp, spill, timing
        self._conv_first, self._stream_first = conv_first, stream_first
        #: per stream (numbered as tshark does): its final completeness, and how many conversations share it
        self._stream_value = stream_value if stream_value is not None else np.zeros(len(stream_first), np.int64)
        self._stream_conversations = (stream_conversations if stream_conversations is not None
                                      else np.ones(len(stream_first), np.int64))
        self._tallies = tallies  # conn_state -> conversations, over the whole capture
        self._host_ttls, self._capture_end = host_ttls, capture_end
        self._zeek_connections = zeek_connections
        self._runs: dict[str, RecordRuns] = {}  # kind -> records judged so far
        self._forged: Counter | None = None  # reset_by_* outcome -> conversations a middlebox reset
        self._causes: Counter | None = None  # cause code -> conversations with such a cause
        self._dns_names: dict | None = None  # address -> names, from the capture's DNS answers

    def pieces(self, indices=None):
        """(table, global rows, conversations) per kept batch (those of ``indices``, default all): its
        suspect tuples' packets and every ICMP error in capture order, the conversations numbered (``id``,
        ``tcp_stream``) as in the whole capture."""
        from netreset.flows.compiled.conversations import Walk, conversations_of_walk

        icmp_table, icmp_rows, icmp_net = self._icmp
        for index in range(len(self._kept)) if indices is None else indices:
            piece, (piece_rows, piece_net, piece_stream) = self._kept[index]
            rows = np.concatenate([piece_rows, icmp_rows])
            order = np.argsort(rows, kind="stable")
            table, rows = PacketTable.concat([piece, icmp_table], self._kept.book).take(order), rows[order]
            net = np.concatenate([piece_net, icmp_net])[order]
            stream_ident = np.concatenate([piece_stream, np.full(len(icmp_rows), -1, np.int64)])[order]
            w = Walk(table, self.options.verify_checksums, self._timing, net=net)  # the compiled path: numba is loaded

            def numbering(first_rows: np.ndarray, local_streams: np.ndarray, stream_ident=stream_ident, rows=rows):
                streams = np.searchsorted(self._stream_first, stream_ident[first_rows])
                return np.searchsorted(self._conv_first, rows[first_rows]), streams, self._stream_value[streams]

            conversations = conversations_of_walk(table, w, numbering)
            yield table, rows, conversations

    def stream_sharing(self, conversations) -> Counter:
        """How many conversations of the whole capture share each stream of ``conversations``."""
        return Counter({c.tcp_stream: int(self._stream_conversations[c.tcp_stream]) for c in conversations})

    def _judge(self, kind: str) -> RecordRuns:
        """The records of one kind (``resets``, ``handshakes`` or ``findings``), judging every piece the
        first time a kind is asked for (see :meth:`pieces`). Only the kinds asked for are written."""
        if kind not in self._runs:  # a second kind (rare: --fail-on) judges the pieces again
            self._judge_pieces({kind})
        return self._runs[kind]

    def _judge_pieces(self, kinds: set[str]) -> None:
        """Judge every piece, in ``options.workers`` processes when there are several pieces (this one and
        forked children, which inherit the loaded compiler and the capture's facts, write their own runs and
        send back only where the runs lie); the runs are merged in piece order, so the answer is the same."""
        generation = len(self._runs)
        release_free_memory()  # before forking: the children inherit the heap as it is
        runs = {kind: RecordRuns(self._spill, f"{kind}-{generation}") for kind in kinds}
        workers = min(worker_count(self.options.workers, big=True), len(self._kept))
        if workers > 1:
            # This process judges one share while workers-1 forked children judge the others. The kernels
            # the judging calls were loaded by the streaming (only the tiny tally loads again in a child).
            shares = balanced_shares(self._kept.sizes, workers)
            global _JUDGING
            _JUDGING = (self, kinds, generation)
            try:
                import multiprocessing

                with multiprocessing.get_context("fork").Pool(workers - 1) as pool:
                    children = pool.map_async(_judge_share, shares[1:])
                    results = [self._judge_share(shares[0], kinds, runs)] + children.get()
            finally:
                _JUDGING = None
        else:
            results = [self._judge_share(range(len(self._kept)), kinds, runs)]
        forged, placed, causes = Counter(), [], Counter()
        for share_forged, share_runs, share_causes in results:
            forged.update(share_forged)
            placed += share_runs
            causes.update(share_causes)
        if workers > 1:  # every run again, in piece order (this process's own were adopted as written)
            runs = {kind: RecordRuns(self._spill, f"{kind}-{generation}-merged") for kind in kinds}
            for _, kind, run in sorted(placed, key=lambda item: item[0]):
                runs[kind].adopt(run)
        self._runs.update(runs)
        self._forged = forged
        if "findings" in kinds:
            self._causes = causes

    def _judge_share(self, indices, kinds: set[str], runs: dict[str, RecordRuns]) -> tuple[Counter, list, Counter]:
        """Judge the pieces ``indices`` into ``runs``; returns the forged counts, (piece, kind, run) and, when
        findings are judged, the cause counts of the pieces' conversations.
        The collector is kept off the records while they are made (see :mod:`netreset.runtime.collector`)."""
        from netreset.runtime.collector import older_objects_frozen

        with older_objects_frozen():
            return self._judge_each(indices, kinds, runs)

    def _judge_each(self, indices, kinds: set[str], runs: dict[str, RecordRuns]) -> tuple[Counter, list, Counter]:
        """Records are stored as the JSON text the document will hold (encoded here, where the work is
        shared by the workers; ``--format json`` writes them as they are, text and CSV parse them back)."""
        from netreset.analyses.handshakes.analyze import analyze_handshakes
        from netreset.records.json import encode_item, encode_leaves
        from netreset.records.findings import encoded_findings
        from netreset.analyses.resets.locate import locate_resets
        from netreset.analyses.interception import devices_by_conversation
        from netreset.analyses.application.events import name_resets
        from netreset.analyses.resets.evidence import TtlReader

        forged, placed, causes = Counter(), [], Counter()
        for index, (table, rows, conversations) in zip(indices, self.pieces(indices)):
            verdicts = locate_resets(table, conversations, ttl_table=self.ttl_table, host_ttls=self._host_ttls)
            name_resets(verdicts, table, conversations, self.stats.payloads, wide=self._host_ttls,
                        guess=TtlReader(self.ttl_table), roots=self.service_roots, passing=self.passing_names,
                        idle_table=self.idle_timeouts)
            middlebox = forged_ids(verdicts)
            refined = {c.id: c.outcome for c in conversations if refined_outcome(c, middlebox) != c.outcome}
            forged.update(refined.values())
            written = {}
            if "resets" in kinds:
                rst = np.flatnonzero((table.flags & RST) != 0)
                row_of_frame = dict(zip(table.frame[rst].tolist(), rows[rst].tolist()))
                written["resets"] = [(row_of_frame[v.frame], encode_leaves(v.json_kind(), v.json_leaves(), v.to_dict))
                                     for v in verdicts]
            if kinds & {"handshakes", "findings"}:
                found = analyze_handshakes(table, conversations, resets=verdicts, capture_end=self._capture_end,
                                           stream_sharing=self.stream_sharing(conversations))
            if "handshakes" in kinds:
                written["handshakes"] = [((h.file_id, h.ts, h.conversation), encode_item(h.to_dict())) for h in found]
            if "findings" in kinds:
                judged = {v.conversation for v in verdicts}
                outcomes = {c.id: "reset_by_middlebox" if c.id in refined else c.outcome
                            for c in conversations if c.id in judged}
                written["findings"] = encoded_findings(verdicts, found, outcomes)
                # summary's by_cause: every conversation of the capture with a cause is in some piece (a RST,
                # a finding, or application bytes kept: see _Streamer._retire)
                app = self._application(table, conversations)
                devices = devices_by_conversation(table, conversations, self._host_ttls, TtlReader(self.ttl_table))
                causes.update(count_causes(conversations, app, verdicts, found,
                                           device_causes(conversations, app, verdicts, found, devices,
                                                         self.service_roots),
                                           {"table": table, "passing": self.passing_names,
                                            "idle_table": self.idle_timeouts}))
            placed += [(index, kind, runs[kind].add_run(pairs)) for kind, pairs in written.items()]
        return forged, placed, causes

    def _application(self, table, conversations) -> dict:
        """The application summaries of one piece's conversations (the capture's DNS names read once)."""
        from netreset.analyses.application.events import conversation_application, dns_messages, names_by_address

        store = self.stats.payloads
        if store is None or not store.segments:
            return {}  # no application bytes: no conversation has events (the DNS names alone give no cause)
        if self._dns_names is None:
            self._dns_names = names_by_address(dns_messages(store))
        segments = store.segments if store is not None else {}
        return {c.id: conversation_application(table, c, segments, self._dns_names) for c in conversations}

    def reset_rows(self) -> RecordRuns:
        return self._judge("resets")

    def handshake_rows(self) -> RecordRuns:
        return self._judge("handshakes")

    def finding_rows(self) -> RecordRuns:
        return self._judge("findings")

    def time_span(self) -> tuple[int | None, int | None]:
        return self._span

    def conversation_count(self) -> int:
        return len(self._conv_first)

    def zeek_connection_count(self) -> int:
        return self._zeek_connections

    def conn_state_counts(self) -> Counter:
        return Counter({state: n for state, n in self._tallies.items() if n})

    def cause_counts(self) -> Counter:
        if self._causes is None:
            self._judge("findings")  # what summary shows next to the counts
        return Counter(self._causes)

    def outcome_counts(self) -> Counter:
        if self._forged is None:
            self._judge("findings")  # what summary shows next to the counts
        counts = Counter()
        for state, n in self._tallies.items():
            counts[OUTCOMES[state]] += n
        for outcome, n in self._forged.items():  # the refinement by the reset verdicts
            counts[outcome] -= n
            counts["reset_by_middlebox"] += n
        return Counter({outcome: n for outcome, n in counts.items() if n})


def balanced_shares(sizes: list[int], workers: int) -> list[list[int]]:
    """Piece indices for each worker, the biggest pieces first to the least loaded (judging costs about
    the same per packet; dealing the pieces out in turn gave one process 18 % more rows than the other
    on the 1M-packet benchmark). Each share is in piece order (the records are merged by piece anyway),
    the lightest share first: the calling process judges that one, and merges the runs after."""
    load, shares = [0] * workers, [[] for _ in range(workers)]
    for index in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        least = min(range(workers), key=lambda w: (load[w], w))
        shares[least].append(index)
        load[least] += sizes[index]
    return [sorted(share) for _, share in sorted(zip(load, shares), key=lambda item: item[0])]


#: The analysis being judged by forked workers (set only while they run; see _judge_pieces).
_JUDGING = None


def _judge_share(indices: list[int]) -> tuple[Counter, list]:
    """A forked worker's share of :meth:`StreamedAnalysis._judge_pieces`, with runs of its own."""
    analysis, kinds, generation = _JUDGING
    runs = {kind: RecordRuns(analysis._spill, f"{kind}-{generation}-{os.getpid()}") for kind in kinds}
    return analysis._judge_share(indices, kinds, runs)


class _Streamer:
    """The state carried from chunk to chunk (see the module docstring)."""

    def __init__(self, book: AddressBook, verify_checksums: bool, timing: Timing, batch_rows: int = BATCH_ROWS,
                 payloads=None) -> None:
        self.book = book
        #: the reader's payload store (filled as the file is decoded), for the tuples with application bytes
        self.payloads = payloads
        self.app_frames = np.zeros(0, dtype=np.int64)  #: sorted frames with kept payload bytes, seen so far
        self.app_scanned = 0  #: entries of payloads.segments already in app_frames
        #: each released batch's rows with kept payload, for the names that pass per address (names_passing)
        self.stored: list[PacketTable] = []
        self.stored_keys = None  #: the store's keys, brought up to date batch by batch (names_passing.StoredKeys)
        self.verify = verify_checksums
        self.timing = timing
        self.batch_rows = batch_rows
        self.held: list[PacketTable] = []  #: rows read but not yet released (a batch)
        self.held_rows = 0
        self.work = PacketTable.empty(book)  #: carried rows of live tuples
        self.work_rows = np.zeros(0, dtype=np.int64)  #: their rows in the whole capture (capture order)
        self.work_net = np.zeros(0, dtype=np.int64)  #: Zeek's network time at each of them
        self.rows_seen = 0
        self.fresh = 0  #: rows at the end of the work table released since the last walk
        self.parked = ParkedAttempts(book)
        self.last_ts: int | None = None  #: Zeek's network time after the rows released so far (the newest timestamp)
        self.first_ts: int | None = None  #: the earliest timestamp of the rows released so far
        self.spill = SpillDirectory()
        #: suspect tuples' rows per batch (on disk), with their global rows, network times and streams
        self.kept = PieceStore(self.spill, book)
        self.icmp: list[tuple[PacketTable, np.ndarray, np.ndarray]] = []  #: the ICMP errors (every non-TCP row), likewise
        self.conv_first: list[np.ndarray] = []  #: global first row of every retired conversation
        self.conv_stream: list[np.ndarray] = []  #: the identity (first row) of its stream, likewise
        self.stream_first: list[np.ndarray] = []  #: global first row of every retired Wireshark stream
        self.stream_value: list[tuple[np.ndarray, np.ndarray]] = []  #: (identity, completeness) as each retired
        self.retired = RetiredStreams(self.spill)
        self.tallies: Counter = Counter()
        self.zeek_connections = 0  #: Zeek connections (conn.log rows) of the retired conversations
        self.capture_wide = CaptureWideSum(self.spill)

    def feed(self, chunk: PacketTable, final: bool = False) -> None:
        """Add rows read from the file (in file order); every ``batch_rows`` rows, release them and retire
        what is over. ``final``: the file ended, release everything, retire all."""
        self.held.append(chunk)
        self.held_rows += len(chunk)
        if self.held_rows < self.batch_rows and not final:
            return
        released = PacketTable.concat(self.held, self.book)
        self.held, self.held_rows = [], 0
        admitted = len(released)
        if admitted:
            self._admit(released)
        del released  # its TCP rows are in the work table now: not twice in memory while they are walked
        if admitted or final:
            self._retire(final)
            self.retired.release_pages()
            release_free_memory()

    def _admit(self, released: PacketTable) -> None:
        from netreset.analyses.names_passing import StoredKeys, stored_rows

        if self.stored_keys is None:
            self.stored_keys = StoredKeys(self.payloads)
        kept = stored_rows(released, self.payloads, self.stored_keys)
        if len(kept):
            self.stored.append(released.take(kept))
        ts = released.ts_ns.astype(np.int64)
        net = np.maximum.accumulate(ts if self.last_ts is None else np.maximum(ts, self.last_ts))
        self.last_ts = int(net[-1])
        self.first_ts = int(ts.min()) if self.first_ts is None else min(self.first_ts, int(ts.min()))
        rows = self.rows_seen + np.arange(len(released), dtype=np.int64)
        self.rows_seen += len(released)
        self.capture_wide.add(released)
        tcp = released.proto == PROTO_TCP
        if tcp.all():  # the common case: no copy of the batch before it joins the carried rows
            tcp_rows, tcp_net = rows, net
        else:
            self.icmp.append((released.take(~tcp), rows[~tcp], net[~tcp]))
            released, tcp_rows, tcp_net = released.take(tcp), rows[tcp], net[tcp]
        self.work = PacketTable.concat([self.work, released], self.book)
        self.fresh += len(tcp_rows)
        self.work_rows = np.concatenate([self.work_rows, tcp_rows])
        self.work_net = np.concatenate([self.work_net, tcp_net])

    def finish(self) -> None:
        self.feed(PacketTable.empty(self.book), final=True)

    def _retire(self, final: bool) -> None:
        from netreset.flows.compiled.conversations import Walk
        from netreset.flows.compiled.boundaries import OUT_GONE, OUT_STATE
        from netreset.analyses.handshakes.screen import needs_rules
        from netreset.analyses.idle import groups_with_silence
        from netreset.flows.compiled.tcpstate import CONN_STATES

        if len(self.parked):
            self._rejoin(final)
        self.fresh = 0
        work = self.work
        seeded = {}

        def stream_seed(lo, hi):
            arrays, seeded["ident"] = self.retired.seed(lo, hi)
            return arrays

        w = Walk(work, self.verify, self.timing, now=-1 if final else self.last_ts, net=self.work_net,
                 stream_seed=stream_seed)
        k, groups = len(w), len(w.group_start) - 1
        if not k:
            return
        starts = w.conv_start[:-1]
        group_of_conv = np.searchsorted(w.group_start, starts, side="right") - 1
        state = w.out[OUT_STATE]
        if final:
            retire, waiting = np.ones(groups, dtype=bool), np.zeros(groups, dtype=bool)
        else:  # Zeek has removed the tuple's last connection: any later packet starts a new one
            last_conv = np.searchsorted(starts, w.group_start[1:], side="left") - 1
            gone = w.out[OUT_GONE][last_conv] != 0
            waiting = gone & self._open_attempts(w, last_conv)
            retire = gone & ~waiting
        if not retire.any():
            return  # everything stays in the work table (nothing parked either)
        # Each stream's identity: its first row in the capture, or the stream a tuple went on with.
        stream_group = np.searchsorted(w.group_start, w.stream_first, side="right") - 1
        ident = self.work_rows[w.rows[w.stream_first]]
        ident[w.continued] = seeded["ident"][stream_group[w.continued]]
        gone = retire[group_of_conv]
        self.tallies.update(dict(zip(CONN_STATES, np.bincount(state[gone], minlength=len(CONN_STATES)).tolist())))
        self.zeek_connections += int(np.diff(w.zeek_first)[gone].sum())
        self.conv_first.append(self.work_rows[w.rows[starts[gone]]])
        self.conv_stream.append(ident[w.stream_of[starts[gone]]])
        done = retire[stream_group]
        self.stream_first.append(ident[done & ~w.continued])
        self.stream_value.append((ident[done], w.stream_value[:len(ident)][done]))
        last_of_group = np.searchsorted(w.stream_first, w.group_start[1:], side="left") - 1  # a tuple's last stream
        self.retired.put(w.group_lo[retire], w.group_hi[retire], ident[last_of_group[retire]], w.last_state[retire])
        lengths = np.diff(w.conv_start)
        screened = needs_rules(work, range(k), (w.rows, w.from_orig(), lengths))
        suspect = np.zeros(groups, dtype=bool)
        suspect[group_of_conv[screened]] = True
        has_rst = np.add.reduceat((w.col["flags"] & RST) != 0, w.group_start[:-1]) > 0
        suspect |= has_rst
        suspect |= groups_with_silence(w.col["ts_ns"], w.group_start)  # a silent death the capture's end cut off
        app_frames = self._application_frames()
        if len(app_frames):  # conversation causes read the application bytes (a proxy's 407, a TLS alert)
            suspect |= np.add.reduceat(np.isin(work.frame[w.rows], app_frames), w.group_start[:-1]) > 0
        position_group = np.repeat(np.arange(groups), np.diff(w.group_start))
        keep_positions = np.flatnonzero((retire & suspect)[position_group])
        for part in piece_parts(position_group[keep_positions], PIECE_ROWS):
            positions = keep_positions[part]
            positions = positions[np.argsort(w.rows[positions], kind="stable")]
            keep = w.rows[positions]
            self.kept.add(work.take(keep), np.vstack([self.work_rows[keep], self.work_net[keep],
                                                      ident[w.stream_of[positions]]]))
        self._park(w, waiting)
        carry = np.sort(w.rows[~(retire | waiting)[position_group]])
        self.work = work.take(carry)
        self.work_rows = self.work_rows[carry]
        self.work_net = self.work_net[carry]

    def _park(self, w, waiting: np.ndarray) -> None:
        """Set aside the rows of the tuples that wait only for a retransmitted SYN (:meth:`_open_attempts`):
        Zeek has removed their connection, so walking them again changes nothing until a packet of theirs
        comes or the horizon passes (:meth:`_rejoin`). Carried, they were walked again with every batch:
        35k tuples, 87k rows of each 5M-packet batch walk, ≈ 35 MB of its peak."""
        if not waiting.any():
            return
        sizes = np.diff(w.group_start)
        positions = np.flatnonzero(np.repeat(waiting, sizes))
        group = np.repeat(np.arange(len(sizes)), sizes)[positions]
        order = np.argsort(w.rows[positions], kind="stable")
        positions, group = positions[order], group[order]
        rows = w.rows[positions]
        last_ts = w.col["ts_ns"][w.group_start[1:] - 1][group]
        self.parked.add(self.work.take(rows), self.work_rows[rows], self.work_net[rows],
                        w.group_lo[group], w.group_hi[group], last_ts)

    def _rejoin(self, final: bool) -> None:
        """Parked tuples back into the work table, in capture order: those a released row belongs to, those
        past the attempt horizon (the walk retires them now), and at the end of the file all of them."""
        from netreset.flows.model import ATTEMPT_HORIZON_NS
        from netreset.flows.tuples import tuple_keys

        work, fresh = self.work, self.fresh
        if final:
            back = np.ones(len(self.parked), dtype=bool)
        else:
            lo, hi = tuple_keys(work, np.arange(len(work) - fresh, len(work)))
            back = self.parked.seen_in(lo, hi) | (self.last_ts - self.parked.last_ts > ATTEMPT_HORIZON_NS)
        if not back.any():
            return
        table, rows, net = self.parked.take(back)
        order = np.argsort(np.concatenate([self.work_rows, rows]), kind="stable")
        self.work = PacketTable.concat([work, table], self.book).take(order)
        self.work_rows = np.concatenate([self.work_rows, rows])[order]
        self.work_net = np.concatenate([self.work_net, net])[order]

    def _application_frames(self) -> np.ndarray:
        """Frames whose payload bytes the reader kept for the application decoders (netreset.ingest.payloads),
        up to the newest decoded. Their tuples are kept for judging, so that summary's ``by_cause`` counts the
        causes of conversations with no RST or finding (a proxy's 407 on a cleanly closed connection). Only
        the entries added since the last call are read: the reader thread adds entries while this runs, and
        copying the new keys is one C call, which no thread switch interrupts."""
        import itertools

        segments = self.payloads.segments if self.payloads is not None else {}
        if len(segments) > self.app_scanned:
            new = list(itertools.islice(segments, self.app_scanned, None))
            self.app_scanned += len(new)
            frames = np.fromiter((frame for _, frame in new), dtype=np.int64, count=len(new))
            self.app_frames = np.union1d(self.app_frames, frames)
        return self.app_frames

    def _open_attempts(self, w, last_conv: np.ndarray) -> np.ndarray:
        """Per tuple: its last conversation is a connection attempt that a same-ISN SYN may still continue
        (:func:`~netreset.flows.conversations.continues_attempt`: unanswered or refused, opened by a pure SYN
        of its originator, its last packet at most ATTEMPT_HORIZON_NS before the newest one released).
        Such a tuple is carried on, so that the retransmission joins it here as on the whole path."""
        from netreset.flows.compiled.boundaries import OUT_ORIG, OUT_STATE
        from netreset.flows.compiled.conversations import attempt_codes
        from netreset.flows.model import ATTEMPT_HORIZON_NS
        from netreset.packets.table import ACK, SYN

        first = w.conv_start[last_conv]
        last_position = w.group_start[1:] - 1
        return (np.isin(w.out[OUT_STATE][last_conv], attempt_codes()) & (w.key[first] == w.out[OUT_ORIG][last_conv])
                & (w.col["flags"][first] & (SYN | ACK) == SYN)
                & (self.last_ts - w.col["ts_ns"][last_position] <= ATTEMPT_HORIZON_NS))

    def analysis(self, stats, options: Options) -> StreamedAnalysis:
        """The kept pieces and what is needed to number and judge them as in the whole capture."""
        from netreset.analyses.names_passing import names_passing

        icmp_table = PacketTable.concat([t for t, _, _ in self.icmp], self.book)
        empty = np.zeros(0, dtype=np.int64)
        icmp_rows = np.concatenate([r for _, r, _ in self.icmp]) if self.icmp else empty
        icmp_net = np.concatenate([n for _, _, n in self.icmp]) if self.icmp else empty

        def joined(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else empty

        stream_first = np.sort(joined(self.stream_first))
        value = np.zeros(len(stream_first), dtype=np.int64)
        for idents, values in self.stream_value:  # a stream gone on with later: its last value is the final one
            value[np.searchsorted(stream_first, idents)] = values
        sharing = np.bincount(np.searchsorted(stream_first, joined(self.conv_stream)), minlength=len(stream_first))
        return StreamedAnalysis(self.kept, (icmp_table, icmp_rows, icmp_net), stats, options, spill=self.spill,
                                timing=self.timing, conv_first=np.sort(joined(self.conv_first)),
                                stream_first=stream_first, tallies=self.tallies,
                                host_ttls=self.capture_wide.total(), capture_end={0: self.last_ts} if self.last_ts is not None else {},
                                zeek_connections=self.zeek_connections, stream_value=value,
                                stream_conversations=sharing, span=(self.first_ts, self.last_ts),
                                passing_names=names_passing(PacketTable.concat(self.stored, self.book), stats.payloads))


def read_ahead(chunks, depth: int = 2):
    """Iterate ``chunks`` with the next ones read in a background thread: decoding (the ingest kernels)
    and walking (the conversation kernels) both run compiled code that releases the GIL, so on two
    cores the reading of chunk n + 1 overlaps the work on chunk n. At most ``depth`` chunks wait; an
    exception in the reader is raised here, where the chunk it failed on would have been."""
    import queue
    import threading

    waiting: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def offer(item) -> bool:
        """Put ``item`` unless the consumer has gone; False when it has."""
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not offer((chunk, None)):
                    return
            offer((done, None))
        except BaseException as error:  # noqa: BLE001 — handed to the consumer, which raises it
            offer((done, error))

    reader = threading.Thread(target=read, name="netreset-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            chunk, error = waiting.get()
            if error is not None:
                raise error
            if chunk is done:
                return
            yield chunk
    finally:
        stop.set()
        reader.join()


def analyse_streamed(path: str | os.PathLike, options: Options = Options(), progress=None, *,
                     chunk_rows: int | None = None, batch_rows: int | None = None) -> StreamedAnalysis:
    """Stream one capture file (see the module docstring). Raises :class:`~netreset.errors.CaptureError`
    as reading it whole would.
    ``progress(file_id, bytes_read, packets)`` is called after each chunk.

    The collector is kept out of the way meanwhile (:mod:`netreset.runtime.collector`): numba's import
    and the loading of the cached kernels, which happen here, make hundreds of thousands of objects,
    none of them garbage (docs/performance.md, phase 6: what those collections cost and freed)."""
    from netreset.ingest.reader import iter_capture
    from netreset.runtime.collector import older_objects_frozen

    stream = iter_capture(path, verify_checksums=options.verify_checksums, chunk_rows=chunk_rows or READ_ROWS)
    streamer = _Streamer(stream.book, options.verify_checksums, Timing(), batch_rows or BATCH_ROWS,
                         payloads=stream.stats.payloads)
    with older_objects_frozen():
        for chunk in read_ahead(stream):
            streamer.feed(chunk)
            if progress is not None:
                progress(0, stream.bytes_read, stream.stats.frames_total)
        streamer.finish()
    if progress is not None:
        progress(0, stream.bytes_read, stream.stats.frames_total)
    stats = IngestStats()  # as read_capture_files reports one file
    stats.merge(stream.stats)
    stats.file_format = stream.stats.file_format
    return streamer.analysis(stats, options)
