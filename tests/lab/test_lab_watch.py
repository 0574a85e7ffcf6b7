"""``netreset watch -i`` live in the namespace lab: dumpcap on the agent's interface while fw forges a RST
(scenario 1, captures/firewall-reset.pcapng's), the line out within a second of the RST on the wire.

The lab's topology, firewall and server are built as ``captures/lab/lab.py`` builds them (real kernels,
real iptables REJECT), the watch runs inside the agent's namespace, and the client is the scenario's own.
The delay is measured from the RST's capture timestamp (the kernel's, as dumpcap wrote it) to the moment
the test read the line from the watch's stdout: both on this machine's real-time clock.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import netreset
from tests.lab.test_lab_rebuild import lab_unavailable

LAB = Path(__file__).resolve().parents[2] / "captures" / "lab"
SRC = str(Path(netreset.__file__).resolve().parents[1])
#: RST on the wire → line printed: the settle window (0.5 s) plus reading and judging.
MAX_DELAY_S = 1.0


@pytest.fixture(scope="module")
def lab():
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    # the lab's modules are imported by their plain names; another test may have cached a module of the same
    # name (benchmarks/scenarios.py), so theirs are set aside meanwhile
    names = [p.stem for p in LAB.glob("*.py")]
    aside = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, str(LAB))
    import lab as lab_build
    import topology
    from scenarios import FW_SYSCTLS

    instance = topology.Lab(f"nrw{os.getpid() % 10000}-")
    procs = []
    try:
        topology.teardown(instance)
        topology.build(instance, str(LAB / "netdev.py"))
        lab_build.install_firewall(instance)
        topology.sysctl(instance, "fw", FW_SYSCTLS)
        procs.append(lab_build.start_server(instance))
        lab_build.warm_up(instance)
        yield instance, lab_build
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=5)
        topology.teardown(instance)
        sys.path.remove(str(LAB))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(aside)


def _line(proc: subprocess.Popen, timeout: float) -> bytes:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no line from the watch in time"
    return proc.stdout.readline()


@pytest.mark.lab
@pytest.mark.parametrize("tool", ["dumpcap", "tcpdump"])
def test_watch_on_the_agent_prints_the_forged_reset_within_a_second(lab, tmp_path, tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    instance, lab_build = lab
    from scenarios import scenarios

    scenario = next(s for s in scenarios() if s.name == "firewall-reset")
    env = {**os.environ, "PYTHONPATH": SRC}
    watch = subprocess.Popen(["ip", "netns", "exec", instance.ns("agent"), sys.executable, "-m", "netreset", "watch",
                              "-i", "to-r1", "--tool", tool, "--filter", f"tcp port {scenario.port} or icmp", "--format", "json",
                              "--until", "middlebox", "--save", str(tmp_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        time.sleep(2.0)  # dumpcap up and listening
        assert watch.poll() is None, watch.stderr.read().decode()
        result = lab_build.run_client(instance, scenario, "")
        assert result == scenario.client_result
        while True:  # other lines may come first: the agent's kernel resetting what the earlier runs left
            line = _line(watch, 10)
            printed = time.time()
            record = json.loads(line)
            if record.get("verdict") == "middlebox":
                break
            assert record["kind"] == "reset" and record["src"] == "10.66.0.1" and record["verdict"] == "peer", record
        delay_ms = (printed - record["ts"]) * 1000
        print(f"\n{tool}: RST on the wire {record['ts']:.6f} → line printed {printed:.6f}: {delay_ms:.0f} ms")
        assert record["kind"] == "reset" and record["verdict"] == "middlebox" and record["traceroute_hop"] == 4, record
        assert record["observed_ttl"] == 61 and record["claimed_sender_routers_between"] == 6
        assert delay_ms < MAX_DELAY_S * 1000
        rest = watch.stdout.read()
        watch.wait(timeout=30)
        assert watch.returncode == 3
        summary = json.loads(rest.decode().splitlines()[-1])
        assert summary["ended"] == "until" and summary["saved"]
        if shutil.which("tshark"):
            back = subprocess.run(["tshark", "-r", summary["saved"][-1], "-T", "fields", "-e", "ip.ttl", "-e",
                                   "tcp.flags.reset", "-e", "frame.interface_name"], capture_output=True, text=True)
            name = "to-r1" if tool == "dumpcap" else ""  # tcpdump writes pcap: one unnamed interface
            assert back.returncode == 0 and f"61\t1\t{name}" in back.stdout, back.stdout
    finally:
        if watch.poll() is None:
            watch.send_signal(signal.SIGINT)
            watch.wait(timeout=30)
