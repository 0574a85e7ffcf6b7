"""The ladder diagram of one conversation — Wireshark's Flow Graph, tuned for "who reset this?".

Two lifelines (orig left, resp right), one horizontal arrow per packet at the capture point's time,
labelled with flags, relative seq/ack, payload length and TTL. Arrows are horizontal on purpose: one
capture point sees each packet once, so a slope would invent a latency nobody measured. Time runs down;
one row per packet, and a pause of ``PAUSE_S`` or more gets a taller, labelled gap instead of a
proportional one, so a 60 s idle period does not push the reset off the page. Long conversations keep
the handshake, the last packets before the first RST and the RSTs, with an elision mark between.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from netreset.flows.model import Conversation, endpoint
from netreset.packets.table import ACK, RST, SYN, PacketTable
from netreset.plots import style
from netreset.plots.facts import SideTtls, side_ttls, verdicts_by_frame
from netreset.report.causes import events_by_frame

HEAD_PACKETS = 4  #: packets always shown from the start (the handshake and SYN retransmissions)
TAIL_PACKETS = 12  #: packets shown before the first RST (or before the end when there is no RST)
AFTER_PACKETS = 4  #: packets shown after the last RST (the race a forger loses shows up here)
MAX_PACKETS = HEAD_PACKETS + TAIL_PACKETS + AFTER_PACKETS + 4  #: draw every packet up to this many
PAUSE_S = 0.5  #: gaps at least this long are drawn as a labelled pause, not to scale
PAUSE_ROWS = 1.0  #: extra rows of height a pause takes
EVENT_ROWS = 0.55  #: extra rows of height under an arrow that carries application events
EVENT_LINE_CHARS = 70  #: events of one arrow share a line up to this many characters
IDLE_MATCH_S = 1e-3  #: a pause this close to the conversation's idle_before_reset_s is that idle gap
ELISION_ROWS = 1.0  #: extra rows of height an elision mark takes
LANE_WIDTH = 1.0  #: x distance between the two lifelines; the verdict box sits right of resp


@dataclass(frozen=True)
class LadderRow:
    """One drawn packet."""

    row: int  #: index in the PacketTable
    frame: int  #: frame number (as Wireshark shows it)
    t_s: float  #: seconds since the conversation's first packet
    y: float  #: vertical position (rows from the top)
    from_orig: bool  #: True when orig sent it (arrow points right)
    label: str  #: flags, relative seq/ack, length and TTL
    colour: str
    is_rst: bool
    #: the application events this frame completes (``ClientHello SNI=…``, ``403 Forbidden``: report.causes)
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mark:
    """An elision ("N packets not shown") or a compressed pause between two rows."""

    y: float
    text: str
    kind: str  #: "elision", "pause" or "idle" (the silence before the packet a RST answered)


@dataclass(frozen=True)
class LadderPlan:
    """Everything the ladder shows, decided before drawing (so the CLI can size the figure)."""

    rows: tuple[LadderRow, ...]
    marks: tuple[Mark, ...]
    orig_label: str
    resp_label: str
    sides: SideTtls
    total_packets: int  #: packets in the conversation (shown or not)

    @property
    def height_rows(self) -> float:
        return (self.rows[-1].y + 1.0) if self.rows else 1.0


def select_positions(flags: np.ndarray, limit: int = MAX_PACKETS, keep_also=()) -> list[int]:
    """Positions (into the conversation's rows) worth drawing: all when few, else head + before-RST + RSTs +
    after, and ``keep_also`` (the positions of frames that carry application events)."""
    n = len(flags)
    if n <= limit:
        return list(range(n))
    rst = np.flatnonzero(flags & RST)
    anchor = int(rst[0]) if len(rst) else n - 1
    last = int(rst[-1]) if len(rst) else n - 1
    keep = set(range(min(HEAD_PACKETS, n)))
    keep.update(range(max(anchor - TAIL_PACKETS, 0), anchor + 1))
    keep.update(int(p) for p in rst)
    keep.update(range(last, min(last + AFTER_PACKETS + 1, n)))
    keep.update(int(p) for p in keep_also if 0 <= p < n)
    return sorted(keep)


def _isn(table: PacketTable, rows: np.ndarray) -> int | None:
    """Initial sequence number of one side: its SYN's seq, else the first seq it sent."""
    if len(rows) == 0:
        return None
    syn = rows[(table.flags[rows] & SYN) != 0]
    return int(table.seq[syn[0] if len(syn) else rows[0]])


def packet_label(table: PacketTable, row: int, isn_own: int | None, isn_other: int | None) -> str:
    """``SYN, ACK  seq=0 ack=1 len=0  TTL 64`` with seq/ack relative to each side's ISN, as Wireshark shows them."""
    flags = int(table.flags[row])
    parts = [style.flags_label(flags)]
    if isn_own is not None:
        parts.append(f"seq={(int(table.seq[row]) - isn_own) % 2**32}")
    if flags & ACK and isn_other is not None:
        parts.append(f"ack={(int(table.ack[row]) - isn_other) % 2**32}")
    parts.append(f"len={int(table.payload_len[row])}")
    if table.ttl[row] >= 0:
        parts.append(f"TTL {int(table.ttl[row])}")
    return "  ".join(parts)


def _syn_notes(table: PacketTable, conversation: Conversation) -> dict[int, str]:
    """Retransmitted SYNs of orig → ``retransmission #k, +1.00 s after the previous SYN``."""
    rows = conversation.rows[conversation.from_orig]
    syns = rows[(table.flags[rows] & (SYN | ACK)) == SYN]
    notes = {}
    for k in range(1, len(syns)):
        gap = (int(table.ts_ns[syns[k]]) - int(table.ts_ns[syns[k - 1]])) / 1e9
        notes[int(syns[k])] = f"retransmission #{k}, +{gap:.2f} s"
    return notes


def plan_ladder(table: PacketTable, conversation: Conversation, limit: int = MAX_PACKETS, *, events=(),
                idle_s: float | None = None, server_name: str | None = None) -> LadderPlan:
    """Choose the packets, their labels and vertical positions (pure; no drawing).

    ``events``: the conversation's ``app_events`` (drawn on the arrows of their frames); ``idle_s``: its
    ``idle_before_reset_s`` (the pause of that length is marked as the idle gap); ``server_name``: shown
    beside the responder's address."""
    rows, from_orig = conversation.rows, conversation.from_orig
    isn = {True: _isn(table, rows[from_orig]), False: _isn(table, rows[~from_orig])}
    notes = _syn_notes(table, conversation)
    labels = events_by_frame(events)
    frames = table.frame[rows]
    positions = select_positions(table.flags[rows], limit,
                                 np.flatnonzero(np.isin(frames, list(labels))).tolist() if labels else ())
    t0 = int(table.ts_ns[rows[0]]) if len(rows) else 0
    drawn, marks, y, previous = [], [], 0.0, None
    for pos in positions:
        row, side = int(rows[pos]), bool(from_orig[pos])
        t = (int(table.ts_ns[row]) - t0) / 1e9
        if previous is not None:
            y += 1.0
            if pos - previous[0] > 1:
                hidden = pos - previous[0] - 1
                marks.append(Mark(y, f"… {hidden} packets not shown …", "elision"))
                y += ELISION_ROWS
            elif t - previous[1] >= PAUSE_S:
                gap = t - previous[1]
                if idle_s is not None and abs(gap - idle_s) <= IDLE_MATCH_S:
                    marks.append(Mark(y, f"{idle_s:.1f} s idle (not to scale), then the reset", "idle"))
                else:
                    marks.append(Mark(y, f"pause {gap:.2f} s (not to scale)", "pause"))
                y += PAUSE_ROWS
        label = packet_label(table, row, isn[side], isn[not side])
        if row in notes:
            label += f"  ({notes[row]})"
        flags = int(table.flags[row])
        colour = style.arrow_colour(flags, int(table.payload_len[row]))
        on_arrow = tuple(labels.get(int(table.frame[row]), ()))
        drawn.append(LadderRow(row, int(table.frame[row]), t, y, side, label, colour, bool(flags & RST), on_arrow))
        y += EVENT_ROWS * len(event_lines(on_arrow))
        previous = (pos, t)
    resp = endpoint(conversation.resp_h, conversation.resp_p)
    return LadderPlan(tuple(drawn), tuple(marks), endpoint(conversation.orig_h, conversation.orig_p),
                      f"{resp} ({server_name})" if server_name else resp, side_ttls(table, conversation), len(rows))


def verdict_text(verdict: dict) -> str:
    """The RST's callout: who sent it, as observed TTL versus what the claimed sender's packets show."""
    lines = [f"RST claims to come from {verdict.get('src', '?')}",
             f"verdict: {str(verdict.get('verdict', '?')).upper()} (confidence {verdict.get('confidence', 0):.2f})"]
    ttl_items = [e for e in verdict.get("evidence", []) if str(e.get("code", "")).startswith("ttl")
                 and e.get("expected") is not None]
    if ttl_items:
        lines.append(f"TTL {verdict.get('observed_ttl')} observed, {ttl_items[0]['expected']} expected")
    else:
        lines.append(f"TTL {verdict.get('observed_ttl')} observed (initial {verdict.get('initial_ttl')})")
    own = verdict.get("claimed_sender_routers_between")
    sent = f"sent {verdict.get('routers_between')} routers away (hop {verdict.get('traceroute_hop')})"
    lines.append(sent + (f"; peer is {own} routers away" if own is not None else ""))
    return "\n".join(lines)


def event_lines(events: tuple[str, ...]) -> list[str]:
    """The events of one arrow as the lines drawn under it: side by side while they fit in
    :data:`EVENT_LINE_CHARS`, else one a line."""
    joined = "  ·  ".join(events)
    return ([joined] if len(joined) <= EVENT_LINE_CHARS else list(events)) if events else []


def _side_caption(role: str, endpoint: str, guess) -> str:
    if guess is None:
        return f"{role}  {endpoint}\n(sent nothing)"
    return f"{role}  {endpoint}\nTTL {guess.observed} · initial {guess.initial} · {guess.routers_between} routers"


def _draw_lifelines(ax: Axes, plan: LadderPlan) -> list[Artist]:
    bottom = plan.height_rows + 0.2
    artists: list[Artist] = []
    for x, role, endpoint, guess in ((0.0, "orig", plan.orig_label, plan.sides.orig),
                                      (LANE_WIDTH, "resp", plan.resp_label, plan.sides.resp)):
        line, = ax.plot([x, x], [-0.6, bottom], color="#444444", lw=1.4, solid_capstyle="butt")
        line.set_gid(f"lifeline-{role}")
        text = ax.text(x, -0.75, _side_caption(role, endpoint, guess), ha="center", va="bottom",
                       fontsize=style.FONT_SIZE, fontweight="bold", linespacing=1.3, parse_math=False)
        artists += [line, text]
    return artists


def _capture_x(plan: LadderPlan) -> float:
    return min(max(plan.sides.capture_fraction(), 0.03), 0.97) * LANE_WIDTH


def _draw_capture_point(ax: Axes, plan: LadderPlan) -> list[Artist]:
    """A dashed line where the capture was taken, placed by the routers each side's TTL puts between."""
    x = _capture_x(plan)
    line, = ax.plot([x, x], [-0.4, plan.height_rows + 0.2], color=style.CAPTURE_COLOUR, lw=1.0, ls=(0, (4, 3)))
    line.set_gid("capture-point")
    text = ax.text(x, plan.height_rows + 0.35, "capture point", ha="center", va="top", color=style.CAPTURE_COLOUR,
                   fontsize=style.SMALL_FONT, fontstyle="italic")
    return [line, text]


def _draw_packet(ax: Axes, row: LadderRow, verdict: dict | None) -> list[Artist]:
    start, end = (0.0, LANE_WIDTH) if row.from_orig else (LANE_WIDTH, 0.0)
    colour = style.VERDICT_COLOURS.get(verdict["verdict"], style.RST_COLOUR) if verdict else row.colour
    arrow = ax.annotate("", xy=(end, row.y), xytext=(start, row.y), annotation_clip=False,
                        arrowprops=dict(arrowstyle="-|>", color=colour, lw=2.6 if row.is_rst else 1.1,
                                        shrinkA=0, shrinkB=0, mutation_scale=12))
    arrow.set_gid(f"packet-{row.row}")
    label = ax.text(LANE_WIDTH / 2, row.y - 0.1, row.label, ha="center", va="bottom", color=colour,
                    fontsize=style.SMALL_FONT, family=style.MONO, fontweight="bold" if row.is_rst else "normal",
                    bbox=dict(boxstyle="square,pad=0.05", fc="white", ec="none"))
    label.set_gid(f"label-{row.row}")
    if not row.events:
        return [arrow, label]
    events = ax.text(LANE_WIDTH / 2, row.y + 0.08, "\n".join(event_lines(row.events)), ha="center", va="top",
                     color=style.EVENT_COLOUR, fontsize=style.SMALL_FONT, fontweight="bold", parse_math=False,
                     bbox=dict(boxstyle="round,pad=0.15", fc="#EEF5FB", ec="none"))
    events.set_gid(f"events-{row.row}")
    return [arrow, label, events]


def _draw_callout(ax: Axes, row: LadderRow, verdict: dict, compact: bool) -> Artist:
    colour = style.VERDICT_COLOURS.get(verdict.get("verdict"), style.RST_COLOUR)
    text = (f"RST: {str(verdict.get('verdict')).upper()} ({verdict.get('confidence', 0):.2f})" if compact
            else verdict_text(verdict))
    box = ax.text(LANE_WIDTH + 0.06, row.y, text, ha="left", va="center", fontsize=style.SMALL_FONT, color=colour,
                  linespacing=1.25, bbox=dict(boxstyle="round,pad=0.4", fc="#FFF4F0", ec=colour, lw=1.4))
    box.set_gid(f"rst-{row.row}")
    return box


def _draw_origin(ax: Axes, row: LadderRow, verdict: dict, capture_x: float) -> list[Artist]:
    """Where on the path a middlebox RST really started: its routers from the capture point, to scale."""
    own, sent = verdict.get("claimed_sender_routers_between"), verdict.get("routers_between")
    if verdict.get("verdict") != "middlebox" or not own or sent is None or sent >= own:
        return []
    far = LANE_WIDTH if not row.from_orig else 0.0
    x = capture_x + (far - capture_x) * sent / own
    dot, = ax.plot([x], [row.y], marker="D", ms=7, color=style.VERDICT_COLOURS["middlebox"], zorder=5)
    dot.set_gid(f"origin-{row.row}")
    text = ax.text(x, row.y + 0.12, f"hop {verdict.get('traceroute_hop')}", ha="center", va="top",
                   fontsize=style.SMALL_FONT, fontweight="bold", color=style.VERDICT_COLOURS["middlebox"])
    return [dot, text]


def _draw_marks(ax: Axes, plan: LadderPlan) -> list[Artist]:
    artists = []
    for i, mark in enumerate(plan.marks):
        text = ax.text(LANE_WIDTH / 2, mark.y + 0.2, mark.text, ha="center", va="center", color=style.ELISION_COLOUR,
                       fontsize=style.SMALL_FONT, fontstyle="italic",
                       bbox=dict(boxstyle="round,pad=0.2", fc="#F4F4F4", ec="none"))
        text.set_gid(f"{mark.kind}-{i}")
        artists.append(text)
    return artists


def _frame_axes(ax: Axes, plan: LadderPlan, conversation: Conversation) -> None:
    ax.set_xlim(-0.25, LANE_WIDTH + 0.62)
    ax.set_ylim(plan.height_rows + 0.6, -2.0)
    ax.set_yticks([r.y for r in plan.rows], [f"#{r.frame}  {r.t_s:.6f}" for r in plan.rows],
                  fontsize=style.SMALL_FONT, family=style.MONO)
    ax.set_ylabel("frame  seconds since first packet", fontsize=style.SMALL_FONT)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"Conversation {conversation.id}: {plan.orig_label} → {plan.resp_label}   "
                 f"{conversation.conn_state} {conversation.history}  ({conversation.outcome})",
                 fontsize=style.TITLE_FONT, loc="left", parse_math=False)
    shown = f"showing {len(plan.rows)} of {plan.total_packets} packets; " if len(plan.rows) < plan.total_packets else ""
    ax.set_xlabel(f"{shown}one row per packet, pauses ≥ {PAUSE_S} s compressed and labelled; "
                  "seq/ack relative to each side's ISN", fontsize=style.SMALL_FONT, color="#555555")


def draw_ladder(ax: Axes, table: PacketTable, conversation: Conversation, reset_verdicts=(),
                plan: LadderPlan | None = None) -> list[Artist]:
    """Draw the ladder of one conversation on ``ax``; return every artist drawn.

    Arrows carry the gid ``packet-<row>``, their labels ``label-<row>``, the application events under them
    ``events-<row>``, RST verdict callouts ``rst-<row>``, elisions/pauses/the idle gap
    ``elision-<i>``/``pause-<i>``/``idle-<i>``. Text from the capture (names, events) is drawn with
    ``parse_math=False``: a ``$`` in an SNI or a URL is a dollar sign, not matplotlib's mathtext.
    """
    plan = plan or plan_ladder(table, conversation)
    verdicts = verdicts_by_frame(reset_verdicts, conversation.id)
    artists = _draw_lifelines(ax, plan) + _draw_capture_point(ax, plan) + _draw_marks(ax, plan)
    last_callout = -1e9
    for row in plan.rows:
        verdict = verdicts.get(row.frame) if row.is_rst else None
        artists += _draw_packet(ax, row, verdict)
        if verdict is not None:
            artists.append(_draw_callout(ax, row, verdict, compact=row.y - last_callout < 3.5))
            artists += _draw_origin(ax, row, verdict, _capture_x(plan))
            last_callout = row.y
    _frame_axes(ax, plan, conversation)
    return artists


def ladder_text(plan: LadderPlan, reset_verdicts=(), conversation_id: int | None = None) -> str:
    """The same ladder as plain text lines, for terminals and tickets."""
    verdicts = verdicts_by_frame(reset_verdicts, conversation_id) if conversation_id is not None else {}
    width = max(len(plan.orig_label), 8)
    lines = [f"{'frame':>7}  {'time_s':>11}  {plan.orig_label:<{width}}       {plan.resp_label}"]
    marks = {m.y: m for m in plan.marks}
    for row in plan.rows:
        for y in [y for y in marks if y <= row.y]:
            lines.append(f"{'':>7}  {'':>11}  {marks.pop(y).text}")
        arrow = "──▶" if row.from_orig else "◀──"
        lines.append(f"{row.frame:>7}  {row.t_s:>11.6f}  {arrow} {row.label}")
        lines += [f"{'':>22}    {event}" for event in row.events]
        if row.frame in verdicts and row.is_rst:
            lines += [f"{'':>22}{line}" for line in verdict_text(verdicts[row.frame]).splitlines()]
    return "\n".join(lines) + "\n"
