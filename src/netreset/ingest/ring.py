"""The last few minutes (or megabytes) of raw frames, for ``netreset watch --save`` to write out.

A watch may run for a day, waiting for the one reset that matters; by then the packets that explain it
are long gone from the analysis. The ring keeps the frames as they came off the wire (bytes, timestamp,
interface) for ``--keep`` — a size (``200MB``) or a time (``10min``) — and never more: each frame added
pushes out the oldest ones past the limit, so memory stays at the limit however long the watch runs.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Iterable

from netreset.errors import UsageError
from netreset.ingest.frames import RawFrame

#: What one kept frame costs besides its bytes: the tuple, its ints and the deque slot (measured with
#: sys.getsizeof on CPython 3.11: ≈ 120 bytes of objects around a bytes object of 33 + n bytes).
FRAME_OVERHEAD = 160

#: Frames of a stream can be a little out of time order (several interfaces, a merge): how far back the
#: search for a finding's frames goes past the first one wanted.
_OUT_OF_ORDER_NS = 1_000_000_000
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30}
_TIME_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600}


def parse_keep(text: str) -> tuple[int | None, int | None]:
    """``--keep`` as (bytes, ns): ``200MB`` → (209715200, None), ``10min`` → (None, 600e9). Raises UsageError."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text or "")
    if not match:
        raise UsageError(f"--keep {text!r}: give a size (200MB, 1GB) or a time (10min, 30s, 2h)")
    value, unit = float(match.group(1)), match.group(2).lower()
    if value <= 0:
        raise UsageError(f"--keep {text!r}: must be more than 0")
    if unit in _TIME_UNITS:
        return None, int(value * _TIME_UNITS[unit] * 1_000_000_000)
    if unit in _SIZE_UNITS:
        return int(value * _SIZE_UNITS[unit]), None
    raise UsageError(f"--keep {text!r}: unknown unit {unit!r} (MB, GB, s, min, h)")


class FrameRing:
    """Frames in arrival order, bounded by ``max_bytes`` (bytes plus :data:`FRAME_OVERHEAD` each) and/or by
    ``max_ns`` of capture time before the newest frame."""

    def __init__(self, max_bytes: int | None = None, max_ns: int | None = None) -> None:
        self.max_bytes, self.max_ns = max_bytes, max_ns
        self.frames: deque[RawFrame] = deque()
        self.bytes = 0
        self.newest_ns: int | None = None
        self.dropped = 0  #: frames pushed out so far

    def add(self, frames: Iterable[RawFrame]) -> None:
        for frame in frames:
            self.frames.append(frame)
            self.bytes += len(frame.data) + FRAME_OVERHEAD
            if self.newest_ns is None or frame.ts_ns > self.newest_ns:
                self.newest_ns = frame.ts_ns
        self._trim()

    def _trim(self) -> None:
        frames = self.frames
        while frames and self.max_bytes is not None and self.bytes > self.max_bytes:
            self.bytes -= len(frames.popleft().data) + FRAME_OVERHEAD
            self.dropped += 1
        while frames and self.max_ns is not None and self.newest_ns - frames[0].ts_ns > self.max_ns:
            self.bytes -= len(frames.popleft().data) + FRAME_OVERHEAD
            self.dropped += 1

    def __len__(self) -> int:
        return len(self.frames)

    def select(self, frame_numbers: set[int], start_ns: int, end_ns: int) -> list[RawFrame]:
        """The kept frames whose number is in ``frame_numbers`` or whose timestamp lies in [start_ns, end_ns],
        in arrival order."""
        picked, missing = [], set(frame_numbers)
        for f in reversed(self.frames):  # the newest first: the wanted ones are at the end
            if f.frame in frame_numbers or start_ns <= f.ts_ns <= end_ns:
                picked.append(f)
                missing.discard(f.frame)
            elif not missing and f.ts_ns < start_ns - _OUT_OF_ORDER_NS:
                break  # older than anything wanted, and every frame asked for is found
        picked.reverse()
        return picked
