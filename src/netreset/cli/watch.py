"""``netreset watch``: catch the intermittent reset while it happens (issue 16).

Reads a live stream — a capture program started here (``-i``), stdin, a FIFO or a file still growing
(``-r``) — and prints each finding as soon as :mod:`netreset.pipeline.watch` can judge it. The capture
program is always stopped, also on Ctrl-C, on SIGTERM and on errors (:class:`~netreset.ingest.live.CaptureChild`).
Exit status: 0 at the end of the stream, after ``--duration`` or Ctrl-C; 3 when ``--until`` was met;
1 when the stream cannot be read at all or the capture program failed.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import click

from netreset.cli.options import CONTEXT_SETTINGS, EXIT_FAIL_ON
from netreset.errors import CaptureError, NetresetError, UsageError
from netreset.pipeline.whole import Options

#: ``--until`` words and the findings they stop at (a number N stops after N findings of any kind).
UNTIL = ("reset", "middlebox", "refused", "syn-timeout")


class UntilType(click.ParamType):
    name = "until"

    def get_metavar(self, param, *args, **kwargs) -> str:
        return "reset|middlebox|refused|syn-timeout|N"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value in UNTIL:
            return value
        if str(value).isdigit() and int(value) > 0:
            return int(value)
        self.fail(f"{value!r}: choose reset, middlebox, refused, syn-timeout or a number of findings", param, ctx)


def until_met(until, finding, given: int) -> bool:
    """Whether ``finding`` (the ``given``-th so far) ends a watch with ``--until until``."""
    record = finding.record
    if isinstance(until, int):
        return given >= until
    if until == "reset":
        return record["kind"] == "reset"
    if until == "middlebox":
        return record.get("verdict") == "middlebox"
    if until == "refused":
        return record["kind"] == "refused"
    return record["kind"] == "syn_unanswered"


def parse_seconds(text: str | None) -> float | None:
    """``--duration``/``--context`` values: seconds, or with a unit (``90s``, ``10min``, ``2h``)."""
    if text is None:
        return None
    from netreset.ingest.ring import parse_keep

    raw = text.strip()
    try:
        return float(raw)
    except ValueError:
        pass
    size, ns = parse_keep(raw)
    if ns is None:
        raise UsageError(f"{text!r}: give seconds, or a time such as 90s, 10min, 2h")
    return ns / 1e9


def _interrupt(signum, _frame):
    """SIGTERM ends the watch as Ctrl-C does: summary, capture program stopped."""
    raise KeyboardInterrupt


@click.command("watch", context_settings=CONTEXT_SETTINGS)
@click.option("-i", "--interface", metavar="IFACE",
              help="Capture on IFACE with dumpcap (tcpdump where dumpcap is absent); `dumpcap -D` lists the names "
                   "(on Windows: \\Device\\NPF_{GUID} or the number dumpcap -D prints).")
@click.option("-r", "--read", "source", metavar="FILE|-",
              help="Read a pcap/pcapng stream still being written: - for stdin (`ssh fw tcpdump -U -w - … | netreset "
                   "watch -r -`), a FIFO, or a file that is followed as it grows.")
@click.option("--filter", "bpf", metavar="BPF", help="Capture filter for -i (BPF, as dumpcap/tcpdump take it).")
@click.option("--until", type=UntilType(), help=f"Stop at the first such finding (or after N findings), exit {EXIT_FAIL_ON}.")
@click.option("--duration", metavar="TIME", help="Stop after this long (seconds, or 90s, 10min, 2h).")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True,
              help="json: one JSON object per line (locate-reset/handshakes records plus kind; last a summary).")
@click.option("--keep", default="200MB", show_default=True, metavar="SIZE|TIME",
              help="Ring of the last packets kept for --save: a size (200MB) or a time (10min); never grows past it.")
@click.option("--save", "save_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Write each finding's conversation plus the seconds around it as pcapng to DIR.")
@click.option("--context", default="5", show_default=True, metavar="TIME",
              help="Seconds before a finding's conversation that --save writes with it.")
@click.option("--settle", default=0.5, show_default=True, type=click.FloatRange(0, 10), metavar="SECONDS",
              help="A RST is judged this long after it arrived, with the packets that followed it meanwhile.")
@click.option("--no-follow", is_flag=True, help="-r FILE: read the file to its current end and stop (a finished capture).")
@click.option("--tool", type=click.Choice(("dumpcap", "tcpdump")), help="Capture program for -i (default: dumpcap if installed).")
@click.option("--verify-checksums", is_flag=True, help="Drop packets with bad checksums, as Zeek does (history c).")
@click.option("--ttl-table", type=click.Path(exists=True, dir_okay=False), help="TOML file overriding the TTL table.")
def watch(interface, source, bpf, until, duration, fmt, keep, save_dir, context, settle, no_follow, tool,
          verify_checksums, ttl_table):
    """Watch live: one line per reset, refusal or SYN timeout as soon as it can be judged."""
    from pathlib import Path

    from netreset.ingest.live import CaptureChild, LiveFrames, capture_argv, open_stream
    from netreset.ingest.ring import FrameRing, parse_keep
    from netreset.pipeline.watch import LiveAnalysis, WatchSummary, save_finding, watch as watching
    from netreset.report.formats import watch_line
    from netreset.report.watch import saved_line, summary_record, summary_text

    if bool(interface) == bool(source):
        raise UsageError("give either -i IFACE (capture here) or -r FILE|- (read a stream)")
    if bpf and not interface:
        raise UsageError("--filter is a capture filter for -i; for -r, filter where the stream is captured "
                         "(tcpdump -U -w - 'host … and port …')")
    duration_s, context_s = parse_seconds(duration), parse_seconds(context)
    max_bytes, max_ns = parse_keep(keep)
    ring = FrameRing(max_bytes, max_ns)
    options = Options(verify_checksums=verify_checksums, ttl_table=Path(ttl_table) if ttl_table else None)
    stop = threading.Event()
    summary = WatchSummary()
    child = analysis = None
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() else None
    started = time.monotonic()
    met = False
    try:
        if interface:
            child = CaptureChild(capture_argv(interface, bpf, tool))
            stream, name = child.stdout, interface
        else:
            stream, name = open_stream(source, follow=not no_follow, stop=stop)
            if not no_follow and os.path.isfile(source) and duration_s is None and until is None:
                click.echo(f"Following {source} as it grows: Ctrl-C or --duration ends the watch "
                           "(--no-follow reads a finished capture to its end).", err=True)
        frames = LiveFrames(stream, name)
        analysis = LiveAnalysis(options, settle_ns=int(settle * 1e9), name=name)
        try:
            for finding in watching(frames, analysis, ring, duration_s=duration_s):
                summary.count(finding)
                click.echo(watch_line(fmt, finding.record), nl=False)
                if save_dir:
                    path = save_finding(save_dir, finding, ring, frames.interfaces, int(context_s * 1e9))
                    if path:
                        summary.saved.append(path)
                        if fmt == "text":
                            click.echo(saved_line(path), nl=False)
                sys.stdout.flush()
                if until is not None and until_met(until, finding, summary.findings):
                    met = True
                    summary.ended = "until"
                    break
            else:
                summary.ended = "end of stream" if frames.ended else "duration"
        except KeyboardInterrupt:
            summary.ended = "interrupted"
            for finding in analysis.judge(final=True):  # what was pending: judged with what was seen
                summary.count(finding)
                click.echo(watch_line(fmt, finding.record), nl=False)
        frames.stop()
        stop.set()
        if frames.error is not None and not summary.packets and not analysis.stats.frames_total:
            problem = child.problem() if child is not None else None
            raise CaptureError(name, problem) if problem else frames.error
        if child is not None:
            problem = child.problem()
            if problem and summary.ended != "interrupted":
                click.echo(f"Warning: {problem}", err=True)
        summary.packets = analysis.stats.frames_total
        summary.warnings = frames.warnings + analysis.stats.warnings
    except KeyboardInterrupt:
        summary.ended = "interrupted"
    finally:
        stop.set()
        if child is not None:
            child.stop()
        if analysis is not None:
            summary.packets = analysis.stats.frames_total
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    for warning in summary.warnings:
        click.echo(f"Warning: {warning}", err=True)
    summary.seconds = time.monotonic() - started
    if fmt == "json":
        click.echo(watch_line("json", summary_record(summary)), nl=False)
    else:
        click.echo(summary_text(summary), nl=False)
    if met:
        sys.exit(EXIT_FAIL_ON)


WATCH_COMMANDS = (watch,)
