"""The documentation tells the truth about the CLI."""

import re

from netreset.cli.main import main
from tests.helpers.cli_docs import CLI_MD, ROOT, generate


def test_cli_reference_is_generated_from_the_current_help():
    assert CLI_MD.read_text() == generate(), "docs/cli.md is stale: run python tests/helpers/cli_docs.py"


def test_every_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name in main.commands:
        assert f"netreset {name}" in readme, name


def test_readme_quick_start_has_the_two_commands_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = "python3 -m pip install -q -e '.[test]' && python3 -m pytest -n auto"
    assert test_command in readme and test_command in ci
    assert re.search(r"pip install -e \. && netreset locate-reset captures/\S+\.pcapng", readme)


def test_every_linked_doc_exists():
    readme = (ROOT / "README.md").read_text()
    for link in re.findall(r"\]\(((?:docs|captures)/[^)#]+)\)", readme):
        assert (ROOT / link).exists(), link


def test_a_command_invoked_on_its_own_first_keeps_its_short_help_option():
    """click keeps a command's help option once made: a command run alone first must not lose ``-h``."""
    from click.testing import CliRunner

    from netreset.cli.figures import FIGURE_COMMANDS

    for command in FIGURE_COMMANDS:
        assert "-h, --help" in CliRunner().invoke(command, ["--help"]).output
    assert CLI_MD.read_text() == generate()
