"""TLS SNI per conversation against tshark's ``tls.handshake.extensions_server_name`` on every corpus capture
(both corpora) that has a ClientHello: the conversation holding the frame of tshark's first ClientHello of
each ``tcp.stream`` must carry the SNI tshark read. (Matched by frame, not by stream number: tshark numbers
streams its other dissectors open too, e.g. SOCKS.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CORPUS
from netreset.analyses.application.events import application_summaries
from netreset.pipeline.whole import Analysis

WIDE = CORPUS.parent / "corpus-wide"


def _captures() -> list[Path]:
    out = []
    for root in (CORPUS, WIDE):
        manifest = root / "manifest.json"
        if manifest.is_file():
            for item in json.loads(manifest.read_text()):
                path = root / item["capture"] if "/" in item["capture"] else root / item["id"] / item["capture"]
                if path.is_file():
                    out.append(path)
    return out


def tshark_snis(path: Path) -> dict[int, tuple[int, str]]:
    """tcp.stream → (frame, SNI) of its first ClientHello, as tshark reads it."""
    run = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "tls.handshake.type==1", "-T", "fields",
                          "-e", "tcp.stream", "-e", "frame.number", "-e", "tls.handshake.extensions_server_name"],
                         capture_output=True, text=True, timeout=120)
    found: dict[int, str] = {}
    for line in run.stdout.splitlines():
        stream, frame, name = (line.split("\t") + ["", ""])[:3]
        if stream.strip().isdigit() and frame.strip().isdigit() and name.strip():
            found.setdefault(int(stream), (int(frame), name.split(",")[0].strip()))
    return found


def sni_agreement(path: Path) -> tuple[int, int, list]:
    """(streams tshark names, streams netreset names the same, the disagreements)."""
    expected = tshark_snis(path)
    if not expected:
        return 0, 0, []
    analysis = Analysis.of_files([path])
    convs = analysis.raw_conversations
    apps = application_summaries(analysis.table, convs, analysis.stats.payloads)
    by_frame = {(int(f)): apps[c.id] for c in convs for f in analysis.table.frame[c.rows].tolist()}
    wrong = []
    for stream, (frame, name) in list(expected.items()):
        if frame not in by_frame:  # a frame netreset's decoder gives no TCP row (an undecoded tunnel): not SNI's business
            del expected[stream]
    for stream, (frame, name) in sorted(expected.items()):
        app = by_frame.get(frame)
        got = app.tls.get("sni") if app is not None and app.tls else None
        if got != name:
            wrong.append((stream, name, got))
    return len(expected), len(expected) - len(wrong), wrong


CAPTURES = _captures()


@pytest.mark.skipif(not CAPTURES, reason=f"external corpus not found at {CORPUS}")
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.parent.name)
def test_sni_per_conversation_agrees_with_tshark(path: Path):
    total, same, wrong = sni_agreement(path)
    assert not wrong, f"{same}/{total} streams agree; (stream, tshark, netreset): {wrong[:10]}"


if __name__ == "__main__":  # the agreement numbers: python tests/oracles/test_sni_tshark.py
    totals = [0, 0, 0]
    for capture in CAPTURES:
        total, same, wrong = sni_agreement(capture)
        totals[0] += bool(total)
        totals[1] += total
        totals[2] += same
        if wrong:
            print(capture.parent.name, wrong)
    print(f"{totals[0]} captures with a ClientHello; {totals[2]}/{totals[1]} streams' SNI agree with tshark")
