"""locate_resets end to end: the JSON contract, the lab captures from real kernels, and the corpus."""

from __future__ import annotations

import json

import pytest
from conftest import CAPTURES
from resets_support import established

from netreset.flows import conversations as conversations_module
from netreset.analyses.resets.locate import locate_resets
from netreset.analyses.resets.weights import STRONG

CONTRACT = ["conversation", "frame", "ts", "src", "dst", "sport", "dport", "observed_ttl", "initial_ttl",
            "routers_between", "traceroute_hop", "claimed_sender_routers_between", "verdict", "confidence",
            "reason", "evidence", "display_filter", "advice", "server_name", "idle_before_s", "causes"]
NORMAL_RESET_STATES = {"RSTO", "RSTR", "REJ", "RSTOS0", "RSTRH"}

build_conversations = getattr(conversations_module, "build_conversations", None)
needs_builder = pytest.mark.skipif(build_conversations is None, reason="conversation builder not available")


def test_verdict_json_has_exactly_the_contract_fields_in_order():
    flow, t = established()
    flow.send(t, flow.server, "RA", ttl=61, ip_id=0, consume=False)
    (verdict,) = locate_resets(*flow.build())
    record = json.loads(json.dumps(verdict.to_dict()))
    assert list(record) == CONTRACT
    assert all(list(item) == ["code", "observed", "expected", "weight", "detail"] for item in record["evidence"])
    assert record["display_filter"] == "tcp.stream eq 0 and (tcp.flags.reset == 1 or ip.src == 203.0.113.9)"
    assert 0.0 <= record["confidence"] <= 1.0 and record["frame"] == 10


def test_evidence_is_listed_strongest_first_and_every_rst_gets_one_verdict_in_capture_order():
    flow, t = established()
    flow.send(t, flow.client, "RA", consume=False)
    flow.send(t + 0.01, flow.server, "RA", ttl=61, consume=False)
    verdicts = locate_resets(*flow.build())
    assert [v.frame for v in verdicts] == [10, 11]
    assert [v.src for v in verdicts] == ["10.1.2.3", "203.0.113.9"]
    weights = [abs(o.weight) for o in verdicts[1].evidence]
    assert weights == sorted(weights, reverse=True)


def test_no_rst_means_no_verdict():
    flow, _ = established()
    assert locate_resets(*flow.build()) == []


# ── Lab captures (real kernels; captures/truth.json) ──────────────────────────────────────────────────

def _lab_truth() -> dict:
    path = CAPTURES / "truth.json"
    if not path.is_file():
        pytest.skip("lab captures not recorded")
    return json.loads(path.read_text())


def _expected_resets(truth: dict, vantage: str = "agent") -> list[tuple[str, tuple[int, int], str]]:
    """(file, (originator port, responder port), true sender) for every RST the agent-side captures hold
    (the lab's client ports are unique across files; responder ports are reused)."""
    rows = []
    for capture in truth["captures"]:
        if capture["vantage"] != vantage:
            continue
        for conn in capture["connections"]:
            rows += [(capture["file"], (conn["orig_port"], conn["resp_port"]), r["true_sender"]) for r in conn["resets"]]
    return rows


def _verdicts(paths) -> dict[tuple[int, int], list]:
    from netreset.ingest.files import read_capture_files

    table, _ = read_capture_files([str(p) for p in paths])
    conversations = build_conversations(table)
    by_ports: dict[tuple[int, int], list] = {}
    for verdict in locate_resets(table, conversations):
        conv = conversations[verdict.conversation]
        by_ports.setdefault((conv.orig_p, conv.resp_p), []).append(verdict)
    return by_ports


@needs_builder
def test_every_agent_side_lab_reset_is_attributed_right_when_judged_together():
    """Issue 14's captures included: there fw answers for the server's address on some ports (TTL 61), which
    must neither become the server's reference for the others nor hide the transparent proxy's reset."""
    truth = _lab_truth()
    expected = _expected_resets(truth)
    files = sorted({CAPTURES / f for f, _, _ in expected})
    verdicts = _verdicts(files)
    assert expected and any(f == "transparent-proxy.pcapng" for f, _, _ in expected)
    wanted: dict = {}
    for file, ports, true_sender in expected:  # a connection may hold several RSTs (in frame order)
        wanted.setdefault((file, ports), []).append(true_sender)
    for (file, ports), senders in wanted.items():
        got = [v.verdict for v in sorted(verdicts[ports], key=lambda v: v.frame)]
        assert got == senders, (file, ports, got)


@needs_builder
def test_mid_stream_lab_resets_are_right_from_each_capture_alone():
    truth = _lab_truth()
    seen: dict = {}
    for file, ports, true_sender in _expected_resets(truth):
        at = seen[file, ports] = seen.get((file, ports), -1) + 1  # the connection's RSTs in frame order
        verdict = sorted(_verdicts([CAPTURES / file])[ports], key=lambda v: v.frame)[at]
        if verdict.claimed_sender_routers_between is None:
            # A refused SYN with nothing else from the server in this file: only the TTL family is known.
            assert verdict.verdict == "undetermined" and verdict.reason == "no_reference_packets", file
        else:
            assert verdict.verdict == true_sender, (file, verdict.reason)


@needs_builder
def test_firewall_reset_capture_names_hop_four_as_the_guide_does():
    _lab_truth()
    (verdict,) = _verdicts([CAPTURES / "firewall-reset.pcapng"])[(40001, 8081)]
    assert (verdict.observed_ttl, verdict.initial_ttl, verdict.routers_between, verdict.traceroute_hop) == (61, 64, 3, 4)
    assert verdict.claimed_sender_routers_between == 6
    assert verdict.advice.endswith("A device at hop 4 forged it.")


# ── Corpus: genuine resets are never called middlebox without evidence ────────────────────────────────

@needs_builder
def test_no_normal_corpus_reset_is_called_middlebox_without_strong_evidence(corpus):
    from netreset.ingest.reader import read_capture

    counted = 0
    for entry in (e for e in corpus if "rst" in e["tags"]):
        table, _ = read_capture(str(entry["capture_path"]))
        conversations = build_conversations(table)
        for verdict in locate_resets(table, conversations):
            state = conversations[verdict.conversation].conn_state
            counted += state in NORMAL_RESET_STATES
            if verdict.verdict == "middlebox":
                assert state not in NORMAL_RESET_STATES or any(o.weight >= STRONG for o in verdict.evidence), (
                    entry["id"], verdict.frame)
    assert counted > 0
