"""``--workers N``: decode independent capture files in parallel processes, merge them afterwards.

Each worker reads one whole file into its own table and address book. The parent re-interns every
file's addresses and option signatures into the run's book in file order — exactly the order in
which a sequential read would have met them — so the merged table (sorted by time as mergecap
would) is identical to the one :func:`netreset.ingest.files.read_capture_files` builds with one process.
Parallelism is per file: one big file is still read by one process.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Sequence

import numpy as np

from netreset.ingest.frames import IngestStats
from netreset.ingest.reader import read_capture
from netreset.packets.table import AddressBook, PacketTable

_ADDRESS_COLUMNS = ("src", "dst", "q_src", "q_dst", "outer_src", "outer_dst")


def _read_one(args: tuple[str, int, bool]) -> tuple[PacketTable, IngestStats]:
    path, file_id, verify = args
    return read_capture(path, file_id=file_id, verify_checksums=verify)


def rebase(table: PacketTable, book: AddressBook) -> PacketTable:
    """The same rows with address and signature ids of ``book`` (interned in the table's own id order)."""
    addr_map = np.array([book.intern(a) for a in table.book.addresses] + [-1], dtype=np.int32)
    sig_map = np.array([book.intern_signature(s) for s in table.book.signatures] + [-1], dtype=np.int32)
    columns = dict(table.columns)
    for name in _ADDRESS_COLUMNS:
        columns[name] = addr_map[columns[name]]  # -1 (absent) picks the trailing -1
    columns["options_sig"] = sig_map[columns["options_sig"]]
    return PacketTable(columns, book)


def read_files_parallel(paths: Sequence[str | os.PathLike], workers: int, book: AddressBook,
                        verify_checksums: bool = False) -> list[tuple[PacketTable, IngestStats]]:
    """(table, stats) per file in ``paths`` order, tables re-interned into ``book``."""
    jobs = [(os.fspath(p), i, verify_checksums) for i, p in enumerate(paths)]
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        results = list(pool.map(_read_one, jobs))
    return [(rebase(table, book), stats) for table, stats in results]
