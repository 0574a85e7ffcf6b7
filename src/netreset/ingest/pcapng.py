"""The pcapng container (draft-ietf-opsawg-pcapng): a walk over self-framed blocks.

Written here rather than taken from dpkt because dpkt's reader honours only the first interface
description (kbandla/dpkt#681): a dumpcap file with two interfaces of different link types or
timestamp resolutions would be misread. Every section (SHB) may change the byte order and starts
a fresh interface table; interface ids in :class:`RawFrame` are global (file order of the IDBs), so
they equal the pcapng ids in the usual one-section file.

Each block repeats its length at the end, so a block with a bad packet inside can be skipped
safely; a bad *block length* cannot, and the walk stops there with a warning.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterator

from netreset.errors import CaptureError

from . import Interface, RawFrame
from .pcap import MAX_RECORD_BYTES

SHB, IDB, PB_OBSOLETE, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END, OPT_COMMENT = 0, 1
IF_NAME, IF_DESCRIPTION, IF_TSRESOL, IF_TSOFFSET = 2, 3, 9, 14


def parse_options(body: bytes | memoryview, start: int, endian: str) -> list[tuple[int, bytes]] | None:
    """(code, value) pairs of an option list; None when the list runs past its block (malformed)."""
    options = []
    pos, end = start, len(body)
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", body, pos)
        if code == OPT_END:
            return options
        if pos + 4 + length > end:
            return None
        options.append((code, bytes(body[pos + 4:pos + 4 + length])))
        pos += 4 + ((length + 3) & ~3)
    return options if pos == end else None


def text(value: bytes) -> str:
    """Option strings are untrusted: UTF-8 with replacement, trailing NULs from padding writers dropped."""
    return value.decode("utf-8", errors="replace").rstrip("\x00")


def ts_divisor(tsresol: int) -> int:
    """Timestamp units per second for an if_tsresol byte: 10**v, or 2**v when the top bit is set."""
    return 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol


class _Clock:
    """Exact integer conversion of one interface's timestamp units to ns since the epoch."""

    def __init__(self, divisor: int, offset_s: int):
        self.divisor = divisor
        self.multiplier = 1_000_000_000 // divisor if 1_000_000_000 % divisor == 0 else 0
        self.offset_ns = offset_s * 1_000_000_000

    def ns(self, units: int) -> int:
        if self.multiplier:
            return units * self.multiplier + self.offset_ns
        return units * 1_000_000_000 // self.divisor + self.offset_ns


class PcapngReader:
    """Walks a pcapng stream from its first byte; raises CaptureError only when the first SHB is unusable."""

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
        self._section: list[tuple[int, _Clock]] = []  # section-local id -> (global id, clock)
        self._counts = {"bad-interface": 0, "bad-caplen": 0, "bad-options": 0, "spb": 0}
        self._first = self._read_block()
        if self._first is None or self._first[0] != SHB:
            raise CaptureError(path, "garbage pcapng section header" + (f": {self.warnings[-1]}" if self.warnings else ""))
        self.endian = self._first[2]
        if not self._section_header(self._first[1]):
            raise CaptureError(path, f"unsupported pcapng section header: {self.warnings.pop()}")

    def frames(self) -> Iterator[RawFrame]:
        """Yield packets from EPB, SPB and obsolete PB blocks in file order; other blocks are read and skipped."""
        handlers = {EPB: self._epb, PB_OBSOLETE: self._pb, SPB: self._spb, IDB: self._idb}
        while (block := self._read_block()) is not None:
            btype, body, self.endian = block
            if btype == SHB and not self._section_header(body):
                self.warnings[-1] += "; stopped"
                break
            handler = handlers.get(btype)
            frame = handler(body) if handler else None
            if frame is not None:
                yield frame
        self._summarise_counts()

    def _read_block(self) -> tuple[int, memoryview, str] | None:
        """Next (type, body without header and trailer, byte order); None at EOF or at a framing error."""
        header = self.stream.read(8)
        if len(header) < 8:
            if header:
                self.warnings.append(f"truncated block header at offset {self.offset} ({len(header)} of 8 bytes); ignored")
            return None
        endian = getattr(self, "endian", "<")
        btype = struct.unpack_from(endian + "I", header)[0]
        if btype == SHB:
            magic = self.stream.read(4)
            header += magic
            endian = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}.get(bytes(magic))
            if endian is None:
                self.warnings.append(f"section header at offset {self.offset} has a bad byte-order magic; stopped")
                return None
        length = struct.unpack_from(endian + "I", header, 4)[0]
        if length < 12 + (len(header) - 8) or length % 4 or length > MAX_RECORD_BYTES:
            self.warnings.append(f"garbage block length {length} at offset {self.offset}; stopped after frame {self.frame}")
            return None
        if self.file_size is not None and self.offset + length > self.file_size:
            self.warnings.append(f"truncated last block at offset {self.offset} (needs {length} bytes, "
                                 f"{self.file_size - self.offset} left); ignored")
            return None
        rest = self.stream.read(length - len(header))
        if len(rest) < length - len(header):
            self.warnings.append(f"truncated last block at offset {self.offset} (needs {length} bytes); ignored")
            return None
        if struct.unpack_from(endian + "I", rest, len(rest) - 4)[0] != length:
            self.warnings.append(f"block at offset {self.offset}: trailing length differs from the leading one; "
                                 f"stopped after frame {self.frame}")
            return None
        self.offset += length
        body = memoryview(header[8:] + rest[:-4]) if btype == SHB else memoryview(rest)[:-4]
        return btype, body, endian

    def _section_header(self, body: memoryview) -> bool:
        """Start a new section (own byte order, fresh interface table, comments kept); False if unreadable."""
        if len(body) < 16:
            self.warnings.append(f"section header before offset {self.offset} is too short")
            return False
        major, minor = struct.unpack_from(self.endian + "HH", body, 4)
        if major != 1:
            self.warnings.append(f"section header before offset {self.offset} has version {major}.{minor}, not 1.x")
            return False
        self._section = []
        self.comments.extend(text(value) for code, value in self._options(body, 16) if code == OPT_COMMENT)
        return True

    def _idb(self, body: memoryview) -> None:
        """Record an interface: link type, snaplen, name, description and its timestamp clock."""
        if len(body) < 8:
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
        self._section.append((iface.id, _Clock(divisor, offset_s)))
        return None

    def _epb(self, body: memoryview) -> RawFrame | None:
        if len(body) < 20:
            self._counts["bad-caplen"] += 1
            return None
        local, ts_hi, ts_lo, caplen, wirelen = struct.unpack_from(self.endian + "IIIII", body)
        return self._packet(body, 20, local, (ts_hi << 32) | ts_lo, caplen, wirelen)

    def _pb(self, body: memoryview) -> RawFrame | None:
        if len(body) < 20:
            self._counts["bad-caplen"] += 1
            return None
        local, _drops, ts_hi, ts_lo, caplen, wirelen = struct.unpack_from(self.endian + "HHIIII", body)
        return self._packet(body, 20, local, (ts_hi << 32) | ts_lo, caplen, wirelen)

    def _spb(self, body: memoryview) -> RawFrame | None:
        """A simple packet: interface 0 of the section, no timestamp (0, as Wireshark shows it)."""
        if len(body) < 4 or not self._section:
            self._counts["bad-interface" if len(body) >= 4 else "bad-caplen"] += 1
            return None
        wirelen = struct.unpack_from(self.endian + "I", body)[0]
        snaplen = self.interfaces[self._section[0][0]].snaplen
        caplen = min(wirelen, len(body) - 4, snaplen or wirelen)
        self._counts["spb"] += 1
        return self._packet(body, 4, 0, None, caplen, wirelen)

    def _packet(self, body, start, local, units, caplen, wirelen) -> RawFrame | None:
        """Build the frame, or count why the block's packet cannot be one (the walk goes on: framing is intact)."""
        if local >= len(self._section):
            self._counts["bad-interface"] += 1
            return None
        if start + caplen > len(body):
            self._counts["bad-caplen"] += 1
            return None
        global_id, clock = self._section[local]
        end = start + caplen
        padded = start + ((caplen + 3) & ~3)
        if padded < len(body):
            self._packet_options(body, padded)
        self.frame += 1
        ts_ns = 0 if units is None else clock.ns(units)
        return RawFrame(self.frame, ts_ns, global_id, self.interfaces[global_id].linktype, caplen, wirelen,
                        bytes(body[start:end]))

    def _packet_options(self, body, start) -> None:
        for code, value in self._options(body, start):
            if code == OPT_COMMENT:
                self.comments.append(f"frame {self.frame + 1}: {text(value)}")

    def _options(self, body, start) -> list[tuple[int, bytes]]:
        options = parse_options(body, start, self.endian)
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
        }
        for key, count in self._counts.items():
            if count:
                self.warnings.append(f"{count} {messages[key]}")
