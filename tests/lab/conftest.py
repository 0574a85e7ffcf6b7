"""The lab rebuild, shared by tests/lab's modules: one build per test session (it takes about 75 s)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def lab_unavailable() -> str | None:
    """Why the lab cannot be rebuilt here (None when it can)."""
    if os.geteuid() != 0:
        return "needs root"
    tools = ("ip", "tcpdump", "dumpcap", "iptables-restore", "ip6tables-restore", "dnsmasq", "dig", "openssl")
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        return f"missing tools: {', '.join(missing)}"
    probe = f"nrprobe{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return "cannot create network namespaces here"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@pytest.fixture(scope="session")
def rebuilt_lab(tmp_path_factory) -> Path:
    """Build the lab once for the session into a fresh directory; skip when this machine cannot."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("lab")
    prefix = f"nrt{os.getpid()}-"
    try:
        done = subprocess.run([str(CAPTURES / "lab" / "build.sh"), str(out)], capture_output=True, text=True,
                              env={**os.environ, "NETRESET_LAB_PREFIX": prefix}, timeout=300)
    finally:  # a timeout kills build.sh before its own trap can clean up
        subprocess.run(["python3", str(CAPTURES / "lab" / "lab.py"), "teardown", "--prefix", prefix])
    assert done.returncode == 0, done.stderr
    return out


