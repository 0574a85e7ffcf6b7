"""Which segment of the path the fault sits in, as two captures prove it.

A packet only one capture holds was dropped or injected *between* the two capture points — never outside
them. With the routers between the points counted from TTLs, the segment is "after the capture point A,
through R routers, before capture point B"; an injected packet's own TTL at A narrows it to one hop.
:func:`segment_of` decides it (pure data); :func:`draw_segment_strip` draws the path strip under the
side-by-side ladders, :func:`draw_segment_on_hops` shades the segment on a reset's hop diagram, and
:func:`segment_text` writes it for a ticket.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from netreset.plots import style
from netreset.analyses.ttl import guess_ttl

FAULT_COLOUR = "#F4CCCC"


@dataclass(frozen=True)
class SegmentMark:
    """The stretch of path between two capture points, and what went wrong on it."""

    a_label: str
    b_label: str
    near: str  #: the endpoint on A's side (A's name for it)
    far: str  #: the endpoint on B's side
    routers_between: int | None  #: routers between A and B (None: unknown)
    faults: tuple[str, ...]  #: e.g. ("RST injected", "data segment dropped")
    injector_hop: int | None  #: traceroute hop from A of the device that injected a packet A received

    @property
    def b_hop(self) -> float | None:
        """B's place in hops from A: just after router ``routers_between`` (None: unknown)."""
        return None if self.routers_between is None else self.routers_between + 0.5


def segment_of(comparison, joined) -> SegmentMark:
    """The segment between the capture points of one joined conversation, with its faults."""
    conv = joined.a or joined.b
    near, far = (conv.orig_h, conv.resp_h) if joined.placement.a_nearer_orig else (conv.resp_h, conv.orig_h)
    items = [o for o in list(joined.only_in_a) + list(joined.only_in_b) if o.kind in ("injected", "dropped")]
    faults = tuple(dict.fromkeys(f"{o.packet} {o.kind}" for o in items))
    injected_at_a = [o for o in joined.only_in_a if o.kind == "injected"]
    injector = guess_ttl(injected_at_a[0].ttl).traceroute_hop if injected_at_a else None
    routers = joined.placement.routers_between
    if routers is None or not joined.matched_packets:
        from netreset.analyses.vantage.model import routers_between

        routers = routers_between(comparison)
    return SegmentMark(comparison.a.label, comparison.b.label, near, far, routers, faults, injector)


def segment_text(mark: SegmentMark) -> str:
    """One line for a ticket: where on the path the fault is."""
    where = (f"between capture A ({mark.a_label}, hop 0) and capture B ({mark.b_label}, after router "
             f"{mark.routers_between})" if mark.routers_between is not None
             else f"between capture A ({mark.a_label}) and capture B ({mark.b_label})")
    what = ", ".join(mark.faults) if mark.faults else "nothing: both captures saw the same packets"
    narrowed = f"; the injected packet left a device at traceroute hop {mark.injector_hop} from A" \
        if mark.injector_hop is not None else ""
    return f"Fault segment {where}: {what}{narrowed}."


def _x(hop: float, last: float) -> float:
    """x in 0..1 of a hop between A (0.15) and B (0.85)."""
    return 0.15 + 0.7 * (hop / last if last else 0.5)


def draw_segment_strip(ax: Axes, mark: SegmentMark) -> list[Artist]:
    """The path near endpoint → A → routers → B → far endpoint, the A–B segment shaded when it has faults."""
    last = mark.b_hop or 1.0
    artists: list[Artist] = [ax.plot([0.04, 0.96], [0.5, 0.5], color="#AAAAAA", lw=1.5, zorder=0)[0]]
    if mark.faults:
        span = ax.axvspan(0.15, 0.85, ymin=0.25, ymax=0.75, color=FAULT_COLOUR, zorder=-1)
        span.set_gid("fault-segment")
        artists += [span, ax.text(0.5, 0.8, "fault here: " + ", ".join(mark.faults), ha="center", va="bottom",
                                  fontsize=style.FONT_SIZE, color=style.RST_COLOUR)]
    for hop in range(1, (mark.routers_between or 0) + 1):
        colour = style.RST_COLOUR if hop + 0 == (mark.injector_hop or -1) else "#666666"
        artists.append(ax.text(_x(hop, last), 0.5, str(hop), ha="center", va="center", fontsize=7, color=colour,
                               bbox=dict(boxstyle="circle,pad=0.3", fc="white", ec=colour)))
    for x, text, colour in ((0.04, mark.near, "#0072B2"), (0.96, mark.far, "#0072B2"),
                            (0.15, f"A\n{mark.a_label}", style.CAPTURE_COLOUR),
                            (0.85, f"B\n{mark.b_label}", style.CAPTURE_COLOUR)):
        artists.append(ax.text(x, 0.5 if x in (0.04, 0.96) else 0.18, text, ha="center", va="center",
                               fontsize=style.SMALL_FONT, color=colour if x in (0.15, 0.85) else "white",
                               bbox=None if x in (0.15, 0.85) else dict(boxstyle="round,pad=0.4", fc=colour, ec=colour)))
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(0.0, 1.0)
    ax.set_axis_off()
    ax.set_title(segment_text(mark), fontsize=style.SMALL_FONT, loc="left", wrap=True)
    return artists


def draw_segment_on_hops(ax: Axes, path, mark: SegmentMark) -> list[Artist]:
    """Shade the A–B segment on a hop diagram already drawn by :func:`netreset.plots.hops.draw_hops`."""
    from netreset.plots.hops import node_positions

    if mark.b_hop is None:
        return []
    xs = node_positions(path.nodes)
    hops = [float(n.hop) for n in path.nodes]
    end = float(np.interp(mark.b_hop, hops, xs))
    span = ax.axvspan(xs[0], end, ymin=0.45, ymax=0.8, color=FAULT_COLOUR, zorder=-1)
    span.set_gid("fault-segment")
    # inside the shaded band, under the arrows and above the hop circles, so no node label is covered
    label = ax.text(xs[0] + 0.01, 0.78, f"between the captures: {', '.join(mark.faults) or 'no fault'}",
                    ha="left", va="top", fontsize=style.SMALL_FONT, color=style.RST_COLOUR)
    capture_b = ax.text(end, 0.80, f"capture B\n{mark.b_label}", ha="center", va="bottom", fontsize=7,
                        color=style.CAPTURE_COLOUR)
    return [span, label, capture_b]
