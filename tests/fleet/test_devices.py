"""Devices merged across captures, and how the fleet text names them."""

from __future__ import annotations

from netreset.fleet.devices import capture_devices, device_key, fleet_document, merge_devices
from netreset.report.fleet import device_sentence, fleet_text, service_groups


def reset(hop=4, ttl=64, verdict="middlebox", ts=100.0, src="10.0.0.9", conversation=0, server_name=None, ipid="ipid_zero"):
    return {"verdict": verdict, "traceroute_hop": hop, "initial_ttl": ttl, "ts": ts, "src": src, "sport": 443,
            "conversation": conversation, "server_name": server_name, "evidence": [{"code": ipid}, {"code": "ttl_mismatch"}]}


def test_a_device_is_its_hop_and_initial_ttl_and_only_middleboxes_are_devices():
    assert device_key(reset()) == "hop4-ttl64"
    assert device_key(reset(verdict="peer")) is None and device_key(reset(verdict="undetermined")) is None
    assert device_key(reset(ttl=255)) != device_key(reset()) != device_key(reset(hop=5))


def test_devices_merge_over_captures_and_nodes():
    a = capture_devices([reset(ts=200.0, server_name="a.servicebus.windows.net"), reset(ts=100.0, conversation=1),
                         reset(verdict="peer")], "node-1", {1: "10.0.0.9:443"})
    b = capture_devices([reset(ts=50.0, src="10.0.0.8", server_name="b.servicebus.windows.net", ipid="ipid_nonzero"),
                         reset(hop=2, ttl=255)], "node-2", {})
    (top, other) = merge_devices([a, b])
    assert top == {"device": "hop4-ttl64", "traceroute_hop": 4, "initial_ttl": 64, "resets": 3,
                   "nodes": ["node-1", "node-2"], "claimed_senders": ["10.0.0.8", "10.0.0.9"],
                   "services": ["10.0.0.9:443", "a.servicebus.windows.net", "b.servicebus.windows.net"],
                   "first_ts": 50.0, "last_ts": 200.0, "ip_id": ["ipid_nonzero", "ipid_zero"]}
    assert other["device"] == "hop2-ttl255" and other["resets"] == 1


def test_a_retried_capture_counts_once_and_failures_are_listed():
    done = {"path": "/c/a.pcap", "error": None, "capture": "sha-a", "node": "n1", "packets": 10, "conversations": 3,
            "resets": 2, "devices": capture_devices([reset(), reset()], "n1", {})}
    failed = {"path": "/c/bad.pcap", "error": "/c/bad.pcap: not a capture file"}
    document = fleet_document([done, dict(done), failed])
    assert list(document) == ["schema_version", "captures", "nodes", "conversations_total", "resets_total", "devices", "failed"]
    assert (document["captures"], document["conversations_total"], document["resets_total"]) == (1, 3, 2)
    assert document["devices"][0]["resets"] == 2 and document["failed"] == [failed]
    text = fleet_text(document)
    assert "1 captures failed:\n  /c/bad.pcap: not a capture file" in text


def test_the_sentence_names_the_device_as_an_engineer_would():
    d = {"device": "hop4-ttl64", "traceroute_hop": 4, "initial_ttl": 64, "resets": 1234,
         "nodes": [f"n{i}" for i in range(14)], "claimed_senders": [], "first_ts": 1796436000.0, "last_ts": 1796439500.0,
         "services": [f"x{i}.servicebus.windows.net" for i in range(5)]}
    assert device_sentence(d) == ("the device at hop 4 (initial TTL 64) reset 1,234 connections from 14 nodes to "
                                  "*.servicebus.windows.net on 2026-12-05 between 02:00 and 02:58 UTC")
    assert service_groups(["10.0.0.1:443", "wu2.frontend.example.net"]) == ["10.0.0.1:443", "wu2.frontend.example.net"]
