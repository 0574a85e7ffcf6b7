"""Causes and application events as short text, for every output a person reads (issue 14).

Pure functions over the records' dicts — a cause ``{"code", "sentence", "frames", "evidence"}``
(:mod:`netreset.analyses.causes`) and an application event ``{"frame", "from", "kind", …}``
(:mod:`netreset.analyses.application.events`) — so the text outputs, the HTML and Markdown reports, the
ladder and the hop diagram all say the same thing. Any cause renders through its code, sentence and
frames: a code this module has never heard of still shows in full; :data:`SHORT_LABELS` only gives the
known ones a shorter phrase where room is scarce (the hop diagram's box).
"""

from __future__ import annotations

from typing import Callable, Iterable

#: Characters of a certificate name or URL path kept on a ladder arrow (the rest becomes "…").
EVENT_FIELD_WIDTH = 60
#: Characters of a cause's phrase in the hop diagram's box.
SHORT_WIDTH = 60


def frames_text(frames: Iterable[int]) -> str:
    """``frame 4`` / ``frames 4, 5``."""
    frames = list(frames)
    if not frames:
        return "no frame"
    return ("frame " if len(frames) == 1 else "frames ") + ", ".join(str(f) for f in frames)


def cause_line(cause: dict) -> str:
    """``sni_filtered: <sentence> (frames 4, 5)`` — one cause for a ticket, whatever its code."""
    return f"{cause.get('code')}: {cause.get('sentence')} ({frames_text(cause.get('frames') or [])})"


def cause_codes(causes: Iterable[dict]) -> list[str]:
    """The codes of ``causes``, each once, in order."""
    return list(dict.fromkeys(str(c.get("code")) for c in causes or ()))


def _clip(text, width: int = EVENT_FIELD_WIDTH) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _common_name(dn: str | None) -> str | None:
    """``CN=x,O=y`` → ``x`` (the whole name when it has no CN)."""
    if not dn:
        return None
    for part in str(dn).split(","):
        key, _, value = part.strip().partition("=")
        if key.upper() == "CN" and value:
            return value
    return str(dn)


def _client_hello(e: dict) -> str:
    parts = ["ClientHello"]
    if e.get("sni"):
        parts.append(f"SNI={_clip(e['sni'])}")
    if e.get("versions_offered"):
        parts.append("offers " + "/".join(str(v).replace("TLS ", "") for v in e["versions_offered"]))
    if e.get("alpn"):
        parts.append("ALPN " + ",".join(str(a) for a in e["alpn"]))
    return " ".join(parts)


def _server_hello(e: dict) -> str:
    return "ServerHello" + (f" {e['version']}" if e.get("version") else "") + (f" ALPN {e['alpn']}" if e.get("alpn") else "")


def _certificate(e: dict) -> str:
    certificates = e.get("certificates") or []
    if not certificates:
        return "Certificate" + (" (cut)" if e.get("truncated") else "")
    leaf = certificates[0]
    subject, issuer = _common_name(leaf.get("subject")), _common_name(leaf.get("issuer"))
    return (f"Certificate CN={_clip(subject, 40)}" + (f" issuer={_clip(issuer, 40)}" if issuer else "")
            + (" (cut)" if e.get("truncated") else ""))


def _alert(e: dict) -> str:
    level = f"{e['level']} " if e.get("level") and e.get("level") != "fatal" else ""
    return f"alert {level}{e.get('description') or e.get('code')}"


def _http_request(e: dict) -> str:
    return f"{e.get('method')} {_clip(e.get('target'))}"


def _http_response(e: dict) -> str:
    text = f"{e.get('status')}" + (f" {e['reason']}" if e.get("reason") else "")
    return text + (f" ({e['proxy_authenticate']})" if e.get("proxy_authenticate") else "")


def _dns(e: dict) -> str:
    answers = e.get("answers") or e.get("addresses") or []
    return f"DNS {e.get('type', 'A')} {e.get('name')}" + (" → " + ", ".join(str(a) for a in answers) if answers else "")


_EVENT_LABELS: dict[str, Callable[[dict], str]] = {
    "client_hello": _client_hello, "server_hello": _server_hello, "certificate": _certificate, "alert": _alert,
    "http_request": _http_request, "http_response": _http_response, "dns": _dns,
}


def event_label(event: dict) -> str:
    """One application event as it is drawn on its frame's arrow: ``ClientHello SNI=…``, ``ServerHello TLS 1.3``,
    ``Certificate CN=… issuer=…``, ``CONNECT host:443``, ``403 Forbidden``, ``alert unknown_ca``, ``GET /path``;
    an event of a kind not listed here shows as its kind."""
    label = _EVENT_LABELS.get(str(event.get("kind")))
    return label(event) if label else str(event.get("kind"))


def events_by_frame(events: Iterable[dict]) -> dict[int, list[str]]:
    """Frame → the labels of the events it completes, in order."""
    out: dict[int, list[str]] = {}
    for e in events or ():
        if e.get("frame") is not None:
            out.setdefault(int(e["frame"]), []).append(event_label(e))
    return out


def _short_sni(c: dict) -> str | None:
    sni = c.get("evidence", {}).get("sni")
    return f"resets ClientHello for {_clip(sni, 32)} (SNI filter)" if sni else None


def _short_idle(c: dict) -> str | None:
    idle = c.get("evidence", {}).get("idle_s")
    return f"idle timeout after {float(idle):.1f} s" if idle is not None else None


#: Code → a short phrase of what the device did, from the cause's evidence (None: use the generic form).
SHORT_LABELS: dict[str, Callable[[dict], str | None]] = {
    "sni_filtered": _short_sni,
    "idle_timeout": _short_idle,
    "tls_interception": lambda c: "answered TLS with its own certificate",
    "transparent_proxy": lambda c: "terminates the connection for the server (transparent proxy)",
    "proxy_auth_required": lambda c: f"proxy asks to authenticate (407) for {c.get('evidence', {}).get('target')}",
    "proxy_denied": lambda c: f"proxy denied CONNECT {c.get('evidence', {}).get('target')}",
}


def short_cause(cause: dict) -> str:
    """What the device did, in a few words: a known code's phrase, else ``code: start of the sentence…``."""
    short = SHORT_LABELS.get(str(cause.get("code")))
    phrase = short(cause) if short else None
    return phrase or _clip(f"{cause.get('code')}: {cause.get('sentence')}", SHORT_WIDTH)
