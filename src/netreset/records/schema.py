"""What every JSON document of netreset shares: its schema version.

Defined once here, so that a document of ``summary``, ``locate-reset`` or ``compare`` carries the same
version; endpoints are written by :func:`netreset.flows.model.endpoint` everywhere.
"""

from __future__ import annotations

#: The version of the JSON contract (``schema_version`` of every document); raised only when a field
#: changes meaning or disappears. New fields never change it.
SCHEMA_VERSION = 1
