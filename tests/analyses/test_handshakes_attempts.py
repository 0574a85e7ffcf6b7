"""Handshake findings of one connection attempt that Zeek's timers split: one finding with every SYN.

``tests/data/lab-syn-blackhole-4-syns.pcap`` is the lab's syn-blackhole scenario (captures/lab) recorded
with ``tcp_syn_retries = 3`` on the agent: a real Linux kernel's SYN at 0, +1, +3, +7 s, all dropped by fw.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import table, tcp
from netreset.analyses.handshakes.analyze import analyze_handshakes
from netreset.flows.conversations import build_conversations
from netreset.ingest.reader import read_capture

LAB = Path(__file__).resolve().parents[1] / "data" / "lab-syn-blackhole-4-syns.pcap"


def _findings(packets, **kw):
    convs = build_conversations(packets, **kw)
    return convs, analyze_handshakes(packets, convs)


def test_the_lab_blackhole_is_one_conversation_and_one_finding_with_4_syns():
    packets, _ = read_capture(LAB)
    convs, found = _findings(packets)
    assert [(c.conn_state, c.syn_count, c.zeek_connections) for c in convs] == [("S0", 4, 2)]
    [finding] = [f.to_dict() for f in found]
    assert finding["kind"] == "syn_unanswered"
    assert finding["syn_count"] == 4 and len(finding["syn_gaps_s"]) == 3
    assert "sent 4 SYNs to 10.66.6.2:8082 over 7.2 s" in finding["summary"]
    assert "Linux exponential backoff" in finding["summary"]
    # Zeek's view keeps its two connections, and would give two findings
    assert len(build_conversations(packets, attempts=False)) == 2


@pytest.mark.parametrize("times, words", [
    ((0, 1, 3, 7), ("sent 4 SYNs", "over 7.0 s", "Linux exponential backoff")),
    ((0, 3, 9), ("sent 3 SYNs", "over 9.0 s", "Windows default (3, 6 s)")),
])
def test_a_split_attempt_is_one_finding_naming_its_schedule(times, words):
    rows = [tcp("10.0.0.1:40000", "10.0.0.2:5555", "S", seq=100, t=t, ttl=128 if 9 in times else 64) for t in times]
    convs, found = _findings(table(rows))
    [finding] = [f.to_dict() for f in found]
    assert convs[0].zeek_connections == 2
    for word in words:
        assert word in finding["summary"], finding["summary"]
