"""One capture analysed for the store: its records per table, the day of each row, its ``captures`` row.

The records are the commands' own (``conversations``, ``locate-reset``, ``summary``'s findings,
``handshakes``, ``hosts`` as their ``--format json`` writes them), so the exported rows equal the JSON
outputs of the same capture. A big capture is streamed with bounded memory as the commands stream it
(:func:`netreset.pipeline.run.analyse`); the streamed path keeps no list of conversations or host
profiles, so such a capture exports resets, findings and handshakes only (its ``captures`` row says
``streamed`` and lists the ``tables`` it wrote).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from netreset.flows.model import endpoint
from netreset.pipeline.run import analyse
from netreset.pipeline.whole import Analysis, Options
from netreset.records.conversations import conversation_record
from netreset.store.identity import capture_host, file_sha256, node_identity
from netreset.store.schema import STORE_VERSION, TABLES, ts_ns


@dataclass
class CaptureRecords:
    """What one capture puts in the store (before it is written)."""

    capture: str  #: sha256 of the file
    node: str
    tables: dict[str, list[dict]]  #: table → records (captures: its one row)
    days: dict[str, list[str]] = field(default_factory=dict)  #: table → each row's day (YYYY-MM-DD, UTC)
    service_of: dict[int, str] = field(default_factory=dict)  #: conversation id → its responder "h:p" (whole path)

    @property
    def row(self) -> dict:
        return self.tables["captures"][0]


def analysis_records(analysis) -> dict[str, list[dict]]:
    """The records of every table an analysis offers (streamed: resets, findings, handshakes)."""
    tables = {"resets": list(analysis.reset_rows()), "findings": list(analysis.finding_rows()),
              "handshakes": list(analysis.handshake_rows())}
    if isinstance(analysis, Analysis):
        conversations = [conversation_record(c, analysis.table, analysis.application.get(c.id), analysis.causes.get(c.id))
                         for c in analysis.conversations]
        tables["conversations"] = conversations
        tables["hosts"] = analysis.host_rows()
        tables["app_events"] = [{"conversation": c["id"], "index": i, "frame": e.get("frame"), "from": e.get("from"),
                                 "kind": e.get("kind"), "event": e}
                                for c in conversations for i, e in enumerate(c.get("app_events") or [])]
        tables["causes"] = [{"conversation": c["id"], "index": i, "code": k.get("code"), "sentence": k.get("sentence"),
                             "frames": k.get("frames"), "evidence": k.get("evidence")}
                            for c in conversations for i, k in enumerate(c.get("causes") or [])]
    return tables


def capture_records(path, options: Options = Options(), *, node: str | None = None, node_from=None,
                    progress=None) -> CaptureRecords:
    """Analyse one capture file and gather what the store holds of it (raises CaptureError as the commands do)."""
    from netreset.ingest.containers.open import section_header

    path = Path(path)
    sha, size = file_sha256(path) if path.is_file() else (None, None)
    analysis = analyse([path], options, progress)
    return records_of_analysis(analysis, str(path), sha, size, section_header(path), node=node, node_from=node_from)


def records_of_analysis(analysis, path: str, sha: str | None, size: int | None, section: dict, *,
                        node: str | None = None, node_from=None) -> CaptureRecords:
    """:func:`capture_records` for an analysis already made (the Python API's)."""
    tables = analysis_records(analysis)
    host = capture_host(tables.get("hosts", []), tables.get("conversations", []))
    name, source = node_identity(path, node=node, node_from=node_from, host=host, section=section)
    first, last = analysis.time_span()
    stats = analysis.stats
    tables["captures"] = [{
        "path": path, "sha256": sha, "bytes": size, "file_format": stats.file_format, "node_source": source,
        "capture_host": host, "shb_hardware": section.get("shb_hardware"), "shb_os": section.get("shb_os"),
        "shb_userappl": section.get("shb_userappl"), "first_ts": first, "last_ts": last,
        "packets": stats.frames_total, "tcp_packets": stats.tcp_packets,
        "decode_problems": dict(sorted(stats.problems.items())), "warnings": list(stats.warnings),
        "conversations": analysis.conversation_count(), "resets": len(tables["resets"]),
        "streamed": not isinstance(analysis, Analysis), "tables": [t for t in TABLES if t in tables or t == "captures"],
        "store_version": STORE_VERSION,
    }]
    capture = sha or ""
    days = _days(tables, first)
    services = {c["id"]: endpoint(c["resp_h"], c["resp_p"]) for c in tables.get("conversations", [])}
    return CaptureRecords(capture, name, tables, days, services)


def day_of(ns: int | None) -> str:
    """The UTC day of a timestamp (ns), the ``day`` partition; ``none`` for a row without a time."""
    if ns is None:
        return "none"
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc).strftime("%Y-%m-%d")


def _days(tables: dict[str, list[dict]], first_ns: int | None) -> dict[str, list[str]]:
    """Each row's day: its own ``ts``; a conversation's events and causes its conversation's; hosts and
    the capture row the capture's first packet's."""
    start = day_of(first_ns)
    days = {}
    for name, rows in tables.items():
        if name in ("hosts", "captures"):
            days[name] = [start] * len(rows)
        elif name in ("app_events", "causes"):
            of = {c["id"]: day_of(ts_ns(c["ts"])) for c in tables["conversations"]}
            days[name] = [of.get(r["conversation"], start) for r in rows]
        else:
            days[name] = [day_of(ts_ns(r["ts"])) if r.get("ts") is not None else start for r in rows]
    return days
