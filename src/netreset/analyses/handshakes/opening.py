"""How a connection opened, or why it did not: the 3-way handshake rules.

Order (first match wins, one finding per conversation at most):
1. a SYN-ACK was captured → ``synack_unacked`` when orig never sent the final ACK, else
   ``handshake_retransmitted`` when SYN or SYN-ACK had to be retransmitted, else nothing;
2. resp sent a RST after the SYN → ``refused`` (RST);
3. an ICMP error that rejects connections quotes the SYN → ``refused`` (ICMP);
4. resp sent nothing and orig never acknowledged anything → ``syn_unanswered``.
"""

from __future__ import annotations

import functools

import numpy as np

from netreset.analyses.handshakes.model import (
    ICMP_WINDOW_NS,
    Context,
    HandshakeFinding,
    HandshakeTiming,
    View,
    gaps,
    icmp_error,
    make_finding,
    synacks,
    syns,
    transmissions,
)
from netreset.analyses.handshakes.schedules import default_schedules
from netreset.analyses.handshakes.text import (
    describe_gaps,
    icmp_refusal_summary,
    retransmitted_summary,
    rst_refusal_summary,
    synack_unacked_summary,
    unanswered_summary,
)
from netreset.packets.table import ACK, RST, SYN
from netreset.analyses.ttl import guess_ttl

#: The capture point is "near" a side when that side's leg of the handshake is this many times
#: shorter than the other side's leg ...
NEAR_RATIO = 4.0
#: ... and the longer leg is at least this long (below it, both legs are host processing time).
NEAR_MIN_NS = 1_000_000


def final_acks(v: View, synack: int) -> np.ndarray:
    """orig's packets after the SYN-ACK that carry ACK without SYN or RST (the 3rd handshake step)."""
    later = np.arange(len(v.rows)) > synack
    return v.where(later & v.orig & ((v.flags & (SYN | ACK | RST)) == ACK))


def timing(v: View, syn_positions: np.ndarray, synack: int, ack: int | None) -> HandshakeTiming:
    """The two legs of the handshake; the SYN-ACK answers the last SYN sent before it."""
    answered = syn_positions[syn_positions < synack]
    syn = int(answered[-1]) if len(answered) else int(syn_positions[0])
    to_resp = int(v.ts[synack] - v.ts[syn])
    to_orig = int(v.ts[ack] - v.ts[synack]) if ack is not None else None
    return HandshakeTiming(
        conversation=v.conv.id, syn_frame=int(v.frame[syn]), synack_frame=int(v.frame[synack]),
        ack_frame=int(v.frame[ack]) if ack is not None else None, syn_to_synack_s=to_resp / 1e9,
        synack_to_ack_s=to_orig / 1e9 if to_orig is not None else None,
        capture_point=capture_point(to_resp, to_orig),
    )


def capture_point(to_resp_ns: int, to_orig_ns: int | None) -> str:
    """Which end the capture point sits next to: its own leg of the handshake is the short one."""
    if to_orig_ns is None or max(to_resp_ns, to_orig_ns) < NEAR_MIN_NS:
        return "unknown"
    if to_resp_ns >= NEAR_RATIO * to_orig_ns:
        return "near_orig"
    if to_orig_ns >= NEAR_RATIO * to_resp_ns:
        return "near_resp"
    return "between"


def opening_findings(ctx: Context, v: View) -> list[HandshakeFinding]:
    """At most one finding about how the connection opened (or failed to)."""
    syn_positions = syns(v)
    if not len(syn_positions):
        return []
    synack_positions = synacks(v)
    if len(synack_positions):
        return _after_synack(ctx, v, syn_positions, synack_positions)
    after_syn = np.arange(len(v.rows)) > syn_positions[0]
    refusing = v.where(~v.orig & ((v.flags & RST) != 0) & after_syn)
    if len(refusing):
        return [_refused_by_rst(ctx, v, syn_positions, transmissions(v, refusing))]
    return _no_answer(ctx, v, syn_positions)


def opening_from_facts(ctx: Context, v: View, facts: tuple[str, np.ndarray, np.ndarray]) -> list[HandshakeFinding]:
    """:func:`opening_findings` when :func:`~netreset.analyses.handshakes.prepass.opening_facts` already found the
    branch, the SYN transmissions and the refusing RSTs (no SYN-ACK was sent)."""
    branch, syn_positions, rsts = facts
    if branch == "none":
        return []
    if branch == "refused":
        return [_refused_by_rst(ctx, v, syn_positions, rsts)]
    return _no_answer(ctx, v, syn_positions)


def _schedule_fields(ctx: Context, v: View, syn_positions: np.ndarray) -> tuple[dict, str]:
    """Finding fields about the SYN retransmissions, and the phrase describing their gaps."""
    return schedule_fields(ctx, gaps(v, syn_positions), int(v.ttl[syn_positions[0]]), len(syn_positions))


def schedule_fields(ctx: Context, syn_gaps: tuple[float, ...], syn_ttl: int, syn_count: int) -> tuple[dict, str]:
    """:func:`_schedule_fields` from the SYN gaps and the first SYN's TTL (shared with :mod:`.batch`)."""
    match = ctx.match(syn_gaps, syn_ttl) if syn_gaps else None
    fields = dict(
        syn_count=syn_count, syn_gaps_s=tuple(round(g, 6) for g in syn_gaps),
        schedule=(match.name if match else "") if syn_gaps else None,
        schedule_error_s=round(match.error_s, 6) if match else None,
        schedule_also_fits=match.also_fits if match else None,
    )
    return fields, describe_gaps(syn_gaps, match)


def _no_answer(ctx: Context, v: View, syn_positions: np.ndarray) -> list[HandshakeFinding]:
    icmp = ctx.icmp_for(v, int(v.ts[syn_positions[0]]), int(v.ts[syn_positions[-1]]) + ICMP_WINDOW_NS)
    for row in icmp:
        if icmp_error(ctx, row)[1]:
            return [_refused_by_icmp(ctx, v, syn_positions, row)]
    if (~v.orig).any():
        return []  # resp sent something, just not a SYN-ACK or RST: not a silent responder
    if len(v.where(v.orig & ((v.flags & (SYN | ACK | RST)) == ACK))):
        return []  # orig acknowledged a SYN-ACK the capture missed: a one-sided capture, not a failure
    return [_unanswered(ctx, v, syn_positions, icmp)]


def _unanswered(ctx: Context, v: View, syn_positions: np.ndarray, icmp: list[int]) -> HandshakeFinding:
    fields, gaps_text = _schedule_fields(ctx, v, syn_positions)
    icmp_text = "; ".join(f"{desc} from {src}" for desc, _, src in (icmp_error(ctx, r) for r in icmp)) or None
    first, last = int(v.ts[syn_positions[0]]), int(v.ts[syn_positions[-1]])
    aborts = v.where(v.orig & ((v.flags & RST) != 0) & (np.arange(len(v.rows)) > syn_positions[0]))
    abort_s = float(v.ts[aborts[0]] - first) / 1e9 if len(aborts) else None
    tail_s = (ctx.capture_end.get(v.conv.file_id, int(v.ts[-1])) - last) / 1e9
    cut_short = abort_s is None and tail_s < _next_retry_s(fields["syn_gaps_s"], ctx, int(v.ttl[syn_positions[0]]))
    summary = unanswered_summary(v.conv, len(syn_positions), gaps_text, (last - first) / 1e9, tail_s, icmp_text,
                                 cut_short, abort_s)
    frames = [int(ctx.table.frame[r]) for r in icmp]
    return make_finding(ctx, v, "syn_unanswered", [*syn_positions, *aborts[:1]], summary, icmp=icmp_text,
                        silent_side="resp", extra_frames=frames, icmp_frames=frames, **fields)


def _next_retry_s(syn_gaps: tuple[float, ...], ctx: Context, syn_ttl: int) -> float:
    """When the next SYN was due: from the matching schedule, else double the last gap (1 s initially)."""
    match = ctx.match(syn_gaps, syn_ttl) if syn_gaps else None
    if match is not None:
        schedule = next(s for s in (ctx.schedules or default_schedules()).schedules if s.name == match.name)
        return schedule.expected(len(syn_gaps) + 1)[-1]
    return 2 * syn_gaps[-1] if syn_gaps else 1.0


def _verdict_fields(ctx: Context, v: View, position: int) -> dict:
    return verdict_fields(ctx.verdict(v, position))


def verdict_fields(found) -> dict:
    """The ``verdict`` and ``confidence`` fields of a refusal from the reset verdict of its RST (or None)."""
    if found is None:
        return {"verdict": None, "confidence": None}
    confidence = getattr(found, "confidence", None)
    return {"verdict": str(found.verdict), "confidence": float(confidence) if confidence is not None else None}


def _refused_by_rst(ctx: Context, v: View, syn_positions: np.ndarray, rsts: np.ndarray) -> HandshakeFinding:
    rst = int(rsts[0])
    fields, _ = _schedule_fields(ctx, v, syn_positions)
    asked = syn_positions[syn_positions < rst]
    delay_s = float(v.ts[rst] - v.ts[asked[-1]]) / 1e9 if len(asked) else None
    verdict = _verdict_fields(ctx, v, rst)
    ttl_text = ttl_phrase(int(v.ttl[rst]))
    summary = rst_refusal_summary(v.conv, len(syn_positions), len(rsts), int(v.frame[rst]), ttl_text,
                                  delay_s, verdict["verdict"])
    return make_finding(ctx, v, "refused", [*syn_positions, *rsts], summary, refused_by=v.conv.resp_h,
                        refusal="rst", **verdict, **fields)


def _refused_by_icmp(ctx: Context, v: View, syn_positions: np.ndarray, row: int) -> HandshakeFinding:
    desc, _, sender = icmp_error(ctx, row)
    fields, _ = _schedule_fields(ctx, v, syn_positions)
    ttl_text = ttl_phrase(int(ctx.table.ttl[row]))
    frame = int(ctx.table.frame[row])
    summary = icmp_refusal_summary(v.conv, sender, desc, frame, ttl_text)
    return make_finding(ctx, v, "refused", syn_positions, summary, refused_by=sender, refusal="icmp", icmp=desc,
                        extra_frames=[frame], icmp_frames=[frame], **fields)


def _after_synack(ctx: Context, v: View, syn_positions: np.ndarray, synack_positions: np.ndarray) -> list[HandshakeFinding]:
    acks = final_acks(v, int(synack_positions[0]))
    ack = int(acks[0]) if len(acks) else None
    t = timing(v, syn_positions, int(synack_positions[0]), ack)
    fields, gaps_text = _schedule_fields(ctx, v, syn_positions)
    fields.update(synack_count=len(synack_positions), syn_to_synack_s=round(t.syn_to_synack_s, 6),
                  synack_to_ack_s=round(t.synack_to_ack_s, 6) if t.synack_to_ack_s is not None else None,
                  capture_point=t.capture_point)
    if ack is None:
        if _acked_before(v, int(synack_positions[0])):
            return []  # the capture reordered the handshake: orig's ACK was recorded before the SYN-ACK
        return [_synack_unacked(ctx, v, syn_positions, synack_positions, fields)]
    if len(syn_positions) == 1 and len(synack_positions) == 1:
        return []
    summary = retransmitted_summary(v.conv, len(syn_positions), len(synack_positions), gaps_text,
                                    _loss_place(syn_positions, synack_positions, ack),
                                    float(v.ts[ack] - v.ts[syn_positions[0]]) / 1e9)
    return [make_finding(ctx, v, "handshake_retransmitted", [*syn_positions, *synack_positions, ack], summary, **fields)]


@functools.lru_cache(maxsize=512)
def ttl_phrase(observed: int) -> str:
    """How a refusal sentence reads an observed TTL ("TTL 64: …"); a port scan asks for the same few
    values thousands of times, so each is read (guessed and worded) once."""
    return guess_ttl(observed).describe() if 0 <= observed <= 255 else "an unknown TTL"


def _acked_before(v: View, synack: int) -> bool:
    """orig acknowledged this SYN-ACK in a packet captured before it (reordering at the capture point)."""
    earlier = v.where((np.arange(len(v.rows)) < synack) & v.orig & ((v.flags & (SYN | ACK | RST)) == ACK))
    return bool(((v.ack[earlier] - v.seq[synack] - 1) & 0xFFFFFFFF == 0).any())


def _loss_place(syn_positions: np.ndarray, synack_positions: np.ndarray, ack: int) -> str:
    """Where the lost packet(s) of a retransmitted handshake went missing, seen from the capture point."""
    if (syn_positions > synack_positions[0]).any():
        return "synack_after_capture"  # a SYN-ACK passed here, yet orig kept sending SYNs
    if (synack_positions > ack).any():
        return "ack_after_capture"  # orig's ACK passed here, yet resp kept sending SYN-ACKs
    if len(synack_positions) > 1:
        return "synack_or_ack"
    return "syn_or_synack_before_capture"


def _synack_unacked(ctx: Context, v: View, syn_positions, synack_positions, fields: dict) -> HandshakeFinding:
    first = int(synack_positions[0])
    later = np.arange(len(v.rows)) > first
    orig_rst = v.where(later & v.orig & ((v.flags & RST) != 0))
    kept_syn = bool((syn_positions > first).any())
    span_s = float(v.ts[synack_positions[-1]] - v.ts[first]) / 1e9
    summary = synack_unacked_summary(v.conv, len(synack_positions), span_s, bool(len(orig_rst)), kept_syn)
    positions = [*syn_positions, *synack_positions, *orig_rst[:1]]
    return make_finding(ctx, v, "synack_unacked", positions, summary, silent_side="orig", **fields)
