"""Where one Zeek connection ends and the next begins on the same tuple, compiled (numba).

The boundary walk of :func:`netreset.flows.conversations.split_connections` (Zeek's timers, ``IsReuse``,
the flips of a connection first seen without a SYN) and ``conn_state()``, over the packets of all
tuples at once, driving the machine of :mod:`netreset.flows.compiled.tcpstate`. One call classifies a whole
capture; the per-conversation results come back in flat arrays (one entry per conversation, in
the order the walk met them) so that Python touches each conversation once and no packet at all.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from netreset.flows.compiled.tcpstate import (
    ACK, ACTIVE, ATTEMPT_AT, CLOSED, CONN_SLOTS, DELETE_AT, DID_CLOSE, EP_SLOTS, ESTABLISHED, EXP,
    EXP_N, HP, HS, INACT, INACT_AT, INACTIVE, KEY0, LAST_TIME, LINGER, NONE, O, PARTIAL, RESET, REXMITS, RST,
    SESSION_TIMER, START_SEQ, STATE, SYN, SYN_ACK_SENT, SYN_SENT, _OTH, _REJ, _RSTO, _RSTOS0, _RSTR, _RSTRH,
    _S0, _S1, _S2, _S3, _SF, _SH, _SHR, add_expire, feed, open_connection, size,
)
from netreset.runtime.compiled import NUMBA_OPTIONS


# -- timers ------------------------------------------------------------------------------------
@nb.njit(**NUMBA_OPTIONS)
def removed_by(c, e, tm, t):
    """ZeekConnection.removed_by: run every timer due at or before ``t``; True when one removed it."""
    if c[INACT_AT] != NONE and t < c[INACT_AT] and c[EXP_N] == 0 and c[ATTEMPT_AT] == NONE \
            and c[DELETE_AT] == NONE:
        return False
    while True:
        first = min(c[ATTEMPT_AT], c[DELETE_AT], c[INACT_AT])
        for k in range(c[EXP_N]):
            first = min(first, c[EXP + k])
        if first == NONE or first > t:
            return False
        if _fire(c, e, tm, first):
            return True


@nb.njit(**NUMBA_OPTIONS)
def _fire(c, e, tm, when):
    if c[DELETE_AT] == when:
        return True
    if c[INACT_AT] == when:
        if c[LAST_TIME] + c[INACT] <= when:
            return True
        c[INACT_AT] = c[LAST_TIME] + c[INACT]
    if c[ATTEMPT_AT] == when:
        c[ATTEMPT_AT] = NONE
        o = c[O]
        if c[ACTIVE] and (e[o, STATE] == SYN_SENT or e[o, STATE] == SYN_ACK_SENT) \
                and e[1 - o, STATE] == INACTIVE:
            return True
    for k in range(c[EXP_N]):
        if c[EXP + k] == when:
            c[EXP_N] -= 1
            c[EXP + k] = c[EXP + c[EXP_N]]
            if c[ACTIVE]:
                if _expired(c, e, tm, when):
                    return True
                add_expire(c, when + tm[SESSION_TIMER])
            break
    return False


@nb.njit(**NUMBA_OPTIONS)
def _expired(c, e, tm, when):
    """TCPSessionAdapter::ExpireTimer's removal test."""
    os_, rs = e[c[O], STATE], e[1 - c[O], STATE]
    if c[LAST_TIME] + tm[LINGER] >= when:
        return False
    o_closed, r_closed = e[c[O], DID_CLOSE], e[1 - c[O], DID_CLOSE]
    if o_closed or r_closed:
        if (o_closed and r_closed) or os_ == RESET or rs == RESET or os_ == INACTIVE or rs == INACTIVE:
            return True
    return os_ == INACTIVE and rs == INACTIVE


# -- reuse and classification ------------------------------------------------------------------
@nb.njit(**NUMBA_OPTIONS)
def is_reuse(c, e, flags, seq):
    """TCPSessionAdapter::IsReuse: does this SYN start a new connection on the same tuple?"""
    if not flags & SYN:
        return False
    o = c[O]
    r = 1 - o
    conn_orig = o
    if flags & ACK:
        if e[o, STATE] != INACTIVE:
            return False
        conn_orig = r
    if e[o, DID_CLOSE] or e[r, DID_CLOSE]:
        return True
    if seq == e[conn_orig, START_SEQ]:
        return False
    return not (not flags & ACK and e[conn_orig, STATE] == SYN_ACK_SENT and e[r, STATE] == INACTIVE
                and seq == e[r, START_SEQ])


@nb.njit(**NUMBA_OPTIONS)
def _rstos0_history(c, hist):
    """Whether the history fully matches ``^?S[^HAFGIQ]*R.*`` (Zeek's RSTOS0 test)."""
    i, end = c[HS], c[HP]
    if i < end and hist[i] == 94:
        i += 1
    if i >= end or hist[i] != 83:
        return False
    for j in range(i + 1, end):
        ch = hist[j]
        if ch == 82:
            return True
        if ch == 72 or ch == 65 or ch == 70 or ch == 71 or ch == 73 or ch == 81:
            return False
    return False


@nb.njit(**NUMBA_OPTIONS)
def conn_state(c, e, hist):
    """conn_state() of Zeek's base/protocols/conn/main.zeek, in its decision order (a CONN_STATES index)."""
    o, r = c[O], 1 - c[O]
    os_, rs = e[o, STATE], e[r, STATE]
    o_inactive = os_ == INACTIVE or os_ == PARTIAL
    r_inactive = rs == INACTIVE or rs == PARTIAL
    if rs == RESET:
        if os_ == SYN_SENT or os_ == SYN_ACK_SENT or (os_ == RESET and size(e, o) == 0 and size(e, r) == 0):
            return _REJ
        return _RSTRH if o_inactive else _RSTR
    if os_ == RESET:
        if r_inactive:
            return _RSTOS0 if _rstos0_history(c, hist) else _OTH
        return _RSTO
    if rs == CLOSED and os_ == CLOSED:
        return _SF
    if os_ == CLOSED:
        return _SH if r_inactive else _S2
    if rs == CLOSED:
        return _SHR if o_inactive else _S3
    if os_ == SYN_SENT and rs == INACTIVE:
        return _S0
    if os_ == ESTABLISHED and rs == ESTABLISHED:
        return _S1
    return _OTH


# -- the walk ----------------------------------------------------------------------------------
@nb.njit(**NUMBA_OPTIONS)
def wants_flip(flags, sport, dport, server_port):
    """Zeek's WantConnection: flip a connection first seen without a SYN when it comes from a server port."""
    if flags & SYN and not flags & ACK:
        return False
    if server_port[sport]:
        if server_port[dport]:
            return not flags & SYN and sport < dport
        return True
    return False


@nb.njit(**NUMBA_OPTIONS)
def _late_flip(c, e, flags, length):
    """Still only SYN-ACKs from orig, and now an ack or data segment."""
    return (e[c[O], STATE] == SYN_ACK_SENT and e[1 - c[O], STATE] == INACTIVE
            and not flags & (SYN | RST) and (flags & ACK != 0 or length != 0))


@nb.njit(**NUMBA_OPTIONS)
def split_all(group_start, ts, net, key, other, flags, seq, ack, length, win, bad, server_port, tm, hist, out, now):
    """Walk every tuple's packets (sorted arrays; tuple g is ``group_start[g]:group_start[g + 1]``)
    through Zeek's machine; ``net`` is Zeek's network time at each packet, by which timers fire
    (:func:`netreset.flows.tcpstate.network_time`). Fills ``out`` (rows: OUT_* fields, one column per conversation) and
    ``hist`` (history letters); returns the number of conversations. ``OUT_GONE`` says whether Zeek has
    removed the connection by time ``now`` (its timers run that far with no further packet): always
    for a connection another one followed on its tuple; never when ``now`` is negative."""
    c = np.zeros(CONN_SLOTS, dtype=np.int64)
    e = np.zeros((2, EP_SLOTS), dtype=np.int64)
    k = 0
    for g in range(len(group_start) - 1):
        first, replay = group_start[g], False
        for i in range(group_start[g], group_start[g + 1]):
            t, f = ts[i], flags[i]
            new = i == first
            if not new and (removed_by(c, e, tm, net[i]) or is_reuse(c, e, f, seq[i])):
                _finish(c, e, hist, out, k - 1)
                out[OUT_GONE, k - 1] = 1
                new, first = True, i
            if new:
                out[OUT_START, k] = i
                k += 1
                flip = wants_flip(f, key[i] & 0xFFFF, other[i] & 0xFFFF, server_port)
                open_connection(c, e, hist, tm, t, key[i], other[i], flip, c[HP])
                replay = f & (SYN | ACK | RST) == SYN | ACK and c[HP] == c[HS]
            elif replay and _late_flip(c, e, f, length[i]):
                # Zeek flips a connection that began with a SYN-ACK once an ack or data follows it,
                # and logs it as if it had been flipped from the start: replay it that way.
                orig_key, resp_key = c[KEY0 + c[O]], c[KEY0 + 1 - c[O]]
                open_connection(c, e, hist, tm, ts[first], orig_key, resp_key, True, c[HS])
                for j in range(first, i):
                    feed(c, e, hist, tm, ts[j], key[j], flags[j], seq[j], ack[j], length[j], win[j], bad[j])
                replay = False
            feed(c, e, hist, tm, t, key[i], f, seq[i], ack[i], length[i], win[i], bad[i])
        _finish(c, e, hist, out, k - 1)
        out[OUT_GONE, k - 1] = now >= 0 and removed_by(c, e, tm, now)  # after _finish: timers change no state
    return k


OUT_START, OUT_STATE, OUT_ORIG, OUT_HIST_END, OUT_REXMITS, OUT_ORIG_SIZE, OUT_RESP_SIZE, OUT_GONE, OUT_LAST_TIME = range(9)
OUT_FIELDS = 9


@nb.njit(**NUMBA_OPTIONS)
def _finish(c, e, hist, out, k):
    o = c[O]
    out[OUT_STATE, k] = conn_state(c, e, hist)
    out[OUT_ORIG, k] = c[KEY0 + o]
    out[OUT_HIST_END, k] = c[HP]
    out[OUT_REXMITS, k] = e[0, REXMITS] + e[1, REXMITS]
    out[OUT_ORIG_SIZE, k] = size(e, o)
    out[OUT_RESP_SIZE, k] = size(e, 1 - o)
    out[OUT_LAST_TIME, k] = c[LAST_TIME]
