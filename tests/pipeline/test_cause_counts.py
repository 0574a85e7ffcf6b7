"""summary's ``by_cause`` counts exactly the codes of the conversations' ``causes`` (netreset.analyses.causes).

:func:`netreset.pipeline.whole.count_causes` counts codes without building each finding's cause (the cost on
a big capture); here it is held equal to counting the full ``causes`` lists (``conversations --format json``)
on every sample, lab and corpus capture. The streamed pipeline's counts are held equal to the whole path's by
tests/pipeline/test_stream.py (the summary document).
"""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import CORPUS

import frozen_analyses as frozen
from netreset.pipeline.whole import Analysis, count_causes

CAPTURES = frozen.captures(CORPUS, None)


def _full_counts(analysis: Analysis) -> Counter:
    counts: Counter = Counter()
    for _, causes in analysis.causes.values():
        counts.update(set(c["code"] for c in causes))
    return counts


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_counted_codes_are_the_codes_of_the_full_causes(name):
    analysis = Analysis.of_files([CAPTURES[name]])
    assert analysis.cause_counts() == _full_counts(analysis)


def test_the_lab_captures_have_the_causes_of_their_scenarios():
    expected = {"sni-filtered": {"sni_filtered": 1}, "proxy-connect": {"proxy_auth_required": 1, "proxy_denied": 1},
                "idle-timeout": {"idle_timeout": 1}, "tls-versions": {"tls_alert": 1}}
    for name, counts in expected.items():
        analysis = Analysis.of_files([CAPTURES[f"captures/{name}.pcapng"]])
        assert analysis.cause_counts() == counts
        assert count_causes(analysis.conversations, {}, [], []) == Counter()
