"""Reset attribution: for every RST, did the claimed sender send it, or a middlebox in its name?

``locate_resets(table, conversations)`` runs every evidence rule on every RST and combines the
observations (see :mod:`netreset.analyses.resets.verdict` for the weights, ``docs/reset-attribution.md`` for the
reasoning). One module per family of evidence:

* :mod:`~netreset.analyses.resets.rules.ttl` — TTL / hop distance and initial-TTL family;
* :mod:`~netreset.analyses.resets.rules.ipid` — IPv4 ID sequence, ID reflection, DF bit;
* :mod:`~netreset.analyses.resets.rules.window` — window reflection, TCP timestamps missing;
* :mod:`~netreset.analyses.resets.rules.seq` — RFC 5961 plausibility, Weaver et al. injection bursts;
* :mod:`~netreset.analyses.resets.rules.timing` — data after the RST (race), answer faster than the RTT;
* :mod:`~netreset.analyses.resets.rules.icmp` — ICMP errors quoting the conversation.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from netreset.flows.model import Conversation
from netreset.packets.table import PacketTable
from netreset.runtime.collector import older_objects_frozen
from netreset.analyses.resets.batch import Batch
from netreset.analyses.resets.context import ResetFacts, reset_facts
from netreset.analyses.resets.evidence import Observation, ResetContext
from netreset.analyses.resets.rules.icmp import icmp_observations
from netreset.analyses.resets.rules.ipid import ipid_batch, ipid_observations
from netreset.analyses.resets.record import ResetVerdict, make_verdict, make_verdicts
from netreset.analyses.resets.rules.seq import burst_batch, burst_observations, plausibility_batch, plausibility_observations
from netreset.analyses.resets.rules.timing import race_batch, race_observations, rtt_batch, rtt_observations
from netreset.analyses.resets.rules.ttl import ttl_batch, ttl_observations
from netreset.analyses.resets.verdict import decide, decide_columns
from netreset.analyses.resets.rules.window import timestamp_batch, timestamp_observations, window_batch, window_observations
from netreset.analyses.ttl import TtlTable

__all__ = ["BATCH_RULES", "RULES", "Observation", "ResetVerdict", "judge_reset", "judge_resets", "locate_resets"]

#: Every evidence rule, in the order its observations are listed before sorting by weight.
RULES: tuple[Callable[[ResetContext], list[Observation]], ...] = (
    ttl_observations,
    ipid_observations,
    window_observations,
    timestamp_observations,
    plausibility_observations,
    burst_observations,
    race_observations,
    rtt_observations,
    icmp_observations,
)


#: The batch twin of every rule but the ICMP one, in :data:`RULES` order, with how many observations it
#: may list at most (its positions; see :mod:`netreset.analyses.resets.batch`).
BATCH_RULES: tuple[tuple[Callable[[Batch], None], int], ...] = (
    (ttl_batch, 2),
    (ipid_batch, 3),
    (window_batch, 1),
    (timestamp_batch, 1),
    (plausibility_batch, 1),
    (burst_batch, 2),
    (race_batch, 1),
    (rtt_batch, 1),
)


def judge_reset(ctx: ResetContext) -> ResetVerdict:
    """Run every rule on one RST and combine what they saw (the reference for :func:`judge_resets`)."""
    observations = [o for rule in RULES for o in rule(ctx)]
    return make_verdict(ctx, decide(observations), observations)


def judge_resets(facts: ResetFacts) -> list[ResetVerdict]:
    """:func:`judge_reset` for every RST of ``facts`` (same order), with the rules run over columns.
    RSTs with ICMP errors quoting their conversation go through :func:`judge_reset` itself."""
    if not len(facts):
        return []
    b = Batch(facts, sum(width for _, width in BATCH_RULES))
    base = 0
    for rule, width in BATCH_RULES:
        b.rule(base)
        rule(b)
        base += width
    verdicts = make_verdicts(b, *decide_columns(b.codes, b.weights, b.names), b.evidence())
    quoted = [i for i, found in enumerate(facts.listed("icmp")) if found]
    if quoted:
        for i, ctx in zip(quoted, facts.take(np.array(quoted)).contexts()):
            verdicts[i] = judge_reset(ctx)
    return verdicts


def locate_resets(
    table: PacketTable, conversations: list[Conversation], ttl_table: TtlTable | None = None, host_ttls=None
) -> list[ResetVerdict]:
    """A verdict for every RST in the TCP conversations, in capture order.

    ``host_ttls``: see :func:`~netreset.analyses.resets.context.reset_contexts` (a streamed analysis passes the
    whole capture's TTL counts with a table that holds only the conversations to judge).

    The facts every rule needs are computed for all RSTs at once (:mod:`netreset.analyses.resets.context`) and
    the rules run over them as columns (:func:`judge_resets`), with the collector kept out of the way
    of the many new records (:mod:`netreset.runtime.collector`).
    """
    with older_objects_frozen():
        facts = reset_facts(table, conversations, ttl_table, host_ttls)
        verdicts = judge_resets(facts)
        return [verdicts[i] for i in np.argsort(facts.values("row"), kind="stable").tolist()]
