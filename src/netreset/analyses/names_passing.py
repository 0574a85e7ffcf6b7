"""The names that pass, per server address: every ClientHello SNI whose reverse direction began with a
ServerHello, over the whole capture — for ``sni_filtered``'s "other names to the same address pass".

That needs every conversation to the address, which a streamed capture never holds at once
(netreset.pipeline.streamed keeps only the suspect tuples). So the names are read from the rows whose payload
ingestion kept (the same rows and bytes on either path): :func:`stored_rows` picks them from any table — the
whole capture's, or each batch of a streamed one as it is released, before anything is split or retired — and
:func:`names_passing` reads them all at once at the end. A direction is one (source, destination, ports); a
ClientHello through an explicit proxy's CONNECT tunnel names the proxy's address and is not read.
"""

from __future__ import annotations

import numpy as np

from netreset.analyses.application.events import direction_stream
from netreset.analyses.application.tls import HS_CLIENT_HELLO, HS_SERVER_HELLO, tls_events


def _key_array(keys) -> np.ndarray:
    return np.fromiter(((f << 32) | n for f, n in keys), dtype=np.int64, count=len(keys))


class StoredKeys:
    """The store's ``(file_id, frame)`` keys as int64, brought up to date on each call — each key converted once,
    and safe while a reader thread adds to the store (the streamed path: ``list(dict)`` copies the keys in one C
    call under the GIL, and the store only ever grows, in insertion order)."""

    def __init__(self, store) -> None:
        self.store, self.seen, self.keys = store, 0, np.zeros(0, dtype=np.int64)

    def array(self) -> np.ndarray:
        keys = list(self.store.segments) if self.store is not None else []
        if len(keys) > self.seen:
            self.keys = np.concatenate([self.keys, _key_array(keys[self.seen:])])
            self.seen = len(keys)
        return self.keys


def stored_rows(table, store, keys: StoredKeys | None = None) -> np.ndarray:
    """Indices of the TCP rows of ``table`` whose payload the store kept (``(file_id, frame)`` keys; ``keys``:
    the store's keys kept up to date by the caller, see :class:`StoredKeys`)."""
    if store is None or not store.segments or not len(table):
        return np.zeros(0, dtype=np.int64)
    candidates = np.flatnonzero(table.captured_payload > 0)
    wanted = (table.file_id[candidates].astype(np.int64) << 32) | table.frame[candidates].astype(np.int64)
    kept = (keys or StoredKeys(store)).array()
    return candidates[np.isin(wanted, kept)]


def _begins_with(stream: bytes, handshake_type: int) -> bool:
    """A TLS handshake record whose first message is ``handshake_type``."""
    return len(stream) >= 6 and stream[0] == 22 and stream[1] == 3 and stream[5] == handshake_type


def names_passing(table, store) -> dict[str, list[str]]:
    """Server address → the ClientHello SNIs sent to it whose reverse direction began with a ServerHello (the
    name passed), sorted. ``table`` holds (at least) the rows :func:`stored_rows` picks; only those are read."""
    segments = store.segments if store is not None else {}
    rows = stored_rows(table, store)
    if not len(rows):
        return {}
    keys = list(zip(table.src[rows].tolist(), table.dst[rows].tolist(), table.sport[rows].tolist(),
                    table.dport[rows].tolist()))
    directions: dict[tuple, list[int]] = {}
    for row, key in zip(rows.tolist(), keys):
        directions.setdefault(key, []).append(row)
    hellos, answered = {}, set()
    for key, mine in directions.items():
        stream, _ = direction_stream(table, np.asarray(mine, dtype=np.int64), segments)
        if _begins_with(stream, HS_SERVER_HELLO):
            answered.add(key)
        elif _begins_with(stream, HS_CLIENT_HELLO):
            sni = next((e.fields.get("sni") for e in tls_events(stream) if e.kind == "client_hello"), None)
            if sni:
                hellos[key] = sni
    out: dict[str, set] = {}
    for (src, dst, sport, dport), sni in hellos.items():
        if (dst, src, dport, sport) in answered:
            out.setdefault(table.book.name(dst), set()).add(sni)
    return {address: sorted(names) for address, names in sorted(out.items())}
