"""The capture container reader: pcap / pcap-ns / pcapng / gzip, built here byte by byte, plus the corpus."""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
import zlib
from decimal import Decimal
from pathlib import Path

import pytest

from netreset.errors import CaptureError
from netreset.ingest.containers.open import open_frames

# ---------------------------------------------------------------- writers (struct-based, no library)

PCAP_USEC, PCAP_NSEC, PCAP_MODIFIED = 0xA1B2C3D4, 0xA1B23C4D, 0xA1B2CD34


def pcap_bytes(records, *, endian="<", magic=PCAP_USEC, snaplen=65535, linktype=1, major=2) -> bytes:
    """A pcap file; records are (sec, frac, data) or (sec, frac, data, wirelen)."""
    out = [struct.pack(endian + "IHHiIII", magic, major, 4, 0, 0, snaplen, linktype)]
    for sec, frac, data, *wire in records:
        out.append(struct.pack(endian + "IIII", sec, frac, len(data), wire[0] if wire else len(data)))
        if magic == PCAP_MODIFIED:
            out.append(struct.pack(endian + "IHBx", 3, 0x0800, 0))
        out.append(data)
    return b"".join(out)


def block(btype: int, body: bytes, endian="<") -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(endian + "II", btype, length) + body + struct.pack(endian + "I", length)


def options(pairs, endian="<") -> bytes:
    out = b""
    for code, value in pairs:
        out += struct.pack(endian + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)
    return out + struct.pack(endian + "HH", 0, 0) if pairs else b""


def shb(endian="<", comment: bytes | None = None) -> bytes:
    body = struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    return block(0x0A0D0D0A, body + options([(1, comment)] if comment else [], endian), endian)


def idb(linktype=1, snaplen=65535, endian="<", *, tsresol=None, tsoffset=None, name=b"", descr=b"") -> bytes:
    opts = [(2, name)] if name else []
    opts += [(3, descr)] if descr else []
    opts += [(9, bytes([tsresol]))] if tsresol is not None else []
    opts += [(14, struct.pack(endian + "q", tsoffset))] if tsoffset is not None else []
    return block(1, struct.pack(endian + "HHI", linktype, 0, snaplen) + options(opts, endian), endian)


def epb(iface: int, units: int, data: bytes, endian="<", *, wirelen=None, comment: bytes | None = None) -> bytes:
    head = struct.pack(endian + "IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(data),
                       len(data) if wirelen is None else wirelen)
    padded = data + b"\x00" * (-len(data) % 4)
    return block(6, head + padded + options([(1, comment)] if comment else [], endian), endian)


def spb(data: bytes, wirelen=None, endian="<") -> bytes:
    return block(3, struct.pack(endian + "I", len(data) if wirelen is None else wirelen) + data, endian)


def obsolete_pb(iface: int, units: int, data: bytes, endian="<") -> bytes:
    head = struct.pack(endian + "HHIIII", iface, 0, units >> 32, units & 0xFFFFFFFF, len(data), len(data))
    return block(2, head + data, endian)


def frame_bytes(i: int, size: int = 60) -> bytes:
    return bytes([i % 256]) * size


def read_all(path):
    with open_frames(path) as source:
        frames = list(source)
        return frames, source


def write(tmp_path: Path, content: bytes, name="c.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


# ---------------------------------------------------------------- pcap

@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("magic,fmt,frac,expected_ns", [
    (PCAP_USEC, "pcap", 999_999, 1_700_000_000_999_999_000),
    (PCAP_NSEC, "pcap-ns", 999_999_999, 1_700_000_000_999_999_999),
    (PCAP_MODIFIED, "pcap", 123_456, 1_700_000_000_123_456_000),
])
def test_pcap_variants_give_exact_ns_timestamps_in_both_byte_orders(tmp_path, endian, magic, fmt, frac, expected_ns):
    records = [(1_700_000_000, frac, frame_bytes(1)), (1_700_000_001, 0, frame_bytes(2, 1514), 9000)]
    frames, source = read_all(write(tmp_path, pcap_bytes(records, endian=endian, magic=magic, linktype=101)))
    assert source.file_format == fmt
    assert [f.frame for f in frames] == [1, 2]
    assert frames[0].ts_ns == expected_ns
    assert frames[1].ts_ns == 1_700_000_001_000_000_000
    assert (frames[1].caplen, frames[1].wirelen, frames[1].data) == (1514, 9000, frame_bytes(2, 1514))
    assert {f.linktype for f in frames} == {101} and source.interfaces[0].linktype == 101
    assert source.warnings == []


def test_pcap_link_type_ignores_fcs_flag_bits(tmp_path):
    frames, source = read_all(write(tmp_path, pcap_bytes([(1, 0, b"x")], linktype=0x14000001)))
    assert frames[0].linktype == 1


@pytest.mark.parametrize("nano,stamp", [(True, "1700000000.123456789"), (False, "1700000000.123456")])
def test_scapy_written_pcap_and_nanosecond_pcap_agree_with_packet_times(tmp_path, nano, stamp):
    from scapy.all import IP, TCP, Ether, PcapWriter

    packets = [Ether() / IP(dst="10.0.0.2") / TCP(dport=p, flags="S") for p in (80, 443, 8080)]
    for i, packet in enumerate(packets):
        packet.time = Decimal(stamp) + i
    path = tmp_path / "s.pcap"
    with PcapWriter(str(path), nano=nano) as writer:
        writer.write(packets)
    frames, source = read_all(path)
    ns = int(Decimal(stamp) * 10**9)
    assert [f.ts_ns for f in frames] == [ns, ns + 1_000_000_000, ns + 2_000_000_000]
    assert [f.data for f in frames] == [bytes(p) for p in packets]
    assert source.file_format == ("pcap-ns" if nano else "pcap")


# ---------------------------------------------------------------- pcapng

def multi_interface_pcapng(endian="<") -> bytes:
    """Two interfaces: Ethernet at ns resolution with a +100 s offset, raw IP at 2^-10 s; every packet kind."""
    return b"".join([
        shb(endian, comment=b"section \xff note"),
        idb(1, 262144, endian, tsresol=9, tsoffset=100, name=b"eth0", descr=b"uplink \xe2\x9c\x93"),
        block(0x0BAD_C0DE, b"unknown block body", endian),
        idb(101, 128, endian, tsresol=0x8A, name=b"tun0"),
        epb(0, 1_700_000_000_123_456_789, frame_bytes(1), endian, comment=b"first"),
        epb(1, 1025, frame_bytes(2, 200), endian, wirelen=1500),
        block(5, b"\x00" * 20, endian),  # interface statistics: skipped
        obsolete_pb(1, 3 * 1024 + 512, frame_bytes(3), endian),
        spb(frame_bytes(4, 70), endian=endian),
    ])


@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcapng_with_two_interfaces_honours_each_link_type_resolution_and_offset(tmp_path, endian):
    frames, source = read_all(write(tmp_path, multi_interface_pcapng(endian)))
    assert source.file_format == "pcapng"
    assert [(f.frame, f.iface, f.linktype) for f in frames] == [(1, 0, 1), (2, 1, 101), (3, 1, 101), (4, 0, 1)]
    assert frames[0].ts_ns == 1_700_000_100_123_456_789  # 10^-9 units + 100 s offset
    assert frames[1].ts_ns == 1_000_976_562  # 1025 / 1024 s, floored to the ns
    assert frames[2].ts_ns == 3_500_000_000
    assert frames[3].ts_ns == 0  # simple packet blocks have no timestamp
    assert (frames[1].caplen, frames[1].wirelen, frames[1].data) == (200, 1500, frame_bytes(2, 200))
    assert frames[3].data == frame_bytes(4, 70)
    eth, tun = source.interfaces
    assert (eth.name, eth.description, eth.snaplen, eth.ts_resolution_ns, eth.ts_offset_s) == \
        ("eth0", "uplink \u2713", 262144, 1.0, 100)
    assert (tun.name, tun.linktype, tun.ts_resolution_ns) == ("tun0", 101, 1e9 / 1024)
    assert source.comments == ["section \ufffd note", "frame 1: first"]
    assert source.warnings == ["1 simple packet blocks carry no timestamp; shown at time 0 as Wireshark does"]


def test_simple_packet_block_is_cut_to_the_snaplen_of_interface_zero(tmp_path):
    content = shb() + idb(1, 64) + spb(frame_bytes(1, 100) + b"\x00" * 28, wirelen=100)
    frames, _ = read_all(write(tmp_path, content))
    assert (frames[0].caplen, frames[0].wirelen) == (64, 100)


def test_simple_packet_bytes_beyond_the_snaplen_are_not_read_as_options(tmp_path):
    """An SPB has no options (Wireshark's pcapng.c reads none): what lies past the snaplen is packet data."""
    data = bytes(range(7, 107))  # past byte 64 these would be option codes and lengths running off the block
    content = shb() + idb(1, 64) + spb(data, wirelen=100)
    frames, source = read_all(write(tmp_path, content))
    assert (frames[0].caplen, frames[0].data) == (64, data[:64])
    assert source.warnings == ["1 simple packet blocks carry no timestamp; shown at time 0 as Wireshark does"]


def test_second_section_may_flip_byte_order_and_restarts_interface_ids(tmp_path):
    content = (shb("<") + idb(1, endian="<") + epb(0, 5_000_000, frame_bytes(1), "<")
               + shb(">") + idb(113, endian=">", tsresol=3) + epb(0, 7_000, frame_bytes(2), ">"))
    frames, source = read_all(write(tmp_path, content))
    assert [(f.frame, f.iface, f.linktype, f.ts_ns) for f in frames] == [
        (1, 0, 1, 5_000_000_000), (2, 1, 113, 7_000_000_000)]
    assert len(source.interfaces) == 2 and source.warnings == []


def test_interfaces_appear_as_the_walk_meets_them(tmp_path):
    content = shb() + idb(1) + epb(0, 1, b"a") + idb(101) + epb(1, 2, b"b")
    with open_frames(write(tmp_path, content)) as source:
        seen = [len(source.interfaces) for _ in source]
    assert seen == [1, 2]


def test_scapy_pcapng_writer_output_is_read_with_names_and_comments(tmp_path):
    from scapy.all import IP, TCP, Ether, PcapNgWriter

    packet = Ether() / IP(dst="10.0.0.2") / TCP(dport=80, flags="S")
    packet.time, packet.comment, packet.sniffed_on = Decimal("1700000000.5"), b"look here", "eth9"
    writer = PcapNgWriter(str(tmp_path / "s.pcapng"))
    writer.write(packet)
    writer.close()
    frames, source = read_all(tmp_path / "s.pcapng")
    assert [(f.ts_ns, f.data) for f in frames] == [(1_700_000_000_500_000_000, bytes(packet))]
    assert source.interfaces[frames[0].iface].name == "eth9"
    assert source.comments == ["frame 1: look here"]


# ---------------------------------------------------------------- gzip

@pytest.mark.parametrize("content,fmt", [
    (pcap_bytes([(1, 2, b"abc")] * 3), "pcap+gzip"),
    (pcap_bytes([(1, 2, b"abc")] * 3, magic=PCAP_NSEC, endian=">"), "pcap-ns+gzip"),
    (multi_interface_pcapng(), "pcapng+gzip"),
])
def test_gzip_is_detected_by_magic_not_name_and_streamed(tmp_path, content, fmt):
    plain, _ = read_all(write(tmp_path, content, "plain.pcap"))
    path = write(tmp_path, gzip.compress(content), "no-extension.pcap")
    with open_frames(path) as source:
        assert source.file_format == fmt
        frames = list(source)
        assert source.bytes_read == source.file_size == path.stat().st_size
    assert frames == plain


def test_bytes_read_grows_to_the_file_size(tmp_path):
    path = write(tmp_path, pcap_bytes([(1, 0, frame_bytes(i, 1000)) for i in range(50)]))
    with open_frames(path) as source:
        progress = [source.bytes_read for _ in source]
    assert progress == sorted(progress) and source.bytes_read == source.file_size == path.stat().st_size


# ---------------------------------------------------------------- bad input: refused with one line

def refusal(path) -> str:
    with pytest.raises(CaptureError) as info:
        open_frames(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(str(path))
    return info.value.what


@pytest.mark.parametrize("content,expected", [
    (b"", "empty file"),
    (b"\xd4\xc3", "too short to be a capture (2 bytes)"),
    (b"hello world, this is text\n", "not a capture file (starts with text 'hello world, thi')"),
    (b"PK\x03\x04" + b"\x00" * 40, "zip archive"),
    (b"\x28\xb5\x2f\xfd" + b"\x00" * 40, "zstd"),
    (b"\x00\x01\x02\x03\xfe\xff" + b"\x00" * 40, "starts with bytes 00 01 02 03 fe ff 00 00"),
    (bytes.fromhex("d4c3b2a1") + b"\x02\x00", "truncated pcap file header (6 of 24 bytes)"),
    (pcap_bytes([], major=7), "garbage pcap file header (version 7.4"),
    (b"\x0a\x0d\x0d\x0a" + b"\x1c\x00\x00\x00" + b"\x00" * 20, "bad byte-order magic"),
    (b"\x0a\x0d\x0d\x0a\x03\x00\x00\x00\x4d\x3c\x2b\x1a" + b"\x00" * 16, "garbage block length 3"),
    (block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 2, 0, -1)), "version 2.0"),
    (gzip.compress(b"just some text inside"), "gzip-compressed, but not a capture file (starts with text"),
    (gzip.compress(b""), "gzip-compressed, but empty inside"),
    (b"\x1f\x8b\x08\x00garbage-after-gzip-magic", "gzip data is unreadable"),
], ids=["empty", "short", "text", "zip", "zstd", "binary", "cut-pcap-header", "pcap-version", "pcapng-byte-order",
        "pcapng-shb-length", "pcapng-version", "gzip-text", "gzip-empty", "gzip-garbage"])
def test_unreadable_files_are_refused_with_a_clear_reason(tmp_path, content, expected):
    assert expected in refusal(write(tmp_path, content))


def test_missing_file_and_directory_are_refused(tmp_path):
    assert refusal(tmp_path / "nope.pcap") == "no such file"
    assert refusal(tmp_path) == "is a directory, not a capture file"


# ---------------------------------------------------------------- damage later in the file: warn, keep the rest

GOOD_PCAP = pcap_bytes([(1, 0, frame_bytes(i, 100)) for i in range(3)], snaplen=1000)


@pytest.mark.parametrize("content,kept,warning", [
    (GOOD_PCAP[:-10], 2, "truncated last record: frame 3 needs 100 bytes, 90 left"),
    (GOOD_PCAP + b"\x01\x02\x03", 3, "truncated record header after frame 3"),
    (GOOD_PCAP + struct.pack("<IIII", 1, 0, 0x7FFF0000, 60) + b"\x00" * 64, 3, "corrupt record header"),
    (GOOD_PCAP + struct.pack("<IIII", 1, 0, 900, 900) + b"\x00" * 64, 3, "frame 4 needs 900 bytes, 64 left"),
], ids=["cut-last-record", "cut-record-header", "impossible-caplen", "past-eof"])
def test_damaged_pcap_keeps_every_frame_before_the_damage(tmp_path, content, kept, warning):
    frames, source = read_all(write(tmp_path, content))
    assert [f.frame for f in frames] == list(range(1, kept + 1))
    assert len(source.warnings) == 1 and warning in source.warnings[0]


def test_records_longer_than_snaplen_are_kept_with_one_warning(tmp_path):
    frames, source = read_all(write(tmp_path, pcap_bytes([(1, 0, frame_bytes(1, 200))] * 2, snaplen=100)))
    assert len(frames) == 2 and source.warnings == ["2 records are longer than the file's snaplen (100); kept as they are"]


GOOD_NG = shb() + idb(1) + epb(0, 10, frame_bytes(1)) + epb(0, 20, frame_bytes(2))


def garbage_length_block() -> bytes:
    return struct.pack("<II", 6, 0xFFFFFFF0) + b"\x00" * 40


@pytest.mark.parametrize("content,kept,warning", [
    (GOOD_NG[:-6], 1, "truncated last block"),
    (GOOD_NG + b"\x06\x00", 2, "truncated block header"),
    (GOOD_NG + garbage_length_block() + epb(0, 30, b"z"), 2, "garbage block length 4294967280"),
    (GOOD_NG + struct.pack("<II", 6, 13) + b"\x00" * 20, 2, "garbage block length 13"),
    (GOOD_NG + epb(0, 30, b"z")[:-4] + b"\x99\x00\x00\x00" + epb(0, 40, b"y"), 2, "trailing length differs"),
    (GOOD_NG + struct.pack("<II", 6, 1000) + b"\x00" * 40, 2, "needs 1000 bytes, 48 left"),
], ids=["cut-last-block", "cut-block-header", "huge-length", "odd-length", "trailer-mismatch", "past-eof"])
def test_damaged_pcapng_keeps_every_frame_before_the_damage(tmp_path, content, kept, warning):
    frames, source = read_all(write(tmp_path, content))
    assert [f.frame for f in frames] == list(range(1, kept + 1))
    assert any(warning in w for w in source.warnings), source.warnings


def test_bad_packet_inside_an_intact_block_is_skipped_and_the_walk_goes_on(tmp_path):
    too_long = block(6, struct.pack("<IIIII", 0, 0, 5, 500, 500) + b"\x00" * 16)
    content = GOOD_NG + too_long + epb(7, 1, b"unknown interface") + epb(0, 30, frame_bytes(3))
    frames, source = read_all(write(tmp_path, content))
    assert [(f.frame, f.data) for f in frames] == [(1, frame_bytes(1)), (2, frame_bytes(2)), (3, frame_bytes(3))]
    assert sorted(source.warnings) == [
        "1 packet blocks have a captured length larger than the block; skipped",
        "1 packet blocks name an interface that has no description; skipped",
    ]


def test_malformed_options_are_ignored_with_a_warning(tmp_path):
    bad_opts = struct.pack("<HH", 2, 200) + b"eth0"
    content = shb() + block(1, struct.pack("<HHI", 1, 0, 65535) + bad_opts) + epb(0, 1, b"a")
    frames, source = read_all(write(tmp_path, content))
    assert len(frames) == 1 and source.interfaces[0].name == ""
    assert source.warnings == ["1 blocks have a malformed option list; their options ignored"]


def test_cut_gzip_keeps_every_frame_that_could_be_inflated(tmp_path):
    packed = gzip.compress(pcap_bytes([(1, 0, frame_bytes(i, 3000)) for i in range(200)]), compresslevel=1)
    cut = packed[: len(packed) * 2 // 3]
    inflatable = len(zlib.decompressobj(wbits=31).decompress(cut))
    frames, source = read_all(write(tmp_path, cut))
    assert len(frames) == (inflatable - 24) // (16 + 3000) > 0
    assert [f.data for f in frames] == [frame_bytes(i, 3000) for i in range(len(frames))]
    assert source.warnings == [
        f"truncated last record: frame {len(frames) + 1} needs 3000 bytes, {(inflatable - 24) % 3016 - 16} left; ignored",
        f"the gzip data is cut short (no end-of-stream marker); frames up to {len(frames)} kept",
    ]


def test_corrupt_gzip_data_ends_the_walk_with_a_warning(tmp_path):
    packed = bytearray(gzip.compress(pcap_bytes([(1, 0, bytes(range(256)) * 8) for _ in range(100)])))
    packed[len(packed) // 2: len(packed) // 2 + 64] = b"\xff" * 64
    frames, source = read_all(write(tmp_path, bytes(packed)))
    assert len(frames) < 100
    assert any(w.startswith("corrupt gzip data") for w in source.warnings), source.warnings


def test_concatenated_gzip_members_and_zero_padding_are_one_stream(tmp_path):
    content = pcap_bytes([(1, 0, frame_bytes(i)) for i in range(10)])
    packed = gzip.compress(content[:100]) + gzip.compress(content[100:]) + b"\0" * 512
    frames, source = read_all(write(tmp_path, packed))
    assert [f.data for f in frames] == [frame_bytes(i) for i in range(10)] and source.warnings == []


# ---------------------------------------------------------------- the corpus (real captures), tshark as oracle

def test_every_corpus_capture_yields_exactly_its_frame_count(corpus):
    for entry in corpus:
        frames, source = read_all(entry["capture_path"])
        info = entry["capture_info"]
        assert (len(frames), len(source.interfaces)) == (info["packets"], info["interface_count"]), entry["id"]
        assert source.warnings == [], entry["id"]
        assert source.file_format.replace("pcap-ns", "nsecpcap") == info["file_type"], entry["id"]


def tshark_times(path) -> list[tuple[int, int]]:
    """(ns timestamp, interface id) per frame, as tshark prints them (9 decimals: exact ns)."""
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch",
                          "-e", "frame.interface_id"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        epoch, iface = line.split("\t")
        seconds, _, fraction = epoch.partition(".")
        rows.append((int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9]), int(iface or 0)))
    return rows


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_timestamps_and_interfaces_match_tshark_on_corpus_pcapng_and_nanosecond_files(corpus):
    chosen = [e for e in corpus if e["capture_info"]["file_type"] in ("pcapng", "nsecpcap")]
    assert any(e["capture_info"]["interface_count"] > 1 for e in chosen)
    for entry in chosen:
        frames, _ = read_all(entry["capture_path"])
        assert [(f.ts_ns, f.iface) for f in frames] == tshark_times(entry["capture_path"]), entry["id"]


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_timestamps_match_tshark_on_a_crafted_multi_interface_file(tmp_path):
    path = write(tmp_path, multi_interface_pcapng()[:-len(spb(frame_bytes(4, 70)))], "multi.pcapng")
    frames, _ = read_all(path)
    assert [(f.ts_ns, f.iface) for f in frames] == tshark_times(path)
