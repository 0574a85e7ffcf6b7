"""The plain dpkt loop the benchmark compares against: parse every frame, count TCP tuples and RSTs.

    python benchmarks/dpkt_loop.py CAPTURE   → one JSON line {"packets", "tcp", "tuples", "rsts"}

This is what a script written in an afternoon does; it is the floor netreset must beat by far.
"""

from __future__ import annotations

import json
import sys

import dpkt


def main(path: str) -> int:
    packets = tcp_count = rsts = 0
    tuples = set()
    with open(path, "rb") as f:
        is_pcapng = f.read(4) == b"\x0a\x0d\x0d\x0a"
        f.seek(0)
        reader = dpkt.pcapng.Reader(f) if is_pcapng else dpkt.pcap.Reader(f)
        for _ts, buf in reader:
            packets += 1
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) or not isinstance(ip.data, dpkt.tcp.TCP):
                continue
            seg = ip.data
            tcp_count += 1
            a, b = (ip.src, seg.sport), (ip.dst, seg.dport)
            tuples.add((a, b) if a < b else (b, a))
            rsts += bool(seg.flags & dpkt.tcp.TH_RST)
    print(json.dumps({"packets": packets, "tcp": tcp_count, "tuples": len(tuples), "rsts": rsts}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
