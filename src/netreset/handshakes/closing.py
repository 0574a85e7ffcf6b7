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

from netreset.handshakes.model import Context, HandshakeFinding, View, make_finding, seq_at_or_after, transmissions
from netreset.handshakes.text import teardown_summary
from netreset.packets import ACK, FIN, RST


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
    other_fins = v.where(((v.flags & FIN) != 0) & (v.orig != closer_is_orig))
    fin_acked = _acked(v, first, not closer_is_orig)
    answered = bool(len(other_fins))
    last_acked = answered and _acked(v, int(other_fins[0]), closer_is_orig)
    rsts = v.where(((v.flags & RST) != 0) & (np.arange(len(v.rows)) > first))
    if answered and fin_acked and last_acked:
        return []
    return [_teardown(ctx, v, first, other_fins, rsts, fin_acked, last_acked)]


def _teardown(ctx: Context, v: View, first: int, other_fins: np.ndarray, rsts: np.ndarray,
              fin_acked: bool, last_acked: bool) -> HandshakeFinding:
    closer_is_orig = bool(v.orig[first])
    closer, other = ("orig", "resp") if closer_is_orig else ("resp", "orig")
    answered = bool(len(other_fins))
    rst = int(rsts[0]) if len(rsts) else None
    rst_side = None if rst is None else ("orig" if v.orig[rst] else "resp")
    kind = "half_closed" if rst is None and fin_acked and not answered else "teardown_incomplete"
    silent = other if not (fin_acked and answered) else closer
    closer_fins = transmissions(v, v.where(((v.flags & FIN) != 0) & (v.orig == closer_is_orig)))
    found = ctx.verdict(v, rst) if rst is not None else None
    verdict = str(found.verdict) if found is not None else None
    tail_s = (ctx.capture_end.get(v.conv.file_id, int(v.ts[-1])) - int(v.ts[first])) / 1e9
    after = (np.arange(len(v.rows)) > first) & (v.orig != closer_is_orig)
    later_bytes = int(v.plen[after].sum())
    summary = teardown_summary(v.conv, closer, len(closer_fins), fin_acked, answered, last_acked, rst_side,
                               verdict, later_bytes, tail_s)
    positions = [*closer_fins, *other_fins[:1], *([rst] if rst is not None else [])]
    return make_finding(
        ctx, v, kind, positions, summary, closer=closer, fin_answered=answered, fin_acked=fin_acked,
        reset_after_fin=rst_side, silent_side=None if rst is not None else silent, verdict=verdict,
        confidence=float(found.confidence) if found is not None and getattr(found, "confidence", None) is not None else None,
    )
