"""The pcapng container (draft-ietf-opsawg-pcapng): a walk over self-framed blocks.

Written here rather than taken from dpkt because dpkt's reader honours only the first interface
description (kbandla/dpkt#681): a dumpcap file with two interfaces of different link types or
timestamp resolutions would be misread. Every section (SHB) may change the byte order and starts
a fresh interface table; interface ids in :class:`RawFrame` are global (file order of the IDBs, an
index into ``interfaces``), so they equal the pcapng ids in the usual one-section file. tshark 4.0's
``frame.interface_id`` is section-local instead: the two differ only in multi-section files.

Each block repeats its length at the end, so a block with a bad packet inside can be skipped
safely; a bad *block length* cannot, and the walk stops there with a warning.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterator

from netreset.errors import CaptureError

from netreset.ingest.frames import Interface, RawFrame
from netreset.ingest.containers.pcap import MAX_RECORD_BYTES

SHB, IDB, PB_OBSOLETE, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
OPT_END, OPT_COMMENT = 0, 1
IF_NAME, IF_DESCRIPTION, IF_TSRESOL, IF_TSOFFSET = 2, 3, 9, 14
#: The section header's descriptions of the machine that wrote it (pcapng §4.1), by option code.
SHB_TEXT_OPTIONS = {2: "shb_hardware", 3: "shb_os", 4: "shb_userappl"}


def parse_options(body: bytes, start: int, end: int, endian: str) -> list[tuple[int, bytes]] | None:
    """(code, value) pairs of the option list in body[start:end]; None when it runs past its block."""
    options = []
    pos = start
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", body, pos)
        if code == OPT_END:
            return options
        if pos + 4 + length > end:
            return None
        options.append((code, body[pos + 4:pos + 4 + length]))
        pos += 4 + ((length + 3) & ~3)
    return options if pos == end else None


def text(value: bytes) -> str:
    """Option strings are untrusted: UTF-8 with replacement, trailing NULs from padding writers dropped."""
    return value.decode("utf-8", errors="replace").rstrip("\x00")


def section_header_text(head: bytes) -> dict[str, str]:
    """``shb_hardware``, ``shb_os`` and ``shb_userappl`` of the first section header in ``head`` (a file's
    first bytes, uncompressed), those present only; {} when ``head`` is not a readable pcapng start.

    What the capturing program says about its machine: dumpcap writes the CPU, the OS and its own
    version; some tools write a host name. Untrusted text, read for the fleet's node identity."""
    if len(head) < 28 or head[:4] != b"\x0a\x0d\x0d\x0a":
        return {}
    magic = head[8:12]
    endian = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">" if magic == b"\x1a\x2b\x3c\x4d" else None
    if endian is None:
        return {}
    (length,) = struct.unpack_from(endian + "I", head, 4)
    if length < 28 or length > len(head):
        return {}
    options = parse_options(head, 24, length - 4, endian) or []
    return {SHB_TEXT_OPTIONS[code]: text(value) for code, value in options
            if code in SHB_TEXT_OPTIONS and text(value).strip()}


def ts_divisor(tsresol: int) -> int:
    """Timestamp units per second for an if_tsresol byte: 10**v, or 2**v when the top bit is set."""
    return 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol


def clock(divisor: int, offset_s: int) -> tuple[int, int, int]:
    """(multiplier, divisor, offset ns) for exact integer ns: units * multiplier when the resolution
    divides a nanosecond evenly (10^-1..10^-9), else units * 10^9 // divisor (Wireshark truncates too)."""
    multiplier = 1_000_000_000 // divisor if 1_000_000_000 % divisor == 0 else 0
    return multiplier, divisor, offset_s * 1_000_000_000


#: The timestamps a packet table holds: int64 nanoseconds since the epoch (years 1677 to 2262).
TS_MIN, TS_MAX = -(1 << 63), (1 << 63) - 1


def to_ns(units: int, multiplier: int, divisor: int, offset_ns: int) -> int:
    """Timestamp units of one interface to ns since the epoch, with that interface's :func:`clock`."""
    return (units * multiplier if multiplier else units * 1_000_000_000 // divisor) + offset_ns


class PcapngReader:
    """Walks a pcapng stream from its first byte; raises CaptureError only when the first SHB is unusable.

    Block bodies are handled as the bytes after the 8-byte block header, trailer included (``end`` =
    ``len(body) - 4``), so that the hot path (one EPB per packet) copies the packet bytes only once.
    """

    file_format = "pcapng"

    def __init__(self, path: str, stream: BinaryIO, file_size: int | None):
        self.path = path
        self.stream = stream
        self.file_size = file_size
        self.warnings: list[str] = []
        self.comments: list[str] = []
        self.interfaces: list[Interface] = []
        self.offset = 0
        self.frame = 0
        # section-local interface id -> (global id, link type, multiplier, divisor, offset ns)
        self._section: list[tuple[int, int, int, int, int]] = []
        self._counts = {"bad-interface": 0, "bad-caplen": 0, "bad-options": 0, "spb": 0, "ts-clamped": 0}
        self._first_clamped: int | None = None  #: frame number of the first timestamp set to a limit
        #: (frame number, text) of the latest packet comment: pktmon writes its logging point there
        self.last_comment: tuple[int, str] = (0, "")
        self._set_byte_order("<")
        first = self._read_block(stream.read(8))
        if first is None or first[0] != SHB:
            raise CaptureError(path, "garbage pcapng section header" + (f": {self.warnings[-1]}" if self.warnings else ""))
        if not self._section_header(first[1]):
            raise CaptureError(path, f"unsupported pcapng section header: {self.warnings.pop()}")

    def _set_byte_order(self, endian: str) -> None:
        self.endian = endian
        self._head = struct.Struct(endian + "II").unpack
        self._u32 = struct.Struct(endian + "I").unpack_from
        self._epb_head = struct.Struct(endian + "IIIII").unpack_from

    def frames(self) -> Iterator[RawFrame]:
        """Yield packets from EPB, SPB and obsolete PB blocks in file order; other blocks are read and skipped."""
        handlers = {PB_OBSOLETE: self._pb, SPB: self._spb, IDB: self._idb, EPB: self._epb}
        read, epb, read_body = self.stream.read, self._epb, self._read_body
        while True:
            header = read(8)
            if len(header) == 8:
                btype, length = self._head(header)
                # Fast path for the common block; a doubtful length goes through the careful reader below.
                if btype == EPB and 32 <= length <= MAX_RECORD_BYTES and not length & 3:
                    if (body := read_body(length, b"")) is None:
                        break
                    if (frame := epb(body)) is not None:
                        yield frame
                    continue
            if (block := self._read_block(header)) is None:
                break
            btype, body = block
            if btype == SHB and not self._section_header(body):
                self.warnings[-1] += "; stopped"
                break
            frame = handlers[btype](body) if btype in handlers else None
            if frame is not None:
                yield frame
        self._summarise_counts()

    def _read_block(self, header: bytes) -> tuple[int, bytes] | None:
        """The block that starts with ``header``: (type, bytes after the block header), or None at EOF or at
        a framing error (with a warning)."""
        if len(header) < 8:
            if header:
                self.warnings.append(f"truncated block header at offset {self.offset} ({len(header)} of 8 bytes); ignored")
            return None
        btype, length = self._head(header)
        prefix = b""
        if btype == SHB:
            prefix = self.stream.read(4)
            length = self._section_byte_order(header, prefix)
            if length is None:
                return None
        if length < 12 or length & 3 or length > MAX_RECORD_BYTES:
            self.warnings.append(f"garbage block length {length} at offset {self.offset}; stopped after frame {self.frame}")
            return None
        body = self._read_body(length, prefix)
        return None if body is None else (btype, body)

    def _read_body(self, length: int, prefix: bytes) -> bytes | None:
        """The rest of a block of ``length`` bytes (``prefix`` of it already read), trailer checked."""
        if self.file_size is not None and self.offset + length > self.file_size:
            self.warnings.append(f"truncated last block at offset {self.offset} (needs {length} bytes, "
                                 f"{self.file_size - self.offset} left); ignored")
            return None
        body = self.stream.read(length - 8 - len(prefix))
        if len(body) < length - 8 - len(prefix):
            self.warnings.append(f"truncated last block at offset {self.offset} (needs {length} bytes); ignored")
            return None
        body = prefix + body if prefix else body
        if self._u32(body, length - 12)[0] != length:
            self.warnings.append(f"block at offset {self.offset}: trailing length differs from the leading one; "
                                 f"stopped after frame {self.frame}")
            return None
        self.offset += length
        return body

    def _section_byte_order(self, header: bytes, magic: bytes) -> int | None:
        """A section header states its byte order in its first body bytes; switch to it, return the block length."""
        endian = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}.get(magic)
        if endian is None:
            self.warnings.append(f"section header at offset {self.offset} has a bad byte-order magic; stopped")
            return None
        self._set_byte_order(endian)
        return self._head(header)[1]

    def _section_header(self, body: bytes) -> bool:
        """Start a new section (fresh interface table, comments kept); False if it cannot be read as 1.x."""
        if len(body) < 20:
            self.warnings.append(f"section header before offset {self.offset} is too short")
            return False
        major, minor = struct.unpack_from(self.endian + "HH", body, 4)
        if major != 1:
            self.warnings.append(f"section header before offset {self.offset} has version {major}.{minor}, not 1.x")
            return False
        self._section = []
        self.comments.extend(text(value) for code, value in self._options(body, 16) if code == OPT_COMMENT)
        return True

    def _idb(self, body: bytes) -> None:
        """Record an interface: link type, snaplen, name, description and its timestamp clock."""
        if len(body) < 12:
            self.warnings.append(f"interface description before offset {self.offset} is too short; ignored")
            return None
        linktype, _reserved, snaplen = struct.unpack_from(self.endian + "HHI", body)
        name = description = ""
        tsresol, offset_s = 6, 0
        for code, value in self._options(body, 8):
            if code == IF_NAME:
                name = text(value)
            elif code == IF_DESCRIPTION:
                description = text(value)
            elif code == IF_TSRESOL and value:
                tsresol = value[0]
            elif code == IF_TSOFFSET and len(value) == 8:
                offset_s = struct.unpack(self.endian + "q", value)[0]
            elif code == OPT_COMMENT:
                self.comments.append(text(value))
        if ts_divisor(tsresol) > 10 ** 30:
            self.warnings.append(f"interface {len(self.interfaces)}: absurd if_tsresol {tsresol:#x}; using microseconds")
            tsresol = 6
        divisor = ts_divisor(tsresol)
        iface = Interface(id=len(self.interfaces), linktype=linktype, snaplen=snaplen, name=name, description=description,
                          ts_resolution_ns=1e9 / divisor, ts_offset_s=offset_s)
        self.interfaces.append(iface)
        self._section.append((iface.id, linktype, *clock(divisor, offset_s)))
        return None

    def _epb(self, body: bytes) -> RawFrame | None:
        """The hot path: one enhanced packet block per packet in files from dumpcap and tcpdump."""
        end = len(body) - 4
        if end < 20:
            self._counts["bad-caplen"] += 1
            return None
        local, ts_hi, ts_lo, caplen, wirelen = self._epb_head(body)
        if local >= len(self._section) or 20 + caplen > end:
            self._counts["bad-interface" if local >= len(self._section) else "bad-caplen"] += 1
            return None
        global_id, linktype, multiplier, divisor, offset_ns = self._section[local]
        if 20 + ((caplen + 3) & ~3) < end:
            self._packet_options(body, 20 + ((caplen + 3) & ~3), end)
        self.frame += 1
        units = (ts_hi << 32) | ts_lo
        ts_ns = (units * multiplier if multiplier else units * 1_000_000_000 // divisor) + offset_ns
        if not TS_MIN <= ts_ns <= TS_MAX:
            ts_ns = self._clamped(ts_ns)
        return RawFrame(self.frame, ts_ns, global_id, linktype, caplen, wirelen, body[20:20 + caplen])

    def _clamped(self, ts_ns: int) -> int:
        """A timestamp beyond int64 nanoseconds (a far-future if_tsresol/if_tsoffset, or garbage units):
        the nearest limit, counted for one warning; the packet itself is analysed like any other."""
        self._counts["ts-clamped"] += 1
        if self._first_clamped is None:
            self._first_clamped = self.frame
        return TS_MAX if ts_ns > TS_MAX else TS_MIN

    def _pb(self, body: bytes) -> RawFrame | None:
        """The obsolete packet block (type 2): like an EPB with a 16-bit interface id and a drops count."""
        if len(body) < 24:
            self._counts["bad-caplen"] += 1
            return None
        local, _drops, ts_hi, ts_lo, caplen, wirelen = struct.unpack_from(self.endian + "HHIIII", body)
        return self._packet(body, 20, local, (ts_hi << 32) | ts_lo, caplen, wirelen)

    def _spb(self, body: bytes) -> RawFrame | None:
        """A simple packet: interface 0 of the section, no timestamp (0, as Wireshark shows it)."""
        if len(body) < 8 or not self._section:
            self._counts["bad-interface" if len(body) >= 8 else "bad-caplen"] += 1
            return None
        wirelen = self._u32(body)[0]
        snaplen = self.interfaces[self._section[0][0]].snaplen
        caplen = min(wirelen, len(body) - 8, snaplen or wirelen)
        self._counts["spb"] += 1
        # No options: a block longer than the snaplen (the writer kept more than the interface says) holds packet
        # bytes there, which Wireshark cuts off at the snaplen, not an option list.
        return self._packet(body, 4, 0, None, caplen, wirelen, options=False)

    def _packet(self, body, start, local, units, caplen, wirelen, options: bool = True) -> RawFrame | None:
        """Build the frame, or count why the block's packet cannot be one (the walk goes on: framing is intact)."""
        end = len(body) - 4
        if local >= len(self._section) or start + caplen > end:
            self._counts["bad-interface" if local >= len(self._section) else "bad-caplen"] += 1
            return None
        global_id, linktype, *clock_args = self._section[local]
        padded = start + ((caplen + 3) & ~3)
        if options and padded < end:
            self._packet_options(body, padded, end)
        self.frame += 1
        ts_ns = 0 if units is None else to_ns(units, *clock_args)
        if not TS_MIN <= ts_ns <= TS_MAX:
            ts_ns = self._clamped(ts_ns)
        return RawFrame(self.frame, ts_ns, global_id, linktype, caplen, wirelen, body[start:start + caplen])

    def _packet_options(self, body: bytes, start: int, end: int) -> None:
        for code, value in self._options(body, start, end):
            if code == OPT_COMMENT:
                self.comments.append(f"frame {self.frame + 1}: {text(value)}")
                self.last_comment = (self.frame + 1, text(value))

    def _options(self, body: bytes, start: int, end: int | None = None) -> list[tuple[int, bytes]]:
        options = parse_options(body, start, len(body) - 4 if end is None else end, self.endian)
        if options is None:
            self._counts["bad-options"] += 1
            return []
        return options

    def _summarise_counts(self) -> None:
        """One warning per kind of skipped content, not one per block."""
        messages = {
            "bad-interface": "packet blocks name an interface that has no description; skipped",
            "bad-caplen": "packet blocks have a captured length larger than the block; skipped",
            "bad-options": "blocks have a malformed option list; their options ignored",
            "spb": "simple packet blocks carry no timestamp; shown at time 0 as Wireshark does",
            "ts-clamped": (f"packet blocks (the first: frame {self._first_clamped}) have timestamps beyond what "
                           "64-bit nanoseconds hold (years 1677 to 2262); set to the nearest limit"),
        }
        for key, count in self._counts.items():
            if count:
                self.warnings.append(f"{count} {messages[key]}")
