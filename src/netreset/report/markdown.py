"""The one-page report as Markdown, with its figures as PNG files beside it (for wikis and tickets).

Markdown renderers pass raw HTML through, so capture-derived text is HTML-escaped *and* has Markdown's
own punctuation backslash-escaped: a pcapng comment cannot inject a link, an image or a table cell.
This module only builds the text and the figures; the caller writes them.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Sequence

from matplotlib.figure import Figure

from netreset.plots.figures import hops_figure, ladder_figure, overview_figure
from netreset.plots.hops import hops_text
from netreset.report.causes import cause_codes, cause_line, event_label
from netreset.report.html import (MAX_TIMELINES, conversation_rows, failing_conversations, hop_paths, ladder_facts,
                                  named_endpoints)
from netreset.report.summary import summary_document

if TYPE_CHECKING:  # pragma: no cover
    from netreset.pipeline.whole import Analysis

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def md(value) -> str:
    """Text → Markdown that renders as exactly that text (HTML escaped, Markdown punctuation escaped)."""
    text = html.escape("" if value is None else str(value), quote=False).replace("\n", " ")
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def _table(headings: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    lines = ["| " + " | ".join(md(h) for h in headings) + " |", "|" + "---|" * len(headings)]
    lines += ["| " + " | ".join(md(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _fenced(text: str) -> list[str]:
    """A code block: no escaping inside, so the fence must be longer than any backtick run in the text."""
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return [fence, text.rstrip("\n"), fence, ""]


def render_markdown(analysis: "Analysis", capture_names: Sequence[str], image_dir: str) -> tuple[str, dict[str, Figure]]:
    """The report text and its figures (file name inside ``image_dir`` → Figure, to be saved as PNG)."""
    document = summary_document(analysis)
    figures: dict[str, Figure] = {"overview.png": overview_figure(analysis.table, analysis.conversations,
                                                                   analysis.resets)}
    lines = [f"# netreset report: {md(', '.join(capture_names))}", "",
             f"{document['packets_total']} frames read, {document['tcp_packets']} TCP segments, "
             f"{document['conversations_total']} TCP conversations, {len(analysis.resets)} resets.", "",
             "By outcome: " + md(", ".join(f"{k} {v}" for k, v in document["by_outcome"].items()) or "none"), "",
             "## Findings", ""]
    lines += _table(["kind", "conversation", "verdict", "confidence", "what it means"],
                    [(f["kind"], f["conversation"], f.get("verdict") or "", f.get("confidence") or "",
                      f.get("summary") or "") for f in document["findings"]]) if document["findings"] else ["None.", ""]
    lines += ["## Causes", ""]
    records = conversation_rows(analysis, analysis.conversations)
    caused = [(r, c) for r in records for c in r["causes"]]
    if caused:
        lines += ["By cause: " + md(", ".join(f"{k} {v}" for k, v in document["by_cause"].items())), ""]
        lines += _table(["conversation", "endpoints", "cause", "what it means", "frames", "application events"],
                        [(r["id"], " → ".join(named_endpoints(r)), c["code"], c["sentence"],
                          " ".join(str(f) for f in c["frames"]), "; ".join(event_label(e) for e in r["app_events"]))
                         for r, c in caused])
    else:
        lines += ["None.", ""]
    lines += ["## Resets", ""]
    for number, (r, path) in enumerate(zip(analysis.resets, hop_paths(analysis)), 1):
        v = r.to_dict()
        name = f"hops-{number}.png"
        figures[name] = hops_figure([path])
        service = f", for {md(v['server_name'])}" if v.get("server_name") else ""
        lines += [f"### RST #{number}: frame {v['frame']}, conversation {v['conversation']}{service}: "
                  f"{md(str(v['verdict']).upper())} (confidence {float(v['confidence']):.2f})", ""]
        lines += [f"- cause {md(cause_line(c))}" for c in v.get("causes") or []]
        lines += [""] if v.get("causes") else []
        lines += [md(v["advice"]), ""]
        lines += _table(["evidence", "observed", "expected", "weight", "detail"],
                        [(e["code"], e["observed"], e["expected"], f"{e['weight']:+.2f}", e.get("detail", ""))
                         for e in v.get("evidence", [])])
        lines += [f"![hop diagram of RST #{number}]({image_dir}/{name})", ""] + _fenced(hops_text(path))
    lines += ["## Timelines of failing conversations", ""]
    for c in failing_conversations(analysis)[:MAX_TIMELINES]:
        figures[f"ladder-{c.id}.png"] = ladder_figure(analysis.table, c, analysis.resets, **ladder_facts(analysis, c))
        lines += [f"![ladder of conversation {c.id}]({image_dir}/ladder-{c.id}.png)", ""]
    lines += ["## All conversations", "", f"![overview]({image_dir}/overview.png)", ""]
    lines += _table(["id", "orig", "resp", "state", "history", "outcome", "causes"],
                    [(r["id"], *named_endpoints(r), r["conn_state"], r["history"], r["outcome"],
                      " ".join(cause_codes(r["causes"]))) for r in records])
    return "\n".join(lines), figures
