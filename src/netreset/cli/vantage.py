"""Two vantage points on the command line: ``compare A [B]``.

``compare`` is a click command that :mod:`netreset.cli.main` adds to its group (``VANTAGE_COMMANDS``).
Thin, like every command: which capture points are compared is :mod:`netreset.analyses.vantage.choose`'s
choice, the output :mod:`netreset.report.formats`'; what ``--peer-capture`` prints comes from
:mod:`netreset.pipeline.peer`. The vantage analysis is imported where it is used: every command's
start-up loads this module.
"""

from __future__ import annotations

from pathlib import Path

import click

from netreset.cli.options import CONTEXT_SETTINGS, echo, format_option
from netreset.errors import UsageError
from netreset.report import formats


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("capture_a", type=click.Path())
@click.argument("capture_b", type=click.Path(), required=False)
@format_option(formats.offered("compare"))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Also draw the two ladders side by side (.png, .svg, .pdf): --stream N, else the first "
                   "conversation with one-sided packets.")
@click.option("--stream", type=int, metavar="N", help="Conversation N of capture A for the figure.")
def compare(capture_a: str, capture_b: str | None, fmt: str, output: str | None, stream: int | None):
    """Join two captures of the same traffic (both ends, or both interfaces of a middlebox): clock offset,
    packets only one side saw (injected / dropped), NAT, rewritten fields."""
    from netreset.analyses.vantage.choose import choose_comparison

    for path in (capture_a, capture_b):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"{path}: no such capture file")
    comparison = choose_comparison(capture_a, capture_b)
    formats.write("compare", fmt, comparison, echo)
    if output is not None:
        from netreset.plots.figures import image_format, save_figure
        from netreset.plots.ladder_pair import ladder_pair_figure, pick_joined

        image_format(output)
        save_figure(ladder_pair_figure(comparison, pick_joined(comparison, stream)), output)
        click.echo(f"wrote {output}", err=True)


VANTAGE_COMMANDS = (compare,)
