"""The shared vocabulary of the handshake analysis: findings, timings, and one conversation's packets.

:class:`HandshakeFinding` and :class:`HandshakeTiming` are the results; :class:`View` holds one
conversation's packets as plain numpy arrays (in capture order) so the opening and closing rules read
like the TCP they describe; :class:`Context` is what every rule may consult besides the conversation
(ICMP errors, reset verdicts, where each capture ends).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import MISSING, dataclass, fields
from typing import Iterable, Mapping, Sequence

import numpy as np

from netreset.flows.model import Conversation
from netreset.analyses.handshakes.schedules import match_schedule
from netreset.analyses.handshakes.text import display_filter
from netreset.packets.table import ACK, PROTO_TCP, RST, SYN, PacketTable

#: Two copies of one packet closer than this (same seq, flags and IP ID) are one transmission seen
#: twice (``tcpdump -i any``, a SPAN port mirroring both directions), not a retransmission.
DUPLICATE_WINDOW_NS = 10_000_000
#: ICMP errors quoting a SYN count when they arrive at most this long after the last SYN.
ICMP_WINDOW_NS = 10_000_000_000
#: ICMP errors a SYN may draw, by (protocol, type, code): (name, whether it rejects the connection —
#: the client's stack reports "refused"/"prohibited" — rather than only explaining the silence).
ICMP_ERRORS = {
    (1, 3, 0): ("network unreachable", False), (1, 3, 1): ("host unreachable", False),
    (1, 3, 2): ("protocol unreachable", True), (1, 3, 3): ("port unreachable", True),
    (1, 3, 4): ("fragmentation needed", False), (1, 3, 9): ("network administratively prohibited", True),
    (1, 3, 10): ("host administratively prohibited", True), (1, 3, 13): ("communication administratively prohibited", True),
    (1, 11, 0): ("TTL exceeded in transit", False),
    (58, 1, 0): ("no route to destination", False), (58, 1, 1): ("administratively prohibited", True),
    (58, 1, 3): ("address unreachable", False), (58, 1, 4): ("port unreachable", True),
    (58, 1, 5): ("source address failed policy", True), (58, 1, 6): ("reject route to destination", True),
    (58, 2, 0): ("packet too big", False), (58, 3, 0): ("hop limit exceeded in transit", False),
}

@dataclass(frozen=True)
class HandshakeTiming:
    """Handshake round trips measured at the capture point (the two legs of the 3-way handshake)."""

    conversation: int  #: conversation id
    syn_frame: int  #: the SYN the SYN-ACK answered (the last one before it)
    synack_frame: int  #: first SYN-ACK
    ack_frame: int | None  #: orig's first ACK after the SYN-ACK (None when never sent)
    syn_to_synack_s: float  #: capture point → responder → capture point, seconds
    synack_to_ack_s: float | None  #: capture point → originator → capture point, seconds
    capture_point: str  #: "near_orig", "near_resp", "between" or "unknown"


@dataclass(frozen=True)
class HandshakeFinding:
    """One incomplete handshake or teardown. Fields that do not apply to a kind are None."""

    kind: str  #: syn_unanswered | refused | synack_unacked | handshake_retransmitted | teardown_incomplete | half_closed
    conversation: int  #: conversation id
    tcp_stream: int  #: Wireshark tcp.stream of the conversation
    file_id: int  #: capture file index
    ts: float  #: first packet of the finding, seconds since the epoch
    orig_h: str  #: originator address
    orig_p: int  #: originator port
    resp_h: str  #: responder address
    resp_p: int  #: responder port
    frames: tuple[int, ...]  #: frame numbers of the packets the finding rests on
    summary: str  #: one sentence for a ticket
    display_filter: str  #: Wireshark display filter showing those packets
    syn_count: int | None = None  #: SYNs orig sent (distinct transmissions)
    syn_gaps_s: tuple[float, ...] | None = None  #: seconds between them
    schedule: str | None = None  #: name of the matching OS retransmission schedule ("" when none fits)
    schedule_error_s: float | None = None  #: mean gap error against that schedule, seconds
    schedule_also_fits: tuple[str, ...] | None = None  #: schedules with the same gaps that nothing tells apart
    synack_count: int | None = None  #: SYN-ACKs resp sent (distinct transmissions)
    syn_to_synack_s: float | None = None  #: handshake leg towards the responder, seconds
    synack_to_ack_s: float | None = None  #: handshake leg towards the originator, seconds
    capture_point: str | None = None  #: near_orig | near_resp | between | unknown
    refused_by: str | None = None  #: address of the RST / ICMP sender
    refusal: str | None = None  #: "rst" or "icmp"
    icmp: str | None = None  #: ICMP error ("port unreachable (type 3 code 3)")
    verdict: str | None = None  #: reset analysis verdict for the refusing / closing RST (peer | middlebox | undetermined)
    confidence: float | None = None  #: that verdict's confidence
    closer: str | None = None  #: "orig" or "resp": the side that sent the first FIN
    fin_answered: bool | None = None  #: the other side sent its own FIN
    fin_acked: bool | None = None  #: the first FIN was acknowledged
    reset_after_fin: str | None = None  #: side whose RST followed the FIN ("orig" / "resp")
    silent_side: str | None = None  #: the side that never answered ("orig" / "resp")

    def to_dict(self) -> dict:
        """Plain JSON-ready dict; tuples become lists, every key always present. (Fields hold plain
        values only, so a shallow walk is enough — ``dataclasses.asdict`` deep-copies every value.)"""
        return {name: list(v) if isinstance(v, tuple) else v for name in _FINDING_FIELDS
                for v in (getattr(self, name),)}

    def __getattr__(self, name: str):
        """``summary`` and ``display_filter`` of a finding made by :func:`new_finding` with ``text``:
        written on first read (a port scan's thousands of sentences are often never read — the
        ``summary`` command skips RST refusals, whose reset entry says the same). Reached only when the
        instance dict lacks the attribute."""
        state = self.__dict__
        text = state.get("_text") if name in _TEXT_FIELDS else None
        if text is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        write, args = text
        state["summary"], state["display_filter"] = write(*args)
        del state["_text"]
        return state[name]

    def __getstate__(self) -> dict:
        """Pickled with its sentences written: the same state as a finding built by ``__init__``."""
        if "_text" in self.__dict__:
            self.__getattr__("summary")
        return self.__dict__


_FINDING_FIELDS = tuple(f.name for f in fields(HandshakeFinding))
#: Every field of a finding with its default (None), in declaration order; required ones are filled.
_BLANK = {f.name: f.default if f.default is not MISSING else None for f in fields(HandshakeFinding)}


#: The fields :func:`new_finding` may leave to be written on first read.
_TEXT_FIELDS = ("summary", "display_filter")
_NO_TEXT = {name: _BLANK[name] for name in _FINDING_FIELDS if name not in _TEXT_FIELDS}


def new_finding(values: dict, text: tuple | None = None) -> HandshakeFinding:
    """A HandshakeFinding from a dict of its fields (the others keep their default None), without
    ``__init__``: the generated ``__init__`` of a frozen dataclass sets each of its 33 fields through
    ``object.__setattr__``, one call per field; filling the instance dict at once makes the same object
    without them — as :func:`netreset.flows.conversations.conversations_from_columns` does.

    ``text``: ``(write, args)`` instead of ``summary`` and ``display_filter`` in ``values``;
    ``write(*args)`` returns both and runs on the first read of either. Same fields, values, equality,
    hash, repr and pickled state as an instance built by the constructor; only ``vars()`` shows the
    pending ``_text`` instead of the two sentences until then."""
    finding = _new(HandshakeFinding)
    state = finding.__dict__
    if text is None:
        state.update(_BLANK)
        state.update(values)
    else:
        state.update(_NO_TEXT)
        state.update(values)
        state["_text"] = text
    return finding


_new = object.__new__


@dataclass(frozen=True)
class View:
    """One conversation's packets as plain arrays, in capture order."""

    conv: Conversation
    rows: np.ndarray
    orig: np.ndarray  #: bool: sent by orig
    flags: np.ndarray
    ts: np.ndarray
    seq: np.ndarray
    ack: np.ndarray
    plen: np.ndarray
    frame: np.ndarray
    ip_id: np.ndarray
    ttl: np.ndarray

    def where(self, mask: np.ndarray) -> np.ndarray:
        """Positions where the (1-D) mask holds (``np.flatnonzero`` without its per-call wrapping)."""
        return mask.nonzero()[0]


def view(table: PacketTable, conv: Conversation) -> View:
    return views(table, [conv])[0]


#: Every conversation's rows and from_orig flags concatenated, and each one's packet count.
Gathered = tuple[np.ndarray, np.ndarray, np.ndarray]


def gather(conversations: Sequence[Conversation]) -> Gathered:
    """The rows and from_orig flags of all conversations in one pair of arrays (the screen and the
    views both read them, so it is done once)."""
    return gather_with_streams(conversations)[0]


def gather_with_streams(conversations: Sequence[Conversation]) -> tuple[Gathered, list[int]]:
    """:func:`gather`, and each conversation's tcp_stream read in the same walk: a second walk just for
    the streams would fetch every conversation object again, which is most of what a walk costs
    besides the two concatenations."""
    rows_parts, orig_parts, streams = [], [], []
    add_rows, add_orig, add_stream = rows_parts.append, orig_parts.append, streams.append
    for c in conversations:
        add_rows(c.rows)
        add_orig(c.from_orig)
        add_stream(c.tcp_stream)
    lengths = np.fromiter(map(len, rows_parts), dtype=np.int64, count=len(rows_parts))
    if not rows_parts:
        return (np.zeros(0, np.int64), np.zeros(0, bool), lengths), streams
    rows = np.concatenate(rows_parts).astype(np.int64, copy=False)
    orig = np.concatenate(orig_parts).astype(bool, copy=False)
    return (rows, orig, lengths), streams


def views(table: PacketTable, conversations: Sequence[Conversation], gathered: Gathered | None = None) -> list[View]:
    """The views of many conversations, gathered with one numpy pass per column and then sliced: most
    conversations the rules read are a few packets long (port scans), where per-view gathering would cost
    more than the rules themselves. ``gathered``: :func:`gather` of exactly these conversations."""
    if not conversations:
        return []
    rows, orig, lengths = gathered if gathered is not None else gather(conversations)
    tcp = table.proto[rows] == PROTO_TCP
    ends = np.cumsum(lengths)
    bounds = np.r_[0, np.cumsum(tcp)][np.r_[0, ends]].tolist()  # TCP packets before each conversation
    rows, orig = rows[tcp], orig[tcp]
    col = table.columns
    arrays = (rows, orig, col["flags"][rows].astype(np.int64), col["ts_ns"][rows], col["seq"][rows].astype(np.int64),
              col["ack"][rows].astype(np.int64), col["payload_len"][rows].astype(np.int64), col["frame"][rows],
              col["ip_id"][rows], col["ttl"][rows])
    return [View(conv, *(a[lo:hi] for a in arrays)) for conv, lo, hi in zip(conversations, bounds, bounds[1:])]


def transmissions(v: View, positions: np.ndarray) -> np.ndarray:
    """``positions`` without capture duplicates: the same packet (seq, flags, IP ID) seen again within
    DUPLICATE_WINDOW_NS. An IP ID of 0 (Linux SYN-ACKs, DF packets) or none (IPv6) does not tell two
    transmissions apart, so such copies must also be adjacent: a packet of the other side in between
    (a retransmitted SYN that the second SYN-ACK answers) makes the second one a real transmission."""
    if len(positions) < 2:
        return positions.astype(np.int64)
    kept: list[int] = []
    packets = zip(positions.tolist(), v.seq[positions].tolist(), v.flags[positions].tolist(),
                  v.ip_id[positions].tolist(), v.ts[positions].tolist())
    last = None
    for packet in packets:
        if last is not None:
            p, seq, flags, ip_id, ts = packet
            same = seq == last[1] and flags == last[2] and ip_id == last[3]
            telling = ip_id > 0 or p == last[0] + 1
            if same and telling and ts - last[4] < DUPLICATE_WINDOW_NS:
                continue
        kept.append(packet[0])
        last = packet
    return np.asarray(kept, dtype=np.int64)


def seq_at_or_after(a: np.ndarray | int, b: int) -> np.ndarray:
    """``a >= b`` in 32-bit sequence space (RFC 9293 modular comparison)."""
    return ((np.asarray(a, dtype=np.int64) - b) & 0xFFFFFFFF) < 0x80000000


def gaps(v: View, positions: np.ndarray) -> tuple[float, ...]:
    times = v.ts[positions].tolist()
    return tuple(float(b - a) / 1e9 for a, b in zip(times, times[1:]))


class Context:
    """What every rule may consult besides the conversation: ICMP errors, reset verdicts, capture end."""

    def __init__(self, table: PacketTable, conversations: Sequence[Conversation], resets, schedules,
                 capture_end: dict[int, int] | None = None, streams: Sequence[int] | None = None,
                 sharing: Mapping[int, int] | None = None) -> None:
        """``streams``: the tcp_stream of each conversation, when the caller has read them already;
        ``sharing``: conversations per tcp_stream over the whole capture, when ``conversations`` are a part."""
        self.table = table
        self.schedules = schedules
        self.verdicts = _verdict_index(resets or ())
        icmp = np.flatnonzero(table.proto != PROTO_TCP) if len(table) else np.zeros(0, np.int64)
        self.icmp: dict[tuple, list[int]] = defaultdict(list)
        for i in icmp:
            key = (table.book.name(int(table.q_src[i])), table.book.name(int(table.q_dst[i])),
                   int(table.q_sport[i]), int(table.q_dport[i]))
            self.icmp[key].append(int(i))
        self.capture_end = dict(capture_end or {})  # file id -> last timestamp (given when table is a part)
        if len(table) and capture_end is None:
            file_id = table.file_id
            if file_id.min() == file_id.max():  # one file: no per-file masks over every packet
                self.capture_end[int(file_id[0])] = int(table.ts_ns.max())
            else:
                for fid in np.unique(file_id):
                    self.capture_end[int(fid)] = int(table.ts_ns[file_id == fid].max())
        self.stream_sharing = Counter(sharing) if sharing is not None else Counter(
            streams if streams is not None else [c.tcp_stream for c in conversations])
        self._matches: dict[tuple, object] = {}

    def match(self, syn_gaps: tuple[float, ...], syn_ttl: int):
        """:func:`~netreset.analyses.handshakes.schedules.match_schedule` remembered per (gaps, TTL): a port scan
        repeats the same few SYN schedules thousands of times, and each finding asks twice."""
        key = (syn_gaps, syn_ttl)
        if key not in self._matches:
            self._matches[key] = match_schedule(syn_gaps, syn_ttl, self.schedules)
        return self._matches[key]

    def icmp_for(self, v: View, start_ns: int, end_ns: int) -> list[int]:
        """ICMP error rows quoting orig → resp of this conversation, between two times."""
        c = v.conv
        return [i for i in self.icmp.get((c.orig_h, c.resp_h, c.orig_p, c.resp_p), [])
                if start_ns <= self.table.ts_ns[i] <= end_ns]

    def verdict(self, v: View, position: int):
        return self.verdicts.get((v.conv.id, int(v.frame[position])))


def conv_id(reset) -> int:
    conv = reset.conversation
    return int(getattr(conv, "id", conv))


def _verdict_index(resets) -> dict[tuple[int, int], object]:
    """Reset verdicts by (conversation id, frame); the last one wins, as in a dict display."""
    index = {}
    for r in resets:
        conv, frame = r.conversation, r.frame
        key = (conv if type(conv) is int else conv_id(r), frame if type(frame) is int else int(frame))
        index[key] = r
    return index


def make_finding(ctx: Context, v: View, kind: str, positions: Iterable[int], summary: str, **fields) -> HandshakeFinding:
    positions = sorted(set(int(p) for p in positions))
    frames = v.frame[positions].tolist() + list(fields.pop("extra_frames", ()))
    c = v.conv
    first_ts = float(v.ts[positions[0]]) / 1e9 if positions else c.ts
    shared = ctx.stream_sharing[c.tcp_stream] > 1
    span = (int(v.frame[0]), int(v.frame[-1])) if shared and len(v.frame) else None
    names_reset = bool(positions) and bool((v.flags[positions] & RST).any())
    return new_finding(dict(
        kind=kind, conversation=c.id, tcp_stream=c.tcp_stream, file_id=c.file_id, ts=first_ts,
        orig_h=c.orig_h, orig_p=c.orig_p, resp_h=c.resp_h, resp_p=c.resp_p, frames=tuple(frames),
        summary=summary, display_filter=display_filter(kind, c.tcp_stream, span, fields.pop("icmp_frames", ()),
                                                       names_reset),
        **fields,
    ))




def syns(v: View) -> np.ndarray:
    """orig's SYNs (no ACK, no RST), one per transmission."""
    return transmissions(v, v.where(v.orig & ((v.flags & (SYN | ACK | RST)) == SYN)))


def synacks(v: View) -> np.ndarray:
    """resp's SYN-ACKs, one per transmission."""
    return transmissions(v, v.where(~v.orig & ((v.flags & (SYN | ACK | RST)) == (SYN | ACK))))


def icmp_error(ctx: Context, row: int) -> tuple[str, bool, str]:
    """(description, rejects the connection, sender address) of one ICMP error row."""
    t = ctx.table
    kind = (int(t.proto[row]), int(t.icmp_type[row]), int(t.icmp_code[row]))
    name, rejects = ICMP_ERRORS.get(kind, ("error", False))
    label = "ICMPv6" if kind[0] == 58 else "ICMP"
    return f"{label} {name} (type {kind[1]} code {kind[2]})", rejects, t.book.name(int(t.src[row]))
