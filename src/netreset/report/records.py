"""Plain records (dicts with the JSON contract's field names) built from analysis results."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netreset.conversations import Conversation

if TYPE_CHECKING:  # pragma: no cover
    from netreset.analysis import Analysis

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


def finding_items(resets, handshakes, outcomes: dict[int, str]) -> list[dict]:
    """The findings of these reset verdicts and handshake findings, unsorted (:func:`finding_order`
    sorts them); ``outcomes``: conversation id → outcome, for every conversation with a verdict."""
    items = []
    for r in resets:
        items.append({
            "kind": "refused" if outcomes.get(r.conversation) == "refused" else "reset",
            "conversation": r.conversation,
            "frames": [r.frame],
            "ts": r.ts,
            "verdict": r.verdict,
            "confidence": r.confidence,
            "summary": r.advice,
            "display_filter": r.display_filter,
        })
    for h in handshakes:
        if h.kind == "refused" and h.refusal == "rst":
            continue  # the reset entry already says who refused, with its verdict (ICMP refusals stay)
        items.append({
            "kind": h.kind,
            "conversation": h.conversation,
            "frames": list(h.frames),
            "ts": h.ts,
            "verdict": h.verdict,
            "confidence": h.confidence,
            "summary": h.summary,
            "display_filter": h.display_filter,
        })
    return items


def finding_order(f: dict) -> tuple:
    """Time order; findings without a time last."""
    return (f["ts"] is None, f["ts"] or 0.0, f["conversation"] or 0)


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
