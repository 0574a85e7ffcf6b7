"""The Parquet dataset on disk: one file per capture, table and partition, written so that a retry is harmless.

Layout (hive partitioning, which pyarrow, DuckDB, Spark and pandas read as columns ``node`` and ``day``)::

    DIR/<table>/node=<node>/day=<YYYY-MM-DD>/<capture sha256>.parquet

Writing one capture is *idempotent*: its files are named by its content, each is written to a hidden
temporary name (``.<name>.tmp-<random>``, which readers skip) and renamed into place, and before anything
is written the capture's files from an earlier attempt are removed from every partition (an earlier run
may have named its node differently). Its ``captures`` row is written last, so a capture is in the
``captures`` table only when all its rows are. A worker killed in the middle of a capture leaves at most
a temporary file and some of the capture's files; the retry removes them and writes them all again, so
no row is ever there twice.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from netreset.store.capture import CaptureRecords
from netreset.store.schema import TABLES, arrow_schema, arrow_table


def write_capture(root, records: CaptureRecords) -> dict[str, int]:
    """Write one capture's tables under ``root``; table → rows written."""
    root = Path(root)
    remove_capture(root, records.capture)
    written = {}
    for table in TABLES:
        rows = records.tables.get(table)
        if not rows:
            continue
        days = records.days[table]
        for day in sorted(set(days)):
            part = [r for r, d in zip(rows, days) if d == day]
            folder = root / table / f"node={records.node}" / f"day={day}"
            _replace(folder, f"{records.capture}.parquet", arrow_table(table, part, records.capture))
        written[table] = len(rows)
    return written


def remove_capture(root, capture: str) -> None:
    """Remove every file of ``capture`` (all tables, all partitions), the captures row first."""
    root = Path(root)
    for table in ("captures",) + tuple(t for t in TABLES if t != "captures"):
        for old in (root / table).glob(f"node=*/day=*/{capture}.parquet"):
            old.unlink(missing_ok=True)


def _replace(folder: Path, name: str, table: pa.Table) -> None:
    """Write ``table`` to ``folder/name`` atomically (a temporary file renamed over it)."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{name}.tmp-{uuid.uuid4().hex}"
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, folder / name)
    finally:
        temporary.unlink(missing_ok=True)


def read_table(root, table: str, filter=None) -> pa.Table:
    """Every row of ``table`` in the dataset at ``root``, with ``node`` and ``day`` as string columns.

    The schema is this version's (:func:`~netreset.store.schema.arrow_schema`) plus any columns the files
    add (newer fields), so files written before a field existed read with nulls there."""
    folder = Path(root) / table
    schema = arrow_schema(table)
    partitions = pa.schema([("node", pa.string()), ("day", pa.string())])
    files = sorted(str(p) for p in folder.glob("node=*/day=*/*.parquet")) if folder.is_dir() else []
    if not files:
        return pa.Table.from_batches([], schema=_with_partitions(schema, partitions))
    for extra in {f.name: f for path in files for f in pq.read_schema(path) if f.name not in schema.names}.values():
        schema = schema.append(extra)
    dataset = ds.dataset(files, schema=_with_partitions(schema, partitions), format="parquet",
                         partitioning=ds.partitioning(partitions, flavor="hive"), partition_base_dir=str(folder))
    return dataset.to_table(filter=filter)


def _with_partitions(schema: pa.Schema, partitions: pa.Schema) -> pa.Schema:
    for f in partitions:
        schema = schema.append(f)
    return schema.with_metadata(schema.metadata)
