"""Host profiles: per IP address, how its packets arrive at the capture point and what stack sent them.

TTLs are read as received (after every router on the way), per conversation and direction, because that
is what reset attribution compares a RST with. A TTL that changes inside one conversation means a route
change, a load balancer — or a second device speaking in the host's name. SYN and SYN-ACK options (MSS,
window scale, SACK, timestamps, DF, window) are the host's stack fingerprint, as p0f reads them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np

from netreset.conversations import Conversation
from netreset.packets import ACK, RST, SYN, PacketTable
from netreset.ttl import TtlTable, guess_ttl


@dataclass(frozen=True)
class TtlSighting:
    """The TTLs one host's packets arrived with in one conversation."""

    conversation: int  #: Conversation.id
    tcp_stream: int  #: Wireshark tcp.stream
    role: str  #: "orig" or "resp": the host's side in that conversation
    packets: int  #: packets the host sent in it
    ttls: tuple[int, ...]  #: distinct TTLs, in order of first appearance
    changes: int  #: times the TTL differed from the host's previous packet in the conversation
    rst_ttls: tuple[int, ...]  #: distinct TTLs of the RSTs sent in the host's name (may be forged)


@dataclass(frozen=True)
class SynFingerprint:
    """Options of a SYN or SYN-ACK the host sent (identical ones are listed once, with a count)."""

    kind: str  #: "syn" or "syn-ack"
    ttl: int  #: TTL as received
    df: bool  #: IPv4 don't-fragment bit
    window: int  #: TCP window field (unscaled, as in the SYN)
    mss: int  #: MSS option, -1 when absent
    wscale: int  #: window-scale shift, -1 when absent
    sack: bool  #: SACK-permitted option present
    timestamps: bool  #: TCP timestamps option present
    options: str  #: option kinds in order, e.g. "M,N,W,N,N,T,S" ("" when none)
    first_conversation: int  #: Conversation.id where it was first seen
    count: int  #: SYNs / SYN-ACKs with exactly this fingerprint


@dataclass(frozen=True)
class HostProfile:
    """Everything the capture says about one IP address as a TCP sender."""

    address: str  #: text form
    ip_version: int  #: 4 or 6
    packets: int  #: TCP packets it sent
    conversations: int  #: conversations it took part in (as sender of at least one packet)
    ttl: int  #: its most common TTL (RSTs left out when it sent anything else: they may be forged)
    ttls: tuple[int, ...]  #: every distinct TTL seen, ascending
    initial_ttl: int  #: inferred initial TTL of ``ttl``
    routers_between: int  #: routers between it and the capture point
    traceroute_hop: int  #: its traceroute hop from the capture point
    family: str  #: initial-TTL family label ("windows", "linux-like", ...)
    ambiguous: bool  #: more routers than plausible (non-default initial TTL?)
    ttl_changes: int  #: conversations in which its TTL changed between packets
    sightings: tuple[TtlSighting, ...]  #: per conversation and direction
    fingerprints: tuple[SynFingerprint, ...]  #: distinct SYN / SYN-ACK fingerprints

    def to_dict(self) -> dict:
        """JSON form (``netreset hosts --format json``)."""
        return asdict(self) | {
            "ttls": list(self.ttls),
            "sightings": [asdict(s) | {"ttls": list(s.ttls), "rst_ttls": list(s.rst_ttls)} for s in self.sightings],
            "fingerprints": [asdict(f) for f in self.fingerprints],
        }


def _sighting(table: PacketTable, conv: Conversation, rows: np.ndarray, role: str) -> TtlSighting:
    ttls = table.ttl[rows]
    rst = (table.flags[rows] & RST) != 0
    plain = ttls[~rst]
    _, first = np.unique(plain, return_index=True)
    return TtlSighting(
        conversation=conv.id, tcp_stream=conv.tcp_stream, role=role, packets=len(rows),
        ttls=tuple(int(plain[i]) for i in sorted(first)),
        changes=int(np.count_nonzero(np.diff(plain) != 0)),
        rst_ttls=tuple(int(v) for v in np.unique(ttls[rst])),
    )


def _fingerprint(table: PacketTable, row: int, conv_id: int) -> SynFingerprint:
    sig = int(table.options_sig[row])
    return SynFingerprint(
        kind="syn-ack" if table.flags[row] & ACK else "syn", ttl=int(table.ttl[row]), df=bool(table.df[row]),
        window=int(table.win[row]), mss=int(table.mss[row]), wscale=int(table.wscale[row]),
        sack=bool(table.sack_perm[row]), timestamps=bool(table.ts_val[row] >= 0),
        options=table.book.signatures[sig] if 0 <= sig < len(table.book.signatures) else "",
        first_conversation=conv_id, count=1,
    )


class _Collector:
    """Accumulates one host's sightings, TTL counts and fingerprints while conversations are walked."""

    def __init__(self, address: str, ip_version: int) -> None:
        self.address, self.ip_version = address, ip_version
        self.sightings: list[TtlSighting] = []
        self.plain: Counter = Counter()
        self.rst: Counter = Counter()
        self.fingerprints: dict[tuple, SynFingerprint] = {}

    def add(self, table: PacketTable, conv: Conversation, rows: np.ndarray, role: str) -> None:
        self.sightings.append(_sighting(table, conv, rows, role))
        rst = (table.flags[rows] & RST) != 0
        self.plain.update(table.ttl[rows][~rst].tolist())
        self.rst.update(table.ttl[rows][rst].tolist())
        for row in rows[(table.flags[rows] & SYN) != 0].tolist():
            fp = _fingerprint(table, row, conv.id)
            key = tuple(v for k, v in asdict(fp).items() if k not in ("first_conversation", "count"))
            known = self.fingerprints.get(key)
            self.fingerprints[key] = fp if known is None else SynFingerprint(**(asdict(known) | {"count": known.count + 1}))

    def profile(self, ttl_table: TtlTable | None) -> HostProfile:
        counts = self.plain or self.rst
        ttl = max(sorted(counts), key=lambda v: counts[v])
        guess = guess_ttl(ttl, ttl_table)
        return HostProfile(
            address=self.address, ip_version=self.ip_version,
            packets=sum(s.packets for s in self.sightings), conversations=len({s.conversation for s in self.sightings}),
            ttl=ttl, ttls=tuple(sorted(set(self.plain) | set(self.rst))), initial_ttl=guess.initial,
            routers_between=guess.routers_between, traceroute_hop=guess.traceroute_hop, family=guess.family,
            ambiguous=guess.ambiguous, ttl_changes=sum(1 for s in self.sightings if s.changes),
            sightings=tuple(self.sightings), fingerprints=tuple(self.fingerprints.values()),
        )


def profile_hosts(
    table: PacketTable, conversations: list[Conversation], ttl_table: TtlTable | None = None
) -> list[HostProfile]:
    """One profile per address that sent TCP packets in ``conversations``, in order of first appearance."""
    hosts: dict[str, _Collector] = {}
    for conv in conversations:
        rows = np.asarray(conv.rows, dtype=np.int64)
        from_orig = np.asarray(conv.from_orig, dtype=bool)
        for address, role, mine in ((conv.orig_h, "orig", from_orig), (conv.resp_h, "resp", ~from_orig)):
            sent = rows[mine & (table.ttl[rows] >= 0)]
            if len(sent):
                hosts.setdefault(address, _Collector(address, conv.ip_version)).add(table, conv, sent, role)
    return [collector.profile(ttl_table) for collector in hosts.values()]
