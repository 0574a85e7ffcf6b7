"""The other files Windows users and appliances hand over: an ETW trace (.etl) is refused with the conversion
to run; formats only Wireshark reads (snoop, ERF, …) are read through tshark when it is installed, with one
line saying so, and refused clearly when it is not."""

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
from netreset.ingest.containers.open import open_frames
from netreset.ingest.frames import RawFrame
from netreset.ingest.files import read_capture_files
from netreset.ingest.tshark import engine as tshark_engine
from netreset.pipeline import run as run_module
from netreset.pipeline.whole import Options
from tests.conftest import CAPTURES

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
