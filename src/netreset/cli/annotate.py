"""``netreset annotate``: the capture again, as pcapng, with netreset's findings as packet comments.

Two passes over the file: the analysis (the whole-table one, because the causes of issue 14 — a proxy's
407, a TLS alert — live on conversations that may have ended cleanly, which the streamed path does not
keep), then the copy (:func:`~netreset.ingest.containers.copy.copy_as_pcapng`), which holds one block at a
time. The output is written beside its final name and renamed into place only when complete, so a
failure never leaves a half-written file that looks like a capture.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from netreset.cli.options import CONTEXT_SETTINGS, analysis_options, echo
from netreset.errors import CaptureError, NetresetError, UnsupportedFormat, UsageError
from netreset.ingest.containers.copy import copy_as_pcapng
from netreset.pipeline.whole import Analysis
from netreset.report import formats
from netreset.report.annotations import annotate_record, notes_of, plan

ONE_CAPTURE = ("annotate writes one capture; merge several first (`mergecap -w merged.pcapng A B`) "
               "and annotate the merged file")


@click.command(context_settings=CONTEXT_SETTINGS)
@analysis_options(formats=formats.offered("annotate"), one_capture=ONE_CAPTURE)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="OUT.pcapng",
              help="Where to write the annotated capture (pcapng, whatever the input's format).")
@click.option("--only-failing", is_flag=True,
              help="Write only the failing conversations' packets (every tcp.stream with a finding or a cause), "
                   "numbered anew; the comments name the new frame and stream numbers.")
def annotate(analysis: Analysis, fmt: str, output: str, only_failing: bool):
    """The capture as pcapng with a packet comment on every finding's key frames.

    Every packet, interface and timestamp is kept (pcapng blocks are copied byte for byte; pcap and
    NetMon become pcapng with the same link types and timestamp units). In Wireshark the comments show
    in the packet list and in Expert Information; `frame.comment contains "netreset"` selects them.
    """
    capture = str(analysis.stats.paths[0]) if analysis.stats.paths else ""
    if Path(output).resolve() == Path(capture).resolve():
        raise UsageError(f"{output}: the output would overwrite the capture being read; choose another name")
    notes = notes_of(analysis.finding_rows(), {cid: found for cid, (_idle, found) in analysis.causes.items()})
    conversations = analysis.all_conversations
    stream_of = {c.id: c.tcp_stream for c in conversations}
    stream_frames = None
    if only_failing:  # the frames of each failing stream (every conversation sharing it)
        failing = {stream_of[n.conversation] for n in notes if n.conversation in stream_of}
        stream_frames = {}
        for c in conversations:
            if c.tcp_stream in failing:
                stream_frames.setdefault(c.tcp_stream, []).extend(analysis.table.frame[c.rows].tolist())
    wanted = plan(notes, stream_of, stream_frames)
    result = _write(capture, output, wanted)
    for warning in result.warnings:
        if warning not in analysis.stats.warnings:
            click.echo(f"Warning: {warning}", err=True)
    formats.write("annotate", fmt, annotate_record(capture, output, result, only_failing), echo, analysis)


def _write(capture: str, output: str, wanted):
    """Copy into a temporary file beside ``output``, then rename it into place."""
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise NetresetError(f"{output}: no such directory {folder}")
    try:
        handle, temporary = tempfile.mkstemp(prefix=".netreset-annotate-", suffix=".pcapng", dir=folder)
    except OSError as exc:
        raise NetresetError(f"{output}: cannot write there: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb", buffering=1 << 20) as out:
            try:
                result = copy_as_pcapng(capture, out, wanted.comments, wanted.keep)
            except UnsupportedFormat as err:
                what = err.kind or "a format netreset does not read itself"
                raise CaptureError(capture, f"{what}: annotate copies pcap, pcapng and NetMon files only; convert it "
                                   f"first (`editcap -F pcapng {capture} converted.pcapng`) and annotate that") from None
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as open() would have made it (mkstemp makes it private)
        os.replace(temporary, output)
    except OSError as exc:
        raise NetresetError(f"{output}: cannot write: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return result


ANNOTATE_COMMANDS = (annotate,)
