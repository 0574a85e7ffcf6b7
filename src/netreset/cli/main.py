"""The command line: a thin click shell over :class:`netreset.pipeline.whole.Analysis`.

Data goes to stdout, diagnostics to stderr. Exit codes: 0 success; 1 an input or runtime error
(one line ``Error: <file>: <what>``); 2 a usage error; 3 a ``--fail-on`` condition was met.
The group and the single-capture commands live here; the figure commands (:mod:`netreset.cli.figures`),
``compare`` (:mod:`netreset.cli.vantage`) and ``annotate`` (:mod:`netreset.cli.annotate`) are added to the
group from their own modules, and the options they all share are :mod:`netreset.cli.options`'. Output is :mod:`netreset.report.formats`' job.
"""

from __future__ import annotations

import contextlib
import os
import sys

import click

from netreset import __version__
from netreset.cli.annotate import ANNOTATE_COMMANDS
from netreset.cli.figures import FIGURE_COMMANDS
from netreset.cli.fleet import FLEET_COMMANDS
from netreset.cli.options import CONTEXT_SETTINGS, analysis_options, echo, peer_capture_option
from netreset.cli.vantage import VANTAGE_COMMANDS
from netreset.cli.watch import WATCH_COMMANDS
from netreset.errors import NetresetError, UsageError
from netreset.pipeline.peer import peer_handshake_rows, peer_reset_rows
from netreset.pipeline.whole import Analysis
from netreset.records.conversations import conversation_record
from netreset.report import formats


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


@click.group(cls=NetresetGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="netreset")
def main():
    """Who reset this connection, and why did it never connect?

    Reads pcap/pcapng captures, rebuilds every TCP conversation and tells which device really sent
    each reset.
    """


@main.command()
@analysis_options(formats=formats.offered("summary"), streamable=True)
def summary(analysis: Analysis, fmt: str):
    """What happened: counts by outcome, state and cause, findings, decode problems."""
    formats.write("summary", fmt, analysis, echo)


@main.command()
@analysis_options(formats=formats.offered("conversations"))
def conversations(analysis: Analysis, fmt: str):
    """One row per TCP conversation: state, history, completeness, outcome."""
    rows = [conversation_record(c, analysis.table, analysis.application.get(c.id), analysis.causes.get(c.id)) for c in analysis.conversations]
    formats.write("conversations", fmt, rows, echo, analysis)


_PEER_CAPTURE = peer_capture_option()


@main.command("locate-reset")
@analysis_options(formats=formats.offered("locate-reset"), streamable=True)
@_PEER_CAPTURE
def locate_reset(analysis: Analysis, fmt: str, peer_capture: str | None = None):
    """Every RST: claimed sender, real sender (peer or middlebox N hops away), evidence."""
    rows = peer_reset_rows(analysis, peer_capture) if peer_capture else analysis.reset_rows()
    formats.write("locate-reset", fmt, rows, echo, analysis)


@main.command()
@analysis_options(formats=formats.offered("handshakes"), streamable=True)
@_PEER_CAPTURE
def handshakes(analysis: Analysis, fmt: str, peer_capture: str | None = None):
    """Incomplete 3-way and 4-way handshakes, SYN retransmissions and their timing, refusals."""
    rows = peer_handshake_rows(analysis, peer_capture) if peer_capture else analysis.handshake_rows()
    formats.write("handshakes", fmt, rows, echo, analysis)


@main.command()
@analysis_options(formats=formats.offered("hosts"))
def hosts(analysis: Analysis, fmt: str):
    """Per host: TTLs seen, initial TTL, routers between, OS family, SYN fingerprint."""
    formats.write("hosts", fmt, analysis.host_rows(), echo, analysis)


for _command in FIGURE_COMMANDS + VANTAGE_COMMANDS + FLEET_COMMANDS + ANNOTATE_COMMANDS + WATCH_COMMANDS:  # timeline, hops, report; compare; export, fleet; annotate; watch
    main.add_command(_command)
