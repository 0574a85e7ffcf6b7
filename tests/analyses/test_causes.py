"""Causes (netreset.analyses.causes): the premise of each code on crafted packets, and the lab captures'
exact causes (captures/README.md rows 13, 14, 12, 16)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.all import IP, TCP, Ether, Raw

from netreset.analyses.causes import IDLE_THRESHOLD_S, SNI_WINDOW_S
from netreset.pipeline.whole import Analysis, Options

from tests.analyses.test_application import C, S, analyse, client_hello

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def _filtered(rst_delay: float, rst_ttl: int = 61, server_ttl: int = 122, hello_sni="blocked.example.com"):
    """SYN, SYN-ACK (server TTL), ACK, ClientHello, then a RST claiming to be the server after ``rst_delay``."""
    hello = client_hello(hello_sni)
    pk = [Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=40000, dport=443, flags="S", seq=999),
          Ether() / IP(src=S, dst=C, ttl=server_ttl) / TCP(sport=443, dport=40000, flags="SA", seq=4999, ack=1000),
          Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=40000, dport=443, flags="A", seq=1000, ack=5000),
          Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=40000, dport=443, flags="PA", seq=1000, ack=5000) / Raw(hello),
          Ether() / IP(src=S, dst=C, ttl=rst_ttl) / TCP(sport=443, dport=40000, flags="R", seq=5000)]
    times = [100.0, 100.01, 100.02, 100.03, 100.03 + rst_delay]
    for p, t in zip(pk, times):
        p.time = t
    return pk


def _codes(analysis):
    return {c.orig_p: [x["code"] for x in analysis.causes[c.id][1]] for c in analysis.conversations}


def test_middlebox_rst_right_after_the_client_hello_is_sni_filtered(tmp_path):
    analysis, _ = analyse(tmp_path, _filtered(0.0001))
    (reset,) = analysis.resets
    assert reset.verdict == "middlebox"
    assert [c["code"] for c in reset.causes] == ["sni_filtered"]
    assert "blocked.example.com" in reset.causes[0]["sentence"] and "hop" in reset.causes[0]["sentence"]
    assert reset.causes[0]["frames"] == [4, 5]
    assert _codes(analysis) == {40000: ["sni_filtered"]}


def test_a_rst_long_after_the_client_hello_is_not_sni_filtered(tmp_path):
    analysis, _ = analyse(tmp_path, _filtered(SNI_WINDOW_S + 2.0))
    (reset,) = analysis.resets
    assert reset.verdict == "middlebox"
    assert "sni_filtered" not in [c["code"] for c in reset.causes]


def test_a_peer_rst_after_the_client_hello_is_not_sni_filtered(tmp_path):
    analysis, _ = analyse(tmp_path, _filtered(0.0001, rst_ttl=122))
    (reset,) = analysis.resets
    assert reset.verdict != "middlebox"
    assert reset.causes == []


def _idle(silence: float):
    """Handshake, request/answer, ``silence`` s, a second request answered by a forged RST."""
    pk = [Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=40001, dport=80, flags="S", seq=999),
          Ether() / IP(src=S, dst=C, ttl=122) / TCP(sport=80, dport=40001, flags="SA", seq=4999, ack=1000),
          Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=40001, dport=80, flags="A", seq=1000, ack=5000),
          Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=40001, dport=80, flags="PA", seq=1000, ack=5000) / Raw(b"x" * 10),
          Ether() / IP(src=S, dst=C, ttl=122) / TCP(sport=80, dport=40001, flags="PA", seq=5000, ack=1010) / Raw(b"y" * 10),
          Ether() / IP(src=C, dst=S, ttl=64) / TCP(sport=40001, dport=80, flags="PA", seq=1010, ack=5010) / Raw(b"z" * 10),
          Ether() / IP(src=S, dst=C, ttl=61) / TCP(sport=80, dport=40001, flags="R", seq=5010)]
    times = [1.0, 1.01, 1.02, 1.03, 1.04, 1.04 + silence, 1.0401 + silence]
    for p, t in zip(pk, times):
        p.time = t
    return pk


def test_a_rst_on_the_first_packet_after_a_long_silence_is_an_idle_timeout(tmp_path):
    analysis, _ = analyse(tmp_path, _idle(IDLE_THRESHOLD_S + 20))
    (reset,) = analysis.resets
    assert reset.idle_before_s == pytest.approx(IDLE_THRESHOLD_S + 20, abs=1e-3)
    assert [c["code"] for c in reset.causes] == ["idle_timeout"]
    (conv,) = analysis.conversations
    assert analysis.causes[conv.id][0] == reset.idle_before_s


def test_a_short_silence_is_not_an_idle_timeout(tmp_path):
    analysis, _ = analyse(tmp_path, _idle(IDLE_THRESHOLD_S / 2))
    (reset,) = analysis.resets
    assert reset.idle_before_s is None and reset.causes == []


def _lab(name):
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"{name} missing")
    return Analysis.of_files([path], Options())


@pytest.mark.parametrize("name, expected", [
    ("sni-filtered.pcapng", {40121: ["sni_filtered"], 40122: []}),
    ("proxy-connect.pcapng", {40131: ["proxy_auth_required"], 40132: ["proxy_denied"], 40133: []}),
    ("tls-versions.pcapng", {40111: [], 40112: [], 40113: ["tls_alert"]}),
    ("idle-timeout.pcapng", {40151: ["idle_timeout"], 40152: []}),
    ("port-closed.pcap", {40003: ["refused"]}),
    ("syn-blackhole.pcap", {40002: ["syn_unanswered"]}),
])
def test_lab_captures_give_exactly_their_causes(name, expected):
    assert _codes(_lab(name)) == expected


def test_lab_sentences_name_what_the_network_team_needs():
    sni = _lab("sni-filtered.pcapng")
    (reset,) = sni.resets
    sentence = reset.causes[0]["sentence"]
    assert "hop 4" in sentence and "wu2.frontend.clouddatahub.net" in sentence
    proxy = _lab("proxy-connect.pcapng")
    words = {c.orig_p: [x["sentence"] for x in proxy.causes[c.id][1]] for c in proxy.conversations}
    assert "Negotiate" in words[40131][0] and "Integration Runtime service account" in words[40131][0]
    assert "x.servicebus.windows.net:443" in words[40131][0]
    assert "403" in words[40132][0] and "wu2.frontend.clouddatahub.net:443" in words[40132][0]
    tls = _lab("tls-versions.pcapng")
    (alert,) = [x for c in tls.conversations for x in tls.causes[c.id][1]]
    assert "server" in alert["sentence"] and "protocol_version" in alert["sentence"]
    idle = _lab("idle-timeout.pcapng")
    (reset,) = idle.resets
    assert reset.idle_before_s == pytest.approx(21.8, abs=0.05)
