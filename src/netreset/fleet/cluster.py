"""``netreset fleet``: every capture a task on Dask distributed, the summaries merged on the client.

By default a :class:`distributed.LocalCluster` of worker processes on this machine (one thread each: the
analysis is CPU-bound Python); with a scheduler address, the same code on an existing cluster. Each
task is :func:`netreset.fleet.tasks.analyse_capture`: the worker reads the capture (so every worker must
see the capture store at the same path), writes its Parquet files and returns a summary of a few
hundred bytes. A worker that dies mid-task is Dask's to handle: the scheduler gives the task to another
worker (up to ``distributed.scheduler.allowed-failures`` times), and the retry rewrites the capture's
files (idempotent writes, :mod:`netreset.store.dataset`), so nothing is counted twice.
"""

from __future__ import annotations

import glob
import hashlib
import os
from pathlib import Path
from typing import Callable, Iterable

from netreset.errors import NetresetError, UsageError
from netreset.fleet.devices import fleet_document
from netreset.fleet.tasks import analyse_capture
from netreset.ingest.paths import CAPTURE_SUFFIXES, is_capture_name
from netreset.pipeline.whole import Options



def fleet_paths(paths: Iterable[str]) -> list[str]:
    """Capture files from files, directories (searched recursively) and globs (``**`` allowed), in order, once each."""
    found: list[str] = []
    for raw in paths:
        if any(ch in raw for ch in "*?[") and not os.path.exists(raw):
            matches = sorted(glob.glob(raw, recursive=True))
            if not matches:
                raise UsageError(f"{raw}: no file matches")
            found.extend(m for m in matches if os.path.isfile(m))
        elif os.path.isdir(raw):
            inside = sorted(str(p) for p in Path(raw).rglob("*") if is_capture_name(p))
            if not inside:
                raise UsageError(f"{raw}: directory holds no capture files ({', '.join(CAPTURE_SUFFIXES[:3])})")
            found.extend(inside)
        else:
            found.append(raw)
    return list(dict.fromkeys(found))


def task_key(path: str) -> str:
    """The Dask key of a capture's task: the same path is the same task (Dask runs it once)."""
    return "netreset-capture-" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:16]


def run_local(paths: list[str], root: str, options: Options, *, node=None, node_from=None,
              done: Callable[[dict], None] | None = None) -> dict:
    """``netreset export``: the same tasks one after the other in this process."""
    summaries = []
    for path in paths:
        summary = analyse_capture(path, root, options, node, node_from)
        summaries.append(summary)
        if done is not None:
            done(summary)
    return fleet_document(summaries)


def run_dask(paths: list[str], root: str, options: Options, *, node=None, node_from=None, workers: int | None = None,
             scheduler: str | None = None, done: Callable[[dict], None] | None = None) -> dict:
    """``netreset fleet``: one task per capture on Dask; the fleet summary document."""
    from distributed import Client, LocalCluster, as_completed

    root = os.path.abspath(root)
    options = Options(**{**options.__dict__, "workers": 1})  # Dask spreads the captures; a task is one process
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as err:
                raise NetresetError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
            except ValueError as err:  # not an address Dask reads
                raise UsageError(f"--scheduler {scheduler}: {err}") from None
        else:
            cluster = LocalCluster(n_workers=workers or min(os.cpu_count() or 1, 4), threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
        with client:
            futures = [client.submit(analyse_capture, os.path.abspath(p), root, options, node, node_from,
                                     key=task_key(p), pure=False) for p in paths]
            summaries = []
            for future in as_completed(futures):
                try:
                    summary = future.result()
                except Exception as err:  # the task itself failed (KilledWorker after repeated deaths, …)
                    path = paths[futures.index(future)]
                    summary = {"path": os.path.abspath(path), "error": f"{path}: {type(err).__name__}: {err}"}
                summaries.append(summary)
                if done is not None:
                    done(summary)
    finally:
        if cluster is not None:
            cluster.close()
    return fleet_document(summaries)
