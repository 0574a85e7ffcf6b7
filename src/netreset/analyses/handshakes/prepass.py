"""The opening rules' first questions, answered for every suspect conversation at once.

A port scan or a blocked service yields thousands of short conversations that never got a SYN-ACK:
their finding is ``syn_unanswered`` or ``refused`` (by RST). Asking each one "which packets are SYN
transmissions, was there a SYN-ACK, did resp reset after the first SYN?" costs a dozen numpy calls
per conversation; here the same masks run once over all views concatenated.

The answer is exact, not a heuristic: a view is handed back to the general rules (``None``) unless
its SYN and refusing-RST candidates contain no copy of the candidate just before them — then
:func:`~netreset.analyses.handshakes.model.transmissions` keeps every candidate, because each one is compared
with its predecessor, which was itself kept.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from netreset.analyses.handshakes.model import DUPLICATE_WINDOW_NS, View
from netreset.packets.table import ACK, RST, SYN

#: (branch, SYN positions, refusing RST positions): branch "none" (no SYN), "refused" or "no_answer".
Opening = tuple[str, np.ndarray, np.ndarray]


def opening_facts(vs: Sequence[View]) -> list[Opening | None]:
    """Per view: the branch of the opening rules and its positions, or None for the general rules
    (a SYN-ACK was sent, or a candidate repeats the one before it)."""
    if not vs:
        return []
    n = len(vs)
    lengths = np.fromiter((len(v.rows) for v in vs), dtype=np.int64, count=n)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    idx = np.repeat(np.arange(n), lengths)
    orig, flags, seq, ip_id, ts = (np.concatenate([getattr(v, name) for v in vs])
                                   for name in ("orig", "flags", "seq", "ip_id", "ts"))
    pos = np.arange(len(idx)) - starts[idx]
    hs = flags & (SYN | ACK | RST)
    general = np.bincount(idx[~orig & (hs == (SYN | ACK))], minlength=n) > 0
    syn = np.flatnonzero(orig & (hs == SYN))
    first_syn = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_syn, idx[syn], pos[syn])
    refusing = np.flatnonzero(~orig & ((flags & RST) != 0) & (pos > first_syn[idx]))
    general |= _repeats(syn, idx, pos, seq, flags, ip_id, ts, n) | _repeats(refusing, idx, pos, seq, flags, ip_id, ts, n)
    syn_at = np.searchsorted(idx[syn], np.arange(n + 1)).tolist()
    rst_at = np.searchsorted(idx[refusing], np.arange(n + 1)).tolist()
    syn_pos, rst_pos = pos[syn], pos[refusing]
    facts: list[Opening | None] = []
    for i, skip in enumerate(general.tolist()):
        if skip:
            facts.append(None)
            continue
        syns, rsts = syn_pos[syn_at[i]:syn_at[i + 1]], rst_pos[rst_at[i]:rst_at[i + 1]]
        branch = "none" if not len(syns) else "refused" if len(rsts) else "no_answer"
        facts.append((branch, syns, rsts))
    return facts


def _repeats(candidates: np.ndarray, idx, pos, seq, flags, ip_id, ts, n: int) -> np.ndarray:
    """Per view: some candidate is a capture copy of the candidate before it (the test of
    :func:`~netreset.analyses.handshakes.model.transmissions`)."""
    a, b = candidates[:-1], candidates[1:]
    copy = ((idx[a] == idx[b]) & (seq[a] == seq[b]) & (flags[a] == flags[b]) & (ip_id[a] == ip_id[b])
            & ((ip_id[b] > 0) | (pos[b] == pos[a] + 1)) & (ts[b] - ts[a] < DUPLICATE_WINDOW_NS))
    return np.bincount(idx[b[copy]], minlength=n) > 0
