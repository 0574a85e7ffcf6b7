"""Two vantage points on crafted packets: the join without equal tuples or equal sequence numbers, the
clock fit, placement and classification, modifications — and the CLI contracts on the lab captures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from builders import table, tcp
from netreset.cli.main import main
from netreset.cli.vantage import compare
from netreset.analyses.vantage.compare import compare_vantages
from netreset.analyses.vantage.load import vantage_of
from netreset.analyses.vantage.clock import fit_clock
from netreset.records.comparison import comparison_dict

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def _connection(client: str, server: str, isn_c: int, isn_s: int, t0: float, ttl_c: int, ttl_s: int,
                forged_rst: bool = False, mss: int = 1460, win: int = 65535) -> list[dict]:
    """A handshake, one request and answer, and (at the client's capture) a forged RST."""
    rows = [
        tcp(client, server, "S", seq=isn_c, t=t0, ttl=ttl_c, mss=mss, ip_id=100),
        tcp(server, client, "SA", seq=isn_s, ack=isn_c + 1, t=t0 + 0.010, ttl=ttl_s, ip_id=0),
        tcp(client, server, "A", seq=isn_c + 1, ack=isn_s + 1, t=t0 + 0.011, ttl=ttl_c, ip_id=101, win=win),
        tcp(client, server, "PA", seq=isn_c + 1, ack=isn_s + 1, payload=20, t=t0 + 0.020, ttl=ttl_c, ip_id=102, win=win),
        tcp(server, client, "PA", seq=isn_s + 1, ack=isn_c + 21, payload=300, t=t0 + 0.030, ttl=ttl_s, ip_id=7),
    ]
    if forged_rst:
        rows.append(tcp(server, client, "R", seq=isn_s + 301, t=t0 + 0.040, ttl=61, ip_id=0))
    return rows


def _vantage(rows: list[dict], label: str):
    return vantage_of(table(rows), label, label)


def test_nat_and_sequence_randomiser_are_joined_relative_to_the_isns():
    a = _vantage(_connection("10.0.0.1:40000", "10.9.9.9:443", 1000, 5000, 100.0, 64, 120, forged_rst=True), "agent")
    # at the server: source NAT to 192.0.2.7:61000 and the client's ISN shifted by +777777
    b = _vantage(_connection("192.0.2.7:61000", "10.9.9.9:443", 1000 + 777777, 5000, 100.002, 58, 128), "server")
    c = comparison_dict(compare_vantages(a, b))["conversations"]
    assert len(c) == 1
    assert c[0]["join"] == "relative" and c[0]["matched_packets"] == 5
    assert c[0]["seq_offset"] == {"orig": 777777, "resp": 0}
    assert [(o["kind"], o["packet"]) for o in c[0]["only_in_a"]] == [("injected", "RST")]
    assert any("terminating proxy" in n for n in c[0]["notes"]) and any("source NAT" in n for n in c[0]["notes"])


def test_mss_clamping_and_window_rewrite_are_reported_as_modifications():
    a = _vantage(_connection("10.0.0.1:40000", "10.9.9.9:443", 1000, 5000, 100.0, 64, 120), "agent")
    b = _vantage(_connection("10.0.0.1:40000", "10.9.9.9:443", 1000, 5000, 100.001, 60, 124, mss=1360, win=4096),
                 "server")
    c = comparison_dict(compare_vantages(a, b))["conversations"][0]
    fields = {m["field"]: m for m in c["modified"]}
    assert fields["mss"]["a"] == 1460 and fields["mss"]["b"] == 1360
    assert fields["window"]["count"] == 2
    assert c["routers_between_vantage_points"] == 4 and not c["only_in_a"] and not c["only_in_b"]


def test_a_capture_nearer_the_server_turns_the_classification_round():
    server_side = _vantage(_connection("10.0.0.1:40000", "10.9.9.9:443", 1000, 5000, 100.0, 58, 128), "server")
    agent_side = _vantage(_connection("10.0.0.1:40000", "10.9.9.9:443", 1000, 5000, 100.0, 64, 122,
                                      forged_rst=True), "agent")
    c = comparison_dict(compare_vantages(server_side, agent_side))["conversations"][0]
    assert c["a_nearer"] == "resp"
    assert [(o["kind"], o["packet"]) for o in c["only_in_b"]] == [("injected", "RST")]


def test_retransmissions_pair_by_ip_id_and_a_lost_copy_is_dropped():
    syns = [tcp("10.0.0.1:40000", "10.9.9.9:80", "S", seq=42, t=t, ip_id=i, ttl=64) for t, i in ((0.0, 11), (1.0, 12), (3.0, 13))]
    far = [tcp("10.0.0.1:40000", "10.9.9.9:80", "S", seq=42, t=t + 0.001, ip_id=i, ttl=60) for t, i in ((0.0, 11), (3.0, 13))]
    c = comparison_dict(compare_vantages(_vantage(syns, "a"), _vantage(far, "b")))["conversations"][0]
    assert c["matched_packets"] == 2
    assert [(o["frame"], o["kind"]) for o in c["only_in_a"]] == [(2, "dropped")]


def test_clock_fit_separates_offset_drift_and_delay_and_ignores_an_outlier():
    rng = np.random.default_rng(5)
    t_a = np.sort(rng.uniform(0, 30, 200)) * 1e9 + 1.7e18
    toward_b = rng.random(200) < 0.5
    delay, offset, drift = 0.004, 12.5, 40e-6
    t_b = t_a + (offset + drift * (t_a - t_a[0]) / 1e9 + np.where(toward_b, delay, -delay)) * 1e9
    t_b += rng.normal(0, 20e-6, 200) * 1e9
    t_b[50] += 0.5e9  # one packet held in a queue for half a second
    fit = fit_clock(t_a.astype(np.int64), t_b.astype(np.int64), toward_b)
    assert fit.method == "two_way" and fit.outliers >= 1
    assert abs(fit.offset_s - offset) < 1e-4 and abs(fit.one_way_delay_s - delay) < 1e-4
    assert abs(fit.drift_ppm - 40.0) < 5.0 and fit.residual_max_s < 1e-3


def test_no_drift_is_claimed_from_noise_alone():
    t_a = np.arange(0, 2e9, 1e8).astype(np.int64)
    claimed = 0
    for seed in range(50):
        noise = np.random.default_rng(seed).normal(0, 30e-6, len(t_a)) * 1e9
        fit = fit_clock(t_a, (t_a + noise).astype(np.int64), np.arange(len(t_a)) % 2 == 0)
        assert fit.drift_stderr_ppm is not None
        claimed += fit.drift_ppm != 0.0
    assert claimed <= 5  # a 3-standard-error test on 20 noisy pairs: rare false drifts only


def test_locate_reset_with_peer_capture_proves_the_forged_reset_and_the_genuine_one():
    runner = CliRunner()
    forged = json.loads(runner.invoke(main, ["locate-reset", str(CAPTURES / "firewall-reset-nat.pcapng"), "--peer-capture",
                                             str(CAPTURES / "peer/firewall-reset-nat-server.pcapng"), "--format", "json"]).stdout)
    rst = forged["resets"][0]
    assert (rst["verdict"], rst["confidence"], rst["reason"]) == ("middlebox", 1.0, "peer_capture_injected")
    assert rst["seen_in_peer_capture"] is False and rst["peer_capture_frame"] is None
    genuine = json.loads(runner.invoke(main, ["locate-reset", str(CAPTURES / "server-abort.pcapng"), "--peer-capture",
                                              str(CAPTURES / "peer/server-abort-server.pcapng"), "--format", "json"]).stdout)
    rst = genuine["resets"][0]
    assert (rst["verdict"], rst["confidence"]) == ("peer", 1.0)
    assert rst["seen_in_peer_capture"] is True and rst["peer_capture_frame"] == 8
    assert any(e["code"] == "peer_capture_sent" for e in rst["evidence"])


def test_peer_capture_on_the_firewall_finds_the_rst_on_ingress_only():
    result = CliRunner().invoke(main, ["locate-reset", str(CAPTURES / "firewall-reset.pcapng"), "--peer-capture",
                                       str(CAPTURES / "peer/firewall-reset-fw.pcapng"), "--format", "json"])
    rst = json.loads(result.stdout)["resets"][0]
    assert rst["verdict"] == "middlebox" and rst["confidence"] == 1.0
    assert rst["seen_in_peer_capture"] is True and rst["peer_capture_frame"] == 16
    assert "to-r5" in rst["advice"]


def test_handshakes_with_peer_capture_tell_the_synacks_never_arrived():
    result = CliRunner().invoke(main, ["handshakes", str(CAPTURES / "synack-dropped.pcap"), "--peer-capture",
                                       str(CAPTURES / "peer/synack-dropped-server.pcapng"), "--format", "json"])
    finding = json.loads(result.stdout)["handshakes"][0]
    assert finding["seen_in_peer_capture"] is True
    assert "SYN-ACK sent" in finding["summary"] and "none of them reached" in finding["summary"]


def test_compare_json_contract_and_figure(tmp_path):
    out = tmp_path / "pair.png"
    result = CliRunner().invoke(compare, [str(CAPTURES / "firewall-reset.pcapng"),
                                          str(CAPTURES / "peer/firewall-reset-fw.pcapng"), "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema_version"] == 1 and "clock_offset_s" in document
    assert document["b"].endswith("#to-r5") and document["other_interfaces"] == ["firewall-reset-fw.pcapng#to-r3"]
    first = document["conversations"][0]
    assert {"a", "b", "only_in_a", "only_in_b", "routers_between_vantage_points"} <= set(first)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_of_a_single_interface_file_is_a_usage_error():
    result = CliRunner().invoke(compare, [str(CAPTURES / "clean.pcap")])
    assert result.exit_code == 2 or "one capture point only" in str(result.exception)
