"""One capture file → packet tables: the container reader and the frame decoder joined.

Two entry points, one loop: :func:`iter_capture` streams a file in chunks of rows (so memory stays
flat on big captures) and :func:`read_capture` collects one file into one table. Several files
merged into one table are :mod:`netreset.ingest.files`' business.
"""

from __future__ import annotations

import os
from typing import Iterator

import numpy as np

from netreset.ingest.frames import IngestStats
from netreset.ingest.containers.open import open_frames
from netreset.ingest.layers.decode import Decoder
from netreset.packets.table import AddressBook, PacketTable, PacketTableBuilder

DEFAULT_CHUNK_ROWS = 65536


class CaptureStream:
    """Iterable of :class:`PacketTable` chunks of one capture; ``stats`` is complete once iteration ends.

    Opening the file is deferred to the first ``next()``, so a :class:`~netreset.errors.CaptureError`
    for an unreadable file is raised there.
    """

    def __init__(self, path: str | os.PathLike, *, file_id: int = 0, book: AddressBook | None = None,
                 verify_checksums: bool = False, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 compiled: bool | None = None) -> None:
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        self.path = os.fspath(path)
        self.file_id = file_id
        self.book = book if book is not None else AddressBook()
        self.verify_checksums = verify_checksums
        self.chunk_rows = chunk_rows
        self.compiled = compiled  #: None: the compiled path when it pays (netreset.runtime.compiled); True/False: forced
        self.stats = IngestStats(paths=[self.path])
        self._position = lambda: 0

    @property
    def bytes_read(self) -> int:
        """Bytes of the file consumed so far (for a progress bar)."""
        return self._position()

    def __iter__(self) -> Iterator[PacketTable]:
        order = TimeOrder()
        for chunk in self._chunks():
            order.see(chunk)
            yield chunk
        warning = order.warning()
        if warning:
            self.stats.warnings.append(f"{self.path}: {warning}")

    def _chunks(self) -> Iterator[PacketTable]:
        stats = self.stats
        if self.compiled is not False and not self.verify_checksums:
            from netreset.ingest.compiled.reader import open_compiled

            chunks = open_compiled(self.path, file_id=self.file_id, book=self.book, stats=stats,
                               chunk_rows=self.chunk_rows, force=self.compiled)
            if chunks is not None:
                self._position = lambda: chunks.bytes_done
                yield from chunks
                return
        builder = PacketTableBuilder(self.book)
        decoder = Decoder(self.book, stats, file_id=self.file_id, verify_checksums=self.verify_checksums)
        with open_frames(self.path) as source:
            self._position = lambda: source.bytes_read
            stats.file_format = source.file_format
            for chunk in _decode_frames(source, decoder, builder, self.chunk_rows):
                yield chunk
            stats.interfaces = list(source.interfaces)
            stats.comments = list(source.comments)
            stats.warnings.extend(source.warnings)
        if len(builder):
            yield builder.build()


class TimeOrder:
    """Where a file's timestamps go back, chunk after chunk: the steps, the first one and the biggest.

    Wireshark and Zeek walk a file in frame order whatever its timestamps say (Zeek's clock never
    goes back: it takes the newest time seen), and so does netreset; a step back is said once, with
    the frames it is between, so the user knows the times of that file cannot all be trusted."""

    def __init__(self) -> None:
        self.last_ts: int | None = None
        self.last_frame = 0
        self.steps = 0
        self.first: tuple[int, int, int] | None = None  #: (frame before, frame, ns back)
        self.biggest: tuple[int, int, int] | None = None

    def see(self, chunk: PacketTable) -> None:
        if not len(chunk):
            return
        ts, frame = chunk.ts_ns, chunk.frame
        before = np.r_[ts[:1] if self.last_ts is None else [self.last_ts], ts[:-1]]
        back = np.flatnonzero(ts < before)
        if len(back):
            frames_before = np.r_[[self.last_frame], frame[:-1]]
            gaps = before[back] - ts[back]
            self.steps += len(back)
            if self.first is None:
                i = int(back[0])
                self.first = (int(frames_before[i]), int(frame[i]), int(gaps[0]))
            j = int(np.argmax(gaps))
            if self.biggest is None or int(gaps[j]) > self.biggest[2]:
                i = int(back[j])
                self.biggest = (int(frames_before[i]), int(frame[i]), int(gaps[j]))
        self.last_ts, self.last_frame = int(ts[-1]), int(frame[-1])

    def warning(self) -> str | None:
        if not self.steps:
            return None
        before, frame, back = self.first
        text = (f"timestamps go back {self.steps} time{'s' if self.steps > 1 else ''}: frame {frame} is "
                f"{_duration(back)} before frame {before}")
        if self.steps > 1 and self.biggest != self.first:
            b_before, b_frame, b_back = self.biggest
            text += f" (the biggest step: frame {b_frame}, {_duration(b_back)} before frame {b_before})"
        elif self.steps > 1:
            text += " (the biggest step)"
        return text + "; analysed in capture order, as Wireshark and Zeek do"


def _duration(ns: int) -> str:
    """``3.2 ms``, ``7.0 s``, ``4.1 days``, ``21.0 years``."""
    seconds = ns / 1e9
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("s", 1)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-3 else f"{ns / 1e3:.3g} us"


def _decode_frames(source, decoder: Decoder, builder: PacketTableBuilder, chunk_rows: int):
    """The hot loop: decode every frame, append rows, hand out a chunk whenever it is full."""
    decode = decoder.decode
    append = builder.append
    stats = decoder.stats
    count = 0
    for frame in source:
        count += 1
        row = decode(frame)
        if row.__class__ is not str:
            if row.__class__ is dict:
                append(row)
            else:  # an A-MSDU's rows, one per subframe
                for one in row:
                    append(one)
            if len(builder) >= chunk_rows:
                stats.frames_total = count
                yield builder.build()
    stats.frames_total = count


def iter_capture(path: str | os.PathLike, *, file_id: int = 0, book: AddressBook | None = None,
                 verify_checksums: bool = False, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 compiled: bool | None = None) -> CaptureStream:
    """Stream a capture as table chunks of at most ``chunk_rows`` rows; read ``.stats`` afterwards."""
    return CaptureStream(path, file_id=file_id, book=book, verify_checksums=verify_checksums,
                         chunk_rows=chunk_rows, compiled=compiled)


def read_capture(path: str | os.PathLike, *, file_id: int = 0, book: AddressBook | None = None,
                 verify_checksums: bool = False, compiled: bool | None = None) -> tuple[PacketTable, IngestStats]:
    """Read one capture file into one table (rows in file order) and its ingest statistics."""
    stream = iter_capture(path, file_id=file_id, book=book, verify_checksums=verify_checksums, compiled=compiled)
    table = PacketTable.concat(list(stream), stream.book)
    return table, stream.stats
