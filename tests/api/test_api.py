"""The Python API: docs/api.md's example runs, and a.table() holds the rows the export writes."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import netreset
from tests.conftest import CAPTURES, ROOT
from tests.store.fleet_support import canonical, json_records


def test_the_documented_example_runs():
    pytest.importorskip("pyarrow")
    pytest.importorskip("pandas")
    (code,) = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "middlebox at hop 4 claiming to be 10.66.6.2" in result.stdout
    assert "timestamp[ns, tz=UTC]" in result.stdout


def test_the_records_are_the_commands_json():
    capture = CAPTURES / "tls-inspection.pcapng"
    a = netreset.analyze(capture)
    expected = json_records(capture)
    for name in ("conversations", "resets", "findings", "handshakes", "hosts"):
        assert getattr(a, name) == expected[name], name
    assert a.summary["conversations_total"] == len(expected["conversations"])


def test_table_rows_are_the_exported_rows(tmp_path):
    pytest.importorskip("pyarrow")
    from click.testing import CliRunner

    from netreset.cli.main import main
    from netreset.store.dataset import read_table
    from netreset.store.schema import records_of

    capture = CAPTURES / "sni-filtered.pcapng"
    assert CliRunner().invoke(main, ["export", str(capture), "-o", str(tmp_path), "-q"]).exit_code == 0
    a = netreset.analyze(str(capture))
    for name in ("conversations", "resets", "app_events", "causes", "hosts"):
        mine, written = a.table(name), read_table(tmp_path, name)
        assert mine.column_names == written.column_names, name
        assert canonical(records_of(mine, drop=())) == canonical(records_of(written, drop=())), name
        assert mine.num_rows == len(getattr(a, name, None) or a.table(name).to_pylist())


def test_options_and_errors():
    only = netreset.analyze(CAPTURES / "multi-connection.pcap", filter="port 40083")
    assert [c["orig_p"] for c in only.conversations] == [40083]
    with pytest.raises(TypeError, match="unknown options colour"):
        netreset.analyze(CAPTURES / "clean.pcap", colour="red")
    from netreset.errors import NetresetError

    with pytest.raises(NetresetError, match="no such file"):
        netreset.analyze("/nonexistent.pcap").resets
    with pytest.raises(AttributeError):
        netreset.not_there  # noqa: B018
