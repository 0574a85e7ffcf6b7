"""Microsoft Network Monitor captures (``.cap``): 1.x (magic ``RTSS``) and 2.x (``GMBU``), read natively.

Windows administrators are told to "collect a Netmon trace"; this reads what they send back. The layout is
the one Wireshark's ``wiretap/netmon.c`` reads (NetMon 3.4's help documents 2.x), all little-endian:

* a 128-byte file header: magic, version (minor, major), the file's media type, the capture start as a
  SYSTEMTIME in the capturing machine's *local* time, and where the frame table, the comment table and
  the process table are (the last two from version 2.2 on);
* frame records wherever the frame table says — in frame order, but not necessarily in file order nor
  back to back. 1.x: ``u32 ms since the start, u16 wire length, u16 captured length``; 2.x: ``u64 µs
  since the start, u32 wire length, u32 captured length``; then the bytes; from 2.1 on a trailer: the
  frame's own media type (2.1), an index into the process table (2.2), a UTC FILETIME and a time-zone
  index (2.3);
* the frame table: one ``u32`` file offset per frame.

Timestamps keep what the format keeps: 1 ms (1.x), 1 µs (2.0–2.2), 100 ns (2.3). Before 2.3 a frame's
time is the local start time plus its offset, so it is read in this machine's time zone, as Wireshark and
Network Monitor read it; 2.3's per-frame UTC stamps need no zone (the start time is then only a fallback).

Memory stays bounded: the frame table is read a chunk at a time (whole, 4 bytes a frame, only for a
gzip-compressed file, which cannot seek), then each record at its offset; never the whole file.

Damage is described, never raised past the header: a frame-table entry that points at nothing sensible
is skipped (the other entries are independent of it) and counted in one warning; a file without a usable
frame table — the table is written last, so a capture cut short has none — is walked record by record
from the end of the header, as far as the records frame each other. Media types netreset cannot decode
become frames with a private link type, counted by the decoder as ``unsupported-netmon-media-0x…``.
"""

from __future__ import annotations

import struct
import time
from array import array
from sys import byteorder
from typing import BinaryIO, Callable, Iterator

from netreset.errors import CaptureError

from netreset.ingest.frames import LINKTYPE_BAD_NETMON_WLAN, PRIVATE_LINKTYPE_BASE, Interface, RawFrame
from netreset.ingest.containers.netmon_tables import read_comment_table, read_process_table
from netreset.ingest.containers.pcap import MAX_PLAUSIBLE_FRAME
from netreset.ingest.layers.linktypes import LINKTYPE_ETHERNET, LINKTYPE_FDDI, LINKTYPE_IEEE802_11, LINKTYPE_RAW

MAGICS = (b"RTSS", b"GMBU")
HEADER_LEN = 128
_HEADER = struct.Struct("<4sBBH8H10I")  #: magic, minor, major, media, SYSTEMTIME, 5 (offset, length) pairs

LINKTYPE_IEEE802_5 = 6  #: token ring: netreset does not decode it (``unsupported-linktype-6``)

#: NetMon media type (NDIS medium numbers, partly reused by 2.x) → LINKTYPE, as Wireshark maps them.
#: 0 is NDIS 802.3 too; NetMon 3.4 VPN captures write 0 for Ethernet frames.
MEDIA_LINKTYPES = {
    0: LINKTYPE_ETHERNET, 1: LINKTYPE_ETHERNET,
    2: LINKTYPE_IEEE802_5,
    3: LINKTYPE_FDDI,
    7: LINKTYPE_RAW, 8: LINKTYPE_RAW, 9: LINKTYPE_RAW,  # "tunnel", wireless WAN and raw IP frames: no link header
    0xE080: LINKTYPE_IEEE802_11,  # Message Analyzer "WiFi message": a bare 802.11 frame
}
MEDIA_WLAN_RADIO = 6  #: 802.11 behind NetMon's own radio header (version, length, channel, RSSI, …)
MEDIA_PCAP_BASE = 0xE000  #: 0xE000 | LINKTYPE: a frame NetMon took over from a pcap file
MEDIA_SKIPPED = frozenset((0xFFFC, 0xFFFD, 0xFFFE))  #: reassembly headers, adapter list, DNS cache: not frames

#: Trailer bytes after each frame's data, by 2.x minor version (2.3 and later share 2.3's layout).
TRAILER_BYTES = {0: 0, 1: 2, 2: 6}
TRAILER_2_3 = 15
FILETIME_UNIX_EPOCH = 116_444_736_000_000_000  #: 100-ns units from 1601-01-01 to 1970-01-01 (UTC)
TABLE_CHUNK = 1 << 16  #: frame-table entries read at a time
MAX_REWINDS = 8  #: restarts of a gzip stream for frames stored out of file order before giving up
_I64 = 1 << 63
_READ_STEP = 1 << 20


class NetmonReader:
    """Walks a Network Monitor stream from its first byte; raises CaptureError only for an unusable header.

    ``restart``, given for streams that cannot seek (gzip), returns the stream afresh from byte 0.
    """

    def __init__(self, path: str, stream: BinaryIO, file_size: int | None,
                 restart: Callable[[], BinaryIO] | None = None):
        self.path = path
        self.file_size = file_size
        self.warnings: list[str] = []
        self.comments: list[str] = []
        self.frame = 0
        self._at = _Cursor(stream, restart)
        fields = self._file_header()
        major, minor = self.version
        self._record_header = struct.Struct("<IHH" if major == 1 else "<QII")
        self._trailer = 0 if major == 1 else TRAILER_BYTES.get(minor, TRAILER_2_3)
        self._utc = major == 2 and minor >= 3
        self._counts = {"bad-entry": 0, "bad-utc": 0, "bad-start": 0}
        self._first_bad = ""
        resolution = 1e6 if major == 1 else (100.0 if self._utc else 1e3)
        self.interfaces = [Interface(id=0, linktype=_linktype(self._media)[0], snaplen=0, ts_resolution_ns=resolution)]
        self._no_table = ""  #: why the frame table is unusable, once that is known
        self._table_starts: list[int] = []  #: where the comment and process tables start (2.2+)
        self._frame_comments: dict[int, str] = {}  #: record offset → its comment, until the frame is met
        self._preloaded: array | None = None  #: the whole frame table, for a stream that cannot seek
        self._side_tables(*fields)
        self._entries_done, self._entries = 0, max(self._table[1] // 4, 1)
        self._walked, self._walk_end = 0, 0  #: bytes walked in file order (no table), and how far it may go
        self._framed = 0  #: bytes of the records read through the table: never more than the file in a sound one

    def _file_header(self) -> tuple[int, int, int, int]:
        """Parse the 128-byte header; return where the comment and process tables are (offset, size each)."""
        header = self._at.read(0, HEADER_LEN)
        if len(header) < _HEADER.size:
            raise CaptureError(self.path, f"truncated Network Monitor file header ({len(header)} of {HEADER_LEN} bytes)")
        (_magic, minor, major, self._media, *systime, table_offset, table_length, _user, _user_length,
         comments_offset, comments_length, processes_offset, process_count, _net, _net_length) = _HEADER.unpack_from(header)
        if major not in (1, 2):
            raise CaptureError(self.path, f"Network Monitor version {major}.{minor} is not supported (1.x and 2.x are)")
        self.version = (major, minor)
        self.file_format = f"netmon{major}"
        self._start_ns = _local_start_ns(*systime)
        self._table = (table_offset, table_length)
        return comments_offset, comments_length, processes_offset, process_count

    def _side_tables(self, comments_offset: int, comments_length: int, processes_offset: int, count: int) -> None:
        """Read the comment and process tables (2.2+) and, for a gzip stream, the frame table — in file
        order, so that a stream that cannot seek reads on once and starts over only for the frames."""
        steps = []
        if self.version >= (2, 2):  # earlier versions leave these header fields uninitialised
            self._table_starts = [o for o, n in ((comments_offset, comments_length), (processes_offset, count)) if o and n]
            steps += [(comments_offset, lambda: self._read_comments(comments_offset, comments_length)),
                      (processes_offset, lambda: self._read_processes(processes_offset, count))]
        if not self._at.seekable:
            steps.append((self._table[0], self._preload_table))
        for _offset, step in sorted(steps, key=lambda s: s[0]):
            step()

    def fraction_done(self) -> float:
        """Share of the frames read so far, for a progress bar (file offsets jump: the table is at the end)."""
        if self._walk_end:
            return min(self._walked / self._walk_end, 1.0)
        return min(self._entries_done / self._entries, 1.0)

    def frames(self) -> Iterator[RawFrame]:
        """Yield every frame in frame-table order (or file order when there is no usable table)."""
        offsets = self._table_offsets()
        try:
            if offsets is None:
                yield from self._walk_in_file_order()
            else:
                for offset in offsets:
                    self._entries_done += 1
                    frame = self._record(offset)
                    if frame is not None:
                        yield frame
                    if self.file_size is not None and self._framed > self.file_size:
                        self.warnings.append(f"the frame table names more record bytes than the file holds (its "
                                             f"entries repeat or overlap); stopped after frame {self.frame}")
                        break
        except _TooManyRewinds:
            self.warnings.append(f"the frames of this gzip-compressed file are stored out of order; stopped after "
                                 f"frame {self.frame}: decompress it (gunzip) and read it again")
        self._summarise()

    # ------------------------------------------------------------------ the frame table

    def _table_offsets(self) -> Iterator[int] | None:
        """Frame offsets from the table, lazily; None when the table is unusable (with the reason noted)."""
        offset, length = self._table
        why = ""
        if length % 4:
            why = f"its length {length} is not a whole number of entries"
        elif length and offset < HEADER_LEN:
            why = f"it claims to start at offset {offset}, inside the file header"
        elif self.file_size is not None and offset + length > self.file_size:
            why = f"it needs bytes {offset}–{offset + length}, the file has {self.file_size} (cut short?)"
        if why or not length:
            self._no_table = why
            return None
        if self._at.seekable:
            return self._chunked_offsets(offset, length // 4)
        if self._preloaded is None or len(self._preloaded) < length // 4:
            got = 0 if self._preloaded is None else len(self._preloaded)
            self._no_table = f"it is cut short ({got} of {length // 4} entries)"
            return None
        return iter(self._preloaded)

    def _preload_table(self) -> None:
        """A gzip stream cannot seek: its frame table is read whole (4 bytes a frame), in file order."""
        offset, length = self._table
        if length and not length % 4 and offset >= HEADER_LEN:
            self._preloaded = self._entry_array(self._at.read(offset, length))

    def _chunked_offsets(self, offset: int, count: int) -> Iterator[int]:
        for first in range(0, count, TABLE_CHUNK):
            want = min(TABLE_CHUNK, count - first)
            entries = self._entry_array(self._at.read(offset + 4 * first, 4 * want))
            yield from entries
            if len(entries) < want:
                self.warnings.append(f"the frame table is cut short after entry {first + len(entries)} of {count}")
                return

    @staticmethod
    def _entry_array(raw: bytes) -> array:
        entries = array("I")
        entries.frombytes(raw[: len(raw) // 4 * 4])
        if byteorder == "big":
            entries.byteswap()
        return entries

    def _walk_in_file_order(self) -> Iterator[RawFrame]:
        """No usable table: records from the end of the header on, for as long as they frame each other."""
        offset, end = HEADER_LEN, self._data_end()
        self._walk_end = end or 0
        while end is None or offset < end:
            self._walked = offset
            head = self._at.read(offset, self._record_header.size)
            if len(head) < self._record_header.size:
                if head:
                    self.warnings.append(f"truncated record header after frame {self.frame}; ignored")
                break
            size, frame = self._frame_at(offset, head, stop=True)
            if size is None:
                break
            offset += size
            if frame is not None:
                yield frame
        if self._no_table or self.frame:
            reason = f" ({self._no_table})" if self._no_table else ""
            self.warnings.append(f"no usable frame table{reason}: {self.frame} frames read in file order")

    def _data_end(self) -> int | None:
        """Where frame records can end at the latest: the first table after the header, or the file's end."""
        offset, _length = self._table
        ends = [offset] if offset > HEADER_LEN else []
        ends += [o for o in self._table_starts if o > HEADER_LEN]
        if self.file_size is not None:
            ends.append(self.file_size)
        return min(ends) if ends else None

    # ------------------------------------------------------------------ one record

    def _record(self, offset: int) -> RawFrame | None:
        """The frame whose record starts at ``offset`` (a frame-table entry), or None (skipped, counted)."""
        head = self._at.read(offset, self._record_header.size)
        if len(head) < self._record_header.size:
            return self._bad_entry(offset, "no record header there")
        return self._frame_at(offset, head, stop=False)[1]

    def _frame_at(self, offset: int, head: bytes, *, stop: bool) -> tuple[int | None, RawFrame | None]:
        """(record size, frame) for the record at ``offset``; a size of None ends a file-order walk."""
        delta, wirelen, caplen = self._record_header.unpack(head)
        size = len(head) + caplen + self._trailer
        if caplen > MAX_PLAUSIBLE_FRAME:
            why = f"record at offset {offset} claims {caplen} captured bytes"
            return None, self._stop(why) if stop else self._bad_entry(offset, why)
        if self.file_size is not None and offset + size > self.file_size:
            why = f"record at offset {offset} needs {size} bytes, {self.file_size - offset} left"
            return None, self._stop(f"truncated last record: {why}; ignored") if stop else self._bad_entry(offset, why)
        body = self._at.read(offset + len(head), caplen + self._trailer)
        if len(body) < caplen + self._trailer:
            why = f"record at offset {offset} needs {size} bytes, the file ends first"
            return None, self._stop(f"truncated last record: {why}; ignored") if stop else self._bad_entry(offset, why)
        self._framed += size
        data, trailer = body[:caplen], body[caplen:]
        media = struct.unpack_from("<H", trailer)[0] if self._trailer else self._media
        if media in MEDIA_SKIPPED:
            return size, None
        ts_ns = self._timestamp(delta, trailer)
        linktype, header_bytes = _linktype(media)
        if media == MEDIA_WLAN_RADIO:
            header_bytes = struct.unpack_from("<H", data, 1)[0] if caplen >= 3 else caplen + 1
            if header_bytes > caplen:
                linktype, header_bytes = LINKTYPE_BAD_NETMON_WLAN, 0
        if header_bytes:
            data, wirelen = data[header_bytes:], max(wirelen - header_bytes, 0)
        self.frame += 1
        comment = self._frame_comments.pop(offset, None)
        if comment is not None:
            self.comments.append(f"frame {self.frame}: {comment}")
        return size, RawFrame(self.frame, ts_ns, 0, linktype, len(data), wirelen, data)

    def _timestamp(self, delta: int, trailer: bytes) -> int:
        """ns since the epoch: 2.3's UTC FILETIME, else the header's start time plus the record's offset."""
        if self._utc:
            ns = (struct.unpack_from("<Q", trailer, 6)[0] - FILETIME_UNIX_EPOCH) * 100
            if -_I64 <= ns < _I64:
                return ns
            self._counts["bad-utc"] += 1
        if self._start_ns is None:
            self._counts["bad-start"] += 1
        start = self._start_ns or 0
        if self.version[0] == 1:
            return start + delta * 1_000_000
        # Microsoft: "treat it as unsigned, multiply by 10, read the 64-bit result as signed" (100-ns units)
        units = (delta * 10) & 0xFFFF_FFFF_FFFF_FFFF
        return start + (units - (1 << 64) if units >= _I64 else units) * 100

    def _bad_entry(self, offset: int, why: str) -> None:
        self._counts["bad-entry"] += 1
        self._first_bad = self._first_bad or f"entry {self._entries_done}: {why}"
        return None

    def _stop(self, message: str) -> None:
        self.warnings.append(message if message.startswith("truncated") else f"{message}; stopped after frame {self.frame}")
        return None

    # ------------------------------------------------------------------ comment and process tables (2.2+)

    def _read_comments(self, offset: int, length: int) -> None:
        """Comments become ``frame N: title: text`` once their frames are met."""
        self._frame_comments, problem = read_comment_table(self._at.read, offset, length, self.file_size)
        if problem:
            self.warnings.append(f"comment table: {problem}")

    def _read_processes(self, offset: int, count: int) -> None:
        """Processes are listed among the comments at once: which programs had traffic in the capture."""
        processes, problem = read_process_table(self._at.read, offset, count, self.file_size)
        self.comments.extend(processes)
        if problem:
            self.warnings.append(f"process table: {problem}")

    def _summarise(self) -> None:
        """One warning per kind of damage, not one per frame."""
        if self._counts["bad-entry"]:
            self.warnings.append(f"{self._counts['bad-entry']} frame-table entries point at no readable record "
                                 f"(first: {self._first_bad}); skipped")
        if self._counts["bad-utc"]:
            self.warnings.append(f"{self._counts['bad-utc']} frames have a UTC timestamp outside 1677–2262; "
                                 f"their time is the capture start plus their offset")
        if self._counts["bad-start"]:
            self.warnings.append("the capture start time in the file header is not a date; "
                                 f"{self._counts['bad-start']} frames are timed from 1970-01-01")
        for offset, comment in sorted(self._frame_comments.items()):
            self.comments.append(f"frame at offset {offset} (not in the frame table): {comment}")
        self._frame_comments = {}


def _linktype(media: int) -> tuple[int, int]:
    """(LINKTYPE or private link type, bytes of NetMon header to strip) for a NetMon media type."""
    if media in MEDIA_LINKTYPES:
        return MEDIA_LINKTYPES[media], 0
    if media == MEDIA_WLAN_RADIO:
        return LINKTYPE_IEEE802_11, 0  # the radio header's own length field says how much to strip
    if media & 0xF000 == MEDIA_PCAP_BASE and not 0xE080 <= media <= 0xE08A:
        return media & 0x0FFF, 0
    return PRIVATE_LINKTYPE_BASE + media, 0


def _local_start_ns(year, month, _weekday, day, hour, minute, second, ms) -> int | None:
    """The header's SYSTEMTIME (local time of the capturing machine) in ns since the epoch, read in this
    machine's zone as Wireshark reads it (``mktime``, which also normalises e.g. day 0); None if impossible."""
    try:
        seconds = time.mktime((year, month, day, hour, minute, second, 0, 0, -1))
    except (OverflowError, ValueError):
        return None
    return int(seconds) * 1_000_000_000 + ms * 1_000_000


class _TooManyRewinds(Exception):
    """A gzip stream would have to be decompressed from the start again and again."""


class _Cursor:
    """Reads at absolute offsets: seeks where the stream can, re-reads from the start where it cannot (gzip)."""

    def __init__(self, stream: BinaryIO, restart: Callable[[], BinaryIO] | None):
        self.stream, self.restart, self.pos, self.rewinds = stream, restart, 0, 0
        self.seekable = restart is None

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` (fewer at the end of the stream)."""
        if offset != self.pos:
            self._go(offset)
        if size <= _READ_STEP:
            data = self.stream.read(size) if size > 0 else b""
        else:  # a size from an untrusted header: read in steps, never allocate it up front
            parts, left = [], size
            while left and (part := self.stream.read(min(left, _READ_STEP))):
                parts.append(part)
                left -= len(part)
            data = b"".join(parts)
        self.pos += len(data)
        return data

    def _go(self, offset: int) -> None:
        if self.seekable:
            self.stream.seek(offset)
            self.pos = offset
            return
        if offset < self.pos:
            if self.rewinds >= MAX_REWINDS:
                raise _TooManyRewinds
            self.stream, self.pos = self.restart(), 0
            self.rewinds += 1
        while self.pos < offset:
            skipped = len(self.stream.read(min(_READ_STEP, offset - self.pos)))
            if not skipped:
                break
            self.pos += skipped
