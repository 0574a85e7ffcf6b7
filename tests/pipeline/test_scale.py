"""Scale features: --workers gives the one-process answer, the progress bar stays off stderr when it
must, small files never pay for the compiler, and the generator's ground truth is what netreset finds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import CAPTURES, ROOT
from netreset.cli.main import main
from netreset.ingest.files import read_capture_files
from netreset.cli.progress import reading_progress

sys.path.insert(0, str(ROOT / "benchmarks"))
SAMPLES = [CAPTURES / "clean.pcap", CAPTURES / "multi-connection.pcap", CAPTURES / "firewall-reset.pcapng"]


def test_workers_merge_files_into_the_same_table_as_one_process():
    one, one_stats = read_capture_files(SAMPLES)
    two, two_stats = read_capture_files(SAMPLES, workers=2)
    assert one.book.addresses == two.book.addresses and one.book.signatures == two.book.signatures
    for name, column in one.columns.items():
        assert (column == two.columns[name]).all(), name
    assert vars(one_stats) == vars(two_stats)


def test_summary_with_workers_prints_the_same_json():
    runner = CliRunner()
    args = ["summary", *map(str, SAMPLES), "--format", "json"]
    assert runner.invoke(main, args).output == runner.invoke(main, args + ["--workers", "2"]).output


def test_progress_hook_is_silent_when_stderr_is_not_a_terminal(tmp_path):
    with open(tmp_path / "err", "w") as err, reading_progress(SAMPLES, stream=err) as hook:
        assert hook is None
    assert (tmp_path / "err").read_text() == ""


def test_progress_hook_sees_every_file_to_its_end():
    calls = []
    read_capture_files(SAMPLES, progress=lambda *args: calls.append(args))
    ends = {file_id: (size, packets) for file_id, size, packets in calls}
    assert sorted(ends) == [0, 1, 2]
    assert [ends[i][0] for i in range(3)] == [p.stat().st_size for p in SAMPLES]


def test_a_small_capture_never_imports_the_compiler():
    code = ("import sys; from netreset.cli.main import main; "
            f"main(['summary', {str(SAMPLES[0])!r}, '-q'], standalone_mode=False); "
            "print('numba' in sys.modules, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr.strip().endswith("False")


def test_generated_capture_matches_its_ground_truth(tmp_path):
    pytest.importorskip("numba")
    from generate import generate

    truth = generate(3000, seed=7, formats=["pcap", "pcapng"], out=tmp_path, snaplen=128, rate_per_s=500.0)
    for fmt in ("pcap", "pcapng"):
        path = truth["files"][fmt]
        summary = json.loads(CliRunner().invoke(main, ["summary", path, "--format", "json"]).output)
        assert summary["packets_total"] == truth["packets"]
        assert summary["conversations_total"] == truth["conversations"]
        assert summary["by_conn_state"] == truth["by_conn_state"]
        assert summary["by_outcome"] == truth["by_outcome"]
        resets = json.loads(CliRunner().invoke(main, ["locate-reset", path, "--format", "json"]).output)["resets"]
        assert len(resets) == truth["rst_packets"]
        assert sum(r["verdict"] == "middlebox" for r in resets) == truth["forged_rsts"]


def test_worker_count_uses_the_cores_only_for_big_inputs(monkeypatch):
    from netreset.pipeline.whole import worker_count

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert worker_count(3, big=False) == 3  # asked for: always
    assert worker_count(None, big=False) == 1
    assert worker_count(None, big=True) == 4  # the cores, up to 4
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert worker_count(None, big=True) == 1


def test_the_benchmark_runner_reports_each_tools_median_over_interleaved_rounds(monkeypatch):
    import run as bench

    walls = iter([5.0, 1.0, 9.0, 2.0, 7.0, 3.0])  # rounds of (tshark, netreset)
    order = []

    def once(path, tools, plain, baseline=None):
        results = []
        for tool in ("tshark -q -z conv,tcp", "netreset summary"):
            order.append(tool)
            results.append(bench.Result(tool, "x.pcap", 100, next(walls), 10.0 + len(order), 5, None, "ok", 1.0))
        return results

    monkeypatch.setattr(bench, "measure_once", once)
    seen = []
    tshark, netreset = bench.run_file("x.pcap", ["tshark"], False, repeat=3, report=seen.append)
    assert order == ["tshark -q -z conv,tcp", "netreset summary"] * 3 and len(seen) == 6
    assert (tshark.wall_s, netreset.wall_s) == (7.0, 2.0)  # medians of 5/9/7 and 1/2/3
    assert (tshark.paired_tshark, netreset.paired_tshark) == (1.0, 4.5)  # rounds: 5/1, 9/2, 7/3
    table = bench.table([tshark, netreset])
    assert "× tshark per round" in table and "| 3.50 | 4.50 |" in table  # ratio of medians, per round
    assert (tshark.rss_mb, netreset.rss_mb) == (15.0, 16.0)
