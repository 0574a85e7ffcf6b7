"""Each reset evidence rule on crafted packets, including the false-positive guards."""

from __future__ import annotations

from resets_support import established, icmp_error

from netreset.analyses.resets.locate import locate_resets
from netreset.analyses.resets.weights import W_DATA_AFTER_RESET


def judge(flow):
    table, conversations = flow.build()
    verdicts = locate_resets(table, conversations)
    return verdicts[-1]


def codes(verdict) -> dict:
    return {o.code: o for o in verdict.evidence}


def forged_rst(flow, t, **kw):
    """A RST in the server's name, sent by a Linux-based firewall 3 routers from the capture point."""
    fields = {"ttl": 61, "ip_id": 0, "timestamps": False, "window": 0, "consume": False, **kw}
    flow.send(t, flow.server, "RA", **fields)


def genuine_rst(flow, t, **kw):
    flow.send(t, flow.server, "RA", **{"window": 0, "consume": False, **kw})


# ── TTL ────────────────────────────────────────────────────────────────────────────────────────────────

def test_rst_from_another_ttl_family_three_routers_away_is_a_middlebox_at_hop_four():
    flow, t = established()
    flow.send(t, flow.client, "PA", b"MARKER")
    forged_rst(flow, t + 0.003)
    verdict = judge(flow)
    found = codes(verdict)
    assert verdict.verdict == "middlebox" and verdict.reason == "ttl_mismatch"
    assert found["ttl_mismatch"].observed == 61 and found["ttl_mismatch"].expected == 107
    assert found["ttl_family_mismatch"].observed == 64 and found["ttl_family_mismatch"].expected == 128
    assert (verdict.routers_between, verdict.traceroute_hop, verdict.claimed_sender_routers_between) == (3, 4, 21)
    assert "A device at hop 4 forged it." in verdict.advice
    assert "tolerance" in found["ttl_mismatch"].detail


def test_rst_with_the_senders_own_ttl_is_the_peer():
    flow, t = established()
    flow.send(t, flow.client, "PA", b"x")
    genuine_rst(flow, t + 0.041)
    verdict = judge(flow)
    assert verdict.verdict == "peer" and verdict.reason == "consistent_with_peer"
    assert codes(verdict)["ttl_match"].weight < 0


def test_guard_route_change_of_one_hop_is_tolerated_and_stated():
    flow, t = established()
    flow.send(t, flow.client, "PA", b"x")
    genuine_rst(flow, t + 0.041, ttl=106)
    verdict = judge(flow)
    change = codes(verdict)["ttl_route_change"]
    assert change.weight <= 0 and "1-hop tolerance" in change.detail
    assert verdict.verdict == "peer"


def test_two_hops_off_in_the_same_family_is_a_mismatch_without_family_evidence():
    flow, t = established()
    flow.send(t, flow.client, "PA", b"x")
    genuine_rst(flow, t + 0.041, ttl=104, ip_id=0)
    found = codes(judge(flow))
    assert "ttl_mismatch" in found and "ttl_family_mismatch" not in found


def test_guard_nat_rewriting_every_ttl_makes_the_rst_match_and_no_middlebox_is_called():
    # A NAT re-stamps every packet from the server side with TTL 64 before the capture point: the
    # server (really Windows, 21 hops) and its genuine RST both arrive with 64.
    flow, t = established(server_kw={"ttl": 64})
    flow.send(t, flow.client, "PA", b"x")
    genuine_rst(flow, t + 0.041)
    verdict = judge(flow)
    assert verdict.verdict != "middlebox"
    assert codes(verdict)["ttl_rewritten"].weight == 0


def test_guard_rst_without_other_packets_from_sender_falls_back_to_its_other_conversations():
    flow, t = established()
    refused = established(client_kw={"port": 50001})[0]
    refused.packets = []
    refused.send(5.0, refused.client, "S")
    refused.send(5.001, refused.server, "RA", ttl=61, ip_id=0, timestamps=False, window=0, ack=refused.client.seq)
    flow.packets += refused.packets
    verdict = judge(flow)
    found = codes(verdict)
    assert found["ttl_mismatch"].weight == 1.5  # halved: a different conversation is a weaker reference
    assert verdict.claimed_sender_routers_between == 21
    assert "or (tcp and ip.src == 203.0.113.9)" in verdict.display_filter


def test_guard_rst_to_a_syn_with_nothing_else_from_the_sender_is_weak_and_undetermined():
    flow, _ = established()
    flow.packets = []
    flow.send(0.0, flow.client, "S")
    flow.send(0.001, flow.server, "RA", ttl=61, ip_id=0, timestamps=False, window=0, ack=flow.client.seq)
    verdict = judge(flow)
    assert verdict.verdict == "undetermined" and verdict.reason == "no_reference_packets"
    assert verdict.claimed_sender_routers_between is None
    assert codes(verdict)["ttl_no_reference"].weight == 0 and verdict.confidence < 0.8


# ── IP ID and DF ───────────────────────────────────────────────────────────────────────────────────────

def test_ip_id_far_from_the_senders_counter_breaks_the_pattern():
    flow, t = established()
    flow.send(t, flow.client, "PA", b"x")
    genuine_rst(flow, t + 0.041, ip_id=40000)
    found = codes(judge(flow))
    assert found["ipid_pattern_break"].weight > 0 and found["ipid_pattern_break"].expected == 9004


def test_ip_id_continuing_the_counter_is_peer_evidence():
    flow, t = established()
    genuine_rst(flow, t)
    assert codes(judge(flow))["ipid_in_sequence"].weight < 0


def test_guard_peer_with_random_ip_ids_gives_no_ip_id_evidence():
    flow, t = established(server_kw={"id_step": -1})
    genuine_rst(flow, t, ip_id=123)
    verdict = judge(flow)
    found = codes(verdict)
    assert found["ipid_no_pattern"].weight == 0 and "ipid_pattern_break" not in found
    assert verdict.verdict == "peer"


def test_rst_ip_id_copied_from_the_other_sides_last_packet_is_reflection():
    flow, t = established(server_kw={"id_step": -1})
    flow.send(t, flow.client, "PA", b"x", ip_id=4242)
    genuine_rst(flow, t + 0.041, ip_id=4242)
    verdict = judge(flow)
    assert codes(verdict)["ipid_reflection"].weight > 0
    assert verdict.verdict != "peer"


def test_df_differing_from_every_other_packet_of_the_sender_is_evidence():
    flow, t = established()
    genuine_rst(flow, t, df=False)
    assert codes(judge(flow))["df_mismatch"].observed == "clear"


def test_ipv6_rsts_skip_ip_id_rules_but_keep_ttl_rules():
    flow, t = established(ipv6=True)
    forged_rst(flow, t + 0.003)
    verdict = judge(flow)
    assert not any(code.startswith("ipid") for code in codes(verdict))
    assert verdict.verdict == "middlebox" and verdict.display_filter.count("ipv6.src") == 1


# ── TCP header ─────────────────────────────────────────────────────────────────────────────────────────

def test_window_copied_from_the_other_side_is_reflection():
    flow, t = established()
    genuine_rst(flow, t, window=502)
    assert codes(judge(flow))["window_reflection"].observed == 502


def test_timestamps_missing_counts_only_while_the_sender_has_not_closed():
    flow, t = established()
    genuine_rst(flow, t, timestamps=False)
    assert codes(judge(flow))["timestamps_missing"].weight > 0
    flow, t = established()
    flow.send(t, flow.server, "FA")
    flow.send(t + 0.1, flow.client, "PA", b"late")
    genuine_rst(flow, t + 0.141, timestamps=False)
    assert codes(judge(flow))["timestamps_missing"].weight == 0


# ── Sequence numbers ───────────────────────────────────────────────────────────────────────────────────

def test_rst_seq_outside_the_receive_window_is_implausible():
    flow, t = established()
    genuine_rst(flow, t, seq=flow.server.seq + 50_000_000)
    assert codes(judge(flow))["seq_out_of_window"].weight > 0


def test_rst_seq_behind_what_was_acknowledged_is_implausible():
    flow, t = established()
    genuine_rst(flow, t, seq=flow.server.seq - 5000)
    assert "behind" in codes(judge(flow))["seq_out_of_window"].detail


def test_burst_of_rsts_with_jumping_seqs_is_an_injector():
    flow, t = established()
    x = flow.server.seq
    for i, offset in enumerate((0, 1460, 4380)):
        forged_rst(flow, t + 0.001 * i, ttl=107, seq=x + offset)
    verdict = judge(flow)
    assert codes(verdict)["seq_change"].observed == 3


def test_rsts_whose_acks_change_without_new_data_are_flagged():
    flow, t = established()
    genuine_rst(flow, t, ack=flow.client.seq)
    genuine_rst(flow, t + 0.1, ack=flow.client.seq + 777)
    assert codes(judge(flow))["ack_change"].observed == flow.client.seq + 777


def test_repeated_genuine_rsts_with_the_same_seq_are_not_a_burst():
    flow, t = established()
    genuine_rst(flow, t)
    genuine_rst(flow, t + 0.1)
    found = codes(judge(flow))
    assert "seq_change" not in found and "ack_change" not in found


# ── Timing ─────────────────────────────────────────────────────────────────────────────────────────────

def test_new_data_from_the_claimed_sender_after_its_rst_means_a_race():
    flow, t = established()
    flow.send(t, flow.client, "PA", b"q")
    genuine_rst(flow, t + 0.041, ip_id=0)  # an on-path forger that even copied the server's TTL
    flow.send(t + 0.05, flow.server, "PA", b"still talking")
    verdict = judge(flow)
    assert verdict.verdict == "middlebox" and verdict.reason == "data_after_reset"


def test_only_acks_after_the_rst_are_weaker_evidence():
    flow, t = established()
    genuine_rst(flow, t)
    flow.send(t + 0.05, flow.server, "A")
    found = codes(judge(flow))
    assert 0 < found["packets_after_reset"].weight < W_DATA_AFTER_RESET and "data_after_reset" not in found


def test_rst_faster_than_the_handshake_rtt_comes_from_closer_than_the_peer():
    flow, t = established()
    flow.send(t, flow.client, "PA", b"q")
    genuine_rst(flow, t + 0.004)
    found = codes(judge(flow))
    assert found["faster_than_rtt"].expected == 0.04 and "10% of the way" in found["faster_than_rtt"].detail


# ── ICMP ───────────────────────────────────────────────────────────────────────────────────────────────

def test_icmp_prohibited_quoting_the_conversation_names_the_device():
    flow, t = established()
    flow.send(t, flow.client, "PA", b"MARKER")
    quoted_ip, quoted_tcp = flow.packets[-1][1], flow.packets[-1][1]["TCP"]
    flow.packets.append((t + 0.002, icmp_error("192.0.2.1", 252, quoted_ip, quoted_tcp)))
    forged_rst(flow, t + 0.003)
    verdict = judge(flow)
    icmp = codes(verdict)["icmp_prohibited"]
    assert "192.0.2.1" in icmp.observed and "3 routers away" in icmp.detail
    assert verdict.display_filter.endswith(" or icmp")


def test_guard_linux_stateless_rst_from_a_separate_ip_id_counter_is_no_evidence():
    # Linux answers a segment arriving after its FIN from no socket: bare RST, unrelated IP ID.
    flow, t = established(server_kw={"ttl": 61, "ip_id": 100})
    flow.send(t, flow.server, "FA")
    flow.send(t + 0.1, flow.client, "PA", b"late")
    flow.send(t + 0.141, flow.server, "R", ip_id=51234, timestamps=False, window=0, consume=False)
    verdict = judge(flow)
    found = codes(verdict)
    assert found["ipid_separate_counter"].weight == 0 and "ipid_pattern_break" not in found
    assert verdict.verdict == "peer"


def test_guard_small_ip_ids_matching_the_other_side_are_chance_not_reflection():
    flow, t = established(server_kw={"id_step": -1})
    flow.send(t, flow.client, "PA", b"x", ip_id=7)
    genuine_rst(flow, t + 0.041, ip_id=7)
    assert "ipid_reflection" not in codes(judge(flow))
