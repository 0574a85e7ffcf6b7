"""The records of a two-vantage-point comparison: what each capture saw, what only one of them saw, and why.

A :class:`Vantage` is one capture point: one file, or one interface of a file (a capture taken on a
middlebox holds two). :func:`netreset.analyses.vantage.compare.compare_vantages` joins two of them into a
:class:`Comparison`: one :class:`JoinedConversation` per TCP connection, with the packets matched across
the captures and the :class:`OneSided` packets only one capture holds, each classified (injected,
dropped) from where the two capture points sit on the path (:class:`Placement`).

The ``compare --format json`` document is built from a Comparison in the records layer
(:func:`netreset.records.comparison.comparison_dict`); nothing here knows the JSON contract.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

from netreset.flows.model import Conversation
from netreset.packets.table import PacketTable
from netreset.analyses.vantage.clock import ClockFit


@dataclass(frozen=True)
class Vantage:
    """One capture point: its packets (own address book) and its TCP conversations."""

    label: str  #: how people name it: the file name, plus ``#<interface>`` for one interface of a file
    path: str  #: the capture file
    table: PacketTable  #: the packets of this capture point only, in time order
    conversations: tuple[Conversation, ...]  #: build_conversations(table)
    interface: str | None = None  #: pcapng interface name (or id) when the file was split per interface


@dataclass(frozen=True)
class Placement:
    """Where the two capture points sit on one connection's path: orig … A … B … resp, or the reverse."""

    a_nearer_orig: bool  #: True when A is the capture point closer to the originator
    routers_between: int | None  #: routers between A and B (TTL decrements of matched packets); None: unknown
    basis: str  #: "ttl" (matched packets), "endpoint" (a host's own TTL seen at one capture), "assumed"


@dataclass(frozen=True)
class OneSided:
    """A packet only one of the two captures holds, with what that means."""

    side: str  #: "a" or "b": the capture that holds it
    row: int  #: row in that capture's PacketTable
    frame: int  #: frame number in that capture
    ts: float  #: capture time, seconds since the epoch, on A's clock (B's packets are corrected)
    from_orig: bool  #: sent by the conversation's originator (as that capture names it)
    packet: str  #: SYN | SYN-ACK | RST | FIN | data segment | ACK
    flags: str  #: tcpdump-style flag letters, e.g. "R", "RA", "S"
    seq: int  #: absolute TCP sequence number in that capture
    ttl: int  #: TTL / hop limit at that capture point
    kind: str  #: injected | dropped | outside_capture
    detail: str  #: one sentence a person can read

    def to_dict(self, table: PacketTable) -> dict:
        """JSON form (items of ``only_in_a``/``only_in_b``)."""
        book = table.book
        return {
            "kind": self.kind, "packet": self.packet, "flags": self.flags, "frame": self.frame,
            "ts": round(self.ts, 6), "direction": "orig->resp" if self.from_orig else "resp->orig",
            "src": book.name(int(table.src[self.row])), "sport": int(table.sport[self.row]),
            "dst": book.name(int(table.dst[self.row])), "dport": int(table.dport[self.row]),
            "seq": self.seq, "payload_len": int(table.payload_len[self.row]), "ttl": self.ttl,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Modification:
    """A header field that changed between the two capture points on matched packets."""

    field: str  #: window | mss | wscale | sack_perm | timestamps | options | df | ip_id | ecn | ttl_spread
    count: int  #: matched packets on which it changed
    a_value: int | str | None  #: the first changed packet's value at A
    b_value: int | str | None  #: ... and at B
    frame_a: int  #: that packet's frame in A
    frame_b: int  #: ... and in B
    meaning: str  #: what kind of device does this

    def to_dict(self) -> dict:
        return {"field": self.field, "count": self.count, "a": self.a_value, "b": self.b_value,
                "frame_a": self.frame_a, "frame_b": self.frame_b, "meaning": self.meaning}


@dataclass(frozen=True)
class JoinedConversation:
    """One TCP connection as both captures saw it (``a`` or ``b`` is None when one saw nothing of it)."""

    a: Conversation | None
    b: Conversation | None
    method: str  #: how the join was made: "packets" (equal seq/ack), "relative" (seq offset), "none"
    shared_keys: int  #: distinct packets both captures hold (the join's evidence)
    flipped: bool  #: B names orig and resp the other way round from A
    a_rows: np.ndarray  #: matched packets: rows in A's table ...
    b_rows: np.ndarray  #: ... and the rows in B's table they match, pairwise
    placement: Placement
    only_in_a: tuple[OneSided, ...] = ()
    only_in_b: tuple[OneSided, ...] = ()
    modified: tuple[Modification, ...] = ()
    seq_offset: tuple[int, int] = (0, 0)  #: (orig's, resp's) sequence number at B minus at A (signed)
    notes: tuple[str, ...] = ()  #: sentences for people (dropped SYN-ACKs, NAT, proxy ...)

    @property
    def matched_packets(self) -> int:
        return len(self.a_rows)


@dataclass(frozen=True)
class Comparison:
    """Two capture points joined."""

    a: Vantage
    b: Vantage
    clock: ClockFit
    conversations: tuple[JoinedConversation, ...]
    other_interfaces: tuple[str, ...] = field(default=())  #: interfaces of the files not compared here

    def joined_for(self, a_conversation_id: int) -> JoinedConversation | None:
        """The joined view of A's conversation with this id."""
        return next((j for j in self.conversations if j.a is not None and j.a.id == a_conversation_id), None)


def routers_between(comparison: Comparison) -> int | None:
    """Routers between the capture points over every joined conversation measured by TTL (median)."""
    values = [j.placement.routers_between for j in comparison.conversations
              if j.placement.basis == "ttl" or (j.placement.routers_between is not None and j.matched_packets)]
    return int(statistics.median(values)) if values else None
