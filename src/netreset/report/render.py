"""Renderers: one record list → text table, CSV or JSON. No analysis happens here.

Text tables are plain aligned columns so they paste into a ticket unchanged; numbers align right.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Sequence


def render_json(document: dict) -> str:
    """Pretty JSON (stable key order as built) with a trailing newline."""
    return json.dumps(document, indent=2, default=_json_default) + "\n"


def _json_default(value: Any):
    # numpy scalars and tuples that slip into records
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render_csv(rows: Iterable[dict], columns: Sequence[str]) -> str:
    """CSV with a header row; lists are joined with spaces so each cell stays one value."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return out.getvalue()


def render_table(rows: Sequence[dict], columns: Sequence[tuple[str, str]]) -> str:
    """An aligned text table. ``columns`` = (key, heading) pairs."""
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    headings = [heading for _, heading in columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headings)]
    numeric = [all(_is_number(row.get(key)) for row in rows) and rows for key, _ in columns]
    lines = [_line(headings, widths, [False] * len(widths)), _line(["-" * w for w in widths], widths, numeric)]
    lines += [_line(r, widths, numeric) for r in cells]
    return "\n".join(lines) + "\n"


def _line(values: Sequence[str], widths: Sequence[int], right: Sequence) -> str:
    parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)]
    return "  ".join(parts).rstrip()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if value != int(value) or abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, (list, tuple)):
        return " ".join(_cell(v) for v in value)
    return str(value)
