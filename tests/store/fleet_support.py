"""What the store, fleet and API tests share: the single-process JSON of a capture, and row comparison."""

from __future__ import annotations

import json

from click.testing import CliRunner

from netreset.cli.main import main

#: table → (command, key of its records in the JSON document)
COMMANDS = {"conversations": ("conversations", "conversations"), "resets": ("locate-reset", "resets"),
            "handshakes": ("handshakes", "handshakes"), "hosts": ("hosts", "hosts"), "findings": ("summary", "findings")}


def json_records(capture) -> dict[str, list[dict]]:
    """Every table's records as the commands print them with --format json (one process per capture),
    plus the application tables unpacked from the conversations as the docs define them."""
    out = {}
    for table, (command, key) in COMMANDS.items():
        result = CliRunner().invoke(main, [command, str(capture), "--format", "json", "-q"])
        assert result.exit_code == 0, result.output
        out[table] = json.loads(result.stdout)[key]
    out["app_events"] = [{"conversation": c["id"], "index": i, "frame": e.get("frame"), "from": e.get("from"),
                          "kind": e.get("kind"), "event": e} for c in out["conversations"]
                         for i, e in enumerate(c["app_events"])]
    out["causes"] = [{"conversation": c["id"], "index": i, "code": k["code"], "sentence": k["sentence"],
                      "frames": k["frames"], "evidence": k["evidence"]} for c in out["conversations"]
                     for i, k in enumerate(c["causes"])]
    return out


def canonical(rows: list[dict]) -> list[str]:
    """Rows as sorted JSON texts: equal lists of records, whatever their order in the files."""
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


def dataset_rows(root, table: str, capture_sha: str) -> list[dict]:
    """The records of one capture in table ``table`` of the dataset at ``root``."""
    import pyarrow.compute as pc

    from netreset.store.dataset import read_table
    from netreset.store.schema import records_of

    return records_of(read_table(root, table, filter=pc.field("capture") == capture_sha))
