"""The fast analyses after ingest answer exactly as the straightforward implementation did.

``tests/data/analyses-frozen.json.gz`` holds the answers (reset verdicts, handshake findings, host
profiles, refined outcomes) written before the vectorised paths replaced the per-RST numpy code
(see ``tests/frozen_analyses.py``): on the whole corpus, the sample and lab captures, both vantage
points, a generated capture, and seeded random conversations that reach every reset rule's branches.
"""

from __future__ import annotations

import pytest
from conftest import CORPUS

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
