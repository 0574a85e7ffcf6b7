"""Resets over time, one line per device: when did each box start resetting, and does it come in bursts?

Counts per hour (per day when the span is longer than ten days), so a burst at 02:00 on one day and a
steady trickle read differently; a device is drawn in its own colour with its key (``hop4-ttl64``) in the
legend, stacked per hour, and the resets no middlebox sent (the peers', the undetermined) are grey for comparison.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from matplotlib.figure import Figure

from netreset.plots import style

PALETTE = ("#7B0000", "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
MAX_LINES = 8  #: devices drawn; the rest are added to "other devices"
PEER_LABEL = "peer or undetermined"  #: the resets no middlebox was found to send


def resets_over_time_figure(series: dict[str, list[float]], peer: list[float]) -> Figure:
    """``series``: device → its resets' epoch seconds (most resets first); ``peer``: the other resets'."""
    figure = Figure(figsize=(11.0, 3.6), dpi=100, layout="constrained")
    figure.set_facecolor("white")
    ax = figure.add_subplot()
    every = [t for ts in series.values() for t in ts] + list(peer)
    if not every:
        ax.text(0.5, 0.5, "No TCP resets in the dataset.", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return figure
    step = 3600 if max(every) - min(every) <= 10 * 86400 else 86400
    names = list(series)[:MAX_LINES]
    lines = {name: series[name] for name in names}
    rest = [t for name in list(series)[MAX_LINES:] for t in series[name]]
    if rest:
        lines["other devices"] = rest
    if peer:
        lines[PEER_LABEL] = list(peer)
    bottoms: Counter = Counter()
    for number, (name, times) in enumerate(lines.items()):  # stacked bars: a quiet hour stays empty, not bridged
        bins = Counter(int(t // step) * step for t in times)
        xs = sorted(bins)
        colour = "#999999" if name == PEER_LABEL else PALETTE[number % len(PALETTE)]
        ax.bar([dt.datetime.fromtimestamp(x, tz=dt.timezone.utc) for x in xs], [bins[x] for x in xs],
               width=dt.timedelta(seconds=step * 0.9), align="edge", bottom=[bottoms[x] for x in xs],
               color=colour, label=f"{name} ({len(times)})")
        bottoms.update(bins)
    ax.set_ylabel(f"resets per {'hour' if step == 3600 else 'day'}", fontsize=style.FONT_SIZE)
    ax.set_xlabel("time (UTC)", fontsize=style.FONT_SIZE)
    ax.set_title("Resets over time by device", fontsize=style.TITLE_FONT)
    ax.legend(fontsize=style.SMALL_FONT, loc="upper left")
    ax.grid(True, alpha=0.3)
    figure.autofmt_xdate()
    return figure
