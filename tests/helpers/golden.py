"""Golden outputs of the sample captures: one expected file per capture, matched by file name.

Regenerate after an intended change of behaviour (never edit the files by hand), then review the diff:

    python tests/helpers/golden.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
EXPECTED = CAPTURES / "expected"
COMMANDS = ("conversations", "locate-reset", "handshakes")


def sample_captures() -> list[Path]:
    """The agent-side sample captures (the second vantage points under captures/peer are for issue 5)."""
    return sorted(p for p in CAPTURES.iterdir() if p.suffix in (".pcap", ".pcapng"))


def golden_document(capture: Path) -> dict:
    """What netreset says about one capture, as the JSON of each command (what other tools read)."""
    from netreset.cli.main import main

    document = {"capture": capture.name}
    for command in COMMANDS:
        result = CliRunner().invoke(main, [command, str(capture), "--format", "json"])
        if result.exit_code != 0:
            raise RuntimeError(f"{command} {capture.name}: exit {result.exit_code}: {result.output}")
        document[command] = json.loads(result.stdout)
    return document


def expected_path(capture: Path) -> Path:
    return EXPECTED / f"{capture.name}.json"


def main() -> int:
    EXPECTED.mkdir(exist_ok=True)
    for capture in sample_captures():
        expected_path(capture).write_text(json.dumps(golden_document(capture), indent=1, sort_keys=False) + "\n")
        print(f"wrote {expected_path(capture).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
