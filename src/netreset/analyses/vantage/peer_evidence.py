"""Second-capture evidence: was the RST also captured nearer its claimed sender?

Every other rule infers; this one proves. A packet travels away from its sender, so a RST that reached the
agent but is missing from a capture point between the agent and the claimed sender was put on the wire
in between — by a middlebox, whatever its TTL says (``peer_capture_injected``). A RST present in a capture
taken on the claimed sender itself was sent by that host (``peer_capture_sent``). A RST present at a
capture point nearer the sender but not on it only says it came from beyond that point
(``peer_capture_passed``, a nudge). The weights are log-odds like every rule's; the proofs are large
enough to settle the verdict with full confidence.

This is a post-processing step: :func:`apply_peer_evidence` takes the single-capture verdicts and the
comparisons of the agent's capture with each capture point of the peer file
(:func:`netreset.analyses.vantage.compare_vantages`) and judges each RST again with the extra observations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from netreset.packets.table import RST
from netreset.analyses.resets.evidence import Observation
from netreset.analyses.resets.record import ResetVerdict
from netreset.analyses.resets.verdict import decide

W_PEER_INJECTED = 12.0  #: the RST never passed a capture point nearer its claimed sender: proof of injection
W_PEER_SENT = -12.0  #: the RST is in a capture taken on the claimed sender itself: proof it sent it
W_PEER_PASSED = -1.0  #: the RST passed a capture point nearer the claimed sender: it came from beyond it


@dataclass(frozen=True)
class PeerSighting:
    """What one other capture point says about one RST of the agent's capture."""

    label: str  #: the other capture point ("server.pcapng", "fw.pcapng#to-r5")
    frame: int | None  #: the RST's frame there; None when it is not there
    kind: str | None  #: when absent: the one-sided classification ("injected", "outside_capture", ...)
    nearer_sender: bool  #: that capture point sits between the agent's capture and the claimed sender
    at_sender: bool  #: ... and was taken on the claimed sender itself
    routers_between: int | None  #: routers between the two capture points


def sightings(comparisons: Sequence, verdict: ResetVerdict) -> list[PeerSighting]:
    """The RST of ``verdict`` looked up in every comparison (A = the verdict's capture)."""
    from netreset.analyses.vantage.diff import at_host

    found = []
    for comparison in comparisons:
        joined = comparison.joined_for(verdict.conversation)
        if joined is None:
            continue
        conv = joined.a
        table = comparison.a.table
        rows = conv.rows[(table.frame[conv.rows] == verdict.frame) & ((table.flags[conv.rows] & RST) != 0)]
        if not len(rows):
            continue
        row = int(rows[0])
        from_orig = bool(np.asarray(conv.from_orig)[np.searchsorted(conv.rows, row)])
        nearer = (not joined.placement.a_nearer_orig) == from_orig
        at_sender = joined.b is not None and at_host(comparison.b.table, joined.b, from_orig ^ joined.flipped, None)
        hit = np.flatnonzero(joined.a_rows == row)
        frame = int(comparison.b.table.frame[joined.b_rows[hit[0]]]) if len(hit) else None
        kind = next((o.kind for o in joined.only_in_a if o.row == row), None)
        found.append(PeerSighting(comparison.b.label, frame, kind, nearer, at_sender and nearer,
                                  joined.placement.routers_between))
    return found


def peer_observations(found: Sequence[PeerSighting], sender: str) -> list[Observation]:
    """Observations from the sightings; passing evidence turns informative once injection is proven."""
    proven = any(s.frame is None and s.nearer_sender and s.kind == "injected" for s in found)
    observations = []
    for s in found:
        if s.frame is None and s.nearer_sender and s.kind == "injected":
            observations.append(Observation(
                "peer_capture_injected", "absent", "present", W_PEER_INJECTED,
                f"The RST is not in {s.label}, which sits nearer {sender}"
                + (f" ({s.routers_between} routers beyond this capture point)" if s.routers_between else "")
                + f": it never came from {sender}'s side; a device between the two capture points sent it."))
        elif s.frame is not None and s.at_sender:
            observations.append(Observation(
                "peer_capture_sent", f"frame {s.frame}", "present", W_PEER_SENT,
                f"The RST is in {s.label} (frame {s.frame}), captured on {sender} itself: {sender} sent it."))
        elif s.frame is not None and s.nearer_sender:
            observations.append(Observation(
                "peer_capture_passed", f"frame {s.frame}", "present", 0.0 if proven else W_PEER_PASSED,
                f"The RST passed {s.label} (frame {s.frame}), nearer {sender}: it was sent beyond that point."))
        elif s.frame is not None:
            observations.append(Observation(
                "peer_capture_seen", f"frame {s.frame}", None, 0.0,
                f"The RST is also in {s.label} (frame {s.frame}), which lies beyond this capture point."))
    return observations


def _advice(verdict: ResetVerdict, decision, found: Sequence[PeerSighting], observations) -> str:
    codes = {o.code for o in observations}
    if decision.verdict == "middlebox" and "peer_capture_injected" in codes:
        missing = next(s.label for s in found if s.frame is None and s.nearer_sender)
        return (f"Proven by the second capture: the RST claimed by {verdict.src} never passed {missing}. A device "
                f"between the two capture points forged it; it arrived with TTL {verdict.observed_ttl} (initial "
                f"{verdict.initial_ttl}, {verdict.routers_between} routers away — traceroute hop {verdict.traceroute_hop}).")
    if decision.verdict == "peer" and "peer_capture_sent" in codes:
        return (f"Proven by the second capture: {verdict.src} itself sent the RST (it is in the capture taken on "
                f"{verdict.src}) — check its application and system logs.")
    return verdict.advice


def judge_with_peer(verdict: ResetVerdict, found: Sequence[PeerSighting]) -> ResetVerdict:
    """The verdict judged again with the second capture's observations added."""
    extra = peer_observations(found, verdict.src)
    if not extra:
        return verdict
    evidence = sorted(list(verdict.evidence) + extra, key=lambda o: -abs(o.weight))
    decision = decide(evidence)
    return verdict.replace(verdict=decision.verdict, confidence=decision.confidence, reason=decision.reason,
                           evidence=tuple(evidence), advice=_advice(verdict, decision, found, extra))


def apply_peer_evidence(verdicts: Sequence[ResetVerdict], comparisons: Sequence) -> list[dict]:
    """``locate-reset --peer-capture`` rows: each verdict re-judged, plus ``seen_in_peer_capture`` and
    ``peer_capture_frame`` (the RST's frame in the first capture point that holds it, else None)."""
    rows = []
    for verdict in verdicts:
        found = sightings(comparisons, verdict)
        seen = next((s for s in found if s.frame is not None), None)
        row = judge_with_peer(verdict, found).to_dict()
        row["seen_in_peer_capture"] = seen is not None
        row["peer_capture_frame"] = seen.frame if seen else None
        row["peer_capture"] = seen.label if seen else (found[0].label if found else None)
        rows.append(row)
    return rows
