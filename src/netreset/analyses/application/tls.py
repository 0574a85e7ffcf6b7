"""TLS handshake and alert events from the first bytes of each direction (SSL 3.0 … TLS 1.3).

Records are read from the direction's reassembled bytes; handshake messages are joined across records
(and so across segments) before they are read: a ClientHello or a Certificate split over several TCP
segments is one event at the frame that completes it. dpkt reads the hello bodies and names alerts;
the extensions netreset reports (server_name, ALPN, supported_versions) and the Certificate list are
read here, and certificates by the ``cryptography`` package. Everything past a ChangeCipherSpec (TLS ≤
1.2) or a ServerHello choosing TLS 1.3 is encrypted: alerts there are reported as ``encrypted``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import dpkt

from netreset.analyses.application.certificates import certificate_message
from netreset.analyses.application.text import printable

CONTENT_CCS, CONTENT_ALERT, CONTENT_HANDSHAKE, CONTENT_APPDATA = 20, 21, 22, 23
HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_CERTIFICATE = 1, 2, 11
EXT_SERVER_NAME, EXT_ALPN, EXT_SUPPORTED_VERSIONS = 0, 16, 43
MAX_MESSAGES = 32  #: handshake messages read per direction at most

VERSION_NAMES = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}

ALERT_DESCRIPTIONS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed", 22: "record_overflow",
    30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate", 42: "bad_certificate",
    43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error", 51: "decrypt_error",
    60: "export_restriction", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
    86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation", 109: "missing_extension",
    110: "unsupported_extension", 111: "certificate_unobtainable", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 114: "bad_certificate_hash_value", 115: "unknown_psk_identity",
    116: "certificate_required", 120: "no_application_protocol",
}


def version_name(version: int) -> str:
    """``TLS 1.2`` for 0x0303; GREASE and unknown values as hex."""
    return VERSION_NAMES.get(version) or f"0x{version:04x}"


@dataclass
class TlsEvent:
    """One TLS event of one direction: ``kind`` client_hello | server_hello | certificate | alert."""

    kind: str
    end: int  #: offset in the direction's bytes where the event ends (mapped to a frame by the caller)
    fields: dict


def tls_events(stream: bytes) -> list[TlsEvent]:
    """The TLS events of one direction's bytes, in order; stops at the first record it cannot frame."""
    events: list[TlsEvent] = []
    handshake = bytearray()  # handshake bytes of records so far, not yet read as messages
    hs_ends: list[tuple[int, int]] = []  # (end offset in handshake, end offset in stream) per record
    encrypted = False
    pos = 0
    read = 0  # handshake bytes already read as messages
    while pos + 5 <= len(stream) and len(events) < MAX_MESSAGES:
        ctype, major, minor, length = stream[pos], stream[pos + 1], stream[pos + 2], struct.unpack_from("!H", stream, pos + 3)[0]
        if major != 3 or ctype not in (CONTENT_CCS, CONTENT_ALERT, CONTENT_HANDSHAKE, CONTENT_APPDATA) or length > 18432:
            break
        end = pos + 5 + length
        body = stream[pos + 5:end]
        complete = end <= len(stream)
        if ctype == CONTENT_CCS:
            encrypted = True
        elif ctype == CONTENT_ALERT and complete:
            events.append(TlsEvent("alert", end, _alert(body, encrypted)))
        elif ctype == CONTENT_HANDSHAKE and not encrypted:
            handshake += body
            hs_ends.append((len(handshake), min(end, len(stream))))
            read, encrypted = _messages(handshake, read, hs_ends, events, complete)
        elif ctype == CONTENT_APPDATA:
            encrypted = True
        if not complete:
            break
        pos = end
    return events


def _messages(handshake: bytearray, read: int, hs_ends, events: list, complete: bool) -> tuple[int, bool]:
    """Read every complete handshake message from ``read`` on; returns (read, encrypted-from-now)."""
    encrypted = False
    while read + 4 <= len(handshake) and len(events) < MAX_MESSAGES:
        mtype = handshake[read]
        length = int.from_bytes(handshake[read + 1:read + 4], "big")
        end = read + 4 + length
        body = bytes(handshake[read + 4:end])
        whole = end <= len(handshake)
        if not whole and not (mtype == HS_CERTIFICATE and not complete):
            break  # wait for the next record
        stream_end = next((s for h, s in hs_ends if h >= end), hs_ends[-1][1])
        if mtype == HS_CLIENT_HELLO:
            events.append(TlsEvent("client_hello", stream_end, client_hello(body)))
        elif mtype == HS_SERVER_HELLO:
            fields = server_hello(body)
            events.append(TlsEvent("server_hello", stream_end, fields))
            if fields.get("version") == "TLS 1.3":
                encrypted = True  # everything after it is encrypted
        elif mtype == HS_CERTIFICATE:
            events.append(TlsEvent("certificate", stream_end, certificate_message(body, truncated=not whole)))
        if not whole or encrypted:
            return len(handshake), encrypted
        read = end
    return read, encrypted


def _extensions(hello) -> list[tuple[int, bytes]]:
    out = []
    for item in getattr(hello, "extensions", None) or ():
        try:
            kind, data = item
            out.append((int(kind), bytes(data)))
        except (TypeError, ValueError):
            continue
    return out


def client_hello(body: bytes) -> dict:
    """A ClientHello's versions offered (newest first), SNI and ALPN protocols."""
    fields = {"record_version": None, "versions_offered": [], "sni": None, "alpn": []}
    try:
        hello = dpkt.ssl.TLSClientHello(body)
    except Exception:  # noqa: BLE001 — dpkt.NeedData, struct.error, …: what was read stands
        fields["truncated"] = True
        return fields
    legacy = int(getattr(hello, "version", 0) or 0)
    offered = []
    for kind, data in _extensions(hello):
        if kind == EXT_SERVER_NAME and fields["sni"] is None:
            fields["sni"] = _server_name(data)
        elif kind == EXT_ALPN:
            fields["alpn"] = _alpn(data)
        elif kind == EXT_SUPPORTED_VERSIONS and data:
            n = data[0]
            offered = [int.from_bytes(data[1 + i:3 + i], "big") for i in range(0, min(n, len(data) - 1) - 1, 2)]
    offered = [v for v in offered if v in VERSION_NAMES] or ([legacy] if legacy else [])
    fields["versions_offered"] = [version_name(v) for v in sorted(set(offered), reverse=True)]
    fields["record_version"] = version_name(legacy) if legacy else None
    return fields


def server_hello(body: bytes) -> dict:
    """The version a ServerHello chose (supported_versions first: TLS 1.3) and its ALPN choice."""
    fields = {"version": None, "alpn": None}
    try:
        hello = dpkt.ssl.TLSServerHello(body)
    except Exception:  # noqa: BLE001
        fields["truncated"] = True
        if len(body) >= 2:
            fields["version"] = version_name(int.from_bytes(body[:2], "big"))
        return fields
    version = int(getattr(hello, "version", 0) or 0)
    for kind, data in _extensions(hello):
        if kind == EXT_SUPPORTED_VERSIONS and len(data) == 2:
            version = int.from_bytes(data, "big")
        elif kind == EXT_ALPN:
            chosen = _alpn(data)
            fields["alpn"] = chosen[0] if chosen else None
    fields["version"] = version_name(version) if version else None
    return fields


def _alert(body: bytes, encrypted: bool) -> dict:
    if encrypted or len(body) != 2:
        return {"level": None, "description": "encrypted", "code": None}
    level, code = body[0], body[1]
    return {"level": {1: "warning", 2: "fatal"}.get(level, str(level)),
            "description": ALERT_DESCRIPTIONS.get(code, f"alert_{code}"), "code": code}


def _server_name(data: bytes) -> str | None:
    """The host_name entry of a server_name extension (RFC 6066 §3)."""
    if len(data) < 2:
        return None
    pos, end = 2, min(len(data), 2 + int.from_bytes(data[:2], "big"))
    while pos + 3 <= end:
        kind, length = data[pos], int.from_bytes(data[pos + 1:pos + 3], "big")
        name = data[pos + 3:pos + 3 + length]
        if kind == 0 and name:
            return printable(name)
        pos += 3 + length
    return None


def _alpn(data: bytes) -> list[str]:
    out, pos = [], 2
    end = min(len(data), 2 + int.from_bytes(data[:2], "big")) if len(data) >= 2 else 0
    while pos < end and len(out) < 16:
        length = data[pos]
        if not length or pos + 1 + length > end:
            break
        out.append(printable(data[pos + 1:pos + 1 + length]))
        pos += 1 + length
    return out
