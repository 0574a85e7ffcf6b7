"""Tiny helpers to build PacketTables for unit tests, from row dicts or scapy packets.

``tcp("10.0.0.1:40000", "10.0.0.2:80", "S", seq=100, t=0.0)`` gives one row dict; ``table(rows)``
interns the addresses and builds the table. ``table_from_scapy(packets)`` does the same for scapy
IP/IPv6 + TCP packets (times from ``packet.time``).
"""

from __future__ import annotations

from netreset.packets.table import CHECKSUM_BAD, PROTO_TCP, PacketTableBuilder, PacketTable

_FLAG_LETTERS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40, "C": 0x80}


def flag_bits(letters: str) -> int:
    """'SA' -> SYN|ACK (letters as tcpdump/scapy write them)."""
    return sum(_FLAG_LETTERS[ch] for ch in letters)


def tcp(src: str, dst: str, flags: str, *, seq: int = 0, ack: int = 0, payload: int = 0,
        t: float = 0.0, win: int = 65535, ttl: int = 64, bad_checksum: bool = False, **extra) -> dict:
    """One TCP row; ``src``/``dst`` are ``"address:port"`` (IPv6 as ``"[2001:db8::1]:80"``)."""
    (sh, sp), (dh, dp) = _split(src), _split(dst)
    row = dict(src=sh, dst=dh, sport=sp, dport=dp, flags=flag_bits(flags), seq=seq & 0xFFFFFFFF,
               ack=ack & 0xFFFFFFFF, payload_len=payload, captured_payload=payload, ts_ns=round(t * 1e9),
               win=win, ttl=ttl, proto=PROTO_TCP, ip_version=6 if ":" in sh else 4,
               ip_len=(40 if ":" in sh else 20) + 20 + payload, checksum=CHECKSUM_BAD if bad_checksum else 1)
    row.update(extra)
    return row


def table(rows: list[dict]) -> PacketTable:
    """A PacketTable from row dicts whose ``src``/``dst`` are address strings; frames numbered 1.."""
    builder = PacketTableBuilder()
    for number, row in enumerate(rows, 1):
        row = dict(row)
        row["src"], row["dst"] = builder.book.intern(row["src"]), builder.book.intern(row["dst"])
        row.setdefault("frame", number)
        builder.append(row)
    return builder.build()


def table_from_scapy(packets) -> PacketTable:
    """A PacketTable from scapy packets that carry IP/IPv6 and TCP layers."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6

    rows = []
    for pkt in packets:
        ip = pkt[IP] if IP in pkt else pkt[IPv6]
        seg = pkt[TCP]
        payload = len(bytes(seg.payload))
        rows.append(tcp(_join(ip.src, seg.sport), _join(ip.dst, seg.dport), str(seg.flags), seq=seg.seq,
                        ack=seg.ack, payload=payload, t=float(pkt.time), win=seg.window,
                        ttl=ip.ttl if IP in pkt else ip.hlim))
    return table(rows)


def _split(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
