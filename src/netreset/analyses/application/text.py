"""Untrusted bytes from a capture as text that is safe to print and to put in JSON."""

from __future__ import annotations


def printable(raw: bytes, limit: int = 255) -> str:
    """Untrusted bytes as printable ASCII text (others as ``?``), at most ``limit`` characters."""
    return "".join(chr(b) if 32 <= b < 127 else "?" for b in raw[:limit])
