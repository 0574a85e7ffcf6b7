"""Captures still being written: a pipe, a FIFO, a growing file or a capture program's output.

``netreset watch`` reads frames while they are written (:mod:`netreset.pipeline.watch` analyses them). The
container readers of :mod:`netreset.ingest.containers` already parse any blocking byte stream: a pipe's
``read(n)`` waits until ``n`` bytes came or the writer closed it. What this module adds:

* :class:`FollowedFile` — a regular file that is still growing, read like ``tail -f``: at its current
  end a read waits for more instead of answering "end of file", until told to stop;
* :class:`CaptureChild` — dumpcap (or tcpdump where dumpcap is absent) started as a child writing to a
  pipe, and *always* stopped: on a normal end, on Ctrl-C, on an error, and (Linux) when netreset itself
  dies, through the parent-death signal;
* :class:`LiveFrames` — the frames of such a stream, parsed in a background thread and handed over
  through a queue, so that the analysis can keep time (a settle window, ``--duration``) while the
  stream is silent, and Ctrl-C is never stuck inside a blocking read.

A stream that ends inside a record, or bytes that are no capture at all, end the watch with one warning
line (the readers' own words), never a traceback.
"""

from __future__ import annotations

import io
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import BinaryIO

from netreset.errors import CaptureError
from netreset.ingest.containers.open import GZIP_MAGIC, PCAPNG_MAGIC, describe_start
from netreset.ingest.containers.pcap import PCAP_MAGICS, PcapReader
from netreset.ingest.containers.pcapng import PcapngReader
from netreset.ingest.frames import Interface, RawFrame

#: How often a followed file is looked at again when it has not grown (seconds).
FOLLOW_POLL_S = 0.05
#: How long a stopped capture program may take to exit before it is killed (seconds).
CHILD_STOP_S = 2.0


class FollowedFile(io.RawIOBase):
    """A regular file read while another program appends to it: at its end, :meth:`readinto` waits for
    more bytes (polling every :data:`FOLLOW_POLL_S`) until ``stop`` is set, then answers end of file."""

    def __init__(self, path: str, stop: threading.Event) -> None:
        self._file = open(path, "rb", buffering=0)
        self._stop = stop

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            n = self._file.readinto(buffer)
            if n:
                return n
            if self._stop.is_set():
                return 0
            time.sleep(FOLLOW_POLL_S)

    def close(self) -> None:
        self._file.close()
        super().close()


def open_stream(source: str, *, follow: bool, stop: threading.Event) -> tuple[BinaryIO, str]:
    """The byte stream of ``-r SOURCE`` and a name for messages: ``-`` is stdin; a FIFO or character device
    is read as a pipe (it ends when its writer closes it); a regular file is followed while it grows
    (``follow``) or read to its current end."""
    if source == "-":
        return sys.stdin.buffer, "stdin"
    if os.path.isdir(source):
        raise CaptureError(source, "is a directory, not a capture file")
    try:
        if follow and os.path.isfile(source):
            return io.BufferedReader(FollowedFile(source, stop), buffer_size=1 << 16), source
        return open(source, "rb", buffering=1 << 16), source
    except FileNotFoundError:
        raise CaptureError(source, "no such file") from None
    except PermissionError:
        raise CaptureError(source, "permission denied") from None
    except OSError as exc:
        raise CaptureError(source, f"cannot open: {exc.strerror or exc}") from None


def capture_argv(interface: str, bpf: str | None, tool: str | None = None) -> list[str]:
    """The capture program's command line: dumpcap writing pcapng to stdout (``-w -``), or tcpdump (``-U``:
    each packet written at once, not when a 4 KB buffer fills) where dumpcap is not installed. ``tool``
    forces one (tests). Raises CaptureError when neither is found."""
    chosen = tool or ("dumpcap" if _find("dumpcap") else "tcpdump" if _find("tcpdump") else None)
    chosen = _find(chosen) if chosen else None
    if chosen is None:
        raise CaptureError(interface, "live capture needs dumpcap (Wireshark) or tcpdump; neither is on PATH "
                           "(or capture elsewhere and pipe it in: `tcpdump -U -w - … | netreset watch -r -`)")
    if os.path.basename(chosen).startswith("dumpcap"):
        argv = [chosen, "-i", interface, "-w", "-", "-q"]
        return argv + (["-f", bpf] if bpf else [])
    argv = [chosen, "-i", interface, "-U", "-w", "-", "-s", "0", "-n"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # tcpdump started by root drops to its own user, and a change of credentials clears the parent-death
        # signal: netreset killed by SIGKILL would leave it running until its next write to the dead pipe
        argv += ["-Z", "root"]
    if _tcpdump_has_immediate_mode(chosen):  # each packet handed over at once, not after libpcap's timeout
        argv.insert(3, "--immediate-mode")
    return argv + ([bpf] if bpf else [])


def _find(program: str) -> str | None:
    """``program`` on PATH; on Windows also where Wireshark installs it (its folder is often not on PATH)."""
    found = shutil.which(program)
    if found or os.name != "nt":
        return found
    for base in (os.environ.get("ProgramFiles"), os.environ.get("ProgramFiles(x86)")):
        candidate = os.path.join(base, "Wireshark", program + ".exe") if base else None
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


def _tcpdump_has_immediate_mode(tcpdump: str) -> bool:
    """tcpdump 4.7 and later take --immediate-mode (its --help lists it)."""
    try:
        done = subprocess.run([tcpdump, "--help"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--immediate-mode" in done.stdout + done.stderr


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when netreset dies, even by SIGKILL (prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


class CaptureChild:
    """A capture program running as a child with its output on a pipe; a context manager that always stops
    it (SIGTERM, then SIGKILL after :data:`CHILD_STOP_S`) and reaps it, so no capture is left behind.

    Its stderr is read in a thread (a full stderr pipe would block it); :meth:`problem` gives its last
    line when it exits on its own (a wrong interface name, no permission)."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        linux = sys.platform.startswith("linux")
        try:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, preexec_fn=_die_with_parent if linux else None)
        except OSError as exc:
            raise CaptureError(argv[0], f"cannot start: {exc.strerror or exc}") from None
        self._lines: list[str] = []
        self._stderr = threading.Thread(target=self._drain, name="netreset-capture-stderr", daemon=True)
        self._stderr.start()

    @property
    def stdout(self) -> BinaryIO:
        return self.process.stdout

    @property
    def pid(self) -> int:
        return self.process.pid

    def _drain(self) -> None:
        for raw in self.process.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._lines = (self._lines + [line])[-20:]

    def problem(self) -> str | None:
        """Why the program ended by itself (its last error line and status), or None while it runs or when it
        ended cleanly."""
        status = self.process.poll()
        if status in (None, 0):
            return None
        self._stderr.join(timeout=1)
        told = [line for line in self._lines if not line.lower().startswith(("capturing on", "listening on", "file:"))]
        return f"{os.path.basename(self.argv[0])} exited with status {status}" + (f": {told[-1]}" if told else "")

    def stop(self) -> None:
        """Stop the program and reap it (idempotent)."""
        process = self.process
        if process.poll() is None:
            try:
                process.terminate()
                process.wait(timeout=CHILD_STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            except ProcessLookupError:
                pass
        process.wait()
        for pipe in (process.stdout, process.stderr):
            try:
                pipe.close()
            except OSError:
                pass

    def __enter__(self) -> "CaptureChild":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def frame_reader(stream: BinaryIO, name: str) -> PcapReader | PcapngReader:
    """The container reader for a stream's first bytes (pcap or pcapng; nothing else is written live).
    Raises CaptureError for an empty stream or one that is not a capture."""
    head = stream.peek(4)[:4] if hasattr(stream, "peek") else b""
    if not head:
        raise CaptureError(name, "empty stream (nothing was written to it)")
    if head[:4] == PCAPNG_MAGIC:
        return PcapngReader(name, stream, None)
    if head[:4] in PCAP_MAGICS:
        return PcapReader(name, stream, None)
    if head[:2] == GZIP_MAGIC:
        raise CaptureError(name, "gzip-compressed: a live stream is read as it comes; decompress it into the "
                           "pipe (zcat FILE | netreset watch -r -) or read the file with the other commands")
    if len(head) < 4:
        raise CaptureError(name, f"the stream ended after {len(head)} bytes, before a capture header")
    what = describe_start(stream.peek(80)[:80])
    if what.startswith("not a capture file"):
        what += " — a live stream must be pcap or pcapng (tcpdump -w -, dumpcap -w -)"
    raise CaptureError(name, what)


class LiveFrames:
    """The frames of a live stream, parsed in a background thread and fetched with :meth:`take`.

    At most ``depth`` frames wait in the queue (a reader far ahead of the analysis waits, and so does
    the writer behind the pipe). ``interfaces`` grows as the stream describes them (pcapng IDBs);
    ``warnings`` holds the readers' messages; ``error`` a CaptureError that ended the stream at its start."""

    _END = object()

    def __init__(self, stream: BinaryIO, name: str, depth: int = 1 << 13) -> None:
        self.stream, self.name = stream, name
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.interfaces: list[Interface] = []
        self.warnings: list[str] = []
        self.error: CaptureError | None = None
        self.file_format = ""
        self.ended = False
        self._stop = threading.Event()
        self._reader = None
        self._thread = threading.Thread(target=self._read, name="netreset-live-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            reader = frame_reader(self.stream, self.name)
            self._reader = reader
            self.interfaces = reader.interfaces
            self.file_format = reader.file_format
            for frame in reader.frames():
                while not self._stop.is_set():
                    try:
                        self.queue.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self.warnings.extend(reader.warnings)
        except CaptureError as error:
            self.error = error
        except (OSError, ValueError) as error:  # the pipe was closed under the reader (a stop)
            if not self._stop.is_set():
                self.warnings.append(f"{self.name}: stopped reading: {error}")
        finally:
            while True:
                try:
                    self.queue.put(self._END, timeout=0.1)
                    break
                except queue.Full:
                    if self._stop.is_set():
                        break

    def take(self, timeout: float, limit: int = 1 << 16) -> list[RawFrame]:
        """The frames that arrived (waiting at most ``timeout`` seconds for the first), at most ``limit``;
        sets :attr:`ended` once the stream has ended and every frame was taken."""
        frames: list[RawFrame] = []
        if self.ended:
            return frames
        try:
            item = self.queue.get(timeout=timeout) if timeout > 0 else self.queue.get_nowait()
        except queue.Empty:
            return frames
        while True:
            if item is self._END:
                self.ended = True
                return frames
            frames.append(item)
            if len(frames) >= limit:
                return frames
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return frames

    def waiting(self) -> bool:
        """Whether frames are already queued (the stream is not idle)."""
        return not self.queue.empty()

    def stop(self) -> None:
        """Let the reader thread go (it is a daemon: a read blocked on a silent pipe ends with the process)."""
        self._stop.set()
