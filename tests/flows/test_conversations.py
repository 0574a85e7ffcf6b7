"""Conversation grouping, counts, tcp.stream numbering and tcp.completeness (crafted packets),
plus a differential check against tshark on captures built here."""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict

import numpy as np
import pytest

from builders import table, table_from_scapy, tcp
from netreset.flows.completeness import describe
from netreset.flows.conversations import build_conversations

C, S = "10.0.0.1:40000", "10.0.0.2:5555"

# (name, packets as (direction, flags, seq, ack, payload)) -> tshark 4.0.17's answers, per stream in
# order: completeness. Measured with `tshark -2 -T fields -e tcp.stream -e tcp.completeness`.
SCENARIOS = {
    "normal": ([(">", "S", 100, 0, 0), ("<", "SA", 500, 101, 0), (">", "A", 101, 501, 0),
                (">", "PA", 101, 501, 10), ("<", "A", 501, 111, 0), (">", "FA", 111, 501, 0),
                ("<", "FA", 501, 112, 0), (">", "A", 112, 502, 0)], [31]),
    "syn_ack_only": ([("<", "SA", 500, 101, 0)], [0]),
    "syn_ack_then_syn": ([("<", "SA", 500, 101, 0), (">", "S", 100, 0, 0), (">", "A", 101, 501, 0),
                          (">", "PA", 101, 501, 1), (">", "FA", 102, 501, 0), ("<", "FA", 501, 103, 0),
                          (">", "A", 103, 502, 0)], [30]),
    "one_data_packet": ([(">", "PA", 101, 501, 1)], [0]),
    "two_data_packets": ([(">", "PA", 101, 501, 1), (">", "PA", 102, 501, 1)], [8]),
    "two_rsts": ([(">", "R", 101, 0, 0), (">", "R", 101, 0, 0)], [32]),
    "syn": ([(">", "S", 100, 0, 0)], [1]),
    "syn_new_isn": ([(">", "S", 100, 0, 0), (">", "S", 900, 0, 0)], [1, 1]),
    "refused_same_isn_twice": ([(">", "S", 100, 0, 0), ("<", "RA", 0, 101, 0), (">", "S", 100, 0, 0),
                                ("<", "RA", 0, 101, 0)], [37]),
    "fin_without_ack": ([(">", "S", 100, 0, 0), ("<", "A", 0, 0, 0), (">", "F", 101, 0, 0),
                         (">", "R", 101, 0, 0)], [37]),
    "reset_then_data": ([(">", "S", 100, 0, 0), ("<", "SA", 500, 101, 0), (">", "R", 101, 0, 0),
                         (">", "PA", 101, 501, 1), ("<", "R", 501, 0, 0)], [43]),
    "midstream_then_new_syn": ([(">", "PA", 101, 501, 1), ("<", "A", 501, 102, 0), (">", "S", 5000, 0, 0)],
                               [12, 1]),
    "closed_then_same_isn": ([(">", "S", 100, 0, 0), ("<", "SA", 500, 101, 0), (">", "A", 101, 501, 0),
                              (">", "FA", 101, 501, 0), (">", "S", 100, 0, 0)], [23]),
}


def rows_of(packets, server=S):
    out = []
    for i, (way, flags, seq, ack, payload) in enumerate(packets):
        src, dst = (C, server) if way == ">" else (server, C)
        out.append(tcp(src, dst, flags, seq=seq, ack=ack, payload=payload, t=i * 0.1))
    return out


def streams(convs):
    values = {}
    for conv in convs:
        values[conv.tcp_stream] = conv.completeness
    return [values[k] for k in sorted(values)]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_completeness_and_stream_split_match_tshark(name):
    packets, expected = SCENARIOS[name]
    assert streams(build_conversations(table(rows_of(packets)))) == expected


def test_tuples_are_grouped_in_both_directions_and_numbered_by_first_packet():
    other = "10.0.0.3:40001"
    rows = [tcp(other, S, "S", seq=1, t=0), tcp(C, S, "S", seq=100, t=0.1), tcp(S, C, "SA", seq=5, ack=101, t=0.2),
            tcp(S, other, "SA", seq=9, ack=2, t=0.3)]
    convs = build_conversations(table(rows))
    assert [(c.id, c.tcp_stream, c.orig_h, len(c.rows)) for c in convs] == [
        (0, 0, "10.0.0.3", 2), (1, 1, "10.0.0.1", 2)]
    assert convs[1].rows.tolist() == [1, 2]
    assert convs[1].from_orig.tolist() == [True, False]


def test_counts_bytes_and_outcome():
    rows = rows_of(SCENARIOS["normal"][0])
    conv = build_conversations(table(rows))[0]
    assert (conv.orig_pkts, conv.resp_pkts) == (5, 3)
    assert (conv.orig_bytes, conv.resp_bytes, conv.orig_seq_bytes, conv.resp_seq_bytes) == (10, 0, 10, 0)
    assert conv.orig_ip_bytes == 5 * 40 + 10
    assert (conv.outcome, conv.partial, describe(conv.completeness)) == (
        "clean", False, "SYN+SYN-ACK+ACK+DATA+FIN")
    assert conv.duration_s == pytest.approx(0.7)


def test_refusals_each_become_a_zeek_connection_in_one_tcp_stream_and_one_attempt():
    packets = table(rows_of(SCENARIOS["refused_same_isn_twice"][0]))
    convs = build_conversations(packets, attempts=False)
    assert [(c.conn_state, c.outcome, c.tcp_stream) for c in convs] == [("REJ", "refused", 0)] * 2
    # the same SYN refused twice is one connection attempt, as it is one Wireshark stream
    [conv] = build_conversations(packets)
    assert (conv.conn_state, conv.history, conv.tcp_stream, conv.syn_count, conv.zeek_connections) == (
        "REJ", convs[-1].history, 0, 2, 2)


def test_midstream_conversation_is_partial():
    conv = build_conversations(table(rows_of(SCENARIOS["two_data_packets"][0])))[0]
    assert (conv.partial, conv.outcome, conv.conn_state) == (True, "partial", "OTH")


def test_ipv6_and_scapy_built_packets():
    scapy = pytest.importorskip("scapy.all")
    a, b = "2001:db8::1", "2001:db8::2"
    pkts = [scapy.IPv6(src=a, dst=b) / scapy.TCP(sport=40000, dport=5555, flags="S", seq=1),
            scapy.IPv6(src=b, dst=a) / scapy.TCP(sport=5555, dport=40000, flags="RA", seq=0, ack=2)]
    for i, pkt in enumerate(pkts):
        pkt.time = i
    conv = build_conversations(table_from_scapy(pkts))[0]
    assert (conv.ip_version, conv.orig_h, conv.conn_state, conv.completeness) == (6, a, "REJ", 37)


def test_no_tcp_rows_gives_no_conversations():
    assert build_conversations(table([])) == []


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_differential_against_tshark_on_built_captures(tmp_path):
    scapy = pytest.importorskip("scapy.all")
    from netreset.ingest.reader import read_capture

    for name, (packets, _) in SCENARIOS.items():
        path = tmp_path / f"{name}.pcap"
        scapy.wrpcap(str(path), [_scapy_packet(scapy, i, p) for i, p in enumerate(packets)])
        out = subprocess.run(["tshark", "-n", "-2", "-r", str(path), "-T", "fields", "-e", "tcp.stream",
                              "-e", "tcp.completeness"], capture_output=True, text=True, check=True).stdout
        theirs = defaultdict(int)
        stream_per_packet = []
        for line in out.splitlines():
            stream, value = (int(x) for x in line.split("\t"))
            theirs[stream] = value  # the last packet's value is the final one
            stream_per_packet.append(stream)
        table_, _ = read_capture(path)
        convs = build_conversations(table_)
        ours = np.full(len(table_), -1)
        for conv in convs:
            ours[conv.rows] = conv.tcp_stream
        assert ours.tolist() == stream_per_packet, name
        assert streams(convs) == [theirs[k] for k in sorted(theirs)], name


def _scapy_packet(scapy, i, packet):
    way, flags, seq, ack, payload = packet
    (src, sport), (dst, dport) = ("10.0.0.1", 40000), ("10.0.0.2", 5555)
    if way == "<":
        (src, sport), (dst, dport) = (dst, dport), (src, sport)
    pkt = scapy.Ether() / scapy.IP(src=src, dst=dst) / scapy.TCP(sport=sport, dport=dport, flags=flags,
                                                                 seq=seq, ack=ack)
    if payload:
        pkt = pkt / scapy.Raw(b"x" * payload)
    pkt.time = i * 0.1
    return pkt
