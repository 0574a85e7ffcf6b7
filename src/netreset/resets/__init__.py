"""Reset attribution: for every RST, did the claimed sender send it, or a middlebox in its name?

``locate_resets(table, conversations)`` runs every evidence rule on every RST and combines the
observations (see :mod:`netreset.resets.verdict` for the weights, ``docs/reset-attribution.md`` for the
reasoning). One module per family of evidence:

* :mod:`~netreset.resets.ttl_rules` — TTL / hop distance and initial-TTL family;
* :mod:`~netreset.resets.ipid_rules` — IPv4 ID sequence, ID reflection, DF bit;
* :mod:`~netreset.resets.window_rules` — window reflection, TCP timestamps missing;
* :mod:`~netreset.resets.seq_rules` — RFC 5961 plausibility, Weaver et al. injection bursts;
* :mod:`~netreset.resets.timing_rules` — data after the RST (race), answer faster than the RTT;
* :mod:`~netreset.resets.icmp_rules` — ICMP errors quoting the conversation.
"""

from __future__ import annotations

from typing import Callable

from netreset.conversations import Conversation
from netreset.packets import PacketTable
from netreset.resets.collector import older_objects_frozen
from netreset.resets.context import reset_contexts
from netreset.resets.evidence import Observation, ResetContext
from netreset.resets.icmp_rules import icmp_observations
from netreset.resets.ipid_rules import ipid_observations
from netreset.resets.record import ResetVerdict, make_verdict
from netreset.resets.seq_rules import burst_observations, plausibility_observations
from netreset.resets.timing_rules import race_observations, rtt_observations
from netreset.resets.ttl_rules import ttl_observations
from netreset.resets.verdict import decide
from netreset.resets.window_rules import timestamp_observations, window_observations
from netreset.ttl import TtlTable

__all__ = ["RULES", "Observation", "ResetVerdict", "judge_reset", "locate_resets"]

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


def judge_reset(ctx: ResetContext) -> ResetVerdict:
    """Run every rule on one RST and combine what they saw."""
    observations = [o for rule in RULES for o in rule(ctx)]
    return make_verdict(ctx, decide(observations), observations)


def locate_resets(
    table: PacketTable, conversations: list[Conversation], ttl_table: TtlTable | None = None, host_ttls=None
) -> list[ResetVerdict]:
    """A verdict for every RST in the TCP conversations, in capture order.

    ``host_ttls``: see :func:`~netreset.resets.context.reset_contexts` (a streamed analysis passes the
    whole capture's TTL counts with a table that holds only the conversations to judge).

    The facts every rule needs are computed for all RSTs at once (:mod:`netreset.resets.context`); the
    rules then run on plain numbers, with the collector kept off the capture's objects
    (:mod:`netreset.resets.collector`).
    """
    with older_objects_frozen():
        contexts = sorted(reset_contexts(table, conversations, ttl_table, host_ttls), key=lambda ctx: ctx.row)
        return [judge_reset(ctx) for ctx in contexts]
