"""TLS SNI per conversation against tshark's ``tls.handshake.extensions_server_name`` on every corpus capture
(both corpora) that has a ClientHello: the conversation with tshark's ``tcp.stream`` number must carry
the SNI tshark read (the first ClientHello of the stream)."""

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


def tshark_snis(path: Path) -> dict[int, str]:
    """tcp.stream → SNI of its first ClientHello, as tshark reads it."""
    run = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "tls.handshake.type==1", "-T", "fields",
                          "-e", "tcp.stream", "-e", "tls.handshake.extensions_server_name"],
                         capture_output=True, text=True, timeout=120)
    found: dict[int, str] = {}
    for line in run.stdout.splitlines():
        stream, _, name = line.partition("\t")
        if stream.strip().isdigit() and name.strip():
            found.setdefault(int(stream), name.split(",")[0].strip())
    return found


def sni_agreement(path: Path) -> tuple[int, int, list]:
    """(streams tshark names, streams netreset names the same, the disagreements)."""
    expected = tshark_snis(path)
    if not expected:
        return 0, 0, []
    analysis = Analysis.of_files([path])
    convs = analysis.raw_conversations
    apps = application_summaries(analysis.table, convs, analysis.stats.payloads)
    by_stream = {c.tcp_stream: apps[c.id] for c in convs}
    wrong = []
    for stream, name in sorted(expected.items()):
        app = by_stream.get(stream)
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
