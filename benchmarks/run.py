"""Time netreset against tshark, tcptrace and a plain dpkt loop, in one run, on the same files.

    python benchmarks/run.py benchmarks/out/bench-1m-s1.pcap benchmarks/out/bench-1m-s1.pcapng
    python benchmarks/run.py --tools tshark,tcptrace --repeat 3 benchmarks/out/bench-1m-s1.pcap \
        benchmarks/out/gen-1m-s1.pcap     # both generators' captures in one run

Every tool runs under ``/usr/bin/time -v`` (peak RSS as the kernel counts it, mapped file pages
included), one after the other, on a warm page cache (each file is read once before timing). The
table gives packets/s, the ratio of netreset's throughput to tshark's and tcptrace's on the same
file, peak RSS (of the largest process, as /usr/bin/time reports it), the peak of all the tool's
processes together (summed RSS, sampled; netreset forks workers for a big capture's findings), and whether the tool's conversation and RST counts agree with the generator's
ground-truth sidecar (:func:`read_truth`). The machine's load average is printed before and after:
the machine is shared, and a busy neighbour halves any number.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Result:
    tool: str
    capture: str
    packets: int
    wall_s: float
    rss_mb: float
    conversations: int | None
    rsts: int | None
    ok: str
    #: peak memory of the tool's processes together (summed RSS, sampled every 50 ms), MB — filled from
    #: the run that produced this result, which always comes just before the result is made
    total_mb: float = field(default_factory=lambda: LAST_TOTAL[0])
    #: with --repeat: the median over the rounds of (tshark's wall time / this tool's) in the same round
    paired_tshark: float | None = None

    @property
    def pps(self) -> float:
        return self.packets / self.wall_s if self.wall_s else 0.0


LAST_TOTAL = [0.0]  #: the last timed command's peak of its process tree's summed RSS, MB (see tree_rss)


def timed(cmd: list[str], env: dict | None = None) -> tuple[str, float, float]:
    """Run under /usr/bin/time -v; return (stdout, wall seconds, peak RSS MB). ``/usr/bin/time`` reports
    the largest single process; the peak of all the processes together is sampled into LAST_TOTAL."""
    import tempfile
    import threading

    # The tool's output goes to a file, read once it has ended: through a pipe the tool waits whenever
    # this process has not yet read (and decoded) the last 64 KB, which put ≈ 0.2 s of the runner's
    # own work into netreset's wall time on the 42 MB of `locate-reset --format json` at 1M packets.
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(["/usr/bin/time", "-v", *cmd], stdout=out, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, **(env or {})})
        peak = [0.0]
        sampler = threading.Thread(target=_sample_tree, args=(proc, peak), daemon=True)
        sampler.start()
        _, stderr = proc.communicate()
        sampler.join()
        out.seek(0)
        stdout = out.read()
    LAST_TOTAL[0] = peak[0]
    proc = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-800:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    hours, minutes, seconds = (float(g) if g else 0.0 for g in wall.groups())
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return proc.stdout, hours * 3600 + minutes * 60 + seconds, rss_kb / 1024


def _sample_tree(proc: subprocess.Popen, peak: list) -> None:
    """Every 50 ms until ``proc`` ends: the summed resident set of ``proc`` and all its descendants; keep
    the largest in MB. RSS from ``/proc/PID/statm`` is cheap to read (PSS from ``smaps_rollup`` walks the
    page tables of a multi-GB tshark each time and slowed the tools it measured); pages that forked
    processes share are counted once per process, so the sum is an upper bound."""
    import time

    while proc.poll() is None:
        peak[0] = max(peak[0], tree_rss(proc.pid) / 1024)
        time.sleep(0.05)


def tree_rss(root: int) -> int:
    """kB resident in ``root`` and its descendants (0 for processes that vanished meanwhile)."""
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page_kb
            for task in os.listdir(f"/proc/{pid}/task"):
                todo += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def netreset(command: str, path: str, plain: bool = False, extra: tuple[str, ...] = (), source: str | None = None
             ) -> tuple[str, float, float, int | None, int | None]:
    """``source``: another netreset source tree (its ``src`` folder) to time instead of the installed one."""
    env = {"NETRESET_PLAIN": "1"} if plain else {}
    if source:
        env["PYTHONPATH"] = source
    quiet = ["-q"] if _has_quiet(source) else []
    out, wall, rss = timed([sys.executable, "-m", "netreset", command, path, "--format", "json", *quiet, *extra], env)
    doc = json.loads(out)
    if command == "summary":
        return out, wall, rss, doc["conversations_total"], None
    return out, wall, rss, None, len(doc["resets"])


def _has_quiet(source: str | None = None) -> bool:
    """Older netreset builds (the baseline) have no -q/--quiet."""
    env = {**os.environ, "PYTHONPATH": source} if source else None
    help_text = subprocess.run([sys.executable, "-m", "netreset", "summary", "--help"], capture_output=True, text=True,
                               env=env).stdout
    return "--quiet" in help_text


def tshark(path: str) -> tuple[float, float, int]:
    out, wall, rss = timed(["tshark", "-q", "-z", "conv,tcp", "-r", path])
    rows = [line for line in out.splitlines() if "<->" in line]
    return wall, rss, len(rows)


def tcptrace(path: str) -> tuple[float, float, int, int | None]:
    out, wall, rss = timed(["tcptrace", "-n", path])
    conns = len(re.findall(r"^\s*\d+: ", out, flags=re.M))
    resets = len(re.findall(r"\(reset\)", out))
    return wall, rss, conns, resets


def dpkt_loop(path: str) -> tuple[float, float, dict]:
    out, wall, rss = timed([sys.executable, str(HERE / "dpkt_loop.py"), path])
    return wall, rss, json.loads(out)


def read_truth(path: str) -> dict:
    """The generator's answers for ``path`` as ``{"packets", "conversations", "rst_packets"}``.

    Two generators write them: ``benchmarks/generate.py`` as ``<stem>.truth.json`` with those keys, and
    ``../shared/tools/gen_capture.py`` (written apart from ours, so that the benchmark is not only run on
    captures shaped by our own assumptions) as ``<file>.truth.json`` with totals nested per kind."""
    capture = Path(path)
    for candidate in (capture.with_suffix(".truth.json"), capture.with_name(capture.name + ".truth.json")):
        if candidate.exists():
            truth = json.loads(candidate.read_text())
            break
    else:
        raise SystemExit(f"{path}: no truth file beside it ({capture.with_suffix('.truth.json').name} or "
                         f"{capture.name}.truth.json); make the capture with benchmarks/generate.py or "
                         "../shared/tools/gen_capture.py")
    if isinstance(truth.get("packets"), dict):  # gen_capture.py's shape
        return {"packets": truth["packets"]["total"], "conversations": truth["conversations"]["total"],
                "rst_packets": truth["packets"]["rst"]}
    return truth


def check(truth: dict, conversations: int | None, rsts: int | None) -> str:
    problems = []
    if conversations is not None and conversations != truth["conversations"]:
        problems.append(f"conv {conversations}≠{truth['conversations']}")
    if rsts is not None and rsts != truth["rst_packets"]:
        problems.append(f"rst {rsts}≠{truth['rst_packets']}")
    return "ok" if not problems else ", ".join(problems)


def run_file(path: str, tools: list[str], plain: bool, repeat: int = 1, report=None, baseline: str | None = None
             ) -> list[Result]:
    """Every tool on ``path``, ``repeat`` rounds of all the tools one after the other (so a slow spell of
    a shared machine falls on several tools, not on all runs of one); per tool the median wall time of
    its rounds, the largest memory, and the count check of every round. ``report(result)`` sees each
    single run as it ends."""
    rounds = []
    for _ in range(repeat):
        rounds.append(measure_once(path, tools, plain, baseline))
        for r in rounds[-1]:
            if report is not None:
                report(r)
    if repeat == 1:
        return rounds[0]
    merged = []
    tshark_walls = [next((r.wall_s for r in results if r.tool.startswith("tshark")), None) for results in rounds]
    for runs in zip(*rounds):
        walls = sorted(r.wall_s for r in runs)
        oks = sorted({r.ok for r in runs})
        paired = sorted(t / r.wall_s for t, r in zip(tshark_walls, runs) if t and r.wall_s)
        merged.append(Result(runs[0].tool, runs[0].capture, runs[0].packets, walls[len(walls) // 2],
                             max(r.rss_mb for r in runs), runs[0].conversations, runs[0].rsts,
                             oks[0] if len(oks) == 1 else "; ".join(oks), max(r.total_mb for r in runs),
                             paired[len(paired) // 2] if paired else None))
    return merged


def measure_once(path: str, tools: list[str], plain: bool, baseline: str | None = None) -> list[Result]:
    """One run of every tool on ``path`` (see :func:`run_file`); with ``baseline`` (another source tree's
    ``src``), that build's two commands too, labelled ``netreset@baseline``, in the same round."""
    truth = read_truth(path)
    n = truth["packets"]
    name = Path(path).name
    Path(path).read_bytes()  # warm the page cache for every tool alike
    results = []
    if "tshark" in tools:
        wall, rss, conv = tshark(path)
        results.append(Result("tshark -q -z conv,tcp", name, n, wall, rss, conv, None, check(truth, conv, None)))
    if "tcptrace" in tools and shutil.which("tcptrace"):
        wall, rss, conv, resets = tcptrace(path)
        # tcptrace marks a connection "(reset)", not each RST: its count is connections, not checked.
        results.append(Result("tcptrace -n", name, n, wall, rss, conv, None, check(truth, conv, None)))
    if "dpkt" in tools:
        wall, rss, doc = dpkt_loop(path)
        results.append(Result("dpkt loop", name, n, wall, rss, doc["tuples"], doc["rsts"], check(truth, doc["tuples"], doc["rsts"])))
    # The default uses the machine's cores for the findings of a big capture (--workers); one process
    # is timed too, beside tshark and tcptrace, which use one core.
    variants = [(False, "", ()), (False, " --workers 1", ("--workers", "1"))] + \
        ([(True, " (plain)", ())] if plain else [])
    for is_plain, label, extra in variants:
        for command in ("summary", "locate-reset"):
            _, wall, rss, conv, rsts = netreset(command, path, is_plain, extra)
            results.append(Result(f"netreset {command}{label}", name, n, wall, rss, conv, rsts, check(truth, conv, rsts)))
    if baseline:
        for command in ("summary", "locate-reset"):
            _, wall, rss, conv, rsts = netreset(command, path, source=baseline)
            results.append(Result(f"netreset@baseline {command}", name, n, wall, rss, conv, rsts,
                                  check(truth, conv, rsts)))
    return results


def table(results: list[Result]) -> str:
    """The results as a Markdown table. With rounds (``--repeat``), a second ratio to tshark: the median
    of each round's own ratio. The machine's speed drifts (the same run takes up to 1.8× longer in a
    slow spell, with no steal time shown), and a round's tools run minutes apart at most, so a round's
    ratio compares the tools at one speed where the ratio of medians may pair a fast tshark round with
    a slow netreset one."""
    paired = any(r.paired_tshark is not None for r in results)
    lines = ["| capture | tool | packets | wall s | packets/s | × tshark |" + (" × tshark per round |" if paired else "")
             + " × tcptrace | peak RSS MB | all processes MB | counts |",
             "|---|---|---:|---:|---:|---:|" + ("---:|" if paired else "") + "---:|---:|---:|---|"]
    for r in results:
        same = [x for x in results if x.capture == r.capture]
        ref = {x.tool.split()[0]: x.pps for x in same if x.tool.split()[0] in ("tshark", "tcptrace")}
        ratio = lambda k: f"{r.pps / ref[k]:.2f}" if ref.get(k) else "–"  # noqa: E731
        per_round = (f" {r.paired_tshark:.2f} |" if r.paired_tshark is not None else " – |") if paired else ""
        lines.append(f"| {r.capture} | {r.tool} | {r.packets:,} | {r.wall_s:.2f} | {r.pps:,.0f} | "
                     f"{ratio('tshark')} |{per_round} {ratio('tcptrace')} | {r.rss_mb:.0f} | {r.total_mb:.0f} | {r.ok} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("captures", nargs="+")
    parser.add_argument("--tools", default="tshark,tcptrace,dpkt", help="comma-separated: tshark,tcptrace,dpkt")
    parser.add_argument("--plain", action="store_true", help="also time netreset's unoptimised path (NETRESET_PLAIN=1)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="N rounds of all the tools per file; the table gives each tool's median wall time "
                        "and the median of its per-round ratio to tshark")
    parser.add_argument("--baseline", metavar="SRC", help="also time the netreset of another source tree (its src "
                        "folder, e.g. a `git worktree` of an earlier commit) in every round, for before/after ratios")
    args = parser.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}", file=sys.stderr)
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set: Python recompiles every module at start-up", file=sys.stderr)
    results = []

    def report(r: Result) -> None:
        print(f"{r.capture}: {r.tool}: {r.wall_s:.2f} s, {r.pps:,.0f} packets/s, {r.rss_mb:.0f} MB, {r.ok}",
              file=sys.stderr, flush=True)

    for path in args.captures:
        results += run_file(path, tools, args.plain, max(args.repeat, 1), report, args.baseline)
    print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}", file=sys.stderr)
    if args.repeat > 1:
        print(f"median of {args.repeat} rounds per tool", file=sys.stderr)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([dict(vars(r), pps=r.pps) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
