"""Compiled interning of the fast ingest path: address and option-signature ids in linear time.

Each capture keeps two open-addressing hash tables for the whole file: (IP version, address) → address
id and option-kind tokens → signature id. A fast row's known address or signature gets its id inside
the kernel; only what a chunk meets for the first time goes back to Python, one entry per new key with
the row where it was first seen, so :mod:`netreset.ingest.compiled.reader` can intern it in the plain path's
first-seen order (merged with the general decoder's own interning). Until then a new key holds a
placeholder id ``-2 - j`` (the chunk's j-th new key; -1 means "no signature"), in the table and in the
id columns alike; :func:`settle` writes the real ids over both (with numpy: a chunk's new keys are few,
and each compiled function costs its own load time in every process). This replaces a sort per chunk
(``np.unique``), which cost more than decoding the frames.

A table grows (four times the slots) inside the kernel when it is half full, so a chunk never stops
for Python; it starts small, so a capture with few hosts keeps a few kilobytes.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from netreset.ingest.compiled.kernels import MAX_TOKENS
from netreset.runtime.compiled import NUMBA_OPTIONS

_START_SLOTS = 1 << 12


@nb.njit(**NUMBA_OPTIONS)
def _mix(a, b):
    """64-bit hash of two words (splitmix-style finaliser)."""
    x = a * np.uint64(0x9E3779B97F4A7C15) + b
    x = (x ^ (x >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)
    return x ^ (x >> np.uint64(29))


def settle(val: np.ndarray, slots: np.ndarray, ids: np.ndarray, *columns: np.ndarray) -> None:
    """The ids of a lookup's new keys (``ids[j]`` for the j-th), once interned, over their placeholders:
    in the table (``val`` at ``slots``, the new keys' slots) and in ``columns`` (written in place)."""
    val[slots] = ids
    for column in columns:
        rows = np.flatnonzero(column < -1)
        column[rows] = ids[-2 - column[rows]]


class AddressTable:
    """(version, high word, low word) → address id of one capture; IPv4 keeps its address in the low word."""

    def __init__(self) -> None:
        self.ver = np.zeros(_START_SLOTS, dtype=np.uint8)  #: 0: an empty slot
        self.hi = np.zeros(_START_SLOTS, dtype=np.uint64)
        self.lo = np.zeros(_START_SLOTS, dtype=np.uint64)
        self.val = np.zeros(_START_SLOTS, dtype=np.int32)
        self.count = 0
        self.slots = np.empty(0, dtype=np.int64)  #: slots of the last lookup's new keys (first entries)

    def lookup(self, ver, src_hi, src_lo, dst_hi, dst_lo, m, src, dst, new_pos) -> int:
        """Fill ``src``/``dst`` of rows 0..m-1; returns the number of new addresses (see :func:`address_ids`)."""
        if len(self.slots) < 2 * m:
            self.slots = np.empty(2 * m, dtype=np.int64)
        self.ver, self.hi, self.lo, self.val, self.count, new = address_ids(
            self.ver, self.hi, self.lo, self.val, self.count, ver, src_hi, src_lo, dst_hi, dst_lo, m, src, dst,
            new_pos, self.slots)
        return new

    def settle(self, ids, src, dst) -> None:
        """The new addresses' ids, once interned, into the table and the id columns."""
        settle(self.val, self.slots[:len(ids)], ids, src, dst)


@nb.njit(**NUMBA_OPTIONS)
def _address_slot(kver, khi, klo, v, hi, lo):
    """The slot holding the key, or the empty slot where it belongs."""
    mask = len(kver) - 1
    h = np.int64(_mix(hi ^ np.uint64(v), lo) >> np.uint64(16)) & mask
    while kver[h] != 0 and not (kver[h] == v and klo[h] == lo and khi[h] == hi):
        h = (h + 1) & mask
    return h


@nb.njit(**NUMBA_OPTIONS)
def _grow_addresses(kver, khi, klo, kval):
    size = 4 * len(kver)
    nver, nhi = np.zeros(size, dtype=np.uint8), np.zeros(size, dtype=np.uint64)
    nlo, nval = np.zeros(size, dtype=np.uint64), np.zeros(size, dtype=np.int32)
    for h in range(len(kver)):
        if kver[h] != 0:
            s = _address_slot(nver, nhi, nlo, kver[h], khi[h], klo[h])
            nver[s], nhi[s], nlo[s], nval[s] = kver[h], khi[h], klo[h], kval[h]
    return nver, nhi, nlo, nval


@nb.njit(**NUMBA_OPTIONS)
def address_ids(kver, khi, klo, kval, count, ver, src_hi, src_lo, dst_hi, dst_lo, m, src, dst, new_pos, new_slot):
    """Ids of the source and destination of rows 0..m-1 into ``src``/``dst``.

    A key not in the table is added with the placeholder ``-2 - j`` (j: its rank among this call's new
    keys, in order of first sight: row by row, source before destination), and ``new_pos[j]`` gets
    ``2 * row + (0 source | 1 destination)`` of that first sight, ``new_slot[j]`` its slot in the
    returned table. Returns the (possibly grown) table, its new count and the number of new keys.
    """
    k = new = 0
    while True:
        k, count, new = _address_run(kver, khi, klo, kval, count, ver, src_hi, src_lo, dst_hi, dst_lo, k, m, src,
                                     dst, new_pos, new)
        if k == m:
            break
        kver, khi, klo, kval = _grow_addresses(kver, khi, klo, kval)
    for j in range(new):
        k, side = new_pos[j] >> 1, new_pos[j] & 1
        hi = src_hi[k] if side == 0 else dst_hi[k]
        lo = src_lo[k] if side == 0 else dst_lo[k]
        new_slot[j] = _address_slot(kver, khi, klo, ver[k], hi, lo)
    return kver, khi, klo, kval, count, new


@nb.njit(**NUMBA_OPTIONS)
def _address_run(kver, khi, klo, kval, count, ver, src_hi, src_lo, dst_hi, dst_lo, k, m, src, dst, new_pos, new):
    """:func:`address_ids` from row k until row m or a half-full table; returns (row, count, new keys).

    Apart from the growing caller because a table variable reassigned in the loop makes every
    lookup several times slower (reference counting in the loop).
    """
    limit = len(kver) >> 1
    while k < m:
        if count + 2 > limit:
            break
        v = ver[k]
        for side in range(2):
            hi = src_hi[k] if side == 0 else dst_hi[k]
            lo = src_lo[k] if side == 0 else dst_lo[k]
            h = _address_slot(kver, khi, klo, v, hi, lo)
            if kver[h] == 0:
                kver[h], khi[h], klo[h], kval[h] = v, hi, lo, -2 - new
                new_pos[new] = 2 * k + side
                new += 1
                count += 1
            if side == 0:
                src[k] = kval[h]
            else:
                dst[k] = kval[h]
        k += 1
    return k, count, new


class SignatureTable:
    """Option-kind token sequences (``tokens[j, :ntok[j]]`` of the decode kernel) → signature id."""

    def __init__(self) -> None:
        slots = 64
        self.tokens = np.zeros((slots, MAX_TOKENS), dtype=np.int16)
        self.length = np.full(slots, -1, dtype=np.int64)  #: -1: an empty slot
        self.val = np.zeros(slots, dtype=np.int32)
        self.count = 0
        self.slots = np.empty(0, dtype=np.int64)  #: slots of the last lookup's new keys (first entries)

    def lookup(self, tokens, ntok, sig_rows, nsig, out, new_sig) -> int:
        """Ids of the SYN rows ``sig_rows[:nsig]`` into ``out``; returns the number of new signatures."""
        if len(self.slots) < nsig:
            self.slots = np.empty(max(nsig, 64), dtype=np.int64)
        self.tokens, self.length, self.val, self.count, new = signature_ids(
            self.tokens, self.length, self.val, self.count, tokens, ntok, sig_rows, nsig, out, new_sig, self.slots)
        return new

    def settle(self, ids, out) -> None:
        """The new signatures' ids, once interned, into the table and the id column."""
        settle(self.val, self.slots[:len(ids)], ids, out)


@nb.njit(**NUMBA_OPTIONS)
def _signature_slot(ktok, klen, tokens, j, n):
    """The slot holding token sequence ``tokens[j, :n]``, or the empty slot where it belongs."""
    mask = len(klen) - 1
    x = np.uint64(n)
    for t in range(n):
        x = (x ^ np.uint64(tokens[j, t])) * np.uint64(0x100000001B3)
    h = np.int64(_mix(x, np.uint64(n)) >> np.uint64(16)) & mask
    while klen[h] >= 0:
        if klen[h] == n:
            same = True
            for t in range(n):
                if ktok[h, t] != tokens[j, t]:
                    same = False
                    break
            if same:
                return h
        h = (h + 1) & mask
    return h


@nb.njit(**NUMBA_OPTIONS)
def _grow_signatures(ktok, klen, kval):
    size = 4 * len(klen)
    bigger = np.zeros((size, ktok.shape[1]), dtype=np.int16)
    nlen, nval = np.full(size, -1, dtype=np.int64), np.zeros(size, dtype=np.int32)
    for h in range(len(klen)):
        if klen[h] >= 0:
            s = _signature_slot(bigger, nlen, ktok, h, klen[h])
            bigger[s, :] = ktok[h, :]
            nlen[s], nval[s] = klen[h], kval[h]
    return bigger, nlen, nval


@nb.njit(**NUMBA_OPTIONS)
def signature_ids(ktok, klen, kval, count, tokens, ntok, sig_rows, nsig, out, new_sig, new_slot):
    """``out[sig_rows[j]]`` = id of the j-th signature (j < nsig); other rows of ``out`` are left alone.

    New sequences as in :func:`address_ids`: ``new_sig[i]`` = j of the i-th, ``new_slot[i]`` its slot.
    Returns the table, its count and the number of new sequences.
    """
    j = new = 0
    while True:
        j, count, new = _signature_run(ktok, klen, kval, count, tokens, ntok, sig_rows, j, nsig, out, new_sig, new)
        if j == nsig:
            break
        ktok, klen, kval = _grow_signatures(ktok, klen, kval)
    for i in range(new):
        new_slot[i] = _signature_slot(ktok, klen, tokens, new_sig[i], ntok[new_sig[i]])
    return ktok, klen, kval, count, new


@nb.njit(**NUMBA_OPTIONS)
def _signature_run(ktok, klen, kval, count, tokens, ntok, sig_rows, j, nsig, out, new_sig, new):
    """:func:`signature_ids` from j until nsig or a half-full table (see :func:`_address_run`)."""
    limit = len(klen) >> 1
    while j < nsig:
        if count + 1 > limit:
            break
        n = ntok[j]
        h = _signature_slot(ktok, klen, tokens, j, n)
        if klen[h] < 0:
            ktok[h, :n] = tokens[j, :n]
            klen[h], kval[h] = n, -2 - new
            new_sig[new] = j
            new += 1
            count += 1
        out[sig_rows[j]] = kval[h]
        j += 1
    return j, count, new
