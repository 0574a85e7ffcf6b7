"""The two records every reset rule shares: what a rule saw (:class:`Observation`) and what it may look at
(:class:`ResetContext`).

A rule is a pure function ``rule(ctx) -> list[Observation]``. It never decides; it reports what it
observed, what a genuine RST from the claimed sender would have looked like, and a weight — the log-odds
the observation adds in favour of "a middlebox forged it" (positive) or "the peer sent it" (negative).
:mod:`netreset.resets.verdict` adds the weights up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netreset.conversations import Conversation
from netreset.packets import ACK, FIN, SYN, PacketTable
from netreset.ttl import TtlTable


@dataclass(frozen=True)
class Observation:
    """One piece of evidence about one RST."""

    code: str  #: stable snake_case code, e.g. ``ttl_mismatch``
    observed: int | float | str | None  #: what the RST showed (TTL, IP ID, seconds, ...)
    expected: int | float | str | None  #: what a genuine RST from the claimed sender would show
    weight: float  #: log-odds added towards "middlebox" (> 0) or "peer" (< 0); 0 = informative only
    detail: str  #: one sentence a person can read

    def to_dict(self) -> dict:
        """The JSON form (evidence items of the ``locate-reset`` contract)."""
        return {
            "code": self.code,
            "observed": self.observed,
            "expected": self.expected,
            "weight": round(self.weight, 3),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class HostTtls:
    """TTLs of one address's non-RST packets over the whole capture (its other conversations)."""

    values: np.ndarray  #: distinct TTL values, ascending
    counts: np.ndarray  #: packets per value

    @property
    def most_common(self) -> int | None:
        """The TTL most of the host's packets arrive with; None when it sent nothing else."""
        return int(self.values[np.argmax(self.counts)]) if len(self.values) else None


@dataclass(frozen=True)
class ResetContext:
    """Everything a rule may compare one RST with. Row arrays index the :class:`PacketTable`."""

    table: PacketTable
    conv: Conversation
    row: int  #: table row of the RST being judged
    pos: int  #: position of the RST inside ``conv.rows``
    from_orig: bool  #: True when the RST claims to come from the originator
    sender: np.ndarray  #: claimed sender's non-RST packets in this conversation, before the RST
    sender_after: np.ndarray  #: claimed sender's non-RST packets in this conversation, after the RST
    sender_rsts: np.ndarray  #: every RST claimed by the same sender in this conversation (this one too)
    other: np.ndarray  #: the other side's packets in this conversation, before the RST
    host: HostTtls  #: claimed sender's TTLs outside this conversation's packets (fallback reference)
    icmp: np.ndarray  #: ICMP/ICMPv6 error rows quoting this conversation
    ttl_table: TtlTable | None = None  #: TTL knowledge (None = the shipped table)

    def value(self, column: str, row: int | None = None) -> int:
        """One field of the RST (or of ``row``) as a Python int."""
        return int(self.table.columns[column][self.row if row is None else row])

    def column(self, column: str, rows: np.ndarray) -> np.ndarray:
        """A column restricted to ``rows``."""
        return self.table.columns[column][rows]

    @property
    def sender_closed(self) -> bool:
        """The claimed sender sent its FIN before the RST (its socket may already be gone)."""
        return bool(np.any(self.column("flags", self.sender) & FIN))

    @property
    def looks_stateless(self) -> bool:
        """The RST looks like a kernel's reply from no socket: after the sender's FIN, without ACK, or
        without the TCP timestamps the sender put on its segments. Such RSTs are built apart from the
        connection (Linux ``tcp_v4_send_reset``): other IP ID counter, no options."""
        if self.sender_closed or not self.value("flags") & ACK:
            return True
        segments = self.sender[(self.column("flags", self.sender) & SYN) == 0]
        used_ts = len(segments) > 0 and bool(np.all(self.column("ts_val", segments) >= 0))
        return used_ts and self.value("ts_val") < 0

    @property
    def sender_name(self) -> str:
        """Text address of the claimed sender."""
        return self.conv.orig_h if self.from_orig else self.conv.resp_h

    @property
    def receiver_name(self) -> str:
        """Text address of the side the RST was addressed to."""
        return self.conv.resp_h if self.from_orig else self.conv.orig_h
