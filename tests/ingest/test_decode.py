"""The frame decoder on crafted packets: link layers, tunnels, IPv6 extensions, fragments, ICMP
quotes, truncation, TCP options and checksums."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from scapy.all import (
    AH, ARP, GRE, HDLC, ICMP, IP, PPP, TCP, UDP, VXLAN, CookedLinux, CookedLinuxV2, Dot11, Dot11QoS,
    Dot1AD, Dot1Q, Ether, ICMPv6EchoRequest, ICMPv6TimeExceeded, IPerror, IPv6, IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, LLC, PPPoE, RadioTap, SNAP, TCPerror,
    UDPerror, fragment,
)
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
from scapy.contrib.geneve import GENEVE
from scapy.contrib.mpls import MPLS

from netreset.ingest.frames import (
    ENCAP_AYIYA,
    ENCAP_ERSPAN,
    ENCAP_GENEVE,
    ENCAP_GRE,
    ENCAP_IPIP,
    ENCAP_TEREDO,
    ENCAP_VXLAN,
    IngestStats,
    RawFrame,
)
from netreset.ingest.layers.decode import Decoder
from netreset.ingest.layers.link import LINK_DECODERS
from netreset.packets.table import ACK, PSH, SYN, AddressBook

def eth(**fields) -> Ether:
    """Ethernet with fixed addresses: scapy would otherwise ARP for the destination of every build."""
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", **fields)


INNER = IP(src="10.0.0.1", dst="10.0.0.2", ttl=61, id=4242, flags="DF") / TCP(
    sport=40000, dport=443, flags="PA", seq=1000, ack=2000, window=512) / (b"x" * 10)
INNER6 = IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=57) / TCP(sport=40000, dport=443, flags="S", seq=7)


def run(linktype: int, data: bytes, verify: bool = False):
    """Decode one frame → (row dict or reason, stats, address book)."""
    book, stats = AddressBook(), IngestStats()
    decoder = Decoder(book, stats, verify_checksums=verify)
    frame = RawFrame(frame=1, ts_ns=5, iface=0, linktype=linktype, caplen=len(data), wirelen=len(data),
                     data=bytes(data))
    return decoder.decode(frame), stats, book


def row_of(linktype: int, data: bytes, verify: bool = False) -> tuple[dict, AddressBook]:
    row, stats, book = run(linktype, data, verify)
    assert isinstance(row, dict), f"no row: {row}"
    assert stats.tcp_packets + stats.icmp_errors == 1
    return row, book


def assert_inner_tcp(row: dict, book: AddressBook) -> None:
    assert (book.name(row["src"]), book.name(row["dst"])) == ("10.0.0.1", "10.0.0.2")
    assert (row["sport"], row["dport"], row["seq"], row["ack"]) == (40000, 443, 1000, 2000)
    assert (row["ttl"], row["ip_id"], row["df"], row["flags"]) == (61, 4242, True, PSH | ACK)
    assert (row["payload_len"], row["captured_payload"], row["win"]) == (10, 10, 512)


def test_ethernet_ipv4_tcp_fills_every_header_column():
    row, book = row_of(1, bytes(eth() / INNER))
    assert_inner_tcp(row, book)
    assert (row["ip_version"], row["ip_len"], row["proto"], row["frame"], row["ts_ns"]) == (4, 50, 6, 1, 5)
    assert "vlan" not in row and "checksum" not in row


def test_ethernet_padding_does_not_count_as_payload():
    pkt = IP(src="10.0.0.1", dst="10.0.0.2") / TCP(flags="A")
    row, _ = row_of(1, bytes(eth() / pkt) + b"\0" * 6)
    assert row["payload_len"] == 0 and row["captured_payload"] == 0


@pytest.mark.parametrize("frame, vlan", [
    (eth() / Dot1Q(vlan=42) / INNER, 42),
    (eth() / Dot1AD(vlan=7) / Dot1Q(vlan=42) / INNER, 7),
    (eth(type=0x9100) / Dot1Q(vlan=9) / Dot1Q(vlan=42) / INNER, 9),
])
def test_vlan_tags_keep_the_outermost_id(frame, vlan):
    row, book = row_of(1, bytes(frame))
    assert row["vlan"] == vlan
    assert_inner_tcp(row, book)


@pytest.mark.parametrize("frame", [
    eth() / MPLS(label=16, s=0) / MPLS(label=17, s=1) / INNER,
    eth() / PPPoE(sessionid=3) / PPP(proto=0x0021) / INNER,
    eth() / Dot1Q(vlan=5) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(code=0x0800) / INNER,
])
def test_shims_between_ethernet_and_ip(frame):
    assert_inner_tcp(*row_of(1, bytes(frame)))


def test_mpls_guesses_ipv6_by_nibble():
    row, book = row_of(1, bytes(eth() / MPLS(s=1) / INNER6))
    assert (row["ip_version"], book.name(row["src"]), row["ttl"]) == (6, "2001:db8::1", 57)


def test_pbb_itag_and_customer_header_are_skipped():
    itag = b"\x00\x00\x01\x00" + b"\x02" * 12 + b"\x08\x00"
    frame = b"\x01" * 12 + b"\x88\xe7" + itag + bytes(INNER)
    assert_inner_tcp(*row_of(1, frame))


IPV4_LINK_FRAMES = [
    (1, bytes(eth() / INNER)), (12, bytes(INNER)), (14, bytes(INNER)), (101, bytes(INNER)), (228, bytes(INNER)),
    (113, bytes(CookedLinux(proto=0x0800) / INNER)),
    (276, bytes(CookedLinuxV2(proto=0x0800) / INNER)),
    (0, struct.pack("<I", 2) + bytes(INNER)), (0, struct.pack(">I", 2) + bytes(INNER)),
    (108, struct.pack(">I", 2) + bytes(INNER)),
    (9, bytes(PPP(proto=0x0021) / INNER)), (9, b"\x21" + bytes(INNER)),
    (50, bytes(HDLC() / PPP(proto=0x0021) / INNER)),
    (10, b"\x50" + b"\x01" * 12 + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + bytes(INNER)),
    (104, b"\x0f\x00\x08\x00" + bytes(INNER)),
    (105, bytes(Dot11(type=2, subtype=0) / LLC() / SNAP(code=0x0800) / INNER)),
    (105, bytes(Dot11(type=2, subtype=8) / Dot11QoS() / LLC() / SNAP(code=0x0800) / INNER)),
    (127, bytes(RadioTap() / Dot11(type=2, subtype=0) / LLC() / SNAP(code=0x0800) / INNER)),
    (51, bytes(PPPoE(sessionid=3) / PPP(proto=0x0021) / INNER)),
    (9, b"\x0f\x00\x08\x00" + bytes(INNER)),  # a PPP link carrying Cisco HDLC framing
    (239, b"\x02\x00\x00\x05" + struct.pack("<HH", 9, 10) + b"ulog\0\0\0\0"
     + struct.pack("<HH", 4 + len(INNER), 9) + bytes(INNER)),
    (242, bytes(20) + b"\x00\x00\x00\x32" + bytes(16) + b"\x08\x00\x00\x00" + bytes(INNER)),
]
IPV6_LINK_FRAMES = [
    (229, bytes(INNER6)), (101, bytes(INNER6)),
    (0, struct.pack("<I", 24) + bytes(INNER6)), (0, struct.pack("<I", 28) + bytes(INNER6)),
    (108, struct.pack(">I", 30) + bytes(INNER6)),
    (276, bytes(CookedLinuxV2(proto=0x86DD) / INNER6)),
]


@pytest.mark.parametrize("linktype, frame", IPV4_LINK_FRAMES)
def test_link_types_reach_the_same_ipv4_tcp(linktype, frame):
    assert_inner_tcp(*row_of(linktype, frame))


@pytest.mark.parametrize("linktype, frame", IPV6_LINK_FRAMES)
def test_link_types_reach_ipv6_tcp(linktype, frame):
    row, book = row_of(linktype, frame)
    assert (row["ip_version"], book.name(row["dst"]), row["flags"], row["seq"]) == (6, "2001:db8::2", SYN, 7)


def test_every_supported_link_type_has_a_frame_above():
    """A link type added to the dispatch table needs a frame of its own in IPV4_LINK_FRAMES or IPV6_LINK_FRAMES."""
    assert {linktype for linktype, _ in IPV4_LINK_FRAMES + IPV6_LINK_FRAMES} == set(LINK_DECODERS)


def test_docs_list_exactly_the_supported_link_types():
    """docs/ingest.md's table of link types names every entry of the dispatch table, and no other."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "ingest.md").read_text()
    table = text.split("## Link types", 1)[1].split("\n\n", 2)[1]
    documented = {int(n) for row in table.splitlines()[2:] for n in row.split("|")[1].split(",")}
    assert documented == set(LINK_DECODERS)


@pytest.mark.parametrize("linktype, frame, bucket, reason", [
    (1, bytes(eth() / ARP()), "other", "arp"),
    (1, bytes(eth() / IP() / UDP(dport=53)), "other", "udp"),
    (1, bytes(eth() / IP() / ICMP()), "other", "icmp"),
    (1, bytes(eth(type=0x88CC) / (b"\0" * 40)), "other", "lldp"),
    (1, bytes(eth(type=0x1234) / (b"\0" * 40)), "problem", "unsupported-ethertype"),
    (1, bytes(eth())[:10], "problem", "truncated-ethernet"),
    (1, bytes(eth() / INNER)[:14 + 20 + 10], "problem", "truncated-tcp"),
    (1, bytes(eth() / INNER)[:14 + 12], "problem", "truncated-ip"),
    (147, bytes(INNER), "problem", "unsupported-linktype-147"),
    (105, bytes(Dot11(type=0, subtype=8) / (b"\0" * 40)), "other", "wlan-management"),
    (105, bytes(Dot11(type=2, FCfield="protected") / (b"\0" * 40)), "other", "wlan-protected"),
    (12, b"\x50" + bytes(INNER)[1:], "problem", "bad-ip-version"),
])
def test_frames_without_a_row_are_counted_by_reason(linktype, frame, bucket, reason):
    result, stats, _ = run(linktype, frame)
    assert result == reason
    counted = stats.other_protocols if bucket == "other" else stats.problems
    assert counted == {reason: 1}
    assert stats.tcp_packets == 0


def test_ipv4_options_are_skipped_by_ihl():
    pkt = IP(src="10.0.0.1", dst="10.0.0.2", ttl=61, id=4242, flags="DF", options=b"\x01" * 8) / INNER[TCP]
    assert_inner_tcp(*row_of(1, bytes(eth() / pkt)))


def test_ipv4_tso_zero_total_length_uses_the_captured_length():
    raw = bytearray(bytes(INNER))
    raw[2:4] = b"\0\0"
    row, book = row_of(12, bytes(raw))
    assert_inner_tcp(row, book)


@pytest.mark.parametrize("ext", [
    IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(), IPv6ExtHdrRouting(addresses=["2001:db8::9"], segleft=1),
    # scapy does not checksum TCP behind AH: the segment is built without it (same pseudo-header)
    IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / AH(nh=6, payloadlen=4, icv=b"\0" * 12)
    / bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=1, dport=2, flags="S"))[40:],
])
def test_ipv6_extension_headers_are_walked(ext):
    pkt = IPv6(src="2001:db8::1", dst="2001:db8::2") / ext
    if AH not in pkt:
        pkt = pkt / TCP(sport=1, dport=2, flags="S")
    row, _ = row_of(229, bytes(pkt), verify=True)
    assert (row["sport"], row["dport"], row["ip_len"], row["checksum"]) == (1, 2, len(pkt), 1)


def test_ipv6_first_fragment_gives_a_row_and_later_ones_are_counted():
    pkt = IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(id=99, m=1) / TCP(flags="A")
    row, _ = row_of(229, bytes(pkt))
    assert (row["ip_id"], row["flags"]) == (99, ACK)
    later = IPv6() / IPv6ExtHdrFragment(id=99, offset=3) / (b"y" * 16)
    result, stats, _ = run(229, bytes(later))
    assert result == "non-first-fragment" and stats.non_first_fragments == 1


def test_ipv4_fragments_first_gives_the_header_the_rest_are_counted():
    frags = fragment(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=5, dport=6) / (b"z" * 100), fragsize=48)
    row, _ = row_of(12, bytes(frags[0]), verify=True)
    assert (row["sport"], row["payload_len"], "checksum" in row) == (5, 28, False)
    stats = [run(12, bytes(f))[1] for f in frags[1:]]
    assert [s.non_first_fragments for s in stats] == [1] * (len(frags) - 1)


def test_snaplen_truncated_segment_keeps_its_header_and_true_payload_length():
    row, book = row_of(1, bytes(eth() / INNER)[:14 + 20 + 20 + 4], verify=True)
    assert (row["payload_len"], row["captured_payload"], row["ip_len"]) == (10, 4, 50)
    assert "checksum" not in row  # no verdict on a segment we do not have whole


def test_tcp_options_cut_by_snaplen_still_give_a_row():
    pkt = IP() / TCP(flags="S", options=[("MSS", 1400), ("NOP", None), ("WScale", 7), ("SAckOK", b""),
                                         ("Timestamp", (1, 0))])
    row, _ = row_of(12, bytes(pkt)[:20 + 20 + 4])
    assert (row["mss"], row["captured_payload"], row["payload_len"]) == (1400, 0, 0)


def test_syn_options_values_and_p0f_style_signature():
    opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (123, 0)), ("NOP", None), ("WScale", 7)]
    row, book = row_of(12, bytes(IP() / TCP(flags="S", options=opts)))
    assert (row["mss"], row["wscale"], row["sack_perm"], row["ts_val"], row["ts_ecr"]) == (1460, 7, True, 123, 0)
    assert book.signatures[row["options_sig"]] == "M,S,T,N,W"


def test_established_segment_reads_timestamps_but_no_signature():
    row, _ = row_of(12, bytes(IP() / TCP(flags="A", options=[("NOP", None), ("NOP", None),
                                                            ("Timestamp", (77, 66))])))
    assert (row["ts_val"], row["ts_ecr"], "options_sig" in row, "mss" in row) == (77, 66, False, False)


def test_tcp_data_offset_below_five_is_a_bad_header():
    raw = bytearray(bytes(INNER))
    raw[32] = 0x30
    result, stats, _ = run(12, bytes(raw))
    assert result == "bad-tcp-header" and stats.problems == {"bad-tcp-header": 1}


# --- tunnels -------------------------------------------------------------------------------------

OUTER = eth() / IP(src="192.0.2.1", dst="192.0.2.2")


@pytest.mark.parametrize("frame, encap", [
    (OUTER / GRE(proto=0x0800) / INNER, ENCAP_GRE),
    (OUTER / GRE(proto=0x0800, chksum_present=1, key_present=1, key=5, seqnum_present=1, sequence_number=9)
     / INNER, ENCAP_GRE),
    (OUTER / GRE(proto=0x6558) / eth() / Dot1Q(vlan=3) / INNER, ENCAP_GRE),
    (OUTER / GRE(proto=0x88BE) / eth() / INNER, ENCAP_ERSPAN),
    (OUTER / GRE(proto=0x88BE, seqnum_present=1) / ERSPAN_II() / eth() / INNER, ENCAP_ERSPAN),
    (OUTER / GRE(proto=0x22EB) / ERSPAN_III() / eth() / INNER, ENCAP_ERSPAN),
    (OUTER / UDP(sport=5555, dport=4789) / VXLAN(vni=10) / eth() / INNER, ENCAP_VXLAN),
    (OUTER / UDP(dport=6081) / GENEVE(proto=0x6558, options=b"\x01\x02\x03\x01" + b"\0" * 4) / eth() / INNER,
     ENCAP_GENEVE),
    (OUTER / UDP(dport=6081) / GENEVE(proto=0x0800) / INNER, ENCAP_GENEVE),
    (OUTER / INNER, ENCAP_IPIP),
    (eth() / IPv6(src="2001:db8::a", dst="2001:db8::b") / INNER, ENCAP_IPIP),
])
def test_tunnels_are_decapsulated_and_outer_addresses_kept(frame, encap):
    row, book = row_of(1, bytes(frame))
    assert_inner_tcp(row, book)
    assert row["encap"] == encap
    assert book.name(row["outer_src"]) in ("192.0.2.1", "2001:db8::a")
    assert book.name(row["outer_dst"]) in ("192.0.2.2", "2001:db8::b")


def test_6in4_and_teredo_and_ayiya_carry_ipv6():
    cases = [
        (OUTER / INNER6, ENCAP_IPIP),
        (OUTER / UDP(sport=3544, dport=40000) / INNER6, ENCAP_TEREDO),
        (OUTER / UDP(sport=3544, dport=40000) / (b"\x00\x00" + b"\0" * 6) / INNER6, ENCAP_TEREDO),
        (OUTER / UDP(sport=5072, dport=5072) / bytes([0x41, 0x52, 0x11, 41]) / (b"\0" * 4 + b"i" * 16 + b"s" * 20)
         / INNER6, ENCAP_AYIYA),
    ]
    for frame, encap in cases:
        row, book = row_of(1, bytes(frame))
        assert (row["encap"], book.name(row["src"]), row["seq"]) == (encap, "2001:db8::1", 7)


def test_udp_on_teredo_port_without_ipv6_stays_udp():
    result, stats, _ = run(1, bytes(OUTER / UDP(sport=3544, dport=9) / (b"\x45" * 60)))
    assert result == "udp" and stats.other_protocols == {"udp": 1}


# --- ICMP errors ---------------------------------------------------------------------------------

QUOTED = IPerror(src="10.0.0.1", dst="10.0.0.2", ttl=1) / TCPerror(sport=40000, dport=443, seq=1000)


@pytest.mark.parametrize("icmp_type, code", [(3, 3), (11, 0), (12, 0), (4, 0), (5, 1)])
def test_icmp_errors_quoting_tcp_become_rows(icmp_type, code):
    pkt = IP(src="198.51.100.7", dst="10.0.0.1", ttl=250) / ICMP(type=icmp_type, code=code) / QUOTED
    row, book = row_of(12, bytes(pkt))
    assert (row["proto"], row["icmp_type"], row["icmp_code"], book.name(row["src"])) == (
        1, icmp_type, code, "198.51.100.7")
    assert (book.name(row["q_src"]), book.name(row["q_dst"]), row["q_sport"], row["q_dport"]) == (
        "10.0.0.1", "10.0.0.2", 40000, 443)
    assert (row["q_seq"], row["q_ttl"], row["ttl"]) == (1000, 1, 250)


def test_icmp_error_quoting_udp_is_only_counted():
    pkt = IP() / ICMP(type=3, code=3) / IPerror() / UDPerror(sport=1, dport=53)
    result, stats, _ = run(12, bytes(pkt))
    assert result == "icmp" and stats.other_protocols == {"icmp": 1} and stats.icmp_errors == 0


def test_icmpv6_time_exceeded_quoting_tcp_becomes_a_row():
    quoted = IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=1) / IPv6ExtHdrDestOpt() / TCP(
        sport=40000, dport=443, seq=31337)
    pkt = IPv6(src="2001:db8::fe", dst="2001:db8::1") / ICMPv6TimeExceeded() / bytes(quoted)
    row, book = row_of(229, bytes(pkt), verify=True)
    assert (row["proto"], row["icmp_type"], row["q_seq"], row["q_ttl"], row["checksum"]) == (58, 3, 31337, 1, 1)
    assert book.name(row["q_dst"]) == "2001:db8::2"
    result, stats, _ = run(229, bytes(IPv6() / ICMPv6EchoRequest()))
    assert result == "icmpv6" and stats.other_protocols == {"icmpv6": 1}


# --- checksums -----------------------------------------------------------------------------------


def test_checksums_are_not_checked_by_default():
    row, _ = row_of(12, bytes(IP() / TCP(chksum=0x1234)))
    assert "checksum" not in row


@pytest.mark.parametrize("pkt, expected", [
    (IP(src="10.1.1.1", dst="10.2.2.2") / TCP(flags="S") / b"odd", 1),
    (IP(src="10.1.1.1", dst="10.2.2.2") / TCP(flags="S", chksum=0xBEEF), 2),
    (IP(src="10.1.1.1", dst="10.2.2.2", chksum=0xBEEF) / TCP(flags="S"), 2),
    (IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP() / b"data", 1),
    (IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(chksum=1) / b"data", 2),
    (IP() / ICMP(type=3) / QUOTED, 1),
    (IP() / ICMP(type=3, chksum=7) / QUOTED, 2),
])
def test_verify_checksums_marks_good_and_bad_but_keeps_the_row(pkt, expected):
    linktype = 229 if IPv6 in pkt else 12
    row, _ = row_of(linktype, bytes(pkt), verify=True)
    assert row["checksum"] == expected


def test_bad_inner_checksum_inside_vxlan_is_marked():
    frame = OUTER / UDP(dport=4789) / VXLAN() / eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(chksum=3)
    row, _ = row_of(1, bytes(frame), verify=True)
    assert (row["encap"], row["checksum"]) == (ENCAP_VXLAN, 2)


# --- robustness ----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(linktype=st.sampled_from(sorted(LINK_DECODERS)),
       data=st.binary(max_size=120))
def test_random_bytes_never_raise(linktype, data):
    result, stats, _ = run(linktype, data)
    assert isinstance(result, (dict, str, list))
    rows = len(result) if isinstance(result, list) else isinstance(result, dict)
    assert stats.tcp_packets + stats.icmp_errors == rows
    total = stats.tcp_packets + stats.icmp_errors + sum(stats.problems.values())
    total += sum(stats.other_protocols.values()) + stats.non_first_fragments
    # once per frame; an A-MSDU once per subframe (only 802.11 frames can have several)
    assert total == 1 or (total > 1 and linktype in (105, 127))


MUTATION_BASE = bytes(OUTER / UDP(dport=6081) / GENEVE(proto=0x6558) / eth() / Dot1Q() / INNER)


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(0, 200), flip=st.integers(0, 199), value=st.integers(0, 255))
def test_mutated_tunnel_frames_never_raise(cut, flip, value):
    raw = bytearray(MUTATION_BASE)
    raw[flip % len(raw)] = value
    result, _, _ = run(1, bytes(raw[:cut]))
    assert isinstance(result, (dict, str))
