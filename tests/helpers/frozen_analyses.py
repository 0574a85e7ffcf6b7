"""Frozen answers of the analyses after ingest (reset verdicts, handshake findings, host profiles).

The fast paths of issue 4 (vectorised reset facts, lean packet table) must answer exactly as the
straightforward implementation did. Its answers were written once, before the fast paths replaced it
(commit 1a3410b), for every corpus capture, every sample and lab capture, one generated capture and
:data:`RANDOM_FLOWS` seeded random conversations (:func:`random_flows`: every reset rule's branches —
bursts, races, reflections, ICMP errors, IP ID counters — which real captures rarely reach), into
``tests/data/analyses-frozen.json.gz``; ``tests/pipeline/test_compiled_analyses.py`` compares today's answers with them.

Regenerate only after an intended change of behaviour (never to make a speed-up pass), then review:

    python tests/helpers/frozen_analyses.py
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FROZEN = ROOT / "tests" / "data" / "analyses-frozen.json.gz"
#: The generated capture: ``benchmarks/generate.py`` arguments (deterministic for a seed).
GENERATED = ("--packets", "30000", "--seed", "7", "--format", "pcap", "--name", "gen-30k-s7")


def generate(out: Path) -> Path:
    """Write the generated capture into ``out`` and return its path."""
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), *GENERATED, "--out", str(out)],
                   check=True, capture_output=True)
    return out / "gen-30k-s7.pcap"


def captures(corpus_dir: Path | None, generated: Path | None) -> dict[str, Path]:
    """Name → path of every capture whose answers are frozen (corpus ones only when it is present)."""
    found = {f"captures/{p.name}": p for p in sorted((ROOT / "captures").iterdir()) if p.suffix in (".pcap", ".pcapng")}
    found |= {f"captures/peer/{p.name}": p for p in sorted((ROOT / "captures" / "peer").glob("*.pcap*"))}
    if corpus_dir is not None and (corpus_dir / "manifest.json").is_file():
        for item in json.loads((corpus_dir / "manifest.json").read_text()):
            expected = json.loads((corpus_dir / item["id"] / "expected.json").read_text())
            found[f"corpus/{item['id']}"] = corpus_dir / item["id"] / expected["capture"]
    if generated is not None:
        found["generated/gen-30k-s7"] = generated
    return found


def answers(path: Path) -> dict:
    """What the analyses say about one capture, as the JSON the CLI prints."""
    from netreset.pipeline.whole import Analysis

    analysis = Analysis.of_files([path])
    return {
        "outcomes": [c.outcome for c in analysis.all_conversations],
        "resets": [r.to_dict() for r in analysis.all_resets],
        "handshakes": [f.to_dict() for f in analysis.handshakes],
        "hosts": [h.to_dict() for h in analysis.hosts],
    }


RANDOM_FLOWS = 150  #: seeds of random_flows() whose answers are frozen
_TTLS = (61, 63, 64, 107, 118, 128, 250, 255)


class _Stack:
    """One endpoint: address, port, arrival TTL, IP ID habit, options, next sequence number."""

    def __init__(self, rng, addr: int, port: int) -> None:
        self.addr, self.port, self.ttl = addr, port, rng.choice(_TTLS)
        self.ipid_mode, self.ip_id = rng.choice(("count", "count", "zero", "random", "global")), rng.randrange(65536)
        self.df, self.ts, self.win = rng.random() < 0.7, rng.random() < 0.6, rng.choice((0, 502, 8212, 65535))
        self.seq, self.tsval = rng.randrange(2**32), rng.randrange(2**31)

    def next_id(self, rng) -> int:
        if self.ipid_mode == "zero":
            return 0
        if self.ipid_mode == "random":
            return rng.randrange(1, 65536)
        self.ip_id = (self.ip_id + (1 if self.ipid_mode == "count" else rng.randrange(1, 3000))) % 65536
        return self.ip_id


def _segment(rng, src: _Stack, dst: _Stack, flags: int, data: int, t: float, v6: bool, last: dict) -> dict:
    """One TCP row from ``src``; RSTs get the header fields forgers and stacks really use, at random."""
    from netreset.packets.table import ACK, RST, SYN

    rst = bool(flags & RST)
    row = dict(ts_ns=int(t * 1e9), src=src.addr, dst=dst.addr, ip_version=6 if v6 else 4, proto=6,
               sport=src.port, dport=dst.port, flags=flags, seq=src.seq, ack=dst.seq if flags & ACK else 0,
               win=src.win, payload_len=data, captured_payload=data,
               ttl=src.ttl if not rst or rng.random() < 0.5 else rng.choice(_TTLS + (src.ttl - 1, min(src.ttl + 1, 255))))
    if not v6:
        row.update(ip_id=src.next_id(rng), df=src.df)
        if rst and rng.random() < 0.3:
            row.update(ip_id=rng.choice((0, last.get("ip_id", 7), rng.randrange(65536))), df=rng.random() < 0.5)
    if rst and rng.random() < 0.5:
        row.update(seq=(src.seq + rng.choice((1, 2, 3, 1460, 4380, 70000, -5000, 2**31))) % 2**32,
                   win=rng.choice((0, last.get("win", 0))), ack=rng.randrange(2**32) if flags & ACK else 0)
    if src.ts and (not rst or rng.random() < 0.5):
        src.tsval += rng.randrange(1, 50)
        row.update(ts_val=src.tsval, ts_ecr=dst.tsval)
    if flags & SYN:
        row.update(mss=1460, sack_perm=True, wscale=rng.choice((-1, 0, 7, 14)))
    row["ip_len"] = (40 if v6 else 20) + 20 + data
    return row


def _flow_events(rng) -> list[tuple[str, str, int]]:
    """(side, flags, payload bytes) of one random conversation: handshake, data, closes, resets, races."""
    events = [("c", "S", 0)] * rng.choice((0, 1, 1, 2)) + [("s", "SA", 0)] * rng.choice((0, 1, 1, 2))
    for _ in range(rng.randrange(0, 12)):
        side = rng.choice("cs")
        events.append((side, rng.choice(("A", "PA", "PA", "FA", "R", "RA", "RA", "A")), rng.choice((0, 0, 100, 1460))))
        if events[-1][1].startswith("R") and rng.random() < 0.3:
            events += [(side, events[-1][1], 0)] * rng.randrange(1, 4)  # a burst of RSTs
    return events


def random_flows(seed: int):
    """A small random capture: a few conversations between a few hosts, plus ICMP errors quoting them."""
    import random

    from netreset.packets.table import PROTO_ICMP, PacketTableBuilder

    rng = random.Random(seed)
    builder = PacketTableBuilder()
    v6 = rng.random() < 0.2
    hosts = [builder.book.intern(f"2001:db8::{i}" if v6 else f"10.0.0.{i}") for i in range(1, 4)]
    rows, t = [], 0.0
    for n in range(rng.randrange(1, 5)):
        c, s = _Stack(rng, hosts[0], 40000 + n), _Stack(rng, rng.choice(hosts[1:]), rng.choice((80, 443)))
        rtt, last = rng.choice((0.0005, 0.004, 0.04)), {}
        for side, text, data in _flow_events(rng):
            src, dst = (c, s) if side == "c" else (s, c)
            flags = sum({"S": 2, "A": 16, "P": 8, "F": 1, "R": 4}[ch] for ch in text)
            t += rng.choice((0.0001, rtt / 3, rtt, rtt * 2, 1.5, 3.0))
            rows.append(_segment(rng, src, dst, flags, data, t, v6, last))
            last = rows[-1]
            if not flags & 4 or rng.random() < 0.3:
                src.seq = (src.seq + data + bool(flags & 3)) % 2**32
        if rng.random() < 0.25 and not v6:
            rows.append(dict(ts_ns=int((t + 0.01) * 1e9), src=rng.choice(hosts[1:]), dst=c.addr, ip_version=4,
                             proto=PROTO_ICMP, ttl=rng.choice(_TTLS), icmp_type=3, icmp_code=rng.choice((1, 3, 10, 13)),
                             q_src=c.addr, q_dst=s.addr, q_sport=c.port, q_dport=s.port, q_seq=c.seq, q_ttl=1))
    for frame, row in enumerate(sorted(rows, key=lambda r: r["ts_ns"]), start=1):
        builder.append({**row, "frame": frame})
    return builder.build()


def random_answers(seed: int) -> dict:
    """The analyses of :func:`random_flows` (conversations grouped per 4-tuple, as the reset tests do)."""
    from netreset.analyses.handshakes.analyze import analyze_handshakes
    from netreset.analyses.hosts import profile_hosts
    from netreset.analyses.resets.locate import locate_resets
    from resets_support import conversations_of

    table = random_flows(seed)
    conversations = conversations_of(table)
    resets = locate_resets(table, conversations)
    return {
        "outcomes": [],
        "resets": [r.to_dict() for r in resets],
        "handshakes": [f.to_dict() for f in analyze_handshakes(table, conversations, resets=resets)],
        "hosts": [h.to_dict() for h in profile_hosts(table, conversations)],
    }


def load() -> dict:
    return json.loads(gzip.decompress(FROZEN.read_bytes()))


def main() -> int:
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import CORPUS

    with tempfile.TemporaryDirectory() as tmp:
        paths = captures(CORPUS, generate(Path(tmp)))
        document = {name: answers(path) for name, path in paths.items()}
    document |= {f"random/{seed}": random_answers(seed) for seed in range(RANDOM_FLOWS)}
    FROZEN.parent.mkdir(exist_ok=True)
    FROZEN.write_bytes(gzip.compress(json.dumps(document, sort_keys=True).encode(), mtime=0))
    print(f"wrote {FROZEN.relative_to(ROOT)}: {len(document)} captures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
