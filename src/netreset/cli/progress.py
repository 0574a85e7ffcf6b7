"""A progress bar on stderr while captures are read: packets/s and an ETA from the bytes still to read.

Only the CLI creates one. It stays silent when stderr is not a terminal (pipes, CI logs, tests) or the
user asked for quiet, so it never mixes with data on stdout or with machine-read stderr.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator, Sequence


@contextmanager
def reading_progress(paths: Sequence[os.PathLike | str], quiet: bool = False, stream=None) -> Iterator:
    """Yield a hook ``hook(file_id, bytes_read, packets)`` for :func:`read_capture_files`, or None when silent."""
    stream = stream if stream is not None else sys.stderr
    if quiet or not stream.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    sizes = [_size(p) for p in paths]
    done = [0] * len(paths)
    packets = [0] * len(paths)
    columns = (TextColumn("reading"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[rate]}"),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(file=stream), transient=True) as bar:
        task = bar.add_task("read", total=sum(sizes) or None, rate="")

        def hook(file_id: int, bytes_read: int, frames: int) -> None:
            done[file_id], packets[file_id] = bytes_read, frames
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f"{sum(packets) / elapsed:,.0f} packets/s" if elapsed > 0 else ""
            bar.update(task, completed=sum(done), rate=rate)

        yield hook


@contextmanager
def capture_progress(total: int, quiet: bool = False, stream=None) -> Iterator:
    """Yield a hook ``done(summary)`` called once per finished capture (``netreset fleet``/``export``): a bar of
    captures done and failed, and the packets/s of the finished captures across the cluster; None when silent."""
    stream = stream if stream is not None else sys.stderr
    if quiet or not stream.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    counts = {"failed": 0, "packets": 0}
    columns = (TextColumn("captures"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[failed]} failed"),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=stream), transient=True) as bar:
        task = bar.add_task("fleet", total=total, failed=0, rate="")

        def done(summary: dict) -> None:
            counts["failed"] += summary.get("error") is not None
            counts["packets"] += summary.get("packets") or 0
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f"{counts['packets'] / elapsed:,.0f} packets/s" if elapsed > 0 else ""
            bar.update(task, advance=1, failed=counts["failed"], rate=rate)

        yield done


def _size(path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
