"""Every output format of every command, in one table: what ``--format text|json|csv`` writes.

A command hands its records to :func:`write` (or :func:`render`, when they go to a file) with its name
and the format asked for. :data:`OUTPUTS` says, per command, which formats it offers and how each is
spelt: the JSON document (encoded by :mod:`netreset.records.json`), the CSV rows and columns
(:mod:`netreset.report.tables`) and the text (:mod:`netreset.report.text`). So a new format is one more
field of :class:`Output` and one more branch of :func:`write`, a new command one more entry; the click
commands parse options and never spell output themselves.

Records may be a list, or the merged records of a streamed analysis (read from disk as they are
written): JSON and CSV are written in pieces, and a text renderer may give its text in pieces too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from netreset.records.conversations import CONVERSATION_COLUMNS, conversation_text_row
from netreset.records.json import write_json
from netreset.records.schema import SCHEMA_VERSION
from netreset.report import text
from netreset.report.causes import cause_codes, event_label
from netreset.report.annotations import annotate_text
from netreset.report.summary import summary_document
from netreset.report.tables import render_table, write_csv

#: Every format a command may offer; the first is the default. ``zeek``: Zeek's conn.log (``conversations``).
FORMATS = ("text", "json", "csv", "zeek")
#: The formats a listing offers unless it says otherwise.
LISTING_FORMATS = ("text", "json", "csv")


@dataclass(frozen=True)
class Output:
    """How one command's records are written in each format it offers (see :data:`OUTPUTS`)."""

    formats: tuple[str, ...]  #: the formats offered, the default first
    #: (records, analysis) → the text: one string, or an iterable of pieces written as they come
    text: Callable[[Any, Any], str | Iterable[str]]
    #: records → the JSON document
    document: Callable[[Any], dict]
    #: records → (CSV rows, columns); None when the command offers no CSV
    csv: Callable[[Any], tuple[Iterable[dict], Sequence[str]]] | None = None
    #: (records, analysis) → Zeek's conn.log, in pieces; None when the command offers no zeek format
    zeek: Callable[[Any, Any], Iterable[str]] | None = None


def _listing(key: str, text_of: Callable[[Any, Any], str | Iterable[str]],
             columns: Sequence[str] | None = None, zeek: Callable[[Any, Any], Iterable[str]] | None = None,
             csv_row: Callable[[dict], dict] = lambda row: row) -> Output:
    """A command whose records are one list of dicts: JSON ``{"schema_version", key: records}``, CSV
    with ``columns`` (default: every key of the records, in order of first appearance), each record
    spelt by ``csv_row`` (one value per cell: a list of causes becomes their codes)."""
    def csv_of(rows):
        return ((csv_row(r) for r in rows),
                columns or [k for k in dict.fromkeys(k for r in rows for k in csv_row(r))] or ["id"])

    return Output(LISTING_FORMATS + (("zeek",) if zeek else ()), text_of,
                  lambda rows: {"schema_version": SCHEMA_VERSION, key: rows}, csv_of, zeek)


def _with_cause_codes(row: dict) -> dict:
    """A reset's CSV row: its causes' codes in one cell (``cause_codes``), beside its other fields."""
    return dict(row, cause_codes=cause_codes(row.get("causes") or []))


def _conversation_csv(row: dict) -> dict:
    """A conversation's CSV row: ``causes`` as their codes (the sentences are in the JSON and the text),
    ``app_events`` as their labels in order (``ClientHello SNI=…; 403 Forbidden``)."""
    return dict(row, causes=cause_codes(row.get("causes") or []),
                app_events="; ".join(event_label(e) for e in row.get("app_events") or []))


def _conn_log(rows, analysis) -> Iterable[str]:
    """``conversations --format zeek``: every Zeek connection of the selected conversations, as conn.log."""
    from netreset.report.zeek import conn_log_parts

    return conn_log_parts(analysis.zeek_connections)


def _summary_csv(analysis) -> tuple[list[dict], list[str]]:
    """``summary --format csv``: one row per count (outcomes, connection states, decode problems)."""
    document = summary_document(analysis)
    rows = [{"kind": "outcome", "name": k, "count": v} for k, v in document["by_outcome"].items()]
    rows += [{"kind": "conn_state", "name": k, "count": v} for k, v in document["by_conn_state"].items()]
    rows += [{"kind": "cause", "name": k, "count": v} for k, v in document["by_cause"].items()]
    rows += [{"kind": "decode_problem", "name": k, "count": v} for k, v in document["decode_problems"].items()]
    return rows, ["kind", "name", "count"]


def _hops_document(drawn) -> dict:
    return {"schema_version": SCHEMA_VERSION, "hops": [dataclasses.asdict(path) for path, _ in drawn]}


def _hops_text(drawn, analysis) -> str:
    """Each reset's hop path, with the fault segment under it when a second capture placed one."""
    from netreset.plots.hop_segment import segment_text  # the plots load matplotlib: only when asked
    from netreset.plots.hops import hops_text

    return "\n".join(hops_text(path) + (segment_text(segment) + "\n" if segment is not None else "")
                     for path, segment in drawn) or f"No TCP resets in {analysis.conversation_count()} conversations.\n"


def _comparison_document(comparison) -> dict:
    from netreset.records.comparison import comparison_dict  # loads the vantage analysis: only for compare

    return comparison_dict(comparison)


#: Command → its output. Records each command hands over: ``summary`` the analysis; ``conversations``,
#: ``locate-reset``, ``handshakes``, ``hosts`` their record lists; ``hops`` (HopPath, fault segment or
#: None) pairs; ``compare`` the Comparison; ``fleet`` and ``export`` the fleet summary document
#: (:func:`netreset.fleet.devices.fleet_document`); ``annotate`` its record
#: (:func:`~netreset.report.annotations.annotate_record`).
OUTPUTS: dict[str, Output] = {
    "summary": Output(LISTING_FORMATS, lambda analysis, _: text.summary_text(summary_document(analysis)),
                      summary_document, _summary_csv),
    "conversations": _listing("conversations", lambda rows, _: render_table(
        [conversation_text_row(r) for r in rows], CONVERSATION_COLUMNS), zeek=_conn_log, csv_row=_conversation_csv),
    "locate-reset": _listing("resets", text.resets_text_parts, text.RESET_CSV_COLUMNS, csv_row=_with_cause_codes),
    "handshakes": _listing("handshakes", lambda rows, _: text.handshakes_text_parts(rows)),
    "hosts": _listing("hosts", lambda rows, _: text.hosts_text(rows)),
    "hops": Output(("text", "json"), _hops_text, _hops_document),
    "compare": Output(("text", "json"), lambda comparison, _: text.comparison_text(_comparison_document(comparison)),
                      _comparison_document),
    "fleet": Output(("text", "json"), lambda document, _: _fleet_text(document), lambda document: document),
    "export": Output(("text", "json"), lambda document, _: _fleet_text(document), lambda document: document),
    "annotate": Output(("text", "json"), lambda record, _: annotate_text(record), lambda record: record),
}


def _fleet_text(document: dict) -> str:
    from netreset.report.fleet import fleet_text

    return fleet_text(document)


def offered(command: str) -> tuple[str, ...]:
    """The formats ``command`` offers, the default first (its ``--format`` choices)."""
    return OUTPUTS[command].formats


def write(command: str, fmt: str, records, out: Callable[[str], Any], analysis=None) -> None:
    """Write ``command``'s records in format ``fmt`` through ``out`` (called once per piece);
    ``analysis``: what the records came from, for text that counts its conversations."""
    output = OUTPUTS[command]
    if fmt not in output.formats:
        raise ValueError(f"{command} offers no {fmt} output")
    if fmt == "json":
        write_json(output.document(records), out)
    elif fmt == "csv":
        rows, columns = output.csv(records)
        write_csv(rows, columns, out)
    elif fmt == "zeek":
        for part in output.zeek(records, analysis):
            out(part)
    else:
        written = output.text(records, analysis)
        for part in [written] if isinstance(written, str) else written:
            out(part)


def render(command: str, fmt: str, records, analysis=None) -> str:
    """:func:`write`'s output as one string (for a file)."""
    parts: list[str] = []
    write(command, fmt, records, parts.append, analysis)
    return "".join(parts)


#: ``watch`` prints one finding at a time, as it is judged: a line of text, or one JSON object per line
#: (JSON Lines: the record of ``locate-reset``/``handshakes`` plus ``kind``; the last line ``kind: summary``).
WATCH_FORMATS = ("text", "json")


def watch_line(fmt: str, record: dict) -> str:
    """One finding (or the closing summary, ``kind: summary``) of ``watch`` in format ``fmt``."""
    from netreset.records.json import json_line
    from netreset.report.watch import finding_line

    if fmt not in WATCH_FORMATS:
        raise ValueError(f"watch offers no {fmt} output")
    return json_line(record) if fmt == "json" else finding_line(record)
