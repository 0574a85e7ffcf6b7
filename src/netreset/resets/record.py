"""The result record for one RST (:class:`ResetVerdict`) and how it is worded for people and Wireshark.

``ResetVerdict.to_dict()`` is a contract (``locate-reset --format json``): other tools read these names.
"""

from __future__ import annotations

from dataclasses import dataclass

from netreset.resets.evidence import Observation, ResetContext
from netreset.resets.ttl_rules import reference_ttl
from netreset.resets.verdict import Decision
from netreset.ttl import TtlGuess

#: The JSON field names, in order (the ``locate-reset`` contract).
FIELDS = (
    "conversation", "frame", "ts", "src", "dst", "sport", "dport", "observed_ttl", "initial_ttl",
    "routers_between", "traceroute_hop", "claimed_sender_routers_between", "verdict", "confidence",
    "reason", "evidence", "display_filter", "advice",
)


@dataclass(frozen=True)
class ResetVerdict:
    """Who sent one RST, how sure, and why."""

    conversation: int  #: Conversation.id
    frame: int  #: frame number of the RST in its capture file (1-based, as Wireshark)
    ts: float  #: capture time of the RST, seconds since the epoch
    src: str  #: claimed sender (the RST's source address)
    dst: str  #: the RST's destination address
    sport: int  #: the RST's source port
    dport: int  #: the RST's destination port
    observed_ttl: int  #: TTL / hop limit of the RST at the capture point
    initial_ttl: int  #: the RST's inferred initial TTL
    routers_between: int  #: routers between the RST's real sender and the capture point
    traceroute_hop: int  #: traceroute hop (from the capture point) of the RST's real sender
    claimed_sender_routers_between: int | None  #: same for the claimed sender's own packets (None: unseen)
    verdict: str  #: peer | middlebox | undetermined
    confidence: float  #: 0..1, probability of the verdict (undetermined: of the likelier side)
    reason: str  #: snake_case reason code (ttl_mismatch, consistent_with_peer, data_after_reset, ...)
    evidence: tuple[Observation, ...]  #: every observation, strongest first
    display_filter: str  #: Wireshark display filter showing the RST and the packets it was compared with
    advice: str  #: one sentence for the network team

    def to_dict(self) -> dict:
        """Exactly the contract's fields; evidence items as {code, observed, expected, weight, detail}."""
        values = {name: getattr(self, name) for name in FIELDS}
        values["ts"] = round(self.ts, 6)
        values["evidence"] = [o.to_dict() for o in self.evidence]
        return values


def display_filter(ctx: ResetContext, with_icmp: bool) -> str:
    """``tcp.stream eq N and (tcp.flags.reset == 1 or ip.src == X)`` — the RST beside the sender's packets."""
    ip = "ipv6" if ctx.conv.ip_version == 6 else "ip"
    sender = f"{ip}.src == {ctx.sender_name}"
    if ctx.conv.tcp_stream >= 0:
        stream = f"tcp.stream eq {ctx.conv.tcp_stream}"
    else:
        stream = (f"{ip}.addr == {ctx.conv.orig_h} and {ip}.addr == {ctx.conv.resp_h} and "
                  f"tcp.port == {ctx.conv.orig_p} and tcp.port == {ctx.conv.resp_p}")
    text = f"{stream} and (tcp.flags.reset == 1 or {sender})"
    if not ctx.sender_count and ctx.host_ttls:
        text = f"({stream} and tcp.flags.reset == 1) or (tcp and {sender})"
    if with_icmp:
        text = f"({text}) or {'icmpv6' if ip == 'ipv6' else 'icmp'}"
    return text


def _ttl_words(g: TtlGuess) -> str:
    routers = "router" if g.routers_between == 1 else "routers"
    return f"TTL {g.observed} (initial {g.initial}, {g.routers_between} {routers} away"


def advice(ctx: ResetContext, decision: Decision, evidence: list[Observation]) -> str:
    """One sentence for the network team: where to look and what to ask."""
    name = ctx.sender_name
    rst = ctx.guess(ctx.ttl)
    expected, _, _ = reference_ttl(ctx)
    ref = ctx.guess(expected) if expected is not None else None
    if decision.verdict == "middlebox" and any(o.code == "ttl_mismatch" for o in evidence) and ref:
        return (f"RST claimed by {name} arrived with {_ttl_words(rst)} — traceroute hop {rst.traceroute_hop} from "
                f"the capture point); {name}'s own packets arrive with {_ttl_words(ref)}). "
                f"A device at hop {rst.traceroute_hop} forged it.")
    if decision.verdict == "middlebox":
        top = max(evidence, key=lambda o: o.weight).detail.rstrip(".")
        return (f"RST claimed by {name} arrived with {_ttl_words(rst)}), but {top[0].lower() + top[1:]}. "
                f"A device between the capture point and {name} forged it; capture on {name}'s side too to confirm.")
    if decision.verdict == "peer":
        return (f"RST from {name} arrived with {_ttl_words(rst)}), consistent with {name}'s own packets: "
                f"{name} itself reset the connection — check its application and system logs.")
    return (f"Cannot tell who sent the RST claimed by {name} ({_ttl_words(rst)}), "
            f"{decision.reason.replace('_', ' ')}); capture on {name}'s side too and compare.")


def make_verdict(ctx: ResetContext, decision: Decision, observations: list[Observation]) -> ResetVerdict:
    """Assemble the record for one RST."""
    evidence = sorted(observations, key=lambda o: -abs(o.weight))
    rst = ctx.guess(ctx.ttl)
    expected, _, _ = reference_ttl(ctx)
    return ResetVerdict(
        conversation=ctx.conv.id,
        frame=ctx.frame,
        ts=ctx.ts_ns / 1e9,
        src=ctx.src,
        dst=ctx.dst,
        sport=ctx.sport,
        dport=ctx.dport,
        observed_ttl=rst.observed,
        initial_ttl=rst.initial,
        routers_between=rst.routers_between,
        traceroute_hop=rst.traceroute_hop,
        claimed_sender_routers_between=ctx.guess(expected).routers_between if expected is not None else None,
        verdict=decision.verdict,
        confidence=decision.confidence,
        reason=decision.reason,
        evidence=tuple(evidence),
        display_filter=display_filter(ctx, any(o.code.startswith("icmp") for o in evidence)),
        advice=advice(ctx, decision, evidence),
    )
