"""Per-RST facts that compare the RST with a *set* of packets, computed for all RSTs with RST × packet pairs.

A prefix aggregate cannot say "the smallest TTL gap to any TTL the sender used" or "packets after the RST
whose data reaches beyond the RST's seq" (both depend on the RST's own value), so these facts expand
pairs — each RST with the few distinct TTLs of its sender, with the sender's later packets, with its
other RSTs — and reduce them per RST with numpy. :func:`~netreset.analyses.resets.index.pairs` bounds the
memory of long conversations with many RSTs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from netreset.packets.table import ACK, FIN, PROTO_TCP, RST, SYN, PacketTable
from netreset.analyses.resets.index import Groups, pairs, seq_ends, serial
from netreset.analyses.resets.weights import (
    APPLICATION_TTLS,
    SEQ_CHANGE_WINDOW_S,
    SEQ_SLACK,
    SHARED_IPID_LOOKBACK,
    SHARED_IPID_MAX_STEP,
    SHARED_IPID_MIN_RSTS,
    SHARED_IPID_MIN_SENDERS,
    SHARED_IPID_STEP_PER_S,
    SHARED_IPID_WINDOW_S,
    OWN_HOP_MAX_CLUSTERS,
    TTL_TOLERANCE_HOPS,
)

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


class CaptureWide(NamedTuple):
    """The facts a RST's judgement needs from the whole capture, which a streamed analysis adds up batch by
    batch (:func:`host_ttl_counts` of each batch, summed with :func:`merge_ttl_counts`)."""

    keys: np.ndarray  #: sorted ``src * 256 + ttl`` of the non-RST TCP packets
    counts: np.ndarray  #: how many packets of each key
    numbered: np.ndarray  #: IPv4 RSTs and SYNs with a non-zero IP ID, one row each: :data:`NUMBERED`
    #: the handshakes each address answered, by port and TTL: rows ``(src * 2**24 + sport * 256 + ttl, SYN-ACKs)``,
    #: keys sorted (one row per service and TTL, not per connection: bounded as the address book is)
    answers: np.ndarray = np.zeros((0, 2), dtype=np.int64)
    #: the SYN-ACK options each address answered with, by TTL: rows ``(src * 256 + ttl, options, SYN-ACKs)``
    #: (``options``: :func:`synack_options`), sorted
    options: np.ndarray = np.zeros((0, 3), dtype=np.int64)


def synack_options(mss, wscale, sack, timestamps) -> np.ndarray:
    """One number per SYN-ACK for its stack's options (p0f's fields that do not depend on the connection):
    MSS, window-scale shift, SACK permitted, timestamps present."""
    return ((np.asarray(mss, dtype=np.int64) & 0xFFFF) << 8) | ((np.asarray(wscale, dtype=np.int64) + 1) & 0x3F) << 2 \
        | (np.asarray(sack, dtype=np.int64) != 0) << 1 | (np.asarray(timestamps, dtype=np.int64) >= 0)


#: Columns of :attr:`CaptureWide.numbered`: what the shared IP ID counter rule reads (``rst``: 1 for a RST,
#: 0 for a SYN or SYN-ACK — the claimed senders' own kernel-made packets its premise is checked against).
NUMBERED = ("ts_ns", "src", "ip_id", "sport", "dport", "rst")


def host_ttl_counts(table: PacketTable) -> CaptureWide:
    """How many non-RST TCP packets each host sent with each TTL (sorted keys ``src * 256 + ttl`` and their
    counts), the IPv4 RSTs and SYNs with their IP IDs, and the SYN-ACKs each host sent per port and TTL.
    A streamed analysis adds these up chunk by chunk (:func:`merge_ttl_counts`)."""
    tcp = table.proto == PROTO_TCP
    keep = tcp & ((table.flags & RST) == 0) & (table.ttl >= 0)
    keys, counts = np.unique(table.src[keep].astype(np.int64) * 256 + table.ttl[keep], return_counts=True)
    rst = (table.flags & RST) != 0
    numbered = np.flatnonzero(tcp & (table.ip_version == 4) & (table.ip_id > 0) & (rst | ((table.flags & SYN) != 0)))
    columns = [table.columns[name][numbered] for name in NUMBERED[:-1]] + [rst[numbered]]
    synack = np.flatnonzero(keep & ((table.flags & (SYN | ACK)) == (SYN | ACK)))
    answer_keys, answer_counts = np.unique(table.src[synack].astype(np.int64) * 2**24
                                           + table.sport[synack].astype(np.int64) * 256 + table.ttl[synack],
                                           return_counts=True)
    host_ttl = table.src[synack].astype(np.int64) * 256 + table.ttl[synack]
    options = synack_options(table.mss[synack], table.wscale[synack], table.sack_perm[synack], table.ts_val[synack])
    return CaptureWide(keys, counts, np.stack([np.asarray(c, dtype=np.int64) for c in columns], axis=1)
                       if len(numbered) else np.zeros((0, len(NUMBERED)), dtype=np.int64),
                       np.stack([answer_keys, answer_counts], axis=1).astype(np.int64),
                       _counted_rows(np.stack([host_ttl, options], axis=1)))


def _counted_rows(rows: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Distinct ``rows`` (sorted) with a last column: how many of each (or the sum of ``counts``)."""
    if not len(rows):
        return np.zeros((0, rows.shape[1] + 1), dtype=np.int64)
    distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
    total = np.zeros(len(distinct), dtype=np.int64)
    np.add.at(total, inverse.ravel(), 1 if counts is None else counts)
    return np.concatenate([distinct, total[:, None]], axis=1).astype(np.int64)


def merge_ttl_counts(a: tuple, b: tuple) -> CaptureWide:
    """The sum of two :func:`host_ttl_counts` results (a plain ``(keys, counts)`` pair counts as one with no
    numbered packets and no answers: the empty start of a streamed sum)."""
    keys, counts = _summed(a[0], a[1], b[0], b[1])
    answers = np.concatenate([_answers(a), _answers(b)])
    answer_keys, answer_counts = _summed(answers[:, 0], answers[:, 1], answers[:0, 0], answers[:0, 1])
    options = np.concatenate([_options(a), _options(b)])
    return CaptureWide(keys, counts, np.concatenate([_numbered(a), _numbered(b)]),
                       np.stack([answer_keys, answer_counts], axis=1).astype(np.int64),
                       _counted_rows(options[:, :2], options[:, 2]))


def _summed(keys_a, counts_a, keys_b, counts_b) -> tuple[np.ndarray, np.ndarray]:
    keys, inverse = np.unique(np.concatenate([keys_a, keys_b]), return_inverse=True)
    counts = np.zeros(len(keys), dtype=np.int64)
    np.add.at(counts, inverse.ravel(), np.concatenate([counts_a, counts_b]))
    return keys, counts


def near_resets(numbered: np.ndarray, rst_ts: np.ndarray) -> np.ndarray:
    """Which rows of ``numbered`` lie within :data:`~.weights.SHARED_IPID_WINDOW_S` (inclusive) of one of the
    sorted RST timestamps ``rst_ts`` (those of :func:`sequence_rst_times`). The shared-counter rule
    (:func:`shared_sequences`) reads no SYN or SYN-ACK farther than that from a RST of a sequence: one
    between two RSTs of a sequence is within the window of both (consecutive members are at most a window
    apart), a claimed sender's own one is looked for within the window of each RST. So a streamed analysis
    keeps only these and finds what the whole capture does."""
    if not len(numbered) or not len(rst_ts):
        return np.zeros(len(numbered), dtype=bool)
    window = int(SHARED_IPID_WINDOW_S * 1e9)
    ts = numbered[:, 0]
    at = np.searchsorted(rst_ts, ts)
    after = rst_ts[np.minimum(at, len(rst_ts) - 1)]
    before = rst_ts[np.maximum(at - 1, 0)]
    return (np.abs(after - ts) <= window) | (np.abs(ts - before) <= window)


def _numbered(wide: tuple) -> np.ndarray:
    return wide[2] if len(wide) > 2 else np.zeros((0, len(NUMBERED)), dtype=np.int64)


def _answers(wide: tuple) -> np.ndarray:
    return wide[3] if len(wide) > 3 else np.zeros((0, 2), dtype=np.int64)


def _options(wide: tuple) -> np.ndarray:
    return wide[4] if len(wide) > 4 else np.zeros((0, 3), dtype=np.int64)


def own_options(wide: tuple, src: int, own_ttl: int, routers: np.ndarray) -> set[int]:
    """The SYN-ACK options ``src`` answered with from its own hop (within the tolerance of ``own_ttl``'s)."""
    options = _options(wide)
    lo, hi = np.searchsorted(options[:, 0], src * 256), np.searchsorted(options[:, 0], src * 256 + 256)
    near = np.abs(routers[options[lo:hi, 0] % 256] - routers[own_ttl]) <= TTL_TOLERANCE_HOPS
    return set(options[lo:hi, 1][near].tolist())


def ttl_routers(guess) -> tuple[np.ndarray, np.ndarray]:
    """For every TTL 0…255: routers between its sender and the capture point (read with the run's table),
    and whether applications set it (:data:`~.weights.APPLICATION_TTLS`: no hop distance)."""
    routers = np.array([guess(t).routers_between for t in range(256)], dtype=np.int64)
    return routers, np.isin(np.arange(256), APPLICATION_TTLS)


def ttl_reach(guess) -> tuple[np.ndarray, np.ndarray]:
    """For every TTL 0…255: the fewest and the most routers its sender can plausibly be away — one reading per
    default initial TTL at or above it with at most the table's ``max_routers`` between (TTL 30 is 2 routers
    from a 32 or 34 from a 64; TTL 61 only 3 from a 64). Where no reading is plausible, or applications set
    the TTL, (-1, 256): such a TTL makes nobody nearer or farther. Kept on the reader (one table per run)."""
    found = getattr(guess, "_reach", None)
    if found is None:
        from netreset.analyses.ttl import default_ttl_table

        table = guess.table if guess.table is not None else default_ttl_table()
        fewest, most = np.full(256, -1, dtype=np.int64), np.full(256, 256, dtype=np.int64)
        for t in range(256):
            readings = [d - t for d in table.initial_ttls if d >= t and d - t <= table.max_routers]
            if readings and t not in APPLICATION_TTLS:
                fewest[t], most[t] = min(readings), max(readings)
        found = guess._reach = (fewest, most)
    return found


def own_hop_keys(keys: np.ndarray, reach: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per key (``src * 256 + ttl``, sorted): the TTL is of its address's *own* hop.

    A device that answers in an address's name (a transparent proxy, a TLS inspector, a firewall completing
    the handshake itself) sits on the path between the capture point and that address, so its packets arrive
    from fewer routers away than the address's own. An address's own hop is therefore its farthest: a TTL
    that, read every plausible way (:func:`ttl_reach`), is more than :data:`~.weights.TTL_TOLERANCE_HOPS`
    routers nearer than the farthest the address's TTLs surely are, is another device's (a route change of
    one hop stays within the tolerance). TTLs applications set, or with no plausible reading, are kept, and
    so are all of an address whose TTLs form more than :data:`~.weights.OWN_HOP_MAX_CLUSTERS` clusters
    (:func:`hop_clusters`; no one hop is its own: several machines behind it, or a stack that varies its TTL)."""
    if not len(keys):
        return np.ones(0, dtype=bool)
    fewest, most = reach
    hosts, ttls = keys // 256, keys % 256
    starts = np.flatnonzero(np.r_[True, hosts[1:] != hosts[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    farthest = np.repeat(np.maximum.reduceat(fewest[ttls], starts), sizes)
    unsteady = np.repeat(hop_clusters(hosts, ttls, starts) > OWN_HOP_MAX_CLUSTERS, sizes)  # every TTL kept
    return (most[ttls] + TTL_TOLERANCE_HOPS >= farthest) | unsteady


def hop_clusters(hosts: np.ndarray, ttls: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per host (``starts`` of its run in ``hosts``/``ttls``, TTLs ascending within it): how many clusters its
    kernel TTLs form, a TTL more than :data:`~.weights.TTL_TOLERANCE_HOPS` above the one before starting
    another (TTLs applications set are not counted)."""
    kernel = ~np.isin(ttls, APPLICATION_TTLS)
    previous = np.full(len(ttls), -10**6, dtype=np.int64)  # the kernel TTL before, within the host
    index = np.where(kernel, np.arange(len(ttls)), -1)
    last = np.maximum.accumulate(index)
    before = np.r_[-1, last[:-1]]
    host_of = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(ttls)]))
    same_host = (before >= 0) & (host_of[np.maximum(before, 0)] == host_of)
    previous[same_host] = ttls[before[same_host]]
    opens = kernel & (ttls.astype(np.int64) - previous > TTL_TOLERANCE_HOPS)
    return np.add.reduceat(opens.astype(np.int64), starts) if len(starts) else np.zeros(0, np.int64)


def sent_before(g: Groups, r, mask: np.ndarray, column: str) -> np.ndarray:
    """Per RST: one of the sender's ``mask`` packets before it carries the RST's own ``column`` value
    (values 0 … 2**32 − 1)."""
    c = g.col
    members = np.flatnonzero(mask)
    keys, first = np.unique(g.gid[members] * 2**32 + c[column][members], return_index=True)
    if not len(keys):
        return np.zeros(len(r.at), dtype=bool)
    wanted = r.gid * 2**32 + c[column][r.at]
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return (keys[at] == wanted) & (members[first[at]] <= r.jS)


def host_facts(table: PacketTable, g: Groups, r, ttl_counts: tuple | None = None, guess=None) -> None:
    """The claimed sender's TTLs over the whole capture (non-RST TCP packets) at its own hop
    (:func:`own_hop_keys`: a device answering in its name elsewhere is no reference for it): most common
    (one no application sets preferred), smallest gap; where packets in its name came from a nearer
    device somewhere, its own TTL again as ``host_own_ttl`` and the ports it answered handshakes on from
    its own hop (``host_own_ports``), for the rule that tells a connection a device terminated for it.
    ``ttl_counts``: :func:`host_ttl_counts` of the whole capture when ``table`` holds only part of it."""
    from netreset.analyses.resets.evidence import TtlReader

    wide = ttl_counts if ttl_counts is not None else host_ttl_counts(table)
    guess = guess if guess is not None else TtlReader()
    routers, app = ttl_routers(guess)
    reach = ttl_reach(guess)
    all_keys, all_counts = wide[:2]
    own = own_hop_keys(all_keys, reach)
    keys, counts = all_keys[own], all_counts[own]
    hosts, ttls = keys // 256, keys % 256
    set_by_application = np.isin(ttls, APPLICATION_TTLS)
    order = np.lexsort((ttls, -counts, set_by_application, hosts))  # per host: kernel TTLs, most packets, lowest TTL
    top = order[np.r_[True, hosts[order][1:] != hosts[order][:-1]]] if len(order) else order
    sender = g.col["src"][g.start[r.gid]]  # the first packet of the sender's side is its own
    lo, hi = _ranges(hosts, sender)
    known = hi > lo
    common = ttls[top][np.minimum(np.searchsorted(hosts[top], sender), max(len(top) - 1, 0))] if len(top) else lo
    r.put("host_ttl", common, known)
    gap = _min_gap(lo, hi, ttls, g.col["ttl"][r.at])
    r.put("host_ttl_gap", gap, known)
    r.put("host_ttls", hi - lo)
    answered_for = np.isin(sender, np.unique(all_keys[~own] // 256)) & known
    r.put("host_own_ttl", common, answered_for)
    r.own_ports = _own_ports(wide, sender, common, answered_for, table.sport[g.rows[r.at]], routers)
    c = g.col
    synack = g.first(((c["flags"] & (SYN | ACK)) == (SYN | ACK)) & ((c["flags"] & RST) == 0), r.gid)
    differ = np.zeros(len(r.at), dtype=bool)
    for i in np.flatnonzero(answered_for & (synack >= 0) & (synack <= r.jS)).tolist():
        row = g.rows[synack[i]]
        mine = int(synack_options(table.mss[row], table.wscale[row], table.sack_perm[row], table.ts_val[row]))
        own = own_options(wide, int(sender[i]), int(common[i]), routers)
        differ[i] = bool(own) and mine not in own
    r.put("synack_options_differ", differ)
    kernel = ((c["flags"] & RST) == 0) & ~app[c["ttl"]]
    seen = g.count(kernel, r.gid, r.jS) > 0
    r.put("sender_routers_max", g.prefix_max(reach[1][c["ttl"]], kernel, r.gid, r.jS), seen)


def _own_ports(wide: tuple, sender: np.ndarray, own_ttl: np.ndarray, wanted: np.ndarray, sport: np.ndarray,
               routers: np.ndarray) -> list[tuple[int, ...]]:
    """Per RST (where ``wanted``): up to three ports other than its own on which its sender answered a
    handshake (SYN-ACK) from its own hop (within the tolerance of ``own_ttl``'s), most answers first."""
    found: list[tuple[int, ...]] = [()] * len(sender)
    answers = _answers(wide)
    if not len(answers) or not wanted.any():
        return found
    keys, counts = answers[:, 0], answers[:, 1]
    src, port, ttl = keys // 2**24, (keys // 256) % 65536, keys % 256
    for i in np.flatnonzero(wanted).tolist():
        lo, hi = np.searchsorted(src, sender[i]), np.searchsorted(src, sender[i] + 1)
        own_routers = routers[own_ttl[i]]
        tally: dict[int, int] = {}
        for p, t, n in zip(port[lo:hi].tolist(), ttl[lo:hi].tolist(), counts[lo:hi].tolist()):
            if p != int(sport[i]) and abs(int(routers[t]) - int(own_routers)) <= TTL_TOLERANCE_HOPS:
                tally[p] = tally.get(p, 0) + n
        found[i] = tuple(sorted(tally, key=lambda p: (-tally[p], p))[:3])
    return found


def race_facts(g: Groups, r) -> None:
    """The sender's non-RST packets after each RST, and those of them carrying new data."""
    c = g.col
    # A bare SYN after its own RST is the sender trying again (a reused port), not a race with a forger.
    plain = ((c["flags"] & RST) == 0) & ((c["flags"] & (SYN | ACK)) != SYN)
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


def shared_facts(table: PacketTable, g: Groups, r, wide: tuple | None = None) -> None:
    """Per RST: the shared IP ID sequence it belongs to (:func:`shared_sequences` over the whole capture's
    numbered packets): how many claimed senders and RSTs, and whether a claimed sender's own SYN or
    SYN-ACK is numbered from it too (then the counter is theirs, or a rewriter's)."""
    numbered = _numbered(wide if wide is not None else host_ttl_counts(table))
    found = shared_sequences(numbered)
    n = len(r.at)
    senders, rsts, own = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, bool)
    if found:
        c = g.col
        keys = zip(*(c[name][r.at].tolist() for name in ("ts_ns", "src", "ip_id")),
                   table.sport[g.rows[r.at]].tolist(), table.dport[g.rows[r.at]].tolist())
        for i, key in enumerate(keys):
            hit = found.get(key)
            if hit is not None:
                senders[i], rsts[i], own[i] = hit
    r.put("shared_senders", senders)
    r.put("shared_rsts", rsts)
    r.put("shared_own", own)


def _allowed_step(dt_ns: np.ndarray) -> np.ndarray:
    return SHARED_IPID_MAX_STEP + SHARED_IPID_STEP_PER_S * np.maximum(dt_ns, 0) / 1e9


def shared_sequences(numbered: np.ndarray) -> dict[tuple, tuple[int, int, bool]]:
    """RSTs numbered from one IP ID counter although they claim different senders.

    The RSTs (rows of ``numbered``, :data:`NUMBERED`) in time order: each continues the latest of the
    :data:`~.weights.SHARED_IPID_LOOKBACK` RSTs before it whose IP ID it follows by a small forward step
    (:data:`~.weights.SHARED_IPID_MAX_STEP` plus :data:`~.weights.SHARED_IPID_STEP_PER_S` per second,
    within :data:`~.weights.SHARED_IPID_WINDOW_S`); a sequence of at least
    :data:`~.weights.SHARED_IPID_MIN_RSTS` RSTs claiming at least :data:`~.weights.SHARED_IPID_MIN_SENDERS`
    senders is returned, each RST keyed by (ts_ns, src, ip_id, sport, dport) with (senders, RSTs, whether
    one claimed sender's own SYN or SYN-ACK fits the sequence). The result does not depend on the
    order of ``numbered``'s rows, so a streamed analysis finds what the whole capture does."""
    found: dict[tuple, tuple[int, int, bool]] = {}
    own_packets = numbered[numbered[:, 5] == 0]
    for sequence, senders in _rst_sequences(numbered):
        own = _numbers_own(sequence, own_packets)
        for key in map(tuple, sequence[:, :5].tolist()):
            found[key] = (senders, len(sequence), own)
    return found


def sequence_rst_times(numbered: np.ndarray) -> np.ndarray:
    """Sorted timestamps of the RSTs in the sequences :func:`shared_sequences` returns. Which sequences
    there are depends on the RSTs alone; the SYNs and SYN-ACKs only decide whether a counter also numbers
    ordinary packets, and only those within the window of a member RST are read (:func:`near_resets`). So a
    streamed analysis keeps every RST and, of the handshakes, just those near these times."""
    times = [sequence[:, 0] for sequence, _ in _rst_sequences(numbered)]
    return np.sort(np.concatenate(times)) if times else np.zeros(0, dtype=np.int64)


def _rst_sequences(numbered: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """The wanted sequences of :func:`shared_sequences`: each one's RST rows in time order, and how many
    senders they claim."""
    rst = numbered[numbered[:, 5] == 1]
    if len(rst) < SHARED_IPID_MIN_RSTS:
        return []
    rst = np.unique(rst, axis=0)  # sorted by time (then the rest of the key); duplicates once
    ts, src, ids = rst[:, 0], rst[:, 1], rst[:, 2]
    n = len(rst)
    parent = np.arange(n)
    linked = np.zeros(n, dtype=bool)
    for back in range(1, SHARED_IPID_LOOKBACK + 1):  # the latest earlier RST it continues
        j = np.arange(back, n)
        i = j - back
        dt = ts[j] - ts[i]
        step = (ids[j] - ids[i]) % 65536
        ok = ~linked[j] & (dt <= SHARED_IPID_WINDOW_S * 1e9) & (step > 0) & (step <= _allowed_step(dt))
        parent[j[ok]] = i[ok]
        linked[j[ok]] = True
    root = parent.copy()
    while True:  # pointer jumping: every RST to the first of its sequence
        nxt = root[root]
        if (nxt == root).all():
            break
        root = nxt
    members = np.bincount(root, minlength=n)
    senders = np.zeros(n, dtype=np.int64)
    pairs_ = np.unique(np.stack([root, src], axis=1), axis=0)
    np.add.at(senders, pairs_[:, 0], 1)
    wanted = (members >= SHARED_IPID_MIN_RSTS) & (senders >= SHARED_IPID_MIN_SENDERS)
    by_root = np.argsort(root, kind="stable")  # each sequence's RSTs together, in time order
    bounds = np.searchsorted(root[by_root], np.arange(n + 1))
    return [(rst[by_root[bounds[head]:bounds[head + 1]]], int(senders[head])) for head in np.flatnonzero(wanted).tolist()]


def _numbers_own(sequence: np.ndarray, handshakes: np.ndarray) -> bool:
    """The counter numbers ordinary packets too: a SYN or SYN-ACK of any host falls between two RSTs of
    the sequence, in time and in IP ID; or a claimed sender's own one was sent within the window of a RST
    of the sequence with an IP ID that follows that RST's (or that the RST follows) by a step the rule allows."""
    if not len(handshakes):
        return False
    ts, ids = sequence[:, 0], sequence[:, 2]
    by_time = handshakes[np.argsort(handshakes[:, 0], kind="stable")]
    lo = np.searchsorted(by_time[:, 0], ts[:-1], side="right")
    hi = np.searchsorted(by_time[:, 0], ts[1:], side="left")
    span = (ids[1:] - ids[:-1]) % 65536
    for k, (a, b) in enumerate(zip(lo.tolist(), hi.tolist())):
        if a < b:
            inside = (by_time[a:b, 2] - ids[k]) % 65536
            if ((inside > 0) & (inside < span[k])).any():
                return True
    mine = handshakes[np.isin(handshakes[:, 1], sequence[:, 1])]
    if not len(mine):
        return False
    mine = mine[np.argsort(mine[:, 0], kind="stable")]
    window = int(SHARED_IPID_WINDOW_S * 1e9)
    lo = np.searchsorted(mine[:, 0], ts - window, side="left")
    hi = np.searchsorted(mine[:, 0], ts + window, side="right")
    for item, entry in pairs(lo, hi):  # each RST with the claimed senders' handshakes near it
        dt = mine[entry, 0] - ts[item]
        later = (mine[entry, 2] - ids[item]) % 65536
        earlier = (ids[item] - mine[entry, 2]) % 65536
        fits = np.where(dt >= 0, (later > 0) & (later <= _allowed_step(dt)), (earlier > 0) & (earlier <= _allowed_step(-dt)))
        if fits.any():
            return True
    return False
