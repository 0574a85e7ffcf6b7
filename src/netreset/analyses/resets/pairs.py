"""Per-RST facts that compare the RST with a *set* of packets, computed for all RSTs with RST × packet pairs.

A prefix aggregate cannot say "the smallest TTL gap to any TTL the sender used" or "packets after the RST
whose data reaches beyond the RST's seq" (both depend on the RST's own value), so these facts expand
pairs — each RST with the few distinct TTLs of its sender, with the sender's later packets, with its
other RSTs — and reduce them per RST with numpy. :func:`~netreset.analyses.resets.index.pairs` bounds the
memory of long conversations with many RSTs.
"""

from __future__ import annotations

import numpy as np

from netreset.packets.table import ACK, FIN, PROTO_TCP, RST, SYN, PacketTable
from netreset.analyses.resets.index import Groups, pairs, seq_ends, serial
from netreset.analyses.resets.weights import SEQ_CHANGE_WINDOW_S, SEQ_SLACK

_NONE = np.iinfo(np.int64).max  #: "no value yet" for minimum reductions
_LOW = np.iinfo(np.int64).min  #: "no value yet" for maximum reductions


def _ranges(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) of the entries of sorted ``keys`` equal to each of ``wanted``."""
    return np.searchsorted(keys, wanted, side="left"), np.searchsorted(keys, wanted, side="right")


def _min_gap(lo, hi, ttls: np.ndarray, rst_ttl: np.ndarray, valid=None) -> np.ndarray:
    """Per RST: smallest |ttl − RST TTL| over entries [lo, hi) (where ``valid(item, entry)``)."""
    best = np.full(len(lo), _NONE, dtype=np.int64)
    for item, entry in pairs(lo, hi):
        gap = np.abs(ttls[entry] - rst_ttl[item])
        if valid is not None:
            gap = np.where(valid(item, entry), gap, _NONE)
        np.minimum.at(best, item, gap)
    return best


def ttl_gaps(g: Groups, r) -> None:
    """Smallest gap between the RST's TTL and a TTL of the sender's packets before it (distinct TTLs)."""
    c = g.col
    plain = np.flatnonzero((c["flags"] & RST) == 0)
    keys, first = np.unique(g.gid[plain] * 512 + c["ttl"][plain] + 1, return_index=True)
    first_at, ttls, owner = plain[first], keys % 512 - 1, keys // 512
    lo, hi = _ranges(owner, r.gid)
    gap = _min_gap(lo, hi, ttls, c["ttl"][r.at], lambda item, entry: first_at[entry] <= r.jS[item])
    r.put("sender_ttl_gap", gap, gap != _NONE)


def host_ttl_counts(table: PacketTable) -> tuple[np.ndarray, np.ndarray]:
    """How many non-RST TCP packets each host sent with each TTL: sorted keys ``src * 256 + ttl`` and
    their counts. A streamed analysis adds these up chunk by chunk (:func:`merge_ttl_counts`)."""
    keep = (table.proto == PROTO_TCP) & ((table.flags & RST) == 0) & (table.ttl >= 0)
    return np.unique(table.src[keep].astype(np.int64) * 256 + table.ttl[keep], return_counts=True)


def merge_ttl_counts(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The sum of two :func:`host_ttl_counts` results."""
    keys, inverse = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
    counts = np.zeros(len(keys), dtype=np.int64)
    np.add.at(counts, inverse, np.concatenate([a[1], b[1]]))
    return keys, counts


def host_facts(table: PacketTable, g: Groups, r, ttl_counts: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """The claimed sender's TTLs over the whole capture (non-RST TCP packets): most common, smallest gap.
    ``ttl_counts``: :func:`host_ttl_counts` of the whole capture when ``table`` holds only part of it."""
    keys, counts = ttl_counts if ttl_counts is not None else host_ttl_counts(table)
    hosts, ttls = keys // 256, keys % 256
    order = np.lexsort((ttls, -counts, hosts))  # per host: most packets first, then the lowest TTL
    top = order[np.r_[True, hosts[order][1:] != hosts[order][:-1]]] if len(order) else order
    sender = g.col["src"][g.start[r.gid]]  # the first packet of the sender's side is its own
    lo, hi = _ranges(hosts, sender)
    known = hi > lo
    common = ttls[top][np.minimum(np.searchsorted(hosts[top], sender), max(len(top) - 1, 0))] if len(top) else lo
    r.put("host_ttl", common, known)
    gap = _min_gap(lo, hi, ttls, g.col["ttl"][r.at])
    r.put("host_ttl_gap", gap, known)
    r.put("host_ttls", hi - lo)


def race_facts(g: Groups, r) -> None:
    """The sender's non-RST packets after each RST, and those of them carrying new data."""
    c = g.col
    plain = (c["flags"] & RST) == 0
    end = g.end[r.gid]
    r.put("after_count", g.count(plain, r.gid, end - 1) - g.count(plain, r.gid, r.at))
    after = g.first_after(plain, r.gid, r.at)
    r.put("after_frame", c["frame"][np.maximum(after, 0)], after >= 0)
    moves = c["payload_len"] + ((c["flags"] & (SYN | FIN)) != 0)
    candidates = np.flatnonzero(plain & (moves > 0))
    lo, hi = np.searchsorted(candidates, r.at + 1), np.searchsorted(candidates, end)
    count = np.zeros(len(r.at), dtype=np.int64)
    first = np.full(len(r.at), _NONE, dtype=np.int64)
    for item, entry in pairs(lo, hi):
        e = candidates[entry]
        new = serial(c["seq"][e] + moves[e] - c["seq"][r.at[item]]) > 0
        np.add.at(count, item[new], 1)
        np.minimum.at(first, item[new], e[new])
    r.put("new_count", count)
    r.put("new_frame", c["frame"][np.where(first == _NONE, 0, first)], first != _NONE)


def burst_facts(g: Groups, r) -> None:
    """Weaver et al.: the sender's other RSTs in the conversation within the burst window of each RST."""
    c = g.col
    ts, seq, ack, flags = (c[name][r.at] for name in ("ts_ns", "seq", "ack", "flags"))
    lo, hi = np.searchsorted(r.at, g.start[r.gid]), np.searchsorted(r.at, g.end[r.gid])
    n = len(r.at)
    partners = np.zeros(n, dtype=np.int64)
    spread = np.full(n, _LOW, dtype=np.int64)
    earlier, differ, last = np.zeros(n, np.int64), np.zeros(n, bool), np.full(n, -1, np.int64)
    found = []
    for k, m in pairs(lo, hi):
        near = (m != k) & (np.abs(ts[m] - ts[k]) / 1e9 < SEQ_CHANGE_WINDOW_S)
        k, m = k[near], m[near]
        np.add.at(partners, k, 1)
        seqs = serial(seq[m] - seq[k])
        np.maximum.at(spread, k, seqs)
        found.append((k, m, seqs))
        acked = ((flags[m] & ACK) != 0) & (ts[m] <= ts[k])
        np.add.at(earlier, k[acked], 1)
        np.logical_or.at(differ, k[acked], ack[m][acked] != ack[k][acked])
        np.maximum.at(last, k[acked], m[acked])
    r.put("partners", partners)
    r.put("seq_spread", spread, partners > 0)
    r.put("earlier_acks", earlier)
    r.put("acks_differ", differ)
    r.put("last_ack", ack[np.maximum(last, 0)], last >= 0)
    r.put("seq_jump", _jumps(g, r, found, partners))
    r.put("ack_justified", _justified(g, r, ack))


def _jumps(g: Groups, r, found: list, partners: np.ndarray) -> np.ndarray:
    """Per RST: a partner's seq is more than SEQ_SLACK off and beyond anything the sender sent or the
    other side acknowledged in the whole conversation (relative to this RST's seq)."""
    jump = np.zeros(len(r.at), dtype=bool)
    if not found:
        return jump
    limit = _sent_and_acked_limits(g, r, partners > 0)
    for k, _, seqs in found:
        hit = (np.abs(seqs) > SEQ_SLACK) & (np.maximum(seqs, 0) > limit[k] + SEQ_SLACK)
        np.logical_or.at(jump, k[hit], True)
    return jump


def _sent_and_acked_limits(g: Groups, r, wanted: np.ndarray) -> np.ndarray:
    """Per wanted RST: highest seq end the sender sent (non-RST) or ack the other side sent, relative to the
    RST's seq, over the whole conversation; 0 when neither exists."""
    c = g.col
    limit = np.full(len(r.at), _LOW, dtype=np.int64)
    rst_seq = c["seq"][r.at]
    ends = seq_ends(c)
    for mask, values, groups in (((c["flags"] & RST) == 0, ends, r.gid), ((c["flags"] & ACK) != 0, c["ack"], r.other)):
        members = np.flatnonzero(mask)
        lo = np.where(wanted, np.searchsorted(members, g.start[groups]), 0)
        hi = np.where(wanted, np.searchsorted(members, g.end[groups]), 0)
        for item, entry in pairs(lo, hi):
            np.maximum.at(limit, item, serial(values[members[entry]] - rst_seq[item]))
    return np.where(limit == _LOW, 0, limit)


def _justified(g: Groups, r, ack: np.ndarray) -> np.ndarray:
    """Per RST: a packet of the other side before it ends exactly at the RST's ack."""
    keys, first = np.unique(g.gid * 2**32 + seq_ends(g.col), return_index=True)
    wanted = r.other * 2**32 + ack
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    return (keys[at] == wanted) & (first[at] <= r.jO) & (r.jO >= g.start[r.other])
