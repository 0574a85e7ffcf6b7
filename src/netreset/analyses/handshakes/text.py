"""The words of the handshake analysis: one sentence per finding, and its Wireshark display filter.

Sentences follow one pattern — what was seen, then what it means for the network team — and always
name hosts by address (``host:port`` for the service side) so they can be pasted into a ticket.
Most take their values as arguments; a teardown's sentence has so many that the closing rules hand
them over as one record, :class:`TeardownFacts`, defined here beside the sentence it feeds (the
findings of :mod:`.model` use this module's display filter, so it imports nothing else of the
handshake analysis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from netreset.flows.model import Conversation, endpoint

#: Packets each kind of finding is about, as a Wireshark display-filter clause.
_KIND_FILTERS = {
    "syn_unanswered": "tcp.flags.syn == 1",
    "refused": "(tcp.flags.syn == 1 or tcp.flags.reset == 1)",
    "synack_unacked": "(tcp.flags.syn == 1 or tcp.flags.reset == 1)",
    "handshake_retransmitted": "(tcp.flags.syn == 1 or (tcp.seq == 1 and tcp.ack == 1 and tcp.len == 0))",
    "teardown_incomplete": "(tcp.flags.fin == 1 or tcp.flags.reset == 1)",
    "half_closed": "(tcp.flags.fin == 1 or tcp.flags.reset == 1)",
}


def _s(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds >= 1 else f"{seconds:.2f}"


def display_filter(kind: str, tcp_stream: int, frame_span: tuple[int, int] | None, icmp_frames: Iterable[int],
                   names_reset: bool = False) -> str:
    """Wireshark filter for a finding; ``frame_span`` narrows a tcp.stream shared by several conversations;
    ``names_reset``: the finding names a RST (a client that gave up on its SYNs), which the filter must show."""
    expr = f"tcp.stream eq {tcp_stream}"
    if frame_span is not None:
        expr += f" and frame.number >= {frame_span[0]} and frame.number <= {frame_span[1]}"
    clause = _KIND_FILTERS.get(kind)
    if clause and names_reset and "tcp.flags.reset" not in clause:
        clause = f"({clause} or tcp.flags.reset == 1)"
    if clause:
        expr += f" and {clause}"
    icmp = sorted(set(icmp_frames)) if icmp_frames else ()
    if icmp:
        expr = f"({expr}) or frame.number in {{{', '.join(str(f) for f in icmp)}}}"
    return expr


def describe_gaps(gaps_s: Sequence[float], match) -> str:
    """``gaps 1.0, 2.0, 4.0 s — matches Linux exponential backoff (…) within 0.01 s``."""
    if not gaps_s:
        return ""
    text = "gaps " + ", ".join(_s(g) for g in gaps_s) + " s"
    if match is None:
        return text + " — matches no known OS retransmission schedule"
    text += f" — matches {match.label} within {match.error_s:.2f} s"
    if match.also_fits:
        text += " (same gaps as " + " and ".join(match.also_fits) + ")"
    return text


def unanswered_summary(conv: Conversation, syn_count: int, gaps_text: str, span_s: float,
                       tail_s: float, icmp_text: str | None, cut_short: bool, abort_s: float | None) -> str:
    resp = endpoint(conv.resp_h, conv.resp_p)
    if syn_count > 1:
        text = f"{conv.orig_h} sent {syn_count} SYNs to {resp} over {_s(span_s)} s ({gaps_text}); "
    else:
        text = f"{conv.orig_h} sent 1 SYN to {resp}; "
    if icmp_text:
        text += f"no SYN-ACK came back, only {icmp_text}: the path towards {conv.resp_h} is broken at that device."
    else:
        text += "no SYN-ACK and no ICMP error was seen: the SYN is dropped on the way or the answer on the way back."
    if abort_s is not None:
        text = text[:-1] + f"; {conv.orig_h} then gave up itself (RST {_s(abort_s)} s after the first SYN)."
    if cut_short:
        text = text[:-1] + f" (the capture ended {_s(tail_s)} s after the last SYN, before the next retry was due)."
    return text


def rst_refusal_summary(conv: Conversation, syn_count: int, rst_count: int, frame: int, ttl_text: str,
                        delay_s: float | None, verdict: str | None) -> str:
    resp = endpoint(conv.resp_h, conv.resp_p)
    answered = "its SYN was answered by a RST" if rst_count == 1 else f"its {syn_count} SYNs were answered by {rst_count} RSTs"
    delay = f", {delay_s * 1000:.1f} ms after the SYN" if delay_s is not None else ""
    text = f"{resp} refused the connection from {conv.orig_h}: {answered} (frame {frame}, {ttl_text}{delay})"
    if verdict == "peer":
        return text + f"; the reset analysis says {conv.resp_h} itself sent it: nothing listens on port {conv.resp_p} or its host firewall rejects."
    if verdict == "middlebox":
        return text + f"; the reset analysis says a device on the path forged it: a firewall rejects connections to port {conv.resp_p}."
    if verdict == "undetermined":
        return text + f"; whether {conv.resp_h} itself or a device on the path sent it is undetermined."
    return text + f"; a closed port at {conv.resp_h}, or a firewall rejecting in its name, answers like this."


def icmp_refusal_summary(conv: Conversation, sender: str, icmp_text: str, frame: int, ttl_text: str) -> str:
    text = f"{sender} answered {conv.orig_h}'s SYN to {endpoint(conv.resp_h, conv.resp_p)} with {icmp_text} (frame {frame}, {ttl_text})"
    if sender == conv.resp_h:
        return text + f": {conv.resp_h} itself rejects the connection (nothing listens there or a host firewall REJECT rule)."
    return text + f": the device at {sender} rejects the connection, typically a firewall REJECT rule."


_LOSS_PLACES = {
    "synack_after_capture": "a SYN-ACK passed the capture point yet {orig} kept retransmitting its SYN, so SYN-ACKs are lost between the capture point and {orig}.",
    "ack_after_capture": "{orig}'s ACK passed the capture point yet {resp} kept retransmitting its SYN-ACK, so the ACK is lost between the capture point and {resp}.",
    "synack_or_ack": "{resp} retransmitted its SYN-ACK before the ACK arrived: the first SYN-ACK or its ACK was lost or delayed.",
    "syn_or_synack_before_capture": "the first SYNs got no answer at the capture point: they were lost on the way to {resp}, or the SYN-ACKs on the way back before reaching the capture point.",
}


def retransmitted_summary(conv: Conversation, syn_count: int, synack_count: int, gaps_text: str,
                          place: str, delay_s: float) -> str:
    gaps = f", {gaps_text}" if gaps_text else ""
    text = (f"{conv.orig_h} → {endpoint(conv.resp_h, conv.resp_p)}: the handshake completed only after {syn_count} SYN(s) "
            f"and {synack_count} SYN-ACK(s){gaps}, {_s(delay_s)} s after the first SYN; ")
    return text + _LOSS_PLACES[place].format(orig=conv.orig_h, resp=conv.resp_h)


def synack_unacked_summary(conv: Conversation, synack_count: int, span_s: float, orig_reset: bool, kept_syn: bool) -> str:
    sent = "a SYN-ACK" if synack_count == 1 else f"{synack_count} SYN-ACKs over {_s(span_s)} s"
    text = f"{endpoint(conv.resp_h, conv.resp_p)} answered {conv.orig_h}'s SYN with {sent} but {conv.orig_h} never completed the handshake"
    if orig_reset:
        return text + ": it answered with a RST — its connect() had already given up, or a device next to it rejects the SYN-ACK."
    if kept_syn:
        return text + f": it kept retransmitting its SYN, so the SYN-ACK is lost between the capture point and {conv.orig_h}."
    return text + f" (no ACK seen): the SYN-ACK is lost between the capture point and {conv.orig_h}, or {conv.orig_h} ignored it."


def _side_names(conv: Conversation) -> tuple[str, str]:
    """How sentences name orig and resp: by address, or by address:port when both share one host."""
    if conv.orig_h == conv.resp_h:
        return endpoint(conv.orig_h, conv.orig_p), endpoint(conv.resp_h, conv.resp_p)
    return conv.orig_h, conv.resp_h


def _times(n: int) -> str:
    return f", sent {n} times" if n > 1 else ""


@dataclass(frozen=True)
class TeardownFacts:
    """What the closing rules saw of one teardown (the input of its sentence)."""

    closer: str  #: "orig" or "resp": the side that sent the first FIN
    closer_fins: int  #: FIN transmissions of the closer
    other_fins: int  #: FIN transmissions of the other side
    fin_acked: bool  #: the other side acknowledged the closer's FIN
    last_acked: bool  #: the closer acknowledged the other side's FIN
    answer_delay_s: float | None  #: seconds from the first FIN to the other side's FIN
    rst_side: str | None  #: side whose RST followed the first FIN
    verdict: str | None  #: reset analysis verdict for that RST
    later_bytes: int  #: payload bytes the other side sent after the first FIN
    tail_s: float  #: seconds from the first FIN to the end of the capture

    def silent_side(self) -> str:
        """The side that left the teardown hanging (its FIN or ACK is the one missing)."""
        other = "resp" if self.closer == "orig" else "orig"
        return self.closer if self.fin_acked and self.other_fins else other


def teardown_summary(conv: Conversation, facts: TeardownFacts) -> str:
    orig_name, resp_name = _side_names(conv)
    closer, other = (orig_name, resp_name) if facts.closer == "orig" else (resp_name, orig_name)
    pair = f"{endpoint(conv.orig_h, conv.orig_p)} ↔ {endpoint(conv.resp_h, conv.resp_p)}"
    text = f"{closer} closed its side of {pair} (FIN{_times(facts.closer_fins)})"
    if facts.rst_side is not None:
        return text + _reset_clause(facts, closer, other)
    if not facts.fin_acked and not facts.other_fins:
        return text + (f" but {other} never acknowledged it within the {_s(facts.tail_s)} s the capture went on: "
                       f"{other} is gone or the path towards it is broken.")
    if not facts.fin_acked:
        either = "" if facts.last_acked else f"; {closer} never acknowledged that FIN either"
        return text + (f" but {other} never acknowledged it: {other}'s own FIN, {_s(facts.answer_delay_s or 0.0)} s later"
                       f"{_times(facts.other_fins)}, does not cover it, so the first FIN was lost on the way to {other}"
                       f"{either}.")
    if not facts.other_fins:
        more = f" (it sent {facts.later_bytes} more bytes)" if facts.later_bytes else ""
        return text + (f"; {other} acknowledged the FIN but never closed its own side{more} within the "
                       f"{_s(facts.tail_s)} s the capture went on: the connection is half-closed, {other}'s "
                       f"application has not closed its socket.")
    return text + (f" and {other} answered with its own FIN, but {closer} never acknowledged that FIN: "
                   f"the last ACK is lost or {closer} is gone.")


def _reset_clause(facts: TeardownFacts, closer: str, other: str) -> str:
    """``… then X reset the connection`` with the reset analysis' verdict when known."""
    if facts.other_fins:
        text = f", {other} answered with its own FIN, then "
        text += f"{closer} reset the connection" if facts.rst_side == facts.closer else f"{other} reset the connection"
        if facts.rst_side == facts.closer and not facts.last_acked:
            text += " instead of acknowledging it"
    elif facts.rst_side == facts.closer:
        text = " and then reset the connection itself"
    else:
        text = f" and {other} answered with a RST instead of its own FIN"
    if facts.verdict == "middlebox":
        return text + " — the reset analysis says a middlebox forged that RST."
    return text + (" (the reset analysis says the RST is genuine)." if facts.verdict == "peer" else ".")
