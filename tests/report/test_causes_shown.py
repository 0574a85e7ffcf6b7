"""Causes and names in every text output (issue 14): locate-reset, conversations, summary (text, JSON, CSV).

The expected names, targets, statuses and alerts come from captures/truth.json (the lab's own record of what
it did), the expected texts from the JSON records (report/ renders records, so the text must say what the
JSON says); the pure renderers of netreset.report.causes are checked on crafted records, codes unknown to
them included.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from netreset.cli.main import main
from netreset.report.causes import cause_codes, cause_line, event_label, events_by_frame, short_cause
from tests.conftest import CAPTURES

LAB = ("sni-filtered", "proxy-connect", "tls-inspection", "idle-timeout", "tls-versions")


def _run(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _json(*args) -> dict:
    return json.loads(_run(*args, "--format", "json"))


def truth_connections(name: str) -> dict[int, dict]:
    truth = json.loads((CAPTURES / "truth.json").read_text())
    [capture] = [c for c in truth["captures"] if c["file"] == f"{name}.pcapng"]
    return {c["orig_port"]: c for c in capture["connections"]}


# --- the pure renderers, on crafted records ---------------------------------------------------------------

def test_an_unknown_cause_code_renders_with_its_sentence_and_frames():
    cause = {"code": "something_new", "sentence": "a device did a new thing", "frames": [7, 9], "evidence": {}}
    assert cause_line(cause) == "something_new: a device did a new thing (frames 7, 9)"
    assert short_cause(cause) == "something_new: a device did a new thing"
    assert cause_line(dict(cause, frames=[3])).endswith("(frame 3)")
    long = dict(cause, sentence="x" * 200)
    assert len(short_cause(long)) <= 60 and short_cause(long).endswith("…")


def test_known_codes_get_a_short_phrase_from_their_evidence():
    sni = {"code": "sni_filtered", "sentence": "…", "frames": [4, 5], "evidence": {"sni": "wu2.example.net"}}
    idle = {"code": "idle_timeout", "sentence": "…", "frames": [24], "evidence": {"idle_s": 21.804976}}
    assert short_cause(sni) == "resets ClientHello for wu2.example.net (SNI filter)"
    assert short_cause(idle) == "idle timeout after 21.8 s"
    # evidence missing: the generic form, never a phrase with a hole in it
    assert short_cause(dict(sni, evidence={})).startswith("sni_filtered: ")
    assert cause_codes([sni, idle, dict(sni, frames=[9])]) == ["sni_filtered", "idle_timeout"]


@pytest.mark.parametrize("event, label", [
    ({"kind": "client_hello", "sni": "a.example", "versions_offered": ["TLS 1.3", "TLS 1.2"], "alpn": ["h2"]},
     "ClientHello SNI=a.example offers 1.3/1.2 ALPN h2"),
    ({"kind": "client_hello", "sni": None, "versions_offered": [], "alpn": []}, "ClientHello"),
    ({"kind": "server_hello", "version": "TLS 1.3", "alpn": None}, "ServerHello TLS 1.3"),
    ({"kind": "certificate", "certificates": [{"subject": "CN=a.example,O=x", "issuer": "O=y,CN=Some CA"}]},
     "Certificate CN=a.example issuer=Some CA"),
    ({"kind": "certificate", "certificates": [], "truncated": True}, "Certificate (cut)"),
    ({"kind": "alert", "level": "fatal", "description": "unknown_ca"}, "alert unknown_ca"),
    ({"kind": "alert", "level": "warning", "description": "close_notify"}, "alert warning close_notify"),
    ({"kind": "alert", "level": None, "description": "encrypted"}, "alert encrypted"),
    ({"kind": "http_request", "method": "CONNECT", "target": "h.example:443"}, "CONNECT h.example:443"),
    ({"kind": "http_request", "method": "GET", "target": "/path"}, "GET /path"),
    ({"kind": "http_response", "status": 407, "reason": "Proxy Authentication Required",
      "proxy_authenticate": "Negotiate"}, "407 Proxy Authentication Required (Negotiate)"),
    ({"kind": "http_response", "status": 403, "reason": "Forbidden"}, "403 Forbidden"),
    ({"kind": "dns", "type": "A", "name": "h.example", "answers": ["10.0.0.1"]}, "DNS A h.example → 10.0.0.1"),
    ({"kind": "brand_new"}, "brand_new"),
])
def test_event_labels(event, label):
    assert event_label(dict(event, frame=1, **{"from": "orig"})) == label


def test_hostile_event_text_is_clipped_on_the_arrow():
    label = event_label({"kind": "http_request", "method": "GET", "target": "/" + "a" * 500, "frame": 1})
    assert len(label) < 80 and label.endswith("…")
    assert events_by_frame([{"kind": "alert", "description": "x", "frame": 3}, {"kind": "alert", "frame": None}]) \
        == {3: ["alert x"]}


# --- the lab captures through the CLI ---------------------------------------------------------------------

@pytest.mark.parametrize("name", LAB)
def test_locate_reset_text_shows_each_resets_name_and_causes(name):
    path = CAPTURES / f"{name}.pcapng"
    resets = _json("locate-reset", path)["resets"]
    text = _run("locate-reset", path)
    blocks = text.split("\nRST #")
    assert len(blocks) == max(len(resets), 1)
    for block, reset in zip(blocks, resets):
        if reset["server_name"]:
            assert f"for {reset['server_name']}" in block.splitlines()[0]
            assert f"service {reset['server_name']}" in block
        for cause in reset["causes"]:
            assert f"cause {cause_line(cause)}" in block
        if reset["idle_before_s"] is not None:
            assert f"idle: {reset['idle_before_s']:.1f} s of silence" in block


def test_the_sni_filtered_reset_names_the_service_the_hop_and_the_frames():
    [sni] = [c["tls"]["sni"] for c in truth_connections("sni-filtered").values() if c["outcome"] == "reset_by_middlebox"]
    text = _run("locate-reset", CAPTURES / "sni-filtered.pcapng")
    assert f"for {sni}" in text
    assert f"cause sni_filtered: the device at hop 4 resets connections to {sni} right after the ClientHello" in text


def test_the_idle_reset_says_how_long_it_was_silent():
    text = _run("locate-reset", CAPTURES / "idle-timeout.pcapng")
    assert "idle: 21.8 s of silence" in text and "cause idle_timeout: " in text
    rows = list(csv.DictReader(io.StringIO(_run("locate-reset", CAPTURES / "idle-timeout.pcapng", "--format", "csv"))))
    assert [(r["cause_codes"], float(r["idle_before_s"])) for r in rows] == [("idle_timeout", 21.804976)]


def test_conversations_text_and_csv_show_the_server_name_and_cause_codes():
    path = CAPTURES / "proxy-connect.pcapng"
    truth = truth_connections("proxy-connect")
    text = _run("conversations", path)
    rows = {int(r["orig_p"]): r for r in csv.DictReader(io.StringIO(_run("conversations", path, "--format", "csv")))}
    records = {r["orig_p"]: r for r in _json("conversations", path)["conversations"]}
    expected = {407: "proxy_auth_required", 403: "proxy_denied", 200: ""}
    for port, connection in truth.items():
        target, status = connection["proxy"]["target"], connection["proxy"]["status"]
        line = next(line for line in text.splitlines() if f":{port} " in line)
        assert f"({target.rsplit(':', 1)[0]})" in line
        assert line.rstrip().endswith(expected[status]) if expected[status] else "proxy_" not in line
        assert rows[port]["server_name"] == records[port]["server_name"] == target.rsplit(":", 1)[0]
        assert rows[port]["causes"] == expected[status]
        assert f"CONNECT {target}" in rows[port]["app_events"] and f"{status} " in rows[port]["app_events"]


@pytest.mark.parametrize("name", LAB)
def test_summary_counts_conversations_by_cause_code(name):
    path = CAPTURES / f"{name}.pcapng"
    conversations = _json("conversations", path)["conversations"]
    expected: dict[str, int] = {}
    for c in conversations:
        for code in dict.fromkeys(x["code"] for x in c["causes"]):
            expected[code] = expected.get(code, 0) + 1
    summary = _json("summary", path)
    assert summary["by_cause"] == dict(sorted(expected.items())) and summary["schema_version"] == 1
    assert expected, "every lab capture of issue 14 has a cause"
    text = _run("summary", path)
    assert "By cause:       " + ", ".join(f"{k} {v}" for k, v in sorted(expected.items())) in text
    rows = [r for r in csv.DictReader(io.StringIO(_run("summary", path, "--format", "csv"))) if r["kind"] == "cause"]
    assert {r["name"]: int(r["count"]) for r in rows} == expected


def test_a_clean_capture_has_no_causes_line():
    path = CAPTURES / "clean.pcap"
    assert _json("summary", path)["by_cause"] == {}
    assert "By cause" not in _run("summary", path)


def test_hosts_show_the_names_the_capture_gives_each_address():
    path = CAPTURES / "dns-lookup.pcapng"
    conversations = _json("conversations", path)["conversations"]
    expected: dict[str, list[str]] = {}
    for c in conversations:
        for address, names in ((c["orig_h"], c["names"]["orig"]), (c["resp_h"], c["names"]["resp"])):
            expected.setdefault(address, [])
            expected[address] += [n for n in names if n not in expected[address]]
    hosts = _json("hosts", path)["hosts"]
    assert {h["address"]: h["names"] for h in hosts} == {a: n for a, n in expected.items() if a in
                                                         {h["address"] for h in hosts}}
    named = [h for h in hosts if h["names"]]
    assert named and all(len(h["names"]) > 2 for h in named)  # the DNS capture's server has a CNAME chain
    text = _run("hosts", path)
    for h in named:
        assert f"{h['address']} ({h['names'][0]}, {h['names'][1]}, +{len(h['names']) - 2} more)" in text
    assert "10.66.0.1 " in text and "10.66.0.1 (" not in text  # no name, none shown
