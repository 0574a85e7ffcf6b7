"""Text renderings meant to be pasted into a ticket: short, aligned, every number with its meaning."""

from __future__ import annotations

import textwrap
from typing import Iterable, Iterator

from netreset.flows.model import endpoint
from netreset.report.causes import cause_line
from netreset.report.tables import render_table

RESET_CSV_COLUMNS = [
    "conversation", "frame", "ts", "src", "sport", "dst", "dport", "observed_ttl", "initial_ttl",
    "routers_between", "traceroute_hop", "claimed_sender_routers_between", "verdict", "confidence",
    "reason", "display_filter", "advice", "server_name", "idle_before_s", "cause_codes",
]
MAX_FINDINGS_SHOWN = 25


def summary_text(doc: dict) -> str:
    lines = [
        f"{doc['packets_total']} packets read, {doc['tcp_packets']} TCP; {doc['conversations_total']} TCP conversations.",
        "",
        "By outcome:     " + _counts(doc["by_outcome"]),
        "By conn_state:  " + _counts(doc["by_conn_state"]),
    ]
    if doc.get("by_cause"):
        lines.append("By cause:       " + _counts(doc["by_cause"]))
    findings = doc["findings"]
    none = ("Findings: none from the TCP analyses (the causes above come from the application layer: "
            "`netreset conversations` or `netreset report` says why)." if doc.get("by_cause") else "Findings: none.")
    lines += ["", f"Findings ({len(findings)}):" if findings else none]
    for f in findings[:MAX_FINDINGS_SHOWN]:
        verdict = f" [{f['verdict']}, confidence {f['confidence']:.2f}]" if f.get("verdict") else ""
        lines.append(f"  - {f['kind']} in conversation {f['conversation']}{verdict}: {f['summary']}")
    if len(findings) > MAX_FINDINGS_SHOWN:
        lines.append(f"  … {len(findings) - MAX_FINDINGS_SHOWN} more (use --format json for all).")
    if doc["decode_problems"]:
        lines += ["", "Frames not decoded: " + _counts(doc["decode_problems"])]
    if doc.get("non_first_fragments"):
        lines.append(f"Non-first IP fragments skipped: {doc['non_first_fragments']}")
    if doc.get("other_protocols"):
        lines.append("Other protocols (not analysed): " + _counts(doc["other_protocols"]))
    if doc.get("decode_hint"):
        lines += ["", "Note: " + doc["decode_hint"]]
    return "\n".join(lines) + "\n"


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def resets_text_parts(rows: Iterable[dict], analysis) -> Iterator[str]:
    """``locate-reset``'s text in pieces, one per RST (rows may be a merged stream of records)."""
    if not rows:
        yield f"No TCP resets in {analysis.conversation_count()} conversations.\n"
        return
    for i, r in enumerate(rows, 1):
        yield ("\n" if i > 1 else "") + _reset_block(i, r)


def _reset_block(number: int, r: dict) -> str:
    hop = r.get("traceroute_hop")
    lines = [
        f"RST #{number}: frame {r['frame']}, conversation {r['conversation']}"
        + (f", for {r['server_name']}" if r.get("server_name") else ""),
        f"  {endpoint(r['src'], r['sport'])} -> {endpoint(r['dst'], r['dport'])}  (claims to come from {r['src']}"
        + (f"; service {r['server_name']})" if r.get("server_name") else ")"),
        f"  TTL {r['observed_ttl']} observed; initial {r['initial_ttl']}; {r['routers_between']} routers between"
        + (f" (traceroute hop {hop})" if hop is not None else ""),
    ]
    if r.get("claimed_sender_routers_between") is not None:
        lines.append(f"  {r['src']}'s own packets: {r['claimed_sender_routers_between']} routers between")
    lines.append(f"  verdict: {str(r['verdict']).upper()} (confidence {r['confidence']:.2f}, reason {r['reason']})")
    if r.get("idle_before_s") is not None:
        lines.append(f"  idle: {r['idle_before_s']:.1f} s of silence before the packet this RST answers")
    lines += [f"  cause {cause_line(c)}" for c in r.get("causes") or []]
    for e in r.get("evidence", []):
        lines.append(f"    - {e['code']}: observed {e['observed']}, expected {e['expected']} (weight {e['weight']:+.2f})"
                     + (f" — {e['detail']}" if e.get("detail") else ""))
    lines.append(f"  Wireshark filter: {r['display_filter']}")
    lines.append(f"  {r['advice']}")
    return "\n".join(lines) + "\n"


def handshakes_text_parts(rows: Iterable[dict]) -> Iterator[str]:
    """``handshakes``' text in pieces, one per finding (rows may be a merged stream of records)."""
    if not rows:
        yield "Every handshake and teardown in the selection completed.\n"
        return
    for i, r in enumerate(rows):
        head = f"{r.get('kind')} — conversation {r.get('conversation')}"
        if r.get("display_filter"):
            head += f"  [{r['display_filter']}]"
        body = textwrap.fill(str(r.get("summary", "")), width=100, initial_indent="  ", subsequent_indent="  ")
        yield f"{'' if i == 0 else chr(10)}{head}\n{body}\n"


def hosts_text(rows: list[dict]) -> str:
    if not rows:
        return "No hosts.\n"
    columns = [(k, k) for k in rows[0] if not isinstance(rows[0][k], (dict, list))]
    shown = [dict(r, address=f"{r['address']} ({_names(r['names'])})") if r.get("names") else r for r in rows]
    return render_table(shown, columns)


MAX_NAMES_SHOWN = 2  #: names beside an address in a table; the rest are counted (all of them: --format json)


def _names(names: list[str]) -> str:
    more = len(names) - MAX_NAMES_SHOWN
    return ", ".join(names[:MAX_NAMES_SHOWN]) + (f", +{more} more" if more > 0 else "")


def _seen_tuple(t: list | None) -> str:
    return "(not seen)" if t is None else f"{t[0]}:{t[1]} → {t[2]}:{t[3]}"


def comparison_text(document: dict) -> str:
    """The compare report for a terminal or a ticket."""
    clock = document["clock"]
    lines = [f"A: {document['a']}", f"B: {document['b']}"]
    if clock["offset_s"] is None:
        lines.append("Clock: no packet seen by both captures; offset unknown.")
    else:
        delay = "" if clock["one_way_delay_s"] is None else f", one-way delay {clock['one_way_delay_s'] * 1e3:.3f} ms"
        lines.append(f"Clock: B − A = {clock['offset_s']:+.6f} s, drift {clock['drift_ppm']:+.1f} ppm{delay} "
                     f"({clock['method']}, {clock['pairs']} packets, residual median {clock['residual_median_s'] * 1e6:.1f} µs, "
                     f"max {clock['residual_max_s'] * 1e6:.1f} µs)")
    if document["routers_between_vantage_points"] is not None:
        lines.append(f"Routers between the capture points: {document['routers_between_vantage_points']}")
    if document["other_interfaces"]:
        lines.append(f"Not compared here: {', '.join(document['other_interfaces'])}")
    for c in document["conversations"]:
        lines += ["", f"A {_seen_tuple(c['a'])}   |   B {_seen_tuple(c['b'])}",
                  f"  joined by {c['join']}: {c['matched_packets']} packets in both, "
                  f"{len(c['only_in_a'])} only in A, {len(c['only_in_b'])} only in B"]
        for side in ("only_in_a", "only_in_b"):
            for o in c[side]:
                lines.append(f"  {side.replace('_', ' ')}: frame {o['frame']} {o['packet']} [{o['flags']}] "
                             f"{o['direction']} TTL {o['ttl']}: {o['kind'].upper()}")
        lines += [f"  - {note}" for note in c["notes"]]
    return "\n".join(lines) + "\n"
