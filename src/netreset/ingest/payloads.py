"""The few payload bytes the application decoders need, kept beside the columnar packet table.

The packet table holds headers only. The application analyses (:mod:`netreset.analyses.application`:
names, TLS and HTTP events) need the *beginning* of each direction of a conversation — a ClientHello,
a ServerHello and certificate, an HTTP request line and its answer — and DNS answers. This module
decides, packet by packet in capture order, which bytes those are, and keeps them in a
:class:`PayloadStore` keyed by ``(file_id, frame)``:

* a direction (source, destination, ports) starts being kept at its first payload segment that looks
  like an application the decoders read (:func:`starts_application`: a TLS handshake or alert record,
  an HTTP request or response line, DNS over TCP); from there, segments whose sequence number lies
  within :data:`PAYLOAD_BUDGET` bytes of that start are kept, clipped to the budget (retransmissions
  included, up to twice the budget);
* a SYN starts the direction afresh (a new connection on the same ports); a segment past the budget
  closes it for good;
* UDP DNS responses (source port 53) are kept whole up to the budget.

Memory is bounded: at most :data:`MAX_STORED_BYTES` in all (past that, new directions are not started and
``dropped_directions`` counts them), a few bytes of state per direction the decoders read, nothing for
the others. The plain decoder and the compiled reader feed the same :class:`PayloadSelector` in the same
order, so both keep the same bytes (``tests/ingest/test_payloads.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Bytes of each direction of a conversation kept for the application decoders (from its first
#: application byte): a ClientHello, a ServerHello with the leaf certificate, an HTTP head.
PAYLOAD_BUDGET = 4096
#: Kept bytes in all, over every direction and DNS message of a run.
MAX_STORED_BYTES = 64 << 20
#: DNS messages kept at most (each is also bounded by the budget).
MAX_DNS_MESSAGES = 200_000

_SYN = 0x02
_MASK32 = 0xFFFFFFFF

#: First four payload bytes of an HTTP request (the methods) or response.
HTTP_STARTS = frozenset((b"GET ", b"POST", b"HEAD", b"PUT ", b"DELE", b"OPTI", b"CONN", b"PATC", b"TRAC",
                         b"HTTP"))
#: TLS record content types a direction may begin with: alert (21), handshake (22).
TLS_START_TYPES = frozenset((21, 22))


def starts_application(head: bytes, sport: int, dport: int) -> bool:
    """Does a direction whose first payload bytes are ``head`` carry something the decoders read?

    A TLS record (alert or handshake, version 3.x with x ≤ 4: SSL 3.0 … TLS 1.3), an HTTP request or
    status line, or DNS over TCP (port 53 either side). Only the first four bytes are looked at.
    """
    if sport == 53 or dport == 53:
        return True
    if len(head) < 4:
        return False
    if head[0] in TLS_START_TYPES and head[1] == 3 and head[2] <= 4:
        return True
    return head[:4] in HTTP_STARTS


@dataclass
class PayloadStore:
    """The kept bytes: TCP segment payloads (clipped) and DNS messages, by ``(file_id, frame)``."""

    segments: dict = field(default_factory=dict)  #: (file_id, frame) -> payload bytes kept of that segment
    dns: dict = field(default_factory=dict)  #: (file_id, frame) -> DNS message bytes (UDP)
    #: DNS over TCP, answers: (file_id, frame) of a kept segment -> (file_id, direction serial, offset from its start)
    dns_tcp: dict = field(default_factory=dict)
    stored_bytes: int = 0
    dropped_directions: int = 0  #: directions not kept because MAX_STORED_BYTES was reached
    dropped_dns: int = 0  #: DNS messages not kept (MAX_DNS_MESSAGES or MAX_STORED_BYTES reached)

    def merge(self, other: "PayloadStore") -> None:
        self.segments.update(other.segments)
        self.dns.update(other.dns)
        self.dns_tcp.update(other.dns_tcp)
        self.stored_bytes += other.stored_bytes
        self.dropped_directions += other.dropped_directions
        self.dropped_dns += other.dropped_dns

    def add_dns(self, file_id: int, frame: int, message: bytes) -> None:
        """Keep one UDP DNS message (clipped to the budget) unless the store is full."""
        if len(self.dns) >= MAX_DNS_MESSAGES or self.stored_bytes >= MAX_STORED_BYTES:
            self.dropped_dns += 1
            return
        key = (file_id, frame)
        if key not in self.dns:
            message = bytes(message[:PAYLOAD_BUDGET])
            self.dns[key] = message
            self.stored_bytes += len(message)

    def __bool__(self) -> bool:  # an empty store is still a store (IngestStats compares by value)
        return True


class PayloadSelector:
    """Which TCP payload bytes of one capture file to keep, fed every TCP row in capture order."""

    __slots__ = ("store", "file_id", "active", "done", "serial")

    def __init__(self, store: PayloadStore, file_id: int) -> None:
        self.store, self.file_id = store, file_id
        self.active: dict[tuple, list] = {}  #: direction -> [start seq, bytes kept]
        self.done: set[tuple] = set()  #: directions past their budget (or never to be kept)
        self.serial = 0  #: directions started so far (names a DNS-over-TCP answer stream)

    def offer(self, key: tuple, frame: int, seq: int, flags: int, captured: int, data, start: int) -> None:
        """One TCP row: ``key`` is (src id, dst id, sport, dport); its ``captured`` payload bytes are
        ``data[start:start + captured]`` (bytes or a numpy buffer; sliced only when looked at)."""
        if flags & _SYN:
            if key in self.active:
                del self.active[key]
            self.done.discard(key)
            return
        if captured <= 0 or key in self.done:
            return
        state = self.active.get(key)
        if state is None:
            if not starts_application(bytes(data[start:start + min(captured, 4)]), key[2], key[3]):
                return
            store = self.store
            if store.stored_bytes >= MAX_STORED_BYTES:
                store.dropped_directions += 1
                self.done.add(key)
                return
            self.serial += 1
            state = self.active[key] = [seq, 0, self.serial]
        rel = (seq - state[0]) & _MASK32
        if rel >= PAYLOAD_BUDGET:
            if rel < 0x80000000:  # ahead of the budget: this direction is done
                del self.active[key]
                self.done.add(key)
            return  # (behind the start: a retransmission of something before it)
        store = self.store
        where = (self.file_id, frame)
        if where in store.segments:
            return  # a second row of one frame (an A-MSDU): the first one's bytes stand
        kept = bytes(data[start:start + min(captured, PAYLOAD_BUDGET - rel)])
        store.segments[where] = kept
        if key[2] == 53:
            store.dns_tcp[where] = (self.file_id, state[2], rel)
        store.stored_bytes += len(kept)
        state[1] += len(kept)
        if state[1] >= 2 * PAYLOAD_BUDGET or store.stored_bytes >= MAX_STORED_BYTES:
            del self.active[key]
            self.done.add(key)
