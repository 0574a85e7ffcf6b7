"""The compiled conversation builder gives exactly the Python walk's conversations: every field of
every Conversation (conn_state, history, completeness, tcp_stream, counts, rows, from_orig), on the
corpus, the sample and lab captures, generated captures and random packet sequences."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import table, tcp
from conftest import CAPTURES, ROOT
from netreset.runtime.compiled import MIN_TABLE_PACKETS, use_compiled
from netreset.flows.model import Conversation
from netreset.flows.conversations import build_conversations
from netreset.ingest.reader import read_capture
from netreset.flows.tcpstate import Timing

pytest.importorskip("numba")

FIELDS = [f.name for f in dataclasses.fields(Conversation)]


def differences(plain, fast) -> list[str]:
    """Every field that differs (value or Python type; arrays: dtype and values), as text."""
    if len(plain) != len(fast):
        return [f"{len(plain)} conversations vs {len(fast)}"]
    out = []
    for a, b in zip(plain, fast):
        for name in FIELDS:
            x, y = getattr(a, name), getattr(b, name)
            if isinstance(x, np.ndarray):
                same = isinstance(y, np.ndarray) and x.dtype == y.dtype and np.array_equal(x, y)
            else:
                same = type(x) is type(y) and x == y
            if not same:
                out.append(f"conversation {a.id} {name}: {x!r} != {y!r}")
    return out


def assert_same(packets, **kw) -> list:
    plain = build_conversations(packets, compiled=False, **kw)
    fast = build_conversations(packets, compiled=True, **kw)
    assert differences(plain, fast) == []
    return plain


@pytest.mark.parametrize("verify", [False, True])
def test_sample_and_lab_captures_give_the_same_conversations(verify):
    paths = sorted(p for p in CAPTURES.rglob("*") if p.suffix in (".pcap", ".pcapng"))
    assert paths
    for path in paths:
        packets, _ = read_capture(path, verify_checksums=verify)
        assert_same(packets, verify_checksums=verify)


def test_the_whole_corpus_gives_the_same_conversations(corpus):
    for entry in corpus:
        packets, _ = read_capture(entry["capture_path"], compiled=False)
        for verify in (False, True):
            plain = build_conversations(packets, compiled=False, verify_checksums=verify)
            fast = build_conversations(packets, compiled=True, verify_checksums=verify)
            assert differences(plain, fast) == [], entry["capture_path"]


def test_generated_captures_give_the_same_conversations(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from generate import generate

    truth = generate(6000, seed=11, formats=["pcap"], out=tmp_path, snaplen=128, rate_per_s=300.0)
    packets, _ = read_capture(truth["files"]["pcap"])
    convs = assert_same(packets)
    assert len(convs) == truth["conversations"]


@pytest.fixture
def walked_in_halves(monkeypatch):
    """Every compiled walk cut in two halves, the second walked in the helper thread."""
    import netreset.flows.compiled.conversations as fast

    monkeypatch.setattr(fast, "SPLIT_MIN_ROWS", 2)
    calls = []
    split = fast._split_in_halves
    monkeypatch.setattr(fast, "_split_in_halves", lambda *a: calls.append(1) or split(*a))
    return calls


def test_walks_cut_in_halves_give_the_same_conversations(walked_in_halves, tmp_path):
    paths = sorted(p for p in CAPTURES.rglob("*") if p.suffix in (".pcap", ".pcapng"))
    for path in paths:
        assert_same(read_capture(path)[0])
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from generate import generate

    truth = generate(6000, seed=12, formats=["pcap"], out=tmp_path, snaplen=128, rate_per_s=300.0)
    before = len(walked_in_halves)
    assert len(assert_same(read_capture(truth["files"]["pcap"])[0])) == truth["conversations"]
    assert before and len(walked_in_halves) > before


def test_a_forked_child_walks_halves_with_a_helper_thread_of_its_own(walked_in_halves, tmp_path):
    import multiprocessing

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from generate import generate

    truth = generate(3000, seed=13, formats=["pcap"], out=tmp_path, snaplen=128, rate_per_s=300.0)
    packets = read_capture(truth["files"]["pcap"])[0]
    here = build_conversations(packets, compiled=True)  # the parent's helper thread exists before the fork
    with multiprocessing.get_context("fork").Pool(1) as pool:
        there = pool.apply_async(build_conversations, (packets,), {"compiled": True}).get(timeout=120)
    assert differences(here, there) == []


def test_custom_timers_reach_the_compiled_path():
    rows = [tcp("10.0.0.1:40000", "10.0.0.2:5555", "S", seq=100, t=0),
            tcp("10.0.0.1:40000", "10.0.0.2:5555", "S", seq=100, t=2)]
    assert len(assert_same(table(rows), timing=Timing(attempt_delay=1), attempts=False)) == 2
    assert len(assert_same(table(rows), attempts=False)) == 1
    # the two Zeek connections of the 1 s attempt timer are one attempt (one SYN retransmitted)
    joined = assert_same(table(rows), timing=Timing(attempt_delay=1))
    assert [(c.syn_count, c.zeek_connections) for c in joined] == [(2, 2)]


def test_small_tables_stay_on_the_python_path(monkeypatch):
    assert not use_compiled(MIN_TABLE_PACKETS - 1, MIN_TABLE_PACKETS)
    assert use_compiled(MIN_TABLE_PACKETS, MIN_TABLE_PACKETS) and use_compiled(10, MIN_TABLE_PACKETS, force=True)
    assert not use_compiled(10 ** 9, MIN_TABLE_PACKETS, force=False)
    monkeypatch.setenv("NETRESET_PLAIN", "1")
    assert not use_compiled(10 * MIN_TABLE_PACKETS, MIN_TABLE_PACKETS)


# -- random packet sequences -------------------------------------------------------------------
ENDPOINTS = ["10.0.0.1:40000", "10.0.0.2:5555", "10.0.0.2:80", "10.0.0.3:443", "[2001:db8::1]:40000",
             "[2001:db8::2]:80"]
FLAGS = ["S", "SA", "A", "PA", "FA", "F", "R", "RA", "FR", "SF", "SR", "", "SRA", "FPA"]
SEQS = [0, 1, 2, 100, 101, 102, 111, 500, 501, 502, 0xFFFFFFFF, 0xFFFFFFFE, 2_000_000, 0x80000000]
GAPS = [0.0, 0.001, 0.5, 1.0, 4.9, 5.0, 5.1, 6.0, 11.0, 59.0, 61.0, 299.0, 301.0]


@st.composite
def packet_tables(draw):
    n_pairs = draw(st.integers(1, 3))
    pairs = [draw(st.sampled_from([(a, b) for a in ENDPOINTS for b in ENDPOINTS
                                   if a != b and (":" in a.split("]")[0]) == (":" in b.split("]")[0])]))
             for _ in range(n_pairs)]
    rows, t = [], 0.0
    for _ in range(draw(st.integers(1, 40))):
        src, dst = draw(st.sampled_from(pairs))
        if draw(st.booleans()):
            src, dst = dst, src
        t += draw(st.sampled_from(GAPS))
        base = draw(st.sampled_from(SEQS))
        rows.append(tcp(src, dst, draw(st.sampled_from(FLAGS)), seq=base + draw(st.integers(0, 3)),
                        ack=draw(st.sampled_from(SEQS)), payload=draw(st.sampled_from([0, 0, 1, 10])),
                        win=draw(st.sampled_from([65535, 65535, 0])), t=t,
                        bad_checksum=draw(st.integers(0, 9)) == 0))
    return table(rows)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packet_tables(), st.booleans())
def test_random_packet_sequences_give_the_same_conversations(packets, verify):
    assert_same(packets, verify_checksums=verify)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(packet_tables())
def test_random_packet_sequences_walked_in_halves_give_the_same_conversations(walked_in_halves, packets):
    assert_same(packets)
