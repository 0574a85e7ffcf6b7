"""Crafted-packet scenarios for the reset and host tests (scapy packets → packet-table rows).

No tests live here: this module only builds captures in memory. ``Flow`` plays a client and a server
through a TCP connection with per-side TTL, IP ID counters, DF and timestamps, so each test can change
exactly the one field its rule looks at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scapy.layers.inet import ICMP, IP, TCP, IPerror, TCPerror
from scapy.layers.inet6 import IPv6

from netreset.flows.model import Conversation
from netreset.packets.table import PROTO_ICMP, PROTO_TCP, RST, PacketTableBuilder

BASE_TS = 1_700_000_000.0


def _options(tcp, book) -> dict:
    row, kinds = {}, []
    for name, value in tcp.options:
        if name == "EOL":  # padding scapy adds on re-dissection
            continue
        kinds.append({"MSS": "M", "WScale": "W", "SAckOK": "S", "Timestamp": "T", "NOP": "N"}.get(name, "?"))
        if name == "MSS":
            row["mss"] = value
        elif name == "WScale":
            row["wscale"] = value
        elif name == "SAckOK":
            row["sack_perm"] = True
        elif name == "Timestamp":
            row["ts_val"], row["ts_ecr"] = value
    if tcp.flags.S and kinds:
        row["options_sig"] = book.intern_signature(",".join(kinds))
    return row


def packet_row(pkt, ts: float, frame: int, book) -> dict:
    """One scapy IPv4/IPv6 packet (TCP, or ICMP quoting TCP) as a packet-table row dict."""
    pkt = pkt.__class__(bytes(pkt))
    ip = pkt[IP] if IP in pkt else pkt[IPv6]
    row = {"frame": frame, "ts_ns": int(round(ts * 1e9)), "src": book.intern(ip.src), "dst": book.intern(ip.dst)}
    if IP in pkt:
        row.update(ip_version=4, ttl=ip.ttl, ip_id=ip.id, df=bool(ip.flags.DF), ip_len=ip.len)
    else:
        row.update(ip_version=6, ttl=ip.hlim, ip_len=40 + ip.plen)
    if ICMP in pkt:
        quoted, qtcp = pkt[IPerror], pkt[TCPerror]
        row.update(proto=PROTO_ICMP, icmp_type=pkt[ICMP].type, icmp_code=pkt[ICMP].code,
                   q_src=book.intern(quoted.src), q_dst=book.intern(quoted.dst), q_sport=qtcp.sport,
                   q_dport=qtcp.dport, q_seq=qtcp.seq, q_ttl=quoted.ttl)
        return row
    tcp = pkt[TCP]
    payload = len(bytes(tcp.payload))
    row.update(proto=PROTO_TCP, sport=tcp.sport, dport=tcp.dport, flags=int(tcp.flags), seq=tcp.seq,
               ack=tcp.ack, win=tcp.window, payload_len=payload, captured_payload=payload)
    row.update(_options(tcp, book))
    return row


def build(packets: list[tuple[float, object]]):
    """Rows for ``(seconds after BASE_TS, scapy packet)`` pairs, plus one Conversation per TCP 4-tuple."""
    builder = PacketTableBuilder()
    for frame, (t, pkt) in enumerate(sorted(packets, key=lambda p: p[0]), start=1):
        builder.append(packet_row(pkt, BASE_TS + t, frame, builder.book))
    table = builder.build()
    return table, conversations_of(table)


def conversations_of(table) -> list[Conversation]:
    """Group TCP rows by 4-tuple (either direction); orig = sender of the first packet."""
    groups: dict[frozenset, list[int]] = {}
    for i in np.flatnonzero(table.proto == PROTO_TCP).tolist():
        key = frozenset({(int(table.src[i]), int(table.sport[i])), (int(table.dst[i]), int(table.dport[i]))})
        groups.setdefault(key, []).append(i)
    return [_conversation(table, n, np.array(rows, dtype=np.int64)) for n, rows in enumerate(groups.values())]


def _conversation(table, n: int, rows: np.ndarray) -> Conversation:
    first = rows[0]
    from_orig = (table.src[rows] == table.src[first]) & (table.sport[rows] == table.sport[first])
    rst_orig = bool(np.any((table.flags[rows] & RST)[from_orig]))
    name = table.book.name
    return Conversation(
        id=n, tcp_stream=n, orig_h=name(int(table.src[first])), orig_p=int(table.sport[first]),
        resp_h=name(int(table.dst[first])), resp_p=int(table.dport[first]),
        ip_version=int(table.ip_version[first]), rows=rows, from_orig=from_orig,
        start_ns=int(table.ts_ns[rows[0]]), end_ns=int(table.ts_ns[rows[-1]]),
        conn_state="RSTO" if rst_orig else "RSTR", history="", completeness=0,
        outcome="reset_by_orig" if rst_orig else "reset_by_resp", partial=False,
        orig_pkts=int(np.count_nonzero(from_orig)), resp_pkts=int(np.count_nonzero(~from_orig)),
        orig_bytes=0, resp_bytes=0, orig_ip_bytes=0, resp_ip_bytes=0, syn_count=1, syn_gaps_s=(),
        retransmissions=0,
    )


@dataclass
class Side:
    """One endpoint's stack: address, port, TTL at the capture point, IP ID counter, options it uses."""

    addr: str
    port: int
    ttl: int
    ip_id: int = 1000
    id_step: int = 1  #: 0 = always 0; negative = random IDs
    df: bool = True
    timestamps: bool = True
    window: int = 502
    seq: int = 1_000_000
    tsval: int = 5000
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))

    def next_id(self) -> int:
        if self.id_step == 0:
            return 0
        if self.id_step < 0:
            return int(self.rng.integers(1, 65535))
        self.ip_id = (self.ip_id + self.id_step) % 65536
        return self.ip_id


class Flow:
    """A client/server TCP connection seen at the client's capture point, built packet by packet."""

    def __init__(self, client: Side, server: Side, ipv6: bool = False):
        self.client, self.server, self.ipv6 = client, server, ipv6
        self.packets: list[tuple[float, object]] = []

    def _ip(self, src: Side, dst: Side, ttl: int | None, ip_id: int | None, df: bool | None):
        if self.ipv6:
            return IPv6(src=src.addr, dst=dst.addr, hlim=src.ttl if ttl is None else ttl)
        return IP(src=src.addr, dst=dst.addr, ttl=src.ttl if ttl is None else ttl,
                  id=src.next_id() if ip_id is None else ip_id,
                  flags="DF" if (src.df if df is None else df) else 0)

    def send(self, t: float, src: Side, flags: str, data: bytes = b"", *, ttl=None, ip_id=None, df=None,
             seq=None, ack=None, window=None, timestamps=None, consume=True):
        """Append one segment from ``src`` at ``t`` s; ``consume`` advances its sequence number."""
        dst = self.server if src is self.client else self.client
        options = []
        if "S" in flags:
            options = [("MSS", 1460), ("SAckOK", b""), ("WScale", 7)]
        if src.timestamps if timestamps is None else timestamps:
            src.tsval += 10
            options.append(("Timestamp", (src.tsval, dst.tsval)))
        tcp = TCP(sport=src.port, dport=dst.port, flags=flags, seq=src.seq if seq is None else seq,
                  ack=(dst.seq if ack is None else ack) if "A" in flags else 0,
                  window=src.window if window is None else window, options=options)
        self.packets.append((t, self._ip(src, dst, ttl, ip_id, df) / tcp / data))
        if consume:
            src.seq += len(data) + ("S" in flags) + ("F" in flags)

    def handshake(self, t: float = 0.0, rtt: float = 0.040) -> float:
        self.send(t, self.client, "S")
        self.send(t + rtt, self.server, "SA")
        self.send(t + rtt + 0.0001, self.client, "A")
        return t + rtt + 0.0001

    def exchange(self, t: float, rounds: int = 3, rtt: float = 0.040) -> float:
        """Request/response rounds: client sends 100 bytes, server answers 1000 bytes one RTT later."""
        for _ in range(rounds):
            self.send(t, self.client, "PA", b"q" * 100)
            self.send(t + rtt, self.server, "PA", b"r" * 1000)
            t += rtt + 0.010
        return t

    def build(self):
        return build(self.packets)


def client_side(**kw) -> Side:
    return Side(**{"addr": "10.1.2.3", "port": 50000, "ttl": 128, "ip_id": 300, **kw})


def server_side(**kw) -> Side:
    return Side(**{"addr": "203.0.113.9", "port": 443, "ttl": 107, "ip_id": 9000, "window": 8212, **kw})


def established(server_kw: dict | None = None, client_kw: dict | None = None, ipv6: bool = False, rounds: int = 3):
    """A connection after the handshake and ``rounds`` request/response rounds; returns (flow, time)."""
    if ipv6:
        client_kw = {"addr": "2001:db8::3", **(client_kw or {})}
        server_kw = {"addr": "2001:db8:1::9", **(server_kw or {})}
    flow = Flow(client_side(**(client_kw or {})), server_side(**(server_kw or {})), ipv6=ipv6)
    t = flow.handshake()
    return flow, flow.exchange(t + 0.001, rounds)


def icmp_error(device: str, ttl: int, quoted: IP, quoted_tcp: TCP, icmp_type: int = 3, code: int = 13):
    """An ICMP error from ``device`` quoting ``quoted``/``quoted_tcp``."""
    inner = IPerror(src=quoted.src, dst=quoted.dst, ttl=quoted.ttl) / TCPerror(
        sport=quoted_tcp.sport, dport=quoted_tcp.dport, seq=quoted_tcp.seq)
    return IP(src=device, dst=quoted.src, ttl=ttl) / ICMP(type=icmp_type, code=code) / inner
