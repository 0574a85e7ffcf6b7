"""Two capture points joined into one view: the whole comparison in one screen.

join conversations (equal packets, then relative seq) → match packets → fit the clock on the packets that
match unambiguously → match every packet on that clock → refit → per conversation: placement, one-sided
packets, modifications, sentences. Pure: the vantages come in loaded (:mod:`netreset.analyses.vantage.load`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from netreset.flows.model import Conversation
from netreset.analyses.ttl import TtlTable
from netreset.analyses.vantage.clock import ClockFit, fit_clock
from netreset.analyses.vantage.diff import modifications, one_sided, placement
from netreset.analyses.vantage.join import ConvPair, match_packets, pair_by_packets, pair_by_relative
from netreset.analyses.vantage.model import Comparison, JoinedConversation, OneSided, Vantage

_NO_ROWS = np.zeros(0, dtype=np.int64)


def from_orig_of(conv: Conversation, rows: np.ndarray, flip: bool = False) -> np.ndarray:
    """For table rows of ``conv`` (its rows are increasing): sent by orig? (``flip``: in the other's naming)."""
    positions = np.searchsorted(conv.rows, rows)
    return np.asarray(conv.from_orig, dtype=bool)[positions] ^ flip


def _fit(a: Vantage, b: Vantage, pairs: list[ConvPair], clock: ClockFit, unique_only: bool,
         ttl_table: TtlTable | None) -> tuple[ClockFit, dict]:
    """Match the packets of every pair on ``clock``, then fit the clock on those matches."""
    matches, ts_a, ts_b, toward_b = {}, [], [], []
    for pair in pairs:
        ca, cb = a.conversations[pair.ia], b.conversations[pair.ib]
        rows_a, rows_b = match_packets(a.table, ca, b.table, cb, pair, clock, unique_only)
        orig = from_orig_of(ca, rows_a)
        place = placement(a.table, ca, b.table, cb, rows_a, rows_b, orig, ttl_table)
        matches[pair] = (rows_a, rows_b, orig, place)
        ts_a.append(a.table.ts_ns[rows_a])
        ts_b.append(b.table.ts_ns[rows_b])
        toward_b.append(orig == place.a_nearer_orig)
    if not ts_a:
        return fit_clock(_NO_ROWS, _NO_ROWS, np.zeros(0, bool)), matches
    return fit_clock(np.concatenate(ts_a), np.concatenate(ts_b), np.concatenate(toward_b)), matches


def compare_vantages(a: Vantage, b: Vantage, ttl_table: TtlTable | None = None,
                     other_interfaces: tuple[str, ...] = ()) -> Comparison:
    """Join two capture points: every connection either saw, what only one saw, the clock between them."""
    pairs = pair_by_packets(a.table, a.conversations, b.table, b.conversations)
    first, _ = _fit(a, b, pairs, fit_clock(_NO_ROWS, _NO_ROWS, np.zeros(0, bool)), True, ttl_table)
    pairs += pair_by_relative(a.table, a.conversations, b.table, b.conversations,
                              {p.ia for p in pairs}, {p.ib for p in pairs}, first)
    provisional, _ = _fit(a, b, pairs, first, False, ttl_table)
    clock, matches = _fit(a, b, pairs, provisional, False, ttl_table)
    spans = (_span(a.table.ts_ns), _span(clock.b_to_a_ns(b.table.ts_ns)))
    joined = [_joined(a, b, pair, matches[pair], clock, spans) for pair in pairs]
    joined += [_alone(a, b, i, "a", clock, spans, ttl_table) for i in _unpaired(a, {p.ia for p in pairs})]
    joined += [_alone(a, b, i, "b", clock, spans, ttl_table) for i in _unpaired(b, {p.ib for p in pairs})]
    joined.sort(key=lambda j: j.a.start_ns if j.a else int(clock.b_to_a_ns(np.array([j.b.start_ns]))[0]))
    return Comparison(a, b, clock, tuple(joined), other_interfaces)


def _span(ts_ns: np.ndarray) -> tuple[int, int] | None:
    return (int(ts_ns.min()), int(ts_ns.max())) if len(ts_ns) else None


def _unpaired(v: Vantage, used: set[int]) -> list[int]:
    return [i for i in range(len(v.conversations)) if i not in used]


def _labels(a: Vantage, b: Vantage) -> tuple[str, str]:
    return f"capture A ({a.label})", f"capture B ({b.label})"


def _joined(a: Vantage, b: Vantage, pair: ConvPair, match, clock: ClockFit, spans) -> JoinedConversation:
    ca, cb = a.conversations[pair.ia], b.conversations[pair.ib]
    rows_a, rows_b, orig, place = match
    only_a = np.setdiff1d(ca.rows, rows_a)
    only_b = np.setdiff1d(cb.rows, rows_b)
    names = _labels(a, b)
    in_a = one_sided("a", a.table, ca, only_a, False, place, a.table.ts_ns[only_a], spans[1], names)
    in_b = one_sided("b", b.table, cb, only_b, pair.flipped, place, clock.b_to_a_ns(b.table.ts_ns[only_b]),
                     spans[0], names)
    joined = JoinedConversation(ca, cb, pair.method, pair.shared, pair.flipped, rows_a, rows_b, place,
                                in_a, in_b, modifications(a.table, rows_a, b.table, rows_b, orig), pair.seq_offset)
    return _with_notes(joined, a, b)


def _alone(a: Vantage, b: Vantage, index: int, side: str, clock: ClockFit, spans, ttl_table) -> JoinedConversation:
    """A conversation only one capture holds: every packet of it is one-sided."""
    mine, other = (a, b) if side == "a" else (b, a)
    conv = mine.conversations[index]
    ca, cb = (conv, None) if side == "a" else (None, conv)
    place = placement(a.table, ca, b.table, cb, _NO_ROWS, _NO_ROWS, np.zeros(0, bool), ttl_table)
    ts = mine.table.ts_ns[conv.rows] if side == "a" else clock.b_to_a_ns(mine.table.ts_ns[conv.rows])
    records = one_sided(side, mine.table, conv, conv.rows, False, place, ts, spans[1 if side == "a" else 0],
                        _labels(a, b))
    joined = JoinedConversation(ca, cb, "none", 0, False, _NO_ROWS, _NO_ROWS, place,
                                records if side == "a" else (), records if side == "b" else ())
    return _with_notes(joined, a, b)


def _with_notes(j: JoinedConversation, a: Vantage, b: Vantage) -> JoinedConversation:
    from dataclasses import replace

    return replace(j, notes=tuple(conversation_notes(j, a, b)))


def conversation_notes(j: JoinedConversation, a: Vantage, b: Vantage) -> list[str]:
    """Sentences for people: what only one side saw (grouped), translations, proxies, rewrites."""
    name_a, name_b = _labels(a, b)
    notes = [_group_sentence(kind, packet, side, count, j, name_a, name_b)
             for (side, kind, packet, _), count in _groups(j).items()]
    if j.a is not None and j.b is not None:
        notes += _translation(j)
        if any(j.seq_offset):
            notes.append(f"Sequence numbers differ by a constant ({j.seq_offset[0]:+d} for the originator, "
                         f"{j.seq_offset[1]:+d} for the responder): a terminating proxy or a sequence-number "
                         "randomiser sits between the capture points.")
        notes += [f"{m.field} changed on {m.count} packet(s) (e.g. {m.a_value} → {m.b_value}): {m.meaning}."
                  for m in j.modified]
    return notes


def _groups(j: JoinedConversation) -> Counter:
    items: list[OneSided] = list(j.only_in_a) + list(j.only_in_b)
    return Counter((o.side, o.kind, o.packet, o.from_orig) for o in items)


def _endpoints(j: JoinedConversation) -> tuple[str, str]:
    conv = j.a or j.b
    flip = j.a is None and j.flipped
    orig, resp = conv.orig_h, conv.resp_h
    return (resp, orig) if flip else (orig, resp)


def _group_sentence(kind: str, packet: str, side: str, count: int, j: JoinedConversation, name_a, name_b) -> str:
    holder, other = (name_a, name_b) if side == "a" else (name_b, name_a)
    sample = next(o for o in (j.only_in_a if side == "a" else j.only_in_b) if o.packet == packet and o.kind == kind)
    orig, resp = _endpoints(j)
    sender, receiver = (orig, resp) if sample.from_orig else (resp, orig)
    times = "once" if count == 1 else f"{count} times"
    if kind == "dropped":
        reached = "it never reached" if count == 1 else "none of them reached"
        return (f"{packet} sent {times} by {sender} (seen in {holder}); {reached} {other} on the way to {receiver}: "
                "dropped between the capture points.")
    if kind == "injected":
        return (f"{packet} claiming to come from {sender} appeared {times} in {holder} but never passed {other}: "
                f"injected by a device between the capture points.")
    return f"{packet} seen {times} in {holder} outside the time {other} covers: no evidence either way."


def _translation(j: JoinedConversation) -> list[str]:
    a, b = j.a, j.b
    b_orig, b_resp = ((b.resp_h, b.resp_p), (b.orig_h, b.orig_p)) if j.flipped else \
        ((b.orig_h, b.orig_p), (b.resp_h, b.resp_p))
    found = []
    if (a.orig_h, a.orig_p) != b_orig:
        found.append(f"The originator {a.orig_h}:{a.orig_p} appears as {b_orig[0]}:{b_orig[1]} in the other capture: "
                     "source NAT between the capture points.")
    if (a.resp_h, a.resp_p) != b_resp:
        found.append(f"The responder {a.resp_h}:{a.resp_p} appears as {b_resp[0]}:{b_resp[1]} in the other capture: "
                     "destination NAT or a load balancer between the capture points.")
    return found
