"""``--engine tshark``: the packet table built from Wireshark's dissectors instead of our own decoder.

Why a second engine: Wireshark decodes link types and encapsulations the default engine does not
(802.11 variants, rare tunnels, vendor headers). The result is the same :class:`PacketTable` as
:func:`netreset.ingest.read_capture`, so every analysis works unchanged, and the tests use this engine
as a differential oracle for the default one.

Why fields and not pyshark packets: pyshark (the wrapper the user chose) builds one Python object per
packet from tshark's PDML/JSON, far slower than tshark itself. We ask tshark for a fixed list of fields
(``-T fields``, one tab-separated line per frame) and parse the lines as they stream from the
subprocess, which keeps tshark itself the bottleneck. pyshark still serves to locate the binary
(:func:`pyshark.tshark.tshark.get_process_path` honours its ``config.ini``).

Why no display filter: every frame gets a line, so non-TCP frames are counted by protocol in
:class:`IngestStats` instead of disappearing; tshark dissects every frame either way, so the cost is
only the short lines of those frames.

This module runs tshark and collects its answers; :mod:`netreset.ingest.tshark.rows` turns one
line of fields into a row.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import tempfile
from typing import Iterator

from netreset.errors import CaptureError
from netreset.ingest.frames import IngestStats
from netreset.ingest.containers.open import GZIP_MAGIC, format_name
from netreset.ingest.tshark.rows import FIELDS, classify_frame, epoch_ns, parse_int
from netreset.packets.table import AddressBook, PacketTable, PacketTableBuilder


#: Preferences that make tshark report each frame as captured, like the default engine:
#: no IP reassembly (a fragmented segment stays on its first fragment's frame), absolute sequence
#: numbers, and no TCP reassembly or sequence analysis (not needed, and they cost memory on big files).
TSHARK_PREFERENCES: tuple[str, ...] = (
    "ip.defragment:FALSE", "ipv6.defragment:FALSE", "tcp.desegment_tcp_streams:FALSE",
    "tcp.analyze_sequence_numbers:FALSE", "tcp.relative_sequence_numbers:FALSE",
)

#: Extra preferences for ``verify_checksums`` (ICMP and ICMPv6 checksums are always verified).
CHECKSUM_PREFERENCES: tuple[str, ...] = ("ip.check_checksum:TRUE", "tcp.check_checksum:TRUE")

_ROOT_WARNING = 'Running as user "root"'
NOT_FOUND = "tshark not found: install Wireshark's tshark (apt install tshark)"


def find_tshark(path: str = "tshark") -> str:
    """Path of the tshark binary (pyshark's search: its config.ini, then PATH), or a CaptureError
    naming ``path`` (the capture that could not be read without it)."""
    from pyshark.tshark import tshark as pyshark_tshark

    try:
        return pyshark_tshark.get_process_path()
    except pyshark_tshark.TSharkNotFoundException:
        raise CaptureError(path, NOT_FOUND) from None


def tshark_command(tshark: str, path: str, verify_checksums: bool = False) -> list[str]:
    """The tshark command line that prints one line of :data:`FIELDS` per frame of ``path``."""
    command = [tshark, "-r", path, "-n", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
               "-E", "aggregator=,"]
    for pref in TSHARK_PREFERENCES + (CHECKSUM_PREFERENCES if verify_checksums else ()):
        command += ["-o", pref]
    for name in FIELDS:
        command += ["-e", name]
    return command


def sniff_file_format(path: str) -> str:
    """The format's name (+ "+gzip") from its first bytes, as the default engine names it ("pcap",
    "pcapng", "netmon2", "snoop", …); "other" for the further formats tshark reads (ERF, ...)."""
    with open(path, "rb") as f:
        head = f.read(32)
    suffix = ""
    if head[:2] == GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(32)
        except (OSError, EOFError):  # damaged gzip: tshark will say what it makes of it
            head = b""
        suffix = "+gzip"
    return format_name(head) + suffix


def _count(stats: IngestStats, kind: str, what: dict | str, builder: PacketTableBuilder) -> None:
    """Add one classified frame to the table or to the counters of ``stats``."""
    if kind == "tcp" and what.__class__ is list:  # an A-MSDU: one row per TCP segment
        for row in what:
            builder.append(row)
        stats.tcp_packets += len(what)
    elif kind == "tcp":
        builder.append(what)
        stats.tcp_packets += 1
    elif kind == "icmp":
        builder.append(what)
        stats.icmp_errors += 1
    elif kind == "other":
        stats.other_protocols[what] += 1
    elif kind == "fragment":
        stats.non_first_fragments += 1
    else:
        stats.problems[what] += 1


class TsharkRun:
    """tshark as a stream of stdout lines; ``returncode`` is set once the lines are exhausted.

    The process is killed if the reader stops early (an exception, a closed generator), so an
    abandoned run never leaves tshark behind.
    """

    def __init__(self, command: list[str], stderr):
        self.command, self.stderr, self.returncode = command, stderr, None

    def __iter__(self) -> Iterator[str]:
        process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=self.stderr,
                                   stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace",
                                   bufsize=1 << 16)
        try:
            yield from process.stdout
            process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            self.returncode = process.returncode


def _stderr_lines(stderr) -> list[str]:
    """tshark's diagnostics, without its routine warning about running as root."""
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace")
    return [line.removeprefix("tshark: ").strip() for line in text.splitlines()
            if line.strip() and not line.startswith(_ROOT_WARNING)]


def _check_path(path: str) -> None:
    """The same one-line errors as the default engine for paths that are not readable files."""
    if os.path.isdir(path):
        raise CaptureError(path, "is a directory")
    if not os.path.exists(path):
        raise CaptureError(path, "no such file")
    if not os.access(path, os.R_OK):
        raise CaptureError(path, "permission denied")
    if os.path.getsize(path) == 0:
        raise CaptureError(path, "empty file")


def read_capture_tshark(path, *, file_id: int = 0, book: AddressBook | None = None,
                        verify_checksums: bool = False) -> tuple[PacketTable, IngestStats]:
    """Read ``path`` with tshark into a PacketTable (same columns as the default engine) and its stats.

    ``verify_checksums`` has tshark check IPv4 header and TCP checksums and fills the ``checksum``
    column; bad packets stay in the table, as with the default engine. Raises CaptureError when
    tshark is missing or reads nothing; tshark's complaints about a damaged but partly readable file
    become ``stats.warnings``.
    """
    path = os.fspath(path)
    _check_path(path)
    tshark = find_tshark(path)
    stats = IngestStats(paths=[path], file_format=sniff_file_format(path))
    builder = PacketTableBuilder(book)
    with tempfile.TemporaryFile() as stderr:
        run = TsharkRun(tshark_command(tshark, path, verify_checksums), stderr)
        for line in run:
            _read_line(line, stats, builder, file_id, verify_checksums)
        complaints = _stderr_lines(stderr)
    if run.returncode != 0 and stats.frames_total == 0:
        raise CaptureError(path, complaints[0] if complaints else f"tshark exited with status {run.returncode}")
    stats.warnings.extend(f"tshark: {line}" for line in complaints)
    return builder.build(), stats


def read_capture_files_tshark(paths, *, book: AddressBook | None = None,
                              verify_checksums: bool = False) -> tuple[PacketTable, IngestStats]:
    """Several captures through tshark into one table in capture order (each file in file order, files
    merged as mergecap would), as :func:`netreset.ingest.files.read_capture_files` does with the default engine."""
    from netreset.ingest.files import capture_order

    book = book if book is not None else AddressBook()
    tables, merged, formats = [], IngestStats(), []
    for file_id, path in enumerate(paths):
        table, stats = read_capture_tshark(path, file_id=file_id, book=book, verify_checksums=verify_checksums)
        tables.append(table)
        merged.merge(stats)
        formats += [stats.file_format] if stats.file_format not in formats else []
    merged.file_format = ",".join(formats)
    table = PacketTable.concat(tables, book)
    return table.take(capture_order(table)), merged


def _read_line(line: str, stats: IngestStats, builder: PacketTableBuilder, file_id: int, verify: bool) -> None:
    """Parse one field line; a line that does not parse is counted, never raised."""
    values = line.rstrip("\n").split("\t")
    stats.frames_total += 1
    if len(values) != len(FIELDS):
        stats.problems["tshark-unparsed-line"] += 1
        return
    try:
        kind, what = classify_frame(values, builder.book, verify)
        if not isinstance(what, str):
            frame = dict(file_id=file_id, frame=int(values[0]), ts_ns=epoch_ns(values[1]), iface=parse_int(values[2], 0))
            for row in (what if isinstance(what, list) else [what]):
                row.update(frame)
    except ValueError:
        kind, what = "problem", "tshark-unparsed-field"
    _count(stats, kind, what, builder)
