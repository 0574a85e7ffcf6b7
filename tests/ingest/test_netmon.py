"""Network Monitor 1.x / 2.x captures, read natively.

Real files come from ``editcap -F netmon1|netmon2`` of the sample captures: netreset's answers on them
equal its answers on the same traffic in pcap, and tshark agrees frame by frame. Crafted files cover what
editcap never writes (2.1–2.3 trailers, per-frame media, comments, the process table, 2.3's UTC stamps,
records out of file order) and every kind of damage, which is a warning, never a traceback or a hang.

Precision: NetMon 1.x keeps milliseconds, 2.0–2.2 microseconds (both as a local start time plus an
offset), 2.3 100 ns (a UTC FILETIME per frame). editcap rounds each frame's offset from the first frame's
millisecond to the unit, so a frame's time is the original's within half a unit.

Every test runs in a time zone with summer time (America/New_York): before 2.3 a NetMon file stores the
capture start as local time, and editcap and netreset must both read it in the same zone, as NetMon does.
"""

from __future__ import annotations

import gzip
import json
import shutil
import struct
import subprocess
import time
from decimal import Decimal

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from netreset.cli.main import main
from netreset.errors import CaptureError
from netreset.ingest.containers import netmon as netmon_module
from netreset.ingest.containers.open import open_frames
from netreset.ingest.frames import PRIVATE_LINKTYPE_BASE as PRIVATE
from netreset.ingest.reader import read_capture
from tests.conftest import CAPTURES
from test_container_fuzz import FUZZ_SETTINGS, check_reader_contract, mutated_captures

SAMPLES = sorted(p.name for p in CAPTURES.iterdir() if p.suffix in (".pcap", ".pcapng"))
UNIT_NS = {"netmon1": 1_000_000, "netmon2": 1_000}
ZONE = "America/New_York"
FILETIME_UNIX_EPOCH = 116_444_736_000_000_000
EDITCAP = shutil.which("editcap")
requires_editcap = pytest.mark.skipif(EDITCAP is None, reason="editcap (Wireshark) not installed")
requires_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


@pytest.fixture(autouse=True)
def local_zone(monkeypatch):
    """A zone with summer time for this process and the editcap/tshark it runs; restored afterwards."""
    monkeypatch.setenv("TZ", ZONE)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# ---------------------------------------------------------------- a NetMon writer (struct-based, no library)

def record(major, minor, delta, data, wirelen=None, media=1, process=0, utc=0) -> bytes:
    """One frame record: header, bytes, and the trailer of 2.1 (media), 2.2 (+ process) or 2.3 (+ UTC)."""
    wirelen = len(data) if wirelen is None else wirelen
    head = struct.pack("<IHH" if major == 1 else "<QII", delta, wirelen, len(data))
    trailer = {(2, 1): struct.pack("<H", media), (2, 2): struct.pack("<HI", media, process),
               (2, 3): struct.pack("<HIQB", media, process, utc, 0)}.get((major, min(minor, 3)), b"")
    return head + data + (trailer if major == 2 else b"")


def netmon_bytes(records, *, major=2, minor=1, media=1, start=(2026, 11, 3, 25, 17, 43, 7, 201), order=None,
                 gap=b"", comments=(), processes=(), table=True) -> bytes:
    """A NetMon file: ``records`` are keyword dicts for :func:`record`, stored in file order ``order`` with
    ``gap`` between them; ``comments`` are (frame index, title, text bytes); ``processes`` (path, pid, ports)."""
    blobs = [record(major, minor, **r) for r in records]
    order = range(len(blobs)) if order is None else order
    body, offsets, pos = [], [0] * len(blobs), 128
    for i in order:
        body += [gap, blobs[i]]
        offsets[i] = pos + len(gap)
        pos += len(gap) + len(blobs[i])
    table_offset, table_bytes = pos, struct.pack(f"<{len(offsets)}I", *offsets) if table else b""
    pos += len(table_bytes)
    notes = b""
    for index, title, text in comments:
        t = title.encode("utf-16-le")
        notes += struct.pack("<III", 1, offsets[index], len(t)) + t + struct.pack("<I", len(text)) + text
    notes_offset, pos = (pos if notes else 0), pos + len(notes)
    procs = struct.pack("<H", 1) if processes else b""
    for path, pid, local, remote in processes:
        p = (path + "\0").encode("utf-16-le")
        procs += struct.pack("<I", len(p)) + p + struct.pack("<I", 4) + b"ICON"
        procs += struct.pack("<IHHHHI", pid, local, 0, remote, 0, 0) + bytes(32)
    header = struct.pack("<4sBBH8H10I", b"RTSS" if major == 1 else b"GMBU", minor, major, media, *start,
                         table_offset, len(table_bytes), 0, 0, notes_offset, len(notes),
                         pos if procs else 0, len(processes), 0, 0)
    return header.ljust(128, b"\0") + b"".join(body) + table_bytes + notes + procs


def sample_frames(name="clean.pcap") -> list[bytes]:
    with open_frames(CAPTURES / name) as source:
        return [f.data for f in source]


def read_all(path):
    with open_frames(path) as source:
        return list(source), source


def microsecond_samples() -> list[str]:
    """Samples whose clocks tick in µs: NetMon 2.0 keeps their times exactly."""
    return [name for name in SAMPLES if all(i.ts_resolution_ns >= 1000 for i in read_all(CAPTURES / name)[1].interfaces)]


def editcap(src, fmt: str, dst) -> str:
    subprocess.run([EDITCAP, "-F", fmt, str(src), str(dst)], check=True, capture_output=True)
    return str(dst)


def tshark_frames(path) -> list[tuple[int, int, int, int, int]]:
    """(frame number, ns timestamp, wire length, captured length, wiretap encapsulation) per frame."""
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch",
                          "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.encap_type"],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        number, epoch, wire, cap, encap = line.split("\t")
        rows.append((int(number), int(Decimal(epoch) * 1_000_000_000), int(wire), int(cap), int(encap)))
    return rows


def answers(path) -> dict[str, dict]:
    """netreset's JSON answers (summary, conversations, locate-reset), without path/file_format fields."""
    out = {}
    for command in ("summary", "conversations", "locate-reset"):
        result = CliRunner().invoke(main, [command, "--format", "json", str(path)])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        out[command] = {k: v for k, v in doc.items() if k not in ("path", "file_format")}
    return out


# ---------------------------------------------------------------- editcap's files: same answers as pcap, tshark agrees

@requires_editcap
@pytest.mark.parametrize("fmt", ["netmon1", "netmon2"])
@pytest.mark.parametrize("name", SAMPLES)
def test_editcap_netmon_answers_equal_the_same_traffic_in_pcap(tmp_path, name, fmt):
    """The .cap against the pcap editcap makes of it: the same traffic at the precision the .cap kept."""
    cap = editcap(CAPTURES / name, fmt, tmp_path / f"{name}.cap")
    back = editcap(cap, "pcap", tmp_path / f"{name}.pcap")
    assert answers(cap) == answers(back)


@requires_editcap
@pytest.mark.parametrize("name", microsecond_samples())
def test_netmon2_of_a_microsecond_capture_answers_exactly_as_the_original(tmp_path, name):
    assert answers(editcap(CAPTURES / name, "netmon2", tmp_path / "x.cap")) == answers(CAPTURES / name)


@requires_editcap
@requires_tshark
@pytest.mark.tshark
@pytest.mark.parametrize("fmt", ["netmon1", "netmon2"])
def test_frames_timestamps_lengths_and_link_types_match_tshark_and_the_original(tmp_path, fmt):
    for name in SAMPLES:
        cap = editcap(CAPTURES / name, fmt, tmp_path / f"{name}.cap")
        frames, source = read_all(cap)
        assert source.file_format == fmt and source.warnings == []
        ours = [(f.frame, f.ts_ns, f.wirelen, f.caplen, f.linktype) for f in frames]
        assert ours == tshark_frames(cap), name  # LINKTYPE 1 and wiretap's Ethernet are both 1
        original, _ = read_all(CAPTURES / name)
        assert [f.data for f in frames] == [f.data for f in original], name
        assert all(abs(f.ts_ns - o.ts_ns) <= UNIT_NS[fmt] // 2 for f, o in zip(frames, original)), name
        assert all(f.ts_ns % UNIT_NS[fmt] == 0 for f in frames), name


@requires_editcap
def test_the_start_time_is_local_time_read_in_this_zone(tmp_path):
    """editcap (like NetMon) writes the start as local time: 17:43 UTC is 12:43 in New York in November."""
    cap = editcap(CAPTURES / "clean.pcap", "netmon2", tmp_path / "x.cap")
    year, month, _dow, day, hour = struct.unpack_from("<5H", open(cap, "rb").read(), 8)
    assert (year, month, day, hour) == (2026, 11, 25, 12)
    frames, _ = read_all(cap)
    assert frames[0].ts_ns == read_all(CAPTURES / "clean.pcap")[0][0].ts_ns


@requires_editcap
def test_netmon_files_are_found_in_a_directory_and_named_in_the_format(tmp_path):
    editcap(CAPTURES / "firewall-reset.pcapng", "netmon2", tmp_path / "trace.cap")
    result = CliRunner().invoke(main, ["locate-reset", "--format", "json", str(tmp_path)])
    assert result.exit_code == 0 and json.loads(result.stdout)["resets"][0]["verdict"] == "middlebox"
    _table, stats = read_capture(tmp_path / "trace.cap")
    assert stats.file_format == "netmon2" and stats.interfaces[0].ts_resolution_ns == 1000.0


@requires_editcap
def test_gzip_compressed_netmon_reads_the_same_frames(tmp_path):
    cap = editcap(CAPTURES / "multi-connection.pcap", "netmon2", tmp_path / "x.cap")
    (tmp_path / "x.cap.gz").write_bytes(gzip.compress(open(cap, "rb").read()))
    frames, source = read_all(tmp_path / "x.cap.gz")
    assert frames == read_all(cap)[0] and source.file_format == "netmon2+gzip" and source.warnings == []


# ---------------------------------------------------------------- crafted 2.x files: what editcap never writes

def wlan_frame(ip: bytes) -> bytes:
    """An 802.11 data frame (to the DS) carrying ``ip`` behind LLC/SNAP."""
    return bytes([0x08, 0x01, 0, 0]) + bytes(18) + bytes(2) + bytes.fromhex("aaaa030000000800") + ip


RADIO = bytes([2]) + struct.pack("<H", 32) + bytes(29)  # NetMon 802.11 radio header, version 2, 32 bytes
BASE = 134_000_000_000_000_000  # a FILETIME in 2025


def mixed_records() -> list[dict]:
    eth = sample_frames()
    ip = [e[14:] for e in eth]
    return [dict(delta=0, data=eth[0], media=1, utc=BASE),
            dict(delta=10, data=ip[1], media=9, utc=BASE + 1234),  # raw IP frames
            dict(delta=20, data=RADIO + wlan_frame(ip[2]), media=6, utc=BASE + 2000),
            dict(delta=30, data=b"event", media=0xFFE0, utc=BASE + 3000),  # an ETW event: a frame, not a packet
            dict(delta=35, data=b"adapters", media=0xFFFD, utc=BASE + 3500),  # network info: not even a frame
            dict(delta=40, data=ip[3], media=0xE000 | 101, utc=BASE + 4000),  # taken over from a raw-IP pcap
            dict(delta=50, data=eth[4], media=4, utc=BASE + 5000),  # NDIS WAN (ATM): not decoded, counted
            dict(delta=60, data=b"filter", media=0xFFFF, utc=BASE + 6000),
            dict(delta=70, data=eth[5], media=0, utc=BASE + 7000),  # 0 is Ethernet too (NetMon 3.4 VPN files)
            dict(delta=80, data=wlan_frame(ip[6]), media=0xE080, utc=BASE + 8000)]


RTF = rb"{\rtf1\ansi{\fonttbl{\f0\fswiss Arial;}}\f0\fs20 client \b retried\b0  here\par}"


def mixed_file(tmp_path, **kwargs):
    path = tmp_path / "mixed.cap"
    path.write_bytes(netmon_bytes(mixed_records(), minor=3, order=[3, 1, 0, 2, 4, 9, 5, 6, 8, 7], gap=b"HOLE",
                                  comments=[(1, "Retry", RTF)], processes=[("C:\\app\\client.exe", 4242, 50123, 443)],
                                  **kwargs))
    return path


@requires_tshark
@pytest.mark.tshark
def test_a_2_3_file_with_every_media_type_matches_tshark_frame_by_frame(tmp_path):
    """Per-frame media, holes and records out of file order, 2.3's UTC stamps, metadata frames: tshark
    numbers the same frames (not the adapter-list record) with the same times and lengths."""
    path = mixed_file(tmp_path)
    frames, source = read_all(path)
    theirs = tshark_frames(path)
    assert [(f.frame, f.ts_ns) for f in frames] == [(n, ts) for n, ts, *_ in theirs]
    assert frames[1].ts_ns == (BASE + 1234 - FILETIME_UNIX_EPOCH) * 100
    for f, (_n, _ts, wire, cap, encap) in zip(frames, theirs):
        radio = 32 if encap == 126 else 0  # tshark counts NetMon's radio header in the frame; we strip it
        assert (f.wirelen + radio, f.caplen + radio) == (wire, cap)
    # wiretap's numbers: Ethernet, raw IP, 802.11, ATM PDUs, NetMon event, NetMon filter; NetMon's own 802.11
    # (radio header kept) and "a frame with a NetMon comment" have numbers of their own in tshark
    wiretap = {1: 1, 101: 7, 105: 20, PRIVATE + 4: 13, PRIVATE + 0xFFE0: 187, PRIVATE + 0xFFFF: 189}
    expected = [wiretap[f.linktype] for f in frames]
    expected[1], expected[2] = 188, 126  # frame 2 has a comment; frame 3 came with NetMon's radio header
    assert expected == [encap for *_, encap in theirs]
    assert source.warnings == []


@requires_tshark
@pytest.mark.tshark
def test_comments_and_processes_become_untrusted_text(tmp_path):
    path = mixed_file(tmp_path)
    _frames, source = read_all(path)
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "frame.number == 2", "-T", "fields",
                          "-e", "netmon_header.title_comment"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "Retry"
    assert source.comments == ["NetMon process table: C:\\app\\client.exe (pid 4242), 1 port pair",
                               "frame 2: Retry: client retried here"]


def test_each_media_type_is_decoded_or_counted_by_name(tmp_path):
    table, stats = read_capture(mixed_file(tmp_path))
    assert stats.frames_total == 9 and stats.tcp_packets == 6 and len(table) == 6
    assert stats.problems == {"unsupported-netmon-media-0x4": 1}
    assert stats.other_protocols == {"netmon-event": 1, "netmon-filter": 1}
    assert list(table.frame) == [1, 2, 3, 5, 8, 9]


@pytest.mark.parametrize("minor, trailer", [(0, 0), (1, 2), (2, 6), (3, 15), (4, 15)])
def test_every_2_x_minor_version_frames_its_records(tmp_path, minor, trailer):
    eth = sample_frames()[:3]
    records = [dict(delta=1000 * i, data=d, utc=BASE + 10_000 * i) for i, d in enumerate(eth)]
    path = tmp_path / "v.cap"
    path.write_bytes(netmon_bytes(records, minor=minor))
    frames, source = read_all(path)
    assert [f.data for f in frames] == eth and source.warnings == []
    assert netmon_module.TRAILER_BYTES.get(minor, netmon_module.TRAILER_2_3) == trailer
    start = int(time.mktime((2026, 11, 25, 17, 43, 7, 0, 0, -1))) * 10**9 + 201 * 10**6
    expected = [(BASE + 10_000 * i - FILETIME_UNIX_EPOCH) * 100 if minor >= 3 else start + 10**6 * i for i in range(3)]
    assert [f.ts_ns for f in frames] == expected


@requires_tshark
@pytest.mark.tshark
def test_1_x_milliseconds_and_a_2_x_offset_before_the_start_agree_with_tshark(tmp_path):
    """2.x offsets are unsigned µs that Microsoft has read as signed 100-ns units after a multiplication by 10."""
    eth = sample_frames()[:2]
    one = tmp_path / "one.cap"
    one.write_bytes(netmon_bytes([dict(delta=0, data=eth[0]), dict(delta=1500, data=eth[1])], major=1, minor=1))
    two = tmp_path / "two.cap"
    before = (1 << 63) - 2_500_000  # × 10 = 5 · 2^64 − 25 000 000: read as signed 100-ns units, −2.5 s
    two.write_bytes(netmon_bytes([dict(delta=0, data=eth[0]), dict(delta=before, data=eth[1])], minor=0))
    for path in (one, two):
        frames, _ = read_all(path)
        assert [(f.frame, f.ts_ns) for f in frames] == [(n, ts) for n, ts, *_ in tshark_frames(path)]
    assert read_all(one)[0][1].ts_ns - read_all(one)[0][0].ts_ns == 1_500_000_000
    assert read_all(two)[0][1].ts_ns - read_all(two)[0][0].ts_ns == -2_500_000_000


# ---------------------------------------------------------------- damage: one line, the rest analysed

def plain_file(tmp_path, n=4, **kwargs):
    """A 2.1 file of ``n`` sample frames: (path, bytes, frames, offset of each record)."""
    eth = sample_frames()[:n]
    content = netmon_bytes([dict(delta=i, data=d, utc=BASE + i) for i, d in enumerate(eth)], **kwargs)
    path = tmp_path / "d.cap"
    path.write_bytes(content)
    offsets = [128 + sum(16 + len(d) + 2 for d in eth[:i]) for i in range(n)]
    return path, content, eth, offsets


def test_a_file_cut_short_has_no_frame_table_and_is_read_in_file_order(tmp_path):
    path, content, eth, offsets = plain_file(tmp_path)
    path.write_bytes(content[: offsets[3] + 30])  # three whole records, part of the fourth
    frames, source = read_all(path)
    assert [f.data for f in frames] == eth[:3]
    assert len(source.warnings) == 2 and "truncated last record" in source.warnings[0]
    assert source.warnings[1].startswith("no usable frame table (it needs bytes") and "3 frames read" in source.warnings[1]


def test_a_frame_table_entry_pointing_at_nothing_is_skipped_and_the_others_kept(tmp_path):
    path, content, eth, offsets = plain_file(tmp_path)
    bad = bytearray(content)
    bad[len(content) - 12:len(content) - 8] = struct.pack("<I", 10**6)  # entry 2 points past the end
    bad[offsets[2] + 12:offsets[2] + 16] = struct.pack("<I", 10**7)  # record 3 claims 10 MB
    path.write_bytes(bytes(bad))
    frames, source = read_all(path)
    assert [f.frame for f in frames] == [1, 2] and [f.data for f in frames] == [eth[0], eth[3]]
    assert source.warnings == ["2 frame-table entries point at no readable record (first: entry 2: no record "
                               "header there); skipped"]


def test_a_frame_table_naming_one_record_again_and_again_stops_before_it_reads_the_file_many_times(tmp_path):
    """Records never overlap in a sound file: a table repeating one big record is corrupt, not 10 000 frames."""
    big = dict(delta=0, data=bytes(60_000))
    content = bytearray(netmon_bytes([big] * 2))
    table_offset = struct.unpack_from("<I", content, 24)[0]
    content[28:32] = struct.pack("<I", 40_000)  # the table "has" 10 000 entries: the two, then zeros and more
    content += struct.pack("<I", 128) * 10_000
    content[table_offset:table_offset + 8] = struct.pack("<II", 128, 128)
    path = tmp_path / "loop.cap"
    path.write_bytes(bytes(content))
    frames, source = read_all(path)
    assert len(frames) < 5 and "entries repeat or overlap" in source.warnings[-1]


@pytest.mark.parametrize("content, message", [
    (b"GMBU" + bytes(20), "truncated Network Monitor file header (24 of 128 bytes)"),
    (struct.pack("<4sBB", b"GMBU", 0, 3).ljust(128, b"\0"), "Network Monitor version 3.0 is not supported"),
])
def test_an_unusable_header_is_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / "h.cap"
    path.write_bytes(content)
    with pytest.raises(CaptureError) as info:
        open_frames(path)
    assert message in info.value.what and "\n" not in str(info.value)


def test_a_utc_stamp_out_of_range_falls_back_to_start_plus_offset_with_a_warning(tmp_path):
    eth = sample_frames()[:2]
    path = tmp_path / "u.cap"
    path.write_bytes(netmon_bytes([dict(delta=0, data=eth[0], utc=BASE), dict(delta=5, data=eth[1], utc=0)], minor=3))
    frames, source = read_all(path)
    start = int(time.mktime((2026, 11, 25, 17, 43, 7, 0, 0, -1))) * 10**9 + 201 * 10**6
    assert frames[1].ts_ns == start + 5_000 and len(frames) == 2
    assert source.warnings == ["1 frames have a UTC timestamp outside 1677–2262; their time is the capture start "
                               "plus their offset"]


def test_a_damaged_comment_table_is_ignored_with_a_warning(tmp_path):
    path = mixed_file(tmp_path)
    content = bytearray(path.read_bytes())
    notes_offset = struct.unpack_from("<I", content, 40)[0]  # after magic, version, media, start, frame table, user data
    content[notes_offset + 8:notes_offset + 12] = struct.pack("<I", 10**6)  # a title longer than the table
    path.write_bytes(bytes(content))
    frames, source = read_all(path)
    assert len(frames) == 9 and source.warnings == ["comment table: comment 1 has a title of 1000000 bytes; the rest ignored"]


def test_gzip_frames_stored_out_of_order_restart_the_stream_a_few_times_then_stop(tmp_path, monkeypatch):
    path = mixed_file(tmp_path)
    (tmp_path / "m.cap.gz").write_bytes(gzip.compress(path.read_bytes()))
    assert read_all(tmp_path / "m.cap.gz")[0] == read_all(path)[0]
    monkeypatch.setattr(netmon_module, "MAX_REWINDS", 2)
    frames, source = read_all(tmp_path / "m.cap.gz")
    assert 0 < len(frames) < 9 and "stored out of order" in source.warnings[-1]


def test_progress_follows_the_frames_not_the_file_offsets(tmp_path):
    path = mixed_file(tmp_path)
    with open_frames(path) as source:
        seen = [source.bytes_read for _ in source]
        assert seen == sorted(seen) and source.bytes_read == source.file_size


# ---------------------------------------------------------------- fuzz: never a traceback, never a hang

SEEDS = [
    netmon_bytes([dict(delta=i, data=bytes([i]) * (40 + i)) for i in range(5)], major=1, minor=1),
    netmon_bytes([dict(delta=i, data=bytes([i]) * (40 + i)) for i in range(5)], minor=0),
    netmon_bytes([dict(delta=i, data=bytes([i]) * 50, media=[1, 9, 6, 0xFFE0, 4][i], utc=BASE + i) for i in range(5)],
                 minor=3, order=[4, 2, 0, 1, 3], gap=b"??", comments=[(2, "t", b"{\\rtf1 x}")],
                 processes=[("p", 1, 2, 3)]),
]


def test_the_netmon_fuzz_seeds_are_valid_captures(tmp_path):
    for seed in SEEDS:
        (tmp_path / "s.cap").write_bytes(seed)
        frames, source = read_all(tmp_path / "s.cap")
        assert len(frames) == 5 and source.warnings == []


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory):
    return tmp_path_factory.mktemp("netmon-fuzz") / "capture"


@FUZZ_SETTINGS
@given(content=mutated_captures(SEEDS))
def test_mutated_and_truncated_netmon_files_never_crash_the_reader(fuzz_file, content):
    fuzz_file.write_bytes(content)
    check_reader_contract(fuzz_file)


@FUZZ_SETTINGS
@given(header=st.binary(min_size=64, max_size=64), body=st.binary(max_size=400))
def test_random_headers_and_bodies_never_crash_the_reader(fuzz_file, header, body):
    fuzz_file.write_bytes(b"GMBU" + header[4:].ljust(124, b"\0") + body)
    check_reader_contract(fuzz_file)
