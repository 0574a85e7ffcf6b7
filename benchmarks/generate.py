"""Deterministic generator of large, realistic TCP captures (pcap and pcapng) with a ground-truth sidecar.

    python benchmarks/generate.py --packets 1000000 --seed 1 --format both
    → benchmarks/out/bench-1m-s1.pcap, .pcapng and .truth.json

Conversations start as a Poisson process and run concurrently (thousands live at once); ~10 % are
IPv6. Frames are Ethernet, packed from struct templates (no scapy: 5M packets in well under a
minute), captured with a snaplen (default 128 bytes, as header-only captures on busy nodes are) so
``payload_len`` comes from the IP length. The capture point is the clients' host: client packets have
TTL 64, servers arrive with their own distance (initial 64 or 128), and forged resets arrive with
the middlebox's TTL (initial 64, 1 router away) and IP ID 0.

The sidecar holds what a correct analyser must report: conversations, RST packets, conn_state and
outcome counts (see :data:`scenarios.SCENARIOS`), and the exact packet count.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import struct
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenarios import OPT_SYN, OPT_TS, RST, SCENARIOS, SERVER, SYN, build, pick  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
_ETH_IP4 = struct.Struct("!6s6sHBBHHHBBH4s4s")
_ETH_IP6 = struct.Struct("!6s6sHIHBB16s16s")
_TCP = struct.Struct("!HHIIHHHH")
_TS = struct.Struct("!II")
_PCAP_REC = struct.Struct("<IIII")
_EPB = struct.Struct("<IIIIIII")
_SYN_OPTS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a"  # MSS 1460, SACK-permitted, then TS (filled in), NOP, WS 7
_SYN_TAIL = b"\x01\x03\x03\x07"
_MAC_C, _MAC_R = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


class Endpoints:
    """Address pools: clients on the capture host's LAN, servers at various distances."""

    def __init__(self, rng: random.Random) -> None:
        self.clients4 = [bytes((10, 1, i // 250, 1 + i % 250)) for i in range(200)]
        self.clients6 = [bytes.fromhex("20010db8000100000000000000000000")[:14] + i.to_bytes(2, "big") for i in range(1, 41)]
        self.servers4 = [(bytes((172, 16 + i % 16, i // 16, 10)), self._ttl(rng)) for i in range(400)]
        self.servers6 = [(bytes.fromhex("20010db8ffff00000000000000000000")[:14] + i.to_bytes(2, "big"), self._ttl(rng))
                         for i in range(1, 81)]
        self.next_port = Counter()

    @staticmethod
    def _ttl(rng: random.Random) -> tuple[int, int]:
        """(arrival TTL, RTT µs) of a server: Linux-like (64) or Windows-like (128), 3..22 routers away."""
        initial = rng.choice((64, 128))
        return initial - rng.randint(3, 22), rng.randint(2_000, 90_000)

    def pick(self, rng: random.Random, v6: bool):
        clients, servers = (self.clients6, self.servers6) if v6 else (self.clients4, self.servers4)
        client = rng.choice(clients)
        server, (ttl, rtt) = rng.choice(servers)
        port = 1024 + self.next_port[client] % 64000  # never reuse a tuple: ground truth stays simple
        self.next_port[client] += 1
        return client, port, server, rng.choice((443, 8443, 1433, 5671)), ttl, rtt


def conversations(n_packets: int, seed: int, rate_per_s: float):
    """Yield (start µs, conversation dict) until at least ``n_packets`` packets are scripted."""
    rng = random.Random(seed)
    ends = Endpoints(rng)
    t, total = 1_700_000_000_000_000, 0
    while total < n_packets:
        t += int(rng.expovariate(rate_per_s) * 1e6) + 1
        name = pick(rng)
        v6 = rng.random() < 0.10
        client, cport, server, sport, ttl, rtt = ends.pick(rng, v6)
        packets = build(name, rng, rtt)
        total += len(packets)
        yield t, dict(start=t, name=name, v6=v6, client=client, cport=cport, server=server, sport=sport, ttl=ttl,
                      isn=(rng.getrandbits(32), rng.getrandbits(32)), ipid=[rng.getrandbits(16), rng.getrandbits(16)],
                      packets=packets)


def timeline(n_packets: int, seed: int, rate_per_s: float):
    """Every packet of every conversation, in time order (ties: conversation order), with its conversation."""
    heap: list = []
    seq = 0
    for start, conv in conversations(n_packets, seed, rate_per_s):
        while heap and heap[0][0] <= start:
            yield heapq.heappop(heap)[2:]
        for p in conv["packets"]:
            heapq.heappush(heap, (start + p.t_us, seq, conv, p))
            seq += 1
    while heap:
        yield heapq.heappop(heap)[2:]


def frame(conv: dict, p, ts_us: int, snaplen: int) -> tuple[bytes, int]:
    """The Ethernet frame of one packet (cut at ``snaplen``) and its length on the wire."""
    side = p.side
    src, dst = (conv["server"], conv["client"]) if side == SERVER else (conv["client"], conv["server"])
    sport, dport = (conv["sport"], conv["cport"]) if side == SERVER else (conv["cport"], conv["sport"])
    isn = conv["isn"]
    seq = (isn[side] + p.seq) & 0xFFFFFFFF
    ack = (isn[1 - side] + p.ack) & 0xFFFFFFFF if p.flags & 0x10 else 0
    if p.options == OPT_SYN:
        opts = _SYN_OPTS + _TS.pack(ts_us // 1000 & 0xFFFFFFFF, 0) + _SYN_TAIL
    elif p.options == OPT_TS:
        opts = b"\x01\x01\x08\x0a" + _TS.pack(ts_us // 1000 & 0xFFFFFFFF, (ts_us - 300) // 1000 & 0xFFFFFFFF)
    else:
        opts = b""
    tcp = _TCP.pack(sport, dport, seq, ack, ((20 + len(opts)) // 4) << 12 | p.flags, p.win, 0, 0) + opts
    if p.forged:
        ttl, ipid = 63, 0
    else:
        ttl = conv["ttl"] if side == SERVER else 64
        ipid = conv["ipid"][side]
        conv["ipid"][side] = (ipid + 1) & 0xFFFF
    macs = (_MAC_R, _MAC_C) if side == SERVER else (_MAC_C, _MAC_R)
    if conv["v6"]:
        ip = _ETH_IP6.pack(*macs, 0x86DD, 0x60000000, len(tcp) + p.plen, 6, ttl, src, dst)
    else:
        total = 20 + len(tcp) + p.plen
        flags_df = 0 if p.flags & RST and p.forged else 0x4000
        words = 0x4500 + total + ipid + flags_df + (ttl << 8 | 6) + sum(struct.unpack("!HHHH", src + dst))
        while words >> 16:
            words = (words & 0xFFFF) + (words >> 16)
        ip = _ETH_IP4.pack(*macs, 0x0800, 0x45, 0, total, ipid, flags_df, ttl, 6, ~words & 0xFFFF, src, dst)
    wire = ip + tcp
    wirelen = len(wire) + p.plen
    if snaplen and wirelen > snaplen:
        return (wire + bytes(p.plen))[:snaplen] if len(wire) < snaplen else wire[:snaplen], wirelen
    return wire + bytes(p.plen), wirelen


class Writers:
    """pcap and/or pcapng output, buffered; microsecond timestamps in both so they hold the same data."""

    def __init__(self, stem: Path, formats: list[str], snaplen: int) -> None:
        self.files = {}
        if "pcap" in formats:
            f = open(stem.with_suffix(".pcap"), "wb")
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen or 262144, 1))
            self.files["pcap"] = (f, [])
        if "pcapng" in formats:
            f = open(stem.with_suffix(".pcapng"), "wb")
            f.write(struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28))
            f.write(struct.pack("<IIHHII", 1, 20, 1, 0, snaplen or 262144, 20))
            self.files["pcapng"] = (f, [])

    def add(self, data: bytes, wirelen: int, ts_us: int) -> None:
        if "pcap" in self.files:
            self.files["pcap"][1].append(_PCAP_REC.pack(ts_us // 1_000_000, ts_us % 1_000_000, len(data), wirelen) + data)
        if "pcapng" in self.files:
            pad = -len(data) % 4
            length = 32 + len(data) + pad
            self.files["pcapng"][1].append(
                _EPB.pack(6, length, 0, ts_us >> 32, ts_us & 0xFFFFFFFF, len(data), wirelen) + data
                + b"\0" * pad + length.to_bytes(4, "little"))

    def flush(self) -> None:
        for f, pending in self.files.values():
            f.write(b"".join(pending))
            pending.clear()

    def close(self) -> None:
        self.flush()
        for f, _ in self.files.values():
            f.close()


def generate(n_packets: int, seed: int, formats: list[str], out: Path, snaplen: int, rate_per_s: float,
             name: str | None = None) -> dict:
    """Write the capture(s) and the truth sidecar; return the truth."""
    out.mkdir(parents=True, exist_ok=True)
    stem = out / (name or f"bench-{_short(n_packets)}-s{seed}")
    writers = Writers(stem, formats, snaplen)
    scenarios, families, rsts, forged, count = Counter(), Counter(), 0, 0, 0
    for conv, p in timeline(n_packets, seed, rate_per_s):
        if not conv.get("counted"):
            conv["counted"] = True
            scenarios[conv["name"]] += 1
            families["ipv6" if conv["v6"] else "ipv4"] += 1
        ts_us = conv["start"] + p.t_us
        data, wirelen = frame(conv, p, ts_us, snaplen)
        writers.add(data, wirelen, ts_us)
        rsts += bool(p.flags & RST)
        forged += p.forged
        count += 1
        if count % 65536 == 0:
            writers.flush()
    writers.close()
    truth = {
        "seed": seed, "packets": count, "snaplen": snaplen, "rate_per_s": rate_per_s,
        "conversations": sum(scenarios.values()), "rst_packets": rsts, "forged_rsts": forged,
        "scenarios": dict(sorted(scenarios.items())), "ip_versions": dict(sorted(families.items())),
        "by_conn_state": dict(sorted(_expected(scenarios, 1).items())),
        "by_outcome": dict(sorted(_expected(scenarios, 2).items())),
        "files": {fmt: str(stem.with_suffix("." + fmt)) for fmt in formats},
    }
    stem.with_suffix(".truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def _expected(scenarios: Counter, field: int) -> Counter:
    out: Counter = Counter()
    for name, count in scenarios.items():
        out[SCENARIOS[name][field]] += count
    return out


def _short(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000, help="at least this many packets (whole conversations)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("pcap", "pcapng", "both"), default="both")
    parser.add_argument("--snaplen", type=int, default=128, help="bytes kept per frame (0 = whole frames)")
    parser.add_argument("--rate", type=float, default=2000.0, help="new conversations per second (sets concurrency)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--name", help="file stem (default bench-<packets>-s<seed>)")
    args = parser.parse_args(argv)
    formats = ["pcap", "pcapng"] if args.format == "both" else [args.format]
    truth = generate(args.packets, args.seed, formats, args.out, args.snaplen, args.rate, args.name)
    print(json.dumps({k: truth[k] for k in ("packets", "conversations", "rst_packets", "files")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
