"""Report rows as CSV or an aligned text table: nested values flattened to dotted columns."""

import csv
import io
from collections.abc import Sequence
from typing import Any


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested values as dotted columns: ``categories.analytics.opt_ins``."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    # The union of every row's columns, in first-seen order (categories differ by site).
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def report_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A report document's rows without the group columns it was not grouped by."""
    unused = {"day", "region"} - set(document["group_by"])
    return [{k: v for k, v in row.items() if k not in unused} for row in document["rows"]]


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """RFC 4180 CSV with a header row; an empty rate is an empty field."""
    flat = [flatten(r) for r in rows]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = _columns(flat)
    writer.writerow(columns)
    for row in flat:
        writer.writerow([_text(row.get(c)) for c in columns])
    return out.getvalue()


def to_table(rows: Sequence[dict[str, Any]]) -> str:
    """One block per row, ``column  value`` lines: reports are too wide for a terminal."""
    if not rows:
        return "(no data in this range)"
    blocks = []
    for row in map(flatten, rows):
        width = max(map(len, row))
        blocks.append("\n".join(f"{k.ljust(width)}  {_text(v)}" for k, v in row.items()))
    return "\n\n".join(blocks)
