"""`export`/`fleet` without the extra: one line saying what to install; the core CLI never loads the extra."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from click.testing import CliRunner

from netreset.cli.main import main
from tests.conftest import CAPTURES, ROOT


@pytest.mark.parametrize("command, missing", [("fleet", "dask[distributed]"), ("export", "pyarrow")])
def test_without_the_extra_one_line_says_what_to_install(monkeypatch, tmp_path, command, missing):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("distributed", "pyarrow") else real(name, *a))
    result = CliRunner().invoke(main, [command, str(CAPTURES / "clean.pcap"), "-o", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert f"pip install 'netreset[fleet]'" in result.output and missing in result.output


def test_the_core_commands_load_nothing_of_the_extra():
    code = ("import sys; from netreset.cli.main import main; "
            "print(sorted(m for m in ('pyarrow', 'distributed', 'dask', 'duckdb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT / "src")}).stdout
    assert out.strip() == "[]"


def test_report_fleet_page_is_self_contained(tmp_path):
    pytest.importorskip("pyarrow")
    captures = [CAPTURES / "firewall-reset.pcapng", CAPTURES / "firewall-reset-ipv6.pcapng", CAPTURES / "clean.pcap"]
    assert CliRunner().invoke(main, ["export", *map(str, captures), "-o", str(tmp_path / "d"), "-q"]).exit_code == 0
    result = CliRunner().invoke(main, ["report", "--fleet", str(tmp_path / "d"), "-o", str(tmp_path / "fleet.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "fleet.html").read_text()
    assert "<script" not in page and "<link" not in page and "src=" not in page and "<img" not in page
    assert "Resets over time by device" in page and page.count("<svg") == 2  # the time figure, one hop diagram
    assert "the device at hop 4 (initial TTL 64) reset 2 connections from 2 nodes" in page
    assert "<th>10.66.6.2:8081</th>" in page and "<td>fd00_66__1</td>" in page
    both = CliRunner().invoke(main, ["report", str(captures[0]), "--fleet", str(tmp_path / "d"), "-o", str(tmp_path / "x.html")])
    assert both.exit_code == 2 and "not both" in both.output


class _Terminal:
    """A stream that says it is a terminal and keeps what rich writes to it."""

    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, text):
        self.text.append(text)
        return len(text)

    def flush(self):
        pass


def test_the_progress_bar_counts_captures_done_and_failed_and_is_silent_off_a_terminal():
    import io

    from netreset.cli.progress import capture_progress

    with capture_progress(3, stream=io.StringIO()) as done:
        assert done is None
    with capture_progress(3, quiet=True, stream=_Terminal()) as done:
        assert done is None
    terminal = _Terminal()
    with capture_progress(3, stream=terminal) as done:
        done({"error": None, "packets": 1000})
        done({"error": "x: not a capture file"})
        done({"error": None, "packets": 500})
    shown = "".join(terminal.text)
    assert "3/3" in shown and "1 failed" in shown
