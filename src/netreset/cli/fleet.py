"""``export`` and ``fleet``: many captures into one Parquet dataset, in this process or on Dask.

Both need the ``fleet`` extra (pyarrow; ``fleet`` also Dask distributed), imported only when a command
runs, so the core install stays light and a missing extra is one line saying what to install.
"""

from __future__ import annotations

import importlib.util

import click

from netreset.cli.options import CONTEXT_SETTINGS, EngineChoice, echo
from netreset.cli.progress import capture_progress
from netreset.errors import NetresetError
from netreset.pipeline.whole import Options
from netreset.report import formats

#: What each command needs of the ``fleet`` extra: import name → the package to install.
NEEDS = {"export": {"pyarrow": "pyarrow"}, "fleet": {"pyarrow": "pyarrow", "distributed": "dask[distributed]"}}


def require_extra(command: str) -> None:
    """One line naming what to install when the ``fleet`` extra is missing."""
    missing = [package for module, package in NEEDS[command].items() if importlib.util.find_spec(module) is None]
    if missing:
        raise NetresetError(f"netreset {command} needs the fleet extra: pip install 'netreset[fleet]' "
                            f"(missing: {', '.join(missing)})")


def _shared(command):
    """The options export and fleet share."""
    for decorate in reversed((
        click.argument("paths", nargs=-1, required=True, type=click.Path()),
        click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False),
                     help="Dataset directory (created): DIR/<table>/node=<node>/day=<day>/<capture sha256>.parquet."),
        click.option("--node", metavar="NAME", help="Node name for every capture (default: see --node-from)."),
        click.option("--node-from", metavar="REGEX", help="Node name from each capture's path: the first group of REGEX, "
                     "e.g. 'captures/([^/]+)/'. Else the capture host's address, else the pcapng section header."),
        click.option("--format", "fmt", type=click.Choice(formats.offered("fleet")), default="text", show_default=True),
        click.option("--engine", type=EngineChoice(["builtin", "tshark"]), default="builtin", show_default=True,
                     help="Packet decoder: built-in, or Wireshark's dissectors via tshark."),
        click.option("--verify-checksums", is_flag=True, help="Drop packets with bad checksums, as Zeek does."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar on stderr."),
    )):
        command = decorate(command)
    return command


def _finish(name: str, fmt: str, document: dict) -> None:
    formats.write(name, fmt, document, echo)
    if document["failed"]:
        raise SystemExit(1)


@click.command(context_settings=CONTEXT_SETTINGS)
@_shared
def export(paths, out, node, node_from, fmt, engine, verify_checksums, quiet):
    """Captures (files, directories, globs) to a Parquet dataset, one after the other in this process.

    Writes conversations, resets, findings, handshakes, hosts, app_events, causes and captures, each
    partitioned by node and day (docs/fleet.md). Exit 1 when a capture failed (the others are written)."""
    require_extra("export")
    from netreset.fleet.cluster import fleet_paths, run_local
    from netreset.store.identity import compile_node_pattern

    compile_node_pattern(node_from)  # a bad pattern is a usage error before any work
    files = fleet_paths(paths)
    with capture_progress(len(files), quiet) as done:
        document = run_local(files, out, Options(engine=engine, verify_checksums=verify_checksums, workers=1),
                             node=node, node_from=node_from, done=done)
    _finish("export", fmt, document)


@click.command(context_settings=CONTEXT_SETTINGS)
@_shared
@click.option("--workers", type=click.IntRange(1), default=None, show_default="the cores, up to 4",
              help="Worker processes of the local Dask cluster (ignored with --scheduler).")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="An existing Dask scheduler; its workers must read the "
              "captures and the output directory at the same paths.")
def fleet(paths, out, node, node_from, fmt, engine, verify_checksums, quiet, workers, scheduler):
    """Every capture a task on Dask distributed: Parquet written by the workers, the devices merged here.

    A device is the resetting box as its hop and initial TTL identify it across captures (docs/fleet.md).
    A capture that fails is listed with its error and the others go on; exit 1 when one failed."""
    require_extra("fleet")
    from netreset.fleet.cluster import fleet_paths, run_dask
    from netreset.store.identity import compile_node_pattern

    compile_node_pattern(node_from)
    files = fleet_paths(paths)
    with capture_progress(len(files), quiet) as done:
        document = run_dask(files, out, Options(engine=engine, verify_checksums=verify_checksums),
                            node=node, node_from=node_from, workers=workers, scheduler=scheduler, done=done)
    _finish("fleet", fmt, document)


FLEET_COMMANDS = (export, fleet)
