"""A vectorised pre-check that clears the (many) conversations whose handshake and teardown are clean.

The opening and closing rules walk one conversation at a time; on a capture with 100k healthy
connections that walk would dominate the run. This screen computes, for all conversations at once
with numpy, a *sufficient* condition for "no rule can fire" — one SYN and one SYN-ACK acknowledged
later by orig, and either no FIN or both FINs acknowledged — and leaves every other conversation to
the rules. It may send a clean conversation to the rules (a duplicate SYN copy, say); it never clears
one the rules would report (``tests/test_handshakes.py`` checks this property on random conversations).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from netreset.conversations import Conversation
from netreset.handshakes.model import Gathered, gather
from netreset.packets import ACK, FIN, PROTO_TCP, RST, SYN, PacketTable

_MOD = 0xFFFFFFFF
_HALF = 0x80000000


def _first(index: np.ndarray, mask: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    """Per conversation, the smallest position where ``mask`` holds (len(pos) when never)."""
    out = np.full(n, len(pos), dtype=np.int64)
    np.minimum.at(out, index[mask], pos[mask])
    return out


def _last(index: np.ndarray, mask: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    """Per conversation, the largest position where ``mask`` holds (-1 when never)."""
    out = np.full(n, -1, dtype=np.int64)
    np.maximum.at(out, index[mask], pos[mask])
    return out


def _fin_covered(fin: np.ndarray, last_ack: np.ndarray, seq, plen, ack) -> np.ndarray:
    """The other side's last ACK comes after this side's first FIN and acknowledges it."""
    present = (fin < len(seq)) & (last_ack > fin)
    fin_i, ack_i = np.where(present, fin, 0), np.where(present, last_ack, 0)
    end = (seq[fin_i] + plen[fin_i] + 1) & _MOD
    return present & (((ack[ack_i] - end) & _MOD) < _HALF)


def needs_rules(table: PacketTable, conversations: Sequence[Conversation], gathered: Gathered | None = None) -> np.ndarray:
    """Bool per conversation: False only when its handshake and teardown are certainly clean.
    ``gathered``: :func:`~netreset.handshakes.model.gather` of exactly these conversations."""
    n = len(conversations)
    if n == 0:
        return np.zeros(0, dtype=bool)
    rows, orig, lengths = gathered if gathered is not None else gather(conversations)
    index = np.repeat(np.arange(n), lengths)
    tcp = table.proto[rows] == PROTO_TCP
    rows, orig, index = rows[tcp], orig[tcp], index[tcp]
    flags = table.flags[rows].astype(np.int64)
    seq, ack = table.seq[rows].astype(np.int64), table.ack[rows].astype(np.int64)
    plen = table.payload_len[rows].astype(np.int64)
    pos = np.arange(len(rows))
    hs = flags & (SYN | ACK | RST)
    syn_count = np.bincount(index[orig & (hs == SYN)], minlength=n)
    synack = ~orig & (hs == (SYN | ACK))
    completed = _last(index, orig & (hs == ACK), pos, n) > _first(index, synack, pos, n)
    opening_ok = (syn_count == 0) | ((syn_count == 1) & (np.bincount(index[synack], minlength=n) == 1) & completed)
    fin = (flags & FIN) != 0
    has_ack = (flags & ACK) != 0
    orig_fin, resp_fin = _first(index, fin & orig, pos, n), _first(index, fin & ~orig, pos, n)
    orig_done = _fin_covered(orig_fin, _last(index, has_ack & ~orig, pos, n), seq, plen, ack)
    resp_done = _fin_covered(resp_fin, _last(index, has_ack & orig, pos, n), seq, plen, ack)
    closing_ok = (np.bincount(index[fin], minlength=n) == 0) | (orig_done & resp_done)
    return ~(opening_ok & closing_ok)
