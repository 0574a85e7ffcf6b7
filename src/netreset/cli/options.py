"""The click options the commands share, the analysis they describe, and where their output goes.

Every analysing command takes the same captures, ``--filter``, ``--stream``, ``--format``, ``--engine``
… (:func:`analysis_options`), and those that can use a second capture the same ``--peer-capture``
(:func:`peer_capture_option`). They live here, below the command modules (:mod:`netreset.cli.main`,
:mod:`netreset.cli.figures`, :mod:`netreset.cli.vantage`), so each of those imports them one way.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from netreset.cli.progress import reading_progress
from netreset.ingest.paths import expand_captures
from netreset.errors import NetresetError, UsageError
from netreset.pipeline.whole import Analysis, Options
from netreset.report.formats import FORMATS
from netreset.report.summary import findings


#: Every command answers ``-h`` as well as ``--help``. Set on each command, not only on the group: click
#: keeps a command's help option once made, so a command first invoked on its own (as tests do) would
#: otherwise drop ``-h`` for the rest of the process.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

EXIT_FAIL_ON = 3  #: the exit status when a ``--fail-on`` condition was met
FAIL_ON = ("reset", "middlebox", "refused", "syn_unanswered", "any")


class EngineChoice(click.Choice):
    """``--engine`` values. ``dpkt``, the built-in decoder's old name (it never used the dpkt library), is
    still accepted and means ``builtin``, but is not listed: scripts keep working, newcomers see one name."""

    ALIASES = {"dpkt": "builtin"}

    def convert(self, value, param, ctx):
        return super().convert(self.ALIASES.get(value, value), param, ctx)


def format_option(formats: tuple[str, ...]):
    """``--format`` with these choices (:func:`netreset.report.formats.offered`), the first the default;
    no option at all when there is one format only (nothing to choose)."""
    if len(formats) == 1:
        return lambda command: command
    return click.option("--format", "fmt", type=click.Choice(formats), default=formats[0], show_default=True)


def analysis_options(formats: tuple[str, ...] = FORMATS, streamable: bool = False, captures_optional: bool = False,
                     one_capture: str | None = None):
    """The options every analysing command shares, and the Analysis they describe. ``streamable``: the
    command reads only counts, resets and handshakes, so one big capture is analysed chunk by chunk
    with bounded memory (:mod:`netreset.pipeline.streamed`; same answers). ``captures_optional``: the
    command may run without captures (``report --fleet DIR``); it is then called with analysis None.
    ``one_capture``: the command takes exactly one capture file, and this says why and what to do instead
    (a usage error, before reading)."""

    def decorate(command):
        @click.argument("captures", nargs=-1, required=not captures_optional, type=click.Path())
        @click.option("--filter", "filter_text", metavar="EXPR", help="tcpdump-style filter, e.g. 'host 8.8.8.8 and port 888'.")
        @click.option("--stream", type=int, metavar="N", help="Only conversation N (as listed by `conversations`).")
        @click.option("--name", "name_glob", metavar="GLOB",
                      help="Only conversations with a name matching GLOB (TLS SNI, HTTP Host or CONNECT target, DNS "
                           "answers in the capture), e.g. '*.servicebus.windows.net'; case-insensitive.")
        @format_option(formats)
        @click.option("--engine", type=EngineChoice(["builtin", "tshark"]), default="builtin", show_default=True,
                      help="Packet decoder: built-in, or Wireshark's dissectors via tshark (slower, more encapsulations).")
        @click.option("--verify-checksums", is_flag=True, help="Drop packets with bad checksums, as Zeek does (history c).")
        @click.option("--ttl-table", type=click.Path(exists=True, dir_okay=False), help="TOML file overriding the TTL table.")
        @click.option("--service-roots", type=click.Path(exists=True, dir_okay=False),
                      help="TOML file of services' certificate issuers, consulted before the shipped list (tls_interception).")
        @click.option("--idle-timeouts", type=click.Path(exists=True, dir_okay=False),
                      help="TOML file adding to or overriding the known middlebox idle timeouts (data/idle_timeouts.toml).")
        @click.option("--fail-on", type=click.Choice(FAIL_ON), help=f"Exit with {EXIT_FAIL_ON} when such a finding exists.")
        @click.option("--workers", type=click.IntRange(1), default=None, show_default="the cores, up to 4, for big inputs",
                      help="Processes for work that splits: several capture files decoded at once (merged by time), "
                           "a big capture's findings judged at once. Same answer with any N.")
        @click.option("-q", "--quiet", is_flag=True, help="No progress bar on stderr.")
        @functools.wraps(command)
        def wrapper(captures, filter_text, stream, name_glob, engine, verify_checksums, ttl_table, service_roots,
                    idle_timeouts, fail_on, workers, quiet, fmt=formats[0], **rest):
            if not captures:
                command(None, fmt, **rest)
                return
            options = Options(filter_text=filter_text, stream=stream, name_glob=name_glob, verify_checksums=verify_checksums,
                              engine=engine, ttl_table=Path(ttl_table) if ttl_table else None, workers=workers,
                              service_roots=Path(service_roots) if service_roots else None,
                              idle_timeouts=Path(idle_timeouts) if idle_timeouts else None)
            paths = expand_captures(captures)
            if one_capture and len(paths) != 1:
                raise UsageError(f"{len(paths)} captures given: {one_capture}")
            with reading_progress(paths, quiet) as progress:
                if streamable:
                    from netreset.pipeline.run import analyse

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
    """Whether the analysis holds a finding of the ``--fail-on`` kind."""
    outcomes = set(analysis.outcome_counts())
    if fail_on == "reset":
        return bool(analysis.reset_rows())
    if fail_on == "middlebox":
        return any(r["verdict"] == "middlebox" for r in analysis.reset_rows())
    if fail_on == "any":
        return bool(findings(analysis))
    return fail_on in outcomes


def peer_capture_option(help_text: str = "A capture of the same traffic from another point (the server's side, "
                        "the firewall): proves where packets were injected or dropped."):
    """``--peer-capture FILE``: the second vantage point (issue 5), shared by every command that uses one."""
    return click.option("--peer-capture", type=click.Path(exists=True, dir_okay=False), metavar="FILE", help=help_text)


def echo(text: str) -> None:
    """Write a piece of a command's output to stdout as it is produced (big outputs come in pieces)."""
    click.echo(text, nl=False)
