"""Plain records (dicts with the JSON contract's field names) built from analysis results."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netreset.flows.model import Conversation

if TYPE_CHECKING:  # pragma: no cover
    from netreset.pipeline.whole import Analysis

SCHEMA_VERSION = 1


def conversation_record(c: Conversation, table) -> dict:
    """One conversation; the first keys are the contract of ``conversations --format json``."""
    frames = table.frame[c.rows] if len(c.rows) else []
    return {
        "id": c.id,
        "ts": round(c.ts, 6),
        "orig_h": c.orig_h,
        "orig_p": c.orig_p,
        "resp_h": c.resp_h,
        "resp_p": c.resp_p,
        "conn_state": c.conn_state,
        "history": c.history,
        "completeness": c.completeness,
        "outcome": c.outcome,
        "orig_pkts": c.orig_pkts,
        "resp_pkts": c.resp_pkts,
        "syn_count": c.syn_count,
        "tcp_stream": c.tcp_stream,
        "ip_version": c.ip_version,
        "duration": round(c.duration_s, 6),
        "orig_bytes": c.orig_bytes,
        "resp_bytes": c.resp_bytes,
        "orig_ip_bytes": c.orig_ip_bytes,
        "resp_ip_bytes": c.resp_ip_bytes,
        "syn_gaps_s": [round(g, 6) for g in c.syn_gaps_s],
        "retransmissions": c.retransmissions,
        "partial": c.partial,
        "file_id": c.file_id,
        "first_frame": int(frames[0]) if len(frames) else None,
        "last_frame": int(frames[-1]) if len(frames) else None,
    }


CONVERSATION_COLUMNS = (
    ("id", "id"),
    ("orig", "orig"),
    ("resp", "resp"),
    ("conn_state", "state"),
    ("history", "history"),
    ("completeness", "compl"),
    ("outcome", "outcome"),
    ("orig_pkts", "o.pkts"),
    ("resp_pkts", "r.pkts"),
    ("syn_count", "syns"),
    ("duration", "duration_s"),
)


def endpoint(host: str, port: int) -> str:
    """``host:port``, with brackets for IPv6 as in URLs."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def conversation_text_row(record: dict) -> dict:
    return dict(record, orig=endpoint(record["orig_h"], record["orig_p"]), resp=endpoint(record["resp_h"], record["resp_p"]))


def findings(analysis: "Analysis") -> list[dict]:
    """The findings worth a person's attention: every reset, then handshake problems, in time order."""
    return analysis.finding_rows()


#: The fields of a finding, in order (``summary --format json``).
FINDING_FIELDS = ("kind", "conversation", "frames", "ts", "verdict", "confidence", "summary", "display_filter")


def finding_items(resets, handshakes, outcomes: dict[int, str]) -> list[dict]:
    """The findings of these reset verdicts and handshake findings, unsorted (:func:`finding_order`
    sorts them); ``outcomes``: conversation id → outcome, for every conversation with a verdict."""
    return [dict(zip(FINDING_FIELDS, values)) for values in _finding_values(resets, handshakes, outcomes)]


def encoded_findings(resets, handshakes, outcomes: dict[int, str]) -> list[tuple[tuple, str]]:
    """(:func:`finding_order` key, JSON text) of each of :func:`finding_items`, spelt from the values
    without building the dicts (:func:`~netreset.records.json.encode_leaves`): ``summary`` of a
    streamed capture encodes one per reset and handshake finding. The layout is fixed by the number of
    frames, which the number of leaves gives."""
    from netreset.records.json import encode_leaves

    encoded = []
    for values in _finding_values(resets, handshakes, outcomes):
        kind, conversation, frames, ts, *rest = values
        text = encode_leaves(FINDING_FIELDS, [kind, conversation, *frames, ts, *rest],
                             lambda values=values: dict(zip(FINDING_FIELDS, values)))
        encoded.append((_order(ts, conversation), text))
    return encoded


def _finding_values(resets, handshakes, outcomes: dict[int, str]):
    """Each finding's values in :data:`FINDING_FIELDS` order: every reset, then the handshake findings."""
    for r in resets:
        kind = "refused" if outcomes.get(r.conversation) == "refused" else "reset"
        yield kind, r.conversation, [r.frame], r.ts, r.verdict, r.confidence, r.advice, r.display_filter
    for h in handshakes:
        if h.kind == "refused" and h.refusal == "rst":
            continue  # the reset entry already says who refused, with its verdict (ICMP refusals stay)
        yield h.kind, h.conversation, list(h.frames), h.ts, h.verdict, h.confidence, h.summary, h.display_filter


def finding_order(f: dict) -> tuple:
    """Time order; findings without a time last."""
    return _order(f["ts"], f["conversation"])


def _order(ts: float | None, conversation: int | None) -> tuple:
    return ts is None, ts or 0.0, conversation or 0


def summary_document(analysis: "Analysis") -> dict:
    """The ``summary --format json`` document (schema_version 1)."""
    stats = analysis.stats
    return {
        "schema_version": SCHEMA_VERSION,
        "packets_total": stats.frames_total,
        "tcp_packets": stats.tcp_packets,
        "conversations_total": analysis.conversation_count(),
        "by_conn_state": dict(sorted(analysis.conn_state_counts().items())),
        "by_outcome": dict(sorted(analysis.outcome_counts().items())),
        "decode_problems": dict(sorted(stats.problems.items())),
        "other_protocols": dict(sorted(stats.other_protocols.items())),
        "non_first_fragments": stats.non_first_fragments,
        "warnings": list(stats.warnings),
        "findings": findings(analysis),
    }
