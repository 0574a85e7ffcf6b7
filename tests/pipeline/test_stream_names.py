"""The names that pass per server address (netreset.analyses.names_passing) are gathered before a streamed capture
is split, so ``sni_filtered``'s "other names to the same address pass" is the same on both paths — also when
the passing conversation retired long before the filtered one and was never kept as a piece."""

from __future__ import annotations

import random

import pytest
from conftest import ROOT
from scapy.all import IP, TCP, Ether, Raw, wrpcap

from netreset.pipeline.streamed import analyse_streamed
from netreset.pipeline.whole import Analysis, Options

from tests.analyses.test_application import client_hello, server_hello

SERVER, CLIENT = "198.51.100.7", "10.1.0.5"


def _tls(cport: int, server: str, sni: str, t: float, *, blocked: str | None = None) -> list:
    """One TLS connection: handshake, ClientHello; answered (ServerHello, FINs), or — ``blocked`` ∈ {"reset",
    "drop"} — reset at once by a middlebox (TTL 61 against the server's 122) or retransmitted into nothing."""
    c = lambda flags, seq, ack, data=b"", ttl=64: Ether() / IP(src=CLIENT, dst=server, ttl=ttl) / TCP(  # noqa: E731
        sport=cport, dport=443, flags=flags, seq=seq, ack=ack) / Raw(data)
    s = lambda flags, seq, ack, data=b"", ttl=122: Ether() / IP(src=server, dst=CLIENT, ttl=ttl) / TCP(  # noqa: E731
        sport=443, dport=cport, flags=flags, seq=seq, ack=ack) / Raw(data)
    hello, answer = client_hello(sni), server_hello(0x0304)
    out = [(t, c("S", 99, 0)), (t + 0.01, s("SA", 499, 100)), (t + 0.02, c("A", 100, 500)),
           (t + 0.03, c("PA", 100, 500, hello))]
    end = 100 + len(hello)
    if blocked == "reset":
        out.append((t + 0.0301, s("R", 500, 0, ttl=61)))
    elif blocked == "drop":
        out += [(t + 0.23, c("PA", 100, 500, hello)), (t + 0.63, c("PA", 100, 500, hello)),
                (t + 1.5, c("RA", end, 500))]
    else:
        out += [(t + 0.04, s("PA", 500, end, answer)), (t + 0.05, c("FA", end, 500 + len(answer))),
                (t + 0.06, s("FA", 500 + len(answer), end + 1)), (t + 0.07, c("A", end + 1, 501 + len(answer)))]
    packets = []
    for when, p in out:
        p.time = when
        packets.append(p)
    return packets


@pytest.fixture(scope="module")
def mixed_capture(tmp_path_factory):
    """Minutes of TLS traffic to many servers; the names passing to SERVER early, its filtered ones late."""
    rng = random.Random(14)
    packets = _tls(41000, SERVER, "early.example.net", 1.0)
    for k in range(400):
        server = f"203.0.113.{1 + k % 200}"
        packets += _tls(42000 + k, server, f"svc{k}.example.org", 2.0 + k * 0.5 + rng.random() * 0.1)
    packets += _tls(41001, SERVER, "blocked.example.com", 260.0, blocked="reset")
    packets += _tls(41002, SERVER, "dropped.example.com", 261.0, blocked="drop")
    packets += _tls(41003, SERVER, "late.example.net", 262.0)
    path = tmp_path_factory.mktemp("names") / "mixed.pcap"
    wrpcap(str(path), sorted(packets, key=lambda p: p.time))
    return path


def _sni_causes(rows) -> dict:
    return {r["sport"] if r["dport"] == 443 else r["dport"]: r["causes"] for r in rows if any(c["code"] == "sni_filtered" for c in r["causes"])}


def test_names_passing_are_the_same_streamed_and_whole(mixed_capture):
    whole = Analysis.of_files([mixed_capture])
    streamed = analyse_streamed(mixed_capture, Options(), chunk_rows=500, batch_rows=1000)
    assert streamed.passing_names == whole.passing_names
    assert whole.passing_names[SERVER] == ["blocked.example.com", "early.example.net", "late.example.net"][1:]
    # the early passing conversation retired in another piece than the blocked ones (tuples with application
    # bytes are kept for summary's by_cause): the names they see came from the gathering, not from their piece
    piece_of = {c.orig_p: i for i, (_, _, conversations) in enumerate(streamed.pieces()) for c in conversations}
    assert {41001, 41002} <= set(piece_of) and piece_of.get(41000) not in (piece_of[41001], piece_of[41002])
    rows = list(streamed.reset_rows())
    assert rows == whole.reset_rows()
    causes = _sni_causes(rows)
    assert set(causes) == {41001, 41002}
    for port in (41001, 41002):
        (cause,) = [c for c in causes[port] if c["code"] == "sni_filtered"]
        assert cause["evidence"]["other_names_pass"] == ["early.example.net", "late.example.net"]
    assert causes[41002][0]["evidence"]["dropped"] is True


@pytest.mark.parametrize("name", ["sni-filtered.pcapng", "sni-dropped.pcapng"])
def test_lab_sni_captures_say_the_passing_name_on_both_paths(name):
    path = ROOT / "captures" / name
    if not path.exists():
        pytest.skip(f"{name} missing")
    whole = Analysis.of_files([path])
    streamed = analyse_streamed(path, Options(), chunk_rows=2, batch_rows=2)
    rows = list(streamed.reset_rows())
    assert rows == whole.reset_rows()
    (cause,) = [c for r in rows for c in r["causes"] if c["code"] == "sni_filtered"]
    assert cause["evidence"]["other_names_pass"] == ["x.servicebus.windows.net"]


def test_stored_keys_follow_a_growing_store_and_never_iterate_it_while_it_grows():
    """The streamed reader thread adds to the store while batches are admitted: the keys are copied in one call
    and only the new ones converted (a first attempt iterated the dict and met 'changed size during iteration')."""
    import threading

    from netreset.analyses.names_passing import StoredKeys
    from netreset.ingest.payloads import PayloadStore

    store = PayloadStore()
    keys = StoredKeys(store)
    store.segments[(0, 5)] = b"x"
    assert keys.array().tolist() == [5]
    store.segments[(1, 7)] = b"y"
    assert keys.array().tolist() == [5, (1 << 32) | 7] and keys.seen == 2
    def grow():
        for frame in range(100, 50_100):
            store.segments[(0, frame)] = b"z"

    writer = threading.Thread(target=grow)
    writer.start()
    while writer.is_alive():
        keys.array()
    writer.join()
    assert sorted(keys.array().tolist()) == sorted((f << 32) | n for f, n in store.segments)
