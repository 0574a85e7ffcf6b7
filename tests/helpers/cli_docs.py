"""docs/cli.md is generated from the commands' own --help (never edited by hand):

    python tests/helpers/cli_docs.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
CLI_MD = ROOT / "docs" / "cli.md"

HEADER = """# Command reference

Generated from `netreset COMMAND --help` by `python tests/helpers/cli_docs.py`; a test fails when it is stale.
Exit codes: 0 success, 1 input/runtime error (one line `Error: <file>: <what>`), 2 usage error,
3 a `--fail-on` condition was met (`watch`: its `--until` finding came).
"""


def help_text(*command: str) -> str:
    from netreset.cli.main import main

    result = CliRunner().invoke(main, [*command, "--help"], terminal_width=100, prog_name="netreset")
    return result.output


def generate() -> str:
    from netreset.cli.main import main

    parts = [HEADER, "## netreset\n", "```text\n" + help_text() + "```\n"]
    for name in sorted(main.commands):
        parts.append(f"## netreset {name}\n")
        parts.append("```text\n" + help_text(name) + "```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    CLI_MD.write_text(generate())
    print(f"wrote {CLI_MD.relative_to(ROOT)}")
