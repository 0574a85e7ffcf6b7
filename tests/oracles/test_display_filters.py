"""Every display filter netreset prints selects, in Wireshark, the frames its record names (issue 13 §4).

For each sample capture and each corpus capture, every ``display_filter`` of the ``summary`` findings
(the resets' and the handshake findings', as ``locate-reset`` and ``handshakes`` print them too) is run
through ``tshark -r FILE -Y FILTER`` and the frames it selects are checked against the record:

* every frame the record names (``frames``) is selected;
* nothing outside the record's ``tcp.stream`` is selected (tshark's own numbers, read once per file), except
  the ICMP errors the filter names and, for a RST whose sender sent nothing else in its conversation
  (``… or (tcp and ip.src == X)``), that sender's packets elsewhere — the stated superset rule;
* a filter narrowed by ``frame.number >= a and frame.number <= b`` (a stream shared by several
  conversations) selects nothing outside ``a … b`` but those ICMP errors.

A corpus capture with many findings has an even sample of them checked (:data:`PER_CAPTURE`), so the test
stays within a minute; the samples are checked in full.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT

import frozen_analyses as frozen

TSHARK = shutil.which("tshark")
PER_CAPTURE = 12  #: filters checked per corpus capture (all of them on the samples)

pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")


def _names() -> list[str]:
    return sorted(frozen.captures(CORPUS, None))


def _tshark(path: Path, display_filter: str | None, *fields: str) -> list[list[str]]:
    args = [TSHARK, "-r", str(path), "-T", "fields"] + [x for f in fields for x in ("-e", f)]
    if display_filter:
        args += ["-Y", display_filter]
    run = subprocess.run(args, capture_output=True, text=True)
    assert run.returncode == 0, f"tshark rejected {display_filter!r}: {run.stderr.strip()}"
    return [line.split("\t") for line in run.stdout.splitlines()]


def _sample(items: list, n: int) -> list:
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


@pytest.mark.parametrize("name", _names())
def test_each_display_filter_selects_the_frames_its_record_names(name):
    from netreset.pipeline.whole import Analysis

    path = frozen.captures(CORPUS, None)[name]
    records = [r for r in Analysis.of_files([path]).finding_rows() if r.get("display_filter")]
    if not records:
        pytest.skip("no finding with a display filter")
    if name.startswith("corpus/"):
        records = _sample(records, PER_CAPTURE)
    stream_of = {int(f): int(s.split(",")[0]) for f, s in _tshark(path, None, "frame.number", "tcp.stream") if s}
    wrong = []
    for record in records:
        text = record["display_filter"]
        selected = {int(line[0]) for line in _tshark(path, text, "frame.number") if line and line[0]}
        named = set(record["frames"])
        icmp = {int(x) for x in re.findall(r"\d+", m.group(1))} if (m := re.search(r"frame\.number in \{([^}]*)\}", text)) else set()
        problems = []
        if named - selected:
            problems.append(f"misses {sorted(named - selected)}")
        if (m := re.search(r"tcp\.stream eq (\d+)", text)) and "(tcp and " not in text:
            outside = {f for f in selected - icmp if stream_of.get(f) != int(m.group(1))}
            if outside:
                problems.append(f"selects {sorted(outside)[:8]} outside tcp.stream {m.group(1)}")
        if m := re.search(r"frame\.number >= (\d+) and frame\.number <= (\d+)", text):
            lo, hi = int(m.group(1)), int(m.group(2))
            beyond = {f for f in selected - icmp if not lo <= f <= hi}
            if beyond:
                problems.append(f"selects {sorted(beyond)[:8]} outside frames {lo}-{hi}")
        if problems:
            wrong.append(f"{record['kind']} conversation {record['conversation']}: {text!r} " + "; ".join(problems))
    assert not wrong, "\n".join(wrong)
