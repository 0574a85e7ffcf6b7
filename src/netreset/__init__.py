"""netreset — who reset this connection, and why did it never connect?

The pipeline flows one way::

    capture files ─ingest→ PacketTable ─conversations→ Conversations ─analyses→ Findings ─→ reports/plots ─→ CLI
"""

__version__ = "0.1.0"
