"""netreset — who reset this connection, and why did it never connect?

The pipeline flows one way::

    capture files ─ingest→ PacketTable ─conversations→ Conversations ─analyses→ Findings ─→ reports/plots ─→ CLI

The Python API is :func:`netreset.analyze` (docs/api.md), loaded on first use so that ``import netreset``
(and every command's start) costs nothing.
"""

__version__ = "0.1.0"
__all__ = ["analyze", "__version__"]


def __getattr__(name: str):
    """``netreset.analyze``: :func:`netreset.api.analyze`, imported when first asked for (PEP 562)."""
    if name == "analyze":
        from netreset.api import analyze

        return analyze
    raise AttributeError(f"module 'netreset' has no attribute {name!r}")
