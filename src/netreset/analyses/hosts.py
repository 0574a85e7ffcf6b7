"""Host profiles: per IP address, how its packets arrive at the capture point and what stack sent them.

TTLs are read as received (after every router on the way), per conversation and direction, because that
is what reset attribution compares a RST with. A TTL that changes inside one conversation means a route
change, a load balancer — or a second device speaking in the host's name. SYN and SYN-ACK options (MSS,
window scale, SACK, timestamps, DF, window) are the host's stack fingerprint, as p0f reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from netreset.flows.model import Conversation
from netreset.packets.table import ACK, RST, SYN, PacketTable
from netreset.analyses.resets.evidence import TtlReader
from netreset.analyses.resets.pairs import ttl_reach
from netreset.analyses.resets.weights import TTL_TOLERANCE_HOPS
from netreset.analyses.ttl import TtlTable, guess_ttl


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
    ttl: int  #: its most common TTL at its own hop (RSTs left out when it sent anything else: they may be forged)
    ttls: tuple[int, ...]  #: every distinct TTL seen, ascending
    initial_ttl: int  #: inferred initial TTL of ``ttl``
    routers_between: int  #: routers between it and the capture point
    traceroute_hop: int  #: its traceroute hop from the capture point
    family: str  #: initial-TTL family label ("windows", "linux-like", ...)
    ambiguous: bool  #: more routers than plausible (non-default initial TTL?)
    ttl_changes: int  #: conversations in which its TTL changed between packets
    sightings: tuple[TtlSighting, ...]  #: per conversation and direction
    fingerprints: tuple[SynFingerprint, ...]  #: distinct SYN / SYN-ACK fingerprints
    #: TTLs of packets in its name from more than the tolerance nearer than its own (farthest) hop: a device
    #: answering for it (a transparent proxy, a TLS inspector), left out of ``ttl`` and what follows from it
    device_ttls: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        """JSON form (``netreset hosts --format json``)."""
        return asdict(self) | {
            "ttls": list(self.ttls),
            "sightings": [asdict(s) | {"ttls": list(s.ttls), "rst_ttls": list(s.rst_ttls)} for s in self.sightings],
            "fingerprints": [asdict(f) for f in self.fingerprints],
            "device_ttls": list(self.device_ttls),
        }


class _Sides:
    """Every conversation's packets split by sending side, as flat arrays grouped (conversation, side).

    One group per conversation and side that sent a packet with a TTL, in the order the profiles are
    built: conversations in list order, orig before resp, packets in capture order inside a group.
    """

    def __init__(self, table: PacketTable, conversations: list[Conversation]) -> None:
        n = len(conversations)
        lengths = np.fromiter((len(c.rows) for c in conversations), dtype=np.int64, count=n)
        rows = np.concatenate([np.asarray(c.rows, dtype=np.int64) for c in conversations])
        resp = ~np.concatenate([np.asarray(c.from_orig, dtype=bool) for c in conversations])
        gid = np.repeat(np.arange(n, dtype=np.int64) * 2, lengths) + resp
        keep = table.ttl[rows] >= 0
        order = np.argsort(gid[keep], kind="stable")
        self.rows, self.gid = rows[keep][order], gid[keep][order]
        self.ttl = table.ttl[self.rows].astype(np.int64)
        self.rst = (table.flags[self.rows] & RST) != 0
        self.starts = np.flatnonzero(np.r_[True, self.gid[1:] != self.gid[:-1]]) if len(self.gid) else np.zeros(0, np.int64)
        self.groups = self.gid[self.starts]
        self.src = table.src[self.rows[self.starts]].astype(np.int64)

    def group_of(self, gid: np.ndarray) -> np.ndarray:
        """Index into ``groups`` of each group id."""
        return np.searchsorted(self.groups, gid)

    def per_group(self, keys: np.ndarray) -> list[list[int]]:
        """Per group, the TTLs of ``keys`` (gid * 256 + ttl, grouped by gid, in the wanted order)."""
        out: list[list[int]] = [[] for _ in range(len(self.groups))]
        for group, ttl in zip(self.group_of(keys // 256).tolist(), (keys % 256).tolist()):
            out[group].append(ttl)
        return out


def _sightings(sides: _Sides, conversations: list[Conversation]) -> list[TtlSighting]:
    """One sighting per group: distinct TTLs in order of first appearance (RSTs apart), TTL changes."""
    plain_gid, plain_ttl = sides.gid[~sides.rst], sides.ttl[~sides.rst]
    keys, first = np.unique(plain_gid * 256 + plain_ttl, return_index=True)
    firsts = keys[np.argsort(first, kind="stable")]
    changed = (plain_ttl[1:] != plain_ttl[:-1]) & (plain_gid[1:] == plain_gid[:-1])
    changes = np.bincount(sides.group_of(plain_gid[1:][changed]), minlength=len(sides.groups)).tolist()
    packets = np.diff(np.r_[sides.starts, len(sides.gid)]).tolist()
    ttls = sides.per_group(firsts)
    rst_ttls = sides.per_group(np.unique(sides.gid[sides.rst] * 256 + sides.ttl[sides.rst]))
    found = []
    for i, gid in enumerate(sides.groups.tolist()):
        conv = conversations[gid // 2]
        found.append(TtlSighting(
            conversation=conv.id, tcp_stream=conv.tcp_stream, role="resp" if gid % 2 else "orig",
            packets=packets[i], ttls=tuple(ttls[i]), changes=changes[i], rst_ttls=tuple(rst_ttls[i]),
        ))
    return found


def _ttl_counts(src: np.ndarray, ttl: np.ndarray) -> dict[int, dict[int, int]]:
    """address id → {TTL: packets}, TTLs ascending."""
    keys, counts = np.unique(src * 256 + ttl, return_counts=True)
    out: dict[int, dict[int, int]] = {}
    for key, count in zip(keys.tolist(), counts.tolist()):
        out.setdefault(key // 256, {})[key % 256] = count
    return out


def _fingerprints(table: PacketTable, sides: _Sides, conversations: list[Conversation]) -> dict[int, list[SynFingerprint]]:
    """address id → its distinct SYN / SYN-ACK fingerprints, in order of first sight, with counts."""
    syn = np.flatnonzero((table.flags[sides.rows] & SYN) != 0)
    rows = sides.rows[syn]
    names = ("flags", "ttl", "df", "win", "mss", "wscale", "sack_perm", "ts_val", "options_sig", "src")
    cols = [table.columns[name][rows].tolist() for name in names]
    signatures = table.book.signatures
    seen: dict[int, dict[tuple, list]] = {}
    for gid, flags, ttl, df, win, mss, wscale, sack, ts_val, sig, src in zip((sides.gid[syn] // 2).tolist(), *cols):
        key = ("syn-ack" if flags & ACK else "syn", ttl, bool(df), win, mss, wscale, bool(sack), ts_val >= 0,
               signatures[sig] if 0 <= sig < len(signatures) else "")
        known = seen.setdefault(src, {}).get(key)
        if known is None:
            seen[src][key] = [conversations[gid].id, 1]
        else:
            known[1] += 1
    return {src: [SynFingerprint(*key, first_conversation=first, count=count) for key, (first, count) in found.items()]
            for src, found in seen.items()}


def _profile(address: str, ip_version: int, sightings: list[TtlSighting], plain: dict[int, int], rst: dict[int, int],
             fingerprints: list[SynFingerprint], ttl_table: TtlTable | None, reach) -> HostProfile:
    counts = plain or rst
    device = _device_ttls(counts, reach)
    own = {t: n for t, n in counts.items() if t not in device}
    ttl = max(sorted(own), key=lambda v: own[v])
    guess = guess_ttl(ttl, ttl_table)
    return HostProfile(
        address=address, ip_version=ip_version,
        packets=sum(s.packets for s in sightings), conversations=len({s.conversation for s in sightings}),
        ttl=ttl, ttls=tuple(sorted(set(plain) | set(rst))), initial_ttl=guess.initial,
        routers_between=guess.routers_between, traceroute_hop=guess.traceroute_hop, family=guess.family,
        ambiguous=guess.ambiguous, ttl_changes=sum(1 for s in sightings if s.changes),
        sightings=tuple(sightings), fingerprints=tuple(fingerprints), device_ttls=tuple(sorted(device)),
    )


def _device_ttls(counts: dict[int, int], reach: tuple[np.ndarray, np.ndarray]) -> set[int]:
    """The TTLs more than the tolerance nearer than the host's farthest kernel TTL: a device that answers in an
    address's name sits between the capture point and it (as
    :func:`~netreset.analyses.resets.pairs.own_hop_keys` reads the capture for reset attribution)."""
    fewest, most = reach
    farthest = max(int(fewest[t]) for t in counts)
    return {t for t in counts if most[t] + TTL_TOLERANCE_HOPS < farthest}


def profile_hosts(
    table: PacketTable, conversations: list[Conversation], ttl_table: TtlTable | None = None
) -> list[HostProfile]:
    """One profile per address that sent TCP packets in ``conversations``, in order of first appearance.

    Vectorised: the packets are grouped by (conversation, sending side) once, TTLs counted with numpy;
    only one record per group and per host is built in Python.
    """
    if not conversations:
        return []
    sides = _Sides(table, conversations)
    sightings = _sightings(sides, conversations)
    row_src = table.src[sides.rows].astype(np.int64)
    plain = _ttl_counts(row_src[~sides.rst], sides.ttl[~sides.rst])
    rst = _ttl_counts(row_src[sides.rst], sides.ttl[sides.rst])
    fingerprints = _fingerprints(table, sides, conversations)
    by_host: dict[int, list[TtlSighting]] = {}
    versions: dict[int, int] = {}
    for src, gid, sighting in zip(sides.src.tolist(), sides.groups.tolist(), sightings):
        by_host.setdefault(src, []).append(sighting)
        versions.setdefault(src, conversations[gid // 2].ip_version)
    reach = ttl_reach(TtlReader(ttl_table))
    return [_profile(table.book.name(src), versions[src], found, plain.get(src, {}), rst.get(src, {}),
                     fingerprints.get(src, []), ttl_table, reach) for src, found in by_host.items()]
