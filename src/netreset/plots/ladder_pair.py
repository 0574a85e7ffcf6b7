"""Two ladders side by side: one connection as capture A and capture B saw it, same packets linked.

One row per event on A's clock (B's timestamps corrected by the fitted offset and drift): a packet both
captures hold is one row with an arrow in each ladder and a dotted link between them; a packet only one
capture holds is drawn in its colour (injected red, dropped orange) with "not seen" on the other side.
Below, a strip of the path marks the segment between the two capture points where the fault sits.
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from netreset.plots import style
from netreset.plots.hop_segment import SegmentMark, draw_segment_strip, segment_of
from netreset.analyses.vantage.diff import flag_letters
from netreset.analyses.vantage.model import Comparison, JoinedConversation

MAX_EVENTS = 40  #: rows drawn; beyond it matched packets far from any one-sided packet are elided
CONTEXT_EVENTS = 3  #: matched rows kept before and after each one-sided packet
KIND_COLOURS = {"matched": "#555555", "injected": style.RST_COLOUR, "dropped": "#E69F00",
                "outside_capture": "#999999"}
LANES = {"a": (0.0, 1.0), "b": (1.6, 2.6)}  #: x of orig's and resp's lifeline in each ladder


@dataclass(frozen=True)
class PairEvent:
    """One row: a packet as A and/or B saw it."""

    t_ns: int  #: on A's clock
    a_row: int | None
    b_row: int | None
    from_orig: bool  #: in A's naming
    kind: str  #: matched | injected | dropped | outside_capture
    a_label: str  #: flags, length and TTL as A saw the packet ("" when A did not)
    b_label: str  #: ... and as B saw it


def pick_joined(comparison: Comparison, stream: int | None) -> JoinedConversation:
    """A's conversation ``stream``; else the first with one-sided packets; else the first."""
    if stream is not None:
        found = comparison.joined_for(stream)
        if found is None:
            from netreset.errors import UsageError

            raise UsageError(f"no conversation {stream} in {comparison.a.label}")
        return found
    if not comparison.conversations:
        from netreset.errors import UsageError

        raise UsageError("no TCP conversation in either capture")
    return next((j for j in comparison.conversations if j.only_in_a or j.only_in_b), comparison.conversations[0])


def _label(table, row: int) -> str:
    flags = int(table.flags[row])
    return f"{flag_letters(flags)} len={int(table.payload_len[row])} ttl={int(table.ttl[row])}"


def plan_events(comparison: Comparison, j: JoinedConversation) -> tuple[list[PairEvent], int]:
    """Every event of the joined conversation in time order, elided to MAX_EVENTS; also how many were hidden."""
    a, b, clock = comparison.a.table, comparison.b.table, comparison.clock
    from netreset.analyses.vantage.compare import from_orig_of

    events = []
    if j.a is not None and len(j.a_rows):
        for ra, rb, orig in zip(j.a_rows.tolist(), j.b_rows.tolist(), from_orig_of(j.a, j.a_rows).tolist()):
            events.append(PairEvent(int(a.ts_ns[ra]), ra, rb, orig, "matched", _label(a, ra), _label(b, rb)))
    for o in j.only_in_a:
        events.append(PairEvent(int(round(o.ts * 1e9)), o.row, None, o.from_orig, o.kind, _label(a, o.row), ""))
    for o in j.only_in_b:
        events.append(PairEvent(int(round(o.ts * 1e9)), None, o.row, o.from_orig, o.kind, "", _label(b, o.row)))
    events.sort(key=lambda e: e.t_ns)
    if len(events) <= MAX_EVENTS:
        return events, 0
    keep = set(range(min(6, len(events))))
    for i, e in enumerate(events):
        if e.kind != "matched":
            keep.update(range(max(0, i - CONTEXT_EVENTS), min(len(events), i + CONTEXT_EVENTS + 1)))
    kept = [events[i] for i in sorted(keep)][:MAX_EVENTS]
    return kept, len(events) - len(kept)


def _arrow(ax: Axes, lane: str, y: float, from_orig: bool, colour: str, label: str, gid: str) -> list[Artist]:
    left, right = LANES[lane]
    start, end = (left, right) if from_orig else (right, left)
    arrow = ax.annotate("", xy=(end, y), xytext=(start, y), arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.4))
    arrow.set_gid(gid)
    text = ax.text((left + right) / 2, y - 0.12, label, ha="center", va="bottom", fontsize=7, color=colour,
                   family=style.MONO)
    return [arrow, text]


def _draw_event(ax: Axes, e: PairEvent, y: float, index: int) -> list[Artist]:
    colour = KIND_COLOURS[e.kind]
    artists = []
    for lane, row, label in (("a", e.a_row, e.a_label), ("b", e.b_row, e.b_label)):
        if row is not None:
            text = label + ("" if e.kind == "matched" else f"  {e.kind.upper()}")
            artists += _arrow(ax, lane, y, e.from_orig, colour, text, f"{lane}-{e.kind}-{index}")
        else:
            left, right = LANES[lane]
            artists.append(ax.text((left + right) / 2, y, "✗ not seen here", ha="center", va="center", fontsize=8,
                                   color=colour, gid=f"{lane}-missing-{index}"))
    if e.a_row is not None and e.b_row is not None:
        link, = ax.plot([LANES["a"][1], LANES["b"][0]], [y, y], ls=":", color="#AAAAAA", lw=1.0)
        link.set_gid(f"link-{index}")
        artists.append(link)
    return artists


def draw_ladder_pair(ax: Axes, comparison: Comparison, j: JoinedConversation) -> list[Artist]:
    """Both ladders of one joined conversation on ``ax``; one-sided arrows carry gids ``<side>-<kind>-<i>``."""
    events, hidden = plan_events(comparison, j)
    artists: list[Artist] = []
    for lane, (vantage, conv) in (("a", (comparison.a, j.a)), ("b", (comparison.b, j.b))):
        left, right = LANES[lane]
        for x in (left, right):
            artists.append(ax.axvline(x, color="#BBBBBB", lw=1.0, zorder=0))
        title = vantage.label if conv is None else f"{vantage.label}\n{conv.orig_h}:{conv.orig_p} ⇄ {conv.resp_h}:{conv.resp_p}"
        artists.append(ax.text((left + right) / 2, -0.7, title, ha="center", va="bottom", fontsize=style.SMALL_FONT))
    t0 = events[0].t_ns if events else 0
    for i, e in enumerate(events):
        artists += _draw_event(ax, e, float(i), i)
        artists.append(ax.text(-0.08, i, f"{(e.t_ns - t0) / 1e9:.6f}", ha="right", va="center", fontsize=7, color="#777777"))
    ax.set_ylim(len(events), -1.8)
    ax.set_xlim(-0.45, 2.75)
    ax.set_axis_off()
    more = f"; {hidden} matched packets not shown" if hidden else ""
    ax.set_title(f"Capture A (left) and capture B (right), time on A's clock (s){more}", fontsize=style.FONT_SIZE, loc="left")
    return artists


def ladder_pair_figure(comparison: Comparison, j: JoinedConversation) -> Figure:
    """The side-by-side ladders and the path strip marking the faulty segment."""
    from netreset.plots.figures import _figure

    events, _ = plan_events(comparison, j)
    figure = _figure(11.0, 2.6 + 0.32 * len(events))
    top, bottom = figure.subplots(2, 1, height_ratios=[max(len(events), 4), 3])
    draw_ladder_pair(top, comparison, j)
    mark: SegmentMark = segment_of(comparison, j)
    draw_segment_strip(bottom, mark)
    return figure
