"""Handshake and teardown analysis: one crafted conversation per rule, then real captures.

Crafted packets are packet-table rows (plain dicts); conversations are built by hand (every TCP row of
one 4-tuple, orig = the first SYN's sender) so these tests do not depend on the conversation builder.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import FrozenInstanceError, dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netreset.flows.model import Conversation
from netreset.analyses.handshakes.analyze import analyze_handshakes, handshake_timing
from netreset.analyses.handshakes.closing import closing_findings
from netreset.analyses.handshakes.model import Context, view
from netreset.analyses.handshakes.opening import opening_findings
from netreset.analyses.handshakes.schedules import match_schedule
from netreset.analyses.handshakes.screen import needs_rules
from netreset.packets.table import ACK, FIN, PROTO_ICMP, PSH, RST, SYN, PacketTableBuilder

AGENT, SERVICE, FIREWALL = "10.0.0.5", "8.8.8.8", "10.9.9.1"
SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC


class Capture:
    """A tiny capture under construction: ``tcp(...)``/``icmp(...)`` append rows in capture order."""

    def __init__(self) -> None:
        self.builder = PacketTableBuilder()
        self.ip_id = 100

    def tcp(self, t: float, src: str, dst: str, flags: int, sport: int = 40000, dport: int = 888,
            seq: int = 1000, ack: int = 0, plen: int = 0, ttl: int = 64, ip_id: int | None = None, ver: int = 4):
        self.ip_id += 1
        book = self.builder.book
        self.builder.append(dict(
            frame=len(self.builder) + 1, ts_ns=T0 + int(t * SEC), ip_version=ver, src=book.intern(src),
            dst=book.intern(dst), ttl=ttl, ip_id=self.ip_id if ip_id is None else ip_id, proto=6, sport=sport,
            dport=dport, flags=flags, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF, payload_len=plen))
        return self

    def icmp(self, t: float, sender: str, icmp_type: int, code: int, quoted_src: str = AGENT, quoted_dst: str = SERVICE,
             sport: int = 40000, dport: int = 888, ttl: int = 62):
        book = self.builder.book
        self.builder.append(dict(
            frame=len(self.builder) + 1, ts_ns=T0 + int(t * SEC), ip_version=4, src=book.intern(sender),
            dst=book.intern(quoted_src), ttl=ttl, proto=PROTO_ICMP, icmp_type=icmp_type, icmp_code=code,
            q_src=book.intern(quoted_src), q_dst=book.intern(quoted_dst), q_sport=sport, q_dport=dport))
        return self

    def analyze(self, resets=None, conversations=None):
        table = self.builder.build()
        convs = conversations or [conversation(table)]
        return table, convs, analyze_handshakes(table, convs, resets=resets)


def conversation(table, orig=(AGENT, 40000), resp=(SERVICE, 888), cid: int = 0, stream: int = 0,
                 frames: tuple[int, int] | None = None) -> Conversation:
    """Every TCP row of the 4-tuple (optionally only frames lo..hi), orig = ``orig``."""
    src = np.array([table.book.name(int(i)) for i in table.src])
    dst = np.array([table.book.name(int(i)) for i in table.dst])
    fwd = (src == orig[0]) & (table.sport == orig[1]) & (dst == resp[0]) & (table.dport == resp[1])
    rev = (src == resp[0]) & (table.sport == resp[1]) & (dst == orig[0]) & (table.dport == orig[1])
    mask = (fwd | rev) & (table.proto == 6)
    if frames is not None:
        mask &= (table.frame >= frames[0]) & (table.frame <= frames[1])
    rows = np.flatnonzero(mask)
    ts = table.ts_ns[rows]
    return Conversation(
        id=cid, tcp_stream=stream, orig_h=orig[0], orig_p=orig[1], resp_h=resp[0], resp_p=resp[1],
        ip_version=int(table.ip_version[rows[0]]), rows=rows, from_orig=fwd[rows], start_ns=int(ts[0]),
        end_ns=int(ts[-1]), conn_state="", history="", completeness=0, outcome="", partial=False,
        orig_pkts=int(fwd[rows].sum()), resp_pkts=int((~fwd[rows]).sum()), orig_bytes=0, resp_bytes=0,
        orig_ip_bytes=0, resp_ip_bytes=0, syn_count=0, syn_gaps_s=(), retransmissions=0)


def syns_at(times, ttl: int = 64, **kw) -> Capture:
    cap = Capture()
    for t in times:
        cap.tcp(t, AGENT, SERVICE, SYN, ttl=ttl, **kw)
    return cap


def handshake(cap: Capture, t: float = 0.0, rtt_resp: float = 0.05, rtt_orig: float = 0.0001) -> Capture:
    """SYN, SYN-ACK, ACK; orig ISN 1000, resp ISN 5000."""
    cap.tcp(t, AGENT, SERVICE, SYN)
    cap.tcp(t + rtt_resp, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=1001)
    cap.tcp(t + rtt_resp + rtt_orig, AGENT, SERVICE, ACK, seq=1001, ack=5001)
    return cap


@dataclass(frozen=True)
class FakeVerdict:
    """The fields of netreset.analyses.resets.record.ResetVerdict the handshake analysis reads."""

    frame: int
    verdict: str
    conversation: int
    confidence: float = 0.9


# --- SYN with no answer ------------------------------------------------------------------------------


def test_unanswered_syns_match_linux_exponential_backoff():
    _, _, found = syns_at([0, 1.003, 3.006, 7.01]).analyze()
    (f,) = found
    assert f.kind == "syn_unanswered" and f.syn_count == 4 and f.silent_side == "resp"
    assert f.syn_gaps_s == pytest.approx((1.003, 2.003, 4.004), abs=1e-6)
    assert f.schedule == "linux_exponential" and f.schedule_error_s < 0.01
    assert f.frames == (1, 2, 3, 4)
    assert f.summary.startswith("10.0.0.5 sent 4 SYNs to 8.8.8.8:888 over 7.0 s (gaps 1.0, 2.0, 4.0 s — matches Linux exponential")
    assert "no SYN-ACK and no ICMP error was seen" in f.summary
    assert f.display_filter == "tcp.stream eq 0 and tcp.flags.syn == 1"


def test_linear_then_exponential_gaps_match_linux_6_5_and_name_the_identical_macos_schedule():
    _, _, (f,) = syns_at([0, 1, 2, 3, 4, 5, 7]).analyze()
    assert f.schedule == "linux_linear"
    assert any("macOS" in label for label in f.schedule_also_fits)


def test_windows_schedule_needs_three_second_gaps():
    _, _, (f,) = syns_at([0, 3.0, 9.02], ttl=128).analyze()
    assert f.schedule == "windows" and "Windows default" in f.summary


def test_identical_gaps_are_told_apart_by_the_syn_ttl():
    assert match_schedule([1.0, 2.0], syn_ttl=128).name == "windows_rto1"
    assert match_schedule([1.0, 2.0], syn_ttl=64).name == "linux_exponential"


def test_more_syns_than_a_schedule_sends_by_default_lose_the_tie():
    # Windows (1 s RTO) gives up after 3 SYNs: five SYNs at 1/2/4/8 s are Linux even with TTL 128.
    assert match_schedule([1, 2, 4, 8], syn_ttl=128).name == "linux_exponential"


def test_gaps_outside_every_tolerance_match_no_schedule():
    assert match_schedule([0.3, 0.3]) is None
    _, _, (f,) = syns_at([0, 0.3, 0.6]).analyze()
    assert f.schedule == "" and "matches no known OS retransmission schedule" in f.summary


def test_a_syn_captured_twice_is_one_transmission_not_a_retransmission():
    cap = Capture().tcp(0, AGENT, SERVICE, SYN, ip_id=7).tcp(0.000001, AGENT, SERVICE, SYN, ip_id=7)
    cap.tcp(1.0, AGENT, SERVICE, SYN, ip_id=8)
    _, _, (f,) = cap.analyze()
    assert f.syn_count == 2 and f.syn_gaps_s == pytest.approx((1.0,), abs=1e-6)


def test_a_synack_answering_a_retransmitted_syn_right_after_a_timer_retransmission_counts():
    """Linux SYN-ACKs carry IP ID 0: two of them 0.2 ms apart are still two transmissions when the
    originator's retransmitted SYN sits between them (lab capture synack-dropped, server side)."""
    cap = syns_at([0], ip_id=0x3782).tcp(0.00002, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=1001, ip_id=0)
    cap.tcp(1.0040, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=1001, ip_id=0)
    cap.tcp(1.0041, AGENT, SERVICE, SYN, ip_id=0x3783)
    cap.tcp(1.0043, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=1001, ip_id=0)
    cap.tcp(1.0044, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=1001, ip_id=0)  # a capture copy
    _, _, (f,) = cap.analyze()
    assert f.kind == "synack_unacked" and f.synack_count == 3 and f.syn_count == 2


def test_a_capture_that_ends_before_the_next_retry_says_so():
    cap = syns_at([0]).tcp(0.4, "10.1.1.1", "10.1.1.2", ACK, 1, 2)  # unrelated packet ends the capture
    _, _, (f,) = cap.analyze()
    assert f.syn_count == 1 and f.syn_gaps_s == () and f.schedule is None
    assert "the capture ended 0.40 s after the last SYN, before the next retry was due" in f.summary


def test_originator_aborting_its_own_attempt_is_mentioned():
    cap = syns_at([0, 1]).tcp(1.5, AGENT, SERVICE, RST | ACK, seq=1001)
    _, _, (f,) = cap.analyze()
    assert f.kind == "syn_unanswered" and f.frames == (1, 2, 3)
    assert f.summary.endswith("10.0.0.5 then gave up itself (RST 1.5 s after the first SYN).")


def test_icmp_host_unreachable_explains_the_silence_without_refusing():
    cap = syns_at([0, 1]).icmp(1.01, FIREWALL, 3, 1)
    _, _, (f,) = cap.analyze()
    assert f.kind == "syn_unanswered" and f.icmp == "ICMP host unreachable (type 3 code 1) from 10.9.9.1"
    assert 3 in f.frames and "frame.number in {3}" in f.display_filter


def test_one_sided_capture_where_orig_acks_an_unseen_synack_is_not_a_failure():
    cap = syns_at([0]).tcp(0.05, AGENT, SERVICE, ACK, seq=1001, ack=5001)
    cap.tcp(0.06, AGENT, SERVICE, ACK | PSH | FIN, seq=1001, ack=5001, plen=20)
    assert cap.analyze()[2] == []


# --- refusals ----------------------------------------------------------------------------------------


def test_rst_answering_the_syn_is_a_refusal_by_the_responder():
    cap = syns_at([0]).tcp(0.0507, SERVICE, AGENT, RST | ACK, 888, 40000, seq=0, ack=1001, ttl=57)
    _, _, (f,) = cap.analyze()
    assert f.kind == "refused" and f.refusal == "rst" and f.refused_by == SERVICE
    assert f.frames == (1, 2) and f.verdict is None
    assert "8.8.8.8:888 refused the connection from 10.0.0.5" in f.summary
    assert "TTL 57 (initial 64, 7 routers away" in f.summary and "50.7 ms after the SYN" in f.summary
    assert f.display_filter == "tcp.stream eq 0 and (tcp.flags.syn == 1 or tcp.flags.reset == 1)"


@pytest.mark.parametrize("verdict, words", [
    ("middlebox", "a device on the path forged it"),
    ("peer", "8.8.8.8 itself sent it: nothing listens on port 888"),
    ("undetermined", "is undetermined"),
])
def test_refusal_uses_the_reset_verdict_when_given(verdict, words):
    cap = syns_at([0]).tcp(0.01, SERVICE, AGENT, RST | ACK, 888, 40000, seq=0, ack=1001)
    _, _, (f,) = cap.analyze(resets=[FakeVerdict(frame=2, verdict=verdict, conversation=0, confidence=0.8)])
    assert f.verdict == verdict and f.confidence == 0.8 and words in f.summary


def test_every_syn_answered_by_a_rst_is_counted():
    cap = Capture()
    for t in (0, 0.5, 1.0):
        cap.tcp(t, AGENT, SERVICE, SYN).tcp(t + 0.05, SERVICE, AGENT, RST | ACK, 888, 40000, seq=0, ack=1001)
    _, _, (f,) = cap.analyze()
    assert f.syn_count == 3 and "its 3 SYNs were answered by 3 RSTs" in f.summary


def test_icmp_port_unreachable_from_a_firewall_is_a_refusal_by_that_device():
    cap = syns_at([0]).icmp(0.002, FIREWALL, 3, 3, ttl=62)
    _, _, (f,) = cap.analyze()
    assert f.kind == "refused" and f.refusal == "icmp" and f.refused_by == FIREWALL
    assert f.icmp == "ICMP port unreachable (type 3 code 3)" and f.frames == (1, 2)
    assert "the device at 10.9.9.1 rejects the connection" in f.summary
    assert "TTL 62 (initial 64, 2 routers away)" in f.summary
    assert f.display_filter.endswith(" or frame.number in {2}")


def test_icmp_quoting_another_connection_is_ignored():
    cap = syns_at([0, 1]).icmp(0.002, FIREWALL, 3, 3, sport=40001)
    _, _, (f,) = cap.analyze()
    assert f.kind == "syn_unanswered" and f.icmp is None


# --- SYN-ACK without the final ACK, retransmitted handshakes ----------------------------------------


def test_synack_never_acknowledged_names_the_silent_originator():
    cap = syns_at([0]).tcp(0.05, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=1001)
    cap.tcp(1.05, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=1001)
    _, _, (f,) = cap.analyze()
    assert f.kind == "synack_unacked" and f.silent_side == "orig" and f.synack_count == 2
    assert f.syn_to_synack_s == pytest.approx(0.05) and f.synack_to_ack_s is None
    assert "answered 10.0.0.5's SYN with 2 SYN-ACKs over 1.0 s but 10.0.0.5 never completed the handshake" in f.summary


def test_synack_answered_by_a_rst_from_the_originator():
    cap = syns_at([0]).tcp(0.05, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=1001)
    cap.tcp(0.0501, AGENT, SERVICE, RST, seq=1001)
    _, _, (f,) = cap.analyze()
    assert f.kind == "synack_unacked" and f.frames == (1, 2, 3) and "it answered with a RST" in f.summary


def test_synack_lost_after_the_capture_point_makes_orig_retransmit_its_syn():
    cap = Capture()
    for t in (0, 1, 3):
        cap.tcp(t, AGENT, SERVICE, SYN).tcp(t + 0.05, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=1001)
    _, _, (f,) = cap.analyze()
    assert f.kind == "synack_unacked" and "kept retransmitting its SYN" in f.summary


def test_handshake_completed_after_syn_retransmission():
    cap = syns_at([0, 1.0])
    cap.tcp(1.05, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=1001).tcp(1.0501, AGENT, SERVICE, ACK, seq=1001, ack=5001)
    _, _, (f,) = cap.analyze()
    assert f.kind == "handshake_retransmitted" and f.syn_count == 2 and f.synack_count == 1
    assert "completed only after 2 SYN(s) and 1 SYN-ACK(s)" in f.summary and "1.1 s after the first SYN" in f.summary
    assert "lost on the way to 8.8.8.8" in f.summary


def test_ack_lost_after_the_capture_point_makes_resp_retransmit_its_synack():
    cap = handshake(Capture()).tcp(1.05, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=1001)
    _, _, (f,) = cap.analyze()
    assert f.kind == "handshake_retransmitted" and "the ACK is lost between the capture point and 8.8.8.8" in f.summary


def test_a_handshake_reordered_by_the_capture_is_complete():
    cap = syns_at([0]).tcp(0.05, AGENT, SERVICE, ACK, seq=1001, ack=5001)
    cap.tcp(0.0501, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=1001)
    assert cap.analyze()[2] == []


def test_a_clean_handshake_yields_no_finding():
    assert handshake(Capture()).analyze()[2] == []


@pytest.mark.parametrize("rtt_resp, rtt_orig, point", [
    (0.050, 0.0001, "near_orig"),
    (0.0001, 0.050, "near_resp"),
    (0.020, 0.030, "between"),
    (0.00002, 0.00001, "unknown"),
])
def test_handshake_timing_locates_the_capture_point(rtt_resp, rtt_orig, point):
    table, (conv,), _ = handshake(Capture(), rtt_resp=rtt_resp, rtt_orig=rtt_orig).analyze()
    t = handshake_timing(table, conv)
    assert t.syn_to_synack_s == pytest.approx(rtt_resp, abs=1e-6)
    assert t.synack_to_ack_s == pytest.approx(rtt_orig, abs=1e-6)
    assert (t.syn_frame, t.synack_frame, t.ack_frame) == (1, 2, 3) and t.capture_point == point


# --- teardowns ---------------------------------------------------------------------------------------


def closing(cap: Capture, *steps: tuple) -> Capture:
    """Append teardown steps after a handshake: (t, 'orig'|'resp', flags[, plen])."""
    seqs = {"orig": 1001, "resp": 5001}
    for t, side, flags, *rest in steps:
        plen = rest[0] if rest else 0
        other = "resp" if side == "orig" else "orig"
        src, dst, sp, dp = (AGENT, SERVICE, 40000, 888) if side == "orig" else (SERVICE, AGENT, 888, 40000)
        cap.tcp(t, src, dst, flags, sp, dp, seq=seqs[side], ack=seqs[other], plen=plen)
        seqs[side] += plen + (1 if flags & FIN else 0)
    return cap


def test_a_clean_four_way_teardown_yields_no_finding():
    cap = closing(handshake(Capture()), (1, "orig", FIN | ACK), (1.05, "resp", FIN | ACK), (1.0501, "orig", ACK))
    assert cap.analyze()[2] == []


def test_fin_acknowledged_but_never_answered_is_half_closed():
    cap = closing(handshake(Capture()), (1, "orig", FIN | ACK), (1.05, "resp", ACK), (2, "resp", PSH | ACK, 300))
    cap.tcp(5, "10.1.1.1", "10.1.1.2", ACK, 1, 2)  # the capture goes on for 4 more seconds
    _, _, (f,) = cap.analyze()
    assert f.kind == "half_closed" and f.closer == "orig" and f.silent_side == "resp"
    assert f.fin_acked is True and f.fin_answered is False and f.reset_after_fin is None
    assert "8.8.8.8 acknowledged the FIN but never closed its own side (it sent 300 more bytes) within the 4.0 s" in f.summary
    assert f.display_filter == "tcp.stream eq 0 and (tcp.flags.fin == 1 or tcp.flags.reset == 1)"


def test_fin_never_acknowledged_is_an_incomplete_teardown():
    cap = closing(handshake(Capture()), (1, "orig", FIN | ACK))
    cap.tcp(1.3, AGENT, SERVICE, FIN | ACK, seq=1001, ack=5001)  # the FIN retransmitted
    _, _, (f,) = cap.analyze()
    assert f.kind == "teardown_incomplete" and f.fin_acked is False and f.silent_side == "resp"
    assert "(FIN, sent 2 times) but 8.8.8.8 never acknowledged it" in f.summary


def test_fin_followed_by_a_rst_from_the_other_side():
    cap = closing(handshake(Capture()), (1, "orig", FIN | ACK), (1.05, "resp", RST | ACK))
    _, _, (f,) = cap.analyze(resets=[FakeVerdict(frame=5, verdict="middlebox", conversation=0)])
    assert f.kind == "teardown_incomplete" and f.reset_after_fin == "resp" and f.frames == (4, 5)
    assert f.verdict == "middlebox" and "8.8.8.8 answered with a RST instead of its own FIN" in f.summary
    assert "a middlebox forged that RST" in f.summary


def test_fin_lost_on_the_way_shows_as_an_answer_that_does_not_cover_it():
    cap = closing(handshake(Capture()), (1, "orig", FIN | ACK))
    cap.tcp(200, SERVICE, AGENT, FIN | ACK | PSH, 888, 40000, seq=5001, ack=1001, plen=31)  # acks 1001, not the FIN
    cap.tcp(201, SERVICE, AGENT, FIN | ACK | PSH, 888, 40000, seq=5001, ack=1001, plen=31)
    _, _, (f,) = cap.analyze()
    assert f.kind == "teardown_incomplete" and f.fin_acked is False and f.fin_answered is True
    assert f.silent_side == "resp"
    assert ("8.8.8.8's own FIN, 199.0 s later, sent 2 times, does not cover it, so the first FIN was lost on the way to "
            "8.8.8.8; 10.0.0.5 never acknowledged that FIN either.") in f.summary


def test_rst_instead_of_the_last_ack():
    cap = closing(handshake(Capture()), (1, "resp", FIN | ACK), (1.05, "orig", FIN | ACK), (1.06, "resp", RST))
    _, _, (f,) = cap.analyze()
    assert f.kind == "teardown_incomplete" and f.reset_after_fin == "resp" and f.silent_side is None
    assert ("8.8.8.8 closed its side of 10.0.0.5:40000 ↔ 8.8.8.8:888 (FIN), 10.0.0.5 answered with its own FIN, then "
            "8.8.8.8 reset the connection instead of acknowledging it.") == f.summary


def test_same_host_on_both_sides_is_named_by_port():
    cap = Capture().tcp(0, "127.0.0.1", "127.0.0.1", SYN, 5000, 80)
    cap.tcp(0.001, "127.0.0.1", "127.0.0.1", SYN | ACK, 80, 5000, seq=7000, ack=1001)
    cap.tcp(0.002, "127.0.0.1", "127.0.0.1", ACK, 5000, 80, seq=1001, ack=7001)
    cap.tcp(1, "127.0.0.1", "127.0.0.1", FIN | ACK, 80, 5000, seq=7001, ack=1001)
    cap.tcp(1.1, "127.0.0.1", "127.0.0.1", RST, 80, 5000, seq=7002)
    table = cap.builder.build()
    (f,) = analyze_handshakes(table, [conversation(table, orig=("127.0.0.1", 5000), resp=("127.0.0.1", 80))])
    assert f.summary.startswith("127.0.0.1:80 closed its side") and "then reset the connection itself" in f.summary


def test_last_ack_missing_blames_the_closer():
    cap = closing(handshake(Capture()), (1, "resp", FIN | ACK), (1.05, "orig", FIN | ACK))
    _, _, (f,) = cap.analyze()
    assert f.kind == "teardown_incomplete" and f.closer == "resp" and f.silent_side == "resp"
    assert f.fin_acked and f.fin_answered and "8.8.8.8 never acknowledged that FIN" in f.summary


def test_fin_acknowledgement_across_sequence_wraparound():
    cap = Capture().tcp(0, AGENT, SERVICE, SYN, seq=0xFFFFFFF0)
    cap.tcp(0.05, SERVICE, AGENT, SYN | ACK, 888, 40000, seq=5000, ack=0xFFFFFFF1)
    cap.tcp(0.06, AGENT, SERVICE, ACK | PSH, seq=0xFFFFFFF1, ack=5001, plen=20)
    cap.tcp(0.07, AGENT, SERVICE, FIN | ACK, seq=0x5, ack=5001)  # 0xFFFFFFF1 + 20 wraps to 5
    cap.tcp(0.12, SERVICE, AGENT, ACK, 888, 40000, seq=5001, ack=0x6)
    _, _, (f,) = cap.analyze()
    assert f.kind == "half_closed" and f.fin_acked is True


def test_teardown_of_a_one_sided_capture_is_not_judged():
    cap = Capture().tcp(0, AGENT, SERVICE, ACK | PSH, plen=10).tcp(1, AGENT, SERVICE, FIN | ACK, seq=1010)
    assert cap.analyze()[2] == []


# --- output contract ---------------------------------------------------------------------------------


def test_findings_are_frozen_and_serialise_to_json_with_every_key():
    _, _, (f,) = syns_at([0, 1]).analyze()
    with pytest.raises(FrozenInstanceError):
        f.kind = "other"
    d = f.to_dict()
    json.dumps(d)
    assert d["frames"] == [1, 2] and d["syn_gaps_s"] == [1.0] and d["closer"] is None
    assert {"kind", "conversation", "ts", "summary", "display_filter", "verdict", "confidence"} <= d.keys()
    assert d["ts"] == pytest.approx(T0 / 1e9)


def test_conversations_sharing_a_tcp_stream_get_a_frame_range_in_their_filter():
    cap = Capture()
    for t in (0, 0.5):
        cap.tcp(t, AGENT, SERVICE, SYN).tcp(t + 0.05, SERVICE, AGENT, RST | ACK, 888, 40000, seq=0, ack=1001)
    table = cap.builder.build()
    convs = [conversation(table, cid=0, frames=(1, 2)), conversation(table, cid=1, frames=(3, 4))]
    found = analyze_handshakes(table, convs)
    assert [f.conversation for f in found] == [0, 1]
    assert found[1].display_filter.startswith("tcp.stream eq 0 and frame.number >= 3 and frame.number <= 4 and ")


def test_ipv6_endpoints_are_bracketed_in_sentences():
    v6a, v6b = "2001:db8::5", "2001:db8::9"
    cap = Capture().tcp(0, v6a, v6b, SYN, ver=6, ip_id=-1).tcp(0.01, v6b, v6a, RST | ACK, 888, 40000, seq=0, ack=1001, ver=6, ip_id=-1)
    table = cap.builder.build()
    (f,) = analyze_handshakes(table, [conversation(table, orig=(v6a, 40000), resp=(v6b, 888))])
    assert f.summary.startswith("[2001:db8::9]:888 refused the connection from 2001:db8::5")


# --- the vectorised screen ---------------------------------------------------------------------------

_FLAG_CHOICES = [SYN, SYN | ACK, ACK, ACK | PSH, FIN | ACK, RST, RST | ACK]


@st.composite
def random_conversations(draw):
    """Handshake-and-teardown-like packet sequences: a clean template, randomly cut, mutated and extended."""
    template = [(True, SYN, 0, "ok"), (False, SYN | ACK, 0, "ok"), (True, ACK, 0, "ok"), (True, ACK | PSH, 10, "ok"),
                (False, ACK | PSH, 20, "ok"), (True, FIN | ACK, 0, "ok"), (False, FIN | ACK, 0, "ok"), (True, ACK, 0, "ok")]
    steps = template[:draw(st.integers(0, len(template)))]
    extra = st.tuples(st.booleans(), st.sampled_from(_FLAG_CHOICES), st.sampled_from([0, 10]),
                      st.sampled_from(["ok", "stale", "random"]))
    for _ in range(draw(st.integers(0, 3))):
        steps.insert(draw(st.integers(0, len(steps))), draw(extra))
    if not steps:
        steps = [draw(extra)]
    return steps, draw(st.integers(0, 2**32 - 1))


def build_random(steps, noise: int) -> Capture:
    cap, nxt = Capture(), {True: 1000, False: 5000}
    for i, (from_orig, flags, plen, ack_mode) in enumerate(steps):
        src, dst, sp, dp = (AGENT, SERVICE, 40000, 888) if from_orig else (SERVICE, AGENT, 888, 40000)
        ack = {"ok": nxt[not from_orig], "stale": nxt[not from_orig] - 1, "random": noise}[ack_mode]
        cap.tcp(i * 0.5, src, dst, flags, sp, dp, seq=nxt[from_orig], ack=ack if flags & ACK else 0, plen=plen)
        nxt[from_orig] += plen + (1 if flags & (SYN | FIN) else 0)
    return cap


@settings(max_examples=300, deadline=None)
@given(random_conversations())
def test_screen_never_clears_a_conversation_the_rules_would_report(example):
    table = build_random(*example).builder.build()
    conv = conversation(table)
    if not needs_rules(table, [conv])[0]:
        ctx, v = Context(table, [conv], None, None), view(table, conv)
        assert opening_findings(ctx, v) == [] and closing_findings(ctx, v) == []


def _add_random_conversation(cap, n: int, steps, noise) -> None:
    """One random conversation (:func:`build_random`) as conversation ``n`` of ``cap``: its own ports,
    100 s after the previous one."""
    part = build_random(steps, noise).builder.build()
    for i in range(len(part)):
        orig = part.book.name(int(part.src[i])) == AGENT
        sport, dport = (40000 + n, 888 + n) if orig else (888 + n, 40000 + n)
        cap.tcp(int(part.ts_ns[i] - T0) / SEC + n * 100, AGENT if orig else SERVICE, SERVICE if orig else AGENT,
                int(part.flags[i]), sport, dport, seq=int(part.seq[i]), ack=int(part.ack[i]),
                plen=int(part.payload_len[i]))


@settings(max_examples=100, deadline=None)
@given(st.lists(random_conversations(), min_size=1, max_size=6))
def test_screen_judges_each_conversation_of_a_capture_as_it_judges_it_alone(examples):
    """The screen answers for all conversations at once from running counts over their concatenated
    packets: a conversation's answer must not depend on its neighbours."""
    cap = Capture()
    for n, (steps, noise) in enumerate(examples):
        _add_random_conversation(cap, n, steps, noise)
    table = cap.builder.build()
    convs = [conversation(table, orig=(AGENT, 40000 + n), resp=(SERVICE, 888 + n), cid=n) for n in range(len(examples))]
    assert needs_rules(table, convs).tolist() == [bool(needs_rules(table, [c])[0]) for c in convs]


@settings(max_examples=100, deadline=None)
@given(st.lists(random_conversations(), min_size=1, max_size=6), st.lists(st.booleans(), min_size=6, max_size=6))
def test_the_compiled_screen_answers_as_the_numpy_screen(examples, with_icmp):
    """handshakes/compiled/screen.py (big inputs) walks the same condition conversation by conversation;
    ICMP rows inside a conversation's rows are skipped by both."""
    pytest.importorskip("numba")
    cap = Capture()
    for n, (steps, noise) in enumerate(examples):
        _add_random_conversation(cap, n, steps, noise)
        if with_icmp[n]:
            cap.icmp(n * 100 + 0.5, FIREWALL, 3, 3, sport=40000 + n, dport=888 + n)
    table = cap.builder.build()
    convs = []
    for n in range(len(examples)):
        conv = conversation(table, orig=(AGENT, 40000 + n), resp=(SERVICE, 888 + n), cid=n)
        icmp = np.flatnonzero((table.proto != 6) & (table.q_sport == 40000 + n))
        rows = np.r_[conv.rows, icmp]
        order = np.argsort(rows, kind="stable")
        convs.append(dataclasses.replace(conv, rows=rows[order], from_orig=np.r_[conv.from_orig, icmp < 0][order]))
    assert needs_rules(table, convs, compiled=True).tolist() == needs_rules(table, convs, compiled=False).tolist()


@pytest.mark.parametrize("seed", range(5))
def test_the_compiled_screen_answers_as_the_numpy_screen_on_many_random_conversations(seed):
    """Thousands of short random exchanges in one table, acknowledgement numbers around each side's
    FIN (so "the last ACK covers the FIN" goes both ways), some ICMP rows inside conversations."""
    pytest.importorskip("numba")
    from netreset.packets.table import PacketTableBuilder

    rng = np.random.default_rng(seed)
    flag_choices = [SYN, SYN | ACK, ACK, ACK | PSH, FIN | ACK, FIN, RST, RST | ACK, 0]  # 0: an ICMP row
    builder, convs_rows, convs_orig, lengths = PacketTableBuilder(), [], [], []
    a, b = builder.book.intern(AGENT), builder.book.intern(SERVICE)
    for n in range(3000):
        size = int(rng.integers(1, 9))
        rows, origs = [], []
        for _ in range(size):
            orig, flags = bool(rng.random() < 0.5), int(rng.choice(flag_choices))
            row = len(builder)
            if flags == 0:  # an ICMP error filed under the conversation
                builder.append(dict(frame=row + 1, ts_ns=row, ip_version=4, src=b, dst=a, proto=PROTO_ICMP,
                                    icmp_type=3, icmp_code=3, q_src=a, q_dst=b, q_sport=n, q_dport=80))
            else:
                builder.append(dict(frame=row + 1, ts_ns=row, ip_version=4, src=a if orig else b, dst=b if orig else a,
                                    proto=6, sport=n if orig else 80, dport=80 if orig else n, flags=flags,
                                    seq=(int(rng.integers(0, 3)) * 0x7FFFFFFF + int(rng.integers(0, 4))) % 2**32,
                                    ack=(int(rng.integers(0, 3)) * 0x7FFFFFFF + int(rng.integers(0, 6))) % 2**32,
                                    payload_len=int(rng.integers(0, 2))))
            rows.append(row)
            origs.append(orig)
        convs_rows.append(rows)
        convs_orig.append(origs)
        lengths.append(size)
    table = builder.build()
    gathered = (np.concatenate(convs_rows).astype(np.int64), np.concatenate(convs_orig).astype(bool),
                np.array(lengths, dtype=np.int64))
    n = len(lengths)
    compiled = needs_rules(table, range(n), gathered, compiled=True)
    assert compiled.tolist() == needs_rules(table, range(n), gathered, compiled=False).tolist()
    assert 0 < compiled.sum() < n  # both answers occur


def test_the_compiled_screen_answers_as_the_numpy_screen_on_real_captures():
    pytest.importorskip("numba")
    from netreset.flows.conversations import build_conversations
    from netreset.ingest.files import read_capture_files

    for name, path in _real_captures():
        table, _ = read_capture_files([str(path)])
        convs = build_conversations(table)
        assert needs_rules(table, convs, compiled=True).tolist() == needs_rules(table, convs, compiled=False).tolist(), name


def test_screen_clears_a_clean_connection_and_keeps_a_broken_one():
    clean = closing(handshake(Capture()), (1, "orig", FIN | ACK), (1.05, "resp", FIN | ACK), (1.0501, "orig", ACK))
    broken = closing(handshake(Capture()), (1, "orig", FIN | ACK))
    for cap, expected in ((clean, False), (broken, True), (syns_at([0]), True)):
        table = cap.builder.build()
        assert needs_rules(table, [conversation(table)]).tolist() == [expected]


# --- real captures: the corpus (Zeek's answers) and the lab (kernel truth) -----------------------------


@pytest.fixture(scope="module")
def pipeline():
    """read → conversations → (resets) → handshakes on a real capture; skipped until the pipeline exists."""
    import importlib

    build = getattr(importlib.import_module("netreset.flows.conversations"), "build_conversations", None)
    if build is None:
        pytest.skip("netreset.flows.conversations.build_conversations not available yet")
    from netreset.ingest.files import read_capture_files

    def run(path, with_resets: bool = False):
        table, _ = read_capture_files([str(path)])
        convs = build(table)
        resets = None
        if with_resets:
            from netreset.analyses.resets.locate import locate_resets

            resets = locate_resets(table, convs)
        return convs, analyze_handshakes(table, convs, resets=resets), resets

    return run


def _tuple(x) -> tuple:
    return (x.get("orig_h"), x.get("orig_p"), x.get("resp_h"), x.get("resp_p"))


def _zeek_tcp_rows(entry: dict) -> list[dict]:
    rows = entry["zeek"][0]["rows"] if entry.get("zeek") else []
    return [r for r in rows if r.get("proto") == "tcp" and r.get("conn_state")]


def test_every_connection_zeek_rejected_is_a_refusal_and_nothing_else_is(corpus, pipeline):
    checked = 0
    for entry in corpus:
        rows = _zeek_tcp_rows(entry)
        if not rows or "tunnel" in entry["tags"]:
            continue
        convs, found, _ = pipeline(entry["capture_path"])
        # one finding per connection attempt: a SYN refused again and again (Windows retries a refused SYN
        # with the same ISN) is one conversation, one finding, and as many REJ rows as Zeek connections
        zeek_rows = {c.id: c.zeek_connections for c in convs}
        refused = sorted(t for f in found if f.kind == "refused" for t in [_tuple(f.to_dict())] * zeek_rows[f.conversation])
        rejected = sorted(_tuple(r) for r in rows if r["conn_state"] == "REJ")
        assert refused == rejected, entry["id"]
        checked += len(rejected)
    assert checked >= 6


def test_zeek_syn_only_attempts_are_unanswered_syns(corpus, pipeline):
    """S0 with history of SYNs only, and RSTOS0 (orig gave up with a RST), are syn_unanswered findings."""
    checked = 0
    for entry in corpus:
        rows = [r for r in _zeek_tcp_rows(entry) if r["conn_state"] in ("S0", "RSTOS0") and set(r["history"] or "") <= {"S", "R"}]
        if not rows or "tunnel" in entry["tags"]:
            continue
        _, found, _ = pipeline(entry["capture_path"])
        unanswered = [f for f in found if f.kind == "syn_unanswered"]
        for r in rows:
            if r.get("orig_h") is None:  # a baseline that printed only history/conn_state: one connection
                assert len(unanswered) == 1, entry["id"]
            else:
                assert any(_tuple(f.to_dict()) == _tuple(r) for f in unanswered), entry["id"]
            checked += 1
    assert checked >= 1


@pytest.mark.parametrize("entry_id", ["zeek-ssh-ssh-client-side-half-duplex", "zeek-ssh-ssh-server-side-half-duplex"])
def test_one_sided_captures_raise_no_false_alarm(corpus, pipeline, entry_id):
    entry = next(e for e in corpus if e["id"] == entry_id)
    convs, found, _ = pipeline(entry["capture_path"])
    assert len(convs) >= 20 and found == []


def test_windows_client_retrying_after_three_seconds_matches_the_windows_schedule(corpus, pipeline):
    entry = next(e for e in corpus if e["id"] == "zeek-pop3-pop3")
    _, found, _ = pipeline(entry["capture_path"])
    (f,) = [f for f in found if f.kind == "handshake_retransmitted"]
    assert (f.orig_h, f.resp_h, f.resp_p) == ("192.168.0.4", "212.227.15.166", 110)
    assert f.syn_count == 2 and f.schedule == "windows" and f.syn_gaps_s[0] == pytest.approx(3.0, abs=0.05)


def test_packets_captured_twice_are_not_retransmissions(corpus, pipeline):
    """m57 captures every packet twice, 1 µs apart: one SYN, and the FIN answered by the client's RST."""
    entry = next(e for e in corpus if e["id"] == "zeek-http-m57-long-49583-80")
    _, found, _ = pipeline(entry["capture_path"])
    assert [f.kind for f in found] == ["teardown_incomplete"]
    assert found[0].closer == "resp" and found[0].reset_after_fin == "orig" and len(found[0].frames) == 2


LAB_OPENING = {"syn_unanswered": "syn_unanswered", "refused": "refused", "handshake_incomplete": "synack_unacked"}


def _lab_truth() -> dict:
    from conftest import CAPTURES

    truth = CAPTURES / "truth.json"
    return json.loads(truth.read_text()) if truth.is_file() else {}


def test_lab_captures_give_the_handshake_outcome_the_kernel_produced(pipeline):
    from conftest import CAPTURES

    truth = _lab_truth()
    if not truth:
        pytest.skip("captures/truth.json not recorded yet")
    linear = truth["lab"]["kernel"].get("tcp_syn_linear_timeouts", 0)
    checked = 0
    for capture in truth["captures"]:
        convs, found, _ = pipeline(CAPTURES / capture["file"])
        for conn in capture["connections"]:
            key = (conn["orig"], conn["orig_port"], conn["resp"], conn["resp_port"])
            mine = [f for f in found if _tuple(f.to_dict()) == key and f.kind in LAB_OPENING.values()]
            expected = LAB_OPENING.get(conn["outcome"])
            assert [f.kind for f in mine] == ([expected] if expected else []), (capture["file"], key)
            if expected:
                _check_lab_opening(mine[0], conn, linear)
            checked += 1
    assert checked >= 5


def _check_lab_opening(f, conn: dict, linear: int) -> None:
    syns = conn["orig_syns"]
    if isinstance(syns, int):
        assert f.syn_count == syns
    if conn.get("orig_syn_gaps_s"):
        assert f.syn_gaps_s == pytest.approx(tuple(conn["orig_syn_gaps_s"]), abs=0.15)
        assert f.schedule == ("linux_linear" if linear else "linux_exponential")
    if f.kind == "refused":
        assert f.refusal == "rst" and f.refused_by == conn["resp"]
    if f.kind == "synack_unacked":
        lo, hi = conn["resp_synacks"] if isinstance(conn["resp_synacks"], list) else (conn["resp_synacks"],) * 2
        assert lo <= f.synack_count <= hi and f.silent_side == "orig"


def test_lab_refusals_carry_the_reset_verdict(pipeline):
    from conftest import CAPTURES

    truth = _lab_truth()
    if not truth:
        pytest.skip("captures/truth.json not recorded yet")
    for capture in truth["captures"]:
        if not any(c["outcome"] == "refused" for c in capture["connections"]):
            continue
        _, found, resets = pipeline(CAPTURES / capture["file"], with_resets=True)
        by_frame = {r.frame: r.verdict for r in resets}
        for f in (f for f in found if f.kind == "refused"):
            rst_frame = f.frames[-1]
            assert f.verdict == by_frame.get(rst_frame), capture["file"]


# --- the batch path: never-opened findings of many conversations at once ------------------------------
# analyze_handshakes answers most refused / unanswered conversations from vectorised facts (handshakes/
# batch.py) and the rest with the per-conversation rules; reference_findings walks every conversation
# with the rules (no screen, no prepass, no batch). Both must give the same findings, field by field.


def _paths_agree(table, conversations, resets=None, capture_end=None) -> list:
    from netreset.analyses.handshakes.analyze import reference_findings

    fast = analyze_handshakes(table, conversations, resets=resets, capture_end=capture_end)
    slow = reference_findings(table, conversations, resets=resets, capture_end=capture_end)
    assert [f.to_dict() for f in fast] == [f.to_dict() for f in slow]
    assert fast == slow and [hash(f) for f in fast] == [hash(f) for f in slow]
    return fast


def _batch_decided(table, conversations) -> int:
    """How many conversations the batch path answered (the others went to the rules)."""
    from netreset.analyses.handshakes.batch import never_opened
    from netreset.analyses.handshakes.model import gather

    _, rest = never_opened(Context(table, conversations, None, None), table, conversations, gather(conversations))
    return int((~rest).sum())


def test_a_finding_built_by_the_batch_path_is_the_dataclass_the_constructor_builds():
    """The batch path fills the instance dict directly and writes the sentence and filter on first read:
    every observable of the frozen dataclass stays the same (fields, values, equality, hash, repr,
    pickled and copied state, dataclasses.replace), only vars() shows the pending text until then."""
    import copy
    import pickle

    from netreset.analyses.handshakes.model import HandshakeFinding, new_finding

    def fresh():
        _, _, (f,) = syns_at([0, 1, 3]).analyze()
        assert "_text" in vars(f)  # built by the batch path, sentence not written yet
        return f

    f = fresh()
    built = HandshakeFinding(**{field.name: getattr(f, field.name) for field in dataclasses.fields(HandshakeFinding)})
    assert "_text" not in vars(f) and set(vars(f)) == set(vars(built))
    for check in (lambda g: g, lambda g: pickle.loads(pickle.dumps(g)), copy.copy, copy.deepcopy):
        g = check(fresh())
        assert g == built and hash(g) == hash(built) and repr(g) == repr(built)
    assert hash(fresh()) == hash(built) and fresh().to_dict() == built.to_dict()
    unpickled = pickle.loads(pickle.dumps(fresh()))
    assert vars(unpickled) == vars(built)
    assert dataclasses.replace(fresh(), kind="other") == dataclasses.replace(built, kind="other")
    assert new_finding({"kind": "refused"}).to_dict()["summary"] is None  # every field present
    with pytest.raises(AttributeError):
        fresh().no_such_field
    with pytest.raises(FrozenInstanceError):
        fresh().summary = "other"


_SHAPES = ("syn", "syns", "rst", "rsts", "syn_rst", "abort", "icmp_refused", "icmp_host", "resp_data",
           "orig_ack", "synack", "handshake_fin", "syn_copy", "partial")


def _scan(shapes: list[str], shared_pairs: int = 0, files: int = 1) -> tuple:
    """A port scan: one conversation per shape (each its own port), some pairs sharing a tcp.stream."""
    cap, convs, t = Capture(), [], 0.0
    spans = []
    for n, shape in enumerate(shapes):
        port, first = 1000 + n, len(cap.builder) + 1
        orig = dict(dport=port, sport=40000 + n)
        resp = dict(sport=port, dport=40000 + n)
        if shape != "partial":
            cap.tcp(t, AGENT, SERVICE, SYN, ttl=64 if n % 2 else 128, **orig)
        if shape in ("syns", "abort", "rsts", "icmp_host"):
            cap.tcp(t + 1, AGENT, SERVICE, SYN, **orig).tcp(t + 3, AGENT, SERVICE, SYN, **orig)
        if shape == "syn_copy":
            cap.tcp(t + 0.0001, AGENT, SERVICE, SYN, ip_id=cap.ip_id, **orig)
        if shape in ("rst", "rsts", "syn_rst"):
            cap.tcp(t + 3.01, SERVICE, AGENT, RST | ACK, seq=0, ack=1001, ttl=60 + n % 5, **resp)
        if shape == "rsts":
            cap.tcp(t + 3.02, SERVICE, AGENT, RST | ACK, seq=0, ack=1001, **resp)
        if shape == "syn_rst":
            cap.tcp(t + 4, AGENT, SERVICE, SYN, **orig)
        if shape == "abort":
            cap.tcp(t + 2, AGENT, SERVICE, RST, seq=1001, **orig)
        if shape in ("icmp_refused", "icmp_host"):
            cap.icmp(t + 0.5, FIREWALL, 3, 3 if shape == "icmp_refused" else 1, sport=40000 + n, dport=port)
        if shape == "resp_data":
            cap.tcp(t + 0.2, SERVICE, AGENT, ACK | PSH, seq=5000, ack=1001, plen=10, **resp)
        if shape in ("orig_ack", "partial"):
            cap.tcp(t + 0.2, AGENT, SERVICE, ACK, seq=1001, ack=5001, **orig)
        if shape in ("synack", "handshake_fin"):
            cap.tcp(t + 0.1, SERVICE, AGENT, SYN | ACK, seq=5000, ack=1001, **resp)
        if shape == "handshake_fin":
            cap.tcp(t + 0.2, AGENT, SERVICE, ACK, seq=1001, ack=5001, **orig)
            cap.tcp(t + 0.3, AGENT, SERVICE, FIN | ACK, seq=1001, ack=5001, **orig)
        spans.append((first, len(cap.builder), n))
        t += 0.25
    table = cap.builder.build()
    if files > 1:
        table.columns["file_id"] = np.arange(len(table)) % files
    for first, last, n in spans:
        stream = n - 1 if 0 < n <= 2 * shared_pairs and n % 2 else n
        conv = conversation(table, orig=(AGENT, 40000 + n), resp=(SERVICE, 1000 + n), cid=n, stream=stream,
                            frames=(first, last))
        if files > 1:
            conv = dataclasses.replace(conv, file_id=int(table.file_id[conv.rows[0]]))
        convs.append(conv)
    return table, convs


def test_the_batch_path_answers_a_port_scan_as_the_rules():
    table, convs = _scan(list(_SHAPES) * 3, shared_pairs=4)
    found = _paths_agree(table, convs)
    kinds = {f.kind for f in found}
    assert {"refused", "syn_unanswered", "synack_unacked"} <= kinds
    assert _batch_decided(table, convs) >= 3 * 6  # syn, syns, rst, rsts, syn_rst, abort
    verdicts = [FakeVerdict(frame=f.frames[-1], verdict=v, conversation=f.conversation)
                for f, v in zip((f for f in found if f.refusal == "rst"), ("peer", "middlebox", "undetermined") * 9)]
    _paths_agree(table, convs, resets=verdicts)


def test_the_batch_path_reads_capture_ends_and_file_ids_as_the_rules():
    table, convs = _scan(["syn", "syns", "abort", "rst"] * 4, files=3)
    _paths_agree(table, convs)
    _paths_agree(table, convs, capture_end={0: T0 + 4 * SEC, 1: T0 + 10 * SEC, 2: T0 + 100 * SEC})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_SHAPES), min_size=1, max_size=12), st.integers(0, 3), st.integers(1, 2))
def test_the_batch_path_answers_random_scans_as_the_rules(shapes, shared_pairs, files):
    _paths_agree(*_scan(shapes, shared_pairs, files))


@settings(max_examples=300, deadline=None)
@given(random_conversations())
def test_the_fast_paths_answer_random_conversations_as_the_rules(example):
    table = build_random(*example).builder.build()
    _paths_agree(table, [conversation(table)])


@pytest.mark.parametrize("seed", range(0, 150, 3))
def test_the_fast_paths_answer_random_flows_as_the_rules_with_and_without_capture_copies(seed):
    import frozen_analyses as frozen
    from resets_support import conversations_of

    from netreset.analyses.resets.locate import locate_resets

    table = frozen.random_flows(seed)
    rows = np.arange(len(table))
    copied = table.take(np.sort(np.r_[rows, rows[(table.proto == 6) & (rows % 3 == 0)]]))
    for t in (table, copied):
        conversations = conversations_of(t)
        _paths_agree(t, conversations, resets=locate_resets(t, conversations))


def _real_captures() -> list:
    import frozen_analyses as frozen
    from conftest import CORPUS

    return sorted(frozen.captures(CORPUS, None).items())


@pytest.mark.parametrize("name, path", _real_captures(), ids=[name for name, _ in _real_captures()])
def test_the_fast_paths_answer_real_captures_as_the_rules(name, path):
    from netreset.flows.conversations import build_conversations
    from netreset.ingest.files import read_capture_files
    from netreset.analyses.resets.locate import locate_resets

    table, _ = read_capture_files([str(path)])
    conversations = build_conversations(table)
    _paths_agree(table, conversations)
    _paths_agree(table, conversations, resets=locate_resets(table, conversations))


@pytest.mark.parametrize("seed", [3, 11])
def test_the_fast_paths_answer_generated_captures_as_the_rules(tmp_path, seed):
    """benchmarks/generate.py's traffic (a port scan's refusals and unanswered SYNs among clean
    connections), big enough for the compiled conversations and the compiled screen."""
    import subprocess
    import sys

    from conftest import ROOT

    from netreset.flows.conversations import build_conversations
    from netreset.ingest.files import read_capture_files
    from netreset.analyses.resets.locate import locate_resets

    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--packets", "25000", "--seed", str(seed),
                    "--format", "pcap", "--name", "gen", "--out", str(tmp_path)], check=True, capture_output=True)
    table, _ = read_capture_files([str(tmp_path / "gen.pcap")])
    conversations = build_conversations(table)
    found = _paths_agree(table, conversations, resets=locate_resets(table, conversations))
    assert {"refused", "syn_unanswered"} <= {f.kind for f in found}
    assert _batch_decided(table, conversations) > 100
