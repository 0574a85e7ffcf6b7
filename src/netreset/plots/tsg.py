"""The time-sequence graph (Stevens; tcptrace's and Wireshark's "tcptrace" style) of one conversation.

Sequence numbers of the data sender against time: each segment is a vertical bar from its first to its
last byte, retransmissions in red; the receiver's acknowledgement line and the edge of its advertised
window run above. Gaps, stalls and a reset that arrives while data is still outstanding are visible at
a glance. Numbers are relative to the sender's ISN, as Wireshark shows them.
"""

from __future__ import annotations

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from netreset.flows.model import Conversation, endpoint
from netreset.packets.table import ACK, FIN, RST, SYN, PacketTable
from netreset.plots import style

RETRANSMISSION_COLOUR = "#E41A1C"
WINDOW_FIT = 3.0  #: a window edge more than this many times above the data is left off the y range


def data_sender_is_orig(conversation: Conversation) -> bool:
    """The graph follows the side that sent more payload (orig on a tie: requests come first)."""
    return conversation.orig_bytes >= conversation.resp_bytes


def _window_shift(table: PacketTable, syn_rows: np.ndarray, receiver_syn_rows: np.ndarray) -> int:
    """Receiver's window-scale shift: in force only when both SYNs carried the option (RFC 7323)."""
    if len(syn_rows) == 0 or len(receiver_syn_rows) == 0:
        return 0
    mine, theirs = int(table.wscale[syn_rows[0]]), int(table.wscale[receiver_syn_rows[0]])
    return theirs if mine >= 0 and theirs >= 0 else 0


def segment_bars(table: PacketTable, rows: np.ndarray, isn: int) -> tuple[np.ndarray, ...]:
    """(start, end, is_retransmission) of each data segment, relative to ``isn``; a segment whose last
    byte was already sent is a retransmission."""
    with_data = rows[table.payload_len[rows] > 0]
    start = ((table.seq[with_data].astype(np.int64) - isn) % 2**32).astype(np.int64)
    end = start + table.payload_len[with_data].astype(np.int64)
    highest = np.maximum.accumulate(np.concatenate([[0], end]))[:-1]
    return with_data, start, end, end <= highest


def flag_positions(table: PacketTable, rows: np.ndarray, own: np.ndarray, isn: int) -> np.ndarray:
    """Where each packet sits in the sender's sequence space: its seq when the sender sent it, the ack
    when the receiver did; a receiver packet without ACK (a bare RST) sits at the sender's next byte."""
    rel = np.where(own, (table.seq[rows].astype(np.int64) - isn) % 2**32,
                   (table.ack[rows].astype(np.int64) - isn) % 2**32).astype(float)
    bare = ~own & ((table.flags[rows] & ACK) == 0)
    rel[bare] = np.nan
    edge = np.where(own, rel + table.payload_len[rows], rel)  # the next byte the sender would send
    reached = np.maximum.accumulate(np.where(np.isnan(rel), -np.inf, edge))
    return np.where(np.isnan(rel), np.where(np.isfinite(reached), reached, 0.0), rel)


def _draw_flag_marks(ax: Axes, table: PacketTable, conversation: Conversation, sender_is_orig: bool,
                     isn: int, t0: int) -> list[Artist]:
    rows = conversation.rows
    rel = flag_positions(table, rows, conversation.from_orig == sender_is_orig, isn)
    t = (table.ts_ns[rows] - t0) / 1e9
    artists = []
    for bit, name, marker, colour in ((SYN, "syn", "s", style.SYN_COLOUR), (FIN, "fin", "o", style.FIN_COLOUR),
                                      (RST, "rst", "X", style.RST_COLOUR)):
        hit = (table.flags[rows] & bit) != 0
        if np.any(hit):
            marks = ax.scatter(t[hit], rel[hit], marker=marker, s=60, color=colour, zorder=4, label=name.upper())
            marks.set_gid(name)
            artists.append(marks)
    return artists


def draw_tsg(ax: Axes, table: PacketTable, conversation: Conversation) -> list[Artist]:
    """Draw the time-sequence graph on ``ax``; return the artists (gids ``data``, ``retransmissions``,
    ``ack``, ``window``, ``syn``, ``fin``, ``rst``)."""
    sender_is_orig = data_sender_is_orig(conversation)
    rows = conversation.rows
    sent, received = rows[conversation.from_orig == sender_is_orig], rows[conversation.from_orig != sender_is_orig]
    t0 = int(table.ts_ns[rows[0]]) if len(rows) else 0
    syns = sent[(table.flags[sent] & SYN) != 0]
    isn = int(table.seq[syns[0] if len(syns) else sent[0]]) if len(sent) else 0
    artists: list[Artist] = []
    with_data, start, end, retransmitted = segment_bars(table, sent, isn)
    t = (table.ts_ns[with_data] - t0) / 1e9
    for gid, keep, colour in (("data", ~retransmitted, style.DATA_COLOUR), ("retransmissions", retransmitted,
                                                                           RETRANSMISSION_COLOUR)):
        if np.any(keep):
            bars = ax.vlines(t[keep], start[keep], end[keep], colors=colour, lw=2.0, label=gid)
            bars.set_gid(gid)
            artists.append(bars)
    artists += _draw_ack_window(ax, table, received, syns, isn, t0)
    artists += _draw_flag_marks(ax, table, conversation, sender_is_orig, isn, t0)
    _fit_window(ax, artists, float(max(end.max(initial=0), 1)))
    sender = (conversation.orig_h, conversation.orig_p) if sender_is_orig else (conversation.resp_h, conversation.resp_p)
    ax.set_xlabel("seconds since the first packet", fontsize=style.FONT_SIZE)
    ax.set_ylabel(f"sequence number of {endpoint(*sender)} (relative)", fontsize=style.FONT_SIZE)
    ax.set_title(f"Time-sequence graph, conversation {conversation.id} ({conversation.conn_state}, "
                 f"{conversation.outcome})", fontsize=style.TITLE_FONT, loc="left")
    ax.grid(color="#EEEEEE", lw=0.6)
    ax.legend(loc="upper left", fontsize=style.SMALL_FONT, frameon=False)
    return artists


def _fit_window(ax: Axes, artists: list[Artist], data_top: float) -> None:
    """A large receive window would flatten the data into a line along the bottom: keep the data and
    the acks readable, and say where the window edge went."""
    lines = {a.get_gid(): a for a in artists}
    if "window" not in lines:
        return
    ack_top = float(np.max(lines["ack"].get_ydata(), initial=0))
    top = max(data_top, ack_top, 1.0)
    window_top = float(np.max(lines["window"].get_ydata(), initial=0))
    if window_top > WINDOW_FIT * top:
        ax.set_ylim(-0.05 * top, 1.5 * top)
        ax.text(0.99, 0.98, f"window edge above the plot (up to {int(window_top)})", transform=ax.transAxes,
                ha="right", va="top", fontsize=style.SMALL_FONT, color="#8A8A00")


def _draw_ack_window(ax: Axes, table: PacketTable, received: np.ndarray, syns: np.ndarray, isn: int,
                     t0: int) -> list[Artist]:
    acks = received[(table.flags[received] & ACK) != 0]
    if len(acks) == 0:
        return []
    receiver_syns = received[(table.flags[received] & SYN) != 0]
    shift = _window_shift(table, syns, receiver_syns)
    t = (table.ts_ns[acks] - t0) / 1e9
    ack = (table.ack[acks].astype(np.int64) - isn) % 2**32
    # a SYN's window is never scaled (RFC 7323 §2.2)
    scale = np.where((table.flags[acks] & SYN) != 0, 1, 2**shift)
    window = ack + table.win[acks].astype(np.int64) * scale
    ack_line, = ax.step(t, ack, where="post", color="#4DAF4A", lw=1.2, label="ack")
    win_line, = ax.step(t, window, where="post", color="#B8B800", lw=1.0, label="window edge")
    ack_line.set_gid("ack")
    win_line.set_gid("window")
    return [ack_line, win_line]
