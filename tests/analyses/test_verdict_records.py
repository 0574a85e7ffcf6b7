"""The JSON form of a reset verdict (``ResetVerdict.to_dict``, ``Observation.to_dict``) is written out
field by field for speed; these tests hold it to the plain definition it replaced: every field of
:data:`~netreset.analyses.resets.record.FIELDS` by name, in order, ``ts`` rounded to 6 digits, evidence items with
their weight rounded to 3 (remembered per weight, which must never change a value or its type)."""

from __future__ import annotations

import json
import math

import pytest
from conftest import CAPTURES, corpus_entries

from netreset.analyses.resets.evidence import Observation, rounded_weight
from netreset.analyses.resets.record import ADDED_FIELDS, FIELDS, ResetVerdict


def _plain(verdict: ResetVerdict) -> dict:
    """The definition: the fields by name, then the two rounded values and the evidence items."""
    values = {name: getattr(verdict, name) for name in FIELDS + ADDED_FIELDS}
    values["ts"] = round(verdict.ts, 6)
    values["evidence"] = [{"code": o.code, "observed": o.observed, "expected": o.expected,
                           "weight": round(o.weight, 3), "detail": o.detail} for o in verdict.evidence]
    return values


def _spelt(value) -> str:
    return json.dumps(value, indent=2)


@pytest.fixture(scope="module")
def verdicts() -> list[ResetVerdict]:
    from netreset.pipeline.whole import Analysis

    paths = sorted(p for p in CAPTURES.rglob("*") if p.suffix in (".pcap", ".pcapng"))
    paths += [entry["capture_path"] for entry in corpus_entries()]
    found = [v for path in paths for v in Analysis.of_files([path]).resets]
    assert len(found) > (20 if corpus_entries() else 5)  # a lone clone (no ../shared) has the samples' 10
    return found


def test_every_verdict_record_is_its_plain_definition(verdicts):
    for verdict in verdicts:
        record = verdict.to_dict()
        assert list(record) == list(FIELDS + ADDED_FIELDS)
        assert _spelt(record) == _spelt(_plain(verdict))


def test_evidence_words_are_made_once_and_kept():
    calls = []

    def words(n):
        calls.append(n)
        return f"saw {n}"

    o = Observation("c", 1, 2, 0.25, (words, 7))
    assert o.to_dict()["detail"] == "saw 7" and o.detail == "saw 7" and o.to_dict()["detail"] == "saw 7"
    assert calls == [7]


@pytest.mark.parametrize("weight", [
    0.0, -0.0, 1, -2, True, 0.1, -0.3, 1.0005, 2.0015, -1e-9, 1e-9, 5e-324, 1e300, -1e300, 0.12345,
    math.inf, -math.inf, math.nan, 2.675, 1234567.8915,
])
def test_rounded_weight_is_round_to_3_digits_every_time(weight):
    for _ in range(3):  # the first call remembers it, the others read it back
        got, expected = rounded_weight(weight), round(weight, 3)
        assert type(got) is type(expected)
        assert repr(got) == repr(expected)


def test_rounded_weight_keeps_zero_signs_and_int_types_apart():
    assert repr(rounded_weight(0.0)) == "0.0" and repr(rounded_weight(-0.0)) == "-0.0"
    assert type(rounded_weight(1)) is int and type(rounded_weight(1.0)) is float
    assert repr(rounded_weight(-1e-9)) == "-0.0" and repr(rounded_weight(1e-9)) == "0.0"


def test_rounded_weight_memory_stays_bounded():
    import netreset.analyses.resets.evidence as evidence

    for n in range(3000):
        assert rounded_weight(n + 0.0001) == round(n + 0.0001, 3)
        assert math.isnan(rounded_weight(float("nan")))
    assert len(evidence._ROUNDED) <= 1024


def _leaves(record) -> list:
    """A record's scalars in document order (what json_leaves must give without building the dicts)."""
    if isinstance(record, dict):
        return [leaf for value in record.values() for leaf in _leaves(value)]
    if isinstance(record, list):
        return [leaf for value in record for leaf in _leaves(value)]
    return [record]


def test_json_leaves_are_the_records_scalars_in_order(verdicts):
    for verdict in verdicts:
        leaves = verdict.json_leaves()
        assert [(type(x), repr(x)) for x in leaves] == [(type(x), repr(x)) for x in _leaves(verdict.to_dict())]


def test_every_verdict_spelt_from_its_leaves_is_its_record(verdicts):
    from netreset.records.json import encode_item, encode_leaves

    for verdict in verdicts:
        assert encode_leaves(verdict.json_kind(), verdict.json_leaves(), verdict.to_dict) == encode_item(verdict.to_dict())


def test_causes_with_other_evidence_keys_but_the_same_leaf_types_are_spelt_as_their_own_records(verdicts):
    """Two causes whose evidence differs only in its keys give the same leaf types: the layout key must
    tell them apart, or the second would be spelt with the first's keys."""
    from netreset.records.json import encode_item, encode_leaves

    verdict = verdicts[0]
    spelt = []
    for evidence in ({"idle_s": 21.8, "traceroute_hop": 4}, {"sni_s": 21.8, "hop": 4}):
        verdict.causes = [{"code": "idle_timeout", "sentence": "s", "frames": [1, 2], "evidence": evidence}]
        spelt.append(encode_leaves(verdict.json_kind(), verdict.json_leaves(), verdict.to_dict))
        assert spelt[-1] == encode_item(verdict.to_dict())
    assert '"sni_s"' in spelt[1] and '"idle_s"' in spelt[0]


def _verdict(**changes) -> ResetVerdict:
    values = dict(conversation=3, frame=17, ts=1700000000.1234567, src="10.0.0.1", dst="10.0.0.2", sport=443,
                  dport=50000, observed_ttl=61, initial_ttl=64, routers_between=3, traceroute_hop=4,
                  claimed_sender_routers_between=None, verdict="middlebox", confidence=0.9,
                  reason="ttl_mismatch", evidence=(Observation("ttl_mismatch", 61, 54, 2.25, "TTL 61 — not 54"),),
                  display_filter="tcp.stream eq 1", advice='say "hi"\n\\')
    return ResetVerdict(**(values | changes))


@pytest.mark.parametrize("changes", [
    {},
    {"claimed_sender_routers_between": 7, "confidence": math.nan, "ts": math.inf},
    {"evidence": ()},
    {"evidence": (Observation("a", "x", None, 0, "é"), Observation("b", 1.5, True, -0.0, "\x00"))},
    {"sport": __import__("numpy").int64(443)},  # not an exact scalar: the recursive path
    {"evidence": (Observation("a", [1, 2], {"k": None}, 1.0, "lists"),)},  # containers among the leaves
    {"src": type("Address", (str,), {})("10.0.0.9")},  # a str subclass
])
def test_verdicts_of_unusual_values_are_spelt_as_their_records(changes):
    from netreset.records.json import encode_item, encode_leaves

    verdict = _verdict(**changes)
    for _ in range(2):  # the first call makes (or refuses) the template, the second uses it
        assert encode_leaves(verdict.json_kind(), verdict.json_leaves(), verdict.to_dict) == encode_item(verdict.to_dict())
