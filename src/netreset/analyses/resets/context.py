"""Building a :class:`ResetContext` for every RST at once: the facts each rule compares it with.

The facts are computed for all RSTs together with numpy over the packets of the conversations that hold
a RST, grouped by (conversation, side) (:class:`~netreset.analyses.resets.index.Groups`): "the claimed sender's
last TTL before the RST" is a prefix aggregate over the sender's group read at the RST's index, and so
on. Facts that compare the RST with a set (data after it, a burst of RSTs) expand RST × packet pairs.
The result is a :class:`ResetFacts`: one column per fact. The reference rules read one
:class:`ResetContext` per RST (plain Python numbers, no numpy call per RST); the batch rules
(:mod:`netreset.analyses.resets.batch`) read the columns themselves.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Sequence

import numpy as np

from netreset.flows.model import Conversation
from netreset.packets.table import ACK, FIN, PROTO_ICMP, PROTO_ICMP6, PROTO_TCP, RST, SYN, PacketTable
from netreset.analyses.resets.evidence import IcmpSighting, ResetContext, TtlReader
from netreset.analyses.resets.index import Groups, seq_ends, serial, with_rsts
from netreset.analyses.resets.pairs import burst_facts, host_facts, race_facts, sent_before, shared_facts, ttl_gaps
from netreset.analyses.resets.weights import APPLICATION_TTLS, IPID_MAX_STEP, IPID_REORDER
from netreset.analyses.ttl import TtlTable

#: Fields of the RST itself, as ResetContext names them, and the Groups column each comes from.
_RST_FIELDS = (("frame", "frame"), ("ts_ns", "ts_ns"), ("sport", None), ("dport", None), ("ttl", "ttl"),
               ("ip_version", None), ("ip_id", "ip_id"), ("df", "df"), ("win", "win"), ("ts_val", "ts_val"),
               ("flags", "flags"), ("seq", "seq"), ("ack", "ack"))


class Rsts:
    """The RSTs among the grouped packets, with the per-RST fact columns collected so far."""

    def __init__(self, g: Groups) -> None:
        self.at = np.flatnonzero((g.col["flags"] & RST) != 0)  #: index of each RST in the groups
        self.gid = g.gid[self.at]
        self.other = self.gid ^ 1
        self.jS = self.at - 1  #: last packet of the sender's group before the RST (same group, sorted)
        self.jO = g.before(self.other, g.pos[self.at])  #: last packet of the other side before it
        self.facts: dict[str, np.ndarray] = {}
        self.own_ports: list[tuple[int, ...]] = [()] * len(self.at)  #: ResetContext.host_own_ports (objects)
        self.present: dict[str, np.ndarray] = {}  #: per optional fact: where it has a value (else None)

    def put(self, name: str, values: np.ndarray, present: np.ndarray | None = None) -> None:
        """Store a fact column; it reads as None where ``present`` is False."""
        self.facts[name] = np.asarray(values)
        if present is not None:
            self.present[name] = np.asarray(present, dtype=bool)


class ResetFacts:
    """Every fact of :class:`ResetContext` for many RSTs, one column per field (in conversation order, then
    capture order). Numeric fields are numpy arrays (:meth:`values`; where an optional field is None,
    :meth:`has` is False and the array holds an arbitrary number); ``conv``, ``src``, ``dst`` and
    ``icmp`` are lists of objects; ``guess`` is the run's one TTL reader."""

    def __init__(self, values: dict[str, np.ndarray], present: dict[str, np.ndarray], objects: dict[str, list],
                 guess: TtlReader) -> None:
        self._values, self._present, self._objects, self.guess = values, present, objects, guess
        self._listed: dict[str, list] = {}

    def __len__(self) -> int:
        return len(self._values["row"])

    def values(self, name: str) -> np.ndarray:
        """The numeric column ``name``."""
        return self._values[name]

    def has(self, name: str) -> np.ndarray:
        """Where the column ``name`` has a value (all True for a field that is never None)."""
        found = self._present.get(name)
        return found if found is not None else np.ones(len(self), dtype=bool)

    def listed(self, name: str) -> list:
        """The column ``name`` as Python values (None where absent), as a context holds it (cached)."""
        found = self._listed.get(name)
        if found is None:
            if name in self._objects:
                found = self._objects[name]
            else:
                values, present = self._values[name], self._present.get(name)
                if present is not None and not present.all():
                    values = values.astype(object)  # Python numbers, as tolist() makes them
                    values[~present] = None
                found = values.tolist()
            self._listed[name] = found
        return found

    def take(self, index: np.ndarray) -> "ResetFacts":
        """The facts of the RSTs at ``index`` (integer positions), in that order."""
        positions = index.tolist()
        return ResetFacts({k: v[index] for k, v in self._values.items()}, {k: v[index] for k, v in self._present.items()},
                          {k: [v[i] for i in positions] for k, v in self._objects.items()}, self.guess)

    def contexts(self) -> list[ResetContext]:
        """One :class:`ResetContext` per RST, built positionally (in the dataclass's field order)."""
        if not len(self):
            return []
        columns = [[self.guess] * len(self) if f.name == "guess" else self.listed(f.name) for f in fields(ResetContext)]
        return [ResetContext(*values) for values in zip(*columns)]


def _at(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]`` with -1 (absent) read as index 0; callers mask the absent ones."""
    return values[np.maximum(index, 0)]


def _sender(g: Groups, r: Rsts) -> None:
    """Facts about the claimed sender's non-RST packets before each RST."""
    c = g.col
    plain = (c["flags"] & RST) == 0
    gid, upto = r.gid, r.jS
    count = g.count(plain, gid, upto)
    some = count > 0
    last = g.last(plain, gid, upto)
    r.put("sender_count", count)
    r.put("sender_ttl", _at(c["ttl"], _reference(g, r, plain, last)), some)
    r.put("sender_win", _at(c["win"], last), some)
    r.put("sender_has_ip_id", sent_before(g, r, plain & (c["ip_id"] >= 0), "ip_id"))
    r.put("sender_has_win", sent_before(g, r, plain, "win"))
    r.put("sender_df", _at(c["df"], g.first(plain, gid)).astype(bool), some)
    dfs = g.count(plain & (c["df"] != 0), gid, upto)
    r.put("sender_df_uniform", (dfs == 0) | (dfs == count))
    r.put("sender_closed", g.count(plain & ((c["flags"] & FIN) != 0), gid, upto) > 0)
    segments = plain & ((c["flags"] & SYN) == 0)
    r.put("segments", g.count(segments, gid, upto))
    r.put("segments_without_ts", g.count(segments & (c["ts_val"] < 0), gid, upto))
    _ipid(g, r, plain)
    _sequence(g, r, plain, some)


def _reference(g: Groups, r: Rsts, plain: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Per RST: the sender's packet whose TTL is its reference — the last one its kernel made (SYN,
    SYN-ACK, no payload) with a TTL no application sets, else the last with such a TTL, else the last."""
    c = g.col
    chosen = ~np.isin(c["ttl"], APPLICATION_TTLS) & plain
    kernel = chosen & (((c["flags"] & SYN) != 0) | (c["payload_len"] == 0))
    found = g.last(kernel, r.gid, r.jS)
    found = np.where(found >= 0, found, g.last(chosen, r.gid, r.jS))
    return np.where(found >= 0, found, last)


def _ipid(g: Groups, r: Rsts, plain: np.ndarray) -> None:
    """The sender's non-zero IP IDs before each RST: how many, their steps, the first and last one."""
    c = g.col
    nonzero = plain & (c["ip_id"] > 0)
    everywhere = g.gid
    previous = g.last(nonzero, everywhere, np.arange(len(g)) - 1)
    stepped = nonzero & (previous >= 0)
    step = np.where(stepped, (c["ip_id"] - _at(c["ip_id"], previous)) % 65536, 0)
    broken = stepped & ~((step <= IPID_MAX_STEP) | (step >= 65536 - IPID_REORDER))
    gid, upto = r.gid, r.jS
    r.put("ipid_nonzero", g.count(nonzero, gid, upto))
    r.put("ipid_breaks", g.count(broken, gid, upto))
    r.put("ipid_step_sum", g.total(step, gid, upto))
    last = g.last(nonzero, gid, upto)
    first = g.first(nonzero, gid)
    r.put("ipid_last", _at(c["ip_id"], last), last >= 0)
    r.put("ipid_last_ts", _at(c["ts_ns"], last), last >= 0)
    r.put("ipid_first_ts", _at(c["ts_ns"], first), last >= 0)


def _sequence(g: Groups, r: Rsts, plain: np.ndarray, some: np.ndarray) -> None:
    """The sender's next seq and the other side's highest ack (relative to the sender's first seq),
    and the other side's receive window."""
    c = g.col
    group_first = g.first(plain, np.arange(len(g.start) - 1))
    base_of_group = np.where(group_first >= 0, _at(c["seq"], group_first), 0)
    base = base_of_group[g.gid]
    rel_end = serial(seq_ends(c) - base)
    rel_ack = serial(c["ack"] - base_of_group[g.gid ^ 1])
    r.put("seq_base", base_of_group[r.gid], some)
    r.put("seq_next", g.prefix_max(rel_end, plain, r.gid, r.jS), some)
    acked = (c["flags"] & ACK) != 0
    has_ack = g.count(acked, r.other, r.jO) > 0
    r.put("ack_max", g.prefix_max(rel_ack, acked, r.other, r.jO), has_ack)
    segment = g.last((c["flags"] & SYN) == 0, r.other, r.jO)
    shift = _window_shift(g)[r.gid]
    r.put("receive_window", _at(c["win"], segment) << np.minimum(shift, 14), segment >= 0)


def _window_shift(g: Groups) -> np.ndarray:
    """Per group: the shift applied to the *other* side's windows (its SYN's scale when both SYNs
    negotiated window scaling, else 0)."""
    c = g.col
    scaled_syn = ((c["flags"] & SYN) != 0) & (c["wscale"] >= 0)
    groups = np.arange(len(g.start) - 1)
    first = g.first(scaled_syn, groups)
    scale = np.where(first >= 0, _at(c["wscale"], first), -1)
    both = (scale >= 0) & (scale[groups ^ 1] >= 0)
    return np.where(both, scale[groups ^ 1], 0)


def _other(g: Groups, r: Rsts) -> None:
    """The other side's last packet before each RST (every packet counts, RSTs too)."""
    c = g.col
    some = r.jO >= g.start[r.other]
    r.put("other_count", np.where(some, r.jO - g.start[r.other] + 1, 0))
    for name, column in (("other_ip_id", "ip_id"), ("other_frame", "frame"), ("other_win", "win"), ("other_ts", "ts_ns")):
        r.put(name, _at(c[column], r.jO), some)


def handshake_rtts(g: Groups) -> np.ndarray:
    """Per group: seconds from the capture point to that side and back, measured on the handshake (NaN
    when not seen). Responder: last SYN before the first SYN-ACK → it; originator: first SYN-ACK →
    the originator's first ACK after it."""
    c = g.col
    hs = c["flags"] & (SYN | ACK)
    n = len(g.start) // 2
    resp_groups, orig_groups = np.arange(n) * 2, np.arange(n) * 2 + 1
    synack = g.first(hs == (SYN | ACK), resp_groups)
    seen = synack >= 0
    at = _at(g.pos, synack)
    ack = g.first_after(hs == ACK, orig_groups, g.before(orig_groups, at + 1))
    syn = g.last(hs == SYN, orig_groups, g.before(orig_groups, at))
    ts = c["ts_ns"]
    rtt = np.full(2 * n, np.nan)
    rtt[orig_groups] = np.where(seen & (ack >= 0), (_at(ts, ack) - _at(ts, synack)) / 1e9, np.nan)
    rtt[resp_groups] = np.where(seen & (syn >= 0), (_at(ts, synack) - _at(ts, syn)) / 1e9, np.nan)
    return rtt


def _icmp(table: PacketTable, g: Groups, conversations: Sequence[Conversation]) -> list[tuple[IcmpSighting, ...]]:
    """Per conversation: the ICMP errors whose quoted header belongs to it (either direction), in row order."""
    icmp_rows = np.flatnonzero(np.isin(table.proto, (PROTO_ICMP, PROTO_ICMP6)) & (table.q_sport >= 0))
    if not len(icmp_rows) or not conversations:
        return [()] * len(conversations)
    names = ("q_src", "q_dst", "q_sport", "q_dport", "ts_ns", "src", "proto", "icmp_type", "icmp_code", "ttl", "frame")
    quoting: dict[tuple, dict[int, IcmpSighting]] = {}
    for row, qs, qd, qsp, qdp, ts, src, *rest in zip(icmp_rows.tolist(), *(table.columns[n][icmp_rows].tolist() for n in names)):
        quoting.setdefault((qs, qd, qsp, qdp), {})[row] = IcmpSighting(ts, table.book.name(src), *rest)
    found = []
    for conv, o, r in zip(conversations, *_addresses(g, len(conversations))):
        rows = quoting.get((o, r, conv.orig_p, conv.resp_p), {}) | quoting.get((r, o, conv.resp_p, conv.orig_p), {})
        found.append(tuple(rows[row] for row in sorted(rows)))
    return found


def _addresses(g: Groups, n: int) -> tuple[list[int], list[int]]:
    """Address ids of each conversation's two sides: the source of the side's first packet, else (the
    side sent nothing) the destination of the other side's first packet."""
    last = len(g) - 1
    sides = []
    for side in (1, 0):
        mine, theirs = np.arange(n) * 2 + side, np.arange(n) * 2 + 1 - side
        present = g.start[mine] < g.end[mine]
        src = g.col["src"][np.minimum(g.start[mine], last)]
        dst = g.col["dst"][np.minimum(g.start[theirs], last)]
        sides.append(np.where(present, src, dst).tolist())
    return sides[0], sides[1]


def reset_facts(table: PacketTable, conversations: Sequence[Conversation],
                ttl_table: TtlTable | None = None, host_ttls=None) -> ResetFacts:
    """The facts of every RST of ``conversations`` (in conversation order, then capture order).
    ``host_ttls``: the whole capture's :func:`~netreset.analyses.resets.pairs.host_ttl_counts` when ``table`` is
    only the part of it that holds these conversations (a streamed analysis)."""
    picked, lengths, rows = with_rsts(table, conversations)
    chosen = [conversations[i] for i in picked.tolist()]
    g = Groups(table, chosen, lengths, rows)
    r = Rsts(g)
    guess = TtlReader(ttl_table)
    if len(r.at):
        _sender(g, r)
        _other(g, r)
        rtt = handshake_rtts(g)[r.gid]
        r.put("rtt", rtt, ~np.isnan(rtt))
        ttl_gaps(g, r)
        host_facts(table, g, r, host_ttls, guess)
        race_facts(g, r)
        burst_facts(g, r)
        shared_facts(table, g, r, host_ttls)
    return _assemble(table, g, r, chosen, guess)


def _assemble(table, g: Groups, r: Rsts, chosen, guess: TtlReader) -> ResetFacts:
    """The fact columns of :class:`ResetContext`: the RST's own fields, the facts and the objects."""
    rows = g.rows[r.at]
    values: dict[str, Any] = {key: g.col[col][r.at] if col else table.columns[key][rows] for key, col in _RST_FIELDS}
    values["df"] = values["df"] != 0
    values |= r.facts
    values |= {"row": rows, "from_orig": r.gid % 2 == 1}
    conv_index = (r.gid // 2).tolist()
    names = table.book.addresses + [""]  # id -1 (absent) reads as "", as AddressBook.name has it
    icmp = _icmp(table, g, chosen) if len(r.at) else []
    objects = {"conv": [chosen[i] for i in conv_index], "icmp": [icmp[i] for i in conv_index],
               "src": [names[v] for v in g.col["src"][r.at].tolist()], "dst": [names[v] for v in g.col["dst"][r.at].tolist()],
               "host_own_ports": list(r.own_ports)}
    return ResetFacts(values, dict(r.present), objects, guess)
