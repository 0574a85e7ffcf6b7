"""Small facts several figures read from the analysis: verdicts as dicts, each side's TTL, ICMP-named hops.

Figures accept reset verdicts either as ``ResetVerdict`` objects or as their ``to_dict()`` form, so a
figure can be drawn from a live analysis or from a saved ``locate-reset --format json`` document.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from netreset.flows.model import Conversation
from netreset.packets.table import PROTO_TCP, RST, PacketTable
from netreset.analyses.ttl import TtlGuess, TtlTable, guess_ttl


def verdict_dicts(reset_verdicts: Iterable) -> list[dict]:
    """Every verdict in its ``to_dict()`` form (dicts pass through unchanged)."""
    return [v if isinstance(v, dict) else v.to_dict() for v in reset_verdicts]


def verdicts_by_frame(reset_verdicts: Iterable, conversation_id: int) -> dict[int, dict]:
    """The verdicts of one conversation, keyed by the RST's frame number."""
    return {v["frame"]: v for v in verdict_dicts(reset_verdicts) if v.get("conversation") == conversation_id}


def usual_ttl(table: PacketTable, rows: np.ndarray) -> int | None:
    """The TTL most of these rows arrived with, RSTs left out (they are what is being judged)."""
    if len(rows) == 0:
        return None
    keep = rows[(table.flags[rows] & RST) == 0]
    ttls = table.ttl[keep if len(keep) else rows]
    ttls = ttls[ttls >= 0]
    return int(Counter(ttls.tolist()).most_common(1)[0][0]) if len(ttls) else None


@dataclass(frozen=True)
class SideTtls:
    """What each side's own packets say about its distance from the capture point."""

    orig: TtlGuess | None  #: None when orig sent nothing with a TTL
    resp: TtlGuess | None

    def capture_fraction(self) -> float:
        """Where the capture point sits between orig (0.0) and resp (1.0), by routers on each side."""
        a = self.orig.routers_between if self.orig else None
        b = self.resp.routers_between if self.resp else None
        if a is None or b is None:
            # one side never spoke: the capture sits at the other side only when that side is local
            return 0.0 if a == 0 else 1.0 if b == 0 else 0.5
        return 0.5 if a + b == 0 else a / (a + b)


def side_ttls(table: PacketTable, conversation: Conversation, ttl_table: TtlTable | None = None) -> SideTtls:
    """Usual TTL of each side of a conversation, read as initial TTL and routers between."""
    rows, from_orig = conversation.rows, conversation.from_orig
    guesses = []
    for rows_of_side in (rows[from_orig], rows[~from_orig]):
        ttl = usual_ttl(table, rows_of_side)
        guesses.append(guess_ttl(ttl, ttl_table) if ttl is not None else None)
    return SideTtls(*guesses)


def host_ttl(table: PacketTable, address: str) -> int | None:
    """The usual TTL of every TCP packet an address sent in the capture (its other conversations too)."""
    ids = [i for i, a in enumerate(table.book.addresses) if a == address]
    if not ids:
        return None
    rows = np.flatnonzero((table.src == ids[0]) & (table.proto == PROTO_TCP))
    return usual_ttl(table, rows)


def icmp_named_hops(table: PacketTable, conversation: Conversation,
                    ttl_table: TtlTable | None = None) -> dict[int, str]:
    """Devices that named themselves with an ICMP error quoting this conversation: traceroute hop → address."""
    icmp = np.flatnonzero(table.proto != PROTO_TCP)
    named: dict[int, str] = {}
    ends = {(conversation.orig_h, conversation.orig_p), (conversation.resp_h, conversation.resp_p)}
    for row in icmp:
        quoted = {(table.book.name(int(table.q_src[row])), int(table.q_sport[row])),
                  (table.book.name(int(table.q_dst[row])), int(table.q_dport[row]))}
        if quoted == ends and table.ttl[row] >= 0:
            hop = guess_ttl(int(table.ttl[row]), ttl_table).traceroute_hop
            named.setdefault(hop, table.book.name(int(table.src[row])))
    return named
