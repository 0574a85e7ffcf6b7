"""Capture order (issue 13 §4): files walked in frame order as Wireshark and Zeek walk them, several files
merged as mergecap merges them, Zeek's timers on its network time (never back), the streamed path equal to
the whole one on streams shared across batches, source routes keyed on their final hop, and timestamps
beyond int64 nanoseconds clamped with a warning instead of a crash."""

from __future__ import annotations

import random
import shutil
import socket
import struct
import subprocess

import dpkt
import numpy as np
import pytest
from conftest import ROOT

from netreset.flows.conversations import build_conversations
from netreset.ingest.files import capture_order, read_capture_files
from netreset.ingest.reader import read_capture
from netreset.pipeline.streamed import analyse_streamed
from netreset.pipeline.whole import Analysis, Options

TSHARK = shutil.which("tshark")
MERGECAP = shutil.which("mergecap")
SYN, ACK, RST, PSH, FIN = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_RST, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_FIN


def _frame(src, dst, sport, dport, flags, seq, ack=0, data=b"", opts=b"", final_dst=None):
    """An Ethernet/IPv4/TCP frame; ``opts`` IP options, ``final_dst`` the address the TCP checksum is made for."""
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, off=5, win=1000, data=data)
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(final_dst or dst), p=6, ttl=64, data=tcp)
    ip.len = len(ip) + len(opts)
    bytes(ip)  # the TCP checksum, over the final destination
    ip.dst, ip.opts, ip.hl, ip.sum = socket.inet_aton(dst), opts, 5 + len(opts) // 4, 0
    return bytes(dpkt.ethernet.Ethernet(type=0x0800, data=ip, src=b"\0" * 6, dst=b"\1" * 6))


def _pcap(path, frames):
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, nano=True)
        for t, frame in frames:
            writer.writepkt(frame, ts=t)
    return path


def _tshark_fields(path, *fields, display_filter=None):
    args = [TSHARK, "-r", str(path), "-T", "fields"] + [x for f in fields for x in ("-e", f)]
    if display_filter:
        args += ["-Y", display_filter]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def _streams_by_frame(analysis) -> dict[int, int]:
    return {int(analysis.table.frame[r]): c.tcp_stream for c in analysis.raw_conversations for r in c.rows}


def _both(table, **kw):
    plain = build_conversations(table, compiled=False, **kw)
    compiled = build_conversations(table, compiled=True, **kw)
    strip = [(c.id, c.tcp_stream, c.conn_state, c.history, c.rows.tolist(), c.completeness, c.start_ns, c.end_ns)
             for c in plain]
    assert strip == [(c.id, c.tcp_stream, c.conn_state, c.history, np.asarray(c.rows).tolist(), c.completeness,
                      c.start_ns, c.end_ns) for c in compiled]
    return plain


def test_a_file_out_of_time_order_is_numbered_in_file_order(tmp_path):
    """Connection B is written first with a later clock: Wireshark's stream 0 is B, and so is netreset's."""
    a, b = ("10.0.0.1", "10.0.0.2", 40000, 80), ("10.0.0.1", "10.0.0.2", 40001, 80)
    frames = [(20.0, _frame(*b, SYN, 500)), (10.0, _frame(*a, SYN, 100)), (10.1, _frame(*a[:2][::-1], 80, 40000, SYN | ACK, 9, 101)),
              (20.1, _frame(*b[:2][::-1], 80, 40001, RST | ACK, 0, 501)), (10.2, _frame(*a, ACK, 101, 10))]
    path = _pcap(tmp_path / "unordered.pcap", frames)
    whole = Analysis.of_files([path])
    assert whole.table.frame.tolist() == [1, 2, 3, 4, 5]
    assert _streams_by_frame(whole) == {1: 0, 2: 1, 3: 1, 4: 0, 5: 1}
    assert [w for w in whole.stats.warnings if "go back" in w] == [
        f"{path}: timestamps go back 2 times: frame 2 is 10.0 s before frame 1 (the biggest step); analysed "
        "in capture order, as Wireshark and Zeek do"]
    _both(whole.table)
    if TSHARK:
        assert {int(f): int(s) for f, s in _tshark_fields(path, "frame.number", "tcp.stream")} == _streams_by_frame(whole)


def test_a_damaged_clock_keeps_one_stream_and_zeeks_own_split(tmp_path):
    """The second frame 21 years before the first. Sorted by time, the SYN-ACK came 21 years before its SYN
    (two OTH conversations on two streams). In file order it is one Wireshark stream; Zeek's clock stays
    at the SYN's time, but the SYN-ACK sets the connection's last activity 21 years back, so the 300 s
    inactivity timer (due then) fires at the next packet: Zeek logs the data as a second row, S1 then OTH,
    and netreset does the same — on one tcp.stream, whose display filters are narrowed by frame range."""
    c, s = ("10.0.0.1", "10.0.0.2", 40000, 80), ("10.0.0.2", "10.0.0.1", 80, 40000)
    t = 1_700_000_000.0
    frames = [(t, _frame(*c, SYN, 100)), (t - 21 * 365.25 * 86400, _frame(*s, SYN | ACK, 900, 101)),
              (t + 0.01, _frame(*c, ACK | PSH, 101, 901, b"GET /")), (t + 0.02, _frame(*s, ACK, 901, 106))]
    whole = Analysis.of_files([_pcap(tmp_path / "damaged.pcap", frames)])
    first, second = _both(whole.table)
    assert [(c.conn_state, c.history, c.rows.tolist(), c.tcp_stream) for c in (first, second)] == [
        ("S1", "Sh", [0, 1], 0), ("OTH", "Da", [2, 3], 0)]
    assert any("21.0 years before frame 1" in w for w in whole.stats.warnings)


def test_zeek_timers_run_on_network_time_which_never_goes_back():
    """A SYN at 10 s, another tuple's packet at 100 s, then the first tuple again stamped 12 s: Zeek's clock
    is at 100 s, the attempt timer (10 + 5 s) has fired, so the late packet starts a new connection; a
    timer due after the newest time seen has not fired, whatever the packet's own stamp says."""
    from builders import table as rows_table, tcp

    table = rows_table([tcp(src, dst, flags, seq=seq, t=t) for src, dst, flags, seq, t in [
        ("10.0.0.1:40000", "10.0.0.2:80", "S", 100, 10.0),
        ("10.0.0.3:40000", "10.0.0.4:80", "S", 7, 100.0),
        ("10.0.0.1:40000", "10.0.0.2:80", "S", 100, 12.0),
        ("10.0.0.5:40000", "10.0.0.6:80", "S", 300, 200.0),
        ("10.0.0.5:40000", "10.0.0.6:80", "S", 300, 199.0),  # back 1 s: network time still 200 s
    ]])
    conversations = _both(table, attempts=False)  # Zeek's connections: the boundaries its timers make
    by_tuple = {}
    for c in conversations:
        by_tuple.setdefault((c.orig_h, c.orig_p), []).append(c.rows.tolist())
    assert by_tuple[("10.0.0.1", 40000)] == [[0], [2]]
    # The same ISN again: one connection attempt, so one conversation (docs/tcp-states.md).
    joined = {(c.orig_h, c.orig_p): c.rows.tolist() for c in _both(table)}
    assert joined[("10.0.0.1", 40000)] == [0, 2]
    assert by_tuple[("10.0.0.5", 40000)] == [[3, 4]]
    # Wireshark keeps one stream per tuple while the ISN stays the same.
    assert [c.tcp_stream for c in conversations if c.orig_h == "10.0.0.1"] == [0, 0]


def test_two_files_merge_as_mergecap_merges_them(tmp_path):
    rng = random.Random(5)
    paths = []
    for n in range(3):
        frames, t = [], 0.0
        for i in range(40):
            t += rng.choice([0.5, 1.0, -0.7, 2.0])  # each file steps back now and then
            frames.append((100 + t, _frame("10.0.%d.1" % n, "10.9.9.9", 30000 + i, 80, SYN, i)))
        paths.append(_pcap(tmp_path / f"part{n}.pcap", frames))
    table, _ = read_capture_files(paths)
    got = list(zip(table.file_id.tolist(), table.frame.tolist()))
    for fid in range(3):  # each file's frames in file order
        assert [f for i, f in got if i == fid] == list(range(1, 41))
    expected = _mergecap_reference([read_capture(p, file_id=i)[0] for i, p in enumerate(paths)])
    assert got == expected
    if MERGECAP:
        merged = tmp_path / "merged.pcap"
        subprocess.run([MERGECAP, "-F", "pcap", "-w", str(merged)] + [str(p) for p in paths], check=True)
        one, _ = read_capture(merged)
        assert one.ts_ns.tolist() == table.ts_ns.tolist()
        assert [one.book.name(int(a)) for a in one.src] == [table.book.name(int(a)) for a in table.src]
        assert one.sport.tolist() == table.sport.tolist()


def _mergecap_reference(tables):
    """wiretap's merge, written out: the earliest next frame of every file, the later file on a tie."""
    heads = [0] * len(tables)
    out = []
    while True:
        live = [i for i, t in enumerate(tables) if heads[i] < len(t)]
        if not live:
            return out
        pick = min(live, key=lambda i: (int(tables[i].ts_ns[heads[i]]), -i))
        out.append((pick, int(tables[pick].frame[heads[pick]])))
        heads[pick] += 1


def test_capture_order_equals_the_merge_on_random_files():
    rng = np.random.default_rng(3)
    for _ in range(200):
        parts = []
        for fid in range(rng.integers(1, 4)):
            n = int(rng.integers(0, 12))
            parts.append({"file_id": np.full(n, fid), "frame": np.arange(1, n + 1), "ts_ns": rng.integers(0, 8, n)})
        cols = {k: np.concatenate([p[k] for p in parts]) for k in ("file_id", "frame", "ts_ns")}
        order = capture_order(_Cols(cols))
        want = []
        tables = [p for p in parts if len(p["frame"])]
        heads = [0] * len(tables)
        while any(h < len(t["frame"]) for h, t in zip(heads, tables)):
            live = [i for i, t in enumerate(tables) if heads[i] < len(t["frame"])]
            pick = min(live, key=lambda i: (tables[i]["ts_ns"][heads[i]], -tables[i]["file_id"][0]))
            want.append((int(tables[pick]["file_id"][0]), int(tables[pick]["frame"][heads[pick]])))
            heads[pick] += 1
        assert list(zip(cols["file_id"][order].tolist(), cols["frame"][order].tolist())) == want


class _Cols:
    def __init__(self, cols):
        self.file_id, self.frame, self.ts_ns = cols["file_id"], cols["frame"], cols["ts_ns"]

    def __len__(self):
        return len(self.frame)


# -- source routes ---------------------------------------------------------------------------------
def _route(kind, pointer, *hops):
    body = bytes([kind, 3 + 4 * len(hops), pointer]) + b"".join(socket.inet_aton(h) for h in hops)
    return body + b"\1" * (-len(body) % 4)


def _source_routed(tmp_path):
    c, s = ("10.0.0.1", 1234), ("10.9.9.2", 80)
    frames = [
        (1.0, _frame(c[0], "10.0.0.254", c[1], s[1], SYN, 100, opts=_route(131, 4, "10.9.9.1", "10.9.9.2"), final_dst=s[0])),
        (1.1, _frame(s[0], c[0], s[1], c[1], SYN | ACK, 500, 101)),
        (1.2, _frame(c[0], "10.9.9.1", c[1], s[1], ACK, 101, 501, opts=b"\1" + _route(137, 8, "10.0.0.254", "10.9.9.2")[:-1], final_dst=s[0])),
        (1.3, _frame(c[0], "10.9.9.1", c[1], s[1], ACK, 101, 501, opts=_route(131, 12, "10.0.0.254", "10.9.9.1"))),  # route used up
        (1.4, _frame(c[0], "10.9.9.1", c[1], s[1], ACK, 101, 501, opts=_route(131, 5, "10.9.9.2"))),  # bad pointer
    ]
    return _pcap(tmp_path / "routes.pcap", frames)


def test_source_routes_key_the_conversation_on_the_final_hop(tmp_path):
    path = _source_routed(tmp_path)
    plain, _ = read_capture(path, compiled=False)
    compiled, _ = read_capture(path, compiled=True)
    for t in (plain, compiled):
        assert [t.book.name(int(d)) for d in t.dst] == ["10.9.9.2", "10.0.0.1", "10.9.9.2", "10.9.9.1", "10.9.9.1"]
    checked, _ = read_capture(path, verify_checksums=True)
    assert checked.checksum.tolist()[:3] == [1, 1, 1]  # the pseudo-header holds the final hop
    whole = Analysis.of_files([path])
    assert _streams_by_frame(whole) == {1: 0, 2: 0, 3: 0, 4: 1, 5: 1}
    if TSHARK:
        got = _tshark_fields(path, "frame.number", "ip.dst", "tcp.stream")
        assert [g[1] for g in got] == ["10.9.9.2", "10.0.0.1", "10.9.9.2", "10.9.9.1", "10.9.9.1"]
        assert {int(f): int(s) for f, _, s in got} == _streams_by_frame(whole)


def test_the_compiled_route_lookup_is_the_reference():
    from netreset.ingest.compiled.kernels import ipv4_dst_offset as compiled_offset
    from netreset.ingest.layers.ip import ipv4_dst_offset

    rng = random.Random(7)
    for _ in range(3000):
        options = bytes(rng.choice([0, 1, 131, 137, 7, 68, rng.randrange(256)]) if rng.random() < 0.4
                        else rng.randrange(16) for _ in range(rng.choice([4, 8, 12, 40])))
        header = bytes(20) + options
        want = ipv4_dst_offset(header, 0, len(header))
        assert compiled_offset(np.frombuffer(header, dtype=np.uint8), 0, len(header)) == want
        assert want == 16 or 20 <= want <= len(header) - 4


# -- timestamps beyond int64 nanoseconds --------------------------------------------------------------
def _block(kind, body):
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def _pcapng(path, interfaces, packets):
    """``interfaces``: (if_tsresol or None, if_tsoffset or None); ``packets``: (interface, units, frame)."""
    out = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for tsresol, tsoffset in interfaces:
        opts = b""
        if tsresol is not None:
            opts += struct.pack("<HH", 9, 1) + bytes([tsresol]) + b"\0\0\0"
        if tsoffset is not None:
            opts += struct.pack("<HHq", 14, 8, tsoffset)
        out += _block(1, struct.pack("<HHI", 1, 0, 65535) + opts + (struct.pack("<HH", 0, 0) if opts else b""))
    for iface, units, frame in packets:
        out += _block(6, struct.pack("<IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    path.write_bytes(out)
    return path


def _syn(port):
    return _frame("10.0.0.1", "10.0.0.2", port, 80, SYN, port)


@pytest.mark.parametrize("command", ["summary", "locate-reset", "handshakes", "conversations", "hosts", "report"])
def test_timestamps_beyond_int64_nanoseconds_are_clamped_not_fatal(tmp_path, command):
    from click.testing import CliRunner

    from netreset.cli.main import main

    path = _pcapng(tmp_path / "far.pcapng", [(None, None), (0, None), (9, 2 ** 62)],
                   [(0, 1_700_000_000_000_000, _syn(1000)), (1, 2 ** 63 + 5, _syn(1001)), (2, 2 ** 63, _syn(1002)),
                    (0, 1_700_000_001_000_000, _syn(1003))])
    result = CliRunner().invoke(main, [command, str(path), "-q"] if command != "report" else
                                [command, str(path), "-o", str(tmp_path / "r.html"), "-q"])
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output
    plain, stats = read_capture(path, compiled=False)
    fast, fast_stats = read_capture(path, compiled=True)
    assert plain.ts_ns.tolist() == fast.ts_ns.tolist() == [1_700_000_000 * 10 ** 9, 2 ** 63 - 1, 2 ** 63 - 1,
                                                          1_700_000_001 * 10 ** 9]
    assert any("the first: frame 2" in w and "nearest limit" in w for w in stats.warnings)
    assert stats.warnings == fast_stats.warnings


def test_random_clocks_never_crash_and_both_readers_agree(tmp_path):
    rng = random.Random(11)
    for case in range(40):
        interfaces = [(rng.choice([None, 0, 3, 6, 9, 0x80 | rng.randrange(0, 70), rng.randrange(0, 20)]),
                       rng.choice([None, 0, rng.randrange(-2 ** 63, 2 ** 63)])) for _ in range(rng.randint(1, 3))]
        packets = [(rng.randrange(len(interfaces)), rng.choice([rng.randrange(2 ** 64), rng.randrange(2 ** 40), 0]),
                    _syn(2000 + i)) for i in range(rng.randint(1, 6))]
        path = _pcapng(tmp_path / f"clock{case}.pcapng", interfaces, packets)
        plain, stats = read_capture(path, compiled=False)
        fast, _ = read_capture(path, compiled=True)
        assert plain.ts_ns.tolist() == fast.ts_ns.tolist()
        analysis = Analysis.of_files([path])
        assert analysis.conversation_count() == len(packets)
        analysis.finding_rows()


# -- the streamed path on streams shared across batches ----------------------------------------------
def _shared_streams_capture(path):
    """SYNs sent again with the same ISN after Zeek's attempt timer removed the first, and later than any
    retry timer (beyond ATTEMPT_HORIZON_NS, so a new conversation, not the same attempt): two
    conversations on one Wireshark stream, the second many batches later; busy traffic between moves
    the clock on so that the first is retired before the second."""
    frames, t = [], 1000.0
    pending = []
    for i in range(60):
        t += 0.25
        port = 20000 + i
        frames.append((t, _frame("10.1.0.1", "10.2.0.2", port, 443, SYN, 7000 + i)))
        pending.append((t + 130.0, port, 7000 + i))
        for j in range(3):  # a short complete exchange on its own tuple
            p = 40000 + 3 * i + j
            frames += [(t + 0.01, _frame("10.1.0.5", "10.2.0.6", p, 80, SYN, 1)),
                       (t + 0.02, _frame("10.2.0.6", "10.1.0.5", 80, p, SYN | ACK, 9, 2)),
                       (t + 0.03, _frame("10.1.0.5", "10.2.0.6", p, 80, RST | ACK, 2, 10))]
        while pending and pending[0][0] <= t:
            when, p, seq = pending.pop(0)
            frames.append((when, _frame("10.1.0.1", "10.2.0.2", p, 443, SYN, seq)))
    for when, p, seq in pending:
        frames.append((when, _frame("10.1.0.1", "10.2.0.2", p, 443, SYN, seq)))
    return _pcap(path, frames)


@pytest.mark.parametrize("batch", [7, 64, 300])
def test_streams_shared_across_batches_stream_to_the_whole_answers(tmp_path, batch):
    path = _shared_streams_capture(tmp_path / "shared.pcap")
    whole = Analysis.of_files([path])
    shared = [c for c in whole.raw_conversations if c.orig_p < 40000]
    assert len(shared) == 120 and len({c.tcp_stream for c in shared}) == 60  # two Zeek rows, one stream each
    streamed = analyse_streamed(path, Options(), chunk_rows=batch, batch_rows=batch)
    assert len(list(streamed.pieces())) > 2
    want = [(r["conversation"], r["frames"], r["display_filter"]) for r in whole.finding_rows()]
    got = [(r["conversation"], r["frames"], r["display_filter"]) for r in streamed.finding_rows()]
    assert got == want
    assert sum("frame.number >=" in f for _, _, f in want) == 120
    by_id = {c.id: c for c in whole.raw_conversations}
    for _, _, conversations in streamed.pieces():
        for c in conversations:
            assert (c.tcp_stream, c.completeness) == (by_id[c.id].tcp_stream, by_id[c.id].completeness)
    assert list(streamed.handshake_rows()) == whole.handshake_rows()
