"""The other files Windows users and appliances hand over: an ETW trace (.etl) is refused with the conversion
to run; a pcapng converted from pktmon counts each packet once; formats only Wireshark reads (snoop, ERF, …)
are read through tshark when it is installed, with one line saying so, and refused clearly when it is not."""

from __future__ import annotations

import gzip
import json
import pickle
import shutil
import struct
import subprocess

import pytest
from click.testing import CliRunner

from netreset.cli.main import main
from netreset.errors import CaptureError, UnsupportedFormat
from netreset.ingest.containers import duplicates
from netreset.ingest.containers.open import open_frames
from netreset.ingest.frames import RawFrame
from netreset.ingest.files import read_capture_files
from netreset.ingest.reader import read_capture
from netreset.ingest.tshark import engine as tshark_engine
from netreset.pipeline import run as run_module
from netreset.pipeline.whole import Options
from tests.conftest import CAPTURES
from test_container import epb, idb, shb

EDITCAP = shutil.which("editcap")
requires_editcap = pytest.mark.skipif(EDITCAP is None, reason="editcap (Wireshark) not installed")
requires_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def frames_of(path) -> list[RawFrame]:
    with open_frames(path) as source:
        return list(source)


def write(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def answers(path, *more) -> dict[str, dict]:
    """netreset's JSON answers; summary's warnings apart (they name the file and how it was read)."""
    out = {}
    for command in ("summary", "conversations", "locate-reset"):
        result = cli(command, "--format", "json", path, *more)
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        doc.pop("warnings", None)
        out[command] = doc
    return out


# ---------------------------------------------------------------- .etl: a one-line conversion recipe

def etl_bytes(pointer_size: int = 8) -> bytes:
    """The first buffer of an ETW log: WMI buffer header, then the log-file header event's system trace header."""
    buffer = struct.pack("<IIIiQQQHHI", 65536, 400, 400, 0, 0, 1, 10_000_000, 0, 1, 0)
    buffer += struct.pack("<IHH16x", 0, 0, 4)  # offset, flags, buffer type "header"
    marker = struct.pack("<HBB", 2, 2 if pointer_size == 8 else 1, 0xC0)
    event = marker + struct.pack("<HBBIIQ", 300, 0, 0, 4, 4, 0)  # size, type "info", group "header"
    return (buffer + event).ljust(1024, b"\0")


@pytest.mark.parametrize("pointer_size", [4, 8])
@pytest.mark.parametrize("compress", [False, True])
def test_an_etl_trace_is_refused_with_the_conversion_and_its_pitfalls(tmp_path, pointer_size, compress):
    content = etl_bytes(pointer_size)
    path = tmp_path / "NetTrace.etl"
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(CaptureError) as info:
        open_frames(path)
    what = info.value.what
    assert type(info.value) is CaptureError  # not "unsupported": tshark cannot read .etl either
    assert "\n" not in str(info.value) and "Windows event trace" in what
    for advice in ("etl2pcapng", "pktmon etl2pcap", "128 bytes", "--pkt-size 0", "once per component"):
        assert advice in what
    result = cli("summary", path)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1


def test_bytes_that_merely_start_like_a_buffer_size_are_not_called_an_etl_trace(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(struct.pack("<II", 65536, 400) + bytes(200))
    with pytest.raises(CaptureError) as info:
        open_frames(path)
    assert "event trace" not in info.value.what


# ---------------------------------------------------------------- pktmon: one packet logged by several components

NS_CLOCK = 9  # if_tsresol: nanoseconds, so the crafted times equal the sample's


def pktmon_like(frames: list[RawFrame], components: int = 3, step_ns: int = 3_000, comment=None) -> bytes:
    """Each frame logged by ``components`` components, ``step_ns`` apart, one interface per component."""
    out = shb() + b"".join(idb(1, tsresol=NS_CLOCK, name=f"component {c}".encode()) for c in range(components))
    for f in frames:
        for c in range(components):
            note = comment(f, c) if comment else None
            out += epb(c, f.ts_ns + c * step_ns, f.data, wirelen=f.wirelen, comment=note)
    return out


def test_a_packet_logged_by_three_components_is_counted_once_with_one_warning(tmp_path):
    original = frames_of(CAPTURES / "firewall-reset.pcapng")
    path = write(tmp_path, "pktmon.pcapng", pktmon_like(original))
    kept = frames_of(path)
    assert [(f.ts_ns, f.data, f.iface) for f in kept] == [(f.ts_ns, f.data, 0) for f in original]
    assert [f.frame for f in kept] == list(range(1, 3 * len(original), 3))  # Wireshark's frame numbers
    table, stats = read_capture(path)
    assert stats.frames_total == len(original) and stats.warnings[0].startswith(f"{2 * len(original)} frames are")
    assert "pktmon-style duplicates" in stats.warnings[0] and "--component-id" in stats.warnings[0]


def test_the_deduplicated_log_answers_as_the_original_capture(tmp_path):
    original = frames_of(CAPTURES / "firewall-reset.pcapng")
    path = write(tmp_path, "pktmon.pcapng", pktmon_like(original))
    theirs, ours = answers(CAPTURES / "firewall-reset.pcapng"), answers(path)
    for doc in (theirs, ours):  # the kept copies keep Wireshark's numbering of the file: every third frame
        for reset in doc["locate-reset"]["resets"]:
            reset.pop("frame"), reset.pop("display_filter")
        for conv in doc["conversations"]["conversations"]:
            conv.pop("first_frame"), conv.pop("last_frame")
        for finding in doc["summary"]["findings"]:
            finding.pop("frames", None), finding.pop("display_filter", None)
    assert ours == theirs


def test_the_same_bytes_twice_at_the_same_logging_point_are_kept(tmp_path):
    """A duplicate on one link (a SPAN port, a retransmission) is evidence: only other components' copies go."""
    original = frames_of(CAPTURES / "clean.pcap")[:4]
    content = shb() + idb(1, tsresol=NS_CLOCK) + idb(1, tsresol=NS_CLOCK)
    for f in original:
        content += epb(0, f.ts_ns, f.data) + epb(0, f.ts_ns + 1_000, f.data)
    path = write(tmp_path, "span.pcapng", content)
    with open_frames(path) as source:
        assert len(list(source)) == 8 and source.warnings == []


def test_pktmon_comments_name_the_component_when_all_share_one_interface(tmp_path):
    original = frames_of(CAPTURES / "clean.pcap")

    def comment(f: RawFrame, c: int) -> bytes:
        return (f"PktGroupId {1000 + f.frame}, PktNumber 1, Appearance {c + 1}, Direction Rx , Type Ethernet , "
                f"Component {[12, 7, 3][c]}, Edge 1, Filter 0, OriginalSize {f.wirelen}, LoggedSize {f.caplen}").encode()

    content = shb() + idb(1, tsresol=NS_CLOCK)
    for f in original:
        for c in range(3):
            content += epb(0, f.ts_ns + 2_000 * c, f.data, comment=comment(f, c))
    kept = frames_of(write(tmp_path, "one-interface.pcapng", content))
    assert [f.data for f in kept] == [f.data for f in original]


def test_pktmon_packet_ids_join_copies_whose_bytes_differ(tmp_path):
    """A component may log the packet with its VLAN tag stripped: the packet id still says it is the same one."""
    f = frames_of(CAPTURES / "clean.pcap")[0]
    tagged = f.data[:12] + b"\x81\x00\x00\x05" + f.data[12:]
    note = "PktGroupId 77, PktNumber 1, Appearance {}, Direction Rx , Type Ethernet , Component {}".format
    content = shb() + idb(1, tsresol=NS_CLOCK) + idb(1, tsresol=NS_CLOCK)
    content += epb(0, f.ts_ns, tagged, comment=note(1, 4).encode()) + epb(1, f.ts_ns + 900, f.data, comment=note(2, 9).encode())
    assert [g.data for g in frames_of(write(tmp_path, "vlan.pcapng", content))] == [tagged]


def test_no_duplicate_among_the_first_frames_means_an_ordinary_capture_kept_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(duplicates, "PROBE_FRAMES", 6)
    original = frames_of(CAPTURES / "clean.pcap")
    content = shb() + idb(1, tsresol=NS_CLOCK) + idb(1, tsresol=NS_CLOCK)
    content += b"".join(epb(0, f.ts_ns, f.data) for f in original[:6])
    content += b"".join(epb(0, f.ts_ns, f.data) + epb(1, f.ts_ns + 500, f.data) for f in original[6:])
    with open_frames(write(tmp_path, "late.pcapng", content)) as source:
        assert len(list(source)) == 6 + 2 * (len(original) - 6) and source.warnings == []


def test_pktmons_default_cut_at_128_bytes_is_named(tmp_path):
    big = frames_of(CAPTURES / "firewall-reset.pcapng")
    cut = [f._replace(data=f.data[:128], caplen=min(f.caplen, 128)) for f in big]
    path = write(tmp_path, "cut.pcapng", pktmon_like(cut, components=2))
    with open_frames(path) as source:
        list(source)
    assert "cut at 128 bytes, pktmon's default" in source.warnings[-1] and "--pkt-size 0" in source.warnings[-1]


def test_the_compiled_path_leaves_a_pktmon_log_to_the_reader_that_deduplicates(tmp_path):
    original = frames_of(CAPTURES / "firewall-reset.pcapng")
    path = write(tmp_path, "pktmon.pcapng", pktmon_like(original))
    compiled, compiled_stats = read_capture(path, compiled=True)
    plain, plain_stats = read_capture(path, compiled=False)
    assert len(compiled) == len(plain) == len(original) and compiled_stats == plain_stats
    assert all((compiled.columns[c] == plain.columns[c]).all() for c in plain.columns)


def test_remembered_packets_are_bounded_even_when_time_stands_still(monkeypatch):
    monkeypatch.setattr(duplicates, "MAX_TRACKED", 10)
    recent = duplicates._Recent(duplicates.DUPLICATE_WINDOW_NS)
    for i in range(1000):
        assert not recent.seen((60, bytes([i % 256, i // 256])), (i % 2, None), 0)
    assert len(recent.latest) <= 11 and len(recent.order) <= 11


# ---------------------------------------------------------------- formats only tshark reads

def erf_bytes(frames: list[RawFrame]) -> bytes:
    """Endace ERF, type 2 (Ethernet) records with a zero FCS: a format with no magic at all."""
    out = []
    for f in frames:
        seconds, ns = divmod(f.ts_ns, 10**9)
        fraction = (ns << 32) // 10**9 + 1  # the binary fraction just above the ns, so it reads back as the ns
        out.append(struct.pack("<Q", seconds << 32 | fraction)
                   + struct.pack(">BBHHH", 2, 0x04, 16 + 2 + len(f.data) + 4, 0, len(f.data) + 4)
                   + b"\0\0" + f.data + b"\0\0\0\0")
    return b"".join(out)


@requires_editcap
@requires_tshark
@pytest.mark.tshark
def test_snoop_is_read_through_tshark_with_one_line_saying_so(tmp_path):
    snoop = tmp_path / "clean.snoop"
    subprocess.run([EDITCAP, "-F", "snoop", str(CAPTURES / "clean.pcap"), str(snoop)], check=True)
    result = cli("summary", snoop)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [f"Warning: {snoop}: a Solaris snoop capture, read through tshark "
                                          "(as with --engine tshark)"]
    assert answers(snoop) == answers(CAPTURES / "clean.pcap")  # snoop keeps microseconds, as this pcap does
    assert run_module.analyse([snoop], Options()).stats.file_format == "snoop"


@requires_tshark
@pytest.mark.tshark
def test_erf_is_read_through_tshark_and_answers_as_the_original(tmp_path):
    erf = write(tmp_path, "capture.erf", erf_bytes(frames_of(CAPTURES / "firewall-reset.pcapng")))
    assert answers(erf) == answers(CAPTURES / "firewall-reset.pcapng")
    assert "a format netreset does not read itself, read through tshark" in cli("summary", erf).stderr


@requires_editcap
@requires_tshark
@pytest.mark.tshark
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_snoop_file_beside_a_pcapng_is_merged_with_it(tmp_path, workers):
    snoop = tmp_path / "b.snoop"
    subprocess.run([EDITCAP, "-F", "snoop", str(CAPTURES / "syn-blackhole.pcap"), str(snoop)], check=True)
    both = answers(CAPTURES / "server-abort.pcapng", snoop, "--workers", workers)
    native = answers(CAPTURES / "server-abort.pcapng", CAPTURES / "syn-blackhole.pcap", "--workers", workers)
    assert both == native


@requires_editcap
@requires_tshark
@pytest.mark.tshark
def test_a_big_file_tshark_must_read_falls_back_from_the_streamed_path(tmp_path, monkeypatch):
    snoop = tmp_path / "c.snoop"
    subprocess.run([EDITCAP, "-F", "snoop", str(CAPTURES / "clean.pcap"), str(snoop)], check=True)
    monkeypatch.setattr(run_module, "wanted", lambda *a, **k: True)
    analysis = run_module.analyse([snoop], Options())
    assert analysis.conversation_count() == 1 and "read through tshark" in analysis.stats.warnings[0]


@requires_editcap
def test_without_tshark_the_error_says_what_the_file_is_and_what_to_do(tmp_path, monkeypatch):
    def missing(path="tshark"):
        raise CaptureError(path, tshark_engine.NOT_FOUND)

    monkeypatch.setattr(tshark_engine, "find_tshark", missing)
    snoop = tmp_path / "c.snoop"
    subprocess.run([EDITCAP, "-F", "snoop", str(CAPTURES / "clean.pcap"), str(snoop)], check=True)
    result = cli("summary", snoop)
    [line] = result.output.strip().splitlines()
    assert result.exit_code == 1 and line.startswith(f"Error: {snoop}: a Solaris snoop capture, which netreset")
    assert "install tshark" in line and "editcap -F pcapng" in line


@requires_tshark
@pytest.mark.tshark
def test_bytes_neither_reader_knows_are_refused_once_saying_tshark_tried_too(tmp_path):
    path = write(tmp_path, "x.cap", b"\x00\x01\x02\x03\xfe\xff" + bytes(200))
    result = cli("summary", path)
    [line] = result.output.strip().splitlines()
    assert result.exit_code == 1 and line.endswith("; tshark cannot read it either")


def test_capture_errors_survive_the_trip_back_from_a_worker_process(tmp_path):
    for error in (CaptureError("a.pcap", "empty file"), UnsupportedFormat("b.snoop", "what", "a snoop capture")):
        again = pickle.loads(pickle.dumps(error))
        assert (type(again), again.path, again.what, str(again)) == (type(error), error.path, error.what, str(error))
    assert pickle.loads(pickle.dumps(UnsupportedFormat("b", "w", "k"))).kind == "k"
    empty = write(tmp_path, "empty.pcap", b"")
    with pytest.raises(CaptureError, match="empty file"):
        read_capture_files([CAPTURES / "clean.pcap", empty], workers=2)
