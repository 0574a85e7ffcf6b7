"""All conversations on one time axis: one bar each, coloured by outcome, with SYN-retry, FIN and RST marks.

The question a network team asks first is "how many failed, when, and how?" — so colour carries the
outcome (the same colours in every netreset figure), and failing conversations are never the ones left
out: beyond ``MAX_ROWS`` bars the figure keeps every failing conversation first, then the earliest others,
and says how many it left out. The legend counts every conversation, drawn or not.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from netreset.flows.model import Conversation, endpoint
from netreset.packets.table import ACK, FIN, RST, SYN, PacketTable
from netreset.plots import style
from netreset.plots.facts import verdict_dicts

MAX_ROWS = 60  #: bars drawn at most; beyond, failing conversations first and a note
LABEL_ROWS = 40  #: up to this many bars each gets its address label; beyond, only ids
MIN_BAR_FRACTION = 0.004  #: shortest bar, as a fraction of the time span (a lone SYN stays visible)
FINE_OUTCOMES = ("clean", "open")  #: outcomes that are not failures


def overview_rows(conversations: Sequence[Conversation], max_rows: int = MAX_ROWS) -> list[Conversation]:
    """The conversations to draw, in start order: all when few, else failing ones first, then the rest."""
    ordered = sorted(conversations, key=lambda c: (c.start_ns, c.id))
    if len(ordered) <= max_rows:
        return ordered
    failing = [c for c in ordered if c.outcome not in FINE_OUTCOMES]
    others = [c for c in ordered if c.outcome in FINE_OUTCOMES]
    chosen = (failing + others)[:max_rows]
    return sorted(chosen, key=lambda c: (c.start_ns, c.id))


def _event_times(table: PacketTable, conversations: Sequence[Conversation]) -> dict[str, list[tuple[float, int]]]:
    """(time ns, row index in the figure) of each retransmitted SYN, FIN and RST."""
    events: dict[str, list[tuple[float, int]]] = {"syn_retry": [], "fin": [], "rst": []}
    for y, c in enumerate(conversations):
        flags, ts = table.flags[c.rows], table.ts_ns[c.rows]
        syns = np.flatnonzero(((flags & (SYN | ACK)) == SYN) & c.from_orig)
        events["syn_retry"] += [(int(ts[i]), y) for i in syns[1:]]
        events["fin"] += [(int(ts[i]), y) for i in np.flatnonzero(flags & FIN)]
        events["rst"] += [(int(ts[i]), y) for i in np.flatnonzero(flags & RST)]
    return events


def _draw_marks(ax: Axes, events: dict, t0: int, forged_rows: set[int]) -> list[Artist]:
    styles = {"syn_retry": dict(marker=">", color=style.SYN_COLOUR, s=28),
              "fin": dict(marker="|", color=style.FIN_COLOUR, s=90, linewidths=2),
              "rst": dict(marker="X", color=style.RST_COLOUR, s=90, edgecolors="white", linewidths=1.0)}
    artists = []
    for kind, points in events.items():
        if not points:
            continue
        x = [(t - t0) / 1e9 for t, _ in points]
        y = [row for _, row in points]
        colours = [style.VERDICT_COLOURS["middlebox"] if kind == "rst" and row in forged_rows else styles[kind]["color"]
                   for row in y]
        marks = ax.scatter(x, y, zorder=3, **{**styles[kind], "color": colours})
        marks.set_gid(kind)
        artists.append(marks)
    return artists


def _legend(ax: Axes, conversations: Sequence[Conversation]) -> Artist:
    counts = Counter(style.category(c.outcome) for c in conversations)
    handles = [Patch(color=colour, label=f"{label} ({counts[key]})") for key, label, colour in style.CATEGORIES
               if counts[key]]
    handles += [Line2D([], [], ls="", marker=">", color=style.SYN_COLOUR, label="SYN retransmission"),
                Line2D([], [], ls="", marker="|", markersize=9, mew=2, color=style.FIN_COLOUR, label="FIN"),
                Line2D([], [], ls="", marker="X", color=style.RST_COLOUR, label="RST (dark: forged by a middlebox)")]
    return ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=style.SMALL_FONT,
                     frameon=False, title="outcome (all conversations)", title_fontsize=style.SMALL_FONT)


def _label_axes(ax: Axes, shown: Sequence[Conversation], total: int, t0: int) -> None:
    ax.set_ylim(len(shown) - 0.4, -0.6)
    if len(shown) <= LABEL_ROWS:
        ax.set_yticks(range(len(shown)), [f"{c.id}  {endpoint(c.orig_h, c.orig_p)} → "
                                          f"{endpoint(c.resp_h, c.resp_p)}" for c in shown],
                      fontsize=style.SMALL_FONT, family=style.MONO)
    else:
        step = max(len(shown) // 20, 1)
        ax.set_yticks(range(0, len(shown), step), [str(shown[i].id) for i in range(0, len(shown), step)],
                      fontsize=style.SMALL_FONT)
        ax.set_ylabel("conversation id", fontsize=style.SMALL_FONT)
    start = dt.datetime.fromtimestamp(t0 / 1e9, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    ax.set_xlabel(f"seconds since the first conversation started ({start})", fontsize=style.SMALL_FONT)
    title = f"{total} TCP conversations"
    if len(shown) < total:
        title += f" — showing {len(shown)}: every failing one first, then the earliest others"
    ax.set_title(title, fontsize=style.TITLE_FONT, loc="left")
    ax.grid(axis="x", color="#DDDDDD", lw=0.6)
    ax.set_axisbelow(True)


def draw_overview(ax: Axes, table: PacketTable, conversations: Sequence[Conversation], reset_verdicts=(),
                  max_rows: int = MAX_ROWS) -> list[Artist]:
    """Draw every conversation (or the top ``max_rows``) as a bar along time; return the artists.

    Bars are one PolyCollection (gid ``bars``, one polygon per conversation), marks are scatter collections with gids ``syn_retry``,
    ``fin`` and ``rst``, the legend comes last.
    """
    shown = overview_rows(conversations, max_rows)
    if not shown:
        return [ax.text(0.5, 0.5, "No TCP conversations.", ha="center", va="center", transform=ax.transAxes)]
    t0 = min(c.start_ns for c in shown)
    span = max(max(c.end_ns for c in shown) - t0, 1) / 1e9
    widths = [max(c.duration_s, span * MIN_BAR_FRACTION) for c in shown]
    lefts = [(c.start_ns - t0) / 1e9 for c in shown]
    colours = [style.CATEGORY_COLOURS.get(style.category(c.outcome), "#999999") for c in shown]
    bars = PolyCollection([[(x, y - 0.31), (x + w, y - 0.31), (x + w, y + 0.31), (x, y + 0.31)]
                           for y, (x, w) in enumerate(zip(lefts, widths))], facecolors=colours, edgecolors="none")
    bars.set_gid("bars")
    ax.add_collection(bars)
    ax.set_xlim(-0.02 * span, 1.02 * span)
    forged_ids = {v["conversation"] for v in verdict_dicts(reset_verdicts) if v.get("verdict") == "middlebox"}
    forged_rows = {y for y, c in enumerate(shown) if c.id in forged_ids}
    artists: list[Artist] = [bars, *_draw_marks(ax, _event_times(table, shown), t0, forged_rows)]
    _label_axes(ax, shown, len(conversations), t0)
    artists.append(_legend(ax, conversations))
    return artists
