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
tuple has something to report — a RST, or a handshake or teardown the screen cannot clear
(:func:`~netreset.analyses.handshakes.screen.needs_rules`) — are its packets kept: one *piece* per batch, on
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

import os
from collections import Counter

import numpy as np

from netreset.pipeline.whole import Analysis, Options, forged_ids, refined_outcome, worker_count
from netreset.flows.model import OUTCOMES
from netreset.ingest.frames import IngestStats
from netreset.packets.table import PROTO_TCP, RST, AddressBook, PacketTable
from netreset.pipeline.spill import PieceStore, RecordRuns, SpillDirectory
from netreset.runtime.compiled import MIN_FILE_BYTES, use_compiled
from netreset.flows.tcpstate import Timing

#: Rows decoded at a time (the decoder's scratch arrays grow with it).
READ_ROWS = 1 << 16
#: Rows released at a time into the work table. Each release walks the carried rows again (the tuples
#: Zeek still holds, a few seconds of traffic), and the walk's arrays grow with batch + carry: a bigger
#: batch re-walks fewer carried rows for more memory. 256k rows is the measured trade (time and peak RSS
#: against 128k: docs/performance.md, phase 6).
BATCH_ROWS = 1 << 18
#: Files at least this big are streamed; smaller ones are read whole as fast (the gate's file threshold,
#: a name of its own so that tests can stream a small sample).
STREAM_MIN_BYTES = MIN_FILE_BYTES


class RetiredStreams:
    """The last Wireshark stream of every retired tuple, for a later packet on that tuple to go on with.

    Sorted arrays keyed by the tuple (``lo``, ``hi`` of :func:`~netreset.flows.tuples.tuple_keys`): the
    stream's identity (its first row in the capture) and its state (the ``SEED_*`` columns of
    :func:`~netreset.flows.compiled.completeness.split_streams_seeded`). A tuple retired again replaces its entry."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=_KEY)
        self.ident = np.zeros(0, dtype=np.int64)
        self.state = np.zeros((0, 8), dtype=np.int64)

    def seed(self, lo: np.ndarray, hi: np.ndarray):
        """The seed arrays of :func:`~netreset.flows.compiled.completeness.split_streams_seeded` for tuples
        ``lo``/``hi``, and the identity of the stream each one goes on with (-1: none)."""
        from netreset.flows.compiled.completeness import (SEED_BASE0, SEED_BASE1, SEED_FIRST, SEED_KEY0, SEED_KEY1,
                                                         SEED_N, SEED_PACKETS, SEED_SEEN)

        at, found = self._find(lo, hi)
        state = np.zeros((len(lo), 8), dtype=np.int64)
        state[found] = self.state[at[found]]
        n = np.where(found, state[:, SEED_N], -1)
        ident = np.full(len(lo), -1, dtype=np.int64)
        ident[found] = self.ident[at[found]]
        return (n, np.ascontiguousarray(state[:, [SEED_KEY0, SEED_KEY1]]),
                np.ascontiguousarray(state[:, [SEED_BASE0, SEED_BASE1]]),
                np.ascontiguousarray(state[:, [SEED_FIRST, SEED_SEEN, SEED_PACKETS]])), ident

    def _find(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wanted = _keys(lo, hi)
        at = np.searchsorted(self.keys, wanted)
        inside = at < len(self.keys)
        found = np.zeros(len(wanted), dtype=bool)
        found[inside] = self.keys[at[inside]] == wanted[inside]
        return at, found

    def put(self, lo: np.ndarray, hi: np.ndarray, ident: np.ndarray, state: np.ndarray) -> None:
        """Remember (or replace) the last stream of the tuples ``lo``/``hi``."""
        if not len(lo):
            return
        at, found = self._find(lo, hi)
        self.ident[at[found]], self.state[at[found]] = ident[found], state[found]
        new = ~found
        if new.any():
            keys = np.concatenate([self.keys, _keys(lo[new], hi[new])])
            order = np.argsort(keys, kind="stable")
            self.keys = keys[order]
            self.ident = np.concatenate([self.ident, ident[new]])[order]
            self.state = np.concatenate([self.state, state[new]])[order]


_KEY = np.dtype([("hi", np.int64), ("lo", np.int64)])


def _keys(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    keys = np.empty(len(lo), dtype=_KEY)
    keys["hi"], keys["lo"] = hi, lo
    return keys


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
    idle_timeouts = Analysis.idle_timeouts

    def __init__(self, kept: PieceStore, icmp: tuple, stats, options: Options, *, spill: SpillDirectory,
                 timing: Timing, conv_first: np.ndarray, stream_first: np.ndarray, tallies: Counter, host_ttls,
                 capture_end: dict[int, int], zeek_connections: int = 0, stream_value: np.ndarray | None = None,
                 stream_conversations: np.ndarray | None = None, passing_names: dict | None = None) -> None:
        self.stats, self.options = stats, options
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
        forged, placed = Counter(), []
        for share_forged, share_runs in results:
            forged.update(share_forged)
            placed += share_runs
        if workers > 1:  # every run again, in piece order (this process's own were adopted as written)
            runs = {kind: RecordRuns(self._spill, f"{kind}-{generation}-merged") for kind in kinds}
            for _, kind, run in sorted(placed, key=lambda item: item[0]):
                runs[kind].adopt(run)
        self._runs.update(runs)
        self._forged = forged

    def _judge_share(self, indices, kinds: set[str], runs: dict[str, RecordRuns]) -> tuple[Counter, list]:
        """Judge the pieces ``indices`` into ``runs``; returns the forged counts and (piece, kind, run).
        The collector is kept off the records while they are made (see :mod:`netreset.runtime.collector`)."""
        from netreset.runtime.collector import older_objects_frozen

        with older_objects_frozen():
            return self._judge_each(indices, kinds, runs)

    def _judge_each(self, indices, kinds: set[str], runs: dict[str, RecordRuns]) -> tuple[Counter, list]:
        """Records are stored as the JSON text the document will hold (encoded here, where the work is
        shared by the workers; ``--format json`` writes them as they are, text and CSV parse them back)."""
        from netreset.analyses.handshakes.analyze import analyze_handshakes
        from netreset.records.json import encode_item, encode_leaves
        from netreset.records.findings import encoded_findings
        from netreset.analyses.resets.locate import locate_resets
        from netreset.analyses.application.events import name_resets

        forged, placed = Counter(), []
        for index, (table, rows, conversations) in zip(indices, self.pieces(indices)):
            verdicts = locate_resets(table, conversations, ttl_table=self.ttl_table, host_ttls=self._host_ttls)
            name_resets(verdicts, table, conversations, self.stats.payloads, passing=self.passing_names,
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
            placed += [(index, kind, runs[kind].add_run(pairs)) for kind, pairs in written.items()]
        return forged, placed

    def reset_rows(self) -> RecordRuns:
        return self._judge("resets")

    def handshake_rows(self) -> RecordRuns:
        return self._judge("handshakes")

    def finding_rows(self) -> RecordRuns:
        return self._judge("findings")

    def conversation_count(self) -> int:
        return len(self._conv_first)

    def zeek_connection_count(self) -> int:
        return self._zeek_connections

    def conn_state_counts(self) -> Counter:
        return Counter({state: n for state, n in self._tallies.items() if n})

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
                 store=None) -> None:
        self.book = book
        self.store = store  #: the reader's payload store (filled as rows are decoded)
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
        self.last_ts: int | None = None  #: Zeek's network time after the rows released so far (the newest timestamp)
        self.spill = SpillDirectory()
        #: suspect tuples' rows per batch (on disk), with their global rows, network times and streams
        self.kept = PieceStore(self.spill, book)
        self.icmp: list[tuple[PacketTable, np.ndarray, np.ndarray]] = []  #: the ICMP errors (every non-TCP row), likewise
        self.conv_first: list[np.ndarray] = []  #: global first row of every retired conversation
        self.conv_stream: list[np.ndarray] = []  #: the identity (first row) of its stream, likewise
        self.stream_first: list[np.ndarray] = []  #: global first row of every retired Wireshark stream
        self.stream_value: list[tuple[np.ndarray, np.ndarray]] = []  #: (identity, completeness) as each retired
        self.retired = RetiredStreams()
        self.tallies: Counter = Counter()
        self.zeek_connections = 0  #: Zeek connections (conn.log rows) of the retired conversations
        self.host_ttls = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    def feed(self, chunk: PacketTable, final: bool = False) -> None:
        """Add rows read from the file (in file order); every ``batch_rows`` rows, release them and retire
        what is over. ``final``: the file ended, release everything, retire all."""
        self.held.append(chunk)
        self.held_rows += len(chunk)
        if self.held_rows < self.batch_rows and not final:
            return
        released = PacketTable.concat(self.held, self.book)
        self.held, self.held_rows = [], 0
        if len(released):
            self._admit(released)
        if len(released) or final:
            self._retire(final)

    def _admit(self, released: PacketTable) -> None:
        from netreset.analyses.names_passing import StoredKeys, stored_rows
        from netreset.analyses.resets.pairs import host_ttl_counts, merge_ttl_counts

        if self.stored_keys is None:
            self.stored_keys = StoredKeys(self.store)
        kept = stored_rows(released, self.store, self.stored_keys)
        if len(kept):
            self.stored.append(released.take(kept))
        ts = released.ts_ns.astype(np.int64)
        net = np.maximum.accumulate(ts if self.last_ts is None else np.maximum(ts, self.last_ts))
        self.last_ts = int(net[-1])
        rows = self.rows_seen + np.arange(len(released), dtype=np.int64)
        self.rows_seen += len(released)
        self.host_ttls = merge_ttl_counts(self.host_ttls, host_ttl_counts(released))
        tcp = released.proto == PROTO_TCP
        if not tcp.all():
            self.icmp.append((released.take(~tcp), rows[~tcp], net[~tcp]))
        self.work = PacketTable.concat([self.work, released.take(tcp)], self.book)
        self.work_rows = np.concatenate([self.work_rows, rows[tcp]])
        self.work_net = np.concatenate([self.work_net, net[tcp]])

    def finish(self) -> None:
        self.feed(PacketTable.empty(self.book), final=True)

    def _retire(self, final: bool) -> None:
        from netreset.flows.compiled.conversations import Walk
        from netreset.flows.compiled.boundaries import OUT_GONE, OUT_STATE
        from netreset.analyses.handshakes.screen import needs_rules
        from netreset.flows.compiled.tcpstate import CONN_STATES

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
            retire = np.ones(groups, dtype=bool)
        else:  # Zeek has removed the tuple's last connection: any later packet starts a new one
            last_conv = np.searchsorted(starts, w.group_start[1:], side="left") - 1
            retire = (w.out[OUT_GONE][last_conv] != 0) & ~self._open_attempts(w, last_conv)
        if not retire.any():
            return
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
        position_group = np.repeat(np.arange(groups), np.diff(w.group_start))
        keep_positions = np.flatnonzero((retire & suspect)[position_group])
        keep_positions = keep_positions[np.argsort(w.rows[keep_positions], kind="stable")]
        if len(keep_positions):
            keep = w.rows[keep_positions]
            self.kept.add(work.take(keep), np.vstack([self.work_rows[keep], self.work_net[keep],
                                                      ident[w.stream_of[keep_positions]]]))
        carry = np.sort(w.rows[~retire[position_group]])
        self.work = work.take(carry)
        self.work_rows = self.work_rows[carry]
        self.work_net = self.work_net[carry]

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
                                host_ttls=self.host_ttls, capture_end={0: self.last_ts} if self.last_ts is not None else {},
                                zeek_connections=self.zeek_connections, stream_value=value,
                                stream_conversations=sharing,
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
                         store=stream.stats.payloads)
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
