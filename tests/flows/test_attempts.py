"""One connection attempt is one conversation (docs/tcp-states.md, "Connection attempts"), on crafted packets.

Zeek's attempt timer (5 s) and its IsReuse after a refusal cut one attempt whose SYN is retransmitted with
the same ISN into several connections; they are joined into one conversation, in the Python reference and
the compiled twin alike, and only when the packets show the premise: the later connection begins with a
pure SYN of the same originator carrying the earlier's ISN, the earlier one never got past its SYN.
"""

from __future__ import annotations

import pytest

from builders import table, tcp
from netreset.flows.conversations import build_conversations
from netreset.flows.model import ATTEMPT_HORIZON_NS
from netreset.flows.tcpstate import ZeekConnection

C, S = "10.0.0.1:40000", "10.0.0.2:5555"


def syns(times, seq=100, src=C, dst=S):
    return [tcp(src, dst, "S", seq=seq, t=t) for t in times]


def both(rows, **kw):
    """The conversations of both paths, which must be equal (ids, rows, every field)."""
    packets = table(rows)
    plain = build_conversations(packets, compiled=False, **kw)
    fast = build_conversations(packets, compiled=True, **kw)
    assert [(c.id, c.rows.tolist(), c.conn_state, c.history, c.syn_count, c.syn_gaps_s, c.zeek_starts_ns,
             c.zeek_last_ns, c.orig_pkts, c.orig_seq_bytes, c.retransmissions, c.tcp_stream) for c in plain] == \
           [(c.id, c.rows.tolist(), c.conn_state, c.history, c.syn_count, c.syn_gaps_s, c.zeek_starts_ns,
             c.zeek_last_ns, c.orig_pkts, c.orig_seq_bytes, c.retransmissions, c.tcp_stream) for c in fast]
    return plain


@pytest.mark.parametrize("times, zeek_rows", [
    ((0, 1, 3, 7), 2),  # Linux, tcp_syn_retries = 3 (the lab's syn-blackhole): Zeek cuts at 5 s
    ((0, 1, 3, 7, 15), 3),  # 1-2-4-8 s: three Zeek connections
    ((0, 1, 3, 7, 15, 31, 63), 5),  # Linux defaults: 7 SYNs over 63 s
    ((0, 3, 9), 2),  # Windows: SYN, 3 s, 6 s
])
def test_a_retransmitted_syn_is_one_conversation_whatever_its_gaps(times, zeek_rows):
    assert len(both(syns(times), attempts=False)) == zeek_rows
    [conv] = both(syns(times))
    gaps = tuple(b - a for a, b in zip(times, times[1:]))
    assert (conv.conn_state, conv.history, conv.outcome) == ("S0", "S", "syn_unanswered")
    assert (conv.syn_count, conv.syn_gaps_s, conv.zeek_connections) == (len(times), pytest.approx(gaps), zeek_rows)
    assert (conv.start_ns, conv.end_ns, len(conv.rows)) == (0, times[-1] * 10**9, len(times))


def test_an_attempt_answered_after_the_attempt_timer_ends_as_its_last_connection():
    rows = syns((0, 1, 3, 7)) + [tcp(S, C, "SA", seq=500, ack=101, t=7.1), tcp(C, S, "A", seq=101, ack=501, t=7.2),
                                 tcp(C, S, "FA", seq=101, ack=501, t=8), tcp(S, C, "FA", seq=501, ack=102, t=8.1),
                                 tcp(C, S, "A", seq=102, ack=502, t=8.2)]
    zeek = both(rows, attempts=False)
    assert [c.conn_state for c in zeek] == ["S0", "SF"]
    [conv] = both(rows)
    assert (conv.conn_state, conv.history, conv.outcome) == ("SF", zeek[-1].history, "clean")
    assert (conv.syn_count, conv.zeek_connections, conv.orig_pkts, conv.resp_pkts) == (4, 2, 7, 2)
    # the rule: what Zeek's machine says of all the attempt's packets as one connection (no timer cut it)
    one = _walk_as_one(table(rows))
    assert (one.conn_state(), one.history) == (conv.conn_state, conv.history)


def test_refusals_of_one_syn_are_one_conversation():
    rows = []
    for t in (0, 0.5, 1.0):  # Windows retries a refused SYN twice, with its ISN
        rows += [tcp(C, S, "S", seq=100, t=t), tcp(S, C, "RA", seq=0, ack=101, t=t + 0.05)]
    assert [c.conn_state for c in both(rows, attempts=False)] == ["REJ"] * 3
    [conv] = both(rows)
    assert (conv.conn_state, conv.history, conv.syn_count, conv.resp_pkts, conv.zeek_connections) == ("REJ", "Sr", 3, 3, 3)
    one = _walk_as_one(table(rows))
    assert (one.conn_state(), one.history) == (conv.conn_state, conv.history)


@pytest.mark.parametrize("why, rows", [
    ("a new ISN is a new attempt", syns((0,)) + syns((7,), seq=9000)),
    ("the same ISN after the horizon is no retry timer", syns((0, ATTEMPT_HORIZON_NS / 1e9 + 1))),
    ("the other end's SYN is not a retransmission", syns((0,)) + syns((7,), src=S, dst=C)),
    ("an established connection is over, not retried", [
        tcp(C, S, "S", seq=100, t=0), tcp(S, C, "SA", seq=500, ack=101, t=0.1), tcp(C, S, "A", seq=101, ack=501, t=0.2),
        tcp(C, S, "FA", seq=101, ack=501, t=1), tcp(S, C, "FA", seq=501, ack=102, t=1.1),
        tcp(C, S, "A", seq=102, ack=502, t=1.2), tcp(C, S, "S", seq=100, t=20)]),
    ("a connection without a SYN is no attempt", [tcp(C, S, "R", seq=100, t=0), tcp(C, S, "S", seq=99, t=70)]),
    ("a SYN-ACK is not a SYN retransmission", syns((0,)) + [tcp(C, S, "SA", seq=100, ack=7, t=7)]),
])
def test_what_is_not_the_same_attempt_stays_apart(why, rows):
    assert len(both(rows)) == len(both(rows, attempts=False)) == 2, why


def test_the_horizon_is_between_the_attempts_packets_not_from_its_first():
    times = (0, 100, 200, 300)  # each gap within the horizon, the whole well beyond it
    [conv] = both(syns(times))
    assert conv.zeek_connections == 4


def _walk_as_one(packets) -> ZeekConnection:
    """Zeek's state machine over every packet of ``packets``, with no timer (one connection)."""
    conn = None
    for i in range(len(packets)):
        key = (int(packets.src[i]), int(packets.sport[i]))
        other = (int(packets.dst[i]), int(packets.dport[i]))
        if conn is None:
            conn = ZeekConnection(int(packets.ts_ns[i]), key, other)
        conn.feed(int(packets.ts_ns[i]), key, int(packets.flags[i]), int(packets.seq[i]), int(packets.ack[i]),
                  int(packets.payload_len[i]), int(packets.win[i]))
    return conn
