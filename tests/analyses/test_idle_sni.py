"""idle_timeout completed (netreset.analyses.idle, .idle_defaults, .keepalive) and sni_filtered for a dropped
ClientHello with the names that pass (netreset.analyses.sni, .names_passing): every premise on crafted packets,
its negatives, and the shipped/overridden idle-timeout table."""

from __future__ import annotations

import numpy as np
import pytest
from scapy.all import IP, TCP, Ether, Raw

from netreset.analyses.idle import IDLE_THRESHOLD_S, SILENT_MIN_RETRANSMISSIONS
from netreset.analyses.idle_defaults import (default_idle_timeouts, load_idle_timeouts, matching_defaults,
                                             tolerance)
from netreset.analyses.keepalive import keepalive_timing, keepalives
from netreset.errors import UsageError

from tests.analyses.test_application import C, S, analyse, client_hello, server_hello

CP, SP = 40000, 80


class Flow:
    """Packets of one connection C:cport ↔ S:sport with sequence numbers tracked per side."""

    def __init__(self, cport: int = CP, sport: int = SP, server=S, server_ttl: int = 122):
        self.cport, self.sport, self.server, self.server_ttl = cport, sport, server, server_ttl
        self.seq = {"c": 1000, "s": 5000}
        self.packets = []

    def send(self, side: str, flags: str, t: float, data: bytes = b"", seq: int | None = None, ttl=None,
             advance: bool = True):
        src, dst = (C, self.server) if side == "c" else (self.server, C)
        sport, dport = (self.cport, self.sport) if side == "c" else (self.sport, self.cport)
        other = "s" if side == "c" else "c"
        s = self.seq[side] if seq is None else seq
        ttl = ttl if ttl is not None else (64 if side == "c" else self.server_ttl)
        p = Ether() / IP(src=src, dst=dst, ttl=ttl) / TCP(sport=sport, dport=dport, flags=flags, seq=s,
                                                          ack=self.seq[other] if "A" in flags else 0, window=501)
        if data:
            p = p / Raw(data)
        p.time = t
        self.packets.append(p)
        if advance and seq is None:
            self.seq[side] = s + len(data) + (1 if ("S" in flags or "F" in flags) else 0)
        return p

    def handshake(self, t: float = 1.0):
        self.send("c", "S", t, seq=999, advance=False)
        self.seq["c"] = 1000
        self.send("s", "SA", t + 0.01, seq=4999, advance=False)
        self.send("c", "A", t + 0.02)
        return self

    def exchange(self, t: float, n: int = 10):
        self.send("c", "PA", t, b"q" * n)
        self.send("s", "PA", t + 0.01, b"a" * n)
        self.send("c", "A", t + 0.02)
        return self


def _analyse(tmp_path, packets, **options):
    analysis, _ = analyse(tmp_path, sorted(packets, key=lambda p: p.time), **options)
    return analysis


def _conv_causes(analysis, port=CP):
    (conv,) = [c for c in analysis.conversations if c.orig_p == port]
    return analysis.causes[conv.id][1]


def _codes(causes):
    return [c["code"] for c in causes]


# ------------------------------------------------------------------------------------------- keepalives


def test_keepalive_probes_and_their_acks_follow_wiresharks_rule(tmp_path):
    f = Flow().handshake().exchange(1.1)
    f.send("c", "A", 6.0, seq=f.seq["c"] - 1)  # 0-byte probe, one byte before the next sequence number
    f.send("s", "A", 6.01)  # its ACK: same window, seq = nextseq, ack = lastack
    f.send("c", "A", 11.0, b"\x00", seq=f.seq["c"] - 1)  # 1-byte probe (Windows style)
    f.send("s", "A", 11.01)
    f.send("c", "PA", 12.0, b"q" * 10)
    f.send("c", "PA", 12.3, b"q" * 10, seq=f.seq["c"] - 10)  # a data retransmission: not a probe
    f.send("s", "A", 12.31)
    analysis = _analyse(tmp_path, f.packets)
    (conv,) = analysis.conversations
    found = keepalives(analysis.table, conv)
    frames = analysis.table.frame[conv.rows]
    assert [int(frames[i]) for i in found.probes] == [7, 9]
    assert [int(frames[i]) for i in found.acks] == [8, 10]
    first_after, interval = keepalive_timing(analysis.table, conv, found)
    assert first_after == pytest.approx(6.0 - 1.12, abs=1e-6) and interval == pytest.approx(5.0, abs=1e-6)


def test_segments_at_the_next_sequence_number_are_not_probes(tmp_path):
    f = Flow().handshake().exchange(1.1)
    f.send("c", "A", 20.0)  # a bare ACK at nextseq: no probe
    f.send("c", "FA", 20.5)  # FIN segments are never probes
    analysis = _analyse(tmp_path, f.packets)
    (conv,) = analysis.conversations
    assert keepalives(analysis.table, conv).probes == ()


# ------------------------------------------------------------------------------- idle timeout: the reset shape


def _idle_reset(silence: float, *, before=(), probe: bool = False, probes=()):
    """Handshake, exchange, optional earlier pauses (``before``: silences each answered) and keepalive probes at
    the given offsets into the silence, then the next packet after ``silence`` s (data, or a probe) answered by a
    forged RST (TTL 61)."""
    f = Flow().handshake().exchange(1.1)
    t = 1.12
    for pause in before:
        t += pause
        f.exchange(t)
        t += 0.02
    last = t
    for offset in probes:
        f.send("c", "A", last + offset, seq=f.seq["c"] - 1)
        f.send("s", "A", last + offset + 0.001)
        t = last + offset + 0.001
    if probe:
        f.send("c", "A", t + silence, seq=f.seq["c"] - 1)
    else:
        f.send("c", "PA", t + silence, b"z" * 10)
    f.send("s", "R", t + silence + 0.0001, ttl=61, advance=False)
    return f.packets


def test_a_silence_just_above_azures_default_matches_it(tmp_path):
    analysis = _analyse(tmp_path, _idle_reset(245.0))
    (reset,) = analysis.resets
    (idle,) = reset.causes
    assert idle["code"] == "idle_timeout" and idle["evidence"]["silent"] is False
    matched = {m["id"] for m in idle["evidence"]["matched_defaults"]}
    assert matched == {"azure-lb", "azure-nat-gateway", "azure-firewall"}
    assert "Azure Firewall" in idle["sentence"] and "245.0 s" in idle["sentence"]
    assert "no keepalives were seen" in idle["sentence"] and "below 240 s" in idle["sentence"]
    assert idle["evidence"]["keepalive_below_s"] == 240 and idle["evidence"]["keepalives"]["seen"] is False
    assert idle["frames"] == [7, 8]  # the packet after the silence and the RST


@pytest.mark.parametrize("silence, expected", [
    (21.8, set()),  # no vendor default near 20 s
    (300.0, set()),  # above Azure's 240 s + 24 s, below AWS's 350 s: consistent with shorter ones, matches none
    (352.0, {"aws-nat-gateway", "aws-nlb", "aws-gwlb", "aws-network-firewall"}),
    (1210.0, {"gcp-cloud-nat"}),
    (3605.0, {"pan-os", "fortigate", "cisco-asa", "check-point"}),
])
def test_matching_is_just_above_a_default(silence, expected):
    assert {e.id for e in matching_defaults(silence)} == expected


def test_a_silence_survived_before_rules_out_shorter_timeouts():
    assert {e.id for e in matching_defaults(3605.0, survived_s=250.0)} == {"pan-os", "fortigate", "cisco-asa",
                                                                        "check-point"}
    assert matching_defaults(245.0, survived_s=244.0) == []
    assert tolerance(20) == 5.0 and tolerance(3600) == 360.0


def test_an_earlier_answered_pause_bounds_the_timeout(tmp_path):
    analysis = _analyse(tmp_path, _idle_reset(25.0, before=(15.0,)))
    (reset,) = analysis.resets
    (idle,) = reset.causes
    assert idle["evidence"]["survived_silence_s"] == pytest.approx(15.0, abs=1e-3)
    assert "survived 15.0 s" in idle["sentence"] and "between 15.0 s and 25.0 s" in idle["sentence"]


def test_a_pause_followed_by_a_normal_answer_is_no_idle_timeout(tmp_path):
    f = Flow().handshake().exchange(1.1)
    f.exchange(16.2)  # 15 s of silence, then the request is answered
    f.send("c", "FA", 17.0)
    f.send("s", "FA", 17.01)
    f.send("c", "A", 17.02)
    analysis = _analyse(tmp_path, f.packets)
    assert _conv_causes(analysis) == [] and analysis.resets == []


def test_keepalives_below_the_timeout_keep_the_silence_short(tmp_path):
    """Probes every 5 s through 25 s of application silence: the packet after it follows 5 s of quiet only."""
    analysis = _analyse(tmp_path, _idle_reset(5.0, probes=(5.0, 10.0, 15.0, 20.0)))
    (reset,) = analysis.resets
    assert reset.idle_before_s is None and reset.causes == []


def test_a_probe_after_the_silence_answered_by_a_reset_says_keepalives_are_too_sparse(tmp_path):
    analysis = _analyse(tmp_path, _idle_reset(30.0, probes=(30.0,), probe=True))
    (reset,) = analysis.resets
    (idle,) = reset.causes
    keep = idle["evidence"]["keepalives"]
    assert keep["seen"] and keep["trigger_is_probe"] and keep["probes"] == 2 and keep["interval_s"] == pytest.approx(30, abs=0.01)
    assert "keepalives were seen every 30.0 s" in idle["sentence"] and "too sparse" in idle["sentence"]


# ------------------------------------------------------------------------------ idle timeout: the silent shape


def _silent(silence: float, retransmissions: int, *, rst: bool = False, answered: bool = False, probe: bool = False):
    f = Flow().handshake().exchange(1.1)
    t = 1.12 + silence
    gap = 0.2
    if probe:
        for k in range(retransmissions + 1):
            f.send("c", "A", t, seq=f.seq["c"] - 1)
            t += 1.0
    else:
        data = f.send("c", "PA", t, b"z" * 10, advance=False)
        for k in range(retransmissions):
            t += gap
            gap *= 2
            f.send("c", "PA", t, b"z" * 10, advance=False)
        f.seq["c"] += 10
        assert data is not None
    if answered:
        f.send("s", "A", t + 0.01)
    if rst:
        f.send("c", "RA", t + 0.5)
    return f.packets


def test_retransmissions_into_nothing_after_a_silence_are_a_silent_idle_timeout(tmp_path):
    analysis = _analyse(tmp_path, _silent(30.0, 3))
    (idle,) = _conv_causes(analysis)
    assert idle["code"] == "idle_timeout"
    ev = idle["evidence"]
    assert ev["silent"] is True and ev["retransmissions"] == 3 and ev["gave_up_with_rst"] is False
    assert ev["idle_s"] == pytest.approx(30.0, abs=1e-3)
    assert ev["retransmission_gaps_s"] == pytest.approx([0.2, 0.4, 0.8], abs=1e-4)
    assert idle["frames"] == [7, 8, 9, 10]
    assert "retransmitted 3 times with no answer, until the capture ends" in idle["sentence"]
    assert "silently" in idle["sentence"] and "no keepalives were seen" in idle["sentence"]


def test_a_silent_death_ended_by_the_clients_rst_is_that_rsts_cause(tmp_path):
    analysis = _analyse(tmp_path, _silent(245.0, 2, rst=True))
    (reset,) = analysis.resets
    assert reset.verdict == "peer"
    assert reset.idle_before_s == pytest.approx(245.0, abs=1e-3)
    (idle,) = reset.causes
    assert idle["evidence"]["silent"] and idle["evidence"]["gave_up_with_rst"]
    assert {m["id"] for m in idle["evidence"]["matched_defaults"]} >= {"azure-lb"}
    assert idle["frames"][-1] == reset.frame and "gave up with a RST" in idle["sentence"]
    (conv,) = analysis.conversations
    idle_s, causes = analysis.causes[conv.id]
    assert idle_s == reset.idle_before_s and _codes(causes) == ["idle_timeout"]  # once, not twice


@pytest.mark.parametrize("kwargs", [
    {"silence": 30.0, "retransmissions": SILENT_MIN_RETRANSMISSIONS - 1},  # too little to tell from a capture cut
    {"silence": 30.0, "retransmissions": 3, "answered": True},  # the other side answered after the silence
    {"silence": IDLE_THRESHOLD_S / 2, "retransmissions": 3},  # no silence to speak of
])
def test_no_silent_death_without_its_premise(tmp_path, kwargs):
    analysis = _analyse(tmp_path, _silent(**kwargs))
    assert "idle_timeout" not in _codes(_conv_causes(analysis))


def test_unanswered_keepalive_probes_are_repeated_not_retransmitted(tmp_path):
    analysis = _analyse(tmp_path, _silent(30.0, 2, rst=True, probe=True))
    (reset,) = analysis.resets
    (idle,) = reset.causes
    assert idle["evidence"]["silent"] and idle["evidence"]["keepalives"]["trigger_is_probe"]
    assert "keepalive probe was repeated 2 times" in idle["sentence"] and "started only after 30.0 s" in idle["sentence"]


def test_answered_keepalive_probes_after_a_silence_are_no_idle_timeout(tmp_path):
    f = Flow().handshake().exchange(1.1)
    for k in range(3):
        f.send("c", "A", 31.0 + k, seq=f.seq["c"] - 1)
        f.send("s", "A", 31.001 + k)
    analysis = _analyse(tmp_path, f.packets)
    assert _conv_causes(analysis) == []


# ------------------------------------------------------------------------------------- the idle-timeout table


def test_the_shipped_table_cites_every_entry():
    table = default_idle_timeouts()
    assert len({e.id for e in table}) == len(table) >= 12
    assert all(e.source and e.timeout_s > 0 for e in table)
    by_id = {e.id: e.timeout_s for e in table}
    assert by_id["azure-lb"] == 240 and by_id["aws-nat-gateway"] == 350 and by_id["gcp-cloud-nat"] == 1200
    assert by_id["pan-os"] == by_id["fortigate"] == by_id["cisco-asa"] == by_id["check-point"] == 3600
    assert by_id["linux-conntrack"] == 432000


def test_an_override_adds_replaces_and_removes_entries(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('remove = ["check-point"]\n'
                    '[[default]]\nid = "lab"\ndevice = "our firewall"\ntimeout_s = 20\non_expiry = "reset"\n'
                    '[[default]]\nid = "pan-os"\ndevice = "PAN-OS (ours)"\ntimeout_s = 1800\n')
    table = load_idle_timeouts(path)
    by_id = {e.id: e for e in table}
    assert "check-point" not in by_id and by_id["lab"].timeout_s == 20 and by_id["pan-os"].timeout_s == 1800
    assert [e.id for e in matching_defaults(21.8, table)] == ["lab"]


@pytest.mark.parametrize("text", ['[[default]]\nid = "x"\n', '[[default]]\nid = "x"\ntimeout_s = -1\n',
                                  '[[default]]\nid = "x"\ntimeout_s = 5\non_expiry = "maybe"\n', "remove = 3\n",
                                  "not toml ["])
def test_a_malformed_override_is_a_one_line_error(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as error:
        load_idle_timeouts(path)
    assert "\n" not in str(error.value) and "bad.toml" in str(error.value)


def test_the_override_reaches_the_causes(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[[default]]\nid = "lab"\ndevice = "our firewall"\nsetting = "state timeout"\ntimeout_s = 20\n')
    analysis = _analyse(tmp_path, _idle_reset(21.8), idle_timeouts=path)
    (idle,) = analysis.resets[0].causes
    assert [m["id"] for m in idle["evidence"]["matched_defaults"]] == ["lab"]
    assert "our firewall state timeout (20.0 s)" in idle["sentence"]


# --------------------------------------------------------------------------------- sni_filtered: a dropped hello


def _tls_flow(cport: int, sni: str, *, t: float, dropped: bool, retransmissions: int = 3, end: str | None = "R",
              acked: bool = False, handshake: bool = True):
    f = Flow(cport=cport, sport=443)
    if handshake:
        f.handshake(t)
    else:
        f.seq["c"], f.seq["s"] = 1000, 5000
    hello = client_hello(sni)
    at = t + 0.03
    f.send("c", "PA", at, hello, advance=False)
    if dropped:
        gap = 0.2
        for _ in range(retransmissions):
            at += gap
            gap *= 2
            f.send("c", "PA", at, hello, advance=False)
        f.seq["c"] += len(hello)
        if acked:
            f.send("s", "A", at + 0.001)
        if end:
            f.send("c", end + "A", at + 1.0)
    else:
        f.seq["c"] += len(hello)
        f.send("s", "PA", at + 0.001, server_hello(0x0304))
        f.send("c", "FA", at + 0.01)
        f.send("s", "FA", at + 0.011)
        f.send("c", "A", at + 0.012)
    return f.packets


def test_a_dropped_client_hello_is_sni_filtered_and_the_names_that_pass_are_said(tmp_path):
    packets = (_tls_flow(40001, "ok.example.net", t=1.0, dropped=False)
               + _tls_flow(40002, "blocked.example.com", t=2.0, dropped=True)
               + _tls_flow(40003, "other.example.org", t=10.0, dropped=False))
    analysis = _analyse(tmp_path, packets)
    assert analysis.passing_names == {S: ["ok.example.net", "other.example.org"]}
    (cause,) = _conv_causes(analysis, 40002)
    assert cause["code"] == "sni_filtered"
    ev = cause["evidence"]
    assert ev["dropped"] and ev["sni"] == "blocked.example.com" and ev["retransmissions"] == 3
    assert ev["gave_up_with"] == "rst" and ev["other_names_pass"] == ["ok.example.net", "other.example.org"]
    assert ev["same_name_passed"] is False
    assert "drops connections to blocked.example.com" in cause["sentence"]
    assert "ok.example.net, other.example.org to the same address pass" in cause["sentence"]
    (reset,) = [r for r in analysis.resets if r.frame in cause["frames"]]
    assert [c["code"] for c in reset.causes] == ["sni_filtered"]
    assert _conv_causes(analysis, 40001) == [] and _conv_causes(analysis, 40003) == []


@pytest.mark.parametrize("kwargs", [
    {"acked": True},  # the server's kernel acknowledged the hello: it got there
    {"handshake": False},  # no completed handshake: no proof the server was reachable at all
    {"retransmissions": 1, "end": None},  # one retransmission, then the capture ends: too little
])
def test_no_dropped_hello_without_its_premise(tmp_path, kwargs):
    analysis = _analyse(tmp_path, _tls_flow(40002, "blocked.example.com", t=2.0, dropped=True, **kwargs))
    assert "sni_filtered" not in _codes(_conv_causes(analysis, 40002))


def test_a_forged_reset_after_the_hello_says_the_names_that_pass(tmp_path):
    from tests.analyses.test_causes import _filtered

    packets = _filtered(0.0001) + _tls_flow(40003, "fine.example.org", t=200.0, dropped=False)
    analysis = _analyse(tmp_path, packets)
    (reset,) = [r for r in analysis.resets if r.verdict == "middlebox"]
    (cause,) = reset.causes
    assert cause["evidence"]["other_names_pass"] == ["fine.example.org"]
    assert cause["sentence"].endswith("fine.example.org to the same address passes")


def test_a_name_that_passed_is_not_another_name(tmp_path):
    from tests.analyses.test_causes import _filtered

    packets = _filtered(0.0001, hello_sni="same.example.com") + _tls_flow(40003, "same.example.com", t=200.0,
                                                                          dropped=False)
    analysis = _analyse(tmp_path, packets)
    (reset,) = [r for r in analysis.resets if r.verdict == "middlebox"]
    assert reset.causes[0]["evidence"]["other_names_pass"] == []
    assert reset.causes[0]["evidence"]["same_name_passed"] is True
    assert "same.example.com itself passed to the same address" in reset.causes[0]["sentence"]


# ------------------------------------------------------------------------------------------ the lab captures

from pathlib import Path  # noqa: E402

from netreset.pipeline.whole import Analysis, Options  # noqa: E402

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def _lab(name, **options):
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"{name} missing")
    analysis = Analysis.of_files([path], Options(**options))
    return analysis, {c.orig_p: c for c in analysis.conversations}


def test_lab_idle_timeout_reset_keepalives_and_a_configured_timeout(tmp_path):
    analysis, conv = _lab("idle-timeout.pcapng")
    (idle,) = analysis.causes[conv[40151].id][1]
    assert idle["frames"] == [23, 24] and idle["evidence"]["idle_s"] == pytest.approx(21.8, abs=0.05)
    assert idle["evidence"]["matched_defaults"] == [] and idle["evidence"]["keepalives"]["seen"] is False
    assert "hop 4" in idle["sentence"] and "no known default idle timeout matches" in idle["sentence"]
    assert analysis.causes[conv[40152].id][1] == []
    found = keepalives(analysis.table, conv[40152])  # truth: keepalives every 5 s through the same silence
    assert len(found.probes) == len(found.acks) == 4
    first_after, interval = keepalive_timing(analysis.table, conv[40152], found)
    assert first_after == pytest.approx(5.0, abs=0.3) and interval == pytest.approx(5.0, abs=0.3)
    mine = tmp_path / "lab.toml"
    mine.write_text('[[default]]\nid = "lab-fw"\ndevice = "lab fw conntrack"\nsetting = "established timeout"\n'
                    'timeout_s = 20\non_expiry = "reset"\nsource = "captures/lab/scenarios.py"\n')
    analysis, conv = _lab("idle-timeout.pcapng", idle_timeouts=mine)
    (idle,) = analysis.causes[conv[40151].id][1]
    assert [m["id"] for m in idle["evidence"]["matched_defaults"]] == ["lab-fw"]
    assert "below 20.0 s" in idle["sentence"]


def test_lab_idle_silent_retransmissions_and_late_keepalives():
    analysis, conv = _lab("idle-silent.pcapng")
    (plain,) = analysis.causes[conv[40181].id][1]
    (late,) = analysis.causes[conv[40182].id][1]
    assert plain["code"] == late["code"] == "idle_timeout"
    assert plain["evidence"]["silent"] and plain["evidence"]["retransmissions"] == 4
    assert plain["evidence"]["idle_s"] == pytest.approx(21.8, abs=0.05) and plain["evidence"]["gave_up_with_rst"]
    assert not plain["evidence"]["keepalives"]["seen"]
    assert late["evidence"]["silent"] and late["evidence"]["keepalives"]["trigger_is_probe"]
    assert late["evidence"]["idle_s"] == pytest.approx(22.3, abs=0.1)
    assert "started only after 22.3 s" in late["sentence"]
    assert analysis.causes[conv[40181].id][0] == pytest.approx(21.8, abs=0.05)  # idle_before_reset_s
    for reset in analysis.resets:
        assert reset.verdict == "peer" and [c["code"] for c in reset.causes] == ["idle_timeout"]


def test_lab_sni_dropped_and_filtered_say_the_name_that_passes():
    analysis, conv = _lab("sni-dropped.pcapng")
    (dropped,) = analysis.causes[conv[40171].id][1]
    assert dropped["code"] == "sni_filtered" and dropped["evidence"]["dropped"]
    assert dropped["evidence"]["sni"] == "eu.frontend.clouddatahub.net" and dropped["evidence"]["retransmissions"] == 4
    assert dropped["evidence"]["other_names_pass"] == ["x.servicebus.windows.net"]
    assert analysis.causes[conv[40172].id][1] == []
    first, second = sorted(analysis.resets, key=lambda r: r.frame)
    assert [c["code"] for c in first.causes] == ["sni_filtered"] and second.causes == []
    analysis, conv = _lab("sni-filtered.pcapng")
    (filtered,) = analysis.causes[conv[40121].id][1]
    assert filtered["evidence"]["other_names_pass"] == ["x.servicebus.windows.net"]
    assert filtered["sentence"].endswith("x.servicebus.windows.net to the same address passes")


def test_a_half_closed_connection_going_silent_is_not_an_idle_timeout(tmp_path):
    """The client closed its side (FIN, acknowledged); the server's late FIN goes unanswered: other timers."""
    f = Flow().handshake().exchange(1.1)
    f.send("c", "FA", 2.0)
    f.send("s", "A", 2.01)
    for k in range(4):
        f.send("s", "FA", 240.0 + 0.3 * 2 ** k, advance=False)
    analysis = _analyse(tmp_path, f.packets)
    assert "idle_timeout" not in _codes(_conv_causes(analysis))


def test_a_peers_own_idle_reset_advises_application_keepalives(tmp_path):
    packets = _idle_reset(30.0)
    packets[-1][IP].ttl = 122  # the RST with the server's own TTL, a round trip after the packet: the peer itself
    packets[-1].time += 0.01
    analysis = _analyse(tmp_path, packets)
    (reset,) = analysis.resets
    assert reset.verdict == "peer"
    (idle,) = reset.causes
    assert "itself" in idle["sentence"] and "application-level keepalives" in idle["sentence"]


def test_the_cli_reads_idle_timeouts_and_refuses_a_bad_file_in_one_line(tmp_path):
    from click.testing import CliRunner

    from netreset.cli.main import main

    capture = CAPTURES / "idle-timeout.pcapng"
    if not capture.exists():
        pytest.skip("idle-timeout.pcapng missing")
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text('[[default]]\nid = "lab"\ndevice = "lab fw"\ntimeout_s = 20\n')
    bad.write_text('[[default]]\nid = "lab"\ntimeout_s = "soon"\n')
    done = CliRunner().invoke(main, ["locate-reset", str(capture), "--idle-timeouts", str(good), "--format", "json",
                                     "-q"])
    assert done.exit_code == 0 and '"id": "lab"' in done.output
    done = CliRunner().invoke(main, ["locate-reset", str(capture), "--idle-timeouts", str(bad), "-q"])
    assert done.exit_code == 2 and "Traceback" not in done.output
    assert [line for line in done.output.splitlines() if line] == [
        f"Error: {bad}: malformed idle-timeout table (could not convert string to float: 'soon')"]


def test_groups_with_silence_are_the_groups_with_a_long_gap_between_neighbours():
    from netreset.analyses.idle import IDLE_THRESHOLD_S, groups_with_silence

    rng = np.random.default_rng(7)
    for _ in range(300):
        sizes = rng.integers(1, 6, size=rng.integers(1, 8))
        group_start = np.r_[0, np.cumsum(sizes)]
        ts = rng.choice([0, 1, 9, 10, 11, -12], size=int(sizes.sum())).cumsum() * 10**9  # steps back too
        expected = [any(ts[j + 1] - ts[j] >= IDLE_THRESHOLD_S * 1e9 for j in range(a, b - 1))
                    for a, b in zip(group_start[:-1], group_start[1:])]
        assert groups_with_silence(ts, group_start).tolist() == expected
    assert groups_with_silence(np.zeros(0, np.int64), np.zeros(1, np.int64)).tolist() == []
