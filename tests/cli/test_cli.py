"""The command line as a user meets it: contracts of the JSON output, errors as one line, exit codes."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from netreset.cli.main import main
from tests.conftest import CAPTURES, ROOT

RESET_FIELDS = ["conversation", "frame", "ts", "src", "dst", "sport", "dport", "observed_ttl", "initial_ttl",
                "routers_between", "traceroute_hop", "claimed_sender_routers_between", "verdict", "confidence",
                "reason", "evidence", "display_filter", "advice"]
CONVERSATION_FIELDS = ["id", "ts", "orig_h", "orig_p", "resp_h", "resp_p", "conn_state", "history", "completeness",
                       "outcome", "orig_pkts", "resp_pkts", "syn_count"]


def run(*args, code=0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, (result.output, result.stderr if hasattr(result, "stderr") else "")
    return result


def run_json(*args):
    return json.loads(run(*args, "--format", "json").stdout)


def test_locate_reset_names_the_fourth_hop_on_the_firewall_capture():
    doc = run_json("locate-reset", CAPTURES / "firewall-reset.pcapng")
    assert doc["schema_version"] == 1
    [reset] = doc["resets"]
    assert list(reset)[: len(RESET_FIELDS)] == RESET_FIELDS
    assert (reset["observed_ttl"], reset["initial_ttl"], reset["routers_between"], reset["traceroute_hop"]) == (61, 64, 3, 4)
    assert reset["claimed_sender_routers_between"] == 6
    assert reset["verdict"] == "middlebox"
    assert "hop 4" in reset["advice"]


def test_locate_reset_text_says_middlebox_and_gives_a_wireshark_filter():
    out = run("locate-reset", CAPTURES / "firewall-reset.pcapng").stdout
    assert "MIDDLEBOX" in out and "traceroute hop 4" in out and "tcp.stream eq" in out


def test_conversations_json_contract_and_outcomes_of_the_multi_connection_capture():
    doc = run_json("conversations", CAPTURES / "multi-connection.pcap")
    rows = doc["conversations"]
    assert all(list(r)[: len(CONVERSATION_FIELDS)] == CONVERSATION_FIELDS for r in rows)
    outcomes = {r["orig_p"]: r["outcome"] for r in rows}
    assert outcomes == {40081: "clean", 40082: "clean", 40083: "reset_by_middlebox", 40084: "clean"}
    assert all(isinstance(r["ts"], float) and r["ts"] > 1.6e9 for r in rows)


def test_summary_json_counts_every_packet_and_conversation():
    doc = run_json("summary", CAPTURES / "clean.pcap", CAPTURES / "syn-blackhole.pcap")
    assert doc["schema_version"] == 1
    assert doc["conversations_total"] == 2
    assert doc["by_outcome"] == {"clean": 1, "syn_unanswered": 1}
    assert doc["packets_total"] >= doc["tcp_packets"] > 0
    assert [f["kind"] for f in doc["findings"]] == ["syn_unanswered"]


def test_filter_narrows_what_is_shown_like_tcpdump():
    doc = run_json("conversations", CAPTURES / "multi-connection.pcap", "--filter", "port 40083")
    assert [r["orig_p"] for r in doc["conversations"]] == [40083]
    doc = run_json("conversations", CAPTURES / "multi-connection.pcap", "--stream", "0")
    assert [r["id"] for r in doc["conversations"]] == [0]


def test_csv_has_a_header_and_one_row_per_conversation():
    out = run("conversations", CAPTURES / "multi-connection.pcap", "--format", "csv").stdout.splitlines()
    assert out[0].startswith("id,ts,orig_h,orig_p")
    assert len(out) == 5
    out = run("locate-reset", CAPTURES / "firewall-reset.pcapng", "--format", "csv").stdout.splitlines()
    assert out[0].startswith("conversation,frame,ts,src") and len(out) == 2


def test_handshakes_and_hosts_commands_answer_on_real_captures():
    out = run("handshakes", CAPTURES / "syn-blackhole.pcap").stdout
    assert "syn_unanswered" in out and "SYNs" in out
    hosts = run_json("hosts", CAPTURES / "firewall-reset.pcapng")["hosts"]
    assert {h["address"] for h in hosts} == {"10.66.0.1", "10.66.6.2"}


def test_a_directory_stands_for_the_captures_inside(tmp_path):
    shutil.copy(CAPTURES / "clean.pcap", tmp_path / "a.pcap")
    with gzip.open(tmp_path / "b.pcapng.gz", "wb") as out:
        out.write((CAPTURES / "firewall-reset.pcapng").read_bytes())
    doc = run_json("summary", tmp_path)
    assert doc["conversations_total"] == 2


@pytest.mark.parametrize("content, message", [
    (None, "No such file"),
    (b"", "empty"),
    (b"hello world, this is not a capture\n", "not a capture file"),
])
def test_unreadable_input_is_one_error_line_and_exit_1(tmp_path, content, message):
    path = tmp_path / "input.pcap"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(main, ["summary", str(path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}") and message.lower() in lines[0].lower()


def test_empty_directory_is_an_error(tmp_path):
    result = CliRunner().invoke(main, ["summary", str(tmp_path)])
    assert result.exit_code == 1 and "no capture files" in result.output


def test_truncated_capture_warns_and_analyses_the_rest(tmp_path):
    data = (CAPTURES / "clean.pcap").read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: len(data) - 10])
    result = CliRunner().invoke(main, ["conversations", str(path), "--format", "json"])
    assert result.exit_code == 0
    assert "Warning:" in result.stderr
    assert len(json.loads(result.stdout)["conversations"]) == 1


def test_malformed_filter_is_a_usage_error():
    result = CliRunner().invoke(main, ["summary", str(CAPTURES / "clean.pcap"), "--filter", "host 1.2.3"])
    assert result.exit_code == 2 and result.output.startswith("Error: filter")


def test_engine_dpkt_is_a_hidden_alias_of_the_builtin_decoder():
    capture = CAPTURES / "firewall-reset.pcapng"
    builtin = run("locate-reset", capture, "--engine", "builtin", "--format", "json").stdout
    assert run("locate-reset", capture, "--engine", "dpkt", "--format", "json").stdout == builtin
    assert run("locate-reset", capture, "--format", "json").stdout == builtin
    shown = run("locate-reset", "--help").stdout
    assert "[builtin|tshark]" in shown and "dpkt" not in shown
    refused = CliRunner().invoke(main, ["summary", str(capture), "--engine", "wireshark"])
    assert refused.exit_code == 2 and "dpkt" not in refused.output


@pytest.mark.parametrize("capture, kind, code", [
    ("firewall-reset.pcapng", "middlebox", 3),
    ("server-abort.pcapng", "middlebox", 0),
    ("server-abort.pcapng", "reset", 3),
    ("syn-blackhole.pcap", "syn_unanswered", 3),
    ("clean.pcap", "any", 0),
])
def test_fail_on_exits_3_only_when_such_a_finding_exists(capture, kind, code):
    run("summary", CAPTURES / capture, "--fail-on", kind, code=code)


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "netreset", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("netreset")


def console(*args, tmp, streamed=False, stdout=subprocess.PIPE):
    """The console script (:func:`netreset.cli.main.run`) in its own process, temporary files under ``tmp``;
    ``streamed``: every capture takes the streamed path (which spills to temporary files)."""
    setup = "import netreset.pipeline.streamed as s; s.STREAM_MIN_BYTES = 0; " if streamed else ""
    code = setup + "from netreset.cli.main import run; run()"
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=stdout, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "TMPDIR": str(tmp)})


@pytest.mark.parametrize("args, code", [
    (("locate-reset", CAPTURES / "firewall-reset.pcapng", "--format", "json"), 0),
    (("summary", CAPTURES / "server-abort.pcapng", "--fail-on", "reset"), 3),
    (("summary", "no-such-file.pcap"), 1),
    (("summary", "--no-such-option"), 2),
])
def test_the_console_script_exits_with_the_status_and_output_of_the_command_and_leaves_no_files(tmp_path, args, code):
    process = console(*args, tmp=tmp_path, streamed=True)
    out, err = process.communicate(timeout=120)
    in_process = CliRunner().invoke(main, [str(a) for a in args])
    assert (process.returncode, out) == (code, in_process.stdout)
    assert "Traceback" not in err and (code != 1 or err.count("\n") == 1)
    assert list(tmp_path.iterdir()) == []  # the spill directory of the streamed analysis was removed


def test_the_console_script_stops_quietly_when_its_reader_goes_away(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--packets", "20000", "--seed", "3",
                    "--out", str(tmp_path), "--format", "pcap"], check=True, capture_output=True)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    process = console("conversations", tmp_path / "bench-20k-s3.pcap", tmp=tmp)  # ≈ 200 kB of rows
    assert process.stdout.readline().split()[0] == "id"
    process.stdout.close()  # like `| head -1`
    err = process.stderr.read()
    assert (process.wait(timeout=120), err) == (0, "")


def test_timeline_with_a_peer_capture_draws_both_ends_side_by_side(tmp_path):
    out = tmp_path / "pair.svg"
    run("timeline", CAPTURES / "firewall-reset-nat.pcapng", "--peer-capture",
        CAPTURES / "peer" / "firewall-reset-nat-server.pcapng", "-o", out)
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "INJECTED" in svg and "DROPPED" in svg
    assert "10.66.4.1:55010" in svg  # the NAT'd tuple of the server side, joined anyway
    result = CliRunner().invoke(main, ["timeline", str(CAPTURES / "firewall-reset.pcapng"), "--peer-capture",
                                       str(CAPTURES / "peer" / "firewall-reset-server.pcapng")])
    assert result.exit_code == 2 and "needs -o FILE" in result.output


def test_hops_with_a_peer_capture_marks_the_segment_between_the_capture_points(tmp_path):
    args = ["hops", CAPTURES / "firewall-reset.pcapng", "--peer-capture", CAPTURES / "peer" / "firewall-reset-server.pcapng"]
    out = run(*args).stdout
    assert "RST injected" in out and "traceroute hop 4" in out
    svg = tmp_path / "hops.svg"
    run(*args, "-o", svg)
    assert 'id="fault-segment"' in svg.read_text() and "between the captures" in svg.read_text()


def test_conversations_in_zeek_format_is_a_conn_log_with_one_row_per_zeek_connection():
    lab = ROOT / "tests" / "data" / "lab-syn-blackhole-4-syns.pcap"
    out = run("conversations", lab, "--format", "zeek").output
    lines = out.splitlines()
    assert lines[0] == "#separator \\x09" and lines[4] == "#path\tconn" and lines[-1].startswith("#close\t")
    fields = next(line for line in lines if line.startswith("#fields\t")).split("\t")[1:]
    rows = [dict(zip(fields, line.split("\t"))) for line in lines if not line.startswith("#")]
    # the attempt timer split the 4 SYNs into 2 Zeek connections: 3 SYNs, then 1 (duration unset, as Zeek's)
    assert [(r["conn_state"], r["history"], r["orig_pkts"], r["duration"] == "-") for r in rows] == [
        ("S0", "S", "3", False), ("S0", "S", "1", True)]
    [conv] = json.loads(run("conversations", lab, "--format", "json").output)["conversations"]
    assert (conv["syn_count"], conv["zeek_connections"], conv["zeek_uids"]) == (4, 2, [r["uid"] for r in rows])
    summary = json.loads(run("summary", lab, "--format", "json").output)
    assert (summary["conversations_total"], summary["zeek_connections_total"]) == (1, 2)


def test_only_conversations_offers_the_zeek_format():
    result = CliRunner().invoke(main, ["summary", str(CAPTURES / "clean.pcap"), "--format", "zeek"])
    assert result.exit_code == 2 and "Traceback" not in result.output
