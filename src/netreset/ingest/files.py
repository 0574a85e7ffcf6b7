"""Several capture files → one packet table, merged as mergecap would (e.g. both vantage points of a reset).

The multi-file entry point sits above the two ways of reading the files: one after another in this
process (:mod:`netreset.ingest.reader`, with a progress hook) or in worker processes
(:mod:`netreset.ingest.parallel`, which itself reads each file with the reader). Keeping it out of
the reader lets the imports run one way: files → parallel → reader.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from netreset.ingest.frames import IngestStats
from netreset.ingest.reader import iter_capture
from netreset.packets.table import AddressBook, PacketTable


def read_capture_files(paths: Sequence[str | os.PathLike], *, book: AddressBook | None = None,
                       verify_checksums: bool = False, workers: int = 1,
                       progress=None) -> tuple[PacketTable, IngestStats]:
    """Read several captures into one table in capture order: each file's frames in file order (as
    Wireshark and Zeek walk them, whatever their timestamps), several files merged by time as mergecap
    merges them (:func:`capture_order`; read the merged file with Wireshark to see the same numbers).

    File ``i`` of ``paths`` gets ``file_id`` ``i``; the statistics are summed over all files.
    ``workers`` > 1 decodes the files in that many processes (:mod:`netreset.ingest.parallel`; same
    answer). ``progress``, when given, is called as ``progress(file_id, bytes_read, packets)`` after each
    chunk of a file read in this process.
    """
    book = book if book is not None else AddressBook()
    merged = IngestStats()  # each file's stats, its path included, are merged in below
    if workers > 1 and len(paths) > 1:
        from netreset.ingest.parallel import read_files_parallel  # only --workers pays multiprocessing's import

        results = read_files_parallel(paths, workers, book, verify_checksums)
    else:
        results = [_read_with_progress(path, file_id, book, verify_checksums, progress)
                   for file_id, path in enumerate(paths)]
    formats: list[str] = []
    for _table, stats in results:
        merged.merge(stats)
        if stats.file_format not in formats:
            formats.append(stats.file_format)
    merged.file_format = ",".join(formats)
    table = PacketTable.concat([t for t, _ in results], book)
    return table.take(capture_order(table)), merged


def capture_order(table: PacketTable) -> np.ndarray:
    """The rows of ``table`` (one or several files, each in frame order) in the order mergecap writes them.

    mergecap (wiretap's merge) repeatedly writes the earliest *next* frame among the files — on a tie
    the frame of the later file (its ``is_earlier`` holds for equal times, and the last file asked
    wins) — and never reorders one file. That is a sort by the running maximum of each file's
    timestamps: a frame that steps back in time follows the frame before it at once (every other
    file's next frame is at least as late as that frame, or it would have been written first), while
    a frame in time order competes with its own timestamp. One file: file order.
    """
    n = len(table)
    if not n:
        return np.zeros(0, dtype=np.int64)
    file_id, frame, ts = table.file_id, table.frame, table.ts_ns
    by_file = np.lexsort((frame, file_id))  # each file's rows in frame order, file after file
    fid, stamp = file_id[by_file], ts[by_file]
    starts = np.flatnonzero(np.r_[True, fid[1:] != fid[:-1]])
    if len(starts) == 1:
        return by_file
    running = np.empty(n, dtype=np.int64)
    for a, b in zip(starts.tolist(), np.r_[starts[1:], n].tolist()):
        np.maximum.accumulate(stamp[a:b], out=running[a:b])
    return by_file[np.lexsort((frame[by_file], -fid.astype(np.int64), running))]


def _read_with_progress(path, file_id: int, book: AddressBook, verify: bool, progress) -> tuple[PacketTable, IngestStats]:
    stream = iter_capture(path, file_id=file_id, book=book, verify_checksums=verify)
    chunks = []
    for chunk in stream:
        chunks.append(chunk)
        if progress is not None:
            progress(file_id, stream.bytes_read, stream.stats.frames_total)
    if progress is not None:
        progress(file_id, stream.bytes_read, stream.stats.frames_total)
    return PacketTable.concat(chunks, stream.book), stream.stats
