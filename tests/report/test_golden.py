"""Every sample capture's output equals its golden file (regenerate with `python tests/helpers/golden.py`)."""

import json

import pytest

from tests.helpers.golden import expected_path, golden_document, sample_captures


@pytest.mark.parametrize("capture", sample_captures(), ids=lambda p: p.name)
def test_output_matches_the_golden_file(capture):
    path = expected_path(capture)
    assert path.is_file(), f"no golden file for {capture.name}: run python tests/helpers/golden.py"
    assert golden_document(capture) == json.loads(path.read_text())


def test_every_golden_file_belongs_to_a_capture():
    names = {expected_path(c).name for c in sample_captures()}
    assert {p.name for p in expected_path(sample_captures()[0]).parent.iterdir()} == names
