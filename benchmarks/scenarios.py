"""Conversation scenarios for the benchmark generator: each one a short script of TCP packets.

A scenario returns packets as plain tuples relative to its own start, so the generator can
interleave thousands of concurrent conversations by time. The mix is what a busy integration node
sees (see benchmarks/README.md): mostly clean request/response connections, some retransmissions
and duplicate ACKs, refused and unanswered SYNs, resets by the server and resets forged by a
middlebox with its own TTL. Each scenario also states the answer netreset must give (``truth``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
OPT_NONE, OPT_SYN, OPT_TS = 0, 1, 2
CLIENT, SERVER = 0, 1
MSS = 1448

#: name -> (weight, expected Zeek conn_state, expected outcome after reset attribution)
SCENARIOS = {
    "clean": (55, "SF", "clean"),
    "retransmissions": (10, "SF", "clean"),
    "refused": (8, "REJ", "refused"),
    "syn_unanswered": (7, "S0", "syn_unanswered"),
    "server_reset": (10, "RSTR", "reset_by_resp"),
    "middlebox_reset": (10, "RSTR", "reset_by_middlebox"),
}


@dataclass(frozen=True)
class Packet:
    """One packet of a scenario; times in microseconds from the conversation's start."""

    t_us: int
    side: int  #: CLIENT or SERVER: who sends it (as the IP header claims)
    flags: int
    seq: int  #: relative to the sender's ISN
    ack: int  #: relative to the receiver's ISN (0 when the ACK flag is off)
    plen: int
    win: int
    options: int  #: OPT_NONE, OPT_SYN (M,S,T,N,W) or OPT_TS (N,N,T)
    forged: bool = False  #: sent by a middlebox in the server's name


class Script:
    """Builds one conversation's packets while tracking both sides' sequence numbers."""

    def __init__(self, rng: random.Random, rtt_us: int) -> None:
        self.rng = rng
        self.rtt = rtt_us
        self.t = 0
        self.next_seq = [0, 0]
        self.packets: list[Packet] = []

    def send(self, side: int, flags: int, plen: int = 0, gap_us: int = 0, options: int = OPT_TS,
             seq: int | None = None, forged: bool = False, win: int | None = None, ack: int | None = None) -> None:
        self.t += gap_us
        other = 1 - side
        start = self.next_seq[side] if seq is None else seq
        if ack is None:
            ack = self.next_seq[other] if flags & ACK else 0
        self.packets.append(Packet(self.t, side, flags, start, ack, plen,
                                   win if win is not None else (502 if side == CLIENT else 510), options, forged))
        if seq is None:
            self.next_seq[side] = start + plen + bool(flags & SYN) + bool(flags & FIN)

    def handshake(self) -> None:
        self.send(CLIENT, SYN, options=OPT_SYN, win=64240)
        self.send(SERVER, SYN | ACK, gap_us=self.rtt, options=OPT_SYN, win=65160)
        self.send(CLIENT, ACK, gap_us=20)

    def exchange(self, segments: int) -> None:
        """A request and a response of ``segments`` full segments (the last one shorter), ACKed by two."""
        self.send(CLIENT, PSH | ACK, self.rng.randint(80, 700), gap_us=self.rng.randint(50, 2000))
        for i in range(segments):
            last = i == segments - 1
            size = self.rng.randint(100, MSS) if last else MSS
            self.send(SERVER, (PSH | ACK) if last else ACK, size, gap_us=self.rtt if i == 0 else 40)
            if i % 2 == 1 or last:
                self.send(CLIENT, ACK, gap_us=30)

    def teardown(self) -> None:
        self.send(CLIENT, FIN | ACK, gap_us=self.rng.randint(100, 5000))
        self.send(SERVER, FIN | ACK, gap_us=self.rtt)
        self.send(CLIENT, ACK, gap_us=self.rtt // 2)


def clean(s: Script) -> None:
    s.handshake()
    for _ in range(s.rng.randint(1, 2)):
        s.exchange(s.rng.randint(1, 6))
    s.teardown()


def retransmissions(s: Script) -> None:
    """A server segment sent twice (its first copy lost after the capture point) and duplicate ACKs."""
    s.handshake()
    s.exchange(s.rng.randint(2, 5))
    resend = s.next_seq[SERVER]
    s.send(SERVER, ACK, MSS, gap_us=s.rtt)
    s.send(CLIENT, ACK, gap_us=30, ack=resend)
    s.send(CLIENT, ACK, gap_us=200, ack=resend)  # duplicate ACKs: the client saw a hole
    s.send(CLIENT, ACK, gap_us=200, ack=resend)
    s.send(SERVER, ACK, MSS, gap_us=s.rtt * 3, seq=resend)  # retransmission of the first copy
    s.send(CLIENT, ACK, gap_us=30)
    s.teardown()


def refused(s: Script) -> None:
    s.send(CLIENT, SYN, options=OPT_SYN, win=64240)
    s.send(SERVER, RST | ACK, gap_us=s.rtt, options=OPT_NONE, win=0)


def syn_unanswered(s: Script) -> None:
    """Linux with tcp_syn_retries=2: the SYN again after 1 s and 2 s more (inside Zeek's 5 s attempt timer)."""
    for gap in (0, 1_000_000, 2_000_000):
        s.send(CLIENT, SYN, options=OPT_SYN, gap_us=gap, seq=0, win=64240)
    s.next_seq[CLIENT] = 1


def server_reset(s: Script) -> None:
    s.handshake()
    s.exchange(s.rng.randint(1, 4))
    s.send(CLIENT, PSH | ACK, s.rng.randint(80, 700), gap_us=s.rng.randint(1000, 50000))
    s.send(SERVER, RST | ACK, gap_us=s.rtt, options=OPT_NONE, win=0)


def middlebox_reset(s: Script) -> None:
    """A firewall near the client forges the server's RST: its own TTL, IP ID 0, no timestamps."""
    s.handshake()
    s.exchange(s.rng.randint(1, 4))
    s.send(CLIENT, PSH | ACK, s.rng.randint(80, 700), gap_us=s.rng.randint(1000, 50000))
    s.send(SERVER, RST | ACK, gap_us=max(s.rtt // 8, 100), options=OPT_NONE, win=0, forged=True)


BUILDERS = {
    "clean": clean, "retransmissions": retransmissions, "refused": refused,
    "syn_unanswered": syn_unanswered, "server_reset": server_reset, "middlebox_reset": middlebox_reset,
}


def pick(rng: random.Random) -> str:
    names = list(SCENARIOS)
    return rng.choices(names, weights=[SCENARIOS[n][0] for n in names])[0]


def build(name: str, rng: random.Random, rtt_us: int) -> list[Packet]:
    script = Script(rng, rtt_us)
    BUILDERS[name](script)
    return script.packets
