"""The streamed analysis (netreset.pipeline.streamed) answers exactly as the whole-table analysis does.

Every capture is streamed in small chunks (so tuples are carried across many chunk boundaries) and
compared with :class:`netreset.pipeline.whole.Analysis` on: the ``summary`` document, every reset verdict,
every handshake finding and every conversation the streamed analysis kept (all fields but the row
indices, which point into a different table). The generated capture spans minutes at a low connection
rate, so tuples really retire between chunks under the production timers.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, ROOT

from netreset.pipeline.whole import Analysis, Options
from netreset.records.json import render_json, write_json
from netreset.pipeline.run import analyse
from netreset.pipeline.streamed import StreamedAnalysis, analyse_streamed
from netreset.report.summary import summary_document

import frozen_analyses as frozen


def _json(document: dict) -> str:
    parts: list[str] = []
    write_json(document, parts.append, batch=7)
    return "".join(parts)


def _compare(path: Path, chunk_rows: int, batch_rows: int | None = None, workers: int = 1) -> StreamedAnalysis:
    batch_rows = batch_rows or chunk_rows
    whole = Analysis.of_files([path])
    streamed = analyse_streamed(path, Options(workers=workers), chunk_rows=chunk_rows, batch_rows=batch_rows)
    assert _json(summary_document(streamed)) == render_json(summary_document(whole))
    assert list(streamed.reset_rows()) == whole.reset_rows()
    assert list(streamed.handshake_rows()) == whole.handshake_rows()
    by_id = {c.id: c for c in whole.raw_conversations}
    for table, _, conversations in streamed.pieces():
        for kept in conversations:
            original = by_id[kept.id]
            assert np.array_equal(table.frame[kept.rows], whole.table.frame[original.rows])
            assert np.array_equal(kept.from_orig, original.from_orig)
            assert (dataclasses.replace(kept, rows=None, from_orig=None)
                    == dataclasses.replace(original, rows=None, from_orig=None))
    return streamed


def _chunk(path: Path) -> int:
    """About eight chunks per capture (at least 16 rows each)."""
    packets = len(Analysis.of_files([path]).table)
    return max(16, packets // 8)


@pytest.mark.parametrize("name", sorted(frozen.captures(None, None)))
def test_sample_and_lab_captures_stream_to_the_same_answers(name):
    path = frozen.captures(None, None)[name]
    _compare(path, chunk_rows=3)


def _corpus_names() -> list[str]:
    return sorted(n for n in frozen.captures(CORPUS, None) if n.startswith("corpus/"))


@pytest.mark.skipif(not _corpus_names(), reason=f"external corpus not found at {CORPUS}")
@pytest.mark.parametrize("name", _corpus_names() or ["none"])
def test_corpus_captures_stream_to_the_same_answers(name):
    path = frozen.captures(CORPUS, None)[name]
    _compare(path, chunk_rows=_chunk(path))


@pytest.fixture(scope="module")
def slow_generated(tmp_path_factory) -> Path:
    """30k packets of the benchmark's mix at 20 new connections/s: ≈ 2 minutes of capture time."""
    out = tmp_path_factory.mktemp("slow")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--packets", "30000", "--seed", "11",
                    "--rate", "20", "--out", str(out), "--name", "slow"], check=True, capture_output=True)
    return out / "slow.pcap"


def test_tuples_retire_between_chunks_and_the_answers_stay_the_same(slow_generated):
    streamed = _compare(slow_generated, chunk_rows=500, batch_rows=2000)
    assert streamed.conversation_count() > 2000
    # Only the conversations with something to report were kept, not every packet, in several pieces.
    pieces = list(streamed.pieces())
    assert len(pieces) > 3
    assert sum(len(conversations) for _, _, conversations in pieces) < streamed.conversation_count() / 2
    assert sum(len(table) for table, _, _ in pieces) < 30000


def test_pieces_judged_in_parallel_processes_give_the_same_answers(slow_generated):
    streamed = _compare(slow_generated, chunk_rows=500, batch_rows=2000, workers=2)
    assert len(list(streamed.pieces())) > 3


def test_memory_of_the_carry_stays_bounded(slow_generated):
    """The carried table never holds more than the live tuples: far fewer rows than the file."""
    from netreset.ingest.reader import iter_capture
    from netreset.pipeline.streamed import _Streamer
    from netreset.flows.tcpstate import Timing

    stream = iter_capture(slow_generated, chunk_rows=2000)
    streamer = _Streamer(stream.book, False, Timing(), batch_rows=2000)
    carried = []
    for chunk in stream:
        streamer.feed(chunk)
        carried.append(len(streamer.work))
    assert max(carried) < 6000  # the tuples Zeek still holds (≈ 5 s of traffic), of 30k packets
    assert carried[-1] < 6000


def _backwards_capture(path: Path) -> Path:
    """Eight SYNs whose sixth goes 7 s back in time."""
    import dpkt

    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f)
        for i, t in enumerate([10.0, 11.0, 12.0, 15.0, 16.0, 5.0, 17.0, 18.0]):
            syn = dpkt.tcp.TCP(sport=40000 + i, dport=443, seq=1000 * i, flags=dpkt.tcp.TH_SYN, off=5)
            ip = dpkt.ip.IP(src=bytes([10, 0, 0, 1]), dst=bytes([10, 0, 0, 2]), p=6, ttl=64, data=syn)
            ip.len = len(ip)
            writer.writepkt(bytes(dpkt.ethernet.Ethernet(type=0x0800, data=ip)), ts=t)
    return path


def test_timestamps_going_back_across_chunks_stream_to_the_same_answers(tmp_path, monkeypatch):
    """A clock that steps back: rows are walked in file order on both paths, with one warning naming the frames."""
    import netreset.pipeline.streamed as stream

    path = _backwards_capture(tmp_path / "backwards.pcap")
    for chunk in (2, 3, 64):
        streamed = _compare(path, chunk_rows=chunk)
        assert streamed.conversation_count() == 8
    whole = Analysis.of_files([path])
    assert [w for w in whole.stats.warnings if "go back" in w] == [
        f"{path}: timestamps go back 1 time: frame 6 is 11.0 s before frame 5; analysed in capture order, "
        "as Wireshark and Zeek do"]
    assert streamed.stats.warnings == whole.stats.warnings
    # What a command reads: the streamed analysis, whatever the timestamps do.
    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(stream, "READ_ROWS", 2)
    monkeypatch.setattr(stream, "BATCH_ROWS", 2)
    assert isinstance(analyse([path], Options()), StreamedAnalysis)


def test_the_collector_is_paused_while_streaming_and_restored_after(tmp_path, monkeypatch):
    """numba's import and the kernel loads happen inside the streaming: no automatic collection then,
    and the collector as it was afterwards, also when the streaming stops on an error."""
    import gc

    import netreset.pipeline.streamed as stream

    seen, feed = [], stream._Streamer.feed

    def watched(self, *args, **kwargs):
        seen.append(gc.isenabled())
        return feed(self, *args, **kwargs)

    monkeypatch.setattr(stream._Streamer, "feed", watched)
    assert gc.isenabled()
    analyse_streamed(ROOT / "captures" / "multi-connection.pcap", chunk_rows=3, batch_rows=3)
    assert seen and not any(seen) and gc.isenabled()
    def broken(self, final):
        raise RuntimeError("stopped")

    monkeypatch.setattr(stream._Streamer, "_retire", broken)
    with pytest.raises(RuntimeError, match="stopped"):
        analyse_streamed(_backwards_capture(tmp_path / "backwards.pcap"), chunk_rows=2, batch_rows=2)
    assert gc.isenabled()


def test_analyse_streams_only_one_big_file_without_filters(tmp_path, monkeypatch):
    import netreset.pipeline.streamed as stream

    path = ROOT / "captures" / "multi-connection.pcap"
    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 0)
    assert isinstance(analyse([path], Options()), StreamedAnalysis)
    assert not isinstance(analyse([path], Options(filter_text="port 80")), StreamedAnalysis)
    assert not isinstance(analyse([path, path], Options()), StreamedAnalysis)
    assert not isinstance(analyse([path], Options(), peer_capture="x.pcap"), StreamedAnalysis)
    monkeypatch.setenv("NETRESET_PLAIN", "1")
    assert not isinstance(analyse([path], Options()), StreamedAnalysis)


@pytest.mark.parametrize("command", ["summary", "locate-reset", "handshakes"])
@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
def test_the_cli_prints_the_same_streamed_or_whole(command, fmt, monkeypatch):
    from click.testing import CliRunner

    import netreset.pipeline.run as run
    import netreset.pipeline.streamed as stream
    from netreset.cli.main import main

    captures = [ROOT / "captures" / name for name in ("multi-connection.pcap", "firewall-reset.pcapng",
                                                      "syn-blackhole.pcap", "port-closed.pcap")]
    real = stream.analyse_streamed
    for path in captures:
        args = [command, str(path), "--format", fmt, "-q"]
        monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 1 << 62)
        whole = CliRunner().invoke(main, args)
        monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 0)
        monkeypatch.setattr(stream, "READ_ROWS", 3)
        monkeypatch.setattr(stream, "BATCH_ROWS", 5)
        calls = []
        monkeypatch.setattr(run, "analyse_streamed", lambda *a, **k: calls.append(a) or real(*a, **k))
        streamed = CliRunner().invoke(main, args)
        assert len(calls) == 1  # it did stream
        assert streamed.exit_code == whole.exit_code == 0, streamed.output
        assert streamed.output == whole.output


def test_the_progress_hook_sees_the_streamed_file_to_its_end():
    path = ROOT / "captures" / "multi-connection.pcap"
    seen = []
    analyse_streamed(path, progress=lambda *args: seen.append(args), chunk_rows=4, batch_rows=8)
    assert len(seen) > 3
    assert seen[-1] == (0, path.stat().st_size, Analysis.of_files([path]).stats.frames_total)
    assert [s[1] for s in seen] == sorted(s[1] for s in seen)


def test_a_cut_capture_streams_to_the_same_answers_and_warning(tmp_path):
    """A capture cut mid-record: the same warning and the same answers as reading it whole."""
    whole_file = ROOT / "captures" / "multi-connection.pcap"
    cut = tmp_path / "cut.pcap"
    data = whole_file.read_bytes()
    cut.write_bytes(data[: len(data) - 37])
    streamed = _compare(cut, chunk_rows=3)
    assert streamed.stats.warnings and streamed.stats.warnings == Analysis.of_files([cut]).stats.warnings


def test_an_error_in_the_reader_thread_is_raised_in_the_caller():
    from netreset.pipeline.streamed import read_ahead

    def chunks():
        yield 1
        raise ValueError("broken capture")

    got = []
    with pytest.raises(ValueError, match="broken capture"):
        for chunk in read_ahead(chunks()):
            got.append(chunk)
    assert got == [1]


def test_a_consumer_that_stops_early_stops_the_reader():
    import itertools

    from netreset.pipeline.streamed import read_ahead

    reader = read_ahead(itertools.count(), depth=1)
    assert [next(reader) for _ in range(3)] == [0, 1, 2]
    reader.close()  # joins the thread: would hang if the reader did not stop


def test_pieces_are_shared_out_by_size_and_every_piece_once():
    from netreset.pipeline.streamed import balanced_shares

    sizes = [22351, 20411, 23934, 20378, 24605, 23932, 29837, 20226]  # the 1M benchmark's pieces
    shares = balanced_shares(sizes, 2)
    assert sorted(i for share in shares for i in share) == list(range(8))
    loads = [sum(sizes[i] for i in share) for share in shares]
    assert max(loads) - min(loads) <= max(sizes) and max(loads) / min(loads) < 1.05
    assert all(share == sorted(share) for share in shares) and loads[0] == min(loads)
    assert balanced_shares([5, 1, 1], 3) == [[1], [2], [0]]


def test_both_pipelines_satisfy_the_view_the_commands_read(tmp_path):
    """summary, locate-reset and handshakes read an AnalysisView: the whole and the streamed analysis are both one."""
    from netreset.pipeline.view import AnalysisView
    from netreset.pipeline.whole import Analysis

    path = ROOT / "captures" / "multi-connection.pcap"
    whole = Analysis.of_files([path])
    streamed = analyse_streamed(path, chunk_rows=64, batch_rows=64)
    for analysis in (whole, streamed):
        assert isinstance(analysis, AnalysisView)
        assert analysis.conversation_count() == whole.conversation_count()
    assert list(streamed.reset_rows()) == whole.reset_rows()
    assert streamed.time_span() == whole.time_span() == (int(whole.table.ts_ns.min()), int(whole.table.ts_ns.max()))
    members = {name for name in vars(AnalysisView) if not name.startswith("_")} | set(AnalysisView.__annotations__)
    assert {"reset_rows", "handshake_rows", "finding_rows", "outcome_counts", "stats", "options"} <= members


def _attempts_capture(path: Path) -> Path:
    """Connection attempts whose SYN retransmissions lie many batches apart: Linux 1-2-4-8-16 s, Windows 3-6 s,
    a SYN refused three times, the same ISN again 80 s after a new one, and one-SYN attempts on other tuples."""
    import dpkt

    packets = []

    def put(t, sport, flags, seq, ack=0, reply=False):
        a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
        segment = dpkt.tcp.TCP(sport=443 if reply else sport, dport=sport if reply else 443, seq=seq, ack=ack,
                               flags=flags, off=5)
        ip = dpkt.ip.IP(src=b if reply else a, dst=a if reply else b, p=6, ttl=64, data=segment)
        ip.len = len(ip)
        packets.append((t, bytes(dpkt.ethernet.Ethernet(type=0x0800, data=ip))))

    for t in (0, 1, 3, 7, 15, 31):
        put(t, 41000, dpkt.tcp.TH_SYN, 7000)
    for t in (2, 5, 11):
        put(t, 41001, dpkt.tcp.TH_SYN, 8000)
    for t in (4, 4.5, 5):
        put(t, 41002, dpkt.tcp.TH_SYN, 9000)
        put(t + 0.01, 41002, dpkt.tcp.TH_RST | dpkt.tcp.TH_ACK, 0, 9001, reply=True)
    put(6, 41003, dpkt.tcp.TH_SYN, 10000)
    put(50, 41003, dpkt.tcp.TH_SYN, 10500)  # a new ISN: a new attempt, a new Wireshark stream
    put(130, 41003, dpkt.tcp.TH_SYN, 10000)  # the first ISN again: no retransmission of the attempt before
    for i in range(140):
        put(i + 0.5, 42000 + i, dpkt.tcp.TH_SYN, 11000 + i)
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f)
        for t, frame in sorted(packets, key=lambda p: p[0]):
            writer.writepkt(frame, ts=1_700_000_000 + t)
    return path


def test_attempts_retransmitted_across_batches_are_joined_as_on_the_whole_path(tmp_path):
    path = _attempts_capture(tmp_path / "attempts.pcap")
    streamed = _compare(path, chunk_rows=4, batch_rows=4)
    whole = Analysis.of_files([path])
    joined = {c.orig_p: (c.syn_count, c.zeek_connections) for c in whole.conversations if c.orig_p < 42000}
    assert joined == {41000: (6, 4), 41001: (3, 2), 41002: (3, 3), 41003: (1, 1)}
    assert streamed.conversation_count() == whole.conversation_count() == 3 + 3 + 140
    assert streamed.zeek_connection_count() == whole.zeek_connection_count() == 4 + 2 + 3 + 3 + 140


def test_retired_streams_in_runs_answer_as_one_table_would(monkeypatch):
    # Random batches of retired tuples, some retired again: every lookup gives the latest entry, as one
    # dict would, while the runs merge (RUN_MAX small, so merges stop short and several runs stay).
    from netreset.pipeline.streamed import RetiredStreams
    from netreset.flows.compiled.completeness import SEED_N

    from netreset.pipeline.spill import SpillDirectory

    monkeypatch.setattr(RetiredStreams, "RUN_MAX", 64)
    monkeypatch.setattr(RetiredStreams, "SPILL_MIN", 32)
    rng = np.random.default_rng(3)
    retired, model = RetiredStreams(SpillDirectory()), {}
    for batch in range(60):
        n = int(rng.integers(1, 30))
        lo, hi = rng.integers(0, 40, n), rng.integers(0, 5, n)
        first = np.unique(lo * 5 + hi, return_index=True)[1]  # one entry per tuple in a batch, as a walk gives
        lo, hi = lo[first], hi[first]
        ident = rng.integers(0, 10**6, len(lo))
        state = rng.integers(0, 100, (len(lo), 8))
        retired.put(lo, hi, ident, state)
        retired.release_pages()  # spilled runs keep what was written to them
        model.update({(int(a), int(b)): (int(i), s.tolist()) for a, b, i, s in zip(lo, hi, ident, state)})
        qlo, qhi = rng.integers(0, 45, 50), rng.integers(0, 6, 50)
        (n_seed, keys, base, rest), got = retired.seed(qlo, qhi)
        for k, (a, b) in enumerate(zip(qlo.tolist(), qhi.tolist())):
            expected = model.get((a, b))
            assert got[k] == (expected[0] if expected else -1)
            assert n_seed[k] == (expected[1][SEED_N] if expected else -1)
    assert len(retired) == len(model) and len(retired.runs) > 1 and retired.files > 0


@pytest.mark.parametrize("name", sorted(frozen.captures(None, None)))
def test_pieces_cut_to_a_few_rows_give_the_same_answers(name, monkeypatch):
    # Whole batches kept as one piece could hold every failing tuple of a batch; cut to 8 rows (whole
    # tuples each), every capture still gives the whole-table answers.
    import netreset.pipeline.streamed as streamed

    monkeypatch.setattr(streamed, "PIECE_ROWS", 8)
    analysis = _compare(frozen.captures(None, None)[name], chunk_rows=50)
    assert all(size <= 8 or len(conversations) == 1
               for size, (_, _, conversations) in zip(analysis._kept.sizes, analysis.pieces()))


def test_piece_parts_keep_tuples_whole_and_under_the_limit():
    from netreset.pipeline.streamed import piece_parts

    groups = np.repeat(np.arange(6), [3, 1, 9, 2, 2, 4])
    parts = piece_parts(groups, 4)
    assert [groups[p].tolist() for p in parts] == [[0, 0, 0, 1], [2] * 9, [3, 3, 4, 4], [5] * 4]
    assert np.array_equal(np.concatenate(parts), np.arange(len(groups)))
    assert [p.tolist() for p in piece_parts(groups[:3], 4)] == [[0, 1, 2]] and piece_parts(groups[:0], 4) == []


def _silent_death_capture(path: Path) -> Path:
    """A connection idle for 25 s whose next data segment is retransmitted into nothing until the capture
    ends (no RST, no FIN, no finding), among clean connections that retire between the batches."""
    import dpkt

    packets = []

    def put(t, flags, seq, ack, reply=False, data=b"", sport=41000):
        a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
        segment = dpkt.tcp.TCP(sport=443 if reply else sport, dport=sport if reply else 443, seq=seq, ack=ack,
                               flags=flags, off=5, data=data)
        ip = dpkt.ip.IP(src=b if reply else a, dst=a if reply else b, p=6, ttl=60 if reply else 64, data=segment)
        ip.len = len(ip)
        packets.append((t, bytes(dpkt.ethernet.Ethernet(type=0x0800, data=ip))))

    syn, ack, push = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH
    put(0, syn, 1000, 0), put(0.01, syn | ack, 5000, 1001, reply=True), put(0.02, ack, 1001, 5001)
    put(0.03, ack | push, 1001, 5001, data=b"x" * 10), put(0.04, ack, 5001, 1011, reply=True)
    for t in (25, 25.2, 25.6, 26.4, 28):
        put(t, ack | push, 1011, 5001, data=b"y" * 10)
    for i in range(5):
        sport = 42000 + i
        put(30 + i, syn, 1, 0, sport=sport), put(30.01 + i, syn | ack, 9, 2, reply=True, sport=sport)
        put(30.02 + i, ack, 2, 10, sport=sport)
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f)
        for t, frame in sorted(packets, key=lambda p: p[0]):
            writer.writepkt(frame, ts=1_700_000_000 + t)
    return path


def test_a_silent_death_cut_off_by_the_capture_end_is_counted_as_on_the_whole_path(tmp_path):
    path = _silent_death_capture(tmp_path / "silent.pcap")
    streamed = _compare(path, chunk_rows=3, batch_rows=3)
    assert streamed.cause_counts() == Analysis.of_files([path]).cause_counts() == {"idle_timeout": 1}
