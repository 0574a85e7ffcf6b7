"""The tshark engine on crafted captures: every column it fills, every way a file can go wrong."""

from __future__ import annotations

from decimal import Decimal

import pytest
from scapy.all import (
    ARP, GRE, ICMP, IP, TCP, UDP, VXLAN, Ether, ICMPv6DestUnreach, IPv6, IPv6ExtHdrFragment, PcapWriter,
    fragment, raw, wrpcap,
)

from netreset.errors import CaptureError
from netreset.ingest.frames import ENCAP_GRE, ENCAP_IPIP, ENCAP_NONE, ENCAP_VXLAN
from netreset.ingest.tshark import engine as tshark_engine
from netreset.ingest.tshark.engine import read_capture_files_tshark, read_capture_tshark
from netreset.ingest.tshark.rows import Layers, epoch_ns
from netreset.packets.table import ACK, PSH, RST, SYN

def eth():
    """An Ethernet header with fixed addresses (scapy would look the MAC up and warn)."""
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


try:
    tshark_engine.find_tshark()
    HAVE_TSHARK = True
except CaptureError:
    HAVE_TSHARK = False

requires_tshark = pytest.mark.skipif(not HAVE_TSHARK, reason="tshark not installed")
T0 = Decimal("1700000000.123456")


def write(path, packets, **kwargs):
    """Write scapy packets with timestamps T0, T0+1 s, ... and return the path as text."""
    for i, packet in enumerate(packets):
        packet.time = T0 + i
    wrpcap(str(path), packets, **kwargs)
    return str(path)


def rows_by_frame(table):
    return {row["frame"]: row for row in (table.row(i) for i in range(len(table)))}


# --- pure helpers -------------------------------------------------------------------------------

def test_epoch_ns_is_exact_where_a_float_would_round():
    assert epoch_ns("1630165473.690298123") == 1630165473690298123
    assert epoch_ns("1630165473.5") == 1630165473500000000
    assert epoch_ns("7") == 7_000_000_000


def test_layers_find_the_tunnel_around_the_innermost_ip():
    layers = Layers("eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp")
    inner = layers.ip_before(layers.first("tcp"))
    outer = layers.tunnel_ip_before(inner)
    assert (layers.ordinal[inner], layers.ordinal[outer]) == (1, 0)
    assert layers.encap(outer, inner) == ENCAP_VXLAN


def test_layers_call_adjacent_ip_headers_ip_in_ip_and_skip_sibling_packets():
    layers = Layers("eth:ethertype:ipv6:ipv6.hopopts:ip:tcp")
    assert layers.encap(2, 4) == ENCAP_IPIP
    amsdu = Layers("eth:ethertype:ip:gre:wlan:llc:ip:tcp:tls:llc:ip:tcp")
    assert amsdu.tunnel_ip_before(10) == 2  # the first inner packet does not tunnel the second
    assert amsdu.encap(2, 10) == ENCAP_GRE
    assert Layers("eth:ethertype:ip:tcp").tunnel_ip_before(2) == -1
    assert Layers("eth:ethertype:ip:udp:foo:eth:ip:tcp").encap(2, 6) == ENCAP_NONE


# --- crafted captures ---------------------------------------------------------------------------

@pytest.mark.tshark
@requires_tshark
class TestCraftedCaptures:
    def test_syn_options_flags_and_exact_timestamps(self, tmp_path):
        syn = eth() / IP(src="10.0.0.1", dst="10.0.0.2", ttl=61, id=4242, flags="DF") / TCP(
            sport=40000, dport=443, seq=1000, window=64240, flags="S",
            options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (111, 0)), ("NOP", None), ("WScale", 7)])
        table, stats = read_capture_tshark(write(tmp_path / "syn.pcap", [syn]))
        row = table.row(0)
        assert (stats.frames_total, stats.tcp_packets, stats.file_format) == (1, 1, "pcap")
        assert row["ts_ns"] == 1700000000123456000 and row["frame"] == 1
        assert table.book.name(row["src"]) == "10.0.0.1" and table.book.name(row["dst"]) == "10.0.0.2"
        assert (row["ttl"], row["ip_id"], row["df"], row["ip_len"]) == (61, 4242, True, 60)
        assert (row["sport"], row["dport"], row["flags"], row["seq"], row["win"]) == (40000, 443, SYN, 1000, 64240)
        assert (row["mss"], row["wscale"], row["sack_perm"], row["ts_val"], row["ts_ecr"]) == (1460, 7, True, 111, 0)
        assert table.book.signatures[row["options_sig"]] == "M,S,T,N,W"

    def test_ack_number_is_kept_even_without_the_ack_flag(self, tmp_path):
        rst = eth() / IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=443, dport=40000, seq=5, ack=99, flags="R")
        data = eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(flags="PA", seq=7, ack=8) / (b"x" * 321)
        table, _ = read_capture_tshark(write(tmp_path / "rst.pcap", [rst, data]))
        assert (table.flags[0], table.seq[0], table.ack[0], table.options_sig[0]) == (RST, 5, 99, -1)
        assert (table.flags[1], table.payload_len[1], table.captured_payload[1]) == (PSH | ACK, 321, 321)

    def test_nanosecond_pcap_keeps_every_digit(self, tmp_path):
        packet = eth() / IP() / TCP()
        packet.time = Decimal("1700000000.123456789")
        path = str(tmp_path / "ns.pcap")
        wrpcap(path, [packet], nano=True)
        table, stats = read_capture_tshark(path)
        assert stats.file_format == "pcap-ns" and table.ts_ns[0] == 1700000000123456789

    def test_icmp_errors_quote_the_tcp_header_they_answer(self, tmp_path):
        quoted = IP(src="10.0.0.1", dst="8.8.8.8", ttl=1) / TCP(sport=40000, dport=888, seq=777, flags="S")
        v4 = eth() / IP(src="192.0.2.9", dst="10.0.0.1", ttl=253) / ICMP(type=11, code=0) / raw(quoted)[:28]
        v6 = eth() / IPv6(src="2001:db8::9", dst="2001:db8::1", hlim=60) / ICMPv6DestUnreach(code=1) / IPv6(
            src="2001:db8::1", dst="2001:db8::2", hlim=7) / TCP(sport=5, dport=6, seq=3)
        echo = eth() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8)
        table, stats = read_capture_tshark(write(tmp_path / "icmp.pcap", [v4, v6, echo]))
        assert stats.icmp_errors == 2 and stats.tcp_packets == 0 and stats.other_protocols["icmp"] == 1
        first, second = table.row(0), table.row(1)
        assert (first["proto"], first["icmp_type"], first["icmp_code"], first["ttl"]) == (1, 11, 0, 253)
        assert table.book.name(first["src"]) == "192.0.2.9" and table.book.name(first["q_dst"]) == "8.8.8.8"
        assert (first["q_sport"], first["q_dport"], first["q_seq"], first["q_ttl"]) == (40000, 888, 777, 1)
        assert (second["proto"], second["icmp_type"], second["q_sport"], second["q_seq"], second["q_ttl"]) == (
            58, 1, 5, 3, 7)
        assert table.book.name(second["q_src"]) == "2001:db8::1"

    def test_tunnels_give_the_inner_header_and_remember_the_outer_one(self, tmp_path):
        inner = IP(src="10.9.9.9", dst="10.8.8.8", ttl=33) / TCP(sport=1, dport=2, flags="A")
        gre = eth() / IP(src="1.1.1.1", dst="2.2.2.2", ttl=200) / GRE() / inner
        vxlan = eth() / IP(src="3.3.3.3", dst="4.4.4.4") / UDP(sport=5555, dport=4789) / VXLAN(vni=7) / eth() / inner
        ipip = eth() / IP(src="5.5.5.5", dst="6.6.6.6") / inner
        table, _ = read_capture_tshark(write(tmp_path / "tunnels.pcap", [gre, vxlan, ipip]))
        assert list(table.ttl) == [33, 33, 33]
        assert list(table.encap) == [ENCAP_GRE, ENCAP_VXLAN, ENCAP_IPIP]
        assert [table.book.name(a) for a in table.outer_src] == ["1.1.1.1", "3.3.3.3", "5.5.5.5"]
        assert {table.book.name(a) for a in table.src} == {"10.9.9.9"}

    def test_vlan_and_ipv6_fragment_header(self, tmp_path):
        from scapy.all import Dot1Q
        tagged = eth() / Dot1Q(vlan=42) / IP() / TCP()
        v6 = eth() / IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=50) / IPv6ExtHdrFragment(id=0x1234) / TCP(
            flags="SA")
        table, _ = read_capture_tshark(write(tmp_path / "v.pcap", [tagged, v6]))
        assert (table.vlan[0], table.ip_version[0], table.vlan[1]) == (42, 4, -1)
        assert (table.ip_version[1], table.ip_id[1], table.ttl[1], table.flags[1]) == (6, 0x1234, 50, SYN | ACK)

    def test_fragments_stay_on_the_first_fragment_and_later_ones_are_counted(self, tmp_path):
        packet = IP(src="10.0.0.1", dst="10.0.0.2", id=9) / TCP(flags="PA") / (b"x" * 100)
        frames = [eth() / part for part in fragment(packet, fragsize=48)]
        table, stats = read_capture_tshark(write(tmp_path / "frag.pcap", frames))
        assert list(table.frame) == [1] and stats.non_first_fragments == len(frames) - 1
        # the row describes the first fragment as captured: its own IP length and TCP bytes
        assert table.payload_len[0] == 48 - 20 and table.ip_len[0] == 20 + 48

    def test_other_protocols_are_counted_by_name(self, tmp_path):
        frames = [eth() / ARP(), eth() / IP() / UDP(sport=1, dport=53) / b"q", eth() / IP() / TCP()]
        table, stats = read_capture_tshark(write(tmp_path / "mix.pcap", frames))
        assert len(table) == 1 and stats.frames_total == 3
        assert stats.other_protocols == {"arp": 1, "udp": 1}

    def test_snaplen_cut_segments_keep_headers_and_a_cut_header_is_a_problem(self, tmp_path):
        big = eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(flags="PA") / (b"y" * 1000)
        path = str(tmp_path / "cut.pcap")
        with PcapWriter(path, snaplen=80) as writer:
            for caplen in (80, 40):
                packet = Ether(raw(big)[:caplen])
                packet.wirelen = len(big)
                writer.write(packet)
        table, stats = read_capture_tshark(path)
        assert (len(table), table.payload_len[0], table.captured_payload[0]) == (1, 1000, 80 - 54)
        assert stats.problems == {"truncated-tcp": 1}


# --- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, what", [
    (lambda p: p, "no such file"),
    (lambda p: (p.mkdir(), p)[1], "is a directory"),
    (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
])
def test_unreadable_paths_are_one_line_errors(tmp_path, make, what):
    path = make(tmp_path / "capture.pcap")
    with pytest.raises(CaptureError) as caught:
        read_capture_tshark(path)
    assert caught.value.what == what and caught.value.path == str(path)


@pytest.mark.tshark
@requires_tshark
def test_a_file_tshark_cannot_read_is_a_capture_error_with_tsharks_words(tmp_path):
    path = tmp_path / "garbage.pcap"
    path.write_bytes(b"this is not a capture file at all" * 10)
    with pytest.raises(CaptureError) as caught:
        read_capture_tshark(path)
    assert "format" in caught.value.what and "\n" not in caught.value.what


@pytest.mark.tshark
@requires_tshark
def test_a_cut_last_record_is_a_warning_and_the_rest_is_read(tmp_path):
    frames = [eth() / IP() / TCP(seq=i) / (b"z" * 200) for i in range(3)]
    path = tmp_path / "short.pcap"
    write(path, frames)
    path.write_bytes(path.read_bytes()[:-100])
    table, stats = read_capture_tshark(path)
    assert len(table) == 2 and stats.warnings and stats.warnings[0].startswith("tshark: ")


def test_missing_tshark_says_how_to_install_it(tmp_path, monkeypatch):
    from pyshark.tshark import tshark as pyshark_tshark

    def not_found(*args, **kwargs):
        raise pyshark_tshark.TSharkNotFoundException("TShark not found")

    monkeypatch.setattr(pyshark_tshark, "get_process_path", not_found)
    path = write(tmp_path / "one.pcap", [eth() / IP() / TCP()])
    with pytest.raises(CaptureError) as caught:
        read_capture_tshark(path)
    assert caught.value.what == "tshark not found: install Wireshark's tshark (apt install tshark)"
    assert caught.value.path == path


@pytest.mark.tshark
@requires_tshark
def test_checksums_are_marked_only_when_asked(tmp_path):
    good = eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(flags="S")
    bad_tcp = eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(flags="A", chksum=0x1234)
    bad_ip = eth() / IP(src="10.0.0.1", dst="10.0.0.2", chksum=0x1234) / TCP(flags="A")
    path = write(tmp_path / "sums.pcap", [good, bad_tcp, bad_ip])
    assert read_capture_tshark(path)[0].checksum.tolist() == [0, 0, 0]
    assert read_capture_tshark(path, verify_checksums=True)[0].checksum.tolist() == [1, 2, 2]


@pytest.mark.tshark
@requires_tshark
def test_several_files_merge_in_time_order_with_their_file_ids(tmp_path):
    first = write(tmp_path / "a.pcap", [eth() / IP() / TCP(seq=s) for s in (1, 2)])  # T0, T0+1
    late = eth() / IP() / TCP(seq=3)
    late.time = T0 + Decimal("0.5")
    second = str(tmp_path / "b.pcap")
    wrpcap(second, [late])
    table, stats = read_capture_files_tshark([first, second])
    assert table.seq.tolist() == [1, 3, 2] and table.file_id.tolist() == [0, 1, 0]
    assert stats.frames_total == 3 and stats.file_format == "pcap"
    assert stats.paths == [first, second]
