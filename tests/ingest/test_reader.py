"""read_capture / iter_capture / read_capture_files on written captures and on the external corpus."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter, defaultdict

import numpy as np
import pytest
from scapy.all import ARP, IP, TCP, UDP, Ether, wrpcap

from netreset.errors import CaptureError
from netreset.ingest.files import read_capture_files
from netreset.ingest.frames import IngestStats
from netreset.ingest.reader import iter_capture, read_capture
from netreset.packets.table import SYN, AddressBook


def eth() -> Ether:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def segment(seq: int, ts: float, flags: str = "A", chksum: int | None = None):
    pkt = eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1234, dport=80, seq=seq, flags=flags,
                                                            chksum=chksum)
    pkt.time = ts
    return pkt


@pytest.fixture
def capture(tmp_path):
    """Five frames: three TCP segments (one with a bad checksum), one ARP, one UDP."""
    frames = [segment(1, 10.0, "S"), eth() / ARP(), segment(2, 10.2, chksum=0xDEAD),
              eth() / IP() / UDP(), segment(3, 10.4)]
    for i, frame in enumerate(frames):
        frame.time = 10.0 + i * 0.1
    path = tmp_path / "five.pcap"
    wrpcap(str(path), frames)
    return path


def test_read_capture_gives_tcp_rows_with_frame_numbers_and_stats(capture):
    table, stats = read_capture(capture)
    assert len(table) == 3
    assert table.frame.tolist() == [1, 3, 5]
    assert table.seq.tolist() == [1, 2, 3]
    assert table.ts_ns.tolist() == [10_000_000_000, 10_200_000_000, 10_400_000_000]
    assert table.flags[0] == SYN
    assert (stats.frames_total, stats.tcp_packets, stats.file_format) == (5, 3, "pcap")
    assert stats.other_protocols == Counter({"arp": 1, "udp": 1})
    assert table.checksum.tolist() == [0, 0, 0]
    assert table.book.name(int(table.src[0])) == "10.0.0.1"


def test_verify_checksums_marks_the_bad_segment(capture):
    table, _ = read_capture(capture, verify_checksums=True)
    assert table.checksum.tolist() == [1, 2, 1]


def test_iter_capture_streams_chunks_and_fills_stats_at_the_end(capture):
    stream = iter_capture(capture, file_id=3, chunk_rows=2)
    chunks = list(stream)
    assert [len(c) for c in chunks] == [2, 1]
    assert all(c.book is stream.book for c in chunks)
    assert set(np.concatenate([c.file_id for c in chunks]).tolist()) == {3}
    assert (stream.stats.frames_total, stream.stats.tcp_packets) == (5, 3)


def test_read_capture_files_merges_in_time_order(tmp_path):
    first, second = tmp_path / "a.pcap", tmp_path / "b.pcap"
    wrpcap(str(first), [segment(1, 1.0), segment(3, 3.0)])
    wrpcap(str(second), [segment(2, 2.0), segment(4, 3.0)])
    book = AddressBook()
    table, stats = read_capture_files([first, second], book=book)
    assert table.seq.tolist() == [1, 2, 4, 3]  # a tie at 3.0 s: the later file's frame first, as mergecap writes it
    assert table.file_id.tolist() == [0, 1, 1, 0]
    assert table.frame.tolist() == [1, 1, 2, 2]
    assert table.book is book and len(book.addresses) == 2
    assert (stats.frames_total, stats.tcp_packets, stats.file_format) == (4, 4, "pcap")
    assert stats.paths == [str(first), str(second)]


def test_an_empty_list_of_files_gives_an_empty_table():
    table, stats = read_capture_files([])
    assert len(table) == 0 and stats == IngestStats(paths=[], file_format="")


def test_missing_file_is_a_capture_error(tmp_path):
    with pytest.raises(CaptureError):
        read_capture(tmp_path / "nope.pcap")


# --- the external corpus (tshark ran with -Y 'tcp && !icmp && !icmpv6', innermost IP) -------------
# compiled=False: these check the general decoder itself, whatever file size the compiled path would take.


def test_tcp_frame_count_equals_tshark_on_every_corpus_capture(corpus):
    """tshark counts frames; an 802.11 A-MSDU frame gives a row per TCP segment, so count frames."""
    mismatches = {}
    for entry in corpus:
        table, stats = read_capture(entry["capture_path"], compiled=False)
        frames = len(np.unique(table.frame[table.proto == 6]))
        if frames != entry["tshark"]["tcp_packets"]:
            mismatches[entry["id"]] = (frames, entry["tshark"]["tcp_packets"], dict(stats.problems))
    assert mismatches == {}


def _per_endpoint_pair(counts_and_ttls):
    """Fold (a, b, count, ttls_a, ttls_b) into {unordered pair: [count, ttls of lower end, of upper end]}."""
    folded = defaultdict(lambda: [0, set(), set()])
    for a, b, count, ttls_a, ttls_b in counts_and_ttls:
        key, swap = ((a, b), False) if a <= b else ((b, a), True)
        folded[key][0] += count
        folded[key][2 if swap else 1].update(ttls_a)
        folded[key][1 if swap else 2].update(ttls_b)
    return dict(folded)


def _ours(table):
    """One per frame and direction, as tshark's per-stream packet counts (A-MSDU subframes of one
    segment pair share a frame)."""
    names = table.book.addresses
    tcp = table.take(table.proto == 6)
    seen = set()
    for frame, src, sport, dst, dport, ttl in zip(tcp.frame.tolist(), tcp.src.tolist(), tcp.sport.tolist(),
                                                  tcp.dst.tolist(), tcp.dport.tolist(), tcp.ttl.tolist()):
        key = (frame, src, sport, dst, dport)
        yield (names[src], sport), (names[dst], dport), 0 if key in seen else 1, {ttl}, set()
        seen.add(key)


def _tsharks(entry):
    for s in entry["tshark"]["streams"]:
        yield ((s["orig_h"], s["orig_p"]), (s["resp_h"], s["resp_p"]), s["packets"],
               set(s["orig"]["ttl_values"]), set(s["resp"]["ttl_values"]))


def test_packets_and_ttls_per_endpoint_pair_equal_tshark(corpus):
    differing = []
    for entry in corpus:
        table, _ = read_capture(entry["capture_path"], compiled=False)
        if _per_endpoint_pair(_ours(table)) != _per_endpoint_pair(_tsharks(entry)):
            differing.append(entry["id"])
    assert differing == []


def test_tunnelled_corpus_captures_are_marked_with_outer_addresses(corpus):
    for entry in corpus:
        if not entry["tshark"]["tcp_encapsulated"]:
            continue
        table, _ = read_capture(entry["capture_path"], compiled=False)
        assert (table.encap > 0).all() and (table.outer_src >= 0).all(), entry["id"]


#: tshark bounds the IP packet by the PPPoE length field (6 bytes shorter here) and so checksums a
#: shorter segment; we follow the IP total length, which the TCP checksum itself and Zeek's
#: ip_bytes agree with.
CHECKSUM_DISAGREEMENTS = {"zeek-pppoe-over-qinq"}


@pytest.mark.tshark
def test_bad_checksum_frames_equal_tshark_with_validation_on(corpus):
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    differing = []
    for entry in corpus:
        if entry["id"] in CHECKSUM_DISAGREEMENTS:
            continue
        table, _ = read_capture(entry["capture_path"], verify_checksums=True)
        tcp = table.take(table.proto == 6)
        ours = tcp.frame[tcp.checksum == 2].tolist()
        out = subprocess.run(
            ["tshark", "-n", "-r", str(entry["capture_path"]), "-o", "tcp.check_checksum:TRUE",
             "-o", "ip.check_checksum:TRUE", "-T", "fields", "-e", "frame.number", "-Y",
             "tcp && !icmp && !icmpv6 && (tcp.checksum.status == 0 || ip.checksum.status == 0)"],
            capture_output=True, text=True, check=True).stdout
        if sorted(ours) != sorted(int(n) for n in out.split()):
            differing.append(entry["id"])
    assert differing == []
