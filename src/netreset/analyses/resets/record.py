"""The result record for one RST (:class:`ResetVerdict`) and how it is worded for people and Wireshark.

``ResetVerdict.to_dict()`` is a contract (``locate-reset --format json``): other tools read these names.
"""

from __future__ import annotations

import numpy as np

from netreset.flows.model import Conversation
from netreset.analyses.resets.evidence import Observation, ResetContext, rounded_weight, worded
from netreset.analyses.resets.rules.terminated import own_ttl
from netreset.analyses.resets.rules.ttl import reference_ttl
from netreset.analyses.resets.verdict import Decision
from netreset.analyses.ttl import TtlGuess, TtlTable, family_description

#: The JSON field names, in order (the ``locate-reset`` contract).
FIELDS = (
    "conversation", "frame", "ts", "src", "dst", "sport", "dport", "observed_ttl", "initial_ttl",
    "routers_between", "traceroute_hop", "claimed_sender_routers_between", "verdict", "confidence",
    "reason", "evidence", "display_filter", "advice",
)
#: Fields added to the contract after FIELDS (set after the verdict is made, not by its rules).
ADDED_FIELDS = ("server_name", "idle_before_s", "causes")


class ResetVerdict:
    """Who sent one RST, how sure, and why.

    The two sentences (``display_filter``, ``advice``) are worded when first read: every command that
    refines outcomes judges every RST, but only ``locate-reset`` and ``summary`` show the words. Each is
    given as the text or as ``(words, *args)``. Read-only by convention; :meth:`replace` makes a changed
    copy (as ``dataclasses.replace`` did for the frozen record this replaces).
    """

    __slots__ = ("conversation", "frame", "ts", "src", "dst", "sport", "dport", "observed_ttl", "initial_ttl",
                 "routers_between", "traceroute_hop", "claimed_sender_routers_between", "verdict", "confidence",
                 "reason", "evidence", "_display_filter", "_advice", "server_name",
                 "idle_before_s", "causes")

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
    #: the service the conversation was for (TLS SNI, CONNECT target, HTTP Host, else a DNS name of the
    #: responder; netreset.analyses.application), set by the pipeline; None when the capture does not say
    server_name: str | None
    #: seconds of silence before the packet the RST answers, when ≥ netreset.analyses.causes.IDLE_THRESHOLD_S
    idle_before_s: float | None
    #: ``[{"code", "sentence", "frames"}]`` (netreset.analyses.causes), set by the pipeline
    causes: list

    def __init__(self, *, conversation: int, frame: int, ts: float, src: str, dst: str, sport: int, dport: int,
                 observed_ttl: int, initial_ttl: int, routers_between: int, traceroute_hop: int,
                 claimed_sender_routers_between: int | None, verdict: str, confidence: float, reason: str,
                 evidence: tuple[Observation, ...], display_filter: str | tuple, advice: str | tuple) -> None:
        self.conversation, self.frame, self.ts, self.src, self.dst = conversation, frame, ts, src, dst
        self.sport, self.dport, self.observed_ttl, self.initial_ttl = sport, dport, observed_ttl, initial_ttl
        self.routers_between, self.traceroute_hop = routers_between, traceroute_hop
        self.claimed_sender_routers_between = claimed_sender_routers_between
        self.verdict, self.confidence, self.reason, self.evidence = verdict, confidence, reason, evidence
        self._display_filter, self._advice = display_filter, advice
        self.server_name = None
        self.idle_before_s = None
        self.causes = []

    @property
    def display_filter(self) -> str:
        """Wireshark display filter showing the RST and the packets it was compared with."""
        self._display_filter = worded(self._display_filter)
        return self._display_filter

    @property
    def advice(self) -> str:
        """One sentence for the network team."""
        self._advice = worded(self._advice)
        return self._advice

    @classmethod
    def of_values(cls, values: tuple) -> "ResetVerdict":
        """The record from its values in :data:`FIELDS` order (``display_filter`` and ``advice`` as for
        ``__init__``), without keyword parsing: a batch builds tens of thousands at once."""
        v = cls.__new__(cls)
        (v.conversation, v.frame, v.ts, v.src, v.dst, v.sport, v.dport, v.observed_ttl, v.initial_ttl,
         v.routers_between, v.traceroute_hop, v.claimed_sender_routers_between, v.verdict, v.confidence, v.reason,
         v.evidence, v._display_filter, v._advice) = values
        v.server_name = None
        v.idle_before_s = None
        v.causes = []
        return v

    def replace(self, **changes) -> "ResetVerdict":
        """A copy with some fields changed."""
        added = {name: changes.pop(name, getattr(self, name)) for name in ADDED_FIELDS}
        copy = ResetVerdict(**({name: getattr(self, name) for name in FIELDS} | changes))
        for name, value in added.items():
            setattr(copy, name, value)
        return copy

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResetVerdict) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.conversation, self.frame, self.ts, self.src, self.verdict, self.reason))

    def __repr__(self) -> str:
        return f"ResetVerdict({', '.join(f'{name}={getattr(self, name)!r}' for name in FIELDS)})"

    def to_dict(self) -> dict:
        """Exactly the contract's fields (:data:`FIELDS`, in order); evidence items as {code, observed,
        expected, weight, detail}. Written out rather than looped over ``FIELDS``: ``locate-reset``
        makes one per RST, and the attribute look-ups by name cost as much as the rest of the record."""
        return {
            "conversation": self.conversation,
            "frame": self.frame,
            "ts": round(self.ts, 6),
            "src": self.src,
            "dst": self.dst,
            "sport": self.sport,
            "dport": self.dport,
            "observed_ttl": self.observed_ttl,
            "initial_ttl": self.initial_ttl,
            "routers_between": self.routers_between,
            "traceroute_hop": self.traceroute_hop,
            "claimed_sender_routers_between": self.claimed_sender_routers_between,
            "verdict": self.verdict,
            "confidence": self.confidence,
            "reason": self.reason,
            "evidence": [o.to_dict() for o in self.evidence],
            "display_filter": self.display_filter,
            "advice": self.advice,
            "server_name": self.server_name,
            "idle_before_s": self.idle_before_s,
            "causes": [dict(c, frames=list(c["frames"])) for c in self.causes],
        }

    def json_leaves(self) -> list:
        """The scalars of :meth:`to_dict` in document order, each evidence item's five in turn: what
        :func:`~netreset.records.json.encode_leaves` spells into the record's JSON without the dicts."""
        leaves = [self.conversation, self.frame, round(self.ts, 6), self.src, self.dst, self.sport, self.dport,
                  self.observed_ttl, self.initial_ttl, self.routers_between, self.traceroute_hop,
                  self.claimed_sender_routers_between, self.verdict, self.confidence, self.reason]
        for o in self.evidence:
            detail = o._detail = worded(o._detail)  # as Observation.to_dict
            leaves += (o.code, o.observed, o.expected, rounded_weight(o.weight), detail)
        leaves += (self.display_filter, self.advice, self.server_name, self.idle_before_s)
        for c in self.causes:
            leaves += (c["code"], c["sentence"], *c["frames"])
            leaves += _scalars(c["evidence"])
        return leaves

    def json_kind(self) -> tuple:
        """The layout key of :meth:`json_leaves` for :func:`~netreset.records.json.encode_leaves`: the leaf
        count and types do not fix the layout once causes carry ``evidence`` dicts (their keys and list lengths
        vary), so the key names each cause's shape."""
        return (ResetVerdict, tuple((len(c["frames"]), _shape(c["evidence"])) for c in self.causes))


def _scalars(value) -> list:
    """``value``'s scalars in document order (dict values, list items, recursively)."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _scalars(item)]
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _scalars(item)]
    return [value]


def _shape(value):
    """The layout of ``value`` without its scalars: dict keys and list lengths, recursively."""
    if isinstance(value, dict):
        return tuple((key, _shape(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_shape(item) for item in value)
    return None


def _filter_words(conv: Conversation, sender: str, lone: bool, with_icmp: bool) -> str:
    """``tcp.stream eq N and (tcp.flags.reset == 1 or ip.src == X)`` — the RST beside the sender's packets.

    ``lone``: the sender sent nothing else in this conversation but is seen elsewhere in the capture."""
    ip = "ipv6" if conv.ip_version == 6 else "ip"
    sender = f"{ip}.src == {sender}"
    if conv.tcp_stream >= 0:
        stream = f"tcp.stream eq {conv.tcp_stream}"
    else:
        stream = (f"{ip}.addr == {conv.orig_h} and {ip}.addr == {conv.resp_h} and "
                  f"tcp.port == {conv.orig_p} and tcp.port == {conv.resp_p}")
    text = f"{stream} and (tcp.flags.reset == 1 or {sender})"
    if lone:
        text = f"({stream} and tcp.flags.reset == 1) or (tcp and {sender})"
    if with_icmp:
        text = f"({text}) or {'icmpv6' if ip == 'ipv6' else 'icmp'}"
    return text


def _ttl_words(g: TtlGuess) -> str:
    routers = "router" if g.routers_between == 1 else "routers"
    return f"TTL {g.observed} (initial {g.initial}, {g.routers_between} {routers} away"


def _advice_words(name: str, rst: TtlGuess, ref: TtlGuess | None, verdict: str, reason: str,
                  evidence: tuple[Observation, ...], table: TtlTable | None = None) -> str:
    """One sentence for the network team: where to look and what to ask."""
    if verdict == "middlebox" and reason == "terminated_by_device" and ref:
        return (f"The connection was terminated by the device at traceroute hop {rst.traceroute_hop}, not by {name}: "
                f"its packets in {name}'s name, the RST included, arrive with {_ttl_words(rst)}), while {name}'s own "
                f"packets arrive with {_ttl_words(ref)}). A transparent proxy (or a firewall answering for {name}) at "
                f"hop {rst.traceroute_hop} reset it — check that device's proxy or inspection policy and its logs.")
    if verdict == "middlebox" and ref and any(o.code == "ttl_mismatch" for o in evidence):
        return (f"RST claimed by {name} arrived with {_ttl_words(rst)} — traceroute hop {rst.traceroute_hop} from "
                f"the capture point); {name}'s own packets arrive with {_ttl_words(ref)}). "
                f"A device at hop {rst.traceroute_hop} forged it.")
    if verdict == "middlebox":
        top = max(evidence, key=lambda o: o.weight).detail.rstrip(".")
        return (f"RST claimed by {name} arrived with {_ttl_words(rst)}), but {top[0].lower() + top[1:]}. "
                f"A device between the capture point and {name} forged it; capture on {name}'s side too to confirm.")
    if verdict == "peer":
        return (f"RST from {name} arrived with {_ttl_words(rst)}), consistent with {name}'s own packets: "
                f"{name} itself reset the connection — check its application and system logs.")
    if reason == "no_reference_packets":
        return _lone_words(name, rst, table)
    return (f"Cannot tell who sent the RST claimed by {name} ({_ttl_words(rst)}), "
            f"{reason.replace('_', ' ')}); capture on {name}'s side too and compare.")


def _lone_words(name: str, rst: TtlGuess, table: TtlTable | None) -> str:
    """A RST from a host that put nothing else on the wire (a lone refusal): where it came from, what its
    initial TTL suggests, and how to settle who sent it."""
    hop = rst.traceroute_hop
    if rst.family == "application-set":
        stack = f"with TTL {rst.observed}, a value applications set on purpose"
    else:
        stack = f"by a stack that starts at {rst.initial} ({family_description(rst.initial, table)})"
    return (f"Cannot tell who sent the RST claimed by {name}: {name} put nothing else on the wire, so its own TTL "
            f"is unknown. The RST arrived with {_ttl_words(rst)}): it was sent from traceroute hop {hop} from the "
            f"capture point, {stack}. If {name} is at hop {hop}, it sent the RST itself; if it is further away, the device "
            f"at hop {hop} sent it in its name. To settle it, capture on {name}'s side too and pass that file with "
            f"--peer-capture (does it hold the RST?), or give netreset other captures of the same run in which "
            f"{name} sends.")


def make_verdict(ctx: ResetContext, decision: Decision, observations: list[Observation]) -> ResetVerdict:
    """Assemble the record for one RST; its two sentences are worded on first read."""
    evidence = tuple(sorted(observations, key=lambda o: -abs(o.weight)))
    rst = ctx.guess(ctx.ttl)
    expected, _, _ = reference_ttl(ctx)
    own = own_ttl(ctx)  # a device terminated the connection: the sender's own packets are those elsewhere
    expected = own if own is not None else expected
    ref = ctx.guess(expected) if expected is not None else None
    name = ctx.sender_name
    with_icmp = bool(ctx.icmp) and any(o.code.startswith("icmp") for o in evidence)
    lone = not ctx.sender_count and bool(ctx.host_ttls)
    return ResetVerdict(
        conversation=ctx.conv.id, frame=ctx.frame, ts=ctx.ts_ns / 1e9, src=ctx.src, dst=ctx.dst,
        sport=ctx.sport, dport=ctx.dport, observed_ttl=rst.observed, initial_ttl=rst.initial,
        routers_between=rst.routers_between, traceroute_hop=rst.traceroute_hop,
        claimed_sender_routers_between=ref.routers_between if ref is not None else None,
        verdict=decision.verdict, confidence=decision.confidence, reason=decision.reason, evidence=evidence,
        display_filter=(_filter_words, ctx.conv, name, lone, with_icmp),
        advice=(_advice_words, name, rst, ref, decision.verdict, decision.reason, evidence, ctx.guess.table),
    )


def make_verdicts(b, verdicts: list[str], confidences: list[float], reasons: list[str],
                  evidence: list[tuple[Observation, ...]]) -> list[ResetVerdict]:
    """:func:`make_verdict` for every RST of a :class:`~netreset.analyses.resets.batch.Batch` (none of which has
    ICMP errors quoting its conversation: those are judged one by one)."""
    f = b.facts
    rst, ref, names, conv = b.rst_ttls, b.references, b.sender_names, f.listed("conv")
    lone = ((f.values("sender_count") == 0) & (f.values("host_ttls") != 0)).tolist()
    claimed = ref.routers.astype(object)
    claimed[~ref.known] = None
    refs = ref.guess
    own = b.own_ttls
    if (own >= 0).any():  # a device terminated the connection: the sender's own packets are those elsewhere
        refs = list(refs)
        for i in np.flatnonzero(own >= 0).tolist():
            refs[i] = f.guess(int(own[i]))
            claimed[i] = refs[i].routers_between
    return list(map(ResetVerdict.of_values, zip(
        [c.id for c in conv], f.listed("frame"), [t / 1e9 for t in f.listed("ts_ns")], f.listed("src"),
        f.listed("dst"), f.listed("sport"), f.listed("dport"),
        *(rst.column(field).tolist() for field in ("observed", "initial", "routers_between", "traceroute_hop")),
        claimed.tolist(), verdicts, confidences, reasons, evidence,
        [(_filter_words, c, name, alone, False) for c, name, alone in zip(conv, names, lone)],
        [(_advice_words, *row, f.guess.table) for row in zip(names, rst.guesses, refs, verdicts, reasons, evidence)],
    )))
