"""Start and stop tcpdump/dumpcap inside a namespace, without losing the first or the last packets.

Two races matter: a capture that is not yet attached when the client's SYN leaves (so we wait for
the tool's own "listening on" / "Capturing on" line, which it prints once the socket is bound), and
a capture killed with packets still buffered. libpcap's TPACKET_V3 ring hands packets over in
blocks, only when a block fills or its timeout expires (1 s for tcpdump, 250 ms for dumpcap); a
SIGINT before that loses them. So tcpdump runs with ``--immediate-mode`` (no blocking at all),
dumpcap (which has no such switch) is only stopped after lab.py's settle time exceeds its timeout,
and both are stopped with SIGINT, which makes them write out and report statistics; the kernel
must have dropped nothing.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from dataclasses import dataclass

READY_MARKERS = (b"listening on", b"Capturing on")
READY_TIMEOUT_S = 10.0
#: dumpcap prints "Capturing on" for several interfaces before it reads from all of them: in about one
#: rebuild in three, the firewall's two-interface capture missed the agent's SYN on its egress side.
#: Waiting this long after the line made 10 rebuilds in a row complete.
DUMPCAP_START_S = 0.5
#: Tools and the container each writes: plain pcap (microseconds), pcap with nanoseconds, pcapng.
TOOLS = ("tcpdump", "tcpdump-nano", "dumpcap")


@dataclass(frozen=True)
class CaptureSpec:
    """One capture: where (namespace, interfaces), into which file, with which tool and filter."""

    namespace: str
    interfaces: tuple[str, ...]
    path: str
    tool: str
    bpf: str

    def argv(self) -> list[str]:
        """The capture command, run through ``ip netns exec``."""
        head = ["ip", "netns", "exec", self.namespace]
        if self.tool == "dumpcap":
            ifaces = [arg for name in self.interfaces for arg in ("-i", name, "-f", self.bpf)]
            return head + ["dumpcap", "-q", *ifaces, "-w", self.path]
        if len(self.interfaces) != 1:
            raise ValueError("tcpdump captures one interface; use dumpcap for several")
        precision = ["--time-stamp-precision=nano"] if self.tool == "tcpdump-nano" else []
        return head + ["tcpdump", "-n", "-U", "--immediate-mode", "-Z", "root", *precision,
                       "-i", self.interfaces[0], "-w", self.path, self.bpf]


class Capture:
    """A running capture; use as a context manager or call :meth:`stop`."""

    def __init__(self, spec: CaptureSpec):
        self.spec = spec
        self.stderr = b""
        self.proc = subprocess.Popen(spec.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Block until the tool says it is capturing (dumpcap names all its interfaces in one line,
        printed once every one of them is open)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        fd = self.proc.stderr.fileno()
        os.set_blocking(fd, False)
        while not any(marker in self.stderr for marker in READY_MARKERS):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.proc.kill()
                raise RuntimeError(f"capture did not start: {' '.join(self.spec.argv())}: {self.stderr.decode()}")
            if select.select([fd], [], [], left)[0]:
                self.stderr += os.read(fd, 4096) or b""
        if self.spec.tool == "dumpcap":
            time.sleep(DUMPCAP_START_S)

    def stop(self) -> int:
        """SIGINT (flush), wait, and return the number of packets the kernel dropped (should be 0)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise RuntimeError(f"capture did not stop: {self.spec.path}")
        os.set_blocking(self.proc.stderr.fileno(), True)
        self.stderr += self.proc.stderr.read()
        self.proc.stderr.close()
        os.chmod(self.spec.path, 0o644)
        return dropped(self.stderr.decode(errors="replace"))

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def dropped(stats: str) -> int:
    """Kernel drops reported in the tool's closing statistics (tcpdump and dumpcap phrase them differently)."""
    tcpdump = [int(n) for n in re.findall(r"(\d+) packets dropped by kernel", stats)]
    dumpcap = [int(n) for n in re.findall(r"received/dropped on interface '[^']*': \d+/(\d+)", stats)]
    return sum(tcpdump + dumpcap)
