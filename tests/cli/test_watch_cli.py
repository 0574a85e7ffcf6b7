"""``netreset watch`` as a user runs it: a process reading a pipe fed block by block with pauses, a stream
cut short, bytes that are no capture, ``--until`` with the pipe still open, ``--save`` read back by tshark,
and the capture program it starts (dumpcap, tcpdump) never left running — after the end, Ctrl-C or an error.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import netreset

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
SRC = str(Path(netreset.__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def start(*args: str, stdin=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "netreset", "watch", *args], stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)


def records(out: bytes) -> list[dict]:
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def read_line(proc: subprocess.Popen, timeout: float) -> tuple[bytes, float]:
    """The next stdout line and when it came (waits at most ``timeout``)."""
    import select

    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no line in time"
    return proc.stdout.readline(), time.monotonic()


def finish(proc: subprocess.Popen) -> tuple[bytes, bytes]:
    """The rest of stdout (what readline buffered included) and stderr, once the process has ended."""
    out = proc.stdout.read()
    err = proc.stderr.read()
    proc.wait(timeout=30)
    return out, err


def test_a_pipe_fed_with_pauses_gives_each_finding_while_it_stays_open():
    """The RST of firewall-reset.pcapng is written, then the pipe stays open and silent: the line comes within
    the settle window plus a little, before the pipe closes."""
    data = (CAPTURES / "firewall-reset.pcapng").read_bytes()
    proc = start("-r", "-", "--format", "json")
    try:
        cut = len(data) // 3
        for piece in (data[:cut], data[cut:2 * cut], data[2 * cut:]):
            proc.stdin.write(piece)
            proc.stdin.flush()
            time.sleep(0.3)
        written = time.monotonic()
        line, seen = read_line(proc, 10)
        record = json.loads(line)
        assert record["kind"] == "reset" and record["verdict"] == "middlebox" and record["frame"] == 9
        assert seen - written < 2.0  # settle 0.5 s, the rest the start-up of a loaded machine
        assert proc.poll() is None  # still watching
    finally:
        proc.stdin.close()
        proc.stdin = None
    out, err = finish(proc)
    assert proc.returncode == 0, err
    summary = records(out)[-1]
    assert summary["kind"] == "summary" and summary["ended"] == "end of stream" and summary["packets"] == 9
    assert b"Traceback" not in err


def test_a_stream_cut_inside_a_record_warns_once_and_ends_cleanly():
    data = (CAPTURES / "multi-connection.pcap").read_bytes()
    proc = start("-r", "-")
    out, err = proc.communicate(data[:len(data) - 30], timeout=60)
    assert proc.returncode == 0
    warnings = [line for line in err.decode().splitlines() if line]
    assert len(warnings) == 1 and warnings[0].startswith("Warning: ") and "truncated" in warnings[0], warnings
    assert "reset  MIDDLEBOX hop 4" in out.decode() and "Watched 50 packets" in out.decode()


@pytest.mark.parametrize("data, said", [(b"", "empty stream"), (b"GET / HTTP/1.1\r\n\r\n", "not a capture file"),
                                        (b"\xd4\xc3\xb2", "before a capture header"),
                                        (b"\x1f\x8b\x08\x00" + bytes(20), "gzip-compressed")])
def test_no_capture_at_all_is_one_error_line(data, said):
    proc = start("-r", "-")
    out, err = proc.communicate(data, timeout=60)
    assert proc.returncode == 1
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: stdin: ") and said in lines[0], lines


def test_until_stops_at_the_first_such_finding_with_status_3_while_the_pipe_is_open():
    data = (CAPTURES / "port-closed.pcap").read_bytes()
    proc = start("-r", "-", "--until", "refused", "--format", "json")
    proc.stdin.write(data)
    proc.stdin.flush()  # and never closed: the watch ends by itself
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    found = records(out)
    assert found[0]["kind"] == "refused" and found[-1]["ended"] == "until"


def test_until_n_and_duration(tmp_path):
    proc = start("-r", str(CAPTURES / "multi-connection.pcap"), "--until", "1")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 3
    proc = start("-r", str(CAPTURES / "clean.pcap"), "--duration", "1.5")  # followed: only the duration ends it
    began = time.monotonic()
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and time.monotonic() - began >= 1.5
    assert "(duration): 0 findings" in out.decode()


def test_a_growing_file_is_followed(tmp_path):
    data = (CAPTURES / "firewall-reset.pcapng").read_bytes()
    growing = tmp_path / "growing.pcapng"
    growing.write_bytes(data[:200])
    proc = start("-r", str(growing), "--format", "json", "--duration", "20", "--until", "reset")
    time.sleep(0.5)
    with open(growing, "ab") as out:
        out.write(data[200:])
    line, _ = read_line(proc, 15)
    assert json.loads(line)["frame"] == 9
    finish(proc)
    assert proc.returncode == 3


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("name", ["firewall-reset.pcapng", "multi-connection.pcap", "firewall-reset-ipv6.pcapng"])
def test_saved_captures_read_back_with_tshark(tmp_path, name):
    """--save writes pcapng that tshark reads: the conversation's frames with their timestamps, link types and
    interfaces as in the source."""
    proc = start("-r", str(CAPTURES / name), "--no-follow", "--save", str(tmp_path), "--format", "json")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    saved = records(out)[-1]["saved"]
    assert saved and all(Path(p).is_file() for p in saved)
    fields = ["-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len", "-e",
              "frame.interface_id", "-e", "frame.encap_type", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
              "-e", "tcp.seq_raw"]
    source = subprocess.run(["tshark", "-r", str(CAPTURES / name), *fields], capture_output=True, text=True, check=True)
    def normal(line: str) -> str:  # a pcap has no interface ids (tshark leaves the field empty): pcapng's is 0
        cols = line.split("\t")
        cols[3] = cols[3] or "0"
        return "\t".join(cols)

    rows = {normal(line) for line in source.stdout.splitlines()}
    for path in saved:
        back = subprocess.run(["tshark", "-r", path, *fields], capture_output=True, text=True)
        assert back.returncode == 0, back.stderr
        lines = [normal(line) for line in back.stdout.splitlines()]
        assert lines and set(lines) <= rows  # every frame as it was, to the nanosecond


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _capture_tools() -> list[str]:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return []
    return [tool for tool in ("dumpcap", "tcpdump") if shutil.which(tool)]


@pytest.mark.skipif(not _capture_tools(), reason="needs root and dumpcap or tcpdump")
@pytest.mark.parametrize("tool", _capture_tools())
@pytest.mark.parametrize("how", ["sigint", "sigterm", "duration", "sigkill"])
def test_the_capture_program_is_always_stopped(tool, how):
    """Ctrl-C, SIGTERM and --duration end with the summary; even SIGKILL, which nothing can catch, takes the
    capture program along (Linux: its parent-death signal)."""
    proc = start("-i", "lo", "--tool", tool, "--filter", "tcp port 9", *(["--duration", "2"] if how == "duration" else []),
                 stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not (children := _children(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children, "the capture program did not start"
    time.sleep(1.0)
    if how != "duration":
        proc.send_signal({"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}[how])
    out, err = proc.communicate(timeout=30)
    if how == "sigkill":
        assert proc.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 5
        while [c for c in children if _alive(c)] and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        assert proc.returncode == 0, err
        assert "Watched" in out.decode() and b"Traceback" not in err
    assert not [c for c in children if _alive(c)]


@pytest.mark.skipif(not _capture_tools(), reason="needs root and dumpcap or tcpdump")
@pytest.mark.parametrize("tool", _capture_tools())
def test_a_capture_program_that_fails_is_one_error_line_and_nothing_left(tool):
    proc = start("-i", "no-such-interface-0", "--tool", tool, stdin=subprocess.DEVNULL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no-such-interface-0: ") and tool in lines[0], lines
    assert not _children(proc.pid)


def test_usage_errors():
    for args in ([], ["-i", "lo", "-r", "-"], ["-r", "-", "--filter", "port 80"], ["-r", "-", "--keep", "lots"]):
        proc = start(*args)
        _, err = proc.communicate(b"", timeout=30)
        assert proc.returncode == 2 and err.decode().startswith("Error: "), (args, err)


def test_help_names_every_until_word():
    proc = start("--help")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "--until reset|middlebox|refused|syn-timeout|N" in out.decode()


def test_text_lines_and_json_lines_say_the_same():
    text = start("-r", str(CAPTURES / "port-closed.pcap"), "--no-follow").communicate(timeout=60)[0].decode()
    found = records(start("-r", str(CAPTURES / "port-closed.pcap"), "--no-follow", "--format", "json")
                    .communicate(timeout=60)[0])
    assert [r["kind"] for r in found] == ["refused", "reset", "summary"]
    lines = text.splitlines()
    assert "  refused undetermined (0.62)  10.66.0.1:40003 -> 10.66.6.2:8083  conversation 0 — " in lines[0]
    assert found[0]["summary"] in lines[0] and found[1]["advice"] in lines[1]
    assert lines[-1] == "Watched 2 packets for " + lines[-1].split("for ", 1)[1] and "2 findings: 1 refused, 1 reset" in lines[-1]


@pytest.mark.parametrize("tool", [t for t in ("dumpcap", "tcpdump") if shutil.which(t)])
def test_the_capture_command_line(tool):
    from netreset.ingest.live import capture_argv

    argv = capture_argv("eth9", "tcp port 443", tool)
    assert os.path.basename(argv[0]) == tool and argv[argv.index("-i") + 1] == "eth9"
    assert argv[argv.index("-w") + 1] == "-"  # to the pipe
    if tool == "dumpcap":
        assert argv[argv.index("-f") + 1] == "tcp port 443"
    else:
        assert "-U" in argv and argv[-1] == "tcp port 443"  # each packet written at once; the filter last
