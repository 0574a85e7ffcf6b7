"""The fast analyses after ingest answer exactly as the straightforward implementation did.

``tests/data/analyses-frozen.json.gz`` holds the answers (reset verdicts, handshake findings, host
profiles, refined outcomes) written before the vectorised paths replaced the per-RST numpy code
(see ``tests/helpers/frozen_analyses.py``): on the whole corpus, the sample and lab captures, both vantage
points, a generated capture, and seeded random conversations that reach every reset rule's branches.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import CORPUS
from hypothesis import given, settings
from hypothesis import strategies as st

from netreset.records.json import _json_default, render_json

import frozen_analyses as frozen

FROZEN = frozen.load() if frozen.FROZEN.is_file() else {}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return frozen.generate(tmp_path_factory.mktemp("generated"))


def _names() -> list[str]:
    present = frozen.captures(CORPUS, None)
    return sorted(name for name in FROZEN if name in present or name.startswith(("generated/", "random/")))


def _answers(name: str, generated) -> dict:
    if name.startswith("random/"):
        return frozen.random_answers(int(name.split("/")[1]))
    return frozen.answers(generated if name.startswith("generated/") else frozen.captures(CORPUS, None)[name])


@pytest.mark.parametrize("name", _names())
def test_answers_equal_the_frozen_answers_of_the_plain_implementation(name, generated):
    got = _answers(name, generated)
    want = FROZEN[name]
    for part in ("outcomes", "resets", "handshakes", "hosts"):
        assert len(got[part]) == len(want[part]), part
        for i, (a, b) in enumerate(zip(got[part], want[part])):
            assert a == b, (part, i)


def test_the_frozen_answers_cover_resets_handshakes_and_hosts():
    assert sum(len(doc["resets"]) for doc in FROZEN.values()) > 1000
    assert sum(len(doc["handshakes"]) for doc in FROZEN.values()) > 100
    codes = {e["code"] for doc in FROZEN.values() for r in doc["resets"] for e in r["evidence"]}
    rules = {"ttl_mismatch", "ttl_route_change", "ttl_rewritten", "ttl_no_reference", "ipid_pattern_break",
             "ipid_reflection", "ipid_separate_counter", "df_mismatch", "window_reflection", "timestamps_missing",
             "seq_out_of_window", "seq_change", "ack_change", "data_after_reset", "packets_after_reset",
             "faster_than_rtt", "icmp_prohibited", "icmp_error"}
    assert rules <= codes, rules - codes


# ── render_json: the hand-written indented writer spells every document exactly as json.dumps ──────

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                     st.text(), st.sampled_from([np.int64(7), np.float64(0.1), np.bool_(False), np.uint8(255)]))
_json_like = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=4), st.integers(), st.floats(), st.booleans(), st.none()),
                        inner, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_json_like)
def test_render_json_spells_every_value_as_the_standard_library(value):
    assert render_json({"v": value}) == json.dumps({"v": value}, indent=2, default=_json_default) + "\n"


def test_render_json_catches_a_misspelt_run_of_scalars(monkeypatch):
    """The equality above can fail: the writer's scalar runs go through the C encoder's separator."""
    import netreset.records.json as render

    document = {"a": [1, 2, {"b": "é", "c": [3.5, None]}], "d": {}}
    assert render_json(document) == json.dumps(document, indent=2) + "\n"
    monkeypatch.setattr(render, "_FLAT", {})
    monkeypatch.setattr(render, "_flat_encoder", lambda inner: render.c_make_encoder(
        None, _json_default, render._quote, None, ":", "," + inner, False, False, True))
    assert render_json(document) != json.dumps(document, indent=2) + "\n"


# ── handshakes prepass: the vectorised opening facts answer as the per-conversation rules ───────────


def _opening_pairs(table):
    """(fast, general) opening findings of every conversation the prepass answered, and how many it
    handed back to the general rules."""
    from netreset.analyses.handshakes.model import Context, views
    from netreset.analyses.handshakes.opening import opening_findings, opening_from_facts
    from netreset.analyses.handshakes.prepass import opening_facts
    from resets_support import conversations_of

    conversations = conversations_of(table)
    ctx = Context(table, conversations, None, None)
    vs = [v for v in views(table, conversations) if len(v.rows)]
    facts = opening_facts(vs)
    pairs = [(opening_from_facts(ctx, v, f), opening_findings(ctx, v)) for v, f in zip(vs, facts) if f is not None]
    return pairs, sum(f is None for f in facts)


@pytest.mark.parametrize("seed", range(60))
def test_opening_prepass_answers_as_the_rules_with_and_without_capture_copies(seed):
    """Random conversations, then the same capture with every third TCP row recorded twice (a SPAN
    port's copies): copies must send a conversation to the general rules, never change its answer."""
    table = frozen.random_flows(seed)
    rows = np.arange(len(table))
    copied = table.take(np.sort(np.r_[rows, rows[(table.proto == 6) & (rows % 3 == 0)]]))
    for t in (table, copied):
        pairs, _ = _opening_pairs(t)
        for fast, general in pairs:
            assert [f.to_dict() for f in fast] == [f.to_dict() for f in general]


def test_opening_prepass_hands_repeated_syns_to_the_rules():
    """The test above can fail: a SYN copy right after its original is not a transmission, and only the
    general rules' duplicate filter knows which copy to keep."""
    from netreset.packets.table import PacketTableBuilder

    builder = PacketTableBuilder()
    a, b = builder.book.intern("10.0.0.1"), builder.book.intern("10.0.0.2")
    for frame, ts in enumerate((0, 1_000, 3_000_000_000), start=1):  # a SYN, its copy, a retransmission
        builder.append(dict(frame=frame, ts_ns=ts, src=a, dst=b, sport=40000, dport=80, ip_version=4, proto=6,
                            ttl=64, flags=2, seq=7, ip_id=99 if frame < 3 else 100, ip_len=60))
    pairs, general = _opening_pairs(builder.build())
    assert (len(pairs), general) == (0, 1)
