"""Combining the evidence about one RST into a verdict: ``peer``, ``middlebox`` or ``undetermined``.

Each observation carries a weight: the log-odds it adds in favour of "a middlebox forged this RST".
They are summed onto a prior (most RSTs are genuine) like independent likelihood ratios (naive Bayes) and
the posterior probability decides. The prior, the decision threshold and every rule's weights are in
:mod:`netreset.analyses.resets.weights` (each explained there; ``docs/reset-attribution.md`` says where
it comes from).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from netreset.analyses.resets.evidence import Observation
from netreset.analyses.resets.weights import DECIDE_AT, PRIOR_LOG_ODDS, STRONG


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
