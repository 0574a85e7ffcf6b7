"""A day of generated traffic as a pcap stream on stdout, for the bounded-memory test of ``netreset watch``.

    python tests/helpers/day_stream.py --packets 300000 --hours 24 | netreset watch -r - --format json

The packets are ``benchmarks/generate.py``'s (clean conversations, refusals, unanswered SYNs, server and
middlebox resets), their conversations started as a Poisson process whose rate spreads ``--packets``
over ``--hours`` of capture time. Written in blocks, as a capture program writes to a pipe.
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from generate import frame, timeline  # noqa: E402

PACKETS_PER_CONVERSATION = 13  #: about what the generator's scenario mix gives


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packets", type=int, default=300_000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rate = args.packets / PACKETS_PER_CONVERSATION / (args.hours * 3600)
    out = sys.stdout.buffer
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 128, 1))
    block, record = [], struct.Struct("<IIII")
    for conv, p in timeline(args.packets, args.seed, rate):
        ts_us = conv["start"] + p.t_us
        data, wirelen = frame(conv, p, ts_us, 128)
        block.append(record.pack(ts_us // 1_000_000, ts_us % 1_000_000, len(data), wirelen) + data)
        if len(block) >= 4096:
            out.write(b"".join(block))
            block.clear()
    out.write(b"".join(block))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
