"""The two records every reset rule shares: what a rule saw (:class:`Observation`) and what it may look at
(:class:`ResetContext`).

A rule is a pure function ``rule(ctx) -> list[Observation]``. It never decides; it reports what it
observed, what a genuine RST from the claimed sender would have looked like, and a weight — the log-odds
the observation adds in favour of "a middlebox forged it" (positive) or "the peer sent it" (negative).
:mod:`netreset.analyses.resets.verdict` adds the weights up; :mod:`netreset.analyses.resets.registry`
lists every rule, with its batch twin; :mod:`netreset.analyses.resets.weights` holds the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from netreset.flows.model import Conversation
from netreset.packets.table import ACK
from netreset.analyses.ttl import TtlGuess, TtlTable, guess_ttl
from netreset.analyses.resets.weights import APPLICATION_TTLS


def worded(words: str | tuple) -> str:
    """A sentence kept as ``(function, *values)`` until someone reads it: formatting the sentences of
    tens of thousands of RSTs that no command prints cost more than judging them."""
    return words if isinstance(words, str) else words[0](*words[1:])


class Observation:
    """One piece of evidence about one RST.

    Its sentence (``detail``) is worded only when someone reads it: a capture can hold tens of thousands
    of RSTs and most outputs (``summary``, the outcome counts) never show the evidence. A rule passes
    either the sentence itself or ``(words, *args)`` — a function and the plain values it words — so no
    context object is kept alive. Read-only by convention (thousands are built per second); equality
    and hashing cover all five values, as for the frozen record it replaces.
    """

    __slots__ = ("code", "observed", "expected", "weight", "_detail")

    def __init__(self, code: str, observed: int | float | str | None, expected: int | float | str | None,
                 weight: float, detail: str | tuple) -> None:
        self.code = code  #: stable snake_case code, e.g. ``ttl_mismatch``
        self.observed = observed  #: what the RST showed (TTL, IP ID, seconds, ...)
        self.expected = expected  #: what a genuine RST from the claimed sender would show
        self.weight = weight  #: log-odds added towards "middlebox" (> 0) or "peer" (< 0); 0 = informative only
        self._detail = detail

    @property
    def detail(self) -> str:
        """One sentence a person can read (worded on first access, then kept)."""
        self._detail = worded(self._detail)
        return self._detail

    def _key(self) -> tuple:
        return self.code, self.observed, self.expected, self.weight, self.detail

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Observation) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Observation(code={self.code!r}, observed={self.observed!r}, expected={self.expected!r}, "
                f"weight={self.weight!r}, detail={self.detail!r})")

    def to_dict(self) -> dict:
        """The JSON form (evidence items of the ``locate-reset`` contract)."""
        detail = self._detail = worded(self._detail)  # as the property, without its attribute look-up
        return {
            "code": self.code,
            "observed": self.observed,
            "expected": self.expected,
            "weight": rounded_weight(self.weight),
            "detail": detail,
        }


def rounded_weight(weight: float) -> float:
    """``round(weight, 3)``, remembered per weight: the rules use a handful of constant weights, and
    rounding a float to 3 digits (a correctly rounded decimal conversion) cost more than the rest of an
    evidence item's record. Only non-zero exact floats are remembered: equal ones are the same number
    (unlike 0.0 and -0.0, or 1 and 1.0, which round to differently spelt values)."""
    if type(weight) is not float or not weight:
        return round(weight, 3)
    found = _ROUNDED.get(weight)
    if found is None:
        if len(_ROUNDED) >= 1024:  # NaNs (never equal) or unusual weights: start again
            _ROUNDED.clear()
        found = _ROUNDED[weight] = round(weight, 3)
    return found


_ROUNDED: dict[float, float] = {}


@dataclass(frozen=True, slots=True)
class IcmpSighting:
    """An ICMP error quoting the RST's conversation (either direction)."""

    ts_ns: int  #: capture time, ns since the epoch
    device: str  #: its source address: the device that sent it
    proto: int  #: 1 ICMP, 58 ICMPv6
    icmp_type: int
    icmp_code: int
    ttl: int  #: TTL it arrived with
    frame: int  #: its frame number


def application_set(ttl: int | None) -> bool:
    """The TTL is one applications set on purpose (:data:`~netreset.analyses.resets.weights.APPLICATION_TTLS`)."""
    return ttl in APPLICATION_TTLS


class TtlReader:
    """:func:`~netreset.analyses.ttl.guess_ttl` with one run's TTL table, remembered per value: a capture has few
    distinct TTLs and every RST reads several.

    A TTL applications set (:data:`~netreset.analyses.resets.weights.APPLICATION_TTLS`) that is no default of
    the table reads as itself: it arrived, so it crossed no router — TTL 1 is an eBGP neighbour 0 routers
    away, not a 32 sent from 31 routers away."""

    def __init__(self, table: TtlTable | None = None) -> None:
        self.table = table
        self._known: dict[int, TtlGuess] = {}

    def __call__(self, observed: int) -> TtlGuess:
        found = self._known.get(observed)
        if found is None:
            found = guess_ttl(observed, self.table)
            if observed in APPLICATION_TTLS and found.initial != observed:
                found = replace(found, initial=observed, routers_between=0, traceroute_hop=1,
                                family="application-set", ambiguous=False)
            self._known[observed] = found
        return found


@dataclass(slots=True)
class ResetContext:
    """Everything a rule may compare one RST with, as plain numbers (computed for all RSTs at once by
    :mod:`netreset.analyses.resets.context`; read-only by convention — thousands are built per second).
    "Sender" = the claimed sender's non-RST packets in this conversation before the RST; "other" =
    every packet of the other side before it."""

    conv: Conversation
    row: int  #: table row of the RST being judged
    from_orig: bool  #: True when the RST claims to come from the originator
    guess: TtlReader  #: reads a TTL with the run's TTL table
    # ── the RST itself ──
    frame: int
    ts_ns: int
    src: str  #: the RST's source address (text)
    dst: str  #: the RST's destination address (text)
    sport: int
    dport: int
    ttl: int
    ip_version: int
    ip_id: int  #: -1 when absent (IPv6)
    df: bool
    win: int
    ts_val: int  #: -1 when the RST carries no TCP timestamps
    flags: int
    seq: int
    ack: int
    # ── the claimed sender's packets before the RST ──
    sender_count: int  #: how many
    sender_ttl: int | None  #: its reference TTL: of the last kernel-made one (SYN, SYN-ACK, no payload) whose
    #: TTL is no application's (:data:`~netreset.analyses.resets.weights.APPLICATION_TTLS`), else of the last
    #: one with such a TTL, else of the last one
    sender_ttl_gap: int | None  #: smallest |TTL − RST TTL| over them
    sender_df: bool | None  #: DF bit of the first one
    sender_df_uniform: bool  #: all of them have the same DF bit
    sender_win: int | None  #: window of the last one
    sender_has_ip_id: bool  #: one of them carries the RST's IP ID
    sender_has_win: bool  #: one of them carries the RST's window
    sender_closed: bool  #: one of them is a FIN
    segments: int  #: how many are not SYNs
    segments_without_ts: int  #: ... of which carry no TCP timestamps
    ipid_nonzero: int  #: how many have a non-zero IP ID
    ipid_breaks: int  #: steps between consecutive non-zero IP IDs that no counter makes
    ipid_step_sum: int  #: sum of those steps (mod 65536)
    ipid_last: int | None  #: last non-zero IP ID
    ipid_first_ts: int | None  #: capture time of the first non-zero IP ID
    ipid_last_ts: int | None  #: capture time of the last non-zero IP ID
    seq_base: int | None  #: seq of the sender's first non-RST packet in the conversation
    seq_next: int | None  #: highest seq end sent before the RST, relative to seq_base (serial)
    ack_max: int | None  #: highest ack the other side sent before the RST, relative to seq_base; None: no ACK
    receive_window: int | None  #: the other side's last advertised window in bytes (scaled), None: none
    # ── the other side's packets before the RST ──
    other_count: int
    other_ip_id: int | None  #: IP ID of the last one
    other_frame: int | None  #: frame of the last one
    other_win: int | None  #: window of the last one
    other_ts: int | None  #: capture time of the last one
    # ── the sender elsewhere, and after the RST ──
    host_ttl: int | None  #: the sender's most common TTL over the capture (non-RST packets), one no
    #: application sets preferred
    host_ttl_gap: int | None  #: smallest |TTL − RST TTL| over every TTL it used
    host_ttls: int  #: distinct TTLs it used (at its own hop)
    #: the sender's own TTL when packets in its name came from a nearer device somewhere in the capture (its
    #: TTLs more than the tolerance nearer than its farthest: :func:`~netreset.analyses.resets.pairs.own_hop_keys`)
    host_own_ttl: int | None
    host_own_ports: tuple[int, ...]  #: ports (not the RST's) it answered handshakes on from its own hop
    #: most routers away any of its kernel-TTL packets here can plausibly have come from (pairs.ttl_reach)
    sender_routers_max: int | None
    #: its SYN-ACK here carries other options (MSS, window scale, SACK, timestamps) than every SYN-ACK it
    #: answered with from its own hop (False where either is unseen, or its hops agree)
    synack_options_differ: bool
    rtt: float | None  #: handshake round trip to the claimed sender, seconds
    after_count: int  #: its non-RST packets in this conversation after the RST
    after_frame: int | None  #: the first of them
    new_count: int  #: ... of which carry new data (beyond the RST's seq)
    new_frame: int | None  #: the first of those
    # ── the sender's other RSTs within the Weaver burst window ──
    partners: int
    seq_jump: bool  #: one partner's seq jumps beyond anything sent or acknowledged
    seq_spread: int | None  #: largest partner seq relative to this RST's (serial)
    earlier_acks: int  #: partners before this RST carrying ACK
    acks_differ: bool  #: ... whose ack differs from this RST's
    last_ack: int | None  #: ack of the last of them
    ack_justified: bool  #: the other side sent a packet ending at this RST's ack
    # ── RSTs of other claimed senders numbered from the same IP ID counter (the whole capture) ──
    shared_senders: int  #: claimed senders of the RST's shared IP ID sequence (0: it is in none)
    shared_rsts: int  #: RSTs in that sequence
    shared_own: bool  #: a claimed sender's own SYN or SYN-ACK is numbered from that counter too
    icmp: tuple[IcmpSighting, ...]  #: ICMP errors quoting the conversation

    @property
    def looks_stateless(self) -> bool:
        """The RST looks like a kernel's reply from no socket: after the sender's FIN, without ACK, or
        without the TCP timestamps the sender put on its segments. Such RSTs are built apart from the
        connection (Linux ``tcp_v4_send_reset``): other IP ID counter, no options."""
        if self.sender_closed or not self.flags & ACK:
            return True
        used_ts = self.segments > 0 and not self.segments_without_ts
        return used_ts and self.ts_val < 0

    @property
    def sender_name(self) -> str:
        """Text address of the claimed sender."""
        return self.conv.orig_h if self.from_orig else self.conv.resp_h

    @property
    def receiver_name(self) -> str:
        """Text address of the side the RST was addressed to."""
        return self.conv.resp_h if self.from_orig else self.conv.orig_h
