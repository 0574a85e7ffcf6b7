"""Hand the C heap's free pages back to the system between batches of a streamed analysis.

A streamed analysis allocates and frees the same few hundred MB of numpy arrays every batch (the work
table, the walk's arrays). glibc's allocator raises its mmap threshold each time a big mmapped block is
freed, so from the second batch on those arrays come from the heap, and the pages they leave free stay
mapped: the process's resident size crept up batch after batch (on a 5M-packet capture 338 → 426 MB at
the batch boundaries while the live arrays grew 25 MB) although nothing leaked. ``malloc_trim(0)``
returns every free page of every arena (also in the middle of the heap, with ``MADV_DONTNEED``); once per
batch it costs a few milliseconds. Fixing the mmap threshold instead (``M_MMAP_THRESHOLD``) made every
big array fresh zeroed pages: 35–40 % slower (docs/performance.md, "Memory between batches").

Only glibc has it; elsewhere (musl, macOS, Windows) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys


def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Return the allocator's free pages to the system; False where that is not possible."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
