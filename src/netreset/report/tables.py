"""Record lists as aligned text tables and as CSV. No analysis happens here.

Text tables are plain aligned columns so they paste into a ticket unchanged; numbers align right. CSV
cells are spelt as in the tables (lists joined with spaces, so each cell stays one value).
"""

from __future__ import annotations

import csv
import io
from typing import Any, Callable, Iterable, Sequence


def write_csv(rows: Iterable[dict], columns: Sequence[str], write: Callable[[str], Any], batch: int = 1000) -> None:
    """CSV with a header row, written every ``batch`` rows (the rows may be a merged stream of records)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for number, row in enumerate(rows, 1):
        writer.writerow({k: _cell(row.get(k)) for k in columns})
        if number % batch == 0:
            write(out.getvalue())
            out.seek(0)
            out.truncate()
    write(out.getvalue())


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
