"""Build the namespace lab, record every scenario, write truth.json, and tear the lab down.

    python3 lab.py build --out captures [--prefix nr-]
    python3 lab.py teardown [--prefix nr-]

Run as root (``sudo captures/lab/build.sh`` wraps this with a cleanup trap). Traffic flows only
between addresses inside the lab's own namespaces. The build refuses to write captures whose
application-level result differs from the scenario's (e.g. a "refused" client that timed out), so
a capture on disk always shows what truth.json says it shows.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pki
import topology
from recorder import Capture, CaptureSpec
from scenarios import (AGENT4, AGENT6, CA, DNS_SERVER, DNS_SERVER_NODE, FIREWALL_V4, FIREWALL_V6, FW_LISTENERS,
                       FW_SYSCTLS, SERVER4, SERVER6, TLS_LISTENERS, Scenario, dnsmasq_argv, scenarios,
                       server_listeners)
from truth import CAPTURE_POINTS, capture_files, truth

HERE = Path(__file__).resolve().parent
TRAFFIC = str(HERE / "traffic.py")
APPS = str(HERE / "apps.py")
#: Issue 14's scenarios add dnsmasq (DNS server), dig (DNS client) and openssl (the lab's CAs).
REQUIRED_TOOLS = ("ip", "tcpdump", "dumpcap", "iptables-restore", "ip6tables-restore", "sysctl", "dnsmasq", "dig",
                  "openssl")
#: A multi-run client's pause between its programs (so one connection's teardown ends before the next).
RUN_PAUSE_S = 0.3
#: After the client exits: the server's delayed close (0.2 s) and the last ACKs must be captured.
SETTLE_S = 0.6
CLIENT_TIMEOUT_S = 30


def missing_requirements() -> list[str]:
    """What this machine lacks to build the lab (empty when it can)."""
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    return missing + ([] if os.geteuid() == 0 else ["root"])


def run_in(lab: topology.Lab, node: str, argv: list[str], stdin: str | None = None) -> str:
    """Run a command in a node's namespace; return stdout, raise with stderr on failure."""
    done = subprocess.run(["ip", "netns", "exec", lab.ns(node), *argv], input=stdin, text=True,
                          capture_output=True, timeout=CLIENT_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"{node}: {' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def install_firewall(lab: topology.Lab) -> None:
    """Load fw's rules (see scenarios.FIREWALL_V4/V6)."""
    run_in(lab, "fw", ["iptables-restore"], FIREWALL_V4)
    run_in(lab, "fw", ["ip6tables-restore"], FIREWALL_V6)


def start_server(lab: topology.Lab, node: str = "server", argv: list[str] | None = None) -> subprocess.Popen:
    """Start a node's listeners (default: every scenario's plain listener on the server); return once
    the program says 'ready'."""
    argv = argv or ["python3", TRAFFIC, "serve", *server_listeners()]
    proc = subprocess.Popen(["ip", "netns", "exec", lab.ns(node), *argv], stdout=subprocess.PIPE, text=True)
    if not select.select([proc.stdout], [], [], 10)[0] or proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"{node}: {' '.join(argv)} did not start")
    return proc


def start_services(lab: topology.Lab, certs: pki.Pki) -> list[subprocess.Popen]:
    """Issue 14's software: TLS/HTTP on the server, the proxies and the inspector on fw, dnsmasq on r1."""
    procs = [start_server(lab, "server", ["python3", APPS, "serve-tls", str(certs.server_cert), str(certs.server_key),
                                          *TLS_LISTENERS]),
             start_server(lab, "fw", ["python3", APPS, "serve-fw", str(certs.forged_cert), str(certs.forged_key),
                                      *FW_LISTENERS])]
    procs.append(subprocess.Popen(["ip", "netns", "exec", lab.ns(DNS_SERVER_NODE), *dnsmasq_argv()],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 10
    while True:  # dnsmasq says nothing on stdout: ask it until it answers (outside any capture)
        done = subprocess.run(["ip", "netns", "exec", lab.ns("agent"), "dig", f"@{DNS_SERVER}", "+short", "+tries=1",
                               "+time=1", "server.lab.test", "A"], capture_output=True, text=True)
        if done.stdout.strip() == SERVER4:
            return procs
        if time.monotonic() > deadline or procs[-1].poll() is not None:
            raise RuntimeError(f"dnsmasq on {DNS_SERVER_NODE} did not answer: {done.stdout} {done.stderr}")
        time.sleep(0.2)


def warm_up(lab: topology.Lab) -> None:
    """Resolve ARP/ND along the whole path before any capture (a closed port answers at once)."""
    for src, dst in ((f"{AGENT4}:0", f"{SERVER4}:9"), (f"[{AGENT6}]:0", f"[{SERVER6}]:9")):
        run_in(lab, "agent", ["python3", TRAFFIC, "connect", src, dst])


def bpf(s: Scenario) -> str:
    """Capture filter: this scenario's port (issue 14's: its client ports), plus any ICMP error (ICMPv6 types < 128)."""
    return f"{s.bpf or f'tcp port {s.port}'} or icmp or (icmp6 and ip6[40] < 128)"


def client_runs(s: Scenario, ca: str) -> list[list[str]]:
    """The programs a scenario's client runs in the agent namespace, one after the other."""
    if s.client[0] == "multi-run":
        runs = json.loads(s.client[1])
    else:
        runs = [[s.program, *s.client]]
    return [["python3", str(HERE / run[0]), *(ca if arg == CA else arg for arg in run[1:])] for run in runs]


def run_client(lab: topology.Lab, s: Scenario, ca: str) -> object:
    """Run the client program(s); the application result (a list for a multi-run client)."""
    results = []
    for argv in client_runs(s, ca):
        results.append(json.loads(run_in(lab, "agent", argv).splitlines()[-1]))
        if len(results) < len(s.client_result if s.client[0] == "multi-run" else [0]):
            time.sleep(RUN_PAUSE_S)
    return results if s.client[0] == "multi-run" else results[0]


def capture_specs(lab: topology.Lab, s: Scenario, out: Path) -> list[CaptureSpec]:
    """Every capture a scenario records."""
    specs = []
    for point, path, tool in capture_files(s):
        node, ifaces = CAPTURE_POINTS[point]
        specs.append(CaptureSpec(lab.ns(node), ifaces, str(out / path), tool, bpf(s)))
    return specs


def record(lab: topology.Lab, s: Scenario, out: Path, ca: str) -> None:
    """Run one scenario under its captures; fail if the application saw something unexpected."""
    captures = []
    try:
        for spec in capture_specs(lab, s, out):
            captures.append(Capture(spec))
        result = run_client(lab, s, ca)
        time.sleep(SETTLE_S)
    finally:
        drops = sum(c.stop() for c in captures)
    if result != s.client_result:
        raise RuntimeError(f"{s.name}: client result {result}, expected {s.client_result}")
    if drops:
        raise RuntimeError(f"{s.name}: the kernel dropped {drops} packets during capture")


def kernel_facts(lab: topology.Lab) -> dict:
    """Kernel settings the SYN schedules depend on, read inside the agent namespace."""
    facts = {"release": os.uname().release}
    for name in ("tcp_syn_retries", "tcp_syn_linear_timeouts"):
        path = f"net.ipv4.{name}"
        done = subprocess.run(["ip", "netns", "exec", lab.ns("agent"), "sysctl", "-n", path],
                              text=True, capture_output=True)
        facts[name] = int(done.stdout) if done.returncode == 0 else 0
    return facts


def build(out: Path, prefix: str, only: tuple[str, ...] = ()) -> None:
    """The whole build: topology, firewall, server, scenarios, truth.json; always torn down."""
    lab = topology.Lab(prefix)
    topology.teardown(lab)
    (out / "peer").mkdir(parents=True, exist_ok=True)
    procs = []
    keys = tempfile.TemporaryDirectory(prefix="netreset-lab-pki-")
    try:
        certs = pki.make(Path(keys.name))
        topology.build(lab, str(HERE / "netdev.py"))
        install_firewall(lab)
        topology.sysctl(lab, "fw", FW_SYSCTLS)  # after iptables-restore: conntrack now exists in fw's namespace
        procs.append(start_server(lab))
        procs += start_services(lab, certs)
        warm_up(lab)
        for s in scenarios():
            if only and s.name not in only:
                continue
            started = time.monotonic()
            record(lab, s, out, str(certs.root_cert))
            print(f"{s.name}: recorded in {time.monotonic() - started:.1f} s", file=sys.stderr)
        document = truth(kernel_facts(lab))
        (out / "truth.json").write_text(json.dumps(document, indent=1) + "\n")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=5)
        topology.teardown(lab)
        keys.cleanup()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "teardown"))
    parser.add_argument("--out", type=Path, default=HERE.parent)
    parser.add_argument("--prefix", default="nr-")
    parser.add_argument("--only", action="append", default=[], metavar="SCENARIO",
                        help="record only these scenarios (repeatable); truth.json is still written whole")
    args = parser.parse_args(argv)
    if args.command == "teardown":
        topology.teardown(topology.Lab(args.prefix))
        return 0
    missing = missing_requirements()
    if missing:
        print(f"Error: cannot build the lab, missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    # SIGTERM/SIGINT become exceptions so build()'s cleanup runs (bash ignores SIGINT in background jobs).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, interrupted)
    build(args.out.resolve(), args.prefix, tuple(args.only))
    return 0


def interrupted(signum: int, _frame) -> None:
    """Signal handler: unwind through every ``finally`` (captures stopped, server killed, lab deleted)."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
