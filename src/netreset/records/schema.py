"""What every JSON document of netreset shares: its schema version, and how a host and port are written.

Defined once here, so that a document of ``summary``, ``locate-reset`` or ``compare`` and every text
table name an endpoint the same way and carry the same version; a change of the contract changes both
in one place.
"""

from __future__ import annotations

#: The version of the JSON contract (``schema_version`` of every document); raised only when a field
#: changes meaning or disappears. New fields never change it.
SCHEMA_VERSION = 1


def endpoint(host: str, port: int) -> str:
    """``host:port``, with brackets for IPv6 as in URLs."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
