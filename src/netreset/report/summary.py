"""The ``summary`` document of an analysis, and its findings.

These read an analysis (:class:`~netreset.pipeline.whole.Analysis` or the streamed one), so they sit
above the pipeline; the records they gather are built below it (:mod:`netreset.records.findings`).
"""

from __future__ import annotations

import shutil
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
        "by_cause": dict(sorted(analysis.cause_counts().items())),
        "decode_problems": dict(sorted(stats.problems.items())),
        "other_protocols": dict(sorted(stats.other_protocols.items())),
        "non_first_fragments": stats.non_first_fragments,
        "warnings": list(stats.warnings),
        "findings": findings(analysis),
        "undecoded_tunnels": dict(sorted(stats.undecoded_tunnels.items())),
        "decode_hint": decode_hint(stats, getattr(getattr(analysis, "options", None), "engine", "builtin")),
    }


def decode_hint(stats, engine: str = "builtin", tshark_present: bool | None = None) -> str | None:
    """One sentence when TCP may hide where netreset does not look, else None (never a silent loss).

    Two premises, each from the counts: UDP datagrams that look like an undecoded tunnel (their
    payload parses as an IP header, or they use a port of a tunnel netreset does not decode), or
    frames that could not be decoded at all. ``--engine tshark`` is suggested when tshark is
    installed and not already the engine.
    """
    tshark = (shutil.which("tshark") is not None) if tshark_present is None else tshark_present
    parts = []
    tunnels = sum(stats.undecoded_tunnels.values())
    if tunnels:
        ports = ", ".join(f"{k} ({v})" for k, v in stats.undecoded_tunnels.most_common(3))
        parts.append(f"{tunnels} UDP datagrams look like a tunnel netreset does not decode ({ports})")
    problems = sum(stats.problems.values())
    if problems and tshark and engine != "tshark":
        parts.append(f"{problems} frames could not be decoded")
    if not parts:
        return None
    sentence = "; ".join(parts) + ": TCP inside them is not analysed"
    if tshark and engine != "tshark":
        return sentence + ". Try --engine tshark (Wireshark's dissectors)."
    if engine == "tshark":
        return sentence + " (tshark did not decode them either; Wireshark's \"Decode As\" may)."
    return sentence + ". Install tshark and try --engine tshark, or decode them with Wireshark's \"Decode As\"."
