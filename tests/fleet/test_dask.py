"""`netreset fleet` on a real Dask scheduler and two worker processes on 127.0.0.1: every Parquet row equals
the single-process JSON, a corrupt capture fails alone, and a worker killed half-way through writing a
capture is retried by Dask without a row lost or counted twice."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("pyarrow")
distributed = pytest.importorskip("distributed")

from click.testing import CliRunner  # noqa: E402

from netreset.cli.main import main  # noqa: E402
from netreset.store.dataset import read_table  # noqa: E402
from netreset.store.identity import file_sha256  # noqa: E402
from tests.conftest import CAPTURES  # noqa: E402
from tests.store.fleet_support import canonical, dataset_rows, json_records  # noqa: E402

SMALL = [CAPTURES / "firewall-reset.pcapng", CAPTURES / "sni-filtered.pcapng", CAPTURES / "syn-blackhole.pcap"]


@pytest.fixture(scope="module")
def scheduler():
    """A scheduler and two single-threaded worker processes (with nannies, which restart a dead worker) on loopback."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def fleet(address, paths, out):
    result = CliRunner().invoke(main, ["fleet", *map(str, paths), "-o", str(out), "--scheduler", address,
                                       "--format", "json", "-q"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.startswith("{") else result.output


def assert_rows_equal_json(out, captures):
    for capture in captures:
        sha = file_sha256(capture)[0]
        for table, rows in json_records(capture).items():
            assert canonical(dataset_rows(out, table, sha)) == canonical(rows), (capture.name, table)


def test_fleet_rows_equal_the_single_process_json_and_a_corrupt_capture_fails_alone(scheduler, tmp_path):
    bad = tmp_path / "corrupt.pcap"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 3)
    code, document = fleet(scheduler, SMALL + [bad], tmp_path / "out")
    assert code == 1
    assert document["captures"] == 3 and [f["path"] for f in document["failed"]] == [str(bad)]
    assert "corrupt.pcap" in document["failed"][0]["error"]
    assert_rows_equal_json(tmp_path / "out", SMALL)
    assert document["resets_total"] == sum(len(json_records(c)["resets"]) for c in SMALL)
    assert [d["device"] for d in document["devices"]] == ["hop4-ttl64"]


class _DieOnceWhileWriting(distributed.WorkerPlugin):
    """Installed in every worker: the first time any worker has written one Parquet file of a capture, that
    worker process dies at once (os._exit, no clean-up), the capture's other files unwritten."""

    def __init__(self, marker: str):
        self.marker = marker

    def setup(self, worker):
        import netreset.store.dataset as dataset

        original, marker = dataset._replace, self.marker

        def replace(folder, name, table):
            original(folder, name, table)
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return
            os._exit(1)

        dataset._replace = replace


def test_a_worker_killed_mid_task_is_retried_and_nothing_counts_twice(scheduler, tmp_path):
    marker = tmp_path / "killed"
    with distributed.Client(scheduler) as client:
        client.register_plugin(_DieOnceWhileWriting(str(marker)), name="die-once")
        try:
            code, document = fleet(scheduler, SMALL, tmp_path / "out")
        finally:
            client.unregister_worker_plugin("die-once")
    assert marker.exists()  # a worker did die in the middle of a capture
    assert code == 0 and document["failed"] == [] and document["captures"] == 3
    out = tmp_path / "out"
    assert read_table(out, "captures").num_rows == 3
    assert_rows_equal_json(out, SMALL)
    assert document["resets_total"] == read_table(out, "resets").num_rows


@pytest.mark.slow
def test_fleet_of_every_sample_and_peer_capture(scheduler, tmp_path):
    captures = sorted(CAPTURES.glob("*.pcap*")) + sorted((CAPTURES / "peer").glob("*.pcap*"))
    code, document = fleet(scheduler, [CAPTURES], tmp_path / "out")
    assert code == 0 and document["captures"] == len(captures)
    assert_rows_equal_json(tmp_path / "out", captures)


def test_a_scheduler_address_dask_cannot_read_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["fleet", str(SMALL[0]), "-o", str(tmp_path), "--scheduler", "nonsense:://x"])
    assert result.exit_code == 2 and result.output.startswith("Error: --scheduler nonsense:://x: unknown address scheme")


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["fleet", str(SMALL[0]), "-o", str(tmp_path), "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
