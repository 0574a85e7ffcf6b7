"""Shared test fixtures: the external corpus (skipped cleanly when ../shared is absent) and paths.

Tests live in one folder per package of ``src/netreset`` (``tests/flows`` tests ``netreset.flows``, …);
``tests/oracles`` compares with tshark and Zeek, ``tests/lab`` rebuilds the namespace lab, and
``tests/helpers`` holds the builders and the regenerators of golden and frozen outputs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
HELPERS = ROOT / "tests" / "helpers"
if str(HELPERS) not in sys.path:  # packet builders, golden and frozen-answer makers: `from builders import ...`
    sys.path.insert(0, str(HELPERS))
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
