"""``netreset annotate``: the capture back as pcapng with comments, checked by reading the output with tshark.

Round trip on every sample capture (pcap µs and ns, pcapng) and on a selection of the corpus (every pcapng,
the multi-interface ones, pcaps with resets): the same frames, timestamps to the nanosecond, link types,
lengths and interface ids; the comments on exactly the key frames of netreset's findings and causes, each
naming the ``tcp.stream`` tshark gives that frame; comments already in the file kept. ``--only-failing``
keeps whole failing streams, and the comments name the frame and stream numbers of the smaller file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from netreset.cli.main import main
from tests.conftest import CAPTURES, CORPUS, corpus_entries

requires_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
#: The lab's agent captures, and the server's and firewall's (the firewall's has two interfaces, every packet twice).
SAMPLES = sorted(p for folder in (CAPTURES, CAPTURES / "peer") for p in folder.iterdir() if p.suffix in (".pcap", ".pcapng"))
WIDE = CORPUS.parent / "corpus-wide"
#: Corpus-wide captures with several interfaces and ns timestamps (used when ../shared/corpus-wide exists).
WIDE_PICKS = ("ndpi-sites", "ndpi-stun", "ndpi-anydesk", "ndpi-steam", "pcapplusplus-GrePackets", "ipfixprobe-mqtt")
AGG = "\x1f"
FIELDS = ("frame.number", "frame.time_epoch", "frame.interface_id", "frame.encap_type", "frame.len", "frame.cap_len",
          "frame.comment")
STREAM_IN_COMMENT = re.compile(r"tcp\.stream eq (\d+)$")


def tshark(path, fields=FIELDS, display_filter=None) -> list[list[str]]:
    """tshark's fields for every frame (all occurrences of a field joined with \\x1f)."""
    args = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a", "-E", f"aggregator={AGG}"]
    for f in fields:
        args += ["-e", f]
    if display_filter:
        args += ["-Y", display_filter]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def annotate(capture, out, *extra):
    result = CliRunner().invoke(main, ["annotate", str(capture), "-o", str(out), "--format", "json", "-q", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def key_frames(capture) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
    """Frame → the sentences of netreset's findings (summary) on it, and → those of findings and causes
    (conversations' causes) together."""
    runner = CliRunner()
    summary = json.loads(runner.invoke(main, ["summary", str(capture), "--format", "json", "-q"]).stdout)
    conversations = json.loads(runner.invoke(main, ["conversations", str(capture), "--format", "json", "-q"]).stdout)
    findings: dict[int, set[str]] = {}
    for f in summary["findings"]:
        for n in f["frames"]:
            findings.setdefault(n, set()).add(f["summary"])
    every = {n: set(s) for n, s in findings.items()}
    for c in conversations["conversations"]:
        for cause in c["causes"]:
            for n in cause["frames"]:
                every.setdefault(n, set()).add(cause["sentence"])
    return findings, every


def corpus_picks() -> list[Path]:
    picks = []
    for e in corpus_entries():
        tags = e.get("tags", [])
        if e["capture_path"].suffix == ".pcapng" or "rst" in tags or "interfaces" in " ".join(tags):
            picks.append(e["capture_path"])
    for name in WIDE_PICKS:
        picks += sorted((WIDE / name).glob("*.pcap*")) if (WIDE / name).is_dir() else []
    return picks


def check_round_trip(capture: Path, out: Path) -> dict:
    record = annotate(capture, out)
    before, after = tshark(capture), tshark(out)
    assert len(after) == len(before) == record["frames_read"] == record["frames_written"]
    pcapng_in = capture.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    findings, expected = key_frames(capture)
    added_on: dict[int, list[str]] = {}
    for old, new in zip(before, after):
        assert new[:2] == old[:2], (capture, old, new)  # frame number, time to the ns
        assert new[3:6] == old[3:6], (capture, old, new)  # link type, wire and captured length
        assert new[2] == (old[2] if pcapng_in else "0")
        old_comments = old[6].split(AGG) if old[6] else []
        new_comments = new[6].split(AGG) if new[6] else []
        assert new_comments[:len(old_comments)] == old_comments  # comments already there stay, first
        added = new_comments[len(old_comments):]
        if added:
            added_on[int(new[0])] = added
    assert set(added_on) == set(expected), capture
    for frame, texts in added_on.items():
        assert all(t.startswith("netreset: ") for t in texts)
        assert all(any(sentence in t for sentence in expected[frame]) for t in texts), (frame, texts)
        for sentence in findings.get(frame, ()):  # every finding is said on each of its frames
            assert any(sentence in t for t in texts), (frame, sentence, texts)
    selected = tshark(out, ("frame.number",), 'frame.comment contains "netreset"')
    assert {int(r[0]) for r in selected} == set(expected)
    check_streams(out, added_on)
    return record


def check_streams(out: Path, added_on: dict[int, list[str]]) -> None:
    """Each comment's ``tcp.stream eq N`` is the stream tshark gives that frame (a TCP frame of one stream)."""
    streams = {int(r[0]): r[1] for r in tshark(out, ("frame.number", "tcp.stream"))}
    for frame, texts in added_on.items():
        if not streams.get(frame) or AGG in streams[frame]:
            continue  # not TCP (an ICMP error quoted by a refusal), or TCP inside ICMP as well
        for t in texts:
            if (m := STREAM_IN_COMMENT.search(t)) is not None:
                assert m.group(1) == streams[frame], (out, frame, t)


@requires_tshark
@pytest.mark.parametrize("capture", SAMPLES, ids=lambda p: str(p.relative_to(CAPTURES)))
def test_round_trip_on_every_sample_capture(capture, tmp_path):
    check_round_trip(capture, tmp_path / "out.pcapng")


@requires_tshark
def test_round_trip_on_corpus_captures(tmp_path):
    picks = corpus_picks()
    if not picks:
        pytest.skip(f"external corpus not found at {CORPUS}")
    commented = 0
    for i, capture in enumerate(picks):
        commented += check_round_trip(capture, tmp_path / f"{i}.pcapng")["frames_commented"]
    assert commented > 0


def test_firewall_reset_comment_names_the_hop_verdict_and_stream(tmp_path):
    record = annotate(CAPTURES / "firewall-reset.pcapng", tmp_path / "out.pcapng")
    [c] = record["comments"]
    assert c["frame"] == 9
    assert c["comment"].startswith("netreset: reset: RST claimed by 10.66.6.2 arrived with TTL 61")
    assert "hop 4" in c["comment"] and c["comment"].endswith(" — middlebox 0.98 — tcp.stream eq 0")


def test_causes_of_clean_conversations_are_annotated(tmp_path):
    """A proxy's 407 ends in a clean close: no finding, but its cause goes on the CONNECT and the answer."""
    record = annotate(CAPTURES / "proxy-connect.pcapng", tmp_path / "out.pcapng")
    by_frame = {c["frame"]: c["comment"] for c in record["comments"]}
    assert by_frame[4].startswith("netreset: proxy_auth_required: the proxy answered CONNECT")
    assert by_frame[6] == by_frame[4]
    assert by_frame[15].startswith("netreset: proxy_denied:") and by_frame[15].endswith("tcp.stream eq 1")


@requires_tshark
def test_only_failing_keeps_failing_streams_and_renumbers_the_comments(tmp_path):
    """multi-connection: four streams, only 40083's (stream 2, frame 30) is reset; the output holds that stream
    alone, so its comment names stream 0 and the RST's new frame number, as tshark reads the output."""
    capture, out = CAPTURES / "multi-connection.pcap", tmp_path / "failing.pcapng"
    record = annotate(capture, out, "--only-failing")
    original = {r[0]: r for r in tshark(capture, ("frame.number", "frame.time_epoch", "tcp.stream", "tcp.srcport"))}
    kept = [r for r in original.values() if r[2] == "2"]
    rows = tshark(out, ("frame.number", "frame.time_epoch", "tcp.stream", "tcp.srcport", "frame.comment"))
    assert record["frames_written"] == len(rows) == len(kept) < record["frames_read"]
    assert [r[1] for r in rows] == [r[1] for r in kept]  # the same packets, times unchanged
    assert {r[2] for r in rows} == {"0"}
    [commented] = [r for r in rows if r[4]]
    rst_in_output = [r[1] for r in kept].index(original["30"][1]) + 1
    assert int(commented[0]) == rst_in_output == record["comments"][0]["frame"]
    assert commented[4].endswith("tcp.stream eq 0")
    check_streams(out, {int(commented[0]): commented[4].split(AGG)})


@requires_tshark
def test_only_failing_on_a_capture_with_several_failures(tmp_path):
    """Each kept stream's comment names the stream number tshark gives it in the smaller file."""
    picks = [p for p in corpus_picks() if "ndpi-sites" in str(p) or "tcp-rst" in str(p)] or [CAPTURES / "tls-inspection.pcapng"]
    for i, capture in enumerate(picks):
        out = tmp_path / f"{i}.pcapng"
        record = annotate(capture, out, "--only-failing")
        rows = tshark(out, ("frame.number", "frame.comment"))
        assert len(rows) == record["frames_written"]
        added = {int(r[0]): r[1].split(AGG) for r in rows if "netreset" in r[1]}
        assert set(added) == {c["frame"] for c in record["comments"]}
        check_streams(out, {f: [t for t in texts if t.startswith("netreset")] for f, texts in added.items()})


def test_several_captures_are_refused_before_reading(tmp_path):
    result = CliRunner().invoke(main, ["annotate", str(CAPTURES / "clean.pcap"), str(CAPTURES / "clean.pcap"),
                                       "-o", str(tmp_path / "x.pcapng")])
    assert result.exit_code == 2
    assert "mergecap" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.pcapng").exists()


def test_bad_input_and_bad_output_are_one_line_errors(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"hello, this is text")
    for args in (["annotate", str(junk), "-o", str(tmp_path / "a.pcapng")],
                 ["annotate", str(CAPTURES / "clean.pcap"), "-o", str(tmp_path / "missing" / "a.pcapng")],
                 ["annotate", str(CAPTURES / "clean.pcap"), "-o", str(CAPTURES / "clean.pcap")]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code in (1, 2), result.output
        lines = [l for l in result.output.splitlines() if l.startswith("Error:")]
        assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert not list(tmp_path.glob(".netreset-annotate-*"))


def test_text_output_says_where_and_how_to_filter(tmp_path):
    result = CliRunner().invoke(main, ["annotate", str(CAPTURES / "clean.pcap"), "-o", str(tmp_path / "c.pcapng"), "-q"])
    assert result.exit_code == 0
    assert "frames (pcap → pcapng), 0 frames commented" in result.stdout
    assert "No finding to annotate" in result.stdout


def test_a_gzipped_capture_gives_the_same_file(tmp_path):
    import gzip

    plain, packed = tmp_path / "plain.pcapng", tmp_path / "in.pcapng.gz"
    packed.write_bytes(gzip.compress((CAPTURES / "sni-filtered.pcapng").read_bytes()))
    annotate(CAPTURES / "sni-filtered.pcapng", plain)
    record = annotate(packed, tmp_path / "unpacked.pcapng")
    assert record["input_format"] == "pcapng+gzip"
    assert (tmp_path / "unpacked.pcapng").read_bytes() == plain.read_bytes()


@pytest.mark.skipif(shutil.which("editcap") is None or shutil.which("tshark") is None, reason="Wireshark tools absent")
def test_a_format_only_tshark_reads_is_one_line_saying_how_to_convert(tmp_path):
    snoop = tmp_path / "clean.snoop"
    subprocess.run(["editcap", "-F", "snoop", str(CAPTURES / "clean.pcap"), str(snoop)], check=True, capture_output=True)
    result = CliRunner().invoke(main, ["annotate", str(snoop), "-o", str(tmp_path / "out.pcapng"), "-q"])
    assert result.exit_code == 1
    [error] = [l for l in result.output.splitlines() if l.startswith("Error:")]
    assert "editcap -F pcapng" in error and "Traceback" not in result.output
    assert not (tmp_path / "out.pcapng").exists() and not list(tmp_path.glob(".netreset-annotate-*"))


@pytest.mark.skipif(shutil.which("editcap") is None or shutil.which("tshark") is None, reason="Wireshark tools absent")
@pytest.mark.parametrize("version", ["netmon1", "netmon2"])
def test_netmon_becomes_pcapng_with_the_frames_tshark_reads_in_it(tmp_path, version):
    """editcap writes the sample as NetMon; tshark reads the .cap and netreset's pcapng of it to the same frames."""
    cap = tmp_path / "fw.cap"
    subprocess.run(["editcap", "-F", version, str(CAPTURES / "firewall-reset.pcapng"), str(cap)], check=True,
                   capture_output=True)
    out = tmp_path / "fw.pcapng"
    record = annotate(cap, out)
    assert record["input_format"] == version and [c["frame"] for c in record["comments"]] == [9]
    fields = ("frame.number", "frame.time_epoch", "frame.encap_type", "frame.len", "frame.cap_len")
    assert tshark(out, fields) == tshark(cap, fields)
    [row] = tshark(out, ("frame.number", "frame.comment"), 'frame.comment contains "netreset"')
    assert row[0] == "9" and "hop 4" in row[1]


def agent_resets() -> list[tuple[str, int, dict]]:
    truth = json.loads((CAPTURES / "truth.json").read_text())
    return [(c["file"], conn["orig_port"], dict(r, connection_count=sum(x["count"] for x in conn["resets"])))
            for c in truth["captures"] if c["vantage"] == "agent"
            for conn in c.get("connections", []) for r in conn.get("resets", [])]


@requires_tshark
@pytest.mark.parametrize("file,port,truth", agent_resets(), ids=lambda v: v if isinstance(v, str) else "")
def test_each_lab_reset_is_commented_with_netreset_s_verdict(tmp_path, file, port, truth):
    """Each RST of the lab's agent captures (truth.json lists them, from the scenarios) carries one reset
    comment, with the verdict and confidence ``locate-reset`` gives it; where that verdict is the truth's
    (the firewall's hop, or the peer), the comment says so."""
    record = annotate(CAPTURES / file, tmp_path / "out.pcapng")
    rst = [int(r[0]) for r in tshark(CAPTURES / file, ("frame.number",), f"tcp.flags.reset == 1 and tcp.port == {port}")]
    assert len(rst) == truth["connection_count"]  # every RST of the connection (sni-dropped's has two)
    located = json.loads(CliRunner().invoke(main, ["locate-reset", str(CAPTURES / file), "--format", "json", "-q"]).stdout)
    verdicts = {r["frame"]: r for r in located["resets"]}
    comments: dict[int, list[str]] = {}
    for c in record["comments"]:
        comments.setdefault(c["frame"], []).append(c["comment"])
    for frame in rst:
        said = [t for t in comments.get(frame, []) if t.startswith(("netreset: reset:", "netreset: refused:"))]
        assert len(said) == 1, (frame, comments.get(frame))
        verdict = verdicts[frame]
        assert f" — {verdict['verdict']} {verdict['confidence']:.2f} — " in said[0]
        if verdict["verdict"] == truth["true_sender"] == "middlebox":
            assert f"hop {truth['device_traceroute_hop_from_agent']}" in said[0]
