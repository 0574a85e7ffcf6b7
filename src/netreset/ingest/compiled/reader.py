"""The fast ingest path: compiled kernels over a reused read buffer, the general decoder for the rest.

Same contract as :class:`netreset.ingest.reader.CaptureStream` — chunks of :class:`PacketTable`
rows in file order and the same :class:`IngestStats` — and the same answers, column for column
(``tests/ingest/test_compiled_reader.py`` compares the two paths). Speed comes from three choices:

* the file is read with ``readinto`` into one reused buffer, so memory does not grow with the file
  (no mmap: its pages would count in the peak RSS users measure);
* :mod:`netreset.ingest.compiled.kernels` frames and decodes whole batches of records in machine code, and
  :mod:`netreset.ingest.compiled.intern` gives the rows their address and signature ids from hash
  tables kept for the whole file, so only a batch's new addresses reach Python;
* frames the kernels do not handle (tunnels, ICMP, fragments, non-IP, odd link layers) go to the
  general :class:`~netreset.ingest.layers.decode.Decoder`, in the same chunk, so a few odd frames cost
  little. Addresses and option signatures are interned in the plain path's first-seen order, so
  even the address ids agree.

A file is only taken down this path when a pre-scan (the walker without storing) frames it cleanly
from its first record to its last byte; damaged or unusual containers (truncated records, packet
comments, several sections, big-endian pcapng, gzip, pktmon's per-component duplicates) stay on the
plain path with its warnings. Small files stay there too: importing the compiler costs more than it
saves below :data:`~netreset.runtime.compiled.MIN_FILE_BYTES` (the gate, :mod:`netreset.runtime.compiled`,
decides).
"""

from __future__ import annotations

import io
import os
import struct
from operator import itemgetter
from typing import Iterator

import numpy as np

from netreset.ingest.frames import IngestStats, RawFrame
from netreset.ingest.layers.decode import Decoder
from netreset.ingest.containers.open import holds_component_duplicates
from netreset.ingest.containers.pcap import PCAP_MAGICS, PcapReader
from netreset.ingest.containers.pcapng import TS_MAX, TS_MIN, PcapngReader
from netreset.ingest.layers.tcp import OPTION_LETTERS
from netreset.ingest.payloads import HTTP_STARTS, PAYLOAD_BUDGET, TLS_START_TYPES
from netreset.packets.table import COLUMNS, AddressBook, PacketTable, PacketTableBuilder
from netreset.runtime.compiled import MIN_FILE_BYTES, use_compiled

BUFFER_BYTES = 32 << 20  #: the read buffer of the decoding pass (doubled for a record that does not fit)
FIRST_READ_BYTES = 4 << 20  #: its first read, short: the first chunk is on the critical path of a streamed run
SCAN_BYTES = 1 << 20  #: the pre-scan's buffer, small enough for the CPU cache
_DTYPES = {name: np.dtype(dt) for name, dt, _, _ in COLUMNS}
_DEFAULTS = {name: default for name, _, default, _ in COLUMNS}
_FAST_COLUMNS = ("ttl", "ip_id", "df", "ip_len", "sport", "dport", "flags", "seq", "ack", "win", "payload_len",
                 "captured_payload", "mss", "wscale", "sack_perm", "ts_val", "ts_ecr", "vlan")
#: Columns the decode kernel writes, packed and in the table's dtypes (see kernels.decode_frames).
_KERNEL_COLUMNS = ("frame", "ts_ns", "iface", "ip_version") + _FAST_COLUMNS
_KEY = itemgetter(0)  #: the order key of an interning event (a stable sort keeps ties in their order)


class _Container:
    """What the walkers need to know about a file, read by the plain readers from its first bytes."""

    def __init__(self, path: str, f, size: int) -> None:
        head = f.read(16)
        f.seek(0)
        self.kind = None
        if head[:4] in PCAP_MAGICS:
            reader = PcapReader(path, f, size)
            self.kind, self.start = "pcap", reader.offset
            self.big, self.rec_len, self.frac_ns = reader.endian == ">", reader.record_len, reader.frac_ns
            self.max_caplen, self.snaplen = reader._max_caplen, reader.interfaces[0].snaplen
            self.linktypes = np.array([reader.interfaces[0].linktype], dtype=np.int64)
            self.reader = reader
        elif head[:4] == b"\x0a\x0d\x0d\x0a" and head[8:12] == b"\x4d\x3c\x2b\x1a":
            self._pcapng(path, f, size)

    def _pcapng(self, path: str, f, size: int) -> None:
        """Let the plain reader read the section and interface blocks before the first packet block."""
        start = _first_epb(f, size)
        if start is None:
            return
        f.seek(0)
        reader = PcapngReader(path, io.BytesIO(f.read(start)), start)
        if list(reader.frames()) or reader.warnings or any(m == 0 for _, _, m, _, _ in reader._section):
            return  # packets outside EPBs, damage, or a clock that is not a whole number of ns
        if [gid for gid, *_ in reader._section] != list(range(len(reader.interfaces))):
            return
        if len(reader.interfaces) > 1 and holds_component_duplicates(path):
            return  # a pktmon log: the plain reader counts each packet once
        if any(not TS_MIN <= s[4] <= TS_MAX for s in reader._section):
            return  # a clock offset beyond int64 nanoseconds: the plain reader clamps and says so
        self.kind, self.start, self.reader = "pcapng", start, reader
        self.linktypes = np.array([s[1] for s in reader._section], dtype=np.int64)
        self.mult = np.array([s[2] for s in reader._section], dtype=np.int64)
        self.offset_ns = np.array([s[4] for s in reader._section], dtype=np.int64)
        #: the most timestamp units each interface may count before int64 nanoseconds overflow (a frame
        #: beyond it sends the file to the plain reader, which clamps and warns)
        self.max_units = np.array([(TS_MAX - s[4]) // s[2] for s in reader._section], dtype=np.int64)


def _first_epb(f, size: int) -> int | None:
    """Offset of the first block that is neither a section nor an interface description."""
    pos = 0
    while pos + 8 <= size:
        f.seek(pos)
        btype, length = struct.unpack("<II", f.read(8))
        if btype not in (0x0A0D0D0A, 1):
            return pos if pos else None
        if length < 12 or length & 3 or (btype == 0x0A0D0D0A and pos):
            return None
        pos += length
    return None


class CompiledCapture:
    """Iterable of table chunks of one capture on the fast path; see the module docstring."""

    def __init__(self, path: str, container: _Container, *, file_id: int, book: AddressBook, stats: IngestStats,
                 chunk_rows: int) -> None:
        self.path, self.c, self.file_id, self.book, self.stats = path, container, file_id, book, stats
        self.chunk_rows = chunk_rows
        self.bytes_done = 0
        self.main = Decoder(book, stats, file_id=file_id)
        self.side = _RecordingDecoder(stats, file_id)
        self._scratch: _Scratch | None = None

    def scratch(self, rows: int) -> "_Scratch":
        """The kernels' working arrays for a batch of ``rows`` and the capture's interning tables."""
        if self._scratch is None or self._scratch.rows < rows:
            self._scratch = _Scratch(max(rows, self.chunk_rows), self._scratch)
        return self._scratch

    def __iter__(self) -> Iterator[PacketTable]:
        return _iterate(self)

    def walk(self, buf, pos, end, limit, arrays):
        from netreset.ingest.compiled import kernels

        c = self.c
        if c.kind == "pcap":
            off, cap, wire, ts, _ = arrays
            return kernels.walk_pcap(buf, pos, end, c.big, c.rec_len, c.frac_ns, c.max_caplen, c.snaplen, limit,
                                     off, cap, wire, ts)
        return kernels.walk_pcapng(buf, pos, end, limit, len(c.mult), c.mult, c.offset_ns, c.max_units, *arrays)

    def frames(self, store: bool) -> Iterator[tuple]:
        """Yield (buffer, frame arrays, count) batches; with ``store`` False only validate (status checks).

        The validating pre-scan reads through a buffer small enough to stay in the CPU cache (it runs
        twice as fast as through the big one, and the first chunk waits for it); the storing pass
        starts with a short read, so its first chunk comes early too. A record that does not fit in
        the buffer doubles it.
        """
        limit = self.chunk_rows if store else 1 << 62
        size = max(self.chunk_rows, 1) if store else 0
        arrays = tuple(np.empty(size, dtype=np.int64) for _ in range(5))
        buf = np.empty(BUFFER_BYTES if store else SCAN_BYTES, dtype=np.uint8)
        with open(self.path, "rb", buffering=0) as f:
            f.seek(self.c.start)
            self.bytes_done = self.c.start
            end, pos = f.readinto(memoryview(buf)[:FIRST_READ_BYTES if store else len(buf)]), 0
            while True:
                pos, n, status = self.walk(buf, pos, end, limit, arrays)
                if status:
                    raise _NotFast(f"status {status}")
                if n:
                    self.bytes_done = f.tell() - (end - pos)
                    yield buf, arrays, n
                    continue
                rest = end - pos
                if rest == len(buf):
                    buf = np.concatenate([buf, np.empty_like(buf)])
                else:
                    buf[:rest] = buf[pos:end]
                got = f.readinto(memoryview(buf)[rest:])
                self.bytes_done = f.tell()
                if not got:
                    if rest:
                        raise _NotFast("truncated last record")
                    return
                end, pos = rest + got, 0


class _NotFast(Exception):
    """The pre-scan met something only the plain reader describes exactly."""


class _RecordingDecoder(Decoder):
    """The general decoder on a scratch address book, noting every address and signature it interns."""

    def __init__(self, stats: IngestStats, file_id: int) -> None:
        super().__init__(AddressBook(), stats, file_id=file_id)
        self.raw: list[bytes] = []  #: scratch address id -> raw bytes
        self.events: list[tuple[int, bytes]] = []  #: (order key, raw address) of the current chunk
        self.sig_events: list[tuple[int, str]] = []
        self.key = self.j = 0
        self.signature = self._signature
        self.selector = _DeferredOffers()  # offered in frame order with the fast rows (decode_batch)

    def begin(self, frame: int) -> None:
        """Order keys of the next frame's events: after every event of earlier frames."""
        self.key, self.j = frame * 64, 0

    def addr(self, raw: bytes) -> int:
        self.events.append((self.key + min(self.j, 31), raw))
        self.j += 1
        found = self._addr_ids.get(raw)
        if found is None:
            found = super().addr(raw)
            self.raw.append(raw)
        return found

    def _signature(self, text: str) -> int:
        self.sig_events.append((self.key + 32, text))
        return self.book.intern_signature(text)


class _DeferredOffers:
    """The general decoder's payload offers of one batch, kept until the fast rows' are known."""

    def __init__(self) -> None:
        self.offers: list[tuple] = []

    def offer(self, key: tuple, frame: int, seq: int, flags: int, captured: int, data, start: int) -> None:
        kept = bytes(data[start:start + min(captured, PAYLOAD_BUDGET)])
        self.offers.append((frame, len(self.offers), key, seq, flags, captured, kept, 0))


#: The HTTP starts as big-endian 32-bit numbers (the first four payload bytes of a fast row).
_HTTP_U32 = np.array(sorted(int.from_bytes(h, "big") for h in HTTP_STARTS), dtype=np.int64)
_TLS_TYPES = np.array(sorted(TLS_START_TYPES), dtype=np.int64)


def _direction_hash(src, dst, sport, dport) -> np.ndarray:
    """A 64-bit hash of directions (arrays): equal directions hash equal; a collision only costs a look."""
    h = np.asarray(src, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h ^= np.asarray(dst, dtype=np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    return h ^ (np.asarray(sport, dtype=np.uint64) << np.uint64(16) | np.asarray(dport, dtype=np.uint64))


def _offer_payloads(cap: "CompiledCapture", buf, out: dict, src, dst, pay_off, m: int, first_frame: int) -> None:
    """Feed the payload selector every row of the batch that could change what it keeps, in frame order:
    the fast rows picked out here with numpy (payload rows that start an application or belong to a
    direction it follows, SYNs of those directions), and every offer of the general decoder."""
    selector = cap.main.selector
    offers = cap.side.selector.offers
    cap.side.selector.offers = []
    if offers:
        raw_map = [cap.main.addr(raw) for raw in cap.side.raw]
        offers = [(f, j, (raw_map[k[0]], raw_map[k[1]], k[2], k[3]), seq, fl, c, data, start)
                  for f, j, k, seq, fl, c, data, start in offers]
    if m:
        captured, flags = out["captured_payload"][:m], out["flags"][:m]
        sport, dport = out["sport"][:m], out["dport"][:m]
        pay = np.flatnonzero(captured > 0)
        heads = buf[np.minimum(pay_off[pay][:, None] + np.arange(4), len(buf) - 1)].astype(np.int64)
        long = captured[pay] >= 4
        tls = np.isin(heads[:, 0], _TLS_TYPES) & (heads[:, 1] == 3) & (heads[:, 2] <= 4)
        http = np.isin(heads[:, 0] << 24 | heads[:, 1] << 16 | heads[:, 2] << 8 | heads[:, 3], _HTTP_U32)
        starts = pay[(long & (tls | http)) | (sport[pay] == 53) | (dport[pay] == 53)]
        hashes = _direction_hash(src, dst, sport, dport)
        followed = list(selector.active) + list(selector.done)
        known = hashes[starts]
        if followed:
            f = np.array(followed, dtype=np.int64).reshape(-1, 4)
            known = np.concatenate([known, _direction_hash(f[:, 0], f[:, 1], f[:, 2], f[:, 3])])
        rows = starts
        if len(known):
            near = ((captured > 0) | ((flags & 0x02) != 0)) & np.isin(hashes, known)
            rows = np.union1d(starts, np.flatnonzero(near))
        if len(rows):
            frames = _frame_numbers(out["frame"], rows, first_frame)
            offers += [(f, 0, (s_, d_, sp, dp), seq, fl, c, buf, start) for f, s_, d_, sp, dp, seq, fl, c, start in zip(
                frames, src[rows].tolist(), dst[rows].tolist(), sport[rows].tolist(), dport[rows].tolist(),
                out["seq"][rows].tolist(), flags[rows].tolist(), captured[rows].tolist(), pay_off[rows].tolist())]
    if len(offers) > 1:
        offers.sort(key=_FRAME_ORDER)
    offer = selector.offer
    for f, _, key, seq, fl, c, data, start in offers:
        offer(key, f, seq, fl, c, data, start)


_FRAME_ORDER = itemgetter(0, 1)


def decode_batch(cap: CompiledCapture, buf: np.ndarray, arrays: tuple, n: int, first_frame: int) -> PacketTable:
    """One batch of framed records → one table chunk (fast rows and general-decoder rows in frame order)."""
    from netreset.ingest.compiled import kernels

    s = cap.scratch(n)
    off, caplen, wire, ts, iface = (a[:n] for a in arrays)
    out = {name: np.empty(n, dtype=_DTYPES[name]) for name in _KERNEL_COLUMNS}
    m, nf, nsig = kernels.decode_frames(buf, off, caplen, ts, iface, cap.c.linktypes, first_frame, n, s.fallback,
                                        out["frame"], out["ts_ns"], out["iface"], out["ip_version"], s.src_hi,
                                        s.src_lo, s.dst_hi, s.dst_lo, *(out[name] for name in _FAST_COLUMNS),
                                        s.sig_rows, s.tokens, s.ntok, s.pay_off)
    fallback_rows = _fallback(cap, buf, first_frame, off, caplen, wire, ts, iface, s.fallback[:nf])
    frame = out["frame"]
    src, dst = _intern_addresses(cap, s, frame, out["ip_version"], m, first_frame)
    sig = _intern_signatures(cap, s, frame, m, nsig, first_frame)
    if fallback_rows is not None:
        fallback_rows = _remap_fallback(cap, fallback_rows)
    _offer_payloads(cap, buf, out, src, dst, s.pay_off, m, first_frame)
    cap.stats.tcp_packets += m
    keep = m == n or m >= n - (n >> 3)  # views of the kernel's columns, unless that would hold much unused memory
    computed = {name: column[:m] if keep else column[:m].copy() for name, column in out.items()}
    computed.update(src=src, dst=dst, options_sig=sig)
    constants = {**_DEFAULTS, "file_id": cap.file_id, "proto": 6}
    table = {name: computed[name] if name in computed else _constant(constants[name], _DTYPES[name], m)
             for name in _DTYPES}
    chunk = PacketTable(table, cap.book)
    if fallback_rows is None:
        return chunk
    merged = PacketTable.concat([chunk, fallback_rows], cap.book)
    return merged.take(np.argsort(merged.frame, kind="stable"))


def _constant(value, dtype: np.dtype, m: int) -> np.ndarray:
    """A column of one value, as the zero-stride broadcast the table would make of it (no fill, no check)."""
    if m < 2:
        return np.full(m, value, dtype=dtype)
    return np.broadcast_to(np.array(value, dtype=dtype), (m,))


class _Scratch:
    """Per-capture arrays the kernels write and the next batch overwrites, and the interning tables."""

    def __init__(self, rows: int, previous: "_Scratch | None" = None) -> None:
        from netreset.ingest.compiled.intern import AddressTable, SignatureTable
        from netreset.ingest.compiled.kernels import MAX_TOKENS

        self.rows = rows
        self.fallback = np.empty(rows, dtype=np.int64)
        self.pay_off = np.empty(rows, dtype=np.int64)
        self.src_hi, self.src_lo, self.dst_hi, self.dst_lo = (np.empty(rows, dtype=np.uint64) for _ in range(4))
        self.sig_rows, self.ntok = np.empty(rows, dtype=np.int64), np.empty(rows, dtype=np.int64)
        self.tokens = np.empty((rows, MAX_TOKENS), dtype=np.int16)
        self.new_pos, self.new_sig = np.empty(2 * rows, dtype=np.int64), np.empty(rows, dtype=np.int64)
        if previous is None:
            self.addresses, self.signatures = AddressTable(), SignatureTable()
        else:
            self.addresses, self.signatures = previous.addresses, previous.signatures


def _fallback(cap: CompiledCapture, buf, first_frame: int, off, caplen, wire, ts, iface, index) -> PacketTable | None:
    """Frames the kernels left alone, through the general decoder (scratch ids mapped to the real book)."""
    side = cap.side
    side.events, side.sig_events = [], []
    if not len(index):
        return None
    builder = PacketTableBuilder(side.book)
    linktypes = cap.c.linktypes.tolist()
    single = len(linktypes) == 1
    for i in index.tolist():
        o, c = int(off[i]), int(caplen[i])
        ifc = 0 if single else int(iface[i])
        side.begin(first_frame + i)
        row = side.decode(RawFrame(first_frame + i, int(ts[i]), ifc, linktypes[ifc], c, int(wire[i]),
                                   bytes(buf[o:o + c])))
        if row.__class__ is dict:
            builder.append(row)
        elif row.__class__ is list:  # an A-MSDU's rows, one per subframe, in order
            for one in row:
                builder.append(one)
    return builder.build() if len(builder) else None


def _remap_fallback(cap: CompiledCapture, table: PacketTable) -> PacketTable:
    """Scratch address and signature ids → ids of the run's book (already interned in order)."""
    side = cap.side
    addr_map = np.array([cap.main.addr(raw) for raw in side.raw] + [-1], dtype=np.int32)
    sig_map = np.array([cap.book.intern_signature(s) for s in side.book.signatures] + [-1], dtype=np.int32)
    columns = dict(table.columns)
    for name in ("src", "dst", "q_src", "q_dst", "outer_src", "outer_dst"):
        columns[name] = addr_map[columns[name]]  # -1 indexes the trailing -1
    columns["options_sig"] = sig_map[columns["options_sig"]]
    return PacketTable(columns, cap.book)


def _frame_numbers(frame: np.ndarray, rows: np.ndarray, first_frame: int) -> list[int]:
    """Frame numbers of ``rows`` as Python ints (the u4 column wraps; a batch spans far fewer frames)."""
    return [first_frame + ((f - first_frame) & 0xFFFFFFFF) for f in frame[rows].tolist()]


def _intern_addresses(cap: CompiledCapture, s: _Scratch, frame, ver, m: int, first_frame: int):
    """Address ids of the fast rows; new addresses (and the general decoder's) interned in first-seen order.

    Addresses the capture's table knows get their ids in the kernel; a new one is interned at the
    order key of its first sight (frame * 64 + 0 source, 1 destination), among the general decoder's
    events of the same batch (:meth:`_RecordingDecoder.begin`), exactly as the plain path meets them.
    """
    src, dst = np.empty(m, dtype=np.int32), np.empty(m, dtype=np.int32)
    table = s.addresses
    new = table.lookup(ver, s.src_hi, s.src_lo, s.dst_hi, s.dst_lo, m, src, dst, s.new_pos)
    pending = cap.side.events
    if new:
        pos = s.new_pos[:new]
        rows, sides = pos >> 1, pos & 1
        his = np.where(sides == 1, s.dst_hi[rows], s.src_hi[rows]).tolist()
        los = np.where(sides == 1, s.dst_lo[rows], s.src_lo[rows]).tolist()
        raws = [lo.to_bytes(4, "big") if v == 4 else hi.to_bytes(8, "big") + lo.to_bytes(8, "big")
                for v, hi, lo in zip(ver[rows].tolist(), his, los)]
        known = cap.main._addr_ids
        pending = pending + [(f * 64 + side, raw) for f, side, raw in
                             zip(_frame_numbers(frame, rows, first_frame), sides.tolist(), raws) if raw not in known]
    addr = cap.main.addr
    for _, raw in sorted(pending, key=_KEY):
        addr(raw)
    if new:
        ids = np.array([cap.main.addr(raw) for raw in raws], dtype=np.int32)
        table.settle(ids, src, dst)
    return src, dst


def _intern_signatures(cap: CompiledCapture, s: _Scratch, frame, m: int, nsig: int, first_frame: int) -> np.ndarray:
    """Option-signature ids of the fast SYN rows, interned in frame order with the general decoder's."""
    out = np.full(m, -1, dtype=np.int32)
    table = s.signatures
    new = table.lookup(s.tokens, s.ntok, s.sig_rows, nsig, out, s.new_sig)
    pending = cap.side.sig_events
    if new:
        first = s.new_sig[:new]
        texts = [_signature(s.tokens[j, :s.ntok[j]]) for j in first.tolist()]
        frames = _frame_numbers(frame, s.sig_rows[first], first_frame)
        pending = pending + [(f * 64 + 32, text) for f, text in zip(frames, texts)]
    for _, text in sorted(pending, key=_KEY):
        cap.book.intern_signature(text)
    if new:
        ids = np.array([cap.book.intern_signature(t) for t in texts], dtype=np.int32)
        table.settle(ids, out)
    return out


def _signature(tokens: np.ndarray) -> str:
    """netreset.ingest.layers.tcp.parse_options' signature text from the kernel's kind tokens."""
    from netreset.ingest.compiled.kernels import TOKEN_MALFORMED

    return ",".join("?" if kind == TOKEN_MALFORMED else OPTION_LETTERS.get(kind) or f"?{kind}"
                    for kind in tokens.tolist())


def _iterate(cap: CompiledCapture) -> Iterator[PacketTable]:
    frame = 1
    for buf, arrays, n in cap.frames(store=True):
        table = decode_batch(cap, buf, arrays, n, frame)
        frame += n
        cap.stats.frames_total = frame - 1
        yield table
    cap.bytes_done = os.path.getsize(cap.path)


def open_compiled(path: str, *, file_id: int, book: AddressBook, stats: IngestStats, chunk_rows: int,
                  force: bool | None = None) -> CompiledCapture | None:
    """``path`` on the compiled path (iterate it for chunks), or None when the plain path must read it."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return None
    if not use_compiled(size, MIN_FILE_BYTES, force):
        return None
    try:
        from netreset.ingest.compiled import kernels  # noqa: F401  (the compiler is optional at run time)
    except ImportError:
        return None
    try:
        with open(path, "rb") as f:
            container = _Container(path, f, size)
    except Exception:  # noqa: BLE001 — anything odd: the plain path raises or warns exactly
        return None
    if container.kind is None:
        return None
    cap = CompiledCapture(path, container, file_id=file_id, book=book, stats=stats, chunk_rows=chunk_rows)
    try:
        for _ in cap.frames(store=False):
            pass
    except _NotFast:
        return None
    reader = container.reader
    stats.file_format = reader.file_format
    stats.interfaces = list(reader.interfaces)
    stats.comments = list(reader.comments)
    stats.warnings.extend(reader.warnings)
    return cap
