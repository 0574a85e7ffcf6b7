"""The Parquet export: every JSON field has a typed column, every row equals the single-process JSON,
writes are idempotent, nodes are named by the documented rules, a corrupt capture fails alone."""

from __future__ import annotations

import json

import pytest

pa = pytest.importorskip("pyarrow")

from click.testing import CliRunner  # noqa: E402

from netreset.cli.main import main  # noqa: E402
from netreset.store.capture import capture_records  # noqa: E402
from netreset.store.dataset import read_table, write_capture  # noqa: E402
from netreset.store.identity import capture_host, compile_node_pattern, node_identity  # noqa: E402
from netreset.store.schema import TABLES, arrow_table, ns_seconds, records_of, ts_ns, unknown_fields  # noqa: E402
from tests.conftest import CAPTURES  # noqa: E402
from tests.store.fleet_support import canonical, dataset_rows, json_records  # noqa: E402

SAMPLES = sorted(p for p in CAPTURES.glob("*.pcap*"))
PEERS = sorted(p for p in (CAPTURES / "peer").glob("*.pcap*"))


@pytest.mark.parametrize("capture", SAMPLES + PEERS, ids=lambda p: p.name)
def test_every_json_field_has_a_typed_column(capture):
    """A field the records carry and the schema does not type fails here (it would be exported as JSON
    text under its name): give it its kind in netreset/store/schema.py."""
    records = capture_records(capture)
    assert {t: unknown_fields(t, rows) for t, rows in records.tables.items() if unknown_fields(t, rows)} == {}


def test_an_unknown_field_is_kept_as_json_and_read_back():
    rows = [{"kind": "reset", "conversation": 1, "frames": [2], "ts": 1.5, "verdict": None, "confidence": None,
             "summary": "s", "display_filter": "d", "newer": {"a": [1, "x"]}}]
    table = arrow_table("findings", rows, "abc")
    assert table.schema.field("newer").type == pa.string()
    assert records_of(table) == rows


@pytest.mark.parametrize("seconds", [0.0, 1795628575.864146, 1796415429.572409, 1700000000.123456789, 1e-6, 12.5])
def test_timestamps_convert_exactly_both_ways(seconds):
    assert ns_seconds(ts_ns(seconds)) == seconds
    assert ts_ns(1795628575.864146) == 1795628575864146000


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("dataset")
    result = CliRunner().invoke(main, ["export", *map(str, SAMPLES), "-o", str(root), "--format", "json", "-q"])
    assert result.exit_code == 0, result.output
    return root, json.loads(result.stdout)


@pytest.mark.parametrize("capture", SAMPLES, ids=lambda p: p.name)
def test_every_row_equals_the_single_process_json(exported, capture):
    root, _ = exported
    from netreset.store.identity import file_sha256

    sha = file_sha256(capture)[0]
    expected = json_records(capture)
    for table, rows in expected.items():
        assert canonical(dataset_rows(root, table, sha)) == canonical(rows), table
    (row,) = dataset_rows(root, "captures", sha)
    assert row["path"] == str(capture) and row["sha256"] == sha and row["node_source"] == "capture_host"
    assert row["conversations"] == len(expected["conversations"]) and row["resets"] == len(expected["resets"])


def test_columns_have_the_documented_types(exported):
    root, _ = exported
    schema = read_table(root, "conversations").schema
    assert schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert schema.field("orig_h").type == pa.string() and schema.field("syn_gaps_s").type == pa.list_(pa.float64())
    assert schema.field("causes").type == pa.string() and schema.field("names").type.num_fields == 2
    assert read_table(root, "captures").schema.field("first_ts").type == pa.timestamp("ns", tz="UTC")
    assert set(read_table(root, "resets").column("node").to_pylist()) == {"10.66.0.1", "fd00_66__1"}


def test_the_summary_counts_what_the_dataset_holds(exported):
    root, document = exported
    assert document["captures"] == len(SAMPLES) == read_table(root, "captures").num_rows
    assert document["resets_total"] == read_table(root, "resets").num_rows
    assert document["conversations_total"] == read_table(root, "conversations").num_rows
    (device,) = document["devices"]  # the lab's one firewall: hop 4, Linux TTL 64 (captures/README.md)
    assert (device["device"], device["traceroute_hop"], device["initial_ttl"]) == ("hop4-ttl64", 4, 64)
    middlebox = [r for r in records_of(read_table(root, "resets")) if r["verdict"] == "middlebox"]
    assert device["resets"] == len(middlebox) and device["nodes"] == ["10.66.0.1", "fd00_66__1"]


def test_exporting_again_replaces_the_capture_even_under_another_node(tmp_path):
    capture = CAPTURES / "firewall-reset.pcapng"
    records = capture_records(capture)
    write_capture(tmp_path, records)
    write_capture(tmp_path, records)
    again = capture_records(capture, node="elsewhere")
    write_capture(tmp_path, again)
    assert read_table(tmp_path, "resets").column("node").to_pylist() == ["elsewhere"]
    assert read_table(tmp_path, "captures").num_rows == 1
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no temporary file left


def test_a_corrupt_capture_fails_alone(tmp_path):
    bad = tmp_path / "corrupt.pcapng"
    bad.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\xff" * 40)
    result = CliRunner().invoke(main, ["export", str(CAPTURES / "clean.pcap"), str(bad), "-o", str(tmp_path / "d"),
                                       "--format", "json", "-q"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["captures"] == 1 and [f["path"] for f in document["failed"]] == [str(bad)]
    assert "corrupt.pcapng" in document["failed"][0]["error"] and "\n" not in document["failed"][0]["error"]


def test_node_rules_in_their_order():
    pattern = compile_node_pattern(r"/nodes/([^/]+)/")
    shb = {"shb_hardware": "host-7", "shb_os": "Linux"}
    assert node_identity("/x/nodes/ir1-n2/a.pcap", node="given", node_from=pattern, host="10.0.0.1") == ("given", "option")
    assert node_identity("/x/nodes/ir1-n2/a.pcap", node_from=pattern, host="10.0.0.1") == ("ir1-n2", "path")
    assert node_identity("/x/other/a.pcap", node_from=pattern, host="fd00::1", section=shb) == ("fd00__1", "capture_host")
    assert node_identity("/x/a.pcap", section=shb) == ("host-7_Linux", "section_header")
    assert node_identity("/x/a.pcap") == ("unknown", "unknown")
    from netreset.errors import UsageError

    with pytest.raises(UsageError):
        compile_node_pattern("no-group")


def test_the_capture_host_is_the_unrouted_address_in_every_conversation():
    conversations = [{"orig_h": "10.0.0.5", "resp_h": "1.1.1.1"}, {"orig_h": "10.0.0.5", "resp_h": "2.2.2.2"}]
    hosts = [{"address": "10.0.0.5", "routers_between": 0}, {"address": "1.1.1.1", "routers_between": 0},
             {"address": "2.2.2.2", "routers_between": 5}]
    assert capture_host(hosts, conversations) == "10.0.0.5"
    assert capture_host([dict(h, routers_between=3) for h in hosts], conversations) is None  # premise: unrouted
    assert capture_host(hosts, conversations + [{"orig_h": "3.3.3.3", "resp_h": "4.4.4.4"}]) is None  # a SPAN port


def test_the_section_header_names_a_node_when_no_capture_host_is_found():
    """The firewall's capture (two interfaces, every address seen routed or in only some conversations)."""
    records = capture_records(CAPTURES / "peer" / "firewall-reset-fw.pcapng")
    row = records.row
    assert row["capture_host"] is None and row["node_source"] == "section_header"
    assert records.node.startswith(row["shb_hardware"].replace(" ", "_").replace("(", "_").replace(")", "_"))


def test_tables_are_the_documented_ones():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "fleet.md").read_text()
    assert all(f"| `{t}` |" in doc for t in TABLES)


@pytest.mark.parametrize("name", ["firewall-reset.pcapng", "tls-inspection.pcapng", "syn-blackhole.pcap"])
def test_a_streamed_capture_writes_its_resets_findings_and_handshakes(tmp_path, monkeypatch, name):
    """A big capture keeps its bounded memory: streamed, it writes the tables the streamed path offers,
    with the same rows, and says so in its captures row."""
    import netreset.pipeline.streamed as stream
    from netreset.runtime.compiled import compiler_installed

    if not compiler_installed():
        pytest.skip("streaming needs the compiled path (numba)")
    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 0)
    capture = CAPTURES / name
    records = capture_records(capture)
    assert records.row["streamed"] is True
    assert set(records.tables) == {"resets", "findings", "handshakes", "captures"}
    write_capture(tmp_path, records)
    expected = json_records(capture)
    from netreset.store.identity import file_sha256

    sha = file_sha256(capture)[0]
    for table in ("resets", "findings", "handshakes"):
        assert canonical(dataset_rows(tmp_path, table, sha)) == canonical(expected[table]), table
    (row,) = dataset_rows(tmp_path, "captures", sha)
    assert row["tables"] == ["resets", "findings", "handshakes", "captures"]
    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 1 << 40)  # the same capture read whole
    whole = capture_records(capture).row
    assert whole["streamed"] is False
    for field in ("first_ts", "last_ts", "packets", "tcp_packets", "conversations", "resets", "capture_host"):
        assert records.row[field] == (whole[field] if field != "capture_host" else None), field
