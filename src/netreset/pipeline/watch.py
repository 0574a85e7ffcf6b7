"""``netreset watch``: a capture analysed while it is written, one finding out as soon as it can be judged.

The offline analysis sees every packet before it judges anything. A watch cannot wait for the end, so
it judges each 5-tuple when something happened on it, with the packets seen so far:

* a **RST**: judged :data:`SETTLE_NS` after it arrived (capture time; or wall time, when the stream is
  silent meanwhile). The settle window lets the packets that follow a RST at once — the peer's answer,
  a second RST, data sent after it — count as they do offline, and it bounds the delay: a line appears
  at most ``--settle`` (0.5 s) after its RST;
* an **unanswered SYN**: judged when the client has given up — when its next retransmission is overdue
  (twice the last gap of its SYNs, the exponential backoff every stack uses, or
  :data:`FIRST_SYN_WAIT_NS` after a first SYN) — so the SYN count and gaps are the final ones;
* a **FIN**: the teardown is judged :data:`CLOSE_WAIT_NS` after the tuple's last packet (Zeek's close delay);
* everything still pending when the stream ends (or ``--duration`` passes, or Ctrl-C) is judged then.

A judgement runs the unchanged analyses (``locate_resets``, ``analyze_handshakes``) on a small table: the
tuple's packets still held plus every ICMP error held, with the facts that need more than one tuple
taken from everything watched so far — each host's TTL counts and the IPv4 IP IDs of RSTs and SYNs
(:func:`~netreset.analyses.resets.pairs.host_ttl_counts`, summed as the streamed path sums them), so a
reset is judged against every packet its claimed sender sent, as offline. The records are the offline
ones: ``locate-reset``'s and ``handshakes``' JSON records, plus ``kind``.

**Where a live verdict can differ from the offline one** (docs/watch.md):

* packets that arrive after the judgement — more than ``--settle`` after a RST — are not used: a host
  whose TTL profile changes later, data sent seconds after the reset. The replay test holds the
  live verdicts equal to the offline ones on every sample capture (``tests/pipeline/test_watch.py``);
* a syn_unanswered finding's ``tail_s`` ("the capture ended … after the last SYN") is the time watched
  after the last SYN when it was judged, not the time to the end of the capture;
* ``conversation`` and ``tcp_stream`` are numbered by the watch: tuples in order of their first packet,
  a new number when a SYN with another ISN reopens a tuple. From the start of a capture that is the
  offline numbering except where Zeek's timers split one tuple's packets differently;
* to stay bounded over a day, a tuple silent for :data:`IDLE_NS` (Zeek's tcp_inactivity) is forgotten,
  the held rows never exceed ``max_rows`` (the oldest go first), and IP IDs and kept payload bytes
  older than :data:`FACTS_NS` are dropped.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from netreset.flows.conversations import build_conversations
from netreset.flows.model import ATTEMPT_HORIZON_NS, Conversation
from netreset.flows.tuples import tuple_keys
from netreset.ingest.frames import IngestStats, RawFrame
from netreset.ingest.layers.decode import Decoder
from netreset.packets.table import ACK, FIN, PROTO_TCP, RST, SYN, AddressBook, PacketTable, PacketTableBuilder
from netreset.pipeline.whole import Options

#: A RST is judged this long after it arrived (capture time, or wall time on a silent stream): what
#: follows it at once counts as offline, and the line appears within this delay (``--settle``).
SETTLE_NS = 500_000_000
#: After a first SYN without answer, the client's first retransmission is overdue after this long: Linux
#: retries after 1 s, Windows and macOS after 3 s (data/syn_schedules.toml); a little margin on top.
FIRST_SYN_WAIT_NS = 3_500_000_000
#: Margin on top of the doubled gap before a retransmission counts as overdue.
SYN_MARGIN_NS = 500_000_000
#: A tuple with a FIN is judged this long after its last packet (Zeek's tcp_close_delay, 5 s).
CLOSE_WAIT_NS = 5_000_000_000
#: A tuple silent this long is forgotten (Zeek's tcp_inactivity_timeout, 300 s: Zeek forgets it too).
IDLE_NS = 300_000_000_000
#: A tuple whose RST was judged before its claimed sender had sent anything else is held this long
#: (instead of :data:`IDLE_NS`), for a revision when that sender speaks.
REVISE_NS = 600_000_000_000
#: IP IDs of RSTs and SYNs and kept payload bytes older than this are dropped (bounded memory).
FACTS_NS = 600_000_000_000
#: At most this many packet rows are held (≈ 90 bytes each): ≈ 90 MB.
MAX_ROWS = 1_000_000
#: Payload directions (netreset.ingest.payloads) remembered before those of forgotten tuples are dropped.
MAX_DIRECTIONS = 50_000
#: While frames keep coming, judgements are batched this far apart (wall seconds).
JUDGE_EVERY_S = 0.25
#: How often (wall seconds) a full collection frees the analyses' cycles (see :meth:`LiveAnalysis.prune`).
COLLECT_EVERY_S = 10.0
#: How often (wall seconds) the held rows are pruned.
PRUNE_EVERY_S = 2.0


@dataclass
class _Pending:
    due_ns: int  #: judge once the newest capture timestamp reaches this
    due_wall: float  #: or once the wall clock reaches this while the stream is silent
    rst: bool  #: a RST is waiting (its due time is never postponed by later packets)


@dataclass
class Finding:
    """One line of the watch: a record of the offline contract plus ``kind`` (``reset`` or a handshake kind)."""

    record: dict
    conversation: Conversation
    frames: list[int] = field(default_factory=list)  #: frame numbers of the conversation's held packets
    ts_ns: int = 0  #: when it happened (the RST, or the finding's first packet)

    @property
    def kind(self) -> str:
        return self.record["kind"]


def _refused_frames() -> list[RawFrame]:
    """A SYN from 192.0.2.1 and the RST/ACK of 198.51.100.1 (documentation addresses), as Ethernet frames."""
    import struct

    def frame(number: int, src: bytes, dst: bytes, sport: int, dport: int, flags: int, seq: int, ack: int, ttl: int):
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535 if flags & SYN else 0, 0, 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), number, 0x4000, ttl, 6, 0, src, dst)
        data = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp
        return RawFrame(number, 1_000_000_000 * number, 0, 1, len(data), len(data), data)

    client, server = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 1])
    return [frame(1, client, server, 50000, 9, SYN, 1000, 0, 64),
            frame(2, server, client, 9, 50000, RST | ACK, 0, 1001, 120)]


def _copy_numbered(conv: Conversation, number: int, stream: int) -> Conversation:
    copy = object.__new__(Conversation)
    copy.__dict__.update(conv.__dict__, id=number, tcp_stream=stream)
    return copy


class LiveAnalysis:
    """The state of a watch: held packets, capture-wide facts, what is pending and what was said."""

    def __init__(self, options: Options = Options(), *, settle_ns: int = SETTLE_NS, max_rows: int = MAX_ROWS,
                 name: str = "stream", warm: bool = True) -> None:
        from netreset.analyses.resets.pairs import NUMBERED, CaptureWide

        self.options = options
        self.settle_ns, self.max_rows = settle_ns, max_rows
        self.book = AddressBook()
        self.stats = IngestStats(paths=[name])
        self.decoder = Decoder(self.book, self.stats, file_id=0, verify_checksums=options.verify_checksums)
        self.builder = PacketTableBuilder(self.book)
        #: held rows — live tuples' TCP rows and ICMP errors — in arrival order, as parts (a table and each
        #: row's tuple id, -1 for ICMP) joined only when pruned: appending never copies what is held
        self.parts: list[tuple[PacketTable, np.ndarray]] = []
        self.rows_held = 0
        self._last_judged = 0.0
        empty = np.zeros(0, dtype=np.int64)
        self.host_ttls = CaptureWide(empty, empty, np.zeros((0, len(NUMBERED)), dtype=np.int64))
        self.newest: int | None = None
        self.tids: dict[tuple[int, int], int] = {}
        self._next_tid = 0
        self.numbers: dict[int, list[tuple[int, int]]] = {}  #: tid -> [(first frame, number)]
        self._next_number = 0
        self.syn_seen: dict[int, tuple[int, int, int]] = {}  #: tid -> (ISN, last SYN ts, gap before it)
        self.syn_due: dict[int, tuple[int, float]] = {}  #: tid -> when its client's next SYN is overdue (capture, wall)
        self.rst_due: dict[int, tuple[int, float]] = {}  #: RST frame -> when it may be judged (capture, wall)
        self.synack_wait: set[int] = set()  #: tuples whose SYN-ACK waits for the handshake's last ACK
        self.pending: dict[int, _Pending] = {}
        self.said: set = set()  #: keys of the findings already given
        #: claimed sender (address id) of a RST judged before it had sent anything else -> those tuples
        self.unseen: dict[int, set[int]] = {}
        #: per such tuple, the records given for it (key -> record): judged again once the sender speaks
        self.revisable: dict[int, dict] = {}
        self._last_prune = self._last_collect = time.monotonic()
        self.pruned_tuples = 0
        if warm:
            self._warm_up()

    def _warm_up(self) -> None:
        """One judgement of a made-up refused connection (documentation addresses, before any frame is read):
        the first judgement of a process spends ≈ 0.1 s more (imports, tables loaded on first use), and it
        would otherwise be spent after the first real RST arrived (measured in the lab, docs/watch.md)."""
        if self.stats.frames_total:
            return
        scratch = LiveAnalysis.__new__(LiveAnalysis)
        LiveAnalysis.__init__(scratch, self.options, settle_ns=0, name="warm-up", warm=False)
        scratch.add(_refused_frames(), wall=0.0)
        scratch.judge(wall=0.0, final=True)

    # ---- intake ---------------------------------------------------------------------------------------
    def add(self, frames: list[RawFrame], wall: float | None = None) -> None:
        """Decode ``frames`` (in stream order), hold their rows, and note what they make pending."""
        if not frames:
            return
        wall = time.monotonic() if wall is None else wall
        decode, append = self.decoder.decode, self.builder.append
        for frame in frames:
            row = decode(frame)
            if row.__class__ is dict:
                append(row)
            elif row.__class__ is list:
                for one in row:
                    append(one)
        self.stats.frames_total += len(frames)
        newest = max(f.ts_ns for f in frames)
        self.newest = newest if self.newest is None else max(self.newest, newest)
        if not len(self.builder):
            return
        chunk = self.builder.build()
        from netreset.analyses.resets.pairs import host_ttl_counts, merge_ttl_counts

        self.host_ttls = merge_ttl_counts(self.host_ttls, host_ttl_counts(chunk))
        tid = np.full(len(chunk), -1, dtype=np.int64)
        tcp = np.flatnonzero(chunk.proto == PROTO_TCP)
        if self.unseen:
            self._sender_spoke(chunk, tcp, wall)
        if len(tcp):
            tid[tcp] = self._tuple_ids(chunk, tcp)
            self._schedule(chunk, tcp, tid, wall)
        self.parts.append((chunk, tid))
        self.rows_held += len(chunk)

    def _sender_spoke(self, chunk: PacketTable, tcp: np.ndarray, wall: float) -> None:
        """A claimed sender judged unseen sent a packet of its own: its RSTs' tuples are judged again (a
        revision is given when the answer changes, as offline those packets would have counted)."""
        own = tcp[(chunk.flags[tcp] & RST) == 0]
        for src in set(np.unique(chunk.src[own]).tolist()) & set(self.unseen):
            last = int(chunk.ts_ns[own[chunk.src[own] == src]].max())
            for t in self.unseen.pop(src):
                if t in self.revisable:
                    self._pend(t, last + self.settle_ns, wall + self.settle_ns / 1e9)

    def _give(self, key, record: dict, t: int, revisable: bool) -> dict | None:
        """The record to print for a finding judged now: new, a revision of one given before (``revised``),
        or None when it was given already as it is."""
        if key not in self.said:
            self.said.add(key)
            if revisable:
                self.revisable.setdefault(t, {})[key] = record
            return record
        before = self.revisable.get(t, {}).get(key)
        if before is None or before == record:
            return None
        self.revisable[t][key] = record
        return {**record, "revised": True}

    def _tuple_ids(self, chunk: PacketTable, tcp: np.ndarray) -> np.ndarray:
        """A small id per 5-tuple (both directions), given at its first packet; a new tuple gets its number."""
        lo, hi = tuple_keys(chunk, tcp)
        pairs, first, inverse = np.unique(np.stack([lo, hi], axis=1), axis=0, return_index=True, return_inverse=True)
        ids = np.empty(len(pairs), dtype=np.int64)
        frames = chunk.frame[tcp]
        for j in np.argsort(first, kind="stable").tolist():
            key = (int(pairs[j, 0]), int(pairs[j, 1]))
            known = self.tids.get(key)
            if known is None:
                known = self.tids[key] = self._next_tid
                self._next_tid += 1
                self.numbers[known] = [(int(frames[first[j]]), self._take_number())]
            ids[j] = known
        return ids[inverse.reshape(-1)]

    def _take_number(self) -> int:
        self._next_number += 1
        return self._next_number - 1

    def _schedule(self, chunk: PacketTable, tcp: np.ndarray, tid: np.ndarray, wall: float) -> None:
        """RSTs, SYNs, SYN-ACKs and FINs make their tuple pending (see the module docstring)."""
        flags = chunk.flags
        if self.synack_wait:  # any later segment without SYN completes (or goes past) the handshake
            plain = tcp[((flags[tcp] & (SYN | RST | FIN)) == 0) & np.isin(tid[tcp], list(self.synack_wait))]
            for t in set(tid[plain].tolist()):
                self.synack_wait.discard(t)
                held = self.pending.get(t)
                if held is not None and not held.rst:
                    del self.pending[t]
        marked = tcp[(flags[tcp] & (RST | SYN | FIN)) != 0]
        ts, seq, frame = chunk.ts_ns, chunk.seq, chunk.frame
        for i in marked.tolist():
            t, f, at = int(tid[i]), int(flags[i]), int(ts[i])
            if f & RST:
                self.rst_due[int(frame[i])] = (at + self.settle_ns, wall + self.settle_ns / 1e9)
                self._pend(t, at + self.settle_ns, wall + self.settle_ns / 1e9, rst=True)
            elif f & SYN and not f & ACK:
                isn, before = int(seq[i]), self.syn_seen.get(t)
                if before is not None and before[0] != isn:  # another ISN: a new connection on the tuple
                    self.numbers[t].append((int(frame[i]), self._take_number()))
                    before = None
                gap = at - before[1] if before is not None else 0
                wait = min(2 * gap + SYN_MARGIN_NS if gap > 0 else FIRST_SYN_WAIT_NS, ATTEMPT_HORIZON_NS)
                self.syn_seen[t] = (isn, at, gap)
                self.syn_due[t] = (at + wait, wall + wait / 1e9)
                self._pend(t, at + wait, wall + wait / 1e9)
            elif f & SYN:  # a SYN-ACK: the attempt was answered; is the answer acknowledged?
                self.syn_due.pop(t, None)
                self.synack_wait.add(t)
                self._pend(t, at + FIRST_SYN_WAIT_NS, wall + FIRST_SYN_WAIT_NS / 1e9)
            else:  # a FIN
                self._pend(t, at + CLOSE_WAIT_NS, wall + CLOSE_WAIT_NS / 1e9)

    def _pend(self, t: int, due_ns: int, due_wall: float, rst: bool = False) -> None:
        held = self.pending.get(t)
        if held is not None and held.rst and not rst:
            return  # a waiting RST keeps its (earlier) time
        if held is not None and rst and held.rst:
            return
        self.pending[t] = _Pending(due_ns, due_wall, rst)

    # ---- judging --------------------------------------------------------------------------------------
    def due(self, wall: float, idle: bool, final: bool = False) -> list[int]:
        """Tuples to judge now: their capture time has come, or (``idle``: nothing is waiting to be read)
        their wall time, or everything (``final``)."""
        if final:  # the end: every tuple still held, as the offline analysis ends with every conversation
            held = [np.unique(tid[tid >= 0]) for _, tid in self.parts]
            return sorted(set(self.pending) | set(np.concatenate(held).tolist() if held else []))
        newest = self.newest if self.newest is not None else 0
        return [t for t, p in self.pending.items() if p.due_ns <= newest or (idle and p.due_wall <= wall)]

    def judge(self, wall: float | None = None, idle: bool = True, final: bool = False) -> list[Finding]:
        """The findings that can be given now (see the module docstring), in time order."""
        from netreset.analyses.application.events import name_resets
        from netreset.analyses.handshakes.analyze import analyze_handshakes
        from netreset.analyses.resets.locate import locate_resets

        wall = time.monotonic() if wall is None else wall
        tids = self.due(wall, idle, final)
        if not tids:
            return []
        for t in tids:
            self.pending.pop(t, None)
            self.synack_wait.discard(t)
        self._last_judged = wall
        picked = [(part, tid, np.flatnonzero(np.isin(tid, tids) | (tid < 0))) for part, tid in self.parts]
        table = PacketTable.concat([part.take(rows) for part, _, rows in picked], self.book)
        row_tid = np.concatenate([tid[rows] for _, tid, rows in picked]) if picked else np.zeros(0, np.int64)
        conversations = self._numbered(table, row_tid, build_conversations(
            table, verify_checksums=self.options.verify_checksums))
        verdicts = locate_resets(table, conversations, ttl_table=self._ttl_table(), host_ttls=self.host_ttls)
        name_resets(verdicts, table, conversations, self.stats.payloads)
        sharing = Counter(c.tcp_stream for c in conversations)
        found = analyze_handshakes(table, conversations, resets=verdicts,
                                   capture_end={0: self.newest if self.newest is not None else 0},
                                   stream_sharing=sharing)
        by_id = {c.id: c for c in conversations}
        newest = self.newest or 0
        out: list[Finding] = []
        unseen = set()  #: tuples with a RST whose claimed sender has sent nothing else yet
        for v in verdicts:
            conv = by_id[v.conversation]
            at = int(np.flatnonzero(table.frame == v.frame)[0])
            t = int(row_tid[at])
            due_ns, due_wall = self.rst_due.get(v.frame, (0, 0.0))
            if not final and due_ns > newest and not (idle and due_wall <= wall):
                held = self.pending.get(t)  # a later RST of the tuple: judged after its own settle
                if held is None or due_ns < held.due_ns:
                    self.pending[t] = _Pending(due_ns, due_wall, True)
                continue
            self.rst_due.pop(v.frame, None)
            if v.reason == "no_reference_packets":
                unseen.add(t)
                self.unseen.setdefault(int(table.src[at]), set()).add(t)
            record = self._give(("reset", v.frame), {"kind": "reset", **v.to_dict()}, t, t in unseen)
            if record is not None:
                out.append(Finding(record, conv, table.frame[conv.rows].tolist(), int(table.ts_ns[at])))
        for h in found:
            conv = by_id[h.conversation]
            t = int(row_tid[conv.rows[0]])
            due_ns, due_wall = self.syn_due.get(t, (0, 0.0))
            if h.kind == "syn_unanswered" and not final and due_ns > newest and not (idle and due_wall <= wall):
                # the client may still retransmit: judged again when its next SYN is overdue
                self.pending.setdefault(t, _Pending(due_ns, due_wall, False))
                continue
            record = h.to_dict()
            record = self._give((record["kind"], record["conversation"], record["ts"]), record, t, t in unseen)
            if record is not None:
                out.append(Finding(record, conv, table.frame[conv.rows].tolist(), conv.start_ns))
        out.sort(key=lambda f: f.ts_ns)
        if time.monotonic() - self._last_prune >= PRUNE_EVERY_S or self.rows_held > self.max_rows:
            self.prune()
        return out

    def _ttl_table(self):
        if self.options.ttl_table is None:
            return None
        if not hasattr(self, "_ttl"):
            from netreset.analyses.ttl import load_ttl_table

            self._ttl = load_ttl_table(self.options.ttl_table)
        return self._ttl

    def _numbered(self, table: PacketTable, row_tid: np.ndarray, conversations: list[Conversation]) -> list[Conversation]:
        """The conversations with the watch's numbers: per tuple, the number given at the packet that opened
        the connection (the latest numbered start at or before its first frame)."""
        out, stream_number = [], {}
        for conv in conversations:
            first = int(conv.rows[0])
            starts = self.numbers.get(int(row_tid[first]), [(0, -1)])
            frame = int(table.frame[first])
            number = next((n for f, n in reversed(starts) if f <= frame), starts[0][1])
            stream = stream_number.setdefault(conv.tcp_stream, number)
            out.append(_copy_numbered(conv, number, stream))
        return out

    def prune(self) -> None:
        """Forget tuples silent for :data:`IDLE_NS` (unless pending), ICMP errors as old, rows past
        ``max_rows`` (oldest first), and facts older than :data:`FACTS_NS`."""
        now = self._last_prune = time.monotonic()
        if now - self._last_collect >= COLLECT_EVERY_S:
            # The analyses run with the collector paused and hand what they made to its oldest generation
            # (runtime/collector.py): in a process that runs for a day, the cycles among those objects (the
            # Zeek walk's endpoints) wait for a full collection, which the collector alone seldom starts.
            gc.collect()
            self._last_collect = now
        if not self.rows_held or self.newest is None:
            return
        window = PacketTable.concat([part for part, _ in self.parts], self.book)
        tid = np.concatenate([t for _, t in self.parts])
        ts = window.ts_ns
        keep = np.ones(len(tid), dtype=bool)
        tcp = tid >= 0
        if tcp.any():
            ids, inverse = np.unique(tid[tcp], return_inverse=True)
            last = np.full(len(ids), np.iinfo(np.int64).min, dtype=np.int64)
            np.maximum.at(last, inverse, ts[tcp])
            idle = self.newest - last
            revisable = np.isin(ids, list(self.revisable))  # a RST whose claimed sender may still speak
            gone = ((idle > IDLE_NS) & ~revisable | (idle > REVISE_NS)) & ~np.isin(ids, list(self.pending))
            keep[np.flatnonzero(tcp)] = ~gone[inverse]
            self._forget(ids[gone].tolist())
        keep &= tcp | (self.newest - ts <= IDLE_NS)
        if keep.sum() > self.max_rows:
            keep[np.flatnonzero(keep)[:int(keep.sum()) - self.max_rows]] = False
        if not keep.all():
            window, tid = window.take(np.flatnonzero(keep)), tid[keep]
        self.parts, self.rows_held = [(window, tid)], len(window)
        self._prune_facts()

    def _forget(self, gone: list[int]) -> None:
        if not gone:
            return
        forget = set(gone)
        self.tids = {k: v for k, v in self.tids.items() if v not in forget}
        for t in gone:
            self.numbers.pop(t, None)
            self.syn_seen.pop(t, None)
            self.syn_due.pop(t, None)
            self.synack_wait.discard(t)
            self.revisable.pop(t, None)
        for src in list(self.unseen):
            self.unseen[src] -= forget
            if not self.unseen[src]:
                del self.unseen[src]
        self.pruned_tuples += len(gone)

    def _prune_facts(self) -> None:
        from netreset.analyses.resets.pairs import CaptureWide

        wide = self.host_ttls
        recent = wide.numbered[:, 0] >= self.newest - FACTS_NS if len(wide.numbered) else np.zeros(0, dtype=bool)
        if len(recent) and not recent.all():
            self.host_ttls = CaptureWide(wide.keys, wide.counts, wide.numbered[recent])
        store = self.stats.payloads
        oldest = int(self.parts[0][0].frame.min()) if self.rows_held else None
        if oldest is not None:
            for book in (store.segments, store.dns, store.dns_tcp):
                old = [k for k in book if k[1] < oldest]
                for k in old:
                    value = book.pop(k)
                    if isinstance(value, bytes):
                        store.stored_bytes -= len(value)
        selector = self.decoder.selector
        if len(selector.active) + len(selector.done) > MAX_DIRECTIONS:  # directions of forgotten tuples go too
            def live(key) -> bool:
                a, b = key[0] * 65536 + key[2], key[1] * 65536 + key[3]
                return (min(a, b), max(a, b)) in self.tids

            selector.active = {k: v for k, v in selector.active.items() if live(k)}
            selector.done = {k for k in selector.done if live(k)}
        if oldest is not None and len(self.rst_due) > 1000:
            self.rst_due = {f: due for f, due in self.rst_due.items() if f >= oldest}
        if len(self.said) > 10_000 and oldest is not None:  # a finding's key outlives its packets only so long
            horizon_s = (self.newest - IDLE_NS) / 1e9
            self.said = {k for k in self.said if (k[1] >= oldest if k[0] == "reset" else k[2] >= horizon_s)}

    def held_rows(self) -> int:
        return self.rows_held

    def wants_judging(self, wall: float, idle: bool) -> bool:
        """Judge now? Always when the stream is idle (a live stream, mostly); while frames keep coming (a
        replay, a burst) at most every :data:`JUDGE_EVERY_S`, which batches the tuples due meanwhile."""
        return idle or wall - self._last_judged >= JUDGE_EVERY_S


@dataclass
class WatchSummary:
    """What a watch saw, for the closing lines (also after Ctrl-C)."""

    packets: int = 0
    kinds: Counter = field(default_factory=Counter)  #: finding kind -> how many ("reset" split by verdict below)
    verdicts: Counter = field(default_factory=Counter)  #: reset verdict -> how many
    saved: list = field(default_factory=list)  #: paths written by --save
    seconds: float = 0.0
    ended: str = ""  #: why it ended: "end of stream", "duration", "until", "interrupted", "error"
    warnings: list = field(default_factory=list)

    @property
    def findings(self) -> int:
        return sum(self.kinds.values())

    def count(self, finding: Finding) -> None:
        self.kinds[finding.kind] += 1
        if finding.kind == "reset":
            self.verdicts[finding.record["verdict"]] += 1


#: How long the watch waits for frames before it looks at the clock again (seconds).
TICK_S = 0.05


def watch(frames, analysis: LiveAnalysis, ring=None, *, duration_s: float | None = None, tick_s: float = TICK_S):
    """Findings of a live stream (:class:`~netreset.ingest.live.LiveFrames`) as soon as they can be judged;
    ends at the end of the stream or after ``duration_s`` (everything pending judged then). Frames go to
    ``ring`` (:class:`~netreset.ingest.ring.FrameRing`) as they come."""
    started = time.monotonic()
    deadline = started + duration_s if duration_s is not None else None
    while True:
        now = time.monotonic()
        wait = tick_s if deadline is None else max(0.0, min(tick_s, deadline - now))
        batch = frames.take(wait)
        wall = time.monotonic()
        if batch:
            if ring is not None:
                ring.add(batch)
            analysis.add(batch, wall)
        over = frames.ended or (deadline is not None and wall >= deadline)
        idle = not frames.waiting()
        if over or analysis.wants_judging(wall, idle):
            yield from analysis.judge(wall, idle=idle, final=over)
        if over:
            return


def finding_frames(finding: Finding, ring, context_ns: int) -> list[RawFrame]:
    """The frames ``--save`` writes for a finding: its conversation's packets still in the ring and every
    frame from ``context_ns`` before the conversation's first packet to the newest one (the settle window
    after the finding included)."""
    frames = set(finding.frames)
    start = (finding.conversation.start_ns if finding.frames else finding.ts_ns) - context_ns
    return ring.select(frames, start, ring.newest_ns if ring.newest_ns is not None else finding.ts_ns)


def save_finding(directory, finding: Finding, ring, interfaces, context_ns: int) -> str | None:
    """Write a finding's frames (:func:`finding_frames`) to a pcapng file in ``directory``; its path, or None
    when the ring holds none of them any more."""
    import os

    from netreset.ingest.containers.pcapng_writer import write_pcapng

    frames = finding_frames(finding, ring, context_ns)
    if not frames:
        return None
    os.makedirs(directory, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(finding.ts_ns / 1e9))
    record = finding.record
    frame = record.get("frame") or (record.get("frames") or [0])[0]
    name = f"netreset-{stamp}-{finding.kind}-conv{record['conversation']}-frame{frame}.pcapng"
    path = os.path.join(directory, name)
    with open(path + ".part", "wb") as out:
        write_pcapng(out, interfaces, frames)
    os.replace(path + ".part", path)  # a reader never sees half a file
    return path
