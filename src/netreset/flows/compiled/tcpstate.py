"""Zeek's TCP state machine compiled (numba): :mod:`netreset.flows.tcpstate` for whole arrays of packets.

A line-by-line transcription of :class:`~netreset.flows.tcpstate.ZeekConnection` and of the boundary walk
of :func:`netreset.flows.conversations.split_connections`, over the packets of every 5-tuple sorted
together (tuple by tuple, capture order inside a tuple). The Python classes stay the reference:
``tests/flows/test_compiled_conversations.py`` compares both on every capture at hand and on random packets.

State lives in two small int64 arrays instead of objects, so the machine runs without Python:
``c`` holds the connection's fields (slots below), ``e[k]`` those of endpoint ``k``. Endpoint 0 is
the sender of the connection's first packet, endpoint 1 the other side; ``c[O]`` says which of them
is orig now, so Zeek's FlipRoles is one exchange of that number. History letters are written as
ASCII into one shared buffer (``hist``); the Python side cuts one string per conversation from it.

Helpers are ordinary compiled functions, not ``inline="always"``: inlining saved about a third of
the walk but made the first compile take minutes. Numba's cache is per source file and does not
see changes in callees from another file: after editing this module, delete the ``*_fast*.nb?``
files in ``__pycache__`` so that :mod:`netreset.flows.compiled.boundaries` is compiled again.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from netreset.runtime.compiled import NUMBA_OPTIONS
from netreset.runtime.numba_loading import install as _quick_cache_loading

_quick_cache_loading()  # cached kernels load without numba's compiler registries
_M32 = 0xFFFFFFFF
NONE = np.iinfo(np.int64).max  #: an unset timer (None in the Python machine)
TOO_LARGE_SEQ_DELTA = 1048576
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)

#: conn_state codes returned per conversation, in the order of this tuple.
CONN_STATES = ("S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH")
_S0, _S1, _SF, _REJ, _S2, _S3, _RSTO, _RSTR, _RSTOS0, _RSTRH, _SH, _SHR, _OTH = range(13)

# Connection slots of ``c``; EXP.. holds up to MAX_EXPIRE pending ExpireTimer chains.
O, KEY0, KEY1, SEEN, HS, HP, LAST_TIME, ACTIVE, INACT, INACT_AT, ATTEMPT_AT, DELETE_AT, EXP_N, EXP = range(14)
MAX_EXPIRE = 6
CONN_SLOTS = EXP + MAX_EXPIRE
# Endpoint slots of ``e[k]``; scaled-letter counters and thresholds for C, T, W at CNT/THR + 0..2.
STATE, PREV, START_SEQ, LAST_SEQ, ACK_SEQ, DID_CLOSE, FIN_CNT, LAST_SYN, LAST_FIN, LAST_RST, REXMITS, CNT, THR = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14)
EP_SLOTS = 17
_SCALED_C, _SCALED_T, _SCALED_W = 0, 1, 2
_SCALED_CODES = (ord("C"), ord("T"), ord("W"))
# Timing slots (Zeek's timer settings in ns), filled from a tcpstate.Timing by timing_array().
SYN_TIMEOUT, SESSION_TIMER, LINGER, ATTEMPT_DELAY, CLOSE_DELAY, TCP_INACTIVITY, UDP_INACTIVITY = range(7)
_TIMING_NAMES = ("syn_timeout", "session_timer", "linger", "attempt_delay", "close_delay", "tcp_inactivity",
                 "udp_inactivity")


def timing_array(timing) -> np.ndarray:
    """The :class:`~netreset.flows.tcpstate.Timing` settings as the int64 array the kernels read."""
    return np.array([getattr(timing, name) for name in _TIMING_NAMES], dtype=np.int64)


@nb.njit(**NUMBA_OPTIONS)
def seq_delta(a, b):
    d = (a - b) & _M32
    return d - 0x100000000 if d & 0x80000000 else d


@nb.njit(**NUMBA_OPTIONS)
def _letter(c, hist, code):
    hist[c[HP]] = code
    c[HP] += 1


@nb.njit(**NUMBA_OPTIONS)
def _case(c, ep, code):
    """Upper case for orig, lower case for resp (Zeek's history convention)."""
    return code if ep == c[O] else code + 32


@nb.njit(**NUMBA_OPTIONS)
def _check_history(c, hist, ep, mask, code):
    """Connection::CheckHistory: the letter the first time; True when it was seen before."""
    if ep != c[O]:
        mask <<= 16
        code += 32
    if c[SEEN] & mask:
        return True
    c[SEEN] |= mask
    _letter(c, hist, code)
    return False


@nb.njit(**NUMBA_OPTIONS)
def _scaled_history(c, e, hist, ep, which):
    """Connection::ScaledHistoryEntry: the letter again at 1, 10, 100, ... occurrences."""
    e[ep, CNT + which] += 1
    if e[ep, CNT + which] == e[ep, THR + which]:
        _letter(c, hist, _case(c, ep, _SCALED_CODES[which]))
        e[ep, THR + which] *= 10


@nb.njit(**NUMBA_OPTIONS)
def _flip(c, hist):
    c[O] ^= 1
    _letter(c, hist, 94)  # '^'


@nb.njit(**NUMBA_OPTIONS)
def _update_history(c, e, hist, ep, flags, rel_seq, length):
    bits = (flags & SYN != 0) + (flags & FIN != 0) + (flags & RST != 0)
    if bits > 1:
        if flags & FIN and flags & RST:
            _check_history(c, hist, ep, 8, 73)  # I
        else:
            _check_history(c, hist, ep, 64, 81)  # Q
    elif bits == 1:
        if flags & SYN:
            code = 72 if flags & ACK else 83  # H / S
            if _check_history(c, hist, ep, 1, code) and rel_seq != e[ep, LAST_SYN]:
                _letter(c, hist, _case(c, ep, code))
            e[ep, LAST_SYN] = rel_seq
        elif flags & FIN:
            if _check_history(c, hist, ep, 2, 70) and rel_seq + length != e[ep, LAST_FIN]:
                _letter(c, hist, _case(c, ep, 70))
            e[ep, LAST_FIN] = rel_seq + length
        else:
            if _check_history(c, hist, ep, 4, 82) and rel_seq != e[ep, LAST_RST]:
                _letter(c, hist, _case(c, ep, 82))
            e[ep, LAST_RST] = rel_seq
    elif length:
        _check_history(c, hist, ep, 16, 68)  # D
    elif flags & ACK:
        _check_history(c, hist, ep, 32, 65)  # A


@nb.njit(**NUMBA_OPTIONS)
def _set_inactivity(c, timeout):
    if timeout != c[INACT]:
        c[INACT] = timeout
        c[INACT_AT] = c[LAST_TIME] + timeout if timeout else NONE


@nb.njit(**NUMBA_OPTIONS)
def _set_state(c, e, tm, ep, new):
    state = e[ep, STATE]
    if new == state:
        return
    if new > SYN_ACK_SENT and state <= SYN_ACK_SENT and e[1 - ep, STATE] <= SYN_ACK_SENT:
        _set_inactivity(c, tm[TCP_INACTIVITY])
    e[ep, PREV] = state
    e[ep, STATE] = new


@nb.njit(**NUMBA_OPTIONS)
def _init_seq(e, ep, seq, last):
    e[ep, START_SEQ] = seq & _M32
    e[ep, ACK_SEQ] = seq & _M32
    e[ep, LAST_SEQ] = last & _M32


@nb.njit(**NUMBA_OPTIONS)
def size(e, ep):
    """TCP_Endpoint::Size(): payload bytes by sequence numbers (Zeek's orig_bytes/resp_bytes)."""
    if (e[ep, PREV] == SYN_SENT and e[ep, STATE] == RESET and e[1 - ep, STATE] == INACTIVE):
        d = seq_delta(e[ep, ACK_SEQ], e[ep, START_SEQ])
        if d != 0 and d != 1:
            return 0
    n = max(seq_delta(e[ep, LAST_SEQ], e[ep, START_SEQ]), seq_delta(e[ep, ACK_SEQ], e[ep, START_SEQ]), 0)
    if n:
        n -= 1
    if e[ep, FIN_CNT] and n:
        n -= 1
    return n


@nb.njit(**NUMBA_OPTIONS)
def open_connection(c, e, hist, tm, t, key, other, flipped, hs):
    """ZeekConnection.__init__: a fresh connection whose first packet (at ``t``) was sent by ``key``;
    its history letters start at ``hist[hs]``."""
    c[:] = 0
    e[:, :] = 0
    e[:, THR:THR + 3] = 1
    c[KEY0], c[KEY1] = key, other
    c[HS] = c[HP] = hs
    c[LAST_TIME] = t
    c[ACTIVE] = 1
    c[INACT_AT] = c[ATTEMPT_AT] = c[DELETE_AT] = NONE
    c[EXP] = t + tm[SYN_TIMEOUT]
    c[EXP_N] = 1
    _set_inactivity(c, tm[UDP_INACTIVITY])
    if flipped:
        _flip(c, hist)



# -- one packet --------------------------------------------------------------------------------
@nb.njit(**NUMBA_OPTIONS)
def feed(c, e, hist, tm, t, key, flags, seq, ack, length, win, bad_checksum):
    """ZeekConnection.feed: one packet sent by ``key`` (address id << 16 | port)."""
    o = c[O]
    ep = o if key == c[KEY0 + o] else 1 - o
    if bad_checksum:  # Zeek drops it after noting C/c; nothing else changes
        _scaled_history(c, e, hist, ep, _SCALED_C)
        return
    peer = 1 - ep
    seg_len = length + (flags & SYN != 0) + (flags & FIN != 0) - (length if flags & RST else 0)
    end = (seq + seg_len) & _M32
    _init_endpoint(e, ep, flags, seq, end)
    _update_history(c, e, hist, ep, flags, seq_delta(seq, e[ep, START_SEQ]), length)
    if win == 0 and not flags & RST and e[peer, STATE] != CLOSED and e[ep, STATE] != RESET:
        _scaled_history(c, e, hist, ep, _SCALED_W)
    if not (e[0, DID_CLOSE] and e[1, DID_CLOSE]):
        c[LAST_TIME] = t
    if flags & FIN:
        e[ep, FIN_CNT] += 1
    if flags & ACK:
        _ack(e, ep, peer, flags, ack)
    _update_last_seq(c, e, hist, ep, end, flags, length)
    state = e[ep, STATE]
    if state == INACTIVE:
        do_close, gen_event = _from_inactive(c, e, hist, tm, t, ep, peer, seq, length, flags)
    elif state == SYN_SENT or state == SYN_ACK_SENT:
        if flags & FIN:
            _set_state(c, e, tm, ep, CLOSED)
        if flags & RST:
            _set_state(c, e, tm, ep, RESET)
            c[ACTIVE] = 0  # ConnectionReset
        do_close, gen_event = flags & (FIN | RST) != 0, flags & FIN != 0
    elif state == ESTABLISHED or state == PARTIAL:
        do_close, gen_event = _from_established(c, e, tm, ep, peer, flags)
    elif state == CLOSED and flags & RST and e[peer, STATE] != CLOSED:
        _set_state(c, e, tm, ep, RESET)
        do_close, gen_event = not e[ep, DID_CLOSE], False
    else:
        do_close, gen_event = False, False
    if do_close:
        _closed(c, e, tm, ep, peer, gen_event)


@nb.njit(**NUMBA_OPTIONS)
def _init_endpoint(e, ep, flags, seq, end):
    state = e[ep, STATE]
    if state == INACTIVE:
        if flags & SYN:
            _init_seq(e, ep, seq, end)
        else:  # partial connection: number as though a SYN had been seen
            _init_seq(e, ep, seq - 1, seq)
    elif flags & SYN:
        if state == SYN_SENT or state == SYN_ACK_SENT or state == ESTABLISHED or state == PARTIAL:
            if state == ESTABLISHED or state == PARTIAL or seq != e[ep, START_SEQ]:
                _init_seq(e, ep, seq, end)
        elif state == RESET and e[ep, PREV] == INACTIVE:
            _init_seq(e, ep, seq, end)


@nb.njit(**NUMBA_OPTIONS)
def _ack(e, ep, peer, flags, ack):
    if e[peer, STATE] == INACTIVE:  # init_peer: number the silent side from this ack
        _init_seq(e, peer, ack - 1, ack - 1)
        return
    if seq_delta(ack, e[peer, START_SEQ]) < 0 or flags & RST:  # underflow, or a RST's ack
        return
    delta = seq_delta(ack, e[peer, ACK_SEQ])
    if delta > 0 and not (ack == 0 and delta > TOO_LARGE_SEQ_DELTA):
        e[peer, ACK_SEQ] = ack


@nb.njit(**NUMBA_OPTIONS)
def _update_last_seq(c, e, hist, ep, end, flags, length):
    delta = seq_delta(end, e[ep, LAST_SEQ])
    if flags & (SYN | RST) and abs(delta) > TOO_LARGE_SEQ_DELTA:
        pass
    elif flags & FIN and e[ep, LAST_SEQ] == (e[ep, START_SEQ] + 1) & _M32:
        e[ep, LAST_SEQ] = end
    elif e[ep, STATE] == RESET:
        pass
    elif delta > 0:
        e[ep, LAST_SEQ] = end
    elif length > 0:
        e[ep, REXMITS] += 1
        _scaled_history(c, e, hist, ep, _SCALED_T)


@nb.njit(**NUMBA_OPTIONS)
def _from_inactive(c, e, hist, tm, t, ep, peer, seq, length, flags):
    is_orig = ep == c[O]
    if flags & SYN:
        if is_orig:
            _set_state(c, e, tm, ep, SYN_ACK_SENT if flags & ACK else SYN_SENT)
            if tm[ATTEMPT_DELAY] and c[ATTEMPT_AT] == NONE:
                c[ATTEMPT_AT] = t + tm[ATTEMPT_DELAY]
        else:
            if not flags & ACK and e[peer, STATE] == SYN_ACK_SENT and seq == e[ep, START_SEQ]:
                _flip(c, hist)  # SYN seen after its SYN-ACK: swap roles, establish
                _set_state(c, e, tm, peer, ESTABLISHED)
            if e[peer, STATE] == SYN_SENT:
                _set_state(c, e, tm, peer, ESTABLISHED)
            _set_state(c, e, tm, ep, ESTABLISHED)
    do_close = gen_event = False
    if flags & FIN:
        _set_state(c, e, tm, ep, CLOSED)
        do_close = gen_event = True
    if flags & RST:
        _set_state(c, e, tm, ep, RESET)
        ps = e[peer, STATE]
        reject = ps == ESTABLISHED if is_orig else (ps == SYN_SENT or ps == SYN_ACK_SENT)
        do_close, gen_event = True, not reject
    if e[ep, STATE] == INACTIVE:
        if not is_orig and length == 0 and e[c[O], STATE] == SYN_SENT:
            pass  # an ack of the SYN before the SYN-ACK does not make a partial connection
        elif flags & ACK and e[peer, STATE] == ESTABLISHED:
            _set_state(c, e, tm, ep, ESTABLISHED)
        else:
            _set_state(c, e, tm, ep, PARTIAL)
    return do_close, gen_event


@nb.njit(**NUMBA_OPTIONS)
def _from_established(c, e, tm, ep, peer, flags):
    if flags & SYN and not flags & ACK and e[ep, STATE] == PARTIAL and e[peer, STATE] == INACTIVE:
        _set_state(c, e, tm, ep, SYN_SENT)
    do_close = gen_event = False
    if flags & FIN and not flags & RST:
        _set_state(c, e, tm, ep, CLOSED)
        if e[peer, STATE] == RESET and e[peer, PREV] == CLOSED:  # FIN then RST was a normal close
            _set_state(c, e, tm, peer, CLOSED)
        do_close = gen_event = True
    if flags & RST:
        _set_state(c, e, tm, ep, RESET)
        do_close = True
        if e[peer, STATE] != RESET or e[peer, PREV] != ESTABLISHED:
            c[ACTIVE] = 0
    return do_close, gen_event


@nb.njit(**NUMBA_OPTIONS)
def _closed(c, e, tm, ep, peer, gen_event):
    """TCPSessionAdapter::ConnectionClosed (without reassembly, so never deferred)."""
    if e[ep, DID_CLOSE]:
        return
    e[ep, DID_CLOSE] = 1
    if e[ep, STATE] == RESET or e[peer, DID_CLOSE] or e[peer, STATE] == INACTIVE:
        if gen_event and (e[ep, PREV] != INACTIVE or e[peer, STATE] != INACTIVE):
            c[ACTIVE] = 0  # ConnectionFinished
        c[EXP_N] = 0  # cancel_timers
        c[ATTEMPT_AT] = NONE
        c[DELETE_AT] = c[LAST_TIME] + tm[CLOSE_DELAY]
    elif e[ep, PREV] != INACTIVE:
        add_expire(c, c[LAST_TIME] + tm[SESSION_TIMER])


@nb.njit(**NUMBA_OPTIONS)
def add_expire(c, when):
    """Start one more ExpireTimer chain (at most three are ever pending: the first, one per close)."""
    if c[EXP_N] == MAX_EXPIRE:
        raise ValueError("too many expire timers")
    c[EXP + c[EXP_N]] = when
    c[EXP_N] += 1
