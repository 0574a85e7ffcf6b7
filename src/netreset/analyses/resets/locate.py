"""Judging RSTs: every registered rule on every RST, combined into one verdict each.

:func:`locate_resets` is the entry point (the ``locate-reset`` command and every analysis that refines
outcomes call it): it computes the facts of all RSTs at once (:mod:`.context`) and judges them with
:func:`judge_resets`, the batch path — every rule's twin over the fact columns (:mod:`.batch`).
:func:`judge_reset` is the reference it must equal: one context, every rule of :data:`~.registry.RULES`,
one decision (:mod:`.verdict`). ``tests/analyses/test_resets_batch.py`` holds the two paths to each other.
"""

from __future__ import annotations

import numpy as np

from netreset.flows.model import Conversation
from netreset.packets.table import PacketTable
from netreset.runtime.collector import older_objects_frozen
from netreset.analyses.resets.batch import Batch
from netreset.analyses.resets.context import ResetFacts, reset_facts
from netreset.analyses.resets.evidence import ResetContext
from netreset.analyses.resets.record import ResetVerdict, make_verdict, make_verdicts
from netreset.analyses.resets.registry import BATCH_RULES, JUDGED_ALONE, RULES
from netreset.analyses.resets.verdict import decide, decide_columns
from netreset.analyses.ttl import TtlTable


def judge_reset(ctx: ResetContext) -> ResetVerdict:
    """Run every rule on one RST and combine what they saw (the reference for :func:`judge_resets`)."""
    observations = [o for rule in RULES for o in rule(ctx)]
    return make_verdict(ctx, decide(observations), observations)


def judge_resets(facts: ResetFacts) -> list[ResetVerdict]:
    """:func:`judge_reset` for every RST of ``facts`` (same order), with the rules run over columns.
    RSTs a rule without a batch twin may observe (ICMP errors quoting their conversation) go through
    :func:`judge_reset` itself."""
    if not len(facts):
        return []
    b = Batch(facts, sum(width for _, width in BATCH_RULES))
    base = 0
    for rule, width in BATCH_RULES:
        b.rule(base, width)
        rule(b)
        base += width
    verdicts = make_verdicts(b, *decide_columns(b.codes, b.weights, b.names), b.evidence())
    alone = np.zeros(len(facts), dtype=bool)
    for observable in JUDGED_ALONE:
        alone |= observable(facts)
    quoted = np.flatnonzero(alone)
    if len(quoted):
        for i, ctx in zip(quoted.tolist(), facts.take(quoted).contexts()):
            verdicts[i] = judge_reset(ctx)
    return verdicts


def locate_resets(
    table: PacketTable, conversations: list[Conversation], ttl_table: TtlTable | None = None, host_ttls=None
) -> list[ResetVerdict]:
    """A verdict for every RST in the TCP conversations, in capture order.

    ``host_ttls``: see :func:`~netreset.analyses.resets.context.reset_facts` (a streamed analysis passes the
    whole capture's TTL counts with a table that holds only the conversations to judge).

    The facts every rule needs are computed for all RSTs at once (:mod:`netreset.analyses.resets.context`) and
    the rules run over them as columns (:func:`judge_resets`), with the collector kept out of the way
    of the many new records (:mod:`netreset.runtime.collector`).
    """
    with older_objects_frozen():
        facts = reset_facts(table, conversations, ttl_table, host_ttls)
        verdicts = judge_resets(facts)
        return [verdicts[i] for i in np.argsort(facts.values("row"), kind="stable").tolist()]
