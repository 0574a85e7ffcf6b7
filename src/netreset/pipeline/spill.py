"""Temporary files that keep a streamed analysis's memory flat: packet pieces and sorted record runs.

A streamed analysis (:mod:`netreset.pipeline.streamed`) produces its results piece by piece, but prints them in
capture order, and the pieces it keeps for the end grow with the capture. Both go to disk here:

* :class:`PieceStore` — packet tables written one file per piece, read back one at a time;
* :class:`RecordRuns` — plain records (dicts of str/int/float/None/lists, as the JSON outputs hold)
  with their sort keys, each piece's records sorted and appended as one *run*; iterating merges the runs by key
  (``heapq.merge``, stable: equal keys keep run order) while reading one record at a time, so a million
  findings print without ever being in memory together.

``pickle`` writes the records, in blocks: they are plain data of our own making, in a private directory
that lives only as long as the analysis (nothing untrusted is ever unpickled). Per block, because one
call per record costs more than the record; pickle, because ``marshal.load`` reads a file object in
small pieces and is several times slower here (docs/performance.md, "Design figures").
"""

from __future__ import annotations

import heapq
import json
import pickle
import os
import shutil
import tempfile
import weakref
from itertools import islice
from typing import Iterator

import numpy as np

from netreset.packets.table import AddressBook, PacketTable


class SpillDirectory:
    """A private temporary directory, removed when this object is garbage collected or at exit."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="netreset-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.path, True)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)


class PieceStore:
    """Packet tables (with one int64 array beside each) on disk, one file per piece (pickled columns:
    one open and one write per piece; a file per column paid an open per column), read back by index."""

    def __init__(self, directory: SpillDirectory, book: AddressBook) -> None:
        self.directory, self.book = directory, book
        self._pieces: list[str] = []
        self.sizes: list[int] = []  #: rows of each piece

    def __len__(self) -> int:
        return len(self._pieces)

    def add(self, table: PacketTable, extra: np.ndarray) -> None:
        """Write one piece; a constant column (a zero-stride view, see PacketTable) as its one value."""
        path = self.directory.file(f"piece-{len(self._pieces)}.pickle")
        columns = {name: _Constant(column[:1].copy(), len(column)) if len(column) and column.strides == (0,) else column
                   for name, column in table.columns.items()}
        with open(path, "wb") as f:
            pickle.dump((columns, extra), f, protocol=pickle.HIGHEST_PROTOCOL)
        self._pieces.append(path)
        self.sizes.append(len(table))

    def __iter__(self) -> Iterator[tuple[PacketTable, np.ndarray]]:
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index: int) -> tuple[PacketTable, np.ndarray]:
        with open(self._pieces[index], "rb") as f:
            columns, extra = pickle.load(f)
        columns = {name: np.broadcast_to(c.value, c.length) if isinstance(c, _Constant) else c
                   for name, c in columns.items()}
        return PacketTable(columns, self.book), extra


class _Constant:
    """A column with one value in every row, as a piece file stores it."""

    __slots__ = ("value", "length")

    def __init__(self, value: np.ndarray, length: int) -> None:
        self.value, self.length = value, length

    def __getstate__(self):
        return self.value, self.length

    def __setstate__(self, state) -> None:
        self.value, self.length = state


#: Records per pickle call; a merge holds one block per run in memory.
BLOCK = 512


class RecordRuns:
    """Records added in sorted runs of ``(key, record)`` pairs; iteration yields the records of all runs
    merged by key (see the module docstring). Keys are tuples or numbers (comparable). Runs written by
    other processes join with :meth:`adopt`; equal keys come out in the order the runs were added."""

    def __init__(self, directory: SpillDirectory, name: str) -> None:
        self.path = directory.file(f"{name}.runs")
        self._runs: list[tuple[str, int, int]] = []  # (path, offset, count)
        self._count = 0
        with open(self.path, "wb"):
            pass

    def add_run(self, pairs: list[tuple]) -> tuple[str, int, int] | None:
        """Append one run of (key, record) pairs (sorted here, stably, by key), in blocks of :data:`BLOCK`;
        returns where it lies (None for no pairs)."""
        if not pairs:
            return None
        pairs = sorted(pairs, key=_first)
        with open(self.path, "ab") as f:
            offset = f.tell()
            for start in range(0, len(pairs), BLOCK):
                pickle.dump(pairs[start:start + BLOCK], f, protocol=pickle.HIGHEST_PROTOCOL)
        return self.adopt((self.path, offset, len(pairs)))

    def adopt(self, run: tuple[str, int, int] | None) -> tuple[str, int, int] | None:
        """Take a run that :meth:`add_run` wrote (here or in another process, same directory)."""
        if run is not None:
            self._runs.append(run)
            self._count += run[2]
        return run

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator:
        """The records, merged; a record stored as JSON text (see :meth:`json_items`) is parsed back."""
        for record in self._merged():
            yield json.loads(record) if isinstance(record, str) else record

    def json_items(self) -> Iterator[str]:
        """The records as stored: for runs of JSON texts (records encoded where they were made, e.g. by
        :func:`netreset.records.json.encode_item` in a worker), the texts themselves, unparsed."""
        return self._merged()

    def _merged(self) -> Iterator:
        merged = heapq.merge(*(self._read(*run) for run in self._runs), key=_first)
        return (record for _, record in merged)

    def __getitem__(self, index: slice) -> list:
        """A slice of the merged records (for a text summary's first few findings)."""
        if not isinstance(index, slice) or (index.step or 1) != 1 or (index.start or 0) < 0 or \
                (index.stop is not None and index.stop < 0):
            raise TypeError("RecordRuns supports forward slices only")
        return list(islice(iter(self), index.start or 0, index.stop))

    @staticmethod
    def _read(path: str, offset: int, count: int) -> Iterator:
        with open(path, "rb") as f:
            f.seek(offset)
            while count > 0:
                block = pickle.load(f)
                count -= len(block)
                yield from block


def _first(pair: tuple):
    return pair[0]
