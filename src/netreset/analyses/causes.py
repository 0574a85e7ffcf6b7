"""Causes, stated as a network team needs them (issue 14): ``[{"code", "sentence", "frames"}]`` per failing
conversation and per reset, each code resting on a premise checked against the packets.

Pure functions over a conversation, its application summary (netreset.analyses.application), its reset
verdicts and its handshake findings. Codes (docs/application.md, "Causes"):

- ``sni_filtered``: a middlebox RST within :data:`SNI_WINDOW_S` of the originator's ClientHello, no ServerHello;
  or the ClientHello dropped (netreset.analyses.sni); the names that passed to the same address said;
- ``proxy_auth_required`` (407) / ``proxy_denied`` (403, 5xx): an explicit proxy's answer to CONNECT;
- ``tls_alert``: a fatal (clear) TLS alert, who sent it and what it means;
- ``idle_timeout``: a RST answering the first packet after ≥ :data:`IDLE_THRESHOLD_S` of silence, or that packet
  retransmitted into nothing (netreset.analyses.idle: matched defaults, keepalives);
- ``tls_interception`` / ``transparent_proxy``: a device answered for the server (netreset.analyses.interception);
- every handshake finding kind (``refused``, ``syn_unanswered``, ``half_closed``, …) as its own code.
"""

from __future__ import annotations

from netreset.analyses.cause_record import cause
from netreset.analyses.idle import IDLE_THRESHOLD_S, idle_before, idle_reset_cause, silent_cause  # noqa: F401
from netreset.analyses.sni import names_note, sni_dropped

#: A middlebox RST at most this long after the ClientHello is "right after" it (a filter answers at once).
SNI_WINDOW_S = 0.5

#: RFC 8446 / 5246 alert names → what they mean, for the sentence.
ALERT_MEANINGS = {
    "close_notify": "the sender is closing the TLS session",
    "unexpected_message": "a handshake message came out of order",
    "bad_record_mac": "a record failed its integrity check (corruption or a middlebox rewriting bytes)",
    "record_overflow": "a record was too long",
    "handshake_failure": "no acceptable set of security parameters (cipher suites, groups) was shared",
    "bad_certificate": "a certificate was corrupt or failed verification",
    "unsupported_certificate": "a certificate was of an unsupported type",
    "certificate_revoked": "a certificate was revoked by its signer",
    "certificate_expired": "a certificate has expired or is not yet valid",
    "certificate_unknown": "a certificate was not acceptable for an unspecified reason",
    "illegal_parameter": "a handshake field was out of range or inconsistent",
    "unknown_ca": "the certificate chain does not lead to a CA the receiver trusts",
    "access_denied": "the peer's identity was valid but access was refused by policy",
    "decode_error": "a message could not be decoded",
    "decrypt_error": "a signature or key exchange could not be verified",
    "protocol_version": "the two sides share no TLS version (the other side's offer is not supported)",
    "insufficient_security": "the ciphers offered are weaker than the sender requires",
    "internal_error": "an error unrelated to the peer (a local failure)",
    "inappropriate_fallback": "a downgrade retry was refused",
    "user_canceled": "the handshake was cancelled by the user",
    "missing_extension": "a required extension was missing",
    "unsupported_extension": "an extension was sent that was not offered",
    "unrecognized_name": "the server does not serve the name asked for (SNI)",
    "bad_certificate_status_response": "the OCSP status was invalid",
    "unknown_psk_identity": "no acceptable pre-shared key identity",
    "certificate_required": "the server requires a client certificate",
    "no_application_protocol": "no application protocol (ALPN) offered is supported",
}


def _events(app) -> list[dict]:
    return app.events if app is not None else []


def _frame_ts(table, conv) -> dict[int, float]:
    rows = conv.rows
    return dict(zip(table.frame[rows].tolist(), (table.ts_ns[rows] / 1e9).tolist()))


def sni_filtered(table, conv, app, verdict, passing: dict | None = None) -> dict | None:
    """``sni_filtered`` for one reset verdict: a middlebox verdict, the RST within :data:`SNI_WINDOW_S` after
    the originator's ClientHello of the same conversation, and no ServerHello before the RST. ``passing``: the
    names that passed per server address (netreset.analyses.names_passing), said when others did."""
    if verdict.verdict != "middlebox" or verdict.conversation != conv.id:
        return None
    events = _events(app)
    hello = next((e for e in events if e["kind"] == "client_hello" and e["from"] == "orig"), None)
    if hello is None or not hello.get("sni"):
        return None
    ts = _frame_ts(table, conv)
    hello_ts = ts.get(hello["frame"])
    if hello_ts is None or not 0 <= verdict.ts - hello_ts <= SNI_WINDOW_S or verdict.frame < hello["frame"]:
        return None
    if any(e["kind"] == "server_hello" and e["from"] == "resp" and e["frame"] < verdict.frame for e in events):
        return None
    name = hello["sni"]
    sentence = (f"the device at hop {verdict.traceroute_hop} resets connections to {name} right after the "
                f"ClientHello — check its URL/SNI filtering for that name")
    tail, names = names_note(passing, conv.resp_h, name)
    return cause("sni_filtered", sentence + tail, (hello["frame"], verdict.frame),
                 {"sni": name, "traceroute_hop": verdict.traceroute_hop,
                  "seconds_after_client_hello": round(verdict.ts - hello_ts, 6), **names})


def proxy_cause(app) -> dict | None:
    """``proxy_auth_required`` (407) or ``proxy_denied`` (403, 5xx): the responder's answer to the CONNECT."""
    proxy = app.proxy if app is not None else None
    if not proxy or proxy.get("kind") != "explicit" or proxy.get("status") is None:
        return None
    status, target = proxy["status"], proxy.get("target")
    answered = any(e["kind"] == "http_response" and e["from"] == "resp" and e.get("status") == status
                   and e["frame"] == proxy.get("status_frame") for e in app.events)
    if not answered:
        return None
    frames = (proxy["frame"], proxy["status_frame"])
    reason = f" {proxy['reason']}" if proxy.get("reason") else ""
    if status == 407:
        scheme = proxy.get("proxy_authenticate")
        schemes = f" (it asks for {scheme})" if scheme else ""
        return cause("proxy_auth_required",
                     f"the proxy answered CONNECT {target} with 407{reason}{schemes} — the Integration Runtime "
                     f"service account must be allowed to authenticate to the proxy", frames,
                     {"target": target, "status": status, "proxy_authenticate": scheme})
    if status == 403 or 500 <= status <= 599:
        return cause("proxy_denied", f"the proxy answered CONNECT {target} with {status}{reason} — "
                     f"allow {target} on the proxy" if status == 403 else
                     f"the proxy answered CONNECT {target} with {status}{reason} — it could not reach or serve "
                     f"the target; check the proxy's upstream connection", frames,
                     {"target": target, "status": status})
    return None


def tls_alert(app, conv) -> dict | None:
    """``tls_alert``: the first fatal alert in clear, who sent it and what it means."""
    alert = next((e for e in _events(app) if e["kind"] == "alert" and e.get("level") == "fatal"
                  and not e.get("encrypted")), None)
    if alert is None:
        return None
    desc = alert.get("description") or f"code {alert.get('code')}"
    who = (f"the client {conv.orig_h}" if alert["from"] == "orig" else f"the server {conv.resp_h}")
    meaning = ALERT_MEANINGS.get(desc, "see RFC 8446 §6")
    return cause("tls_alert", f"{who} ended the TLS handshake with a fatal {desc} alert: {meaning}", (alert["frame"],),
                 {"from": alert["from"], "description": desc})


def reset_causes(table, conv, app, verdict, device_causes=(), *, passing: dict | None = None,
                 idle_table=None, may_idle: bool = True) -> list[dict]:
    """Causes of one RST (``passing``: names per server address; ``idle_table``: the idle-timeout defaults,
    netreset.analyses.idle_defaults). A dropped ClientHello or a silent death is the RST's cause when the RST
    is its sender giving up. ``device_causes``: its conversation's ``tls_interception`` /
    ``transparent_proxy`` (netreset.analyses.interception), which every RST of that conversation shares.
    ``may_idle`` False: the conversation is shorter than the idle threshold (netreset.analyses.idle.long_enough,
    decided for all of a piece's conversations at once), so no idle rule is tried."""
    dropped = sni_dropped(table, conv, app, passing)
    if dropped is not None and verdict.frame not in dropped["frames"]:
        dropped = None
    return [c for c in (sni_filtered(table, conv, app, verdict, passing) or dropped,
                        idle_reset_cause(table, conv, verdict, idle_table) if may_idle else None) if c] \
        + list(device_causes)


def finding_cause(finding) -> dict:
    """A handshake finding as its own cause code."""
    facts = {k: v for k, v in finding.to_dict().items() if k not in _FINDING_IDENTITY and v is not None}
    return cause(finding.kind, finding.summary, finding.frames, facts)


#: Finding fields that identify it or restate the cause (its code, sentence, frames), not evidence.
_FINDING_IDENTITY = frozenset({"kind", "conversation", "tcp_stream", "file_id", "ts", "orig_h", "orig_p", "resp_h",
                               "resp_p", "frames", "summary", "display_filter"})


def conversation_causes(conv, app, verdicts, findings, device_causes=(), *, table=None, passing: dict | None = None,
                        idle_table=None) -> list[dict]:
    """Causes of one conversation: its resets' (``verdicts`` carry theirs, :func:`reset_causes`), its
    application layer's, its handshake findings'; with ``table``, also a dropped ClientHello and a silent
    death that no RST ended (the capture did); each (code, frames) once. ``device_causes``: its
    ``tls_interception`` / ``transparent_proxy`` (netreset.analyses.interception); a client alert that
    ``tls_interception`` explains is not repeated as ``tls_alert``."""
    out: list[dict] = []
    for v in sorted(verdicts, key=lambda v: v.frame):
        out += v.causes
    if table is not None:
        out += [c for c in (sni_dropped(table, conv, app, passing), silent_cause(table, conv, idle_table=idle_table))
                if c]
    out += list(device_causes)
    explained = any(c["code"] == "tls_interception" and c["evidence"].get("alert") for c in out)
    out += [c for c in (proxy_cause(app), None if explained else tls_alert(app, conv)) if c]
    out += [finding_cause(f) for f in findings]
    seen, unique = set(), []
    for c in out:
        key = (c["code"], tuple(c["frames"]))
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


def idle_before_reset(verdicts) -> float | None:
    """``idle_before_reset_s``: the ``idle_before_s`` of the conversation's first RST."""
    first = min(verdicts, key=lambda v: v.frame, default=None)
    return first.idle_before_s if first is not None else None
