"""CSV and JSON exports that a spreadsheet opens safely and a diff compares byte for byte."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime
from typing import Any, Iterable

_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def formula_safe(value: Any) -> str:
    """A cell a spreadsheet shows as text: values starting with '=', '+', '-', '@', tab or CR (and not a
    plain number) get a leading apostrophe, as OWASP recommends against CSV injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    text = value.isoformat() if isinstance(value, date) else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def csv_text(header: list[str], rows: Iterable[list[Any]], preamble: Iterable[str] = ()) -> str:
    """CSV with '\\n' line ends; preamble lines are written first as '# ' comments."""
    out = io.StringIO()
    for line in preamble:
        out.write(f"# {formula_safe(line)}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([formula_safe(v) for v in row])
    return out.getvalue()


def json_text(data: Any) -> str:
    """Stable JSON: sorted keys, dates as ISO text, a final newline."""
    def default(value):
        if isinstance(value, (date, datetime)):
            return value.isoformat()
        raise TypeError(f"{type(value).__name__} is not JSON")
    return json.dumps(data, indent=2, sort_keys=True, default=default, ensure_ascii=False) + "\n"


def report_csv(report) -> str:
    """The inventory evidence report as CSV: a header naming the time and runs, the assets, the summary."""
    preamble = [f"itam-graph inventory evidence report, generated {report.generated_at.isoformat()}, "
                f"as of {report.today.isoformat()}"]
    preamble += [f"ingest run {r['source']}: {r['id']} finished {formula_safe(r['finished'])}" for r in report.runs]
    columns = ["asset_tag", "name", "recorded_stage", "effective_stage", "owner", "controls", "last_seen",
               "last_audit", "next_audit_due", "audit_status", "licence_status"]
    text = csv_text(columns, ([a[c] for c in columns] for a in report.assets), preamble)
    text += "\n" + csv_text(["figure", "meeting", "total", "percent", "query", "cypher"],
                            ([f["figure"], f["meeting"], f["total"], f["percent"], f["query"],
                              " ".join(f["cypher"].split())] for f in report.completeness))
    return text
