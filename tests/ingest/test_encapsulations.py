"""Every encapsulation a tap or mirror port delivers (issue 13 §3), on crafted frames built from the
specs: GTP-U, VXLAN-GPE, GRE → ERSPAN II → VXLAN, GRE-in-UDP, MPLS-in-UDP, L2TP, CAPWAP, Teredo's
headers, PPPoE with protocol-field compression, VN-Tag, E-Tag, FabricPath, NFLOG, IPoIB, every
segment of an 802.11 A-MSDU — each checked against tshark's reading of the same frame, on both
decoder paths, and the summary's hint when a UDP tunnel is left undecoded."""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest
from scapy.all import (
    GRE, IP, LLC, SNAP, TCP, UDP, VXLAN, Dot11, Dot11QoS, Dot1Q, Ether, IPv6, PcapWriter, PPPoE, Raw, fragment,
    wrpcap,
)
from scapy.contrib.erspan import ERSPAN_II
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer

from netreset.ingest.frames import (
    ENCAP_CAPWAP, ENCAP_ERSPAN, ENCAP_GRE, ENCAP_GTP, ENCAP_L2TP, ENCAP_MPLS_UDP, ENCAP_TEREDO, ENCAP_VXLAN,
    IngestStats, RawFrame,
)
from netreset.ingest.layers.decode import Decoder
from netreset.ingest.reader import iter_capture, read_capture
from netreset.packets.table import AddressBook, PacketTable
from netreset.report.summary import decode_hint


def eth(**fields) -> Ether:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", **fields)


OUTER = IP(src="192.0.2.1", dst="192.0.2.2", ttl=250)
INNER = IP(src="10.0.0.1", dst="10.0.0.2", ttl=61, id=4242, flags="DF") / TCP(
    sport=40000, dport=443, flags="PA", seq=1000, ack=2000, window=512) / (b"x" * 10)
SECOND = IP(src="10.0.0.1", dst="10.0.0.2", ttl=61, id=4243) / TCP(sport=40000, dport=443, flags="A", seq=1010,
                                                                  ack=2000) / (b"y" * 5)
INNER6 = IPv6(src="2001:0:1::1", dst="2001:0:2::2", hlim=57) / TCP(sport=1, dport=2, flags="S", seq=7)


def amsdu(*packets) -> bytes:
    """A-MSDU subframes (DA, SA, length, LLC/SNAP + packet), each but the last padded to 4 bytes."""
    out = b""
    for i, pkt in enumerate(packets):
        msdu = bytes(LLC() / SNAP(code=0x0800) / pkt)
        sub = b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", len(msdu)) + msdu
        out += sub + (b"\0" * (-len(sub) % 4) if i < len(packets) - 1 else b"")
    return out


def qos_amsdu(*packets):
    return Dot11(type=2, subtype=8, FCfield=1, addr1="02:00:00:00:00:02", addr2="02:00:00:00:00:01",
                 addr3="02:00:00:00:00:03") / Dot11QoS(A_MSDU_Present=1) / Raw(amsdu(*packets))


def nflog(pkt, little: bool = True) -> bytes:
    """NFLOG header, an NFULA_PREFIX TLV and the NFULA_PAYLOAD TLV, in the capturing host's byte order."""
    h = struct.Struct("<HH" if little else ">HH")
    prefix, data = b"drop\0", bytes(pkt)
    return (b"\x02\x00\x00\x05" + h.pack(4 + len(prefix), 10) + prefix + b"\0" * (-len(prefix) % 4)
            + h.pack(4 + len(data), 9) + data)


def capwap_80211(pkt) -> bytes:
    """CAPWAP data header (HLEN 4 words, WBID 1, T bit) and an 802.11 data frame with its frame-control
    bytes swapped, as Cisco access points send it (and Wireshark reads CAPWAP by default)."""
    wlan = bytes(Dot11(type=2, subtype=0, FCfield=1, addr1="02:00:00:00:00:02", addr2="02:00:00:00:00:01",
                       addr3="02:00:00:00:00:03") / LLC() / SNAP(code=0x0800) / pkt)
    wlan = wlan[1:2] + wlan[0:1] + wlan[2:]
    return bytes.fromhex("00200320") + bytes(12) + wlan


def l2tp(ppp: bytes, with_length: bool) -> bytes:
    if with_length:
        return b"\x40\x02" + struct.pack("!H", 10 + len(ppp)) + b"\x00\x01\x00\x02" + ppp
    return b"\x00\x02\x00\x01\x00\x02" + ppp


TEREDO_AUTH = bytes.fromhex("0001") + bytes([2, 3]) + b"id" + b"auv" + bytes(8) + b"\0"
TEREDO_ORIGIN = bytes.fromhex("0000") + struct.pack("!H", 0xFFFF ^ 40000) + bytes(4)

#: name → (link type, frame bytes, encap the row must carry, rows the frame gives)
CASES = {
    "gtp-u": (1, eth() / OUTER / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=7, gtp_type=255) / INNER,
              ENCAP_GTP, 1),
    "gtp-u extension headers": (1, eth() / OUTER / UDP(sport=2152, dport=2152) / GTP_U_Header(
        teid=7, gtp_type=255, E=1, S=1, seq=5, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=9) / INNER,
        ENCAP_GTP, 1),
    "vxlan-gpe ipv4": (1, eth() / OUTER / UDP(sport=5555, dport=4790) / Raw(bytes([0x0C, 0, 0, 1, 0, 0, 5, 0]))
                       / INNER, ENCAP_VXLAN, 1),
    "vxlan-gpe ethernet": (1, eth() / OUTER / UDP(sport=5555, dport=4790) / Raw(bytes([0x0C, 0, 0, 3, 0, 0, 5, 0]))
                           / eth() / INNER, ENCAP_VXLAN, 1),
    "gre erspan-ii vxlan": (1, eth() / OUTER / GRE(proto=0x88BE, seqnum_present=1, sequence_number=1)
                            / ERSPAN_II(session_id=1) / eth() / IP(src="172.16.0.1", dst="172.16.0.2")
                            / UDP(sport=3333, dport=4789) / VXLAN(vni=5) / eth() / INNER, ENCAP_VXLAN, 1),
    "gre-in-udp": (1, eth() / OUTER / UDP(sport=6000, dport=4754) / GRE(proto=0x0800) / INNER, ENCAP_GRE, 1),
    "mpls-in-udp": (1, eth() / OUTER / UDP(sport=6000, dport=6635) / Raw(bytes.fromhex("00010140")) / INNER,
                    ENCAP_MPLS_UDP, 1),
    "l2tp": (1, eth() / OUTER / UDP(sport=1701, dport=1701) / Raw(l2tp(b"\xff\x03\x00\x21", False)) / INNER,
             ENCAP_L2TP, 1),
    "l2tp length, pfc": (1, eth() / OUTER / UDP(sport=1701, dport=1701)
                         / Raw(l2tp(b"\x21" + bytes(INNER), True)), ENCAP_L2TP, 1),
    "capwap 802.11": (1, eth() / OUTER / UDP(sport=5247, dport=40000) / Raw(capwap_80211(INNER)), ENCAP_CAPWAP, 1),
    "teredo origin": (1, eth() / OUTER / UDP(sport=3544, dport=50000) / Raw(TEREDO_ORIGIN) / INNER6,
                      ENCAP_TEREDO, 1),
    "teredo auth+origin": (1, eth() / OUTER / UDP(sport=3544, dport=50000) / Raw(TEREDO_AUTH + TEREDO_ORIGIN)
                           / INNER6, ENCAP_TEREDO, 1),
    "pppoe pfc": (1, eth() / PPPoE(sessionid=3) / Raw(b"\x21") / INNER, 0, 1),
    "vn-tag": (1, eth(type=0x8926) / Raw(b"\x00\x01\x00\x02\x08\x00") / INNER, 0, 1),
    "vlan vn-tag vlan": (1, eth() / Dot1Q(vlan=10, type=0x8926) / Raw(b"\x00\x01\x00\x02\x81\x00") / Dot1Q(vlan=20)
                         / INNER, 0, 1),
    "e-tag": (1, eth(type=0x893F) / Raw(b"\x00\x00\x00\x05\x00\x00\x08\x00") / INNER, 0, 1),
    "fabricpath": (1, bytes(Ether(src="02:0a:bc:00:00:00", dst="02:0a:bd:00:00:00", type=0x8903) / Raw(b"\x40\x20")
                            / eth() / INNER) + b"\x01\x02\x03\x04", 0, 1),  # + the FabricPath FCS
    "ppp with cisco hdlc": (9, b"\x0f\x00\x08\x00" + bytes(INNER), 0, 1),
    "nflog": (239, nflog(INNER), 0, 1),
    "ipoib": (242, bytes(20) + b"\x00\x00\x00\x32" + bytes(16) + b"\x08\x00\x00\x00" + bytes(INNER), 0, 1),
    "a-msdu": (105, qos_amsdu(INNER, SECOND), 0, 2),
    "a-msdu in aruba gre": (1, eth() / OUTER / GRE(proto=0x8200) / qos_amsdu(INNER, SECOND), ENCAP_GRE, 2),
}


def decode(linktype: int, data: bytes):
    stats = IngestStats()
    found = Decoder(AddressBook(), stats).decode(RawFrame(1, 5, 0, linktype, len(data), len(data), bytes(data)))
    return found, stats


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_encapsulation_reaches_the_inner_tcp_segment(name):
    linktype, frame, encap, count = CASES[name]
    found, stats = decode(linktype, bytes(frame))
    rows = found if isinstance(found, list) else [found]
    assert all(isinstance(r, dict) for r in rows), found
    assert len(rows) == count == stats.tcp_packets
    first = rows[0]
    assert first.get("encap", 0) == encap
    if encap:
        assert first["outer_src"] >= 0 and first["outer_dst"] >= 0
    if "teredo" in name:
        assert (first["ip_version"], first["sport"], first["seq"]) == (6, 1, 7)
    else:
        assert (first["sport"], first["dport"], first["seq"], first["payload_len"], first["ttl"]) == (
            40000, 443, 1000, 10, 61)


def test_every_a_msdu_subframe_is_a_row_with_the_frames_number():
    found, _ = decode(105, bytes(qos_amsdu(INNER, SECOND, INNER)))
    assert [r["seq"] for r in found] == [1000, 1010, 1000]
    assert [r["payload_len"] for r in found] == [10, 5, 10]
    assert {r["frame"] for r in found} == {1}


def test_an_a_msdu_subframe_without_tcp_is_counted_and_the_others_kept():
    udp = IP(src="10.0.0.1", dst="10.0.0.9") / UDP(sport=5, dport=53) / b"q"
    found, stats = decode(105, bytes(qos_amsdu(INNER, udp)))
    assert isinstance(found, dict) and found["seq"] == 1000
    assert stats.tcp_packets == 1 and stats.other_protocols["udp"] == 1


def test_a_tunnel_control_message_is_named_not_a_problem():
    echo = eth() / OUTER / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=0, gtp_type=1)
    found, stats = decode(1, bytes(echo))
    assert found == "gtp" and not stats.problems
    control = eth() / OUTER / UDP(sport=1701, dport=1701) / Raw(b"\xc8\x02" + bytes(10))
    assert decode(1, bytes(control))[0] == "l2tp-control"


def test_a_fragmented_packet_inside_gtp_counts_as_ip_fragments_do():
    big = IP(src="10.0.0.1", dst="10.0.0.2", id=77) / TCP(sport=40000, dport=443, flags="A", seq=5) / (b"z" * 600)
    pieces = fragment(big, fragsize=256)
    results = [decode(1, bytes(eth() / OUTER / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=1, gtp_type=255) / p))
               for p in pieces]
    rows = [r for r, _ in results if isinstance(r, dict)]
    assert len(rows) == 1 and rows[0]["encap"] == ENCAP_GTP and rows[0]["payload_len"] == 256 - 20  # its part
    assert sum(s.non_first_fragments for _, s in results) == len(pieces) - 1


def test_nflog_in_big_endian_byte_order_is_read_too():
    found, _ = decode(239, nflog(INNER, little=False))
    assert isinstance(found, dict) and found["seq"] == 1000


def write_cases(path) -> list[tuple[int, bytes]]:
    """Every case as one pcapng interface of its own link type, one frame each, in CASES order."""
    from scapy.all import PcapNgWriter

    frames = [(lt, bytes(f)) for lt, f, _, _ in CASES.values()]
    with PcapNgWriter(str(path)) as w:
        for i, (lt, data) in enumerate(frames):
            w.linktype = lt
            w.write(Raw(data))
    return frames


@pytest.mark.tshark
@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_equals_tsharks_reading(tmp_path, name):
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    from netreset.ingest.tshark.engine import read_capture_tshark

    linktype, frame, _, _ = CASES[name]
    path = tmp_path / "one.pcap"
    with PcapWriter(str(path), linktype=linktype) as w:
        w.write(Raw(bytes(frame)))
    ours, _ = read_capture(path, compiled=False)
    theirs, _ = read_capture_tshark(path)
    columns = ("frame", "sport", "dport", "seq", "ack", "flags", "ttl", "ip_id", "payload_len", "encap", "vlan")
    assert len(ours) == len(theirs) == CASES[name][3]
    for column in columns:
        assert getattr(ours, column).tolist() == getattr(theirs, column).tolist(), column
    for column in ("src", "dst", "outer_src", "outer_dst"):
        names = [ours.book.addresses[i] if i >= 0 else None for i in getattr(ours, column).tolist()]
        assert names == [theirs.book.addresses[i] if i >= 0 else None for i in getattr(theirs, column).tolist()]


def test_compiled_reader_equals_the_plain_one_on_every_case(tmp_path):
    pytest.importorskip("numba")
    path = tmp_path / "all.pcap"
    plain_tcp = [eth() / IP(src="10.9.0.1", dst="10.9.0.2") / TCP(sport=i, dport=80, flags="A") for i in range(1, 40)]
    frames = [Ether(f) if isinstance(f, bytes) else f for lt, f, _, _ in CASES.values() if lt == 1]
    wrpcap(str(path), [p for pair in zip(plain_tcp, frames) for p in pair] + plain_tcp[len(frames):])
    for chunk_rows in (3, 1000):
        plain = iter_capture(path, compiled=False, chunk_rows=chunk_rows)
        fast = iter_capture(path, compiled=True, chunk_rows=chunk_rows)
        a, b = PacketTable.concat(list(plain), plain.book), PacketTable.concat(list(fast), fast.book)
        for column, values in a.columns.items():
            assert np.array_equal(values, b.columns[column]), column
        assert a.book.addresses == b.book.addresses and vars(plain.stats) == vars(fast.stats)
    assert plain.stats.tcp_packets == len(a) == 39 + len(frames) + 1  # the A-MSDU in GRE gives two


# --- never a silent loss --------------------------------------------------------------------------


def test_udp_carrying_an_ip_packet_on_an_unknown_port_is_noted():
    stats = IngestStats()
    decoder = Decoder(AddressBook(), stats)
    for i in range(3):
        frame = bytes(eth() / OUTER / UDP(sport=9999, dport=7777) / Raw(bytes(8)) / INNER)
        decoder.decode(RawFrame(i + 1, 5, 0, 1, len(frame), len(frame), frame))
    plain = bytes(eth() / OUTER / UDP(sport=53, dport=53) / Raw(b"\x45" + bytes(40)))
    decoder.decode(RawFrame(9, 5, 0, 1, len(plain), len(plain), plain))
    vxlan_8472 = bytes(eth() / OUTER / UDP(sport=40000, dport=8472) / VXLAN() / eth() / INNER)
    decoder.decode(RawFrame(10, 5, 0, 1, len(vxlan_8472), len(vxlan_8472), vxlan_8472))
    assert stats.undecoded_tunnels == {"udp/7777": 3, "udp/8472": 1}
    assert stats.other_protocols["udp"] == 5


def test_the_hint_names_the_tunnels_and_suggests_tshark_only_where_it_helps():
    stats = IngestStats()
    assert decode_hint(stats, tshark_present=True) is None
    stats.undecoded_tunnels["udp/8472"] = 12
    hint = decode_hint(stats, tshark_present=True)
    assert "12 UDP datagrams" in hint and "udp/8472 (12)" in hint and "--engine tshark" in hint
    assert "Install tshark" in decode_hint(stats, tshark_present=False)
    assert "--engine tshark" not in decode_hint(stats, engine="tshark", tshark_present=True).split("(")[0]
    stats = IngestStats()
    stats.problems["unsupported-linktype-129"] = 15
    assert decode_hint(stats, tshark_present=False) is None  # nothing to offer without tshark
    assert "15 frames could not be decoded" in decode_hint(stats, tshark_present=True)


def test_summary_shows_the_hint_in_text_and_json(tmp_path):
    from click.testing import CliRunner

    from netreset.cli.main import main as cli

    path = tmp_path / "tunnel.pcap"
    wrpcap(str(path), [eth() / OUTER / UDP(sport=40000, dport=8472) / VXLAN() / eth() / INNER,
                       eth() / INNER])
    runner = CliRunner()
    text = runner.invoke(cli, ["summary", str(path)])
    assert text.exit_code == 0 and "Note: 1 UDP datagrams look like a tunnel" in text.output
    import json

    doc = json.loads(runner.invoke(cli, ["summary", "--format", "json", str(path)]).output)
    assert doc["undecoded_tunnels"] == {"udp/8472": 1} and "tunnel" in doc["decode_hint"]
