"""The fast ingest path gives the plain path's table, statistics and address book, column for column.

Both paths read the same files: every corpus capture and sample capture (forced onto the fast path;
files the fast path declines are read plainly by both, which the equality then trivially covers),
and crafted captures that mix frames the kernels decode with frames only the general decoder
understands, across several chunks.
"""

from __future__ import annotations

import functools
import struct

import numpy as np
import pytest

from conftest import CAPTURES
from netreset.ingest.frames import IngestStats
from netreset.ingest.reader import read_capture
from netreset.ingest.compiled.reader import open_compiled
from netreset.ingest.layers.link import link_payload
from netreset.ingest.reader import iter_capture
from netreset.packets.table import AddressBook, PacketTable

pytest.importorskip("numba")
scapy = pytest.importorskip("scapy.all")
from test_decode import IPV4_LINK_FRAMES, IPV6_LINK_FRAMES  # noqa: E402 (needs scapy)


def assert_same(path, chunk_rows: int = 65536) -> None:
    plain = iter_capture(path, compiled=False, chunk_rows=chunk_rows)
    fast = iter_capture(path, compiled=True, chunk_rows=chunk_rows)
    a, b = PacketTable.concat(list(plain), plain.book), PacketTable.concat(list(fast), fast.book)
    for name, column in a.columns.items():
        assert column.dtype == b.columns[name].dtype, name
        assert np.array_equal(column, b.columns[name]), name
    assert a.book.addresses == b.book.addresses
    assert a.book.signatures == b.book.signatures
    assert vars(plain.stats) == vars(fast.stats)


def test_fast_path_equals_plain_path_on_every_corpus_capture(corpus):
    for entry in corpus:
        assert_same(entry["capture_path"])


@pytest.mark.parametrize("path", sorted(p for p in CAPTURES.glob("*.pcap*")), ids=lambda p: p.name)
def test_fast_path_equals_plain_path_on_sample_captures(path):
    assert_same(path)


def mixed_packets():
    """TCP the kernels decode (v4, v6, VLAN, options) between frames only the general decoder reads."""
    s = scapy
    ts_opts = [("NOP", None), ("NOP", None), ("Timestamp", (1, 2))]
    syn_opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (5, 0)), ("NOP", None), ("WScale", 7), ("EOL", None)]
    packets = []
    for i in range(60):
        e = s.Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        kind = i % 10
        if kind == 0:
            p = e / s.IP(src=f"10.0.0.{i}", dst="10.9.9.9", ttl=61) / s.TCP(sport=1000 + i, dport=443, flags="S", options=syn_opts)
        elif kind == 1:
            p = e / s.IPv6(src=f"2001:db8::{i}", dst="2001:db8::99") / s.TCP(sport=2000 + i, dport=80, flags="SA", options=[("MSS", 1400), (99, b"ab")])
        elif kind == 2:
            p = e / s.Dot1Q(vlan=42) / s.IP(src="10.0.0.1", dst=f"10.7.0.{i}", flags="DF") / s.TCP(flags="PA", options=ts_opts) / (b"x" * 30)
        elif kind == 3:
            p = e / s.IP(src="10.0.0.1", dst="10.0.0.2") / s.ICMP(type=3, code=3) / s.IP(src="10.0.0.2", dst=f"10.5.0.{i}") / s.TCP(sport=5, dport=6)
        elif kind == 4:
            p = e / s.IP(src=f"192.168.0.{i}", dst="192.168.1.1") / s.UDP(sport=53, dport=53) / b"q"
        elif kind == 5:
            p = e / s.IP(src="10.1.1.1", dst="10.2.2.2") / s.GRE() / s.IP(src=f"172.16.0.{i}", dst="172.16.9.9") / s.TCP(flags="R")
        elif kind == 6:
            p = e / s.IPv6(src="2001:db8::1", dst=f"2001:db8:1::{i}") / s.IPv6ExtHdrHopByHop() / s.TCP(flags="A")
        elif kind == 7:
            p = e / s.IP(src="10.0.0.3", dst="10.0.0.4", frag=10, proto=6) / (b"\0" * 24)
        elif kind == 8:
            p = e / s.ARP()
        else:
            p = e / s.IP(src="10.0.0.5", dst=f"10.0.3.{i}") / s.TCP(flags="A", options=[("MSS", 1), (3, b"")]) / b"yy"
        p.time = 1_700_000_000 + i / 1000
        packets.append(p)
    return packets


@pytest.mark.parametrize("suffix", ["pcap", "pcapng"])
def test_mixed_frames_across_chunks_give_the_plain_answers(tmp_path, suffix):
    path = tmp_path / f"mixed.{suffix}"
    writer = scapy.PcapNgWriter if suffix == "pcapng" else scapy.PcapWriter
    with writer(str(path)) as w:
        for p in mixed_packets():
            w.write(p)
    for chunk_rows in (7, 64):
        assert_same(path, chunk_rows)
    table, stats = read_capture(path, compiled=True)
    assert stats.other_protocols["udp"] == 6 and stats.other_protocols["arp"] == 6
    assert stats.icmp_errors == 6 and stats.non_first_fragments == 6


def test_a_truncated_last_record_is_left_to_the_plain_path_and_its_warning(tmp_path):
    path = tmp_path / "cut.pcap"
    with scapy.PcapWriter(str(path)) as w:
        for p in mixed_packets()[:10]:
            w.write(p)
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    table, stats = read_capture(path, compiled=True)
    assert any("truncated last record" in w for w in stats.warnings)
    assert_same(path)


def test_big_endian_nanosecond_pcap_reads_the_same(tmp_path):
    path = tmp_path / "be.pcap"
    frames = [bytes(p) for p in mixed_packets()[:20]]
    with open(path, "wb") as f:
        f.write(struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for i, data in enumerate(frames):
            f.write(struct.pack(">IIII", 1_700_000_000, i * 7, len(data), len(data)) + data)
    assert_same(path)
    assert read_capture(path, compiled=True)[1].file_format == "pcap-ns"


def test_generated_benchmark_capture_reads_the_same_on_both_paths(tmp_path):
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from generate import generate

    truth = generate(4000, seed=11, formats=["pcap", "pcapng"], out=tmp_path, snaplen=96, rate_per_s=800.0)
    for path in truth["files"].values():
        assert_same(path, chunk_rows=1000)


@functools.cache
def many_addresses_frames(count: int = 3000) -> tuple[bytes, ...]:
    """Thousands of hosts (so the capture's hash tables grow several times) and dozens of SYN option
    signatures, IPv4 and IPv6 mixed, with general-decoder frames interleaved that meet addresses first
    (ICMP quotes, IPv6 extension headers, tunnels) — later fast rows must reuse their ids, and the ids of
    both kinds of rows must follow the plain path's first-seen order inside and across chunks."""
    s = scapy
    e = s.Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    frames = []
    for i in range(count):
        a, b = divmod(i, 250)
        kind = i % 8
        if kind == 0:
            options = [("NOP", None)] * (i % 3) + [(30 + i % 45, b"")] + [("MSS", 1460)]
            p = e / s.IP(src=f"10.{a}.{b}.1", dst=f"10.200.{b}.9") / s.TCP(sport=i, flags="S", options=options)
        elif kind == 1:
            p = (e / s.IPv6(src=f"2001:db8:{a:x}::{b:x}", dst=f"2001:db8:ffff::{i % 7}")
                 / s.TCP(sport=i, flags="SA", options=[(40 + i % 30, b"xy")]))
        elif kind == 2:
            p = e / s.IP(src=f"10.{a}.{b}.1", dst=f"172.16.{a}.{b}") / s.TCP(sport=i, flags="A")
        elif kind == 3:
            p = (e / s.IP(src=f"192.0.{a}.{b}", dst="10.0.0.2") / s.ICMP(type=3, code=3)
                 / s.IP(src=f"198.18.{a}.{b}", dst=f"198.19.{a}.{b}") / s.TCP(sport=5, dport=6))
        elif kind == 4:
            p = (e / s.IPv6(src=f"2001:db8:e::{i:x}", dst=f"2001:db8:{a:x}::{b:x}") / s.IPv6ExtHdrHopByHop()
                 / s.TCP(flags="S"))
        elif kind == 5:
            p = e / s.IP(src=f"198.18.{a}.{b - 3 if b >= 3 else b}", dst=f"198.19.{a}.{b}") / s.TCP(flags="R")
        elif kind == 6:
            p = (e / s.IP(src="10.1.1.1", dst=f"10.3.{a}.{b}") / s.GRE()
                 / s.IP(src=f"172.17.{a}.{b}", dst="172.16.9.9") / s.TCP(flags="S", options=[(60 + i % 20, b"")]))
        else:
            p = (e / s.IPv6(src=f"2001:db8:e::{(i - 4):x}", dst=f"2001:db8:{a:x}::{(b + 1):x}")
                 / s.TCP(flags="PA") / b"z")
        frames.append(bytes(p))
    return tuple(frames)


def write_ethernet_capture(path, frames, pcapng: bool) -> None:
    """Frames as a little-endian pcap or pcapng (one Ethernet interface), one millisecond apart."""
    with open(path, "wb") as f:
        if pcapng:
            f.write(struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28))
            f.write(struct.pack("<IIHHII", 1, 20, 1, 0, 0, 20))
        else:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, data in enumerate(frames):
            usec = 1_700_000_000_000_000 + i * 1000
            if pcapng:
                pad = b"\0" * (-len(data) % 4)
                length = 32 + len(data) + len(pad)
                f.write(struct.pack("<IIIIIII", 6, length, 0, usec >> 32, usec & 0xFFFFFFFF, len(data), len(data)))
                f.write(data + pad + struct.pack("<I", length))
            else:
                f.write(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(data), len(data)) + data)


@pytest.mark.parametrize("suffix", ["pcap", "pcapng"])
def test_many_addresses_and_signatures_across_chunks_and_table_growth(tmp_path, suffix):
    path = tmp_path / f"many.{suffix}"
    write_ethernet_capture(path, many_addresses_frames(), suffix == "pcapng")
    for chunk_rows in (3, 61, 100000):
        assert_same(path, chunk_rows)
    cap = open_compiled(str(path), file_id=0, book=AddressBook(), stats=IngestStats(paths=[str(path)]), chunk_rows=61,
                    force=True)
    table = PacketTable.concat(list(cap), cap.book)
    tables = cap._scratch
    assert tables.addresses.count > 2048 and len(tables.addresses.ver) > 4096  # grew from its first 4096 slots
    assert tables.signatures.count > 32 and len(tables.signatures.length) > 64
    assert {4, 6} <= set(np.unique(table.ip_version).tolist())
    assert table.encap.any() and (table.icmp_type >= 0).any()  # general-decoder rows among them


@pytest.mark.parametrize("linktype, frame", IPV4_LINK_FRAMES + IPV6_LINK_FRAMES)
def test_compiled_link_layer_takes_its_link_types_with_the_dispatch_tables_answer(linktype, frame):
    """``_link`` decodes exactly the link types ``COMPILED_LINKTYPES`` names, as ``LINK_DECODERS`` does."""
    from netreset.ingest.compiled import kernels

    found = kernels._link(np.frombuffer(frame, dtype=np.uint8).copy(), 0, len(frame), linktype)
    if linktype in kernels.COMPILED_LINKTYPES:
        assert found == link_payload(linktype, frame)
    else:
        assert found[0] == -1  # left to the general decoder


def test_interning_tables_agree_with_a_dictionary_while_they_grow():
    from netreset.ingest.compiled.intern import AddressTable

    rng = np.random.default_rng(5)
    table, truth = AddressTable(), {}
    for _ in range(12):
        m = 3000
        ver = rng.choice(np.array([4, 6], dtype=np.uint8), m)
        keys = [rng.integers(0, 1 << 62, size=(m,), dtype=np.uint64) for _ in range(4)]
        keys = [np.where(ver == 4, 0, k % 50) if j % 2 == 0 else k % 9000 for j, k in enumerate(keys)]
        src_hi, src_lo, dst_hi, dst_lo = (k.astype(np.uint64) for k in keys)
        src, dst, new_pos = np.empty(m, np.int32), np.empty(m, np.int32), np.empty(2 * m, np.int64)
        new = table.lookup(ver, src_hi, src_lo, dst_hi, dst_lo, m, src, dst, new_pos)
        firsts = []
        for k in range(m):
            for side, (hi, lo) in enumerate(((src_hi[k], src_lo[k]), (dst_hi[k], dst_lo[k]))):
                key = (int(ver[k]), int(hi), int(lo))
                if key not in truth:
                    truth[key] = len(truth)
                    firsts.append(2 * k + side)
        assert new_pos[:new].tolist() == firsts
        ids = np.arange(len(truth) - new, len(truth), dtype=np.int32)
        table.settle(ids, src, dst)
        expect = [[truth[(int(ver[k]), int(h[k]), int(lo[k]))] for k in range(m)]
                  for h, lo in ((src_hi, src_lo), (dst_hi, dst_lo))]
        assert src.tolist() == expect[0] and dst.tolist() == expect[1]
    assert table.count == len(truth) and len(table.ver) >= 2 * len(truth)


@pytest.mark.parametrize("sizes", [(64, 64, 16), (1 << 10, 300, 100), (512, 4096, 4096)])
def test_records_larger_than_the_buffers_grow_them(tmp_path, monkeypatch, sizes):
    from netreset.ingest.compiled import reader as fast

    scan, buffer, first = sizes
    monkeypatch.setattr(fast, "SCAN_BYTES", scan)
    monkeypatch.setattr(fast, "BUFFER_BYTES", buffer)
    monkeypatch.setattr(fast, "FIRST_READ_BYTES", first)
    for pcapng in (False, True):
        path = tmp_path / f"small-buffers.{'pcapng' if pcapng else 'pcap'}"
        write_ethernet_capture(path, [bytes(p) for p in mixed_packets()], pcapng)
        assert open_compiled(str(path), file_id=0, book=AddressBook(), stats=IngestStats(paths=[str(path)]), chunk_rows=7,
                         force=True) is not None
        for chunk_rows in (5, 64):
            assert_same(path, chunk_rows)
