"""Fleet throughput: N generated captures from K "nodes", `netreset fleet` with 1 and 2 Dask workers against a
shell loop of `netreset summary` (and `netreset export` in one process, the same work without Dask), and
Dask's own overhead per capture.

    python benchmarks/fleet.py --captures 24 --nodes 4 --packets 20000
    → benchmarks/out/fleet/node-<k>/cap-<i>.pcap, then one line of JSON per measurement

Each run is timed end to end from the shell (process start, the cluster's start, analysis, Parquet writes,
exit), as a user would see it. The overhead per capture is measured apart: the same number of no-op tasks
on a LocalCluster of one worker (submit → result, after the cluster is up), and the cluster's start. Speed is
measured, never asserted; on a loaded machine the numbers are noise beyond their order of magnitude.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import generate  # noqa: E402

SRC = HERE.parent / "src"


def make_captures(root: Path, captures: int, nodes: int, packets: int) -> list[Path]:
    """``captures`` pcap files spread over ``nodes`` folders, each from its own seed."""
    paths = []
    for i in range(captures):
        folder = root / f"node-{i % nodes}"
        name = f"cap-{i:03d}"
        if not (folder / f"{name}.pcap").exists():
            generate(packets, 1000 + i, ["pcap"], folder, 128, 2000.0, name)
        paths.append(folder / f"{name}.pcap")
    return paths


def timed(command: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    started = time.perf_counter()
    subprocess.run(["bash", "-c", command], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def dask_overhead(tasks: int) -> dict:
    """Cluster start, and submit → result per no-op task on one worker."""
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    up = time.perf_counter() - started
    try:
        client.submit(int, 0, pure=False).result()  # the first task pays for the worker's warm-up
        started = time.perf_counter()
        for future in [client.submit(int, i, pure=False) for i in range(tasks)]:
            future.result()
        per_task = (time.perf_counter() - started) / tasks
    finally:
        client.close()
        cluster.close()
    return {"cluster_start_s": round(up, 3), "overhead_per_task_ms": round(per_task * 1000, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=24)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--packets", type=int, default=20000, help="packets per capture (at least)")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "fleet")
    args = parser.parse_args(argv)
    paths = make_captures(args.out / "captures", args.captures, args.nodes, args.packets)
    packets = sum(json.loads(p.with_suffix(".truth.json").read_text())["packets"] for p in paths)
    python = sys.executable
    files = " ".join(f"'{p}'" for p in paths)
    node_from = "'node-([0-9]+)'"
    results = {"captures": len(paths), "nodes": args.nodes, "packets": packets, "cores": os.cpu_count(),
               "load_average": round(os.getloadavg()[0], 2)}
    results["shell_loop_summary_s"] = round(timed(f"for f in {files}; do {python} -m netreset summary -q \"$f\"; done"), 2)
    dataset = args.out / "dataset-export"
    shutil.rmtree(dataset, ignore_errors=True)  # the same work in one process, no Dask: what the cluster adds
    results["export_one_process_s"] = round(timed(f"{python} -m netreset export {files} -o '{dataset}' --node-from {node_from} -q"), 2)
    for workers in (1, 2):
        dataset = args.out / f"dataset-{workers}"
        shutil.rmtree(dataset, ignore_errors=True)
        results[f"fleet_{workers}_workers_s"] = round(timed(
            f"{python} -m netreset fleet {files} -o '{dataset}' --workers {workers} --node-from {node_from} -q"), 2)
    results.update(dask_overhead(len(paths)))
    for key in ("shell_loop_summary_s", "export_one_process_s", "fleet_1_workers_s", "fleet_2_workers_s"):
        results[key[:-2] + "_packets_per_s"] = round(packets / results[key])
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
