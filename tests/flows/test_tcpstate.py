"""Zeek conn_state and history rules on crafted packets (expected values follow Zeek's TCP analyzer)."""

from __future__ import annotations

import pytest

from builders import table, tcp
from netreset.flows.conversations import build_conversations
from netreset.flows.tcpstate import CLOSED, ESTABLISHED, INACTIVE, RESET, SYN_SENT, ZeekConnection, seq_delta

C, S = "10.0.0.1:40000", "10.0.0.2:5555"  # 5555 is not a likely server port: no port-based flip
W = "10.0.0.2:80"  # a well-known server port


def handshake(server=S, t=0.0):
    return [tcp(C, server, "S", seq=100, t=t), tcp(server, C, "SA", seq=500, ack=101, t=t + 0.1),
            tcp(C, server, "A", seq=101, ack=501, t=t + 0.2)]


def data(src, dst, seq, ack, n=10, t=0.3):
    return tcp(src, dst, "PA", seq=seq, ack=ack, payload=n, t=t)


def only(rows, **kw):
    convs = build_conversations(table(rows), **kw)
    assert len(convs) == 1, [(c.conn_state, c.history) for c in convs]
    return convs[0]


STATES = {
    "S0": ([tcp(C, S, "S", seq=100)], "S"),
    "S1": (handshake() + [data(C, S, 101, 501)], "ShAD"),
    "SF": (handshake() + [data(C, S, 101, 501), tcp(S, C, "FA", seq=501, ack=111, t=1),
                          tcp(C, S, "FA", seq=111, ack=502, t=1.1), tcp(S, C, "A", seq=502, ack=112, t=1.2)],
           "ShADfFa"),
    "REJ": ([tcp(C, S, "S", seq=100), tcp(S, C, "RA", seq=0, ack=101, t=0.1)], "Sr"),
    "S2": (handshake() + [tcp(C, S, "FA", seq=101, ack=501, t=1)], "ShAF"),
    "S3": (handshake() + [tcp(S, C, "FA", seq=501, ack=101, t=1)], "ShAf"),
    "RSTO": (handshake() + [tcp(C, S, "RA", seq=101, ack=501, t=1)], "ShAR"),
    "RSTR": (handshake() + [data(C, S, 101, 501), tcp(S, C, "R", seq=501, t=1)], "ShADr"),
    "RSTOS0": ([tcp(C, S, "S", seq=100), tcp(C, S, "R", seq=101, t=1)], "SR"),
    "RSTRH": ([tcp(W, C, "SA", seq=500, ack=101), tcp(W, C, "R", seq=501, t=0.1)], "^hr"),
    "SH": ([tcp(C, S, "S", seq=100), tcp(C, S, "FA", seq=101, ack=0, t=1)], "SF"),
    "SHR": ([tcp(W, C, "SA", seq=500, ack=101), tcp(W, C, "FA", seq=501, ack=101, t=0.1)], "^hf"),
    "OTH": ([data(C, S, 1000, 2000, t=0), data(S, C, 2000, 1010, t=0.1)], "Dd"),
}


@pytest.mark.parametrize("state", sorted(STATES))
def test_every_conn_state_is_reached_as_zeek_decides_it(state):
    rows, history = STATES[state]
    conv = only(rows)
    assert (conv.conn_state, conv.history) == (state, history)


def test_same_isn_syn_retransmission_adds_no_letter_and_counts_gaps():
    conv = only([tcp(C, S, "S", seq=100, t=0), tcp(C, S, "S", seq=100, t=1), tcp(C, S, "S", seq=100, t=3)])
    assert (conv.conn_state, conv.history, conv.syn_count) == ("S0", "S", 3)
    assert conv.syn_gaps_s == pytest.approx((1.0, 2.0))


def test_syn_with_new_isn_on_open_attempt_starts_a_new_conversation():
    convs = build_conversations(table([tcp(C, S, "S", seq=100), tcp(C, S, "S", seq=9000, t=1)]))
    assert [(c.conn_state, c.history) for c in convs] == [("S0", "S"), ("S0", "S")]


def test_fin_letter_repeats_only_when_its_sequence_number_changes():
    rows = handshake() + [tcp(C, S, "FA", seq=101, ack=501, t=1), tcp(C, S, "FA", seq=101, ack=501, t=1.5)]
    assert only(rows).history == "ShAF"
    rows = handshake() + [tcp(C, S, "FA", seq=101, ack=501, t=1), tcp(C, S, "FA", seq=105, ack=501, t=1.5)]
    assert only(rows).history == "ShAFF"


def test_rst_letter_repeats_only_when_its_sequence_number_changes():
    rows = handshake() + [tcp(S, C, "R", seq=501, t=1), tcp(S, C, "R", seq=501, t=1.1),
                          tcp(S, C, "R", seq=2000, t=1.2)]
    assert only(rows).history == "ShArr"


def test_ack_and_data_letters_appear_once_per_direction():
    rows = handshake() + [data(C, S, 101, 501), data(C, S, 111, 501, t=0.4), data(S, C, 501, 121, t=0.5),
                          tcp(C, S, "A", seq=121, ack=511, t=0.6)]
    assert only(rows).history == "ShADd"


def test_syn_fin_is_a_multi_flag_packet_q():
    conv = only([tcp(C, S, "SF", seq=100)])
    assert (conv.history, conv.conn_state) == ("Q", "SH")


def test_fin_rst_is_an_inconsistent_packet_i():
    assert only(handshake() + [tcp(C, S, "FR", seq=101, t=1)]).history == "ShAI"


def test_bad_checksum_is_dropped_with_letter_c_only_when_verifying():
    rows = [tcp(C, S, "S", seq=100, bad_checksum=True)]
    checked = only(rows, verify_checksums=True)
    assert (checked.conn_state, checked.history, checked.orig_pkts) == ("OTH", "C", 0)
    assert only(rows).history == "S"


def test_retransmitted_data_gives_t_logarithmically():
    rows = handshake() + [data(C, S, 101, 501)]
    rows += [data(C, S, 101, 501, t=0.4 + i / 100) for i in range(10)]
    conv = only(rows)
    assert conv.history == "ShADTT"  # the 1st and the 10th retransmission
    assert conv.retransmissions == 10


def test_zero_window_gives_w():
    rows = handshake() + [tcp(S, C, "A", seq=501, ack=101, win=0, t=0.5)]
    assert only(rows).history == "ShAaw"  # the pure ACK first, then its zero window


def test_syn_ack_before_syn_flips_roles():
    rows = [tcp(S, C, "SA", seq=500, ack=101), tcp(C, S, "S", seq=100, t=0.01),
            tcp(C, S, "A", seq=101, ack=501, t=0.02)]
    conv = only(rows)
    assert (conv.history, conv.orig_h, conv.orig_p, conv.conn_state) == ("Hs^A", "10.0.0.1", 40000, "S1")


def test_syn_ack_followed_by_ack_is_flipped_as_from_the_start():
    conv = only([tcp(S, C, "SA", seq=500, ack=101), tcp(C, S, "A", seq=101, ack=501, t=0.1)])
    assert (conv.history, conv.orig_p, conv.resp_p) == ("^hA", 40000, 5555)


def test_first_packet_from_a_well_known_port_is_flipped_at_once():
    conv = only([data(W, C, 500, 101, t=0)])
    assert (conv.history, conv.orig_p, conv.resp_p, conv.partial) == ("^d", 40000, 80, True)


def test_port_reuse_after_close_starts_a_new_conversation_even_with_the_same_isn():
    first = handshake() + [tcp(C, S, "FA", seq=101, ack=501, t=0.5), tcp(S, C, "FA", seq=501, ack=102, t=0.6),
                           tcp(C, S, "A", seq=102, ack=502, t=0.7)]
    convs = build_conversations(table(first + handshake(t=2.0)))
    assert [c.conn_state for c in convs] == ["SF", "S1"]
    assert convs[0].tcp_stream == convs[1].tcp_stream  # tshark keeps one stream: same ISN


def test_rst_only_packets_a_minute_apart_are_separate_connections():
    rows = [tcp(C, S, "R", seq=7, t=0), tcp(C, S, "R", seq=7, t=60), tcp(C, S, "R", seq=7, t=61)]
    convs = build_conversations(table(rows))
    assert [(c.conn_state, c.history, len(c.rows)) for c in convs] == [("OTH", "R", 1), ("OTH", "R", 2)]


def test_unanswered_syn_is_removed_by_the_attempt_timer():
    packets = table([tcp(C, S, "S", seq=100, t=0), tcp(C, S, "S", seq=100, t=6)])
    assert [c.history for c in build_conversations(packets, attempts=False)] == ["S", "S"]
    assert [(c.history, c.syn_count, c.zeek_connections) for c in build_conversations(packets)] == [("S", 2, 2)]


def test_idle_partial_connection_is_removed_after_the_inactivity_timeout():
    rows = [data(C, S, 1000, 2000, t=0), data(S, C, 2000, 1010, t=1), data(C, S, 1010, 2010, t=302)]
    assert [len(c.rows) for c in build_conversations(table(rows))] == [2, 1]


def test_endpoint_states_follow_the_handshake_and_close():
    conn = ZeekConnection(0, (1, 40000), (2, 80))
    conn.feed(0, (1, 40000), 0x02, 100, 0, 0, 1000)
    assert (conn.orig.state, conn.resp.state) == (SYN_SENT, INACTIVE)
    conn.feed(1, (2, 80), 0x12, 500, 101, 0, 1000)
    assert (conn.orig.state, conn.resp.state) == (ESTABLISHED, ESTABLISHED)
    conn.feed(2, (1, 40000), 0x11, 101, 501, 0, 1000)
    conn.feed(3, (2, 80), 0x04, 501, 0, 0, 0)
    assert (conn.orig.state, conn.resp.state) == (CLOSED, RESET)


def test_sequence_difference_wraps_around_32_bits():
    assert seq_delta(5, 0xFFFFFFFB) == 10
    assert seq_delta(0xFFFFFFFB, 5) == -10
