"""How a connection closed: the 4-way teardown rules.

The side that sent the first FIN is the *closer*. A teardown is complete when the other side sent its
own FIN and both FINs were acknowledged; a RST after that is the reset analysis' business. Otherwise:
- a RST after the first FIN (from either side) → ``teardown_incomplete`` ("FIN followed by RST");
- the first FIN never acknowledged → ``teardown_incomplete`` (the other side went silent);
- the FIN acknowledged but the other side never sent its own → ``half_closed``;
- both FINs sent but the second one never acknowledged → ``teardown_incomplete`` (last ACK missing).
A side that sent no packet at all cannot be judged (a one-sided capture) and yields nothing.
"""

from __future__ import annotations

import numpy as np

from netreset.analyses.handshakes.model import (
    Context,
    HandshakeFinding,
    View,
    make_finding,
    seq_at_or_after,
    transmissions,
)
from netreset.analyses.handshakes.text import TeardownFacts, teardown_summary
from netreset.packets.table import ACK, FIN, RST


def _acked(v: View, fin: int, by_orig: bool) -> bool:
    """Whether a packet of the side ``by_orig`` after ``fin`` acknowledges the FIN's sequence number."""
    covers = (int(v.seq[fin]) + int(v.plen[fin]) + 1) & 0xFFFFFFFF
    later = np.arange(len(v.rows)) > fin
    acks = v.where(later & (v.orig == by_orig) & ((v.flags & ACK) != 0))
    return bool(len(acks)) and bool(seq_at_or_after(v.ack[acks], covers).any())


def closing_findings(ctx: Context, v: View) -> list[HandshakeFinding]:
    """At most one finding about how the connection closed (or failed to)."""
    fins = v.where((v.flags & FIN) != 0)
    if not len(fins):
        return []
    first = int(fins[0])
    closer_is_orig = bool(v.orig[first])
    if not (v.orig != closer_is_orig).any():
        return []  # the other side sent nothing at all: one-sided capture
    other_fins = transmissions(v, v.where(((v.flags & FIN) != 0) & (v.orig != closer_is_orig)))
    fin_acked = _acked(v, first, not closer_is_orig)
    last_acked = bool(len(other_fins)) and _acked(v, int(other_fins[0]), closer_is_orig)
    if len(other_fins) and fin_acked and last_acked:
        return []
    return [_teardown(ctx, v, first, other_fins, fin_acked, last_acked)]


def _teardown(ctx: Context, v: View, first: int, other_fins: np.ndarray, fin_acked: bool,
              last_acked: bool) -> HandshakeFinding:
    closer_is_orig = bool(v.orig[first])
    later = np.arange(len(v.rows)) > first
    rsts = v.where(((v.flags & RST) != 0) & later)
    rst = int(rsts[0]) if len(rsts) else None
    found = ctx.verdict(v, rst) if rst is not None else None
    facts = TeardownFacts(
        closer="orig" if closer_is_orig else "resp",
        closer_fins=len(transmissions(v, v.where(((v.flags & FIN) != 0) & (v.orig == closer_is_orig)))),
        other_fins=len(other_fins), fin_acked=fin_acked, last_acked=last_acked,
        answer_delay_s=float(v.ts[other_fins[0]] - v.ts[first]) / 1e9 if len(other_fins) else None,
        rst_side=None if rst is None else ("orig" if v.orig[rst] else "resp"),
        verdict=str(found.verdict) if found is not None else None,
        later_bytes=int(v.plen[later & (v.orig != closer_is_orig)].sum()),
        tail_s=(ctx.capture_end.get(v.conv.file_id, int(v.ts[-1])) - int(v.ts[first])) / 1e9,
    )
    kind = "half_closed" if rst is None and fin_acked and not len(other_fins) else "teardown_incomplete"
    confidence = getattr(found, "confidence", None) if found is not None else None
    positions = [*v.where(((v.flags & FIN) != 0) & (v.orig == closer_is_orig))[:1], *other_fins[:1]]
    return make_finding(
        ctx, v, kind, positions + ([rst] if rst is not None else []), teardown_summary(v.conv, facts),
        closer=facts.closer, fin_answered=bool(len(other_fins)), fin_acked=fin_acked, reset_after_fin=facts.rst_side,
        silent_side=None if rst is not None else facts.silent_side(), verdict=facts.verdict,
        confidence=float(confidence) if confidence is not None else None,
    )
