"""No forged-RST verdict where the capture says otherwise (issue 13 §5), on crafted packets.

Each test builds the capture that misled the rules — TTLs an application sets (eBGP's 1, GTSM's 255), the
capture host's own kernel RST followed by its data, reflections the sender's own SYN-ACK explains — and
checks the guard; the positive evidence added beside them (one IP ID counter behind RSTs claiming several
hosts) is tested both ways.
"""

from __future__ import annotations

import numpy as np
from resets_support import Flow, Side, established

from netreset.analyses.resets.locate import locate_resets
from netreset.analyses.resets.pairs import host_ttl_counts, merge_ttl_counts, shared_sequences
from netreset.analyses.resets.weights import W_DATA_AFTER_RESET_NEARBY, W_IPID_SHARED, W_TTL_MISMATCH_APPLICATION


def judge_all(packets):
    from resets_support import build

    table, conversations = build(packets)
    return locate_resets(table, conversations)


def codes(verdict) -> dict:
    return {o.code: o for o in verdict.evidence}


def bgp_capture(app_ttl: int, rst_ttl: int = 64):
    """Router A (10.0.0.1, the capture point) and its BGP neighbour B (10.0.0.2): an established session
    in which B's BGP speaker sends with ``app_ttl``; then A opens a second session from another port and
    B's kernel refuses it with its default TTL (IP ID 0, window 0, ack = A's ISN + 1)."""
    a = Side(addr="10.0.0.1", port=40179, ttl=64, ip_id=100)
    b = Side(addr="10.0.0.2", port=179, ttl=app_ttl, ip_id=7000, window=16384)
    session = Flow(a, b)
    t = session.handshake(rtt=0.0004)
    for _ in range(4):  # keepalives both ways
        session.send(t, a, "PA", b"k" * 19)
        session.send(t + 0.0004, b, "PA", b"k" * 19)
        t += 1.0
    second = Flow(Side(addr="10.0.0.1", port=40200, ttl=64, ip_id=300), Side(addr="10.0.0.2", port=179, ttl=rst_ttl))
    second.send(t, second.client, "S")
    second.send(t + 0.0003, second.server, "RA", ip_id=0, window=0, timestamps=False, consume=False,
                seq=0, ack=second.client.seq)
    return session.packets + second.packets


def test_ebgp_ttl_1_reference_is_no_hop_distance_and_makes_no_middlebox():
    verdict = judge_all(bgp_capture(1))[-1]
    found = codes(verdict)
    assert verdict.verdict != "middlebox"
    assert "ttl_mismatch" not in found and found["ttl_application_set"].weight == 0
    assert verdict.claimed_sender_routers_between == 0  # not "31 routers away"
    assert "forged" not in verdict.advice and "31 routers" not in found["ttl_application_set"].detail
    assert "eBGP" in found["ttl_application_set"].detail


def test_gtsm_ttl_255_reference_is_no_hop_distance_and_makes_no_middlebox():
    verdict = judge_all(bgp_capture(255))[-1]
    found = codes(verdict)
    assert verdict.verdict != "middlebox" and "ttl_application_set" in found
    assert "ttl_family_mismatch" not in found


def test_application_ttl_reference_with_a_real_distance_gap_is_weak_alone():
    # The refusal arrives 3 routers away (61) while the GTSM neighbour is directly connected (255): the
    # distances differ, but a reference of application TTLs alone does not make a middlebox.
    verdict = judge_all(bgp_capture(255, rst_ttl=61))[-1]
    found = codes(verdict)
    assert found["ttl_mismatch"].weight == W_TTL_MISMATCH_APPLICATION * 0.5  # another conversation: halved
    assert verdict.verdict == "undetermined"


def test_kernel_ttls_are_preferred_to_application_ttls_as_the_reference():
    # B answers the handshake from its kernel (64) and sends its BGP messages with TTL 1; a RST at 61 is
    # compared with the 64 of its kernel-made packets, as any other TTL mismatch.
    flow, t = established(server_kw={"ttl": 64}, client_kw={"ttl": 64})
    flow.send(t, flow.server, "PA", b"m" * 19, ttl=1)
    flow.send(t + 0.001, flow.client, "PA", b"x")
    flow.send(t + 0.002, flow.server, "RA", ttl=61, ip_id=0, window=0, timestamps=False, consume=False)
    verdict = locate_resets(*flow.build())[-1]
    found = codes(verdict)
    assert found["ttl_mismatch"].expected == 64 and verdict.claimed_sender_routers_between == 0


def test_same_conversation_application_ttl_and_a_kernel_rst_is_no_forgery():
    # eBGP speaker's socket sends with TTL 1 (handshake included); after its FIN, a late segment gets the
    # kernel's stateless RST with TTL 64.
    a = Side(addr="10.0.0.1", port=40179, ttl=64, ip_id=100)
    b = Side(addr="10.0.0.2", port=179, ttl=1, ip_id=7000)
    flow = Flow(a, b)
    t = flow.handshake(rtt=0.0004)
    flow.send(t, b, "PA", b"k" * 19)
    flow.send(t + 0.1, b, "FA")
    flow.send(t + 0.2, a, "PA", b"late")
    flow.send(t + 0.2003, b, "R", ttl=64, ip_id=0, window=0, timestamps=False, consume=False)
    verdict = locate_resets(*flow.build())[-1]
    assert verdict.verdict != "middlebox" and "ttl_application_set" in codes(verdict)


def capture_host_kernel_rst():
    """The capture runs on the client (TTL 64, 0 routers away); its kernel answers the server's segment
    with the kernel-RST shape (IP ID 0, window 0, seq = the ack of that segment), and data of the client
    follows in the capture (reordering at the capture host). The server's SYN-ACK carried the IP ID and
    window of the client's last packet, so neither was copied into the RST."""
    client = Side(addr="192.168.1.20", port=50000, ttl=64, ip_id=4200, window=64240)
    server = Side(addr="203.0.113.9", port=443, ttl=107, ip_id=9000, window=8212)
    flow = Flow(client, server)
    flow.send(0.0, client, "S", ip_id=4242)
    flow.send(0.040, server, "SA", ip_id=4242, window=64240)
    flow.send(0.0401, client, "A", ip_id=4243)
    t = flow.exchange(0.041, rounds=2)
    flow.send(t, server, "PA", b"r" * 1000)
    flow.send(t + 0.0001, client, "A", ip_id=4242, window=64240)
    flow.send(t + 0.0002, client, "RA", ip_id=4242, window=64240, timestamps=False, consume=False)
    flow.send(t + 0.0003, client, "PA", b"more")
    return flow


def test_capture_hosts_own_kernel_rst_is_not_a_middlebox_because_data_follows():
    flow = capture_host_kernel_rst()
    table, conversations = flow.build()
    verdict = [v for v in locate_resets(table, conversations) if v.src == "192.168.1.20"][-1]
    found = codes(verdict)
    assert verdict.verdict == "peer"
    assert found["data_after_reset"].weight == W_DATA_AFTER_RESET_NEARBY and "0 routers" in found["data_after_reset"].detail
    assert "ipid_reflection" not in found and "window_reflection" not in found  # the sender's own SYN-ACK has them


def test_ip_id_and_window_reflection_still_count_when_the_sender_never_used_them():
    flow, t = established()
    flow.send(t, flow.client, "PA", b"x", ip_id=3047, window=777)
    flow.send(t + 0.0005, flow.server, "RA", ip_id=3047, window=777, consume=False)
    found = codes(locate_resets(*flow.build())[-1])
    assert "ipid_reflection" in found and "window_reflection" in found


def test_race_far_away_still_decides():
    flow, t = established()
    flow.send(t, flow.client, "PA", b"x")
    flow.send(t + 0.001, flow.server, "RA", ttl=107, consume=False)
    flow.send(t + 0.040, flow.server, "PA", b"late data")
    verdict = locate_resets(*flow.build())[0]
    assert verdict.verdict == "middlebox" and verdict.reason == "data_after_reset"


def test_a_bare_syn_after_the_senders_own_rst_is_a_new_attempt_not_a_race():
    flow, t = established(client_kw={"ttl": 64})
    flow.send(t, flow.server, "PA", b"r" * 100)
    flow.send(t + 0.001, flow.client, "RA", ip_id=0, window=0, timestamps=False, consume=False)
    flow.client.seq += 10**6
    flow.send(t + 1.0, flow.client, "S")
    verdict = [v for v in locate_resets(*flow.build()) if v.src == flow.client.addr][0]
    assert "data_after_reset" not in codes(verdict) and "packets_after_reset" not in codes(verdict)


# ── One IP ID counter behind RSTs claiming several hosts ───────────────────────────────────────────────

def refusals(ids, servers=("203.0.113.9", "198.51.100.7", "192.0.2.33"), gap=0.3, handshake_ids=()):
    """The client's SYNs to several servers, each refused by a RST (TTL 61, IP ID from ``ids``); with
    ``handshake_ids``, one more server answers a SYN with a SYN-ACK numbered so, between the RSTs."""
    packets, t = [], 0.0
    for n, (ip_id, server) in enumerate(zip(ids, servers)):
        flow = Flow(Side(addr="10.1.2.3", port=50000 + n, ttl=128, ip_id=300 + n), Side(addr=server, port=443, ttl=61))
        flow.send(t, flow.client, "S")
        flow.send(t + 0.02, flow.server, "RA", ip_id=ip_id, window=0, timestamps=False, consume=False,
                  seq=0, ack=flow.client.seq)
        packets += flow.packets
        t += gap
    for n, ip_id in enumerate(handshake_ids):
        flow = Flow(Side(addr="10.1.2.3", port=51000 + n, ttl=128), Side(addr="100.64.0.9", port=80, ttl=61))
        flow.send(0.05 + n * gap, flow.client, "S")
        flow.send(0.06 + n * gap, flow.server, "SA", ip_id=ip_id)
        packets += flow.packets
    return packets


def test_rsts_claiming_three_hosts_from_one_ip_id_counter_came_from_one_device():
    verdicts = judge_all(refusals((5000, 5001, 5003)))
    assert [v.verdict for v in verdicts] == ["middlebox"] * 3
    for v in verdicts:
        shared = codes(v)["ipid_shared_counter"]
        assert v.reason == "ipid_shared_counter" and shared.weight == W_IPID_SHARED and shared.observed == 3


def test_unrelated_ip_ids_or_two_rsts_or_one_host_share_no_counter():
    assert not any("ipid_shared_counter" in codes(v) for v in judge_all(refusals((5000, 31000, 12)))
                   ), "random IDs"
    assert not any("ipid_shared_counter" in codes(v) for v in judge_all(refusals((5000, 5001))))
    one_host = judge_all(refusals((5000, 5001, 5002), servers=("203.0.113.9",) * 3))
    assert not any("ipid_shared_counter" in codes(v) for v in one_host)
    slow = judge_all(refusals((5000, 5001, 5002), gap=30.0))  # minutes apart: no sequence
    assert not any("ipid_shared_counter" in codes(v) for v in slow)


def test_guard_a_counter_that_numbers_other_hosts_handshakes_too_is_a_rewriter_not_a_forger():
    # A NAT or a hypervisor's user-mode network numbers every packet from outside: another host's
    # SYN-ACK falls between the RSTs in time and IP ID, so the counter tells nothing about the RSTs.
    verdicts = judge_all(refusals((5000, 5004, 5008), handshake_ids=(5002,)))
    assert len(verdicts) == 3 and all(codes(v)["ipid_shared_with_own"].weight == 0 for v in verdicts)
    assert all(v.verdict != "middlebox" for v in verdicts)


def test_shared_sequences_are_the_same_from_the_whole_capture_and_from_its_parts_in_any_order():
    from resets_support import build

    table, _ = build(refusals((5000, 5001, 5003)) + refusals((9000, 9002, 9003), handshake_ids=(9001,)))
    whole = shared_sequences(host_ttl_counts(table).numbered)
    half = len(table) // 2
    order = np.arange(len(table))[::-1]
    parts = merge_ttl_counts(host_ttl_counts(table.take(order[:half])), host_ttl_counts(table.take(order[half:])))
    start = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))  # a streamed sum's empty start
    assert shared_sequences(merge_ttl_counts(start, parts).numbered) == whole and len(whole) == 6


# ── A lone refusal ─────────────────────────────────────────────────────────────────────────────────────

def test_a_lone_refusal_stays_undetermined_but_says_the_hop_the_stack_and_how_to_settle_it():
    verdict = judge_all(refusals((5000,)))[0]
    assert verdict.verdict == "undetermined" and verdict.reason == "no_reference_packets"
    advice = verdict.advice
    assert "traceroute hop 4" in advice and "starts at 64" in advice and "Linux" in advice
    assert "--peer-capture" in advice and "put nothing else on the wire" in advice


def test_a_streamed_analysis_finds_the_shared_counters_the_whole_capture_does(tmp_path):
    # Three refusals from one counter, written as a pcap and streamed in chunks of a few packets: the
    # sequence spans every chunk, and the verdicts are those of the whole table.
    from scapy.utils import wrpcap
    from scapy.layers.l2 import Ether

    from netreset.pipeline.streamed import analyse_streamed
    from netreset.pipeline.whole import Analysis, Options
    from resets_support import BASE_TS

    packets = sorted(refusals((5000, 5001, 5003)) + refusals((9000, 9002, 9003), handshake_ids=(9001,)),
                     key=lambda p: p[0])
    frames = []
    for t, pkt in packets:
        frame = Ether() / pkt
        frame.time = BASE_TS + t
        frames.append(frame)
    path = tmp_path / "shared.pcap"
    wrpcap(str(path), frames)
    whole = [r.to_dict() for r in Analysis.of_files([path]).all_resets]
    streamed = analyse_streamed(path, Options(), chunk_rows=2, batch_rows=2)
    assert list(streamed.reset_rows()) == Analysis.of_files([path]).reset_rows()
    assert sum("ipid_shared_counter" in {e["code"] for e in r["evidence"]} for r in whole) == 3


def test_only_the_syns_near_a_rst_of_a_sequence_change_what_the_shared_counter_rule_finds():
    # A streamed analysis keeps just the SYNs/SYN-ACKs within the window of a RST (near_resets): on
    # random captures of counters, rewriters and noise, the sequences found from those equal the whole's.
    from netreset.analyses.resets.pairs import near_resets, sequence_rst_times

    rng = np.random.default_rng(7)
    for _ in range(200):
        n_rst, n_syn = rng.integers(3, 12), rng.integers(0, 40)
        span = int(rng.choice([2e9, 20e9, 200e9]))
        rows = []
        base = int(rng.integers(0, 60000))
        for k in range(n_rst):  # RSTs, most from one counter, claiming a few senders
            ip_id = (base + k * int(rng.integers(1, 4))) % 65536 if rng.random() < 0.8 else int(rng.integers(1, 65536))
            rows.append((int(rng.integers(0, span)), int(rng.integers(0, 4)), ip_id, 443, 50000 + k, 1))
        for k in range(n_syn):  # handshakes, some numbered from the same counter
            ip_id = (base + int(rng.integers(0, 3 * n_rst))) % 65536 if rng.random() < 0.5 else int(rng.integers(1, 65536))
            rows.append((int(rng.integers(0, span)), int(rng.integers(0, 6)), ip_id, 80, 40000 + k, 0))
        numbered = np.array(rows, dtype=np.int64)
        rst = numbered[numbered[:, 5] == 1]
        syn = numbered[numbered[:, 5] == 0]
        kept = np.concatenate([rst, syn[near_resets(syn, np.sort(rst[:, 0]))]])
        assert shared_sequences(kept) == shared_sequences(numbered)
        fewer = np.concatenate([rst, syn[near_resets(syn, sequence_rst_times(numbered))]])
        assert shared_sequences(fewer) == shared_sequences(numbered)


def test_a_syn_beyond_the_window_of_every_rst_is_not_kept_and_one_at_its_edge_is():
    from netreset.analyses.resets.pairs import near_resets
    from netreset.analyses.resets.weights import SHARED_IPID_WINDOW_S

    w = int(SHARED_IPID_WINDOW_S * 1e9)
    rst_ts = np.array([10 * w, 20 * w], dtype=np.int64)
    syn = np.array([[t, 1, 5, 80, 1, 0] for t in (10 * w - w, 10 * w - w - 1, 15 * w, 20 * w + w, 20 * w + w + 1)],
                   dtype=np.int64)
    assert near_resets(syn, rst_ts).tolist() == [True, False, False, True, False]
