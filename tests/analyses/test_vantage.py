"""Two vantage points on the lab's real captures: every two-capture scenario against truth.json's ``pairs``,
the firewall's own two-interface capture, the NAT'd variant, and the clock fit on a shifted copy."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import dpkt
import pytest

from netreset.ingest.containers.open import open_frames
from netreset.analyses.vantage.compare import compare_vantages
from netreset.analyses.vantage.load import load_vantages
from netreset.records.comparison import comparison_dict

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
TRUTH = json.loads((CAPTURES / "truth.json").read_text())
PAIRS = {p["scenario"]: p for p in TRUTH["pairs"]}
#: the lab's marker segment is what netreset calls a data segment (it cannot read the payload's meaning)
PACKET_NAMES = {"FORBIDDEN segment": "data segment"}


def compare_files(a: str, b: str) -> dict:
    return comparison_dict(compare_vantages(load_vantages(CAPTURES / a)[0], load_vantages(CAPTURES / b)[0]))


def one_sided_counts(items: list[dict]) -> Counter:
    return Counter((o["kind"], o["packet"]) for o in items)


def truth_counts(items: list[dict]) -> dict:
    return {(o["kind"], PACKET_NAMES.get(o["packet"], o["packet"])): o["count"] for o in items}


def counts_agree(found: Counter, truth: dict) -> bool:
    if set(found) != set(truth):
        return False
    for key, count in truth.items():
        low, high = count if isinstance(count, list) else (count, count)
        if not low <= found[key] <= high:
            return False
    return True


@pytest.fixture(scope="module")
def documents() -> dict[str, dict]:
    return {name: compare_files(p["a"], p["b"]) for name, p in PAIRS.items()}


@pytest.mark.parametrize("scenario", sorted(PAIRS))
def test_every_lab_pair_joins_and_classifies_as_the_truth_says(documents, scenario):
    truth, document = PAIRS[scenario], documents[scenario]
    found = {tuple(c["a"]): c for c in document["conversations"] if c["a"] is not None}
    assert len(found) == len(document["conversations"]), "no conversation only in the server capture"
    for expected in truth["conversations"]:
        c = found[tuple(expected["a"])]
        assert c["b"] == expected["b"]
        assert counts_agree(one_sided_counts(c["only_in_a"]), truth_counts(expected["only_in_a"])), c["only_in_a"]
        assert counts_agree(one_sided_counts(c["only_in_b"]), truth_counts(expected["only_in_b"])), c["only_in_b"]
        if c["matched_packets"]:
            assert c["routers_between_vantage_points"] == truth["routers_between_vantage_points"]


@pytest.mark.parametrize("scenario", sorted(PAIRS))
def test_clock_offset_found_matches_the_labs_shared_clock(documents, scenario):
    document = documents[scenario]
    if document["clock"]["pairs"] == 0:
        assert document["clock_offset_s"] is None  # nothing reached the server: no offset to measure
        return
    assert abs(document["clock_offset_s"] - TRUTH["lab"]["clock_offset_between_captures_s"]) < 0.0005
    assert document["clock"]["drift_ppm"] == 0.0


def test_nat_variant_is_joined_although_the_tuples_differ(documents):
    c = documents["firewall-reset-nat"]["conversations"][0]
    assert c["a"][:2] != c["b"][:2] and c["join"] == "packets" and c["matched_packets"] == 7
    assert any("source NAT" in note for note in c["notes"])


def test_synack_dropped_says_how_often_the_server_answered(documents):
    c = documents["synack-dropped"]["conversations"][0]
    assert {o["kind"] for o in c["only_in_b"]} == {"dropped"}
    assert any(note.startswith(f"SYN-ACK sent {len(c['only_in_b'])} times by 10.66.6.2") for note in c["notes"])


def test_firewall_capture_is_split_into_its_two_interfaces_and_compared_with_itself():
    ingress, egress = load_vantages(CAPTURES / "peer/firewall-reset-fw.pcapng")
    assert (ingress.interface, egress.interface) == ("to-r3", "to-r5")
    c = comparison_dict(compare_vantages(ingress, egress))["conversations"]
    assert len(c) == 1 and c[0]["routers_between_vantage_points"] == 1  # the firewall itself
    assert one_sided_counts(c[0]["only_in_a"]) == {("injected", "RST"): 1, ("dropped", "data segment"): 1}
    rst = next(o for o in c[0]["only_in_a"] if o["packet"] == "RST")
    assert rst["ttl"] == 64 and rst["frame"] == 16  # the firewall's own packet, not yet routed


def test_agent_against_firewall_egress_proves_the_injection():
    agent = load_vantages(CAPTURES / "firewall-reset.pcapng")[0]
    _, egress = load_vantages(CAPTURES / "peer/firewall-reset-fw.pcapng")
    c = comparison_dict(compare_vantages(agent, egress))["conversations"][0]
    assert c["routers_between_vantage_points"] == 4
    assert one_sided_counts(c["only_in_a"]) == {("injected", "RST"): 1, ("dropped", "data segment"): 1}


def _shifted_copy(source: Path, target: Path, offset_s: float, drift_ppm: float) -> None:
    """The capture with every timestamp moved to t0 + offset + (t − t0)·(1 + drift) — a second clock."""
    with open_frames(source) as frames, open(target, "wb") as out:
        writer, t0 = None, None
        for frame in frames:
            if writer is None:
                writer = dpkt.pcap.Writer(out, linktype=frame.linktype, nano=True)
            t0 = frame.ts_ns if t0 is None else t0
            moved = t0 + offset_s * 1e9 + (frame.ts_ns - t0) * (1 + drift_ppm * 1e-6)
            writer.writepkt(frame.data, ts=moved / 1e9)


def test_clock_offset_and_drift_are_recovered_from_a_shifted_copy(tmp_path):
    shifted = tmp_path / "server-shifted.pcap"
    _shifted_copy(CAPTURES / "peer/multi-connection-server.pcapng", shifted, offset_s=-3.25, drift_ppm=500.0)
    a = load_vantages(CAPTURES / "multi-connection.pcap")[0]
    document = comparison_dict(compare_vantages(a, load_vantages(shifted)[0]))
    clock = document["clock"]
    assert clock["method"] == "two_way" and clock["pairs"] >= 40
    assert abs(clock["offset_s"] - (-3.25)) < 0.0002
    assert abs(clock["drift_ppm"] - 500.0) < 100.0
    assert clock["residual_median_s"] < 0.0001
    assert sum(c["matched_packets"] for c in document["conversations"]) == 49
    forged = [c for c in document["conversations"] if c["only_in_a"]]
    assert [c["a"][1] for c in forged] == [40083]
