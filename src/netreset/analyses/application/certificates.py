"""The TLS ≤ 1.2 Certificate message: subject, issuer, subjectAltName and validity of its certificates.

Certificates are read with the ``cryptography`` package. A message cut by the payload budget still gives
every certificate that is whole (the server's own comes first, so its subject and issuer survive).
"""

from __future__ import annotations

from netreset.analyses.application.text import printable

MAX_CERTIFICATES = 8


def certificate_message(body: bytes, *, truncated: bool = False) -> dict:
    """``{"certificates": [...], "truncated": bool}``; each certificate as :func:`certificate`."""
    certs = []
    if len(body) >= 3:
        pos, end = 3, min(len(body), 3 + int.from_bytes(body[:3], "big"))
        while pos + 3 <= end and len(certs) < MAX_CERTIFICATES:
            length = int.from_bytes(body[pos:pos + 3], "big")
            if pos + 3 + length > end:
                truncated = True
                break
            certs.append(certificate(body[pos + 3:pos + 3 + length]))
            pos += 3 + length
    return {"certificates": certs, "truncated": truncated}


def certificate(der: bytes) -> dict:
    """Subject, issuer (RFC 4514 strings), DNS names of the SAN, validity (ISO 8601 UTC)."""
    out = {"subject": None, "issuer": None, "san": [], "not_before": None, "not_after": None}
    try:
        import warnings

        from cryptography import x509

        with warnings.catch_warnings():  # a capture's certificate may break RFC 5280 (negative serial, …)
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(der)
            _ = cert.extensions
        out["subject"] = printable(cert.subject.rfc4514_string().encode("utf-8", "replace"), 1024)
        out["issuer"] = printable(cert.issuer.rfc4514_string().encode("utf-8", "replace"), 1024)
        out["not_before"] = cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        out["not_after"] = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            out["san"] = [printable(n.encode("utf-8", "replace")) for n in san.get_values_for_type(x509.DNSName)][:64]
        except Exception:  # noqa: BLE001 — no SAN, or a malformed one
            pass
    except Exception:  # noqa: BLE001 — not DER, or a certificate cryptography refuses
        out["unreadable"] = True
    return out
