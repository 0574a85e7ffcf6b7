"""Property: whatever bytes a file holds, the container reader either refuses it with one CaptureError
line or yields frames plus one-line warnings — never another exception, never a hang."""

from __future__ import annotations

import gzip
import signal
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netreset.errors import CaptureError
from netreset.ingest.containers.open import open_frames
from test_container import PCAP_NSEC, frame_bytes, multi_interface_pcapng, pcap_bytes

SEEDS = [
    pcap_bytes([(1_700_000_000 + i, i * 1000, frame_bytes(i, 40 + i)) for i in range(6)], snaplen=128),
    pcap_bytes([(1, 999_999_999, frame_bytes(9, 50))] * 3, magic=PCAP_NSEC, endian=">"),
    multi_interface_pcapng("<"),
    multi_interface_pcapng(">"),
]
MAGICS = [b"", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a", b"\x1f\x8b\x08\x00"]
FUZZ_SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                         suppress_health_check=[HealthCheck.too_slow])


class Hang(Exception):
    """The reader took far longer than any of these tiny files can justify."""


@contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_reader_contract(path) -> None:
    """Refused cleanly, or frames numbered 1..n with consistent lengths and one-line warnings."""
    with time_limit(5):
        try:
            source = open_frames(path)
        except CaptureError as exc:
            assert exc.what and "\n" not in str(exc)
            return
        with source:
            frames = list(source)
    assert [f.frame for f in frames] == list(range(1, len(frames) + 1))
    assert all(f.caplen == len(f.data) for f in frames)
    assert all(0 <= f.iface < len(source.interfaces) for f in frames)
    assert all(isinstance(w, str) and w and "\n" not in w for w in source.warnings)
    assert all(isinstance(c, str) for c in source.comments)


@st.composite
def mutated_captures(draw, seeds=SEEDS) -> bytes:
    """A valid capture (one of ``seeds``) with bytes overwritten, inserted or cut off, sometimes gzipped afterwards."""
    content = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(content) - 1))
        action = draw(st.sampled_from(["overwrite", "insert", "delete"]))
        chunk = draw(st.binary(min_size=1, max_size=8))
        if action == "overwrite":
            content[pos:pos + len(chunk)] = chunk
        elif action == "insert":
            content[pos:pos] = chunk
        else:
            del content[pos:pos + len(chunk)]
    content = content[: draw(st.integers(0, len(content)))] if draw(st.booleans()) else content
    return gzip.compress(bytes(content)) if draw(st.booleans()) else bytes(content)


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "capture"


@FUZZ_SETTINGS
@given(prefix=st.sampled_from(MAGICS), body=st.binary(max_size=300))
def test_random_bytes_never_crash_the_reader(fuzz_file, prefix, body):
    fuzz_file.write_bytes(prefix + body)
    check_reader_contract(fuzz_file)


@FUZZ_SETTINGS
@given(content=mutated_captures())
def test_mutated_and_truncated_captures_never_crash_the_reader(fuzz_file, content):
    fuzz_file.write_bytes(content)
    check_reader_contract(fuzz_file)


def test_the_fuzz_seeds_are_valid_captures(fuzz_file):
    """Mutations start from files the reader accepts whole, so the property is tested past the header."""
    for seed in SEEDS:
        fuzz_file.write_bytes(seed)
        with open_frames(fuzz_file) as source:
            assert len(list(source)) >= 3 and len(source.warnings) <= 1
