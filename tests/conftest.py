"""Shared test fixtures: the external corpus (skipped cleanly when ../shared is absent) and paths."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
CORPUS = Path(os.environ.get("NETRESET_CORPUS", ROOT.parent / "shared" / "corpus"))


def corpus_entries() -> list[dict]:
    """Every corpus entry's expected.json (with 'dir' and 'capture_path' added); [] when absent."""
    if not (CORPUS / "manifest.json").is_file():
        return []
    entries = []
    for item in json.loads((CORPUS / "manifest.json").read_text()):
        entry_dir = CORPUS / item["id"]
        expected = json.loads((entry_dir / "expected.json").read_text())
        expected["dir"] = entry_dir
        expected["capture_path"] = entry_dir / expected["capture"]
        expected["tags"] = item.get("tags", [])
        entries.append(expected)
    return entries


@pytest.fixture(scope="session")
def corpus() -> list[dict]:
    entries = corpus_entries()
    if not entries:
        pytest.skip(f"external corpus not found at {CORPUS}")
    return entries
