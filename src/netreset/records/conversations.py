"""The record of one TCP conversation (``conversations --format json``) and its row in the text table."""

from __future__ import annotations

import hashlib

from netreset.flows.model import Conversation
from netreset.flows.model import endpoint

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def zeek_uid(orig_h: str, orig_p: int, resp_h: str, resp_p: int, start_ns: int) -> str:
    """The ``uid`` of one Zeek connection in ``conversations --format zeek``: Zeek's own are random, ours
    are "C" and 17 base-62 digits of the SHA-1 of the 5-tuple and the connection's first timestamp, so the
    same capture always gives the same uids, and a conversation's ``zeek_uids`` name its conn.log rows."""
    digest = int.from_bytes(hashlib.sha1(f"tcp {orig_h} {orig_p} {resp_h} {resp_p} {start_ns}".encode()).digest(), "big")
    digits = []
    for _ in range(17):
        digest, digit = divmod(digest, 62)
        digits.append(_BASE62[digit])
    return "C" + "".join(digits)


def zeek_uids(c: Conversation) -> list[str]:
    """The uids of the conn.log rows (Zeek connections) conversation ``c`` is made of, in time order."""
    return [zeek_uid(c.orig_h, c.orig_p, c.resp_h, c.resp_p, start) for start in c.zeek_starts_ns or (c.start_ns,)]


def conversation_record(c: Conversation, table, app=None, causes=None) -> dict:
    """One conversation; the first keys are the contract of ``conversations --format json``. ``app``: its
    :class:`~netreset.analyses.application.events.ApplicationSummary` (names, TLS, proxy, events), if known;
    ``causes``: its (``idle_before_reset_s``, ``causes``) (netreset.analyses.causes), if known."""
    frames = table.frame[c.rows] if len(c.rows) else []
    record = {
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
        "zeek_connections": c.zeek_connections,
        "zeek_uids": zeek_uids(c),
    }
    record.update(application_fields(app))
    idle, found = causes if causes is not None else (None, [])
    record["idle_before_reset_s"] = idle
    record["causes"] = found
    return record


def application_fields(app) -> dict:
    """``server_name``, ``names``, ``tls``, ``proxy`` and ``app_events`` of one conversation (see docs/application.md)."""
    if app is None:
        return {"server_name": None, "names": {"orig": [], "resp": []}, "tls": None, "proxy": None, "app_events": []}
    return {"server_name": app.server_name, "names": app.names, "tls": app.tls, "proxy": app.proxy,
            "app_events": app.events}


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
    ("cause_codes", "causes"),
)


def conversation_text_row(record: dict) -> dict:
    """The text table's row: endpoints with their first name beside them (``10.0.0.1:443 (example.com)``), and
    the codes of the conversation's causes (``sni_filtered``; the sentences: ``--format json`` or ``locate-reset``)."""
    names = record.get("names") or {}
    codes = list(dict.fromkeys(c["code"] for c in record.get("causes") or []))
    return dict(record, cause_codes=" ".join(codes), orig=named(endpoint(record["orig_h"], record["orig_p"]), names.get("orig")),
                resp=named(endpoint(record["resp_h"], record["resp_p"]), names.get("resp"), record.get("server_name")))


def named(text: str, names, first: str | None = None) -> str:
    """``text`` followed by a name in parentheses (``first`` if given, else the first of ``names``)."""
    name = first or (names[0] if names else None)
    return f"{text} ({name})" if name else text
