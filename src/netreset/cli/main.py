"""The command line: a thin click shell over :class:`netreset.pipeline.whole.Analysis`.

Data goes to stdout, diagnostics to stderr. Exit codes: 0 success; 1 an input or runtime error
(one line ``Error: <file>: <what>``); 2 a usage error; 3 a ``--fail-on`` condition was met.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from pathlib import Path

import click

from netreset import __version__
from netreset.pipeline.whole import Analysis, Options
from netreset.errors import NetresetError, UsageError
from netreset.cli.progress import reading_progress
from netreset.records import conversations as records
from netreset.records.json import write_json
from netreset.records.schema import SCHEMA_VERSION
from netreset.report import text
from netreset.report.summary import findings, summary_document
from netreset.report.tables import render_csv, render_table, write_csv

EXIT_FAIL_ON = 3
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")
FAIL_ON = ("reset", "middlebox", "refused", "syn_unanswered", "any")


class NetresetGroup(click.Group):
    """Turns library errors into one-line messages: the single boundary where errors meet the user."""

    def invoke(self, ctx: click.Context):
        try:
            with _scipy_hidden():
                return super().invoke(ctx)
        except NetresetError as err:
            click.echo(f"Error: {err}", err=True)
            ctx.exit(2 if isinstance(err, UsageError) else 1)
        except BrokenPipeError:
            # `netreset ... | head`: the reader went away; leave quietly.
            sys.stderr.close()
            ctx.exit(0)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as err:  # the promise: never a traceback
            if os.environ.get("NETRESET_DEBUG"):
                raise
            click.echo(f"Error: internal error: {type(err).__name__}: {err} (set NETRESET_DEBUG=1 for details)", err=True)
            ctx.exit(1)


@contextlib.contextmanager
def _scipy_hidden():
    """SciPy made unimportable while a command runs, when nothing imported it before. numba imports
    ``scipy.linalg`` (≈ 0.25 s, a quarter of its start-up) just to look for a BLAS when it loads its
    first compiled function; netreset's kernels call no BLAS and the CLI uses nothing of SciPy's."""
    if "scipy" in sys.modules:
        yield
        return
    sys.modules["scipy"] = None  # an import of it (or of any submodule) raises ImportError at once
    try:
        yield
    finally:
        if "scipy" in sys.modules and sys.modules["scipy"] is None:
            del sys.modules["scipy"]


def expand_captures(paths: tuple[str, ...]) -> list[Path]:
    """Capture paths as given; a directory stands for the capture files directly inside it."""
    result: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(CAPTURE_SUFFIXES))
            if not found:
                raise NetresetError(f"{raw}: directory holds no capture files ({', '.join(CAPTURE_SUFFIXES[:3])})")
            result.extend(found)
        else:
            result.append(path)
    return result


def analysis_options(formats: tuple[str, ...] = ("text", "json", "csv"), streamable: bool = False):
    """The options every analysing command shares, and the Analysis they describe. ``streamable``: the
    command reads only counts, resets and handshakes, so one big capture is analysed chunk by chunk
    with bounded memory (:mod:`netreset.pipeline.streamed`; same answers)."""

    def decorate(command):
        format_option = (
            click.option("--format", "fmt", type=click.Choice(formats), default=formats[0], show_default=True)
            if len(formats) > 1
            else (lambda f: f)  # one format only: no option to offer
        )

        @click.argument("captures", nargs=-1, required=True, type=click.Path())
        @click.option("--filter", "filter_text", metavar="EXPR", help="tcpdump-style filter, e.g. 'host 8.8.8.8 and port 888'.")
        @click.option("--stream", type=int, metavar="N", help="Only conversation N (as listed by `conversations`).")
        @format_option
        @click.option("--engine", type=click.Choice(["dpkt", "tshark"]), default="dpkt", show_default=True,
                      help="Packet decoder: built-in, or Wireshark's dissectors via tshark (slower, more encapsulations).")
        @click.option("--verify-checksums", is_flag=True, help="Drop packets with bad checksums, as Zeek does (history c).")
        @click.option("--ttl-table", type=click.Path(exists=True, dir_okay=False), help="TOML file overriding the TTL table.")
        @click.option("--fail-on", type=click.Choice(FAIL_ON), help=f"Exit with {EXIT_FAIL_ON} when such a finding exists.")
        @click.option("--workers", type=click.IntRange(1), default=None, show_default="the cores, up to 4, for big inputs",
                      help="Processes for work that splits: several capture files decoded at once (merged by time), "
                           "a big capture's findings judged at once. Same answer with any N.")
        @click.option("-q", "--quiet", is_flag=True, help="No progress bar on stderr.")
        @functools.wraps(command)
        def wrapper(captures, filter_text, stream, engine, verify_checksums, ttl_table, fail_on, workers, quiet,
                    fmt=formats[0], **rest):
            options = Options(filter_text=filter_text, stream=stream, verify_checksums=verify_checksums,
                              engine=engine, ttl_table=Path(ttl_table) if ttl_table else None, workers=workers)
            paths = expand_captures(captures)
            with reading_progress(paths, quiet) as progress:
                if streamable:
                    from netreset.pipeline.streamed import analyse

                    analysis = analyse(paths, options, progress, peer_capture=rest.get("peer_capture"))
                else:
                    analysis = Analysis.of_files(paths, options, progress)
            for warning in analysis.stats.warnings:
                click.echo(f"Warning: {warning}", err=True)
            command(analysis, fmt, **rest)
            if fail_on and _fail_condition(analysis, fail_on):
                sys.exit(EXIT_FAIL_ON)

        return wrapper

    return decorate


def _fail_condition(analysis: Analysis, fail_on: str) -> bool:
    outcomes = set(analysis.outcome_counts())
    if fail_on == "reset":
        return bool(analysis.reset_rows())
    if fail_on == "middlebox":
        return any(r["verdict"] == "middlebox" for r in analysis.reset_rows())
    if fail_on == "any":
        return bool(findings(analysis))
    return fail_on in outcomes


def run() -> None:
    """The ``netreset`` console script: :func:`main`, then an exit without the interpreter's teardown.

    Python's finalisation frees every object and module one by one before the process ends; after a
    streamed analysis of a 1M-packet capture that took 0.3–0.6 s (≈ 10 % of the run) for memory the
    kernel reclaims at once. So once the command has finished, the exit handlers run (they remove the
    temporary spill directories), the output is flushed and the process ends with the command's status.
    Only the console script does this: :func:`main` called in-process (tests, other tools) is unchanged."""
    import atexit

    try:
        main()  # standalone mode: always ends with SystemExit carrying the status
        status = 0
    except SystemExit as done:
        status = done.code
    if status is None:
        status = 0
    elif not isinstance(status, int):  # as sys.exit("message") does
        print(status, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # the reader went away, or the stream was closed on purpose
            pass
    os._exit(status)


@click.group(cls=NetresetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netreset")
def main():
    """Who reset this connection, and why did it never connect?

    Reads pcap/pcapng captures, rebuilds every TCP conversation and tells which device really sent
    each reset.
    """


@main.command()
@analysis_options(streamable=True)
def summary(analysis: Analysis, fmt: str):
    """What happened: counts by outcome and state, findings, decode problems."""
    document = summary_document(analysis)
    if fmt == "json":
        write_json(document, _echo)
    elif fmt == "csv":
        rows = [{"kind": "outcome", "name": k, "count": v} for k, v in document["by_outcome"].items()]
        rows += [{"kind": "conn_state", "name": k, "count": v} for k, v in document["by_conn_state"].items()]
        rows += [{"kind": "decode_problem", "name": k, "count": v} for k, v in document["decode_problems"].items()]
        click.echo(render_csv(rows, ["kind", "name", "count"]), nl=False)
    else:
        click.echo(text.summary_text(document), nl=False)


def emit(fmt: str, key: str, rows: list[dict], text, csv_columns=None) -> None:
    """Write ``rows`` in the chosen format: JSON ``{"schema_version", key: rows}``, CSV, or ``text(rows)``
    (a string, or an iterator of strings written as they come). ``rows`` may be a list or the merged
    records of a streamed analysis; either way the output is written in pieces."""
    if fmt == "json":
        write_json({"schema_version": SCHEMA_VERSION, key: rows}, _echo)
    elif fmt == "csv":
        columns = csv_columns or list(dict.fromkeys(k for r in rows for k in r)) or ["id"]
        write_csv(rows, columns, _echo)
    else:
        written = text(rows)
        for part in [written] if isinstance(written, str) else written:
            _echo(part)


def _echo(text: str) -> None:
    """Write a piece of output as it is produced (big outputs are written in pieces)."""
    click.echo(text, nl=False)


@main.command()
@analysis_options()
def conversations(analysis: Analysis, fmt: str):
    """One row per TCP conversation: state, history, completeness, outcome."""
    rows = [records.conversation_record(c, analysis.table) for c in analysis.conversations]
    emit(fmt, "conversations", rows, lambda rows: render_table(
        [records.conversation_text_row(r) for r in rows], records.CONVERSATION_COLUMNS))


def peer_capture_option(help_text: str = "A capture of the same traffic from another point (the server's side, "
                        "the firewall): proves where packets were injected or dropped."):
    """``--peer-capture FILE``: the second vantage point (issue 5), shared by every command that uses one."""
    return click.option("--peer-capture", type=click.Path(exists=True, dir_okay=False), metavar="FILE", help=help_text)


_PEER_CAPTURE = peer_capture_option()


@main.command("locate-reset")
@analysis_options(streamable=True)
@_PEER_CAPTURE
def locate_reset(analysis: Analysis, fmt: str, peer_capture: str | None = None):
    """Every RST: claimed sender, real sender (peer or middlebox N hops away), evidence."""
    if peer_capture:
        from netreset.cli.vantage import peer_reset_rows

        rows = peer_reset_rows(analysis, peer_capture)
    else:
        rows = analysis.reset_rows()
    emit(fmt, "resets", rows, lambda rows: text.resets_text_parts(rows, analysis), text.RESET_CSV_COLUMNS)


@main.command()
@analysis_options(streamable=True)
@_PEER_CAPTURE
def handshakes(analysis: Analysis, fmt: str, peer_capture: str | None = None):
    """Incomplete 3-way and 4-way handshakes, SYN retransmissions and their timing, refusals."""
    if peer_capture:
        from netreset.cli.vantage import peer_handshake_rows

        rows = peer_handshake_rows(analysis, peer_capture)
    else:
        rows = analysis.handshake_rows()
    emit(fmt, "handshakes", rows, text.handshakes_text_parts)


@main.command()
@analysis_options()
def hosts(analysis: Analysis, fmt: str):
    """Per host: TTLs seen, initial TTL, routers between, OS family, SYN fingerprint."""
    emit(fmt, "hosts", [h.to_dict() for h in analysis.hosts], text.hosts_text)


def _register_figure_commands() -> None:
    """timeline, hops and report live in netreset.cli.figures (they share this module's options)."""
    from netreset.cli.figures import FIGURE_COMMANDS

    for command in FIGURE_COMMANDS:
        main.add_command(command)


_register_figure_commands()


def _register_vantage_commands() -> None:
    """compare lives in netreset.cli.vantage (two vantage points)."""
    from netreset.cli.vantage import VANTAGE_COMMANDS

    for command in VANTAGE_COMMANDS:
        main.add_command(command)


_register_vantage_commands()
