"""Zeek's TCP connection state machine, fed one packet at a time.

This is a transcription of the parts of Zeek's TCP analyzer (``TCPSessionAdapter.cc``,
``TCP_Endpoint.cc``, ``Conn.cc``) that decide ``conn_state`` and ``history``, so that our
classification matches Zeek's ``conn.log`` row for row. It is incremental on purpose: a streaming
reader can keep one :class:`ZeekConnection` per open tuple and feed packets as they arrive.

What is left out, and why it does not change conn_state: reassembly (so no ``g`` gap letter and no
close deferral while data is pending), application analyzers, weirds and events.
See ``docs/tcp-states.md`` for the tables in plain words.
"""

from __future__ import annotations

import re

import numpy as np

from netreset.packets.table import ACK, FIN, RST, SYN

# Endpoint states, numbered as Zeek's TCP_ENDPOINT_* (and the script-level TCP_* constants).
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
STATE_NAMES = ("INACTIVE", "SYN_SENT", "SYN_ACK_SENT", "PARTIAL", "ESTABLISHED", "CLOSED", "RESET")
_HANDSHAKE = (INACTIVE, SYN_SENT, SYN_ACK_SENT)

# Connection::CheckHistory bits (orig side; the responder's are shifted left by 16).
_H_SYN, _H_FIN, _H_RST, _H_FIN_RST, _H_DATA, _H_ACK, _H_MULTI = 1, 2, 4, 8, 16, 32, 64

#: Zeek's TOO_LARGE_SEQ_DELTA: SYN/RST sequence jumps larger than this are not trusted.
TOO_LARGE_SEQ_DELTA = 1048576

# Zeek's RSTOS0 test in conn_state(): the whole history must match this pattern.
_RSTOS0 = re.compile(r"\^?S[^HAFGIQ]*R.*")


class Timing:
    """Zeek's TCP timer settings (init-bare.zeek defaults), in integer nanoseconds."""

    def __init__(self, **seconds: float) -> None:
        values = {"syn_timeout": 5, "session_timer": 6, "linger": 5, "attempt_delay": 5,
                  "close_delay": 5, "tcp_inactivity": 300, "udp_inactivity": 60}
        values.update(seconds)
        for name, value in values.items():
            setattr(self, name, int(value * 1_000_000_000))


def network_time(ts_ns: np.ndarray) -> np.ndarray:
    """Zeek's ``network_time`` at each packet of a capture in capture order: the newest timestamp so far
    (``dispatch_packet``: "network_time never goes back"). Timers fire by it; a connection's own times
    (start, last activity, the deadlines it sets) stay the packets' timestamps, as in Zeek."""
    return np.maximum.accumulate(ts_ns) if len(ts_ns) else np.zeros(0, dtype=np.int64)


def seq_delta(a: int, b: int) -> int:
    """Signed 32-bit difference a - b, as Zeek's seq_delta()."""
    d = (a - b) & 0xFFFFFFFF
    return d - 0x100000000 if d & 0x80000000 else d


class Endpoint:
    """One side of a connection (Zeek's TCP_Endpoint), reduced to what conn.log needs."""

    __slots__ = ("is_orig", "state", "prev_state", "start_seq", "last_seq", "ack_seq", "did_close",
                 "fin_cnt", "last_syn", "last_fin", "last_rst", "scaled", "rexmits", "peer")

    def __init__(self, is_orig: bool) -> None:
        self.is_orig = is_orig
        self.state = self.prev_state = INACTIVE
        self.start_seq = self.last_seq = self.ack_seq = 0
        self.did_close = False
        self.fin_cnt = 0
        self.last_syn = self.last_fin = self.last_rst = 0  # hist_last_SYN/FIN/RST
        self.scaled = {}  # letter -> [count, threshold] for the logarithmic letters C T W
        self.rexmits = 0  # data segments that did not advance last_seq (Zeek's DidRxmit calls)
        self.peer: Endpoint

    def set_state(self, conn: "ZeekConnection", new: int) -> None:
        if new == self.state:
            return
        if new not in _HANDSHAKE and self.state in _HANDSHAKE and self.peer.state in _HANDSHAKE:
            conn.set_inactivity(conn.tcp_inactivity_ns)
        self.prev_state, self.state = self.state, new

    def init_seq(self, seq: int, last: int) -> None:
        self.start_seq = self.ack_seq = seq & 0xFFFFFFFF
        self.last_seq = last & 0xFFFFFFFF

    def size(self) -> int:
        """Payload bytes by sequence numbers, as Zeek's TCP_Endpoint::Size() (orig_bytes/resp_bytes)."""
        if (self.prev_state == SYN_SENT and self.state == RESET and self.peer.state == INACTIVE
                and seq_delta(self.ack_seq, self.start_seq) not in (0, 1)):
            return 0
        size = max(seq_delta(self.last_seq, self.start_seq), seq_delta(self.ack_seq, self.start_seq), 0)
        if size:
            size -= 1
        if self.fin_cnt and size:
            size -= 1
        return size


class ZeekConnection:
    """One Zeek connection: two endpoints, the history string and the removal timers.

    ``feed()`` takes one packet; ``removed_by(t)`` says whether Zeek's timers would have removed the
    connection before a packet at time ``t`` arrives (then that packet starts a new connection).
    Times are integer nanoseconds. The caller decides which side sent a packet (``from_orig``).
    """

    def __init__(self, t: int, orig_key: tuple, resp_key: tuple, timing: Timing = None,
                 flipped: bool = False) -> None:
        timing = timing or Timing()
        self.orig_key, self.resp_key = orig_key, resp_key
        self.orig, self.resp = Endpoint(True), Endpoint(False)
        self.orig.peer, self.resp.peer = self.resp, self.orig
        self.history = ""
        self.hist_seen = 0
        self.timing = timing
        self.tcp_inactivity_ns = timing.tcp_inactivity
        self.start = self.last_time = t
        self.is_active = True
        self.inactivity = 0
        self.inactivity_at = None
        self.expire_at = [t + timing.syn_timeout]  # ExpireTimer chains (one per ADD_ANALYZER_TIMER)
        self.attempt_at = None
        self.delete_at = None
        self.set_inactivity(timing.udp_inactivity)  # TCPAnalyzer::MakeSessionAdapter does this
        if flipped:
            self.flip()

    # -- history -------------------------------------------------------------------------------
    def add_history(self, code: str) -> None:
        self.history += code

    def check_history(self, ep: Endpoint, mask: int, code: str) -> bool:
        """Connection::CheckHistory: add the letter the first time; True when it was seen before."""
        if not ep.is_orig:
            mask <<= 16
            code = code.lower()
        if self.hist_seen & mask:
            return True
        self.hist_seen |= mask
        self.history += code
        return False

    def scaled_history(self, ep: Endpoint, code: str) -> None:
        """Connection::ScaledHistoryEntry: the letter again at 1, 10, 100, ... occurrences."""
        counter = ep.scaled.setdefault(code, [0, 1])
        counter[0] += 1
        if counter[0] == counter[1]:
            self.history += code if ep.is_orig else code.lower()
            counter[1] *= 10

    def flip(self) -> None:
        """Connection::FlipRoles: swap the endpoints and note ``^`` (the seen-bits stay put)."""
        self.orig, self.resp = self.resp, self.orig
        self.orig_key, self.resp_key = self.resp_key, self.orig_key
        self.orig.is_orig, self.resp.is_orig = True, False
        self.history += "^"

    def update_history(self, ep: Endpoint, flags: int, rel_seq: int, length: int) -> None:
        bits = bool(flags & SYN) + bool(flags & FIN) + bool(flags & RST)
        if bits > 1:
            if flags & FIN and flags & RST:
                self.check_history(ep, _H_FIN_RST, "I")
            else:
                self.check_history(ep, _H_MULTI, "Q")
        elif bits == 1:
            if flags & SYN:
                code = "H" if flags & ACK else "S"
                if self.check_history(ep, _H_SYN, code) and rel_seq != ep.last_syn:
                    self.add_history(code if ep.is_orig else code.lower())
                ep.last_syn = rel_seq
            elif flags & FIN:
                if self.check_history(ep, _H_FIN, "F") and rel_seq + length != ep.last_fin:
                    self.add_history("F" if ep.is_orig else "f")
                ep.last_fin = rel_seq + length
            else:
                if self.check_history(ep, _H_RST, "R") and rel_seq != ep.last_rst:
                    self.add_history("R" if ep.is_orig else "r")
                ep.last_rst = rel_seq
        elif length:
            self.check_history(ep, _H_DATA, "D")
        elif flags & ACK:
            self.check_history(ep, _H_ACK, "A")

    # -- timers --------------------------------------------------------------------------------
    def set_inactivity(self, timeout: int) -> None:
        """Session::SetInactivityTimeout: re-arm the inactivity timer from the last activity."""
        if timeout != self.inactivity:
            self.inactivity = timeout
            self.inactivity_at = self.last_time + timeout if timeout else None

    def removed_by(self, t: int) -> bool:
        """Run every timer due at or before ``t``; True when one of them removed the connection."""
        if self.inactivity_at is not None and t < self.inactivity_at and not self.expire_at \
                and self.attempt_at is None and self.delete_at is None:
            return False  # the common case, kept cheap: only the idle timer is pending, not yet due
        while True:
            due = [x for x in (self.attempt_at, self.delete_at, self.inactivity_at) if x is not None]
            due += self.expire_at
            first = min(due) if due else None
            if first is None or first > t:
                return False
            if self._fire(first):
                return True

    def _fire(self, when: int) -> bool:
        if self.delete_at == when:
            return True
        if self.inactivity_at == when:
            if self.last_time + self.inactivity <= when:
                return True
            self.inactivity_at = self.last_time + self.inactivity
        if self.attempt_at == when:
            self.attempt_at = None
            if self._attempt_expired():
                return True
        if when in self.expire_at:
            self.expire_at.remove(when)
            if self.is_active:
                if self._expired(when):
                    return True
                self.expire_at.append(when + self.timing.session_timer)
        return False

    def _attempt_expired(self) -> bool:
        return self.is_active and self.orig.state in (SYN_SENT, SYN_ACK_SENT) and self.resp.state == INACTIVE

    def _expired(self, when: int) -> bool:
        """TCPSessionAdapter::ExpireTimer's removal test."""
        o, r = self.orig, self.resp
        if self.last_time + self.timing.linger >= when:
            return False
        if o.did_close or r.did_close:
            if ((o.did_close and r.did_close) or RESET in (o.state, r.state)
                    or INACTIVE in (o.state, r.state)):
                return True
        return o.state == INACTIVE and r.state == INACTIVE

    def cancel_timers(self) -> None:
        self.expire_at = []
        self.attempt_at = None

    # -- reuse ---------------------------------------------------------------------------------
    def is_reuse(self, flags: int, seq: int) -> bool:
        """TCPSessionAdapter::IsReuse: does this SYN start a new connection on the same tuple?"""
        if not flags & SYN:
            return False
        conn_orig = self.orig
        if flags & ACK:
            if self.orig.state != INACTIVE:
                return False
            conn_orig = self.resp
        if self.orig.did_close or self.resp.did_close:
            return True
        if seq == conn_orig.start_seq:
            return False
        return not (not flags & ACK and conn_orig.state == SYN_ACK_SENT
                    and self.resp.state == INACTIVE and seq == self.resp.start_seq)

    # -- classification ------------------------------------------------------------------------
    def conn_state(self) -> str:
        """conn_state() of Zeek's base/protocols/conn/main.zeek, in its decision order."""
        os_, rs = self.orig.state, self.resp.state
        o_inactive = os_ in (INACTIVE, PARTIAL)
        r_inactive = rs in (INACTIVE, PARTIAL)
        if rs == RESET:
            if os_ in (SYN_SENT, SYN_ACK_SENT) or (
                    os_ == RESET and self.orig.size() == 0 and self.resp.size() == 0):
                return "REJ"
            return "RSTRH" if o_inactive else "RSTR"
        if os_ == RESET:
            if r_inactive:
                return "RSTOS0" if _RSTOS0.fullmatch(self.history) else "OTH"
            return "RSTO"
        if rs == CLOSED and os_ == CLOSED:
            return "SF"
        if os_ == CLOSED:
            return "SH" if r_inactive else "S2"
        if rs == CLOSED:
            return "SHR" if o_inactive else "S3"
        if os_ == SYN_SENT and rs == INACTIVE:
            return "S0"
        if os_ == ESTABLISHED and rs == ESTABLISHED:
            return "S1"
        return "OTH"

    # -- one packet ----------------------------------------------------------------------------
    def feed(self, t: int, key: tuple, flags: int, seq: int, ack: int, length: int, win: int,
             bad_checksum: bool = False) -> None:
        """Process one packet sent by ``key`` (= (address id, port)), as TCPSessionAdapter::Process."""
        ep = self.orig if key == self.orig_key else self.resp
        if bad_checksum:  # Zeek drops it after noting C/c; nothing else changes
            self.scaled_history(ep, "C")
            return
        peer = ep.peer
        seg_len = length + bool(flags & SYN) + bool(flags & FIN) - (length if flags & RST else 0)
        end = (seq + seg_len) & 0xFFFFFFFF
        self._init_endpoint(ep, flags, seq, end)
        self.update_history(ep, flags, seq_delta(seq, ep.start_seq), length)
        if win == 0 and not flags & RST and peer.state != CLOSED and ep.state != RESET:
            self.scaled_history(ep, "W")
        if not (self.orig.did_close and self.resp.did_close):
            self.last_time = t
        if flags & FIN:
            ep.fin_cnt += 1
        if flags & ACK:
            self._ack(ep, peer, flags, ack)
        delta_last = self._update_last_seq(ep, end, flags, length)
        do_close, gen_event = self._state_machine(t, ep, peer, seq, length, delta_last, flags)
        if do_close:
            self._closed(ep, peer, gen_event)

    def _init_endpoint(self, ep: Endpoint, flags: int, seq: int, end: int) -> None:
        state = ep.state
        if state == INACTIVE:
            if flags & SYN:
                ep.init_seq(seq, end)
            else:  # partial connection: number as though a SYN had been seen
                ep.init_seq(seq - 1, seq)
        elif flags & SYN:
            if state in (SYN_SENT, SYN_ACK_SENT, ESTABLISHED, PARTIAL):
                if state in (ESTABLISHED, PARTIAL) or seq != ep.start_seq:
                    ep.init_seq(seq, end)
            elif state == RESET and ep.prev_state == INACTIVE:
                ep.init_seq(seq, end)

    def _ack(self, ep: Endpoint, peer: Endpoint, flags: int, ack: int) -> None:
        if peer.state == INACTIVE:  # init_peer: number the silent side from this ack
            peer.init_seq(ack - 1, ack - 1)
            return
        if seq_delta(ack, peer.start_seq) < 0 or flags & RST:  # underflow, or a RST's ack
            return
        delta = seq_delta(ack, peer.ack_seq)
        if delta > 0 and not (ack == 0 and delta > TOO_LARGE_SEQ_DELTA):
            peer.ack_seq = ack

    def _update_last_seq(self, ep: Endpoint, end: int, flags: int, length: int) -> int:
        delta = seq_delta(end, ep.last_seq)
        if flags & (SYN | RST) and abs(delta) > TOO_LARGE_SEQ_DELTA:
            pass
        elif flags & FIN and ep.last_seq == (ep.start_seq + 1) & 0xFFFFFFFF:
            ep.last_seq = end
        elif ep.state == RESET:
            pass
        elif delta > 0:
            ep.last_seq = end
        elif length > 0:
            ep.rexmits += 1
            self.scaled_history(ep, "T")
        return delta

    def _state_machine(self, t, ep, peer, seq, length, delta_last, flags) -> tuple[bool, bool]:
        state = ep.state
        if state == INACTIVE:
            return self._from_inactive(t, ep, peer, seq, length, flags)
        if state in (SYN_SENT, SYN_ACK_SENT):
            if flags & FIN:
                ep.set_state(self, CLOSED)
            if flags & RST:
                ep.set_state(self, RESET)
                self.is_active = False  # ConnectionReset
            return bool(flags & (FIN | RST)), bool(flags & FIN)
        if state in (ESTABLISHED, PARTIAL):
            return self._from_established(ep, peer, flags)
        if state == CLOSED and flags & RST and peer.state != CLOSED:
            ep.set_state(self, RESET)
            return not ep.did_close, False
        return False, False

    def _from_inactive(self, t, ep, peer, seq, length, flags) -> tuple[bool, bool]:
        is_orig = ep.is_orig
        if flags & SYN:
            if is_orig:
                ep.set_state(self, SYN_ACK_SENT if flags & ACK else SYN_SENT)
                if self.timing.attempt_delay and self.attempt_at is None:
                    self.attempt_at = t + self.timing.attempt_delay
            else:
                if not flags & ACK and peer.state == SYN_ACK_SENT and seq == ep.start_seq:
                    self.flip()  # SYN seen after its SYN-ACK: swap roles, establish
                    peer.set_state(self, ESTABLISHED)
                if peer.state == SYN_SENT:
                    peer.set_state(self, ESTABLISHED)
                ep.set_state(self, ESTABLISHED)
        do_close = gen_event = False
        if flags & FIN:
            ep.set_state(self, CLOSED)
            do_close = gen_event = True
        if flags & RST:
            ep.set_state(self, RESET)
            reject = peer.state == ESTABLISHED if is_orig else peer.state in (SYN_SENT, SYN_ACK_SENT)
            do_close, gen_event = True, not reject
        if ep.state == INACTIVE:
            if not is_orig and length == 0 and self.orig.state == SYN_SENT:
                pass  # an ack of the SYN before the SYN-ACK does not make a partial connection
            elif flags & ACK and peer.state == ESTABLISHED:
                ep.set_state(self, ESTABLISHED)
            else:
                ep.set_state(self, PARTIAL)
        return do_close, gen_event

    def _from_established(self, ep, peer, flags) -> tuple[bool, bool]:
        if flags & SYN and not flags & ACK and ep.state == PARTIAL and peer.state == INACTIVE:
            ep.set_state(self, SYN_SENT)
        do_close = gen_event = False
        if flags & FIN and not flags & RST:
            ep.set_state(self, CLOSED)
            if peer.state == RESET and peer.prev_state == CLOSED:  # FIN then RST was a normal close
                peer.set_state(self, CLOSED)
            do_close = gen_event = True
        if flags & RST:
            ep.set_state(self, RESET)
            do_close = True
            if peer.state != RESET or peer.prev_state != ESTABLISHED:
                self.is_active = False
        return do_close, gen_event

    def _closed(self, ep: Endpoint, peer: Endpoint, gen_event: bool) -> None:
        """TCPSessionAdapter::ConnectionClosed (without reassembly, so never deferred)."""
        if ep.did_close:
            return
        ep.did_close = True
        if ep.state == RESET or peer.did_close or peer.state == INACTIVE:
            if gen_event and (ep.prev_state != INACTIVE or peer.state != INACTIVE):
                self.is_active = False  # ConnectionFinished
            self.cancel_timers()
            self.delete_at = self.last_time + self.timing.close_delay
        elif ep.prev_state != INACTIVE:
            self.expire_at.append(self.last_time + self.timing.session_timer)
