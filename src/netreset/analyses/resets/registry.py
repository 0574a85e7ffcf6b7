"""The one list of reset evidence rules: each registered once, with its batch twin and its width.

A rule is a pure function ``observations(ctx) -> list[Observation]`` over one RST's
:class:`~netreset.analyses.resets.evidence.ResetContext` (the reference), and — for every rule that
can — a *batch twin* ``batch(b)`` that puts the same observations for all RSTs at once from fact
columns (:class:`~netreset.analyses.resets.batch.Batch`). The twin owns ``width`` *positions*: the most
observations its per-RST rule lists for one RST, in that rule's order (see :mod:`.batch`).

:data:`REGISTRY` is the only place that lists them. The per-RST list (:data:`RULES`), the batch list
with each twin's width (:data:`BATCH_RULES`) and the rules whose RSTs the per-RST path judges whole
(:data:`JUDGED_ALONE`) are all read off it, so they cannot disagree on which rules run or in what
order — the order observations are listed in before the strongest-first sort, which both paths must
share. A rule without a batch twin (ICMP: rare, and unbounded in how many observations it lists) names
the RSTs it may observe instead, and :func:`~netreset.analyses.resets.locate.judge_resets` hands those
RSTs to the per-RST path.

Adding a rule: write ``x_observations`` and ``x_batch`` in a module of :mod:`.rules`, their weights
in :mod:`.weights`, any new fact in :class:`~netreset.analyses.resets.evidence.ResetContext` and
:mod:`.context`, and one :class:`Rule` line below (``docs/reset-attribution.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from netreset.analyses.resets.batch import Batch
from netreset.analyses.resets.context import ResetFacts
from netreset.analyses.resets.evidence import Observation, ResetContext
from netreset.analyses.resets.rules.icmp import icmp_observations
from netreset.analyses.resets.rules.ipid import ipid_batch, ipid_observations, shared_batch, shared_observations
from netreset.analyses.resets.rules.seq import burst_batch, burst_observations, plausibility_batch, plausibility_observations
from netreset.analyses.resets.rules.timing import race_batch, race_observations, rtt_batch, rtt_observations
from netreset.analyses.resets.rules.terminated import terminated_batch, terminated_observations
from netreset.analyses.resets.rules.ttl import ttl_batch, ttl_observations
from netreset.analyses.resets.rules.window import timestamp_batch, timestamp_observations, window_batch, window_observations


@dataclass(frozen=True)
class Rule:
    """One evidence rule: its per-RST reference, its batch twin and the positions the twin owns.

    A rule has either a batch twin (``batch`` with ``width`` ≥ 1) or ``judged_alone``: which of many
    RSTs it may observe (a boolean per RST of a :class:`~netreset.analyses.resets.context.ResetFacts`);
    the per-RST path judges those RSTs, with every rule, instead of the batch path.
    """

    observations: Callable[[ResetContext], list[Observation]]  #: the reference: one RST's observations
    batch: Callable[[Batch], None] | None = None  #: the same observations for all RSTs, from fact columns
    width: int = 0  #: positions the twin owns: the most observations the rule lists for one RST
    judged_alone: Callable[[ResetFacts], np.ndarray] | None = None  #: without a twin: RSTs it may observe

    def __post_init__(self) -> None:
        if (self.batch is None) == (self.judged_alone is None):
            raise ValueError(f"{self.observations.__name__}: give a batch twin or judged_alone, exactly one")
        if (self.width >= 1) != (self.batch is not None):
            raise ValueError(f"{self.observations.__name__}: a batch twin owns at least one position, no twin none")


def _quoted_by_icmp(facts: ResetFacts) -> np.ndarray:
    """RSTs whose conversation an ICMP error quotes (the only ones the ICMP rule can observe)."""
    return np.array([bool(found) for found in facts.listed("icmp")], dtype=bool)


#: Every evidence rule, in the order its observations are listed before sorting by weight.
REGISTRY: tuple[Rule, ...] = (
    Rule(ttl_observations, ttl_batch, 2),  # the TTL observation, then the family mismatch
    Rule(ipid_observations, ipid_batch, 3),  # reflection, DF, then the sequence
    Rule(shared_observations, shared_batch, 1),  # one IP ID counter behind RSTs claiming several hosts
    Rule(window_observations, window_batch, 1),
    Rule(timestamp_observations, timestamp_batch, 1),
    Rule(plausibility_observations, plausibility_batch, 1),
    Rule(burst_observations, burst_batch, 2),  # the seq change, then the ack change
    Rule(race_observations, race_batch, 1),
    Rule(rtt_observations, rtt_batch, 1),
    Rule(terminated_observations, terminated_batch, 1),  # a device answered for the sender in this connection
    Rule(icmp_observations, judged_alone=_quoted_by_icmp),  # one observation per device: no fixed width
)

#: The per-RST rules, in :data:`REGISTRY` order (what :func:`~netreset.analyses.resets.locate.judge_reset` runs).
RULES: tuple[Callable[[ResetContext], list[Observation]], ...] = tuple(rule.observations for rule in REGISTRY)

#: Every batch twin with its width, in :data:`REGISTRY` order (what the batch path runs).
BATCH_RULES: tuple[tuple[Callable[[Batch], None], int], ...] = tuple(
    (rule.batch, rule.width) for rule in REGISTRY if rule.batch is not None)

#: The rules without a batch twin: the RSTs any of them may observe go to the per-RST path.
JUDGED_ALONE: tuple[Callable[[ResetFacts], np.ndarray], ...] = tuple(
    rule.judged_alone for rule in REGISTRY if rule.judged_alone is not None)
