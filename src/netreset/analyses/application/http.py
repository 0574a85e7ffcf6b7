"""Plain HTTP heads: the request line and Host, the status line, CONNECT and Proxy-Authenticate.

Only the first head of each direction is read (the kept bytes are the first few KB); headers are parsed
by dpkt (``dpkt.http.parse_headers``), the lines by hand, everything as printable text.
"""

from __future__ import annotations

import dpkt

from netreset.analyses.application.text import printable

METHODS = frozenset((b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"CONNECT", b"PATCH", b"TRACE"))
MAX_HEAD = 16384


def http_head(stream: bytes) -> tuple[str, int, dict] | None:
    """(``request`` | ``response``, end offset of the head, fields) of the first HTTP head, or None."""
    end = stream.find(b"\r\n\r\n", 0, MAX_HEAD)
    cut = end < 0
    head = stream[:MAX_HEAD] if cut else stream[:end]
    line, _, rest = head.partition(b"\r\n")
    parts = line.split(b" ", 2)
    try:
        headers = dpkt.http.parse_headers(_LinesOf(rest + b"\r\n\r\n"))
    except Exception:  # noqa: BLE001 — malformed headers: the line alone
        headers = {}
    where = len(stream) if cut else end + 4
    if len(parts) == 3 and parts[0] in METHODS and parts[2].startswith(b"HTTP/"):
        fields = {"method": parts[0].decode(), "target": printable(parts[1], 2048), "version": printable(parts[2], 16),
                  "host": _header(headers, "host")}
        return "request", where, fields
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit() and len(parts[1]) == 3:
        reason = printable(parts[2], 256) if len(parts) == 3 else ""
        fields = {"status": int(parts[1]), "reason": reason, "version": printable(parts[0], 16)}
        auth = _header(headers, "proxy-authenticate")
        if auth:
            fields["proxy_authenticate"] = auth.split(" ", 1)[0].split(",", 1)[0]
        return "response", where, fields
    return None


class _LinesOf:
    """The ``readline`` dpkt's header parser wants, over bytes."""

    def __init__(self, data: bytes) -> None:
        self.lines = data.split(b"\r\n")[:200]
        self.i = 0

    def readline(self) -> bytes:
        if self.i >= len(self.lines):
            return b""
        line = self.lines[self.i] + b"\r\n"
        self.i += 1
        return line


def _header(headers: dict, name: str) -> str | None:
    value = headers.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return printable(value.encode("latin-1", "replace"), 1024).strip() or None
