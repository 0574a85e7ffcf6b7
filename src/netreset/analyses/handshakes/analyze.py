"""The handshake analysis as one call: screen, batch, rules, in time order.

:func:`analyze_handshakes` is the entry point (what every analysis runs): the screen
(:mod:`.screen`) clears the conversations no rule can fire on, the batch (:mod:`.batch`) answers the
refusals and unanswered SYNs of many conversations at once, and the per-conversation rules
(:mod:`.opening`, :mod:`.closing`, with :mod:`.prepass` answering their first questions) take the rest.
:func:`reference_findings` is what that must equal: every conversation through the rules alone.
:func:`handshake_timing` measures one conversation's handshake legs.
"""

from __future__ import annotations

import operator
from typing import Mapping, Sequence

import numpy as np

from netreset.flows.model import Conversation
from netreset.analyses.handshakes.batch import never_opened
from netreset.analyses.handshakes.closing import closing_findings
from netreset.analyses.handshakes.model import (
    Context,
    Gathered,
    HandshakeFinding,
    HandshakeTiming,
    gather_with_streams,
    synacks,
    syns,
    view,
    views,
)
from netreset.analyses.handshakes.opening import final_acks, opening_findings, opening_from_facts, timing
from netreset.analyses.handshakes.prepass import opening_facts
from netreset.analyses.handshakes.screen import needs_rules
from netreset.analyses.handshakes.schedules import ScheduleTable
from netreset.packets.table import PacketTable
from netreset.runtime.collector import older_objects_frozen

#: Opening findings after which the teardown is moot (the connection never opened).
_NEVER_OPENED = ("syn_unanswered", "refused", "synack_unacked")
#: The order of the findings: file, time of the first packet, conversation.
_TIME_ORDER = operator.attrgetter("file_id", "ts", "conversation")


def analyze_handshakes(
    table: PacketTable,
    conversations: Sequence[Conversation],
    resets: Sequence | None = None,
    schedules: ScheduleTable | None = None,
    capture_end: dict[int, int] | None = None,
    stream_sharing: Mapping[int, int] | None = None,
) -> list[HandshakeFinding]:
    """Every incomplete handshake and teardown among ``conversations``, in time order.

    ``resets`` — the verdicts of :func:`netreset.analyses.resets.locate.locate_resets` (objects with ``.frame``,
    ``.verdict``, ``.conversation``) — say whether a refusing or closing RST came from the peer or a
    middlebox; without them a refusal is described as *claimed* by the peer. ``capture_end`` — file id →
    last timestamp (ns) of the whole capture, when ``table`` holds only part of it (a streamed analysis);
    ``stream_sharing`` — tcp.stream → how many conversations of the whole capture share it, likewise (a
    finding on a shared stream narrows its display filter to its frames).
    """
    with older_objects_frozen():  # thousands of findings beside the capture's objects: see runtime.collector
        gathered, streams = gather_with_streams(conversations)
        ctx = Context(table, conversations, resets, schedules, capture_end, streams=streams, sharing=stream_sharing)
        chosen, gathered = _subset(conversations, gathered, needs_rules(table, conversations, gathered))
        findings, rest = never_opened(ctx, table, chosen, gathered)
        findings.extend(_rule_findings(ctx, table, *_subset(chosen, gathered, rest)))
        findings.sort(key=_TIME_ORDER)
        return findings


def reference_findings(
    table: PacketTable,
    conversations: Sequence[Conversation],
    resets: Sequence | None = None,
    schedules: ScheduleTable | None = None,
    capture_end: dict[int, int] | None = None,
) -> list[HandshakeFinding]:
    """:func:`analyze_handshakes` with every conversation walked by the per-conversation rules — no
    screen, no prepass, no batch: slow, the reference the fast paths are tested against."""
    ctx = Context(table, conversations, resets, schedules, capture_end)
    findings = []
    for v in views(table, conversations):
        if len(v.rows):
            opening = opening_findings(ctx, v)
            findings.extend(opening)
            if not any(f.kind in _NEVER_OPENED for f in opening):
                findings.extend(closing_findings(ctx, v))
    findings.sort(key=_TIME_ORDER)
    return findings


def _rule_findings(ctx: Context, table: PacketTable, conversations: list, gathered: Gathered) -> list[HandshakeFinding]:
    """The per-conversation rules over ``conversations`` (``gathered``: their gathering), with the
    opening prepass answering the rules' first questions for all of them at once."""
    findings: list[HandshakeFinding] = []
    suspect_views = views(table, conversations, gathered)
    for v, facts in zip(suspect_views, opening_facts(suspect_views)):
        if not len(v.rows):
            continue
        opening = opening_findings(ctx, v) if facts is None else opening_from_facts(ctx, v, facts)
        findings.extend(opening)
        if not any(f.kind in _NEVER_OPENED for f in opening):
            findings.extend(closing_findings(ctx, v))
    return findings


def _subset(conversations: Sequence[Conversation], gathered: Gathered, keep: np.ndarray) -> tuple[list, Gathered]:
    """The conversations where ``keep`` holds, and the matching part of their gathering."""
    rows, orig, lengths = gathered
    if keep.all():
        return list(conversations), gathered
    packets = np.repeat(keep, lengths)
    chosen = [conversations[i] for i in np.flatnonzero(keep).tolist()]
    return chosen, (rows[packets], orig[packets], lengths[keep])


def handshake_timing(table: PacketTable, conv: Conversation) -> HandshakeTiming | None:
    """SYN → SYN-ACK and SYN-ACK → ACK at the capture point; None without a SYN and a SYN-ACK."""
    v = view(table, conv)
    syn_positions, synack_positions = syns(v), synacks(v)
    if not len(syn_positions) or not len(synack_positions):
        return None
    acks = final_acks(v, int(synack_positions[0]))
    return timing(v, syn_positions, int(synack_positions[0]), int(acks[0]) if len(acks) else None)
