"""What ``netreset watch`` prints: one line per finding as it is judged, and the closing summary.

A line is meant to be read on a terminal while the watch runs and pasted into a ticket: when, what
(``reset`` with its verdict, or the handshake finding), the tuple, the frame and conversation, and the
advice or summary sentence of the offline record it is. ``--format json`` prints the record itself
instead (:func:`netreset.records.json.json_line`).
"""

from __future__ import annotations

import time


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def finding_line(record: dict) -> str:
    """One finding (a ``locate-reset`` record with ``kind: reset``, or a ``handshakes`` record) as a line; a
    revision of a finding given before (``revised``) says so."""
    if record.get("revised"):
        return "revised: " + finding_line({k: v for k, v in record.items() if k != "revised"})
    if record["kind"] == "reset":
        verdict = record["verdict"].upper()
        where = f" hop {record['traceroute_hop']}" if record["verdict"] == "middlebox" and record.get("traceroute_hop") else ""
        return (f"{_when(record['ts'])}  reset  {verdict}{where} ({record['confidence']:.2f})  "
                f"{record['src']}:{record['sport']} -> {record['dst']}:{record['dport']}  frame {record['frame']}, "
                f"conversation {record['conversation']} — {record['advice']}\n")
    verdict = f" {record['verdict']} ({record['confidence']:.2f})" if record.get("verdict") else ""
    return (f"{_when(record['ts'])}  {record['kind']}{verdict}  {record['orig_h']}:{record['orig_p']} -> "
            f"{record['resp_h']}:{record['resp_p']}  conversation {record['conversation']} — {record['summary']}\n")


def saved_line(path: str) -> str:
    return f"  saved {path}\n"


def summary_text(summary) -> str:
    """The closing lines: how long, how many packets, the findings by kind, the files saved, why it ended."""
    kinds = ", ".join(f"{n} {kind}" + (" (" + ", ".join(f"{v} {verdict}" for verdict, v in sorted(summary.verdicts.items()))
                                         + ")" if kind == "reset" and summary.verdicts else "")
                      for kind, n in sorted(summary.kinds.items()))
    lines = [f"Watched {summary.packets} packets for {summary.seconds:.1f} s ({summary.ended}): "
             f"{summary.findings} finding{'s' if summary.findings != 1 else ''}" + (f": {kinds}" if kinds else "") + "."]
    if summary.saved:
        lines.append(f"Saved {len(summary.saved)} capture{'s' if len(summary.saved) != 1 else ''} (pcapng).")
    return "\n".join(lines) + "\n"


def summary_record(summary) -> dict:
    """The closing summary as a JSON line's record (``kind: summary``)."""
    return {"kind": "summary", "packets": summary.packets, "seconds": round(summary.seconds, 3), "ended": summary.ended,
            "findings": dict(sorted(summary.kinds.items())), "reset_verdicts": dict(sorted(summary.verdicts.items())),
            "saved": list(summary.saved)}
