"""The ``summary`` document of an analysis, and its findings.

These read an analysis (:class:`~netreset.pipeline.whole.Analysis` or the streamed one), so they sit
above the pipeline; the records they gather are built below it (:mod:`netreset.records.findings`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netreset.records.schema import SCHEMA_VERSION

if TYPE_CHECKING:  # pragma: no cover
    from netreset.pipeline.whole import Analysis


def findings(analysis: "Analysis") -> list[dict]:
    """The findings worth a person's attention: every reset, then handshake problems, in time order."""
    return analysis.finding_rows()


def summary_document(analysis: "Analysis") -> dict:
    """The ``summary --format json`` document (schema_version 1)."""
    stats = analysis.stats
    return {
        "schema_version": SCHEMA_VERSION,
        "packets_total": stats.frames_total,
        "tcp_packets": stats.tcp_packets,
        "conversations_total": analysis.conversation_count(),
        "zeek_connections_total": analysis.zeek_connection_count(),
        "by_conn_state": dict(sorted(analysis.conn_state_counts().items())),
        "by_outcome": dict(sorted(analysis.outcome_counts().items())),
        "decode_problems": dict(sorted(stats.problems.items())),
        "other_protocols": dict(sorted(stats.other_protocols.items())),
        "non_first_fragments": stats.non_first_fragments,
        "warnings": list(stats.warnings),
        "findings": findings(analysis),
    }
