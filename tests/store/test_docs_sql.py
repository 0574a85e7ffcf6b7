"""The DuckDB SQL of docs/fleet.md, run on a dataset of the sample captures; answers checked against the JSON."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timezone

import pytest

duckdb = pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

from click.testing import CliRunner  # noqa: E402

from netreset.cli.main import main  # noqa: E402
from tests.conftest import CAPTURES, ROOT  # noqa: E402
from tests.store.fleet_support import json_records  # noqa: E402

SAMPLES = sorted(CAPTURES.glob("*.pcap*"))


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    root = tmp_path_factory.mktemp("sql")
    assert CliRunner().invoke(main, ["export", *map(str, SAMPLES), "-o", str(root), "-q"]).exit_code == 0
    blocks = re.findall(r"```sql\n(.*?)```", (ROOT / "docs" / "fleet.md").read_text(), re.S)
    assert len(blocks) == 4
    return [duckdb.sql(block.replace("DATASET", str(root))).fetchall() for block in blocks]


@pytest.fixture(scope="module")
def expected():
    return {capture.name: json_records(capture) for capture in SAMPLES}


def test_resets_per_device_per_node_per_hour(answers, expected):
    want = Counter()
    for records in expected.values():
        node = "fd00_66__1" if ":" in records["conversations"][0]["orig_h"] else "10.66.0.1"
        for r in records["resets"]:
            if r["verdict"] == "middlebox":
                want[(f"hop{r['traceroute_hop']}-ttl{r['initial_ttl']}", node, int(r["ts"] // 3600) * 3600)] += 1
    got = Counter({(device, node, int(hour.astimezone(timezone.utc).timestamp())): n for device, node, hour, n in answers[0]})
    assert got == want and sum(got.values()) >= 5


def test_services_reset_by_hop_4(answers, expected):
    want = Counter()
    for records in expected.values():
        by_id = {c["id"]: c for c in records["conversations"]}
        for r in records["resets"]:
            if r["verdict"] == "middlebox" and r["traceroute_hop"] == 4:
                c = by_id[r["conversation"]]
                want[c["server_name"] or f"{c['resp_h']}:{c['resp_p']}"] += 1
    assert {service: n for service, n, _ in answers[1]} == dict(want)
    assert "wu2.frontend.clouddatahub.net" in want  # the SNI-filtered name (captures/README.md)


def test_syn_timeouts_by_port(answers):
    assert [(port, n) for port, n, _ in answers[2]] == [(8082, 1), (8088, 1)]  # syn-blackhole, synack-dropped


def test_sni_filtered_names(answers):
    # sni-filtered.pcapng: reset by the device at hop 4; sni-dropped.pcapng: dropped, no RST of the device (no hop)
    assert sorted((sni, hop or "") for sni, hop, _ in answers[3]) == [("eu.frontend.clouddatahub.net", ""),
                                                                     ("wu2.frontend.clouddatahub.net", "4")]
