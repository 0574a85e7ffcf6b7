"""The one-page HTML report for a network team: summary, findings, the causes (for which name, why, with
the application events), every reset with its causes, evidence and hop diagram, the ladder of each failing
conversation (its application events on the arrows), the overview, the conversation table (names beside
addresses).

Self-contained on purpose: figures are inline SVG (text kept as text, so the page is searchable), styles
are inline, there is no script, so the file can be attached to a ticket and opened anywhere offline.
Captures are untrusted input: every string that comes from one (file names, pcapng interface names,
descriptions and comments, addresses, decoded text) passes through :func:`esc` before it reaches markup;
inside SVG, matplotlib's writer escapes text.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import TYPE_CHECKING, Iterable, Sequence

from netreset import __version__
from netreset.plots import style
from netreset.plots.figures import figure_svg, hops_figure, ladder_figure, overview_figure
from netreset.plots.hops import HopPath, hop_path, hops_text
from netreset.records.conversations import conversation_record, conversation_text_row
from netreset.report.causes import cause_codes, event_label, frames_text
from netreset.flows.model import endpoint
from netreset.report.summary import summary_document

if TYPE_CHECKING:  # pragma: no cover
    from netreset.pipeline.whole import Analysis

MAX_TIMELINES = 12  #: ladders drawn for failing conversations; the rest are listed
MAX_TABLE_ROWS = 1000  #: conversation table rows; beyond, a note points to `conversations --format csv`
FINE_OUTCOMES = ("clean", "open")

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1180px;color:#222;
line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .55em;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.num{text-align:right}
.chip{display:inline-block;padding:.15em .6em;border-radius:1em;color:#fff;margin:.1em .3em .1em 0;font-size:.9em}
.verdict-middlebox{color:#7B0000;font-weight:bold}.verdict-peer{color:#D55E00;font-weight:bold}
.verdict-undetermined{color:#6A3D9A;font-weight:bold}.reset{border:1px solid #ddd;border-radius:6px;padding:.2em 1em 1em;
margin:1em 0}pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}code{font-size:.9em}
figure{margin:.8em 0}figure svg{max-width:100%;height:auto}.muted{color:#666}
"""


def esc(value) -> str:
    """Text → HTML, quotes included (values also land in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def failing_conversations(analysis: "Analysis") -> list:
    """Conversations worth a ladder: every one whose outcome is not clean or open, or that has a cause (a
    proxy's 407 on a cleanly closed connection failed all the same), in start order."""
    causes = analysis.causes
    return [c for c in analysis.conversations if c.outcome not in FINE_OUTCOMES or causes.get(c.id, (None, []))[1]]


def ladder_facts(analysis: "Analysis", conversation) -> dict:
    """What a ladder shows beyond the packets (keywords of :func:`~netreset.plots.figures.ladder_figure` and
    :func:`~netreset.plots.ladder.plan_ladder`): the conversation's application events, its idle gap before
    the reset and its service name."""
    app = analysis.application.get(conversation.id)
    idle, _ = analysis.causes.get(conversation.id, (None, []))
    return {"events": app.events if app is not None else (), "idle_s": idle,
            "server_name": app.server_name if app is not None else None}


def hop_paths(analysis: "Analysis") -> list[HopPath]:
    """One hop path per selected reset, judged against every packet of the capture."""
    by_id = {c.id: c for c in analysis.all_conversations}
    return [hop_path(r, analysis.table, by_id.get(r.conversation)) for r in analysis.resets]


def _table(headings: Sequence[str], rows: Iterable[Sequence], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f'<td class="num">{esc(v)}</td>' if i in numeric else f"<td>{esc(v)}</td>"
                                    for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summary(analysis: "Analysis", document: dict) -> str:
    counts = Counter(style.category(c.outcome) for c in analysis.conversations)
    chips = "".join(f'<span class="chip" style="background:{colour}">{esc(label)}: {counts[key]}</span>'
                    for key, label, colour in style.CATEGORIES if counts[key])
    stats = analysis.stats
    lines = [f"<p>{document['packets_total']} frames read, {document['tcp_packets']} TCP segments, "
             f"{document['conversations_total']} TCP conversations, {len(analysis.resets)} resets.</p>",
             f"<p>{chips or 'No TCP conversations.'}</p>"]
    interfaces = [(i.id, i.name, i.description) for i in stats.interfaces if i.name or i.description]
    if interfaces:
        lines.append("<h3>Capture interfaces</h3>" + _table(["id", "name", "description"], interfaces))
    if stats.comments:
        lines.append("<h3>Capture comments</h3><ul>" + "".join(f"<li>{esc(c)}</li>" for c in stats.comments) + "</ul>")
    problems = [*(f"{k}: {v}" for k, v in document["decode_problems"].items()), *document["warnings"]]
    if problems:
        lines.append("<h3>Decode problems and warnings</h3><ul>" + "".join(f"<li>{esc(p)}</li>" for p in problems)
                     + "</ul>")
    return "\n".join(lines)


def _findings(document: dict) -> str:
    rows = [(f["kind"], f["conversation"], " ".join(str(x) for x in f.get("frames") or []), f.get("verdict") or "",
             f"{f['confidence']:.2f}" if f.get("confidence") is not None else "", f.get("summary") or "")
            for f in document["findings"]]
    if not rows:
        return ("<p>No TCP findings: every handshake and teardown completed or is still open, nothing was reset "
                "(the application layer may still name a cause: see Causes).</p>")
    return _table(["kind", "conversation", "frames", "verdict", "confidence", "what it means"], rows, numeric=(1,))


def conversation_rows(analysis: "Analysis", conversations) -> list[dict]:
    """The ``conversations --format json`` records of ``conversations`` (names, events and causes included)."""
    return [conversation_record(c, analysis.table, analysis.application.get(c.id), analysis.causes.get(c.id))
            for c in conversations]


def named_endpoints(record: dict) -> tuple[str, str]:
    """A conversation record's two endpoints with their names beside them, as the text table spells them."""
    row = conversation_text_row(record)
    return row["orig"], row["resp"]


def _causes(analysis: "Analysis", document: dict) -> str:
    """Every cause of every selected conversation: what failed, for which name, why, where to look."""
    records = [r for r in conversation_rows(analysis, analysis.conversations) if r["causes"]]
    if not records:
        return "<p>No causes: no conversation failed in a way netreset can explain.</p>"
    counts = ", ".join(f"<code>{esc(k)}</code> {esc(v)}" for k, v in document["by_cause"].items())
    rows = []
    for r in records:
        orig, resp = named_endpoints(r)
        events = "; ".join(event_label(e) for e in r["app_events"])
        rows += [(r["id"], f"{orig} → {resp}", c["code"], c["sentence"], " ".join(str(f) for f in c["frames"]), events)
                 for c in r["causes"]]
    return (f"<p>Conversations by cause: {counts}.</p>"
            + _table(["conversation", "endpoints", "cause", "what it means", "frames", "application events"], rows,
                     numeric=(0,)))


def _reset_block(number: int, verdict: dict, path: HopPath) -> str:
    evidence = _table(["evidence", "observed", "expected", "weight", "detail"],
                      [(e["code"], e["observed"], e["expected"], f"{e['weight']:+.2f}", e.get("detail", ""))
                       for e in verdict.get("evidence", [])], numeric=(3,))
    svg = figure_svg(hops_figure([path]), f"hops{number}")
    sender = endpoint(verdict["src"], verdict["sport"])
    service = f", for {esc(verdict['server_name'])}" if verdict.get("server_name") else ""
    idle = (f" {verdict['idle_before_s']:.1f} s of silence before the packet it answers."
            if verdict.get("idle_before_s") is not None else "")
    causes = ('<ul class="causes">' + "".join(f"<li><code>{esc(c['code'])}</code>: {esc(c['sentence'])} "
                                               f'<span class="muted">({esc(frames_text(c["frames"]))})</span></li>'
                                               for c in verdict.get("causes") or []) + "</ul>"
              if verdict.get("causes") else "")
    return (f'<section class="reset"><h3>RST #{number}: frame {esc(verdict["frame"])}, conversation '
            f'{esc(verdict["conversation"])}{service} — <span class="verdict-{esc(verdict["verdict"])}">'
            f'{esc(str(verdict["verdict"]).upper())}</span> (confidence {float(verdict["confidence"]):.2f}, '
            f'reason <code>{esc(verdict["reason"])}</code>)</h3>'
            f"<p>Claims to come from {esc(sender)}; TTL {esc(verdict['observed_ttl'])} observed, initial "
            f"{esc(verdict['initial_ttl'])}, {esc(verdict['routers_between'])} routers between (traceroute hop "
            f"{esc(verdict['traceroute_hop'])}).{idle}</p>{causes}<p><strong>{esc(verdict['advice'])}</strong></p>{evidence}"
            f"<p>Wireshark display filter: <code>{esc(verdict['display_filter'])}</code></p>"
            f"<figure>{svg}</figure><pre>{esc(hops_text(path))}</pre></section>")


def _timelines(analysis: "Analysis") -> str:
    failing = failing_conversations(analysis)
    if not failing:
        return "<p>No failing conversation.</p>"
    parts = [f"<figure>{figure_svg(ladder_figure(analysis.table, c, analysis.resets, **ladder_facts(analysis, c)), f'ladder{c.id}')}</figure>"
             for c in failing[:MAX_TIMELINES]]
    if len(failing) > MAX_TIMELINES:
        rest = ", ".join(str(c.id) for c in failing[MAX_TIMELINES:])
        parts.append(f'<p class="muted">{len(failing) - MAX_TIMELINES} more failing conversations ({esc(rest)}): '
                     "draw one with <code>netreset timeline CAPTURE --stream N -o FILE.svg</code>.</p>")
    return "\n".join(parts)


def _conversation_table(analysis: "Analysis") -> str:
    rows = conversation_rows(analysis, analysis.conversations[:MAX_TABLE_ROWS])
    cells = [(r["id"], *named_endpoints(r),
              r["conn_state"], r["history"], r["completeness"], r["outcome"], r["orig_pkts"], r["resp_pkts"],
              f"{r['duration']:.3f}", r["first_frame"], " ".join(cause_codes(r["causes"]))) for r in rows]
    note = (f'<p class="muted">First {MAX_TABLE_ROWS} of {len(analysis.conversations)} conversations; all of them: '
            "<code>netreset conversations CAPTURE --format csv</code>.</p>"
            if len(analysis.conversations) > MAX_TABLE_ROWS else "")
    return _table(["id", "orig", "resp", "state", "history", "compl.", "outcome", "orig pkts", "resp pkts",
                   "duration s", "first frame", "causes"], cells, numeric=(0, 5, 7, 8, 9, 10)) + note


def render_html(analysis: "Analysis", capture_names: Sequence[str]) -> str:
    """The whole page as one string (the caller writes it)."""
    document = summary_document(analysis)
    verdicts = [r.to_dict() for r in analysis.resets]
    resets = "\n".join(_reset_block(i, v, p) for i, (v, p) in enumerate(zip(verdicts, hop_paths(analysis)), 1)) \
        or "<p>No TCP resets in the selection.</p>"
    overview = figure_svg(overview_figure(analysis.table, analysis.conversations, analysis.resets), "overview")
    title = "netreset report: " + ", ".join(capture_names)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<h1>{esc(title)}</h1>", f'<p class="muted">netreset {esc(__version__)}</p>',
        "<h2>Summary</h2>", _summary(analysis, document),
        "<h2>Findings</h2>", _findings(document),
        "<h2>Causes</h2>", _causes(analysis, document),
        "<h2>Resets</h2>", resets,
        "<h2>Timelines of failing conversations</h2>", _timelines(analysis),
        "<h2>All conversations</h2>", f"<figure>{overview}</figure>", _conversation_table(analysis),
        "</body>", "</html>", ""])
