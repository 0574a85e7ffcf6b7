"""The figure commands — ``timeline``, ``hops``, ``report`` — as click commands for the main group.

:mod:`netreset.cli.main` adds them to its group (``FIGURE_COMMANDS``); their shared options come from
:mod:`netreset.cli.options`. They are thin: choose what to draw from the
:class:`~netreset.pipeline.whole.Analysis`, create the figure (:mod:`netreset.plots.figures`), write it in
the format the output file's extension names; ``hops`` as text or JSON is :mod:`netreset.report.formats`'.
"""

from __future__ import annotations

from pathlib import Path

import click

from netreset.cli.options import CONTEXT_SETTINGS, analysis_options, echo, peer_capture_option
from netreset.errors import UsageError
from netreset.pipeline.whole import Analysis
from netreset.report import formats

REPORT_SUFFIXES = (".html", ".htm", ".md")


def _one_conversation(analysis: Analysis, what: str):
    """The single conversation --stream/--filter selected, or a usage error saying how to pick one."""
    chosen = analysis.conversations
    if len(chosen) == 1:
        return chosen[0]
    if analysis.options.stream is not None:
        raise UsageError(f"no conversation {analysis.options.stream} (list them with `netreset conversations`)")
    raise UsageError(f"{what} needs one conversation; {len(chosen)} match: add --stream N")


@click.command(context_settings=CONTEXT_SETTINGS)
@analysis_options(formats=("text",))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Image to write: .png, .svg or .pdf. "
              "Without it, the ladder of --stream N is printed as text.")
@click.option("--kind", type=click.Choice(["ladder", "tsg"]), default="ladder", show_default=True,
              help="With one conversation: ladder (flow graph) or tsg (Stevens time-sequence graph).")
@peer_capture_option("A capture from the other end: draw both ladders side by side, one-sided packets highlighted.")
def timeline(analysis: Analysis, fmt: str, output: str | None, kind: str, peer_capture: str | None):
    """Ladder of one conversation (--stream N or a --filter matching one), else an overview of all."""
    from netreset.plots.figures import IMAGE_SUFFIXES, image_format, save_figure  # matplotlib: load only when drawing
    from netreset.plots import figures

    if peer_capture:
        _paired_timeline(analysis, peer_capture, output)
        return

    single = analysis.options.stream is not None or kind == "tsg" or (
        analysis.options.filter_text and len(analysis.conversations) == 1)
    if output is None:
        if not single:
            raise UsageError(f"timeline of all conversations needs -o FILE ({', '.join(IMAGE_SUFFIXES)})")
        from netreset.plots.ladder import ladder_text, plan_ladder
        from netreset.report.html import ladder_facts

        conversation = _one_conversation(analysis, "a text timeline")
        plan = plan_ladder(analysis.table, conversation, **ladder_facts(analysis, conversation))
        click.echo(ladder_text(plan, analysis.resets, conversation.id), nl=False)
        return
    image_format(output)
    if not single:
        figure = figures.overview_figure(analysis.table, analysis.conversations, analysis.resets)
    elif kind == "tsg":
        figure = figures.tsg_figure(analysis.table, _one_conversation(analysis, "--kind tsg"))
    else:
        from netreset.report.html import ladder_facts

        conversation = _one_conversation(analysis, "a ladder")
        figure = figures.ladder_figure(analysis.table, conversation, analysis.resets, **ladder_facts(analysis, conversation))
    save_figure(figure, output)
    click.echo(f"wrote {output}", err=True)


def _paired_timeline(analysis: Analysis, peer_capture: str, output: str | None) -> None:
    """Both vantage points' ladders of one conversation side by side (the peer file's best-matching capture point)."""
    from netreset.plots.figures import IMAGE_SUFFIXES, image_format, save_figure  # matplotlib: load only when drawing
    from netreset.analyses.vantage.choose import most_matched, peer_comparisons
    from netreset.plots.ladder_pair import ladder_pair_figure, pick_joined

    if output is None:
        raise UsageError(f"timeline --peer-capture needs -o FILE ({', '.join(IMAGE_SUFFIXES)})")
    image_format(output)
    comparison = most_matched(peer_comparisons(analysis, peer_capture))
    save_figure(ladder_pair_figure(comparison, pick_joined(comparison, analysis.options.stream)), output)
    click.echo(f"wrote {output}", err=True)


@click.command(context_settings=CONTEXT_SETTINGS)
@analysis_options(formats=formats.offered("hops"))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Image to write (.png, .svg, .pdf), one panel per reset. Without it: text (or JSON) on stdout.")
@peer_capture_option("A capture from the other end: mark the path segment between the two capture points.")
def hops(analysis: Analysis, fmt: str, output: str | None, peer_capture: str | None):
    """Hop diagram of every reset: capture point → routers → the device that sent the RST → the peer."""
    from netreset.plots.figures import IMAGE_SUFFIXES, save_figure  # matplotlib: load only when drawing
    from netreset.report.html import hop_paths

    paths = hop_paths(analysis)
    segments = _fault_segments(analysis, peer_capture, paths) if peer_capture else {}
    if output is not None and Path(output).suffix.lower() in IMAGE_SUFFIXES:
        from netreset.plots.figures import hops_figure
        from netreset.plots.hop_segment import draw_segment_on_hops

        figure = hops_figure(paths)
        for ax, path in zip(figure.axes, paths):
            if path.conversation in segments:
                draw_segment_on_hops(ax, path, segments[path.conversation])
        save_figure(figure, output)
        click.echo(f"wrote {output}", err=True)
        return
    drawn = [(path, segments.get(path.conversation)) for path in paths]
    if output is None:
        formats.write("hops", fmt, drawn, echo, analysis)
    else:
        Path(output).write_text(formats.render("hops", fmt, drawn, analysis), encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


def _fault_segments(analysis: Analysis, peer_capture: str, paths) -> dict:
    """Conversation id → the path segment between the two capture points, for every drawn reset."""
    from netreset.analyses.vantage.choose import most_matched, peer_comparisons
    from netreset.plots.hop_segment import segment_of

    comparison = most_matched(peer_comparisons(analysis, peer_capture))
    segments = {}
    for path in paths:
        joined = comparison.joined_for(path.conversation)
        if joined is not None:
            segments[path.conversation] = segment_of(comparison, joined)
    return segments


@click.command(context_settings=CONTEXT_SETTINGS)
@analysis_options(formats=("text",), captures_optional=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="report.html (one self-contained page) or report.md (PNG figures in report_files/ beside it).")
@click.option("--fleet", "fleet_dir", type=click.Path(exists=True, file_okay=False), metavar="DIR",
              help="Instead of captures: the fleet page (.html) of a dataset written by `export`/`fleet`.")
def report(analysis: Analysis | None, fmt: str, output: str, fleet_dir: str | None = None):
    """One page for the network team: summary, findings, resets with hop diagrams, timelines, conversations.

    With --fleet DIR: resets over time by device, a node × service grid and the top devices with their hop diagrams."""
    from netreset.plots.figures import IMAGE_SUFFIXES, image_format, save_figure  # matplotlib: load only when drawing
    path = Path(output)
    if (analysis is None) == (fleet_dir is None):
        raise UsageError("report: give captures or --fleet DIR (not both)")
    if fleet_dir is not None:
        if path.suffix.lower() != ".html":
            raise UsageError(f"{output}: the fleet report is a .html page")
        from netreset.cli.fleet import require_extra
        from netreset.report.fleet import render_fleet_html

        require_extra("export")
        path.write_text(render_fleet_html(fleet_dir), encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
        return
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise UsageError(f"{output}: unknown report format; use {', '.join(REPORT_SUFFIXES)}")
    names = list(dict.fromkeys(Path(i).name for i in _capture_names(analysis)))
    if path.suffix.lower() == ".md":
        from netreset.report.markdown import render_markdown

        image_dir = path.with_name(path.stem + "_files")
        text, figures = render_markdown(analysis, names, image_dir.name)
        image_dir.mkdir(parents=True, exist_ok=True)
        for name, figure in figures.items():
            save_figure(figure, image_dir / name)
        path.write_text(text, encoding="utf-8")
    else:
        from netreset.report.html import render_html

        path.write_text(render_html(analysis, names), encoding="utf-8")
    click.echo(f"wrote {output}", err=True)


def _capture_names(analysis: Analysis) -> list[str]:
    """The capture files' names as the ingest recorded them (IngestStats.paths)."""
    return [p for p in analysis.stats.paths if p] or ["capture"]


FIGURE_COMMANDS = (timeline, hops, report)
