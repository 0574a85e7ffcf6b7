"""The batch path (every rule over fact columns, netreset.analyses.resets.batch) judges exactly as the per-RST rules.

``judge_reset`` — one context, every rule, one verdict — is the reference. Each rule's batch twin must
give the same observations (code, values, weight, sentence), in the same order, and the same verdict,
confidence, reason, display filter and advice: on crafted flows, lab captures, the corpus, random
conversations, and random fact columns that reach the branches real captures rarely do.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from conftest import CAPTURES, corpus_entries
from frozen_analyses import random_flows
from resets_support import conversations_of, established, icmp_error

from netreset.flows.model import Conversation
from netreset.analyses.resets.locate import judge_reset, judge_resets, locate_resets
from netreset.analyses.resets.context import ResetFacts, reset_facts
from netreset.analyses.resets.evidence import IcmpSighting, ResetContext, TtlReader


def _same(facts: ResetFacts) -> int:
    """Assert both paths agree on every RST of ``facts``; return how many RSTs there were."""
    batch = judge_resets(facts)
    reference = [judge_reset(ctx) for ctx in facts.contexts()]
    assert len(batch) == len(reference)
    for got, want in zip(batch, reference):
        assert got.to_dict() == want.to_dict()
        assert repr(got) == repr(want)
    return len(batch)


def _capture_facts(paths):
    from netreset.flows.conversations import build_conversations
    from netreset.ingest.files import read_capture_files

    table, _ = read_capture_files([str(p) for p in paths])
    return reset_facts(table, build_conversations(table))


def test_lab_captures_are_judged_alike():
    paths = sorted(p for p in CAPTURES.rglob("*") if p.suffix in (".pcap", ".pcapng"))
    if not paths:
        pytest.skip("no lab captures")
    assert sum(_same(_capture_facts([p])) for p in paths) > 0


def test_corpus_captures_are_judged_alike():
    entries = corpus_entries()
    if not entries:
        pytest.skip("external corpus not found")
    assert sum(_same(_capture_facts([e["capture_path"]])) for e in entries) > 0


def test_random_conversations_are_judged_alike():
    assert sum(_same(reset_facts(table, conversations_of(table))) for table in map(random_flows, range(300))) > 1000


def test_crafted_flows_are_judged_alike():
    flow, t = established()
    flow.send(t, flow.client, "PA", b"MARKER")
    flow.send(t + 0.0005, flow.server, "RA", ttl=61, ip_id=0, timestamps=False, window=0, consume=False)
    flow.send(t + 0.001, flow.server, "RA", ttl=61, ip_id=7, seq=flow.server.seq + 70000, consume=False)
    flow.send(t + 0.002, flow.server, "PA", b"late")
    flow.send(t + 0.003, flow.client, "RA", consume=False)
    assert _same(reset_facts(*flow.build())) == 3
    quoted = flow.packets[3][1]
    flow.packets.append((t + 0.004, icmp_error("198.51.100.1", 250, quoted, quoted["TCP"])))
    facts = reset_facts(*flow.build())
    assert all(facts.listed("icmp")) and _same(facts) == 3  # judged one by one
    v6, t6 = established(ipv6=True)
    v6.send(t6, v6.server, "RA", ttl=61, consume=False)
    assert _same(reset_facts(*v6.build())) == 1


def test_locate_resets_lists_the_batch_verdicts_in_capture_order():
    table = random_flows(3)
    conversations = conversations_of(table)
    facts = reset_facts(table, conversations)
    by_row = sorted(zip(facts.listed("row"), (judge_reset(c) for c in facts.contexts())), key=lambda p: p[0])
    assert [v.to_dict() for v in locate_resets(table, conversations)] == [v.to_dict() for _, v in by_row]


def test_no_rst_gives_no_verdict_on_either_path():
    flow, _ = established()
    facts = reset_facts(*flow.build())
    assert len(facts) == 0 and judge_resets(facts) == [] and facts.contexts() == []


# ── Random fact columns: every branch of every rule, and junk wherever a fact is absent ───────────────

_TTLS = (1, 2, 3, 32, 60, 61, 62, 63, 64, 65, 118, 127, 128, 250, 253, 254, 255)
_IDS = (-1, 0, 1, 7, 255, 256, 1000, 3047, 65535)


def _conversation(n: int, rng: random.Random) -> Conversation:
    rows = np.arange(3, dtype=np.int64)
    return Conversation(
        id=n, tcp_stream=rng.choice((-1, n)), orig_h=f"10.0.0.{n % 5}", orig_p=40000 + n, resp_h="10.9.9.9",
        resp_p=443, ip_version=4, rows=rows, from_orig=np.array([True, False, True]), start_ns=10**18,
        end_ns=10**18 + rng.choice((0, 10**9)), conn_state="RSTO", history="", completeness=0,
        outcome="reset_by_orig", partial=False, orig_pkts=2, resp_pkts=1, orig_bytes=0, resp_bytes=0,
        orig_ip_bytes=0, resp_ip_bytes=0, syn_count=1, syn_gaps_s=(), retransmissions=0)


def _random_context(i: int, rng: random.Random, conv: Conversation) -> dict:
    """One RST's facts, consistent the way reset_facts makes them (a fact is present when what it is
    about exists), at values near every rule's thresholds."""
    ts = 10**18 + rng.randrange(0, 3 * 10**9)
    pick = rng.choice
    sender = pick((0, 1, 2, 3, 5, 9))
    nonzero = pick((0, 1, 2, 3, 4, 8)) if sender else 0
    other = pick((0, 1, 4))
    partners, earlier = pick((0, 0, 1, 3)), pick((0, 1, 2))
    after, new = pick((0, 0, 1, 3)), pick((0, 1))
    ip_id = pick(_IDS)
    first_ts = ts - rng.choice((0, 1000, 10**6, 10**9))
    last_ts = first_ts + rng.choice((0, 500, 10**6))
    seq = rng.randrange(2**32)
    return dict(
        conv=conv, row=i, from_orig=pick((True, False)), guess=None, frame=i + 1, ts_ns=ts, src="10.0.0.1",
        dst="10.9.9.9", sport=40000, dport=443, ttl=pick(_TTLS), ip_version=pick((4, 4, 6)), ip_id=ip_id,
        df=pick((True, False)), win=pick((0, 502, 8212)), ts_val=pick((-1, 0, 77)), flags=pick((4, 20)),
        seq=seq, ack=rng.randrange(2**32),
        sender_count=sender, sender_ttl=pick(_TTLS) if sender else None,
        sender_ttl_gap=pick((0, 1, 2, 3, 64)) if sender else None, sender_df=pick((True, False)) if sender else None,
        sender_df_uniform=pick((True, False)), sender_win=pick((0, 502, 8212)) if sender else None,
        sender_has_ip_id=bool(sender) and pick((True, False, False)), sender_has_win=bool(sender) and pick((True, False, False)),
        sender_closed=pick((True, False)), segments=pick((0, 1, 2, 5)), segments_without_ts=pick((0, 0, 1)),
        ipid_nonzero=nonzero, ipid_breaks=pick((0, 0, 1)), ipid_step_sum=pick((0, 3, 5000, 2**20)),
        ipid_last=pick(_IDS[2:]) if nonzero else None, ipid_first_ts=first_ts if nonzero else None,
        ipid_last_ts=last_ts if nonzero else None,
        seq_base=(seq - pick((0, 1, 3, 1460, 70000, 2**31))) % 2**32 if sender else None,
        seq_next=pick((-5, 0, 1, 2, 3, 1460, 1461, 70000)) if sender else None,
        ack_max=pick((None, -3, 0, 1, 1460)) if sender else None, receive_window=pick((None, 0, 1000, 65535 << 7)),
        other_count=other, other_ip_id=pick(_IDS) if other else None, other_frame=7 if other else None,
        other_win=pick((0, 502, 8212)) if other else None,
        other_ts=ts - pick((0, 10**5, 10**6, 2 * 10**7, 10**8)) if other else None,
        host_ttl=pick((None, *_TTLS)), host_ttl_gap=None, host_ttls=pick((0, 1, 2)),
        host_own_ttl=None, host_own_ports=pick(((), (), (443,), (443, 8443))),
        sender_routers_max=pick((0, 1, 3, 6)) if sender else None, synack_options_differ=pick((True, False, False)),
        rtt=pick((None, 0.0002, 0.001, 0.004, 0.02, 0.04)),
        after_count=after, after_frame=9 if after else None, new_count=new if after else 0,
        new_frame=11 if after and new else None, partners=partners, seq_jump=pick((True, False)),
        seq_spread=pick((-70000, 0, 5, 70000)) if partners else None, earlier_acks=earlier,
        acks_differ=pick((True, False)), last_ack=rng.randrange(2**32) if earlier else None,
        ack_justified=pick((True, False)), shared_senders=pick((0, 0, 0, 2, 3)), shared_rsts=pick((3, 4, 9)),
        shared_own=pick((True, False)), icmp=(),
    )


def _random_facts(seed: int, n: int = 400) -> ResetFacts:
    """:class:`ResetFacts` for ``n`` random RSTs; absent facts hold random junk, as arrays may."""
    rng = random.Random(seed)
    conversations = [_conversation(k, rng) for k in range(8)]
    contexts = [_random_context(i, rng, rng.choice(conversations)) for i in range(n)]
    for ctx in contexts:
        if ctx["host_ttl"] is not None:
            ctx["host_ttl_gap"] = rng.choice((0, 1, 2, 5))
            ctx["host_own_ttl"] = rng.choice((None, ctx["host_ttl"], 122, 58))
        if rng.random() < 0.05:
            ctx["icmp"] = (IcmpSighting(ctx["ts_ns"], "192.0.2.1", 1, 3, rng.choice((1, 13)), 250, 3),)
    objects = {"conv", "guess", "src", "dst", "icmp", "host_own_ports"}
    values, present = {}, {}
    for name in (f for f in ResetContext.__dataclass_fields__ if f not in objects):
        column = [ctx[name] for ctx in contexts]
        has = [v is not None for v in column]
        kind = float if name == "rtt" else bool if isinstance(next((v for v in column if v is not None), 0), bool) else int
        junk = {float: lambda: rng.choice((0.0, 0.03)), bool: lambda: rng.random() < 0.5,
                int: lambda: rng.choice((0, 64, 255, 3, -1, 70000))}[kind]
        values[name] = np.array([v if v is not None else junk() for v in column],
                                dtype={float: np.float64, bool: bool, int: np.int64}[kind])
        if not all(has):
            present[name] = np.array(has)
    return ResetFacts(values, present, {name: [ctx[name] for ctx in contexts] for name in objects - {"guess"}},
                      TtlReader())


@pytest.mark.parametrize("seed", range(12))
def test_random_fact_columns_are_judged_alike(seed):
    assert _same(_random_facts(seed)) == 400


def test_random_fact_columns_reach_every_observation_and_reason():
    codes, reasons = set(), set()
    for seed in range(12):
        for verdict in judge_resets(_random_facts(seed)):
            codes |= {o.code for o in verdict.evidence}
            reasons.add(verdict.reason)
    assert codes >= {"ttl_no_reference", "ttl_mismatch", "ttl_family_mismatch", "ttl_rewritten", "ttl_match",
                     "ttl_route_change", "ipid_reflection", "df_mismatch", "ipid_no_pattern", "ipid_zero_consistent",
                     "ipid_pattern_break", "ipid_zero", "ipid_separate_counter", "ipid_in_sequence",
                     "window_reflection", "timestamps_missing", "seq_exact", "seq_out_of_window", "seq_in_window",
                     "seq_change", "ack_change", "data_after_reset", "packets_after_reset", "faster_than_rtt",
                     "timing_consistent", "icmp_error", "icmp_prohibited", "ttl_application_set",
                     "ipid_shared_counter", "ipid_shared_with_own", "terminated_by_device"}
    assert reasons >= {"consistent_with_peer", "conflicting_evidence", "no_reference_packets", "weak_evidence",
                       "insufficient_evidence", "ttl_mismatch", "data_after_reset", "terminated_by_device"}


def test_rounded_gives_the_floats_python_round_gives():
    from netreset.analyses.resets.rules.timing import rounded

    rng = np.random.default_rng(5)
    values = np.concatenate([
        rng.integers(0, 10**10, 20000) / 1e9,  # RST answer times: whole nanoseconds
        (np.arange(20000) + 0.5) / 1e6,  # halves at the sixth decimal, as near as floats get
        -(np.arange(2000) + 0.5) / 1e6,
        rng.random(20000) * 1e-3,
        rng.random(2000) * 1e12,
        [0.0, -0.0, -1e-9, 1e300, np.inf, -np.inf, np.nan, 2.5e-7, 1.5e-6, 4503599627.3705],
    ])
    got, want = rounded(values, 6), [round(v, 6) for v in values.tolist()]
    assert [repr(v) for v in got] == [repr(v) for v in want]


def test_batch_rules_follow_the_rules_order():
    from netreset.analyses.resets.registry import BATCH_RULES, RULES

    twins = [rule.__name__.removesuffix("_batch") for rule, _ in BATCH_RULES]
    assert twins == [rule.__name__.removesuffix("_observations") for rule in RULES if rule.__name__ != "icmp_observations"]


def test_two_kinds_of_observation_at_one_position_of_one_rst_are_refused():
    from netreset.analyses.resets.batch import Batch

    b = Batch(_random_facts(0, n=4), 2)
    b.put(0, np.array([True, True, False, False]), "one", 1.0, lambda ix: [None] * len(ix))
    with pytest.raises(ValueError, match="second observation"):
        b.put(0, np.array([False, True, True, False]), "two", 1.0, lambda ix: [None] * len(ix))


def test_a_position_beyond_the_rule_width_is_refused():
    from netreset.analyses.resets.batch import Batch

    b = Batch(_random_facts(0, n=4), 3)
    b.rule(1, 2)
    b.put(1, np.array([True, False, False, False]), "one", 1.0, lambda ix: [None] * len(ix))
    with pytest.raises(ValueError, match="beyond the rule's width"):
        b.put(2, np.array([True, False, False, False]), "two", 1.0, lambda ix: [None] * len(ix))


def test_a_rule_has_a_batch_twin_with_a_width_or_names_the_rsts_judged_alone():
    from netreset.analyses.resets.registry import REGISTRY, Rule
    from netreset.analyses.resets.rules.ttl import ttl_batch, ttl_observations

    assert all((r.batch is None) != (r.judged_alone is None) for r in REGISTRY)
    for wrong in ({}, {"batch": ttl_batch}, {"width": 2, "judged_alone": len},
                  {"batch": ttl_batch, "width": 2, "judged_alone": len}):
        with pytest.raises(ValueError):
            Rule(ttl_observations, **wrong)
