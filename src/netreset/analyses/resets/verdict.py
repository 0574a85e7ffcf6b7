"""Combining the evidence about one RST into a verdict: ``peer``, ``middlebox`` or ``undetermined``.

Each observation carries a weight: the log-odds it adds in favour of "a middlebox forged this RST".
They are summed onto a prior (most RSTs are genuine) like independent likelihood ratios (naive Bayes) and
the posterior probability decides. The constants below are the things you may reasonably want to change;
``docs/reset-attribution.md`` explains each one and where it comes from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from netreset.analyses.resets.evidence import Observation

# ── Decision ───────────────────────────────────────────────────────────────────────────────────────────
PRIOR_LOG_ODDS = -0.5  #: with no evidence p(middlebox) ≈ 0.38: most RSTs are genuine, but not overwhelmingly
DECIDE_AT = 0.8  #: posterior needed to say "middlebox" (or 1 − it to say "peer"); between: undetermined
STRONG = 1.0  #: |weight| from which an observation counts as strong (for conflicting_evidence)

# ── TTL (resets/ttl_rules.py) ──────────────────────────────────────────────────────────────────────────
TTL_TOLERANCE_HOPS = 1  #: a route change can move a host by one hop between packets; not evidence
W_TTL_MISMATCH = 3.0  #: RST arrives ≥ 2 hops off the sender's own packets
W_TTL_FAMILY_MISMATCH = 1.5  #: ... and from another initial-TTL family (64 vs 128)
W_TTL_MATCH = -2.0  #: RST arrives with exactly the sender's TTL
W_TTL_ONE_HOP = -1.0  #: RST within the one-hop route-change tolerance
HOST_REFERENCE_FACTOR = 0.5  #: weights scale when only the host's other conversations are the reference
TTL_REWRITE_MIN_RTT_S = 0.005  #: a sender 0 routers away but this far in RTT had its TTL re-stamped

# ── IP header (resets/ipid_rules.py) ───────────────────────────────────────────────────────────────────
IPID_MIN_PACKETS = 3  #: sender packets (non-zero IP ID) needed before a sequence counts as a pattern
IPID_MAX_STEP = 2048  #: largest per-packet IP ID step still called "incrementing" (global counters move)
IPID_REORDER = 16  #: backward IP ID steps up to this are reordering, not a second counter
IPID_RATE_SLACK = 3.0  #: tolerated multiple of the sender's measured IP ID rate over the RST's time gap
W_IPID_BREAK = 1.5  #: RST IP ID far from the sender's incrementing sequence
W_IPID_IN_SEQUENCE = -1.0  #: RST IP ID continues the sender's sequence
IPID_REFLECTION_MIN = 255  #: IP IDs up to this match the other side's by chance (fresh counters)
W_IPID_REFLECTION = 2.0  #: RST IP ID equals the other side's previous packet's IP ID
W_DF_MISMATCH = 0.8  #: RST's DF bit differs from every other packet of the sender

# ── TCP header (resets/window_rules.py) ────────────────────────────────────────────────────────────────
W_WINDOW_REFLECTION = 1.0  #: RST window equals the other side's last window, not the sender's own
W_TIMESTAMPS_MISSING = 0.4  #: sender used TCP timestamps on every segment, the RST has none
TIMESTAMPS_MIN_PACKETS = 2  #: sender segments needed before "always used timestamps" is believed

# ── Sequence numbers (resets/seq_rules.py) ─────────────────────────────────────────────────────────────
SEQ_SLACK = 2  #: Weaver et al.: tolerate a seq off by up to 2 (SYN/FIN accounting of stacks)
SEQ_CHANGE_WINDOW_S = 2.0  #: Weaver et al.: RSTs less than 2 s apart belong to one injection burst
W_SEQ_EXACT = -0.3  #: RST seq is the sender's next sequence number (forgers on path can do this too)
W_SEQ_OUT_OF_WINDOW = 1.0  #: RST seq outside [receiver's last ack, sender's next + receiver window)
W_SEQ_CHANGE = 2.0  #: Weaver RST_SEQ_CHANGE: a burst of RSTs whose seq jumps beyond anything sent
W_ACK_CHANGE = 1.0  #: Weaver RST_ACK_CHANGE: RSTs whose ack changes without new data to acknowledge

# ── Timing (resets/timing_rules.py) ────────────────────────────────────────────────────────────────────
W_DATA_AFTER_RESET = 5.0  #: claimed sender sent new data after its own RST: a stack never does (race with a forger)
W_PACKETS_AFTER_RESET = 1.0  #: claimed sender sent only ACKs/retransmissions after its RST
RTT_FRACTION = 0.5  #: an answer faster than this fraction of the sender's RTT cannot come from it
RTT_MIN_S = 0.001  #: handshake RTTs below this are too noisy to compare with
W_FASTER_THAN_RTT = 1.5  #: RST answered a packet sooner than the sender's round trip allows
W_TIMING_CONSISTENT = -0.3  #: RST came at least one sender RTT after the packet it answers

# ── ICMP (resets/icmp_rules.py) ────────────────────────────────────────────────────────────────────────
ICMP_WINDOW_S = 5.0  #: ICMP errors this long before/after the conversation still count
W_ICMP_PROHIBITED = 1.0  #: "administratively prohibited" from a device quoting this conversation
W_ICMP_OTHER = 0.3  #: any other ICMP error quoting this conversation (names a device on the path)


@dataclass(frozen=True)
class Decision:
    """The combined evidence: verdict, how sure, and the stable reason code."""

    verdict: str  #: peer | middlebox | undetermined
    confidence: float  #: posterior probability of the verdict (undetermined: of the likelier side)
    reason: str  #: snake_case code of the deciding evidence
    p_middlebox: float  #: posterior probability that a middlebox forged the RST


def probability(log_odds: float) -> float:
    """The logistic function: log-odds to probability."""
    return 1.0 / (1.0 + math.exp(-log_odds))


def posterior(observations: list[Observation]) -> float:
    """p(middlebox | evidence): the prior plus every weight, through the logistic function."""
    return probability(PRIOR_LOG_ODDS + sum(o.weight for o in observations))


def outcome(p: float) -> tuple[str, float]:
    """Verdict and (unrounded) confidence for p(middlebox)."""
    if p >= DECIDE_AT:
        return "middlebox", p
    if p <= 1.0 - DECIDE_AT:
        return "peer", 1.0 - p
    return "undetermined", max(p, 1.0 - p)


def _reason(verdict: str, observations: list[Observation]) -> str:
    """The code of the strongest observation pointing the verdict's way (stable, for scripts)."""
    if verdict == "middlebox":
        return max(observations, key=lambda o: o.weight).code
    if verdict == "peer":
        return "consistent_with_peer"
    strong_for = any(o.weight >= STRONG for o in observations)
    strong_against = any(o.weight <= -STRONG for o in observations)
    if strong_for and strong_against:
        return "conflicting_evidence"
    if any(o.code == "ttl_no_reference" for o in observations):
        return "no_reference_packets"
    return "weak_evidence" if any(o.weight for o in observations) else "insufficient_evidence"


def decide(observations: list[Observation]) -> Decision:
    """Verdict, confidence and reason for one RST from all its observations."""
    p = posterior(observations)
    verdict, confidence = outcome(p)
    return Decision(verdict, round(confidence, 3), _reason(verdict, observations), p)


def decide_columns(codes: np.ndarray, weights: np.ndarray, names: list[str]) -> tuple[list[str], list[float], list[str]]:
    """:func:`decide` for many RSTs at once: verdicts, confidences and reasons.

    ``codes[i, k]`` is the k-th possible observation of RST i (an index into ``names``; -1: none),
    ``weights[i, k]`` its weight; k runs in the order the rules list their observations. The weights are
    added in that order, as :func:`posterior` adds them, so the sums are the same numbers; the logistic
    function runs once per distinct sum (a capture has few).
    """
    seen = codes >= 0
    total = np.zeros(len(codes))
    for k in range(codes.shape[1]):
        total = total + np.where(seen[:, k], weights[:, k], 0.0)
    distinct, inverse = np.unique(PRIOR_LOG_ODDS + total, return_inverse=True)
    decided = [outcome(probability(log_odds)) for log_odds in distinct.tolist()]
    verdict_of = [v for v, _ in decided]
    confidence_of = [round(c, 3) for _, c in decided]
    picks = inverse.ravel().tolist()
    verdicts = [verdict_of[k] for k in picks]
    confidences = [confidence_of[k] for k in picks]
    return verdicts, confidences, _reasons(verdicts, codes, weights, seen, names)


def _reasons(verdicts: list[str], codes: np.ndarray, weights: np.ndarray, seen: np.ndarray, names: list[str]) -> list[str]:
    """:func:`_reason` for many RSTs (the first of the largest weights, as ``max`` picks it)."""
    n = len(verdicts)
    strongest = codes[np.arange(n), np.where(seen, weights, -np.inf).argmax(axis=1)] if n else codes[:, 0]
    strong_for = (seen & (weights >= STRONG)).any(axis=1)
    strong_against = (seen & (weights <= -STRONG)).any(axis=1)
    no_reference = (codes == names.index("ttl_no_reference")).any(axis=1) if "ttl_no_reference" in names else np.zeros(n, bool)
    weak = (seen & (weights != 0)).any(axis=1)
    undetermined = np.where(strong_for & strong_against, 0, np.where(no_reference, 1, np.where(weak, 2, 3))).tolist()
    texts = ("conflicting_evidence", "no_reference_packets", "weak_evidence", "insufficient_evidence")
    reasons = []
    for verdict, top, other in zip(verdicts, strongest.tolist(), undetermined):
        if verdict == "middlebox":
            reasons.append(names[top])
        elif verdict == "peer":
            reasons.append("consistent_with_peer")
        else:
            reasons.append(texts[other])
    return reasons
