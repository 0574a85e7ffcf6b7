"""The JSON form of a reset verdict (``ResetVerdict.to_dict``, ``Observation.to_dict``) is written out
field by field for speed; these tests hold it to the plain definition it replaced: every field of
:data:`~netreset.resets.record.FIELDS` by name, in order, ``ts`` rounded to 6 digits, evidence items with
their weight rounded to 3 (remembered per weight, which must never change a value or its type)."""

from __future__ import annotations

import json
import math

import pytest
from conftest import CAPTURES, corpus_entries

from netreset.resets.evidence import Observation, rounded_weight
from netreset.resets.record import FIELDS, ResetVerdict


def _plain(verdict: ResetVerdict) -> dict:
    """The definition: the fields by name, then the two rounded values and the evidence items."""
    values = {name: getattr(verdict, name) for name in FIELDS}
    values["ts"] = round(verdict.ts, 6)
    values["evidence"] = [{"code": o.code, "observed": o.observed, "expected": o.expected,
                           "weight": round(o.weight, 3), "detail": o.detail} for o in verdict.evidence]
    return values


def _spelt(value) -> str:
    return json.dumps(value, indent=2)


@pytest.fixture(scope="module")
def verdicts() -> list[ResetVerdict]:
    from netreset.analysis import Analysis

    paths = sorted(p for p in CAPTURES.rglob("*") if p.suffix in (".pcap", ".pcapng"))
    paths += [entry["capture_path"] for entry in corpus_entries()]
    found = [v for path in paths for v in Analysis.of_files([path]).resets]
    assert len(found) > 20
    return found


def test_every_verdict_record_is_its_plain_definition(verdicts):
    for verdict in verdicts:
        record = verdict.to_dict()
        assert list(record) == list(FIELDS)
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
    import netreset.resets.evidence as evidence

    for n in range(3000):
        assert rounded_weight(n + 0.0001) == round(n + 0.0001, 3)
        assert math.isnan(rounded_weight(float("nan")))
    assert len(evidence._ROUNDED) <= 1024
