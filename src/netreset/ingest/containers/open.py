"""Open a capture file whatever its container — pcap, nanosecond pcap, pcapng, Network Monitor 1.x/2.x,
any of them gzipped — and stream its frames as :class:`~netreset.ingest.RawFrame` records with bounded memory.

Only this module touches the file system. It decides the format from the first bytes (never the
file name), turns "cannot read this at all" into one :class:`CaptureError` line, and turns damage
found later (a truncated last record, a corrupt gzip tail) into a warning: everything read before
the damage is kept, because a half-written capture from a crashed dumpcap is still evidence.

A capture in a format only Wireshark reads (snoop, ERF, …) raises :class:`UnsupportedFormat`, which the
pipeline answers by reading the file through tshark. A Windows event trace (``.etl``, what ``netsh
trace`` and ``pktmon`` write) is no capture at all: its error names the conversion and its pitfalls.
pcapng files converted from pktmon logs carry each packet once per component it crossed;
:mod:`netreset.ingest.containers.duplicates` counts each packet once.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from typing import BinaryIO, Iterator

from netreset.errors import CaptureError, UnsupportedFormat

from netreset.ingest.frames import Interface, RawFrame
from netreset.ingest.containers.duplicates import drop_component_duplicates, holds_duplicates
from netreset.ingest.containers.netmon import MAGICS as NETMON_MAGICS, NetmonReader
from netreset.ingest.containers.pcap import PCAP_MAGICS, PcapReader
from netreset.ingest.containers.pcapng import PcapngReader, section_header_text

GZIP_MAGIC = b"\x1f\x8b"
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_BUFFER = 1 << 20

#: First bytes of files people mistake for captures, and what to tell them.
KNOWN_NON_CAPTURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive; extract the capture first"),
    (b"\xfd7zXZ\x00", "an xz-compressed file; decompress it first (only gzip is read directly)"),
    (b"BZh", "a bzip2-compressed file; decompress it first (only gzip is read directly)"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file; decompress it first (only gzip is read directly)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive; extract the capture first"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"%PDF", "a PDF document"),
)

#: First bytes of captures that Wireshark reads and netreset does not (read through tshark when present):
#: magic, what it is, and the name ``file_format`` gives it (editcap's -F name).
TSHARK_FORMATS: tuple[tuple[bytes, str, str], ...] = (
    (b"snoop\x00\x00\x00", "a Solaris snoop capture", "snoop"),
    (b"XCP\x00", "a NetXRay / Windows Sniffer capture", "netxray"),
    (b"TRSNIFF data    \x1a", "a DOS Sniffer capture", "ngsniffer"),
    (b"ObserverPktBuffer", "a Viavi Observer capture", "observer"),
    (b"btsnoop\x00", "a Bluetooth btsnoop capture", "btsnoop"),
)


def format_name(head: bytes) -> str:
    """The ``file_format`` name of a capture from its first bytes (uncompressed): "pcap", "pcap-ns",
    "pcapng", "netmon1", "netmon2", a tshark-only format's name, or "other"."""
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    if head[:4] in PCAP_MAGICS:
        return PCAP_MAGICS[head[:4]][3]
    if head[:4] in NETMON_MAGICS and len(head) > 5:
        return f"netmon{head[5]}"
    return next((name for magic, _kind, name in TSHARK_FORMATS if head.startswith(magic)), "other")


#: The one line for an Event Tracing for Windows log: what to run on Windows, and what to watch for.
ETL_ADVICE = (
    "not a packet capture: it is a Windows event trace (.etl, as `netsh trace` and `pktmon` write); convert it "
    "on Windows with `etl2pcapng in.etl out.pcapng` (netsh trace) or `pktmon etl2pcap in.etl --out out.pcapng` "
    "(pktmon) — pktmon keeps only the first 128 bytes of each packet unless started with `--pkt-size 0`, and "
    "logs a packet once per component it crosses (netreset counts each packet once)"
)


def looks_like_etl(head: bytes) -> bool:
    """An ETW log starts with a 72-byte WMI buffer header, then the system trace header of the log-file
    header event: marker flags 0xC0 with header type 1 or 2 (32/64-bit), hook "header group, info" (0, 0)."""
    if len(head) < 80:
        return False
    buffer_size, saved_offset = struct.unpack_from("<II", head)
    return (72 < saved_offset <= buffer_size <= 1 << 30 and head[74] in (1, 2) and head[75] == 0xC0
            and head[78:80] == b"\x00\x00")


def describe_start(head: bytes) -> str:
    """Say what a non-capture file looks like, from its first bytes, in a few words."""
    if looks_like_etl(head):
        return ETL_ADVICE
    for magic, what in KNOWN_NON_CAPTURES:
        if head.startswith(magic):
            return f"not a capture file: it looks like {what}"
    sample = head[:16]
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in sample)
    if sample and printable == len(sample):
        shown = sample.decode("ascii").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
        return f"not a capture file (starts with text {shown!r})"
    return f"not a capture file (starts with bytes {sample[:8].hex(' ')})"


def open_frames(path: str | os.PathLike, *, tap: bool = False) -> "FrameSource":
    """Open ``path`` and read its container header; raise CaptureError if it is not a readable capture.
    ``tap``: keep the container bytes the reader consumes (:class:`Tap`), for a copy of the file's blocks."""
    return FrameSource(os.fspath(path), tap=tap)


def holds_component_duplicates(path: str | os.PathLike) -> bool:
    """Whether reading ``path`` drops pktmon-style duplicates (see :mod:`~netreset.ingest.containers.duplicates`):
    the compiled path, which does not look for them, leaves such a file to the plain reader."""
    with open_frames(path) as source:
        reader = source._reader
        return isinstance(reader, PcapngReader) and holds_duplicates(reader.frames(), reader)


def section_header(path: str | os.PathLike, limit: int = 1 << 16) -> dict[str, str]:
    """The machine descriptions of a pcapng file's first section header (:func:`section_header_text`),
    gzipped or not; {} for other formats and for a header longer than ``limit`` bytes."""
    raw = _open_raw(os.fspath(path))
    with raw:
        head = raw.read(limit)
        if head[:2] == GZIP_MAGIC:
            raw.seek(0)
            head = Gunzip(raw).read(limit) or b""
    return section_header_text(head)


class FrameSource:
    """An open capture: iterate it for frames; ``file_format``, ``interfaces``, ``comments`` and
    ``warnings`` describe it (pcapng interfaces and comments grow as the walk meets them).

    Use as a context manager (or call :meth:`close`). Iterating twice is not supported: the file is
    streamed, not held in memory.
    """

    def __init__(self, path: str, *, tap: bool = False):
        self.path = path
        self._raw = _open_raw(path)
        self._gunzip: Gunzip | None = None
        self.tap: Tap | None = None  #: the bytes a pcapng reader consumed, when opened with ``tap``
        try:
            self.file_size = os.fstat(self._raw.fileno()).st_size
            self._stream = self._decompressor()
            if tap and self._stream.peek(4)[:4] == PCAPNG_MAGIC:
                self._stream = self.tap = Tap(self._stream)
            self._reader = self._make_reader()
        except BaseException:
            self._raw.close()
            raise
        self._consumed = False

    @property
    def file_format(self) -> str:
        return self._reader.file_format + ("+gzip" if self._gunzip else "")

    @property
    def interfaces(self) -> list[Interface]:
        return self._reader.interfaces

    @property
    def comments(self) -> list[str]:
        return self._reader.comments

    @property
    def warnings(self) -> list[str]:
        return self._reader.warnings

    @property
    def bytes_read(self) -> int:
        """Bytes of the file on disk consumed so far (compressed bytes for gzip): for a progress bar.
        A NetMon file is read in frame-table order, not file order: its share of frames read stands in."""
        if self._raw.closed:
            return self.file_size
        if isinstance(self._reader, NetmonReader):
            return int(self.file_size * self._reader.fraction_done())
        return min(self._raw.tell(), self.file_size)

    @property
    def reader(self) -> PcapReader | PcapngReader | NetmonReader:
        """The container reader (its byte order, interfaces and ``offset`` of whole blocks read)."""
        return self._reader

    def __iter__(self) -> Iterator[RawFrame]:
        return self._frames(deduplicate=True)

    def every_frame(self) -> Iterator[RawFrame]:
        """Every frame the container holds, pktmon's per-component duplicates included (a copy of the
        file keeps them all; their frame numbers are the ones iteration gives, which skips them)."""
        return self._frames(deduplicate=False)

    def _frames(self, deduplicate: bool) -> Iterator[RawFrame]:
        if self._consumed:
            raise RuntimeError("a FrameSource can be iterated only once")
        self._consumed = True
        frames = self._reader.frames()
        if deduplicate and isinstance(self._reader, PcapngReader):
            frames = drop_component_duplicates(frames, self._reader)
        try:
            yield from frames
        except OSError as exc:  # a failing disk or network share: keep what was read
            self.warnings.append(f"stopped reading after frame {self._reader.frame}: {_reason(exc)}")
        if self._gunzip and self._gunzip.problem:
            self.warnings.append(f"{self._gunzip.problem}; frames up to {self._reader.frame} kept")

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._stream.close()
        self._raw.close()

    def _decompressor(self) -> BinaryIO:
        """The stream to parse: the file itself, or a gzip view of it (detected by magic, not by name)."""
        head = self._raw.peek(4)[:4]
        if not head:
            raise CaptureError(self.path, "empty file")
        if not head.startswith(GZIP_MAGIC):
            return self._raw
        self._gunzip = Gunzip(self._raw)
        stream = io.BufferedReader(self._gunzip, buffer_size=_BUFFER)
        if not stream.peek(1) and self._gunzip.problem:
            raise CaptureError(self.path, f"gzip-compressed, but the gzip data is unreadable: {self._gunzip.problem}")
        return stream

    def _make_reader(self) -> PcapReader | PcapngReader | NetmonReader:
        """Pick the container reader from the magic; it parses the file header or raises CaptureError
        (:class:`UnsupportedFormat` for what tshark may read)."""
        head = self._stream.peek(80)[:80]
        # For gzip the uncompressed size is unknown; readers then rely on short reads to find the end.
        size = None if self._gunzip else self.file_size
        if head[:4] == PCAPNG_MAGIC:
            return PcapngReader(self.path, self._stream, size)
        if head[:4] in PCAP_MAGICS:
            return PcapReader(self.path, self._stream, size)
        if head[:4] in NETMON_MAGICS:
            return NetmonReader(self.path, self._stream, size, restart=self._restart if self._gunzip else None)
        if self._gunzip and not head:
            raise CaptureError(self.path, "gzip-compressed, but empty inside")
        if len(head) < 4:
            raise CaptureError(self.path, f"too short to be a capture ({len(head)} bytes)")
        prefix = "gzip-compressed, but " if self._gunzip else ""
        for magic, kind, _name in TSHARK_FORMATS:
            if head.startswith(magic):
                raise UnsupportedFormat(self.path, f"{prefix}{kind}, which netreset does not read itself: install "
                                        "tshark (netreset then reads it through tshark) or convert it with "
                                        "`editcap -F pcapng`", kind)
        what = describe_start(head)
        if what.startswith("not a capture file (starts with"):  # unrecognised: perhaps a format tshark reads
            raise UnsupportedFormat(self.path, prefix + what)
        raise CaptureError(self.path, prefix + what)

    def _restart(self) -> BinaryIO:
        """The gzip stream again from its first byte (a NetMon file read in frame order may need it)."""
        self._raw.seek(0)
        self._gunzip = Gunzip(self._raw)
        self._stream = io.BufferedReader(self._gunzip, buffer_size=_BUFFER)
        return self._stream


class Tap:
    """A stream that keeps every byte read through it until :meth:`take`: put under a pcapng reader, it
    holds the blocks read since the last frame, ending with that frame's own block — so the blocks can be
    copied exactly as the file spells them while the reader decides which of them are frames."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._kept = bytearray()
        self.taken = 0  #: bytes handed out by :meth:`take` so far

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._kept += data
        return data

    def peek(self, size: int = 0) -> bytes:
        return self._stream.peek(size)

    def take(self, size: int | None = None) -> bytes:
        """The first ``size`` bytes kept (all by default), forgotten here."""
        size = len(self._kept) if size is None else size
        data = bytes(self._kept[:size])
        del self._kept[:size]
        self.taken += len(data)
        return data

    def close(self) -> None:
        self._stream.close()


class Gunzip(io.RawIOBase):
    """Streaming gzip (multi-member, zero padding allowed) that hands over every byte it could inflate.

    :class:`gzip.GzipFile` raises at a damaged or cut tail and drops what its buffers held; a capture
    copied while still being written is exactly such a file, so here damage ends the stream quietly
    and is described in ``problem`` instead.
    """

    CHUNK = 1 << 16  #: compressed bytes read from the file at a time
    STEP = 1 << 16  #: most decompressed bytes produced by one zlib call

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._inflate = zlib.decompressobj(wbits=31)
        self._input = b""
        self.problem: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self.problem is None:
            data = self._inflate_some(len(buffer))
            if data is None:
                break
            if data:
                buffer[:len(data)] = data
                return len(data)
        return 0

    def _inflate_some(self, limit: int) -> bytes | None:
        """Up to ``limit`` more bytes (possibly none yet); None at the end of the data or at damage."""
        if self._inflate.eof and not self._next_member():
            return None
        if not self._input:
            self._input = self._raw.read(self.CHUNK)
            if not self._input:
                tail = self._inflate.flush()
                if not tail:
                    self.problem = "the gzip data is cut short (no end-of-stream marker)"
                return tail or None
        try:
            # zlib drops a failing call's whole output, so inflate in small steps to lose little at damage.
            data = self._inflate.decompress(self._input, min(limit, self.STEP))
        except zlib.error as exc:
            self.problem = f"corrupt gzip data ({_reason(exc)})"
            return None
        self._input = self._inflate.unconsumed_tail
        return data

    def _next_member(self) -> bool:
        """After one gzip member ends: skip zero padding; True if another member follows."""
        rest = self._inflate.unused_data.lstrip(b"\0")
        while not rest:
            chunk = self._raw.read(self.CHUNK)
            if not chunk:
                return False
            rest = chunk.lstrip(b"\0")
        self._inflate = zlib.decompressobj(wbits=31)
        self._input = rest
        return True


def _open_raw(path: str) -> BinaryIO:
    """Open for buffered binary reading, mapping the OS's refusals to one readable line."""
    if os.path.isdir(path):
        raise CaptureError(path, "is a directory, not a capture file")
    try:
        return open(path, "rb", buffering=_BUFFER)
    except FileNotFoundError:
        raise CaptureError(path, "no such file") from None
    except PermissionError:
        raise CaptureError(path, "permission denied") from None
    except OSError as exc:
        raise CaptureError(path, f"cannot open: {exc.strerror or exc}") from None


def _reason(exc: BaseException) -> str:
    """One line from an I/O or decompression error (they are sometimes multi-line or empty)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
