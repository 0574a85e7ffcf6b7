"""Cached kernels load without numba's compiler registries, and everything numba does after still works."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

SCRIPT = """
import sys
import numpy as np
from netreset.flows.compiled.conversations import group_tuples
lo = np.array([5, 7, 5, 9, 7], dtype=np.int64)
hi = np.zeros(5, dtype=np.int64)
order, start = np.empty(5, dtype=np.int64), np.empty(6, dtype=np.int64)
groups = group_tuples(lo, hi, order, start)
registries = "numba.np.arraymath" in sys.modules
import numba  # then something numba must compile, in the same process: its compiler loads what it needs
@numba.njit
def doubled(a):
    return np.sort(a) * 2
import json
print(json.dumps([groups, order.tolist(), start[:groups + 1].tolist(), registries, doubled(np.array([3, 1])).tolist()]))
"""


def run(env: dict) -> list:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_cached_kernel_loads_without_the_registries_and_compiling_still_works():
    run({})  # compiles and caches the kernel if this machine has not yet
    groups, order, start, registries, doubled = run({})
    assert (groups, order, start, doubled) == (3, [0, 2, 1, 4, 3], [0, 2, 4, 5], [2, 6])
    assert registries is False


def test_the_registries_load_as_numba_does_when_turned_off():
    *_, registries, _ = run({"NETRESET_NUMBA_REFRESH": "1"})
    assert registries is True
