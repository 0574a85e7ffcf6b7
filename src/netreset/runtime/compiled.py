"""The one gate for compiled (numba) paths, and the options every compiled kernel shares.

Every compiled twin (a module under some ``compiled/`` folder) gives the same answer as its reference, so
taking it is purely a question of cost: loading numba and the cached kernels is a fixed price paid once per
process (measured in docs/performance.md, "start-up"), which a small input never repays. The policy is the
same everywhere, so it is written once, here:

* a caller may force either path (tests, ``--plain`` benchmarks);
* ``NETRESET_PLAIN=1`` asks every path away (the reference runs, for comparison or when in doubt);
* the compiler must be installed (numba is a dependency, but a broken install must not break netreset);
* the input must be at least the caller's threshold — one of the named sizes below, each for one kind of work.

This module never imports numba itself: asking the gate costs nothing.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

#: Environment variable that turns every compiled path off.
PLAIN_VARIABLE = "NETRESET_PLAIN"

#: ``numba.njit`` options of every kernel: machine code cached beside the module (only the first run on a
#: machine compiles), the GIL released (Zeek's walk runs its halves in two threads), no bounds checks (every
#: index is derived from the arrays' own lengths, and the twins are tested against their references).
NUMBA_OPTIONS = {"cache": True, "nogil": True, "boundscheck": False}

#: Packet tables smaller than this are walked in Python (conversations, the handshake screen): below it the
#: kernels' load costs more than the Python walk it replaces.
MIN_TABLE_PACKETS = 20_000

#: Capture files smaller than this are decoded by the plain reader and read whole rather than streamed:
#: the same trade as above, measured on files (the compiler's import dominates a small file's run).
MIN_FILE_BYTES = 4 << 20


@lru_cache(maxsize=1)
def compiler_installed() -> bool:
    """Whether numba can be imported (looked up once; importing it is the expensive part)."""
    return importlib.util.find_spec("numba") is not None


def plain_requested() -> bool:
    """Whether the user asked for the reference paths (``NETRESET_PLAIN`` set to anything non-empty)."""
    return bool(os.environ.get(PLAIN_VARIABLE))


def use_compiled(size: int, minimum: int, force: bool | None = None) -> bool:
    """Whether work of ``size`` (packets or bytes, as ``minimum`` counts them) takes the compiled path.

    ``force`` (True/False) overrides everything else; otherwise the path must not be asked away, the
    compiler must be installed and ``size`` at least ``minimum``.
    """
    if force is not None:
        return force
    if plain_requested() or size < minimum:
        return False
    return compiler_installed()
