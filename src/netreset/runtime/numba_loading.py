"""Loading netreset's cached kernels without numba's compiler registries.

numba keeps compiled machine code on disk (``cache=True``) but, before it loads any of it, refreshes
its target context: it imports and installs the implementation registries of everything it could
compile (the CPython built-ins, NumPy's array functions, typed containers, random, linalg...). That
is a sizeable share of a process's start-up (docs/performance.md, "Design figures"), on the critical
path of every big capture, and none of it is needed to load code that is already compiled: the loaded code needs numba's runtime (NRT: the
allocator behind ``np.empty`` in a kernel), which is initialised here, and the C helpers numba
registers at import. A kernel that has to be compiled (no cache yet, or a new signature) goes
through numba's compiler, which refreshes the registries itself first.

:func:`install` replaces ``numba.core.caching.Cache.load_overload`` with that lighter version, once
per process, and only when the numba at hand has the internals it relies on (else numba is left
as it is: slower to start, same answers). ``NETRESET_NUMBA_REFRESH=1`` turns it off.
"""

from __future__ import annotations

import os

_INSTALLED: list[bool] = []


def install() -> bool:
    """Make cache loads skip the registry refresh; True when installed (now or before)."""
    if _INSTALLED:
        return _INSTALLED[0]
    _INSTALLED.append(False)
    if os.environ.get("NETRESET_NUMBA_REFRESH"):
        return False
    try:
        from numba.core import caching
        from numba.core.runtime import rtsys
    except ImportError:
        return False
    cache = getattr(caching, "Cache", None)
    needed = ("load_overload", "_load_overload", "_guard_against_spurious_io_errors")
    if cache is None or not all(hasattr(cache, name) for name in needed) or not hasattr(rtsys, "initialize"):
        return False

    def load_overload(self, sig, target_context):
        """numba's ``Cache.load_overload`` without ``target_context.refresh()`` (see the module docstring)."""
        rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)
        return None  # the guard swallowed an I/O error: numba compiles instead, as it would have

    cache.load_overload = load_overload
    _INSTALLED[0] = True
    return True
