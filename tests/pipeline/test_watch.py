"""``netreset watch`` gives the offline verdicts: every sample capture replayed through the live analysis
(frames fed in blocks, judged as they become due) against ``locate-reset`` and ``handshakes`` of the file.

What the live judgement legitimately cannot know is left out of the comparison, and only that
(docs/watch.md, "Live and offline"): a syn_unanswered finding's ``tail_s`` sentence (the capture's end
is not known while it runs).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from netreset.ingest.containers.open import open_frames
from netreset.pipeline.watch import LiveAnalysis
from netreset.pipeline.whole import Analysis

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
SAMPLES = sorted(p for p in CAPTURES.rglob("*") if p.suffix in (".pcap", ".pcapng"))


def replay(path: Path, block: int = 7, real_time: bool = False, before_end: list | None = None) -> list[dict]:
    """The records a watch prints for ``path``, its frames fed ``block`` at a time.

    ``real_time=False``: a file replayed at full speed — only capture time judges (the wall clock never
    passes). ``real_time=True``: as if the packets arrived at their timestamps — between two blocks the
    stream is silent and the wall clock runs to the next block's first packet, so whatever is due by then
    is judged then, before the packets that follow. ``before_end`` collects the records given before the
    stream ended."""
    analysis = LiveAnalysis()
    records = []
    with open_frames(path) as source:
        frames = list(source)
    for start in range(0, len(frames), block):
        part = frames[start:start + block]
        wall = part[-1].ts_ns / 1e9 if real_time else 0.0
        analysis.add(part, wall=wall)
        records += [f.record for f in analysis.judge(wall=wall, idle=False)]
        if real_time:
            following = frames[start + block].ts_ns / 1e9 if start + block < len(frames) else wall + 60
            records += [f.record for f in analysis.judge(wall=following, idle=True)]
    if before_end is not None:
        before_end.extend(records)
    records += [f.record for f in analysis.judge(wall=0.0, idle=False, final=True)]
    return records


def latest(records: list[dict]) -> list[dict]:
    """Each finding's last word: a revision (``revised``) replaces what was given before for the same finding."""
    last: dict = {}
    for r in records:
        key = ("reset", r["frame"]) if r["kind"] == "reset" else (r["kind"], r["conversation"], r["ts"])
        last[key] = {k: v for k, v in r.items() if k != "revised"}
    return list(last.values())


_TAIL = re.compile(r" \(the capture ended [0-9.]+ s after the last SYN[^)]*\)")


def comparable(record: dict) -> dict:
    record = dict(record)
    if record.get("kind") == "syn_unanswered":
        record["summary"] = _TAIL.sub("", record["summary"])
    return record


def offline(path: Path) -> tuple[list[dict], list[dict]]:
    analysis = Analysis.of_files([path])
    return analysis.reset_rows(), analysis.handshake_rows()


@pytest.mark.parametrize("real_time", [False, True], ids=["full-speed", "real-time"])
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: str(p.relative_to(CAPTURES)))
def test_watch_gives_the_offline_records(path, real_time):
    early: list = []
    live = replay(path, real_time=real_time, before_end=early)
    if real_time:  # in real time every finding is given while the stream runs (a minute of silence after it)
        assert len(early) == len(live)
    resets, handshakes = offline(path)
    live_resets = sorted((r for r in live if r["kind"] == "reset"), key=lambda r: r["frame"])
    # A cause may rest on packets after the RST (tls_interception's "the server answers port 8443 from hop 7"
    # needs a later conversation): live, its code is the same, its sentence says only what was seen by then.
    assert [{k: v for k, v in r.items() if k not in ("kind", "causes")} for r in live_resets] == \
        [{k: v for k, v in r.items() if k != "causes"} for r in resets]
    assert [[c["code"] for c in r["causes"]] for r in live_resets] == [[c["code"] for c in r["causes"]] for r in resets]
    live_handshakes = sorted((comparable(r) for r in live if r["kind"] != "reset"),
                             key=lambda r: (r["ts"], r["conversation"], r["kind"]))
    assert live_handshakes == sorted((comparable(h) for h in handshakes), key=lambda r: (r["ts"], r["conversation"], r["kind"]))


@pytest.mark.parametrize("block", [1, 3, 1000])
def test_blocks_of_any_size_give_the_same_records(block):
    path = CAPTURES / "multi-connection.pcap"
    assert replay(path, block) == replay(path, 5)


def test_a_generated_hour_gives_the_offline_records_but_for_senders_not_yet_seen(tmp_path):
    """A generated hour (benchmarks/generate.py's mix) replayed in real time. A RST whose claimed sender had
    sent nothing else yet is judged ``no_reference_packets``; when that host speaks later (another
    conversation), the tuple is judged again and a revision given. The last word on every finding is the
    offline record, except where the sender spoke only after the watch stopped holding the tuple
    (REVISE_NS, 10 minutes)."""
    import subprocess
    import sys

    path = tmp_path / "hour.pcap"
    helper = Path(__file__).resolve().parents[1] / "helpers" / "day_stream.py"
    with open(path, "wb") as out:
        subprocess.run([sys.executable, str(helper), "--packets", "6000", "--hours", "1"], stdout=out, check=True)
    given = replay(path, block=50, real_time=True)
    revised = [r for r in given if r.get("revised")]
    assert revised and all(r["kind"] in ("reset", "refused") for r in revised)
    live = latest(given)
    resets, handshakes = offline(path)
    live_resets = [{k: v for k, v in r.items() if k != "kind"}
                   for r in sorted((r for r in live if r["kind"] == "reset"), key=lambda r: r["frame"])]
    assert [r["frame"] for r in live_resets] == [r["frame"] for r in resets]
    differ = [(a, b) for a, b in zip(live_resets, resets) if a != b]
    assert len(differ) < len(resets) / 10
    for a, b in differ:
        assert a["reason"] == "no_reference_packets" and b["reason"] != "no_reference_packets"
        assert "other conversations" in " ".join(e["detail"] for e in b["evidence"])
    late = {a["frame"] for a, _ in differ}
    key = lambda r: (r["ts"], r["conversation"], r["kind"])  # noqa: E731
    live_h = sorted((comparable(r) for r in live if r["kind"] != "reset"), key=key)
    offline_h = sorted((comparable(h) for h in handshakes), key=key)
    assert [key(r) for r in live_h] == [key(r) for r in offline_h]
    for a, b in zip(live_h, offline_h):
        if a != b:  # a refusal by one of those RSTs: only its verdict and the sentence that words it
            assert a["kind"] == "refused" and set(a["frames"]) & late
            assert {k for k in a if a[k] != b[k]} <= {"verdict", "confidence", "summary"}


def _frame(number: int, ts_s: float, src: bytes, dst: bytes, sport: int, dport: int, flags: int, seq: int, ack: int,
           ttl: int):
    import struct

    from netreset.ingest.frames import RawFrame

    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 1000, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), number, 0x4000, ttl, 6, 0, src, dst)
    data = bytes(12) + b"\x08\x00" + ip + tcp
    return RawFrame(number, int(ts_s * 1e9), 0, 1, len(data), len(data), data)


def test_each_rst_is_judged_after_its_own_settle_window():
    """Two RSTs on one tuple: the second is not judged at the first one's time, but half a second after it
    arrived (capture time here), with what followed it."""
    c, s = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 1])
    analysis = LiveAnalysis(settle_ns=500_000_000)
    analysis.add([_frame(1, 1.0, c, s, 5000, 80, 0x02, 100, 0, 64), _frame(2, 1.01, s, c, 80, 5000, 0x12, 900, 101, 60),
                  _frame(3, 1.02, c, s, 5000, 80, 0x10, 101, 901, 64), _frame(4, 2.0, s, c, 80, 5000, 0x04, 901, 0, 60)],
                 wall=0.0)
    assert analysis.judge(wall=0.0, idle=False) == []  # the first RST's settle has not passed
    analysis.add([_frame(5, 2.6, c, s, 5000, 80, 0x04, 101, 0, 64)], wall=0.0)
    first = analysis.judge(wall=0.0, idle=False)
    assert [f.record["frame"] for f in first] == [4]
    analysis.add([_frame(6, 3.2, c, s, 5001, 80, 0x02, 7, 0, 64)], wall=0.0)
    assert [f.record["frame"] for f in analysis.judge(wall=0.0, idle=False)] == [5]


def test_an_idle_stream_judges_by_the_wall_clock():
    """No packet follows the RST: the wall clock (the stream is idle) says when its settle has passed."""
    c, s = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 1])
    analysis = LiveAnalysis(settle_ns=500_000_000)
    analysis.add([_frame(1, 1.0, c, s, 5000, 80, 0x02, 100, 0, 64), _frame(2, 1.01, s, c, 80, 5000, 0x14, 0, 101, 60)],
                 wall=100.0)
    assert analysis.judge(wall=100.4, idle=True) == []
    assert analysis.judge(wall=100.6, idle=False) == []  # frames are waiting: capture time judges
    found = analysis.judge(wall=100.6, idle=True)
    assert sorted(f.kind for f in found) == ["refused", "reset"]


@pytest.mark.parametrize("name", ["peer/firewall-reset-fw.pcapng", "multi-connection.pcap", "firewall-reset.pcapng"])
def test_the_pcapng_writer_keeps_every_frame_interface_and_timestamp(tmp_path, name):
    from netreset.ingest.containers.pcapng_writer import write_pcapng

    with open_frames(CAPTURES / name) as source:
        frames = list(source)
        interfaces = list(source.interfaces)
    out = tmp_path / "round.pcapng"
    with open(out, "wb") as f:
        assert write_pcapng(f, interfaces, frames, {frames[0].frame: "netreset: first"}) == len(frames)
    with open_frames(out) as back:
        again = list(back)
        assert [(i.id, i.linktype, i.snaplen, i.name) for i in back.interfaces] == \
               [(i.id, i.linktype, i.snaplen, i.name) for i in interfaces]
        assert back.comments == [f"frame {frames[0].frame}: netreset: first"]
    assert [(f.frame, f.ts_ns, f.iface, f.linktype, f.wirelen, f.data) for f in again] == \
           [(f.frame, f.ts_ns, f.iface, f.linktype, f.wirelen, f.data) for f in frames]


def test_the_ring_never_holds_more_than_its_size_or_time():
    from netreset.ingest.frames import RawFrame
    from netreset.ingest.ring import FRAME_OVERHEAD, FrameRing, parse_keep

    assert parse_keep("200MB") == (200 << 20, None) and parse_keep("10min") == (None, 600 * 10**9)
    assert parse_keep("1.5GB") == (int(1.5 * (1 << 30)), None) and parse_keep("30s") == (None, 30 * 10**9)
    for bad in ("", "lots", "-3MB", "0s", "5 parsecs"):
        with pytest.raises(Exception):
            parse_keep(bad)
    ring = FrameRing(max_bytes=100 * (100 + FRAME_OVERHEAD))
    for n in range(1, 1001):
        ring.add([RawFrame(n, n * 10**9, 0, 1, 100, 100, bytes(100))])
        assert ring.bytes <= ring.max_bytes
    assert len(ring) == 100 and ring.frames[0].frame == 901 and ring.dropped == 900
    timed = FrameRing(max_ns=10 * 10**9)
    timed.add(RawFrame(n, n * 10**9, 0, 1, 10, 10, bytes(10)) for n in range(1, 101))
    assert [f.frame for f in timed.frames] == list(range(90, 101))
    assert [f.frame for f in ring.select({950, 990}, 998 * 10**9, 10**12)] == [950, 990, 998, 999, 1000]
