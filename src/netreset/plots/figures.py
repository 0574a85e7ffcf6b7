"""Whole figures, sized for what they show, and written in the format the file name asks for.

The ``draw_*`` functions only draw on an Axes; this module is the one place that creates
:class:`matplotlib.figure.Figure` objects (never pyplot: no global figure registry, nothing leaks between
figures of one report) and serialises them, for the CLI and for the HTML/Markdown reports.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Sequence

import matplotlib
from matplotlib.figure import Figure

from netreset.flows.model import Conversation
from netreset.errors import UsageError
from netreset.packets.table import PacketTable
from netreset.plots import style

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
DPI = 110  #: PNG resolution: readable when pasted into a ticket at 100 %
WIDTH_IN = 11.0
ROW_IN = 0.3  #: ladder: inches per packet row (room for one label line above each arrow)


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    figure.set_facecolor("white")
    return figure


def ladder_figure(table: PacketTable, conversation: Conversation, reset_verdicts=(), *, events=(),
                  idle_s: float | None = None, server_name: str | None = None) -> Figure:
    """The ladder of one conversation, as tall as its rows need (``events``, ``idle_s``, ``server_name``: its
    application events, idle gap before the reset and service name, see :func:`~netreset.plots.ladder.plan_ladder`)."""
    from netreset.plots.ladder import draw_ladder, plan_ladder

    plan = plan_ladder(table, conversation, events=events, idle_s=idle_s, server_name=server_name)
    figure = _figure(WIDTH_IN, 1.9 + ROW_IN * plan.height_rows)
    draw_ladder(figure.add_subplot(), table, conversation, reset_verdicts, plan=plan)
    return figure


def overview_figure(table: PacketTable, conversations: Sequence[Conversation], reset_verdicts=()) -> Figure:
    """One bar per conversation (or the top N, with a note), coloured by outcome."""
    from netreset.plots.overview import draw_overview, overview_rows

    rows = len(overview_rows(conversations))
    figure = _figure(WIDTH_IN, min(2.4 + 0.22 * rows, 14.0))
    draw_overview(figure.add_subplot(), table, conversations, reset_verdicts)
    return figure


def tsg_figure(table: PacketTable, conversation: Conversation) -> Figure:
    """The Stevens time-sequence graph of one conversation."""
    from netreset.plots.tsg import draw_tsg

    figure = _figure(WIDTH_IN, 6.0)
    draw_tsg(figure.add_subplot(), table, conversation)
    return figure


def hops_figure(paths: Sequence) -> Figure:
    """One hop-diagram panel per reset (``paths`` are :class:`netreset.plots.hops.HopPath`)."""
    from netreset.plots.hops import PANEL_HEIGHT_IN, draw_hops

    figure = _figure(WIDTH_IN, max(PANEL_HEIGHT_IN * len(paths), 1.5))
    axes = figure.subplots(len(paths), 1, squeeze=False)[:, 0] if paths else []
    for ax, path in zip(axes, paths):
        draw_hops(ax, path)
    if not paths:
        figure.text(0.5, 0.5, "No TCP resets in the selection.", ha="center", va="center", fontsize=style.TITLE_FONT)
    return figure


def image_format(path: str | Path) -> str:
    """``png``/``svg``/``pdf`` from the file name; anything else is a usage error."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UsageError(f"{path}: unknown image format {suffix or '(none)'!r}; use {', '.join(IMAGE_SUFFIXES)}")
    return suffix[1:]


def save_figure(figure: Figure, path: str | Path) -> None:
    """Write the figure in the format its extension names (PDF/SVG keep text as text)."""
    fmt = image_format(path)
    with matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42}):
        figure.savefig(path, format=fmt, facecolor="white")


def figure_svg(figure: Figure, id_prefix: str) -> str:
    """The figure as an ``<svg>`` element to inline in HTML: text stays text, ids made unique per figure.

    matplotlib names elements ``text_1``, ``patch_2``... in every figure; several inline SVGs on one page
    would repeat those ids, so each is prefixed. Text is escaped by matplotlib's SVG writer.
    """
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": id_prefix}):
        figure.savefig(buffer, format="svg", facecolor="white")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{id_prefix}-{m.group(1)}"', svg)
    svg = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{id_prefix}-{m.group(1)})", svg)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{id_prefix}-{m.group(1)}"', svg)
