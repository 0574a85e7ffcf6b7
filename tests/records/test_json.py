"""``encode_item`` (one record's JSON, as a member of a top-level list) and ``write_json`` spell every
value exactly as ``json.dumps(document, indent=2, default=_json_default)`` does.

``encode_item`` writes most records from a template made once per shape (keys, nesting, exact value
types); these tests feed it every record the analyses make of the sample captures, the corpus and the
frozen answers (generated and random conversations), and hand-made values the templates must refuse
or must not confuse: shapes that change between calls, keys that compare equal but spell differently
(1, 1.0, True), subclasses, numpy scalars, NaN and infinities, control characters and the marker.
"""

from __future__ import annotations

import enum
import json
import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from conftest import CAPTURES, corpus_entries

import frozen_analyses as frozen
import netreset.records.json as render
from netreset.records.json import _json_default, encode_item, render_json, write_json


def _expected(value) -> str:
    """What json.dumps writes for ``value`` as an item of a list under a top-level key."""
    text = json.dumps({"k": [value]}, indent=2, default=_json_default)
    head, tail = '{\n  "k": [\n    ', "\n  ]\n}"
    assert text.startswith(head) and text.endswith(tail)
    return text[len(head):-len(tail)]


def _written(document: dict, batch: int = 3) -> str:
    parts: list[str] = []
    write_json(document, parts.append, batch=batch)
    return "".join(parts)


def _check(values) -> None:
    """Each value encoded twice (the second from the template the first one made), in this order."""
    for value in values:
        expected = _expected(value)
        assert encode_item(value) == expected, value
        assert encode_item(value) == expected, value


#: With the external corpus the records number in the hundreds; a lone clone has only the samples'
#: (29 records, 13 findings): the checks below run on whatever is there, and insist on enough of it.
WITH_CORPUS = bool(corpus_entries())


def _captures() -> list[Path]:
    paths = sorted(p for p in CAPTURES.rglob("*") if p.suffix in (".pcap", ".pcapng"))
    return paths + [entry["capture_path"] for entry in corpus_entries()]


# ── real records ──────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def analyses() -> list:
    """The analysis of every sample capture and corpus capture."""
    from netreset.pipeline.whole import Analysis

    return [Analysis.of_files([path]) for path in _captures()]


@pytest.fixture(scope="module")
def analysed_records(analyses) -> list[dict]:
    """Every verdict, finding and handshake record of the sample captures and the corpus."""
    return [record for analysis in analyses
            for record in analysis.reset_rows() + analysis.finding_rows() + analysis.handshake_rows()]


def test_every_analysed_record_is_spelt_as_json_dumps(analysed_records):
    assert len(analysed_records) > (100 if WITH_CORPUS else 20)
    _check(analysed_records)


def test_every_frozen_record_is_spelt_as_json_dumps():
    """Verdicts, handshake findings and host profiles of the frozen answers: the corpus, samples, the
    generated capture and seeded random conversations that reach every reset rule's branches."""
    answers = frozen.load()
    records = [record for answer in answers.values() for kind in ("resets", "handshakes", "hosts")
               for record in answer.get(kind, [])]
    assert len(records) > 1000
    _check(records)


def test_records_interleaved_in_reverse_order(analysed_records):
    """The cached templates answer whatever shape came before."""
    _check(analysed_records[::-1])


def test_the_usual_records_take_a_template(analysed_records):
    """The point of the templates: verdicts and findings do not fall back to the recursive walk."""
    verdicts = [r for r in analysed_records if "evidence" in r]
    findings = [r for r in analysed_records if set(r) == {"kind", "conversation", "frames", "ts", "verdict",
                                                             "confidence", "summary", "display_filter"}]
    assert verdicts and findings
    for record in verdicts[:50] + findings[:50]:
        assert render._from_template(record) == _expected(record)


def test_write_json_of_records_lists(analysed_records):
    document = {"schema_version": 1, "resets": analysed_records, "empty": [], "pair": (1, "a"), "none": None}
    expected = json.dumps(document, indent=2, default=_json_default) + "\n"
    assert render_json(document) == expected
    assert _written(document) == expected
    assert _written(document, batch=1000) == expected
    assert _written({"records": iter(analysed_records)}) == json.dumps({"records": analysed_records}, indent=2) + "\n"


# ── hand-made values ──────────────────────────────────────────────────────────────────────────────


class Level(enum.IntEnum):
    LOW = 1


class Text(str):
    pass


class Number(float):
    pass


_VERDICT = {
    "conversation": 11, "frame": 29, "ts": 1700000000.016811, "src": "2001:db8::37", "sport": 5671,
    "verdict": "peer", "confidence": 0.818,
    "evidence": [{"code": "ttl_match", "observed": 109, "expected": 109, "weight": -1.0, "detail": "same — TTL"}],
    "display_filter": "tcp.stream eq 11", "advice": "check its logs",
}


def _with(record: dict, **changes) -> dict:
    return {**record, **changes}


def test_scalars_of_every_kind():
    _check([
        {"s": "plain", "i": 3, "f": 2.5, "t": True, "n": None, "z": False, "neg": -0.0, "big": 10 ** 30},
        {"s": "é ü 漢 😀 \u2028", "i": -7, "f": 1e-300, "t": False, "n": None, "z": True, "neg": 0.0, "big": -(10 ** 30)},
        {"s": "\x00 \x01 \x1f \x7f \" \\ / \n\t\r\b\f", "i": 0, "f": 1e300, "t": True, "n": None, "z": 1, "neg": 0, "big": 1.0},
        {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "list": [math.nan, 1.0, -math.inf]},
        {"nan": 1.5, "inf": 2.5, "ninf": 3.5, "list": [0.1, 1.0, 2.0]},
        {"%s": "%s", "%%": "%d", "{}": "{0}", "\\": "\\", "\"": "\""},
    ])


def test_containers_empty_nested_and_tuples():
    _check([
        {"a": [], "b": {}, "c": [[]], "d": [{}], "e": {"x": {}}, "f": ()},
        {"a": [1], "b": {"k": []}, "c": [[], [1, [2, [3, []]]]], "d": [{}, {"x": 1}], "e": {"x": {"y": [()]}}, "f": (1, 2)},
        {"a": (1, (2, 3), [4]), "b": [(), ()], "c": {"d": {"e": {"f": {"g": "deep"}}}}},
        {"matrix": [[1, 2], [3, 4]], "records": [{"a": 1, "b": [1, 2]}, {"a": 2, "b": []}, {"c": None}]},
        {},
        {"only": []},
    ])


def test_shape_changes_between_calls_never_reuse_a_wrong_template():
    evidence = _VERDICT["evidence"][0]
    _check([
        _VERDICT,
        _with(_VERDICT, confidence=None),
        _with(_VERDICT, confidence=1),
        _with(_VERDICT, confidence=True),
        _with(_VERDICT, confidence=[0.5, 0.25]),
        _with(_VERDICT, confidence={"low": 0.1, "high": 0.9}),
        _with(_VERDICT, confidence=[]),
        _with(_VERDICT, evidence=[]),
        _with(_VERDICT, evidence=[evidence, evidence, evidence]),
        _with(_VERDICT, evidence=[evidence, _with(evidence, detail=None)]),
        _with(_VERDICT, evidence=[evidence, {"detail": "x", "code": "c", "observed": 1, "expected": 1, "weight": 0.5}]),
        _with(_VERDICT, evidence=[_with(evidence, extra=[1, 2])]),
        _with(_VERDICT, evidence=[{"code": "ttl_match", "observed": 109}, {"expected": 109, "weight": -1.0}]),
        _with(_VERDICT, evidence=[{"code": "ttl_match"}, {"observed": 109, "expected": 109, "weight": -1.0}]),
        _with(_VERDICT, evidence=(evidence,)),
        _with(_VERDICT, evidence=[evidence, [1, 2]]),
        _with(_VERDICT, evidence=[evidence, None, "x"]),
        dict(reversed(list(_VERDICT.items()))),
        {k: v for k, v in _VERDICT.items() if k != "advice"},
        _with(_VERDICT, frames=[1, 2, 3]),
        _with(_VERDICT, frames=[1, 2]),
        _with(_VERDICT, frames=[1, 2.0, None, "3", True]),
        _VERDICT,
    ])


def test_keys_that_compare_equal_but_spell_differently():
    _check([
        {"1": "a"}, {1: "a"}, {1.0: "a"}, {True: "a"}, {"true": "a"}, {None: "a"}, {"null": "a"},
        {"x": {1: "a"}}, {"x": {True: "a"}}, {"x": {1.0: "a"}}, {"x": {"1": "a"}},
        {"x": [{0: 1}]}, {"x": [{False: 1}]}, {"x": [{0.0: 1}]}, {"x": [{"0": 1}]},
        {2.5: 1, -math.inf: 2, math.nan: 3}, {10 ** 20: 1},
        {Text("k"): 1}, {"k": 1},
        {"\x00": 1}, {"a\x00b": [1]}, {"é": 1, "\n": 2},
    ])


def test_subclasses_and_numpy_scalars():
    _check([
        {"level": Level.LOW, "n": 1},
        {"level": 1, "n": 1},
        {"text": Text("t\u00e9"), "n": 1},
        {"text": "t\u00e9", "n": 1},
        {"number": Number(1.5), "nan": Number("nan")},
        {"number": 1.5, "nan": math.nan},
        {"i": np.int64(7), "f": np.float64(0.1), "f32": np.float32(0.5), "b": np.bool_(True), "u": np.uint16(3)},
        {"i": 7, "f": 0.1, "f32": 0.5, "b": True, "u": 3},
        {"nested": [np.int64(1), 2], "deeper": [{"x": np.float64(math.inf)}]},
        {"set": {3, 1, 2}, "frozen": frozenset({"b", "a"})},
        {"ordered": OrderedDict(a=1, b=[2])},
        {"ordered": {"a": 1, "b": [2]}},
        OrderedDict(a=1, b=[2]),
        {"a": 1, "b": [2]},
    ])


def test_values_that_are_not_dicts():
    _check([[1, 2, {"a": [3]}], (), [], "text", 5, 2.5, None, True, math.nan, [{"a": 1}, {"a": 1}]])


def test_unserialisable_values_fail_as_json_dumps_does():
    for value in ({"x": object()}, {"x": [1, object()]}, {"x": {"y": {object()}}}, {(1, 2): 3}):
        with pytest.raises(TypeError):
            json.dumps(value, default=_json_default)
        with pytest.raises(TypeError):
            encode_item(value)


def test_big_records_take_the_recursive_path():
    many = render._MAX_LEAVES + 1
    _check([
        {"frames": list(range(many))},
        {"frames": list(range(many - 1)), "more": [1, 2]},
        {"rows": [{"a": i} for i in range(many)]},
        {"rows": [{"a": i, "b": [i]} for i in range(many // 2)]},
        {str(i): i for i in range(many)},
    ])


def test_caches_start_again_when_full(monkeypatch):
    """Shapes beyond the bound empty the caches; every answer stays right across the clearing."""
    monkeypatch.setattr(render, "_MAX_ENTRIES", 4)
    monkeypatch.setattr(render, "_PLANS", {})
    monkeypatch.setattr(render, "_NESTED", {})
    values = []
    for n in range(12):
        values += [{f"k{n % 5}": n, "frames": list(range(n))},
                   {"x": [{"a": i} for i in range(n % 3)], "v": [n] * (n % 4), f"k{n % 5}": float(n)}]
    _check(values + values[::-1])
    assert len(render._PLANS) <= 4 and len(render._NESTED) <= 4
    assert all(len(plan.templates) <= 4 for plan in render._PLANS.values() if plan is not None)


def test_leaves_that_are_not_their_records_never_make_a_template(monkeypatch):
    """encode_leaves keeps a template only when it spells the record it was made from; leaves in the wrong
    order, too few or too many, or not scalars, are spelt by encode_item of the record every time."""
    from netreset.records.json import encode_leaves

    monkeypatch.setattr(render, "_BY_LEAVES", {})
    record = {"a": 1, "b": ["x", 2.5], "c": None}
    for kind, leaves in [("swapped", [2.5, "x", 1, None]), ("short", [1, "x", 2.5]),
                         ("long", [1, "x", 2.5, None, 7]), ("nested", [1, ["x", 2.5], None])]:
        for _ in range(2):
            assert encode_leaves(kind, leaves, lambda: record) == encode_item(record)
        assert list(render._BY_LEAVES.values())[-1] is None
    right = [1, "x", 2.5, None]
    assert encode_leaves("right", right, lambda: record) == encode_item(record)
    assert encode_leaves("right", [7, 'q"\n', -0.0, None], lambda: None) == encode_item(
        {"a": 7, "b": ['q"\n', -0.0], "c": None})  # the template, without asking for the record
    assert render._BY_LEAVES["right", tuple(map(type, right))] is not None


def test_leaves_templates_start_again_when_full(monkeypatch):
    from netreset.records.json import encode_leaves

    monkeypatch.setattr(render, "_MAX_ENTRIES", 4)
    monkeypatch.setattr(render, "_BY_LEAVES", {})
    for n in range(12):
        record = {"n": n, "v": [n] * (n % 5)}
        assert encode_leaves("list", [n] * (1 + n % 5), lambda: record) == encode_item(record)
    assert len(render._BY_LEAVES) <= 4


def _encoded_as_records(resets, handshakes, outcomes) -> None:
    from netreset.records.findings import encoded_findings, finding_items, finding_order

    expected = [(finding_order(f), _expected(f)) for f in finding_items(resets, handshakes, outcomes)]
    for _ in range(2):  # templates made, then used
        assert encoded_findings(resets, handshakes, outcomes) == expected


def test_findings_spelt_from_their_values_are_their_records(analyses):
    for analysis in analyses:
        _encoded_as_records(analysis.resets, analysis.handshakes, analysis.outcomes_by_id())
    assert sum(len(analysis.finding_rows()) for analysis in analyses) > (100 if WITH_CORPUS else 10)


def test_findings_of_unusual_values_are_spelt_as_their_records():
    from types import SimpleNamespace as Record

    def reset(**changes):
        return Record(**({"conversation": 1, "frame": 5, "ts": 1.5, "verdict": "peer", "confidence": 0.75,
                          "advice": "who — why", "display_filter": "tcp"} | changes))

    def handshake(**changes):
        return Record(**({"kind": "syn_unanswered", "refusal": None, "conversation": 2, "frames": (1, 2, 3),
                          "ts": 2.5, "verdict": None, "confidence": None, "summary": 's "q"',
                          "display_filter": "tcp"} | changes))

    _encoded_as_records(
        [reset(), reset(ts=None, conversation=None), reset(confidence=1), reset(frame=np.int64(9)),
         reset(advice=["not", "text"]), reset(ts=math.nan, confidence=-0.0), reset(conversation=7)],
        [handshake(), handshake(frames=()), handshake(frames=(4,)), handshake(frames=(1, None, "x")),
         handshake(kind="refused", refusal="rst"), handshake(kind="refused", refusal="icmp"),
         handshake(verdict="middlebox", confidence=0.5, ts=None)],
        {7: "refused", 1: "reset_by_peer"})


def test_every_json_output_goes_through_the_records_encoder():
    """Commands write JSON only through netreset.records.json (via netreset.report.formats): a json.dumps
    elsewhere would be a second spelling of the contract, and the slow one."""
    src = Path(render.__file__).resolve().parents[1]
    writers = [str(p.relative_to(src)) for p in src.rglob("*.py")
               if p != Path(render.__file__).resolve() and ("json.dump(" in p.read_text() or "json.dumps(" in p.read_text())]
    assert writers == []
