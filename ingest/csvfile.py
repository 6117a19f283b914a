"""Reading CSV exports: header aliases, line numbers, typed fields with precise errors."""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from ingest.errors import IngestError, ProblemList, read_limited

MAX_FIELD_CHARS = 4096

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN = re.compile(r"""^(
    [+-]?\d[\d,]*(\.\d+)?([eE][+-]?\d+)?%?                      # 5  1,234.50  1e3
  | \d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?   # ISO date or datetime
  | \d{1,2}[/.]\d{1,2}[/.]\d{2,4}                                # 31/12/2026
)$""", re.VERBOSE)


def refuse_formula(value: str) -> str:
    """The value itself, or ValueError if a spreadsheet would run it as a formula: reports export
    these fields, so a value starting with =, +, -, @, tab or CR that is not a plain number or date
    is refused (CSV injection)."""
    text = value.lstrip(" ")
    if text[:1] in FORMULA_STARTS and len(text) > 1 and not _PLAIN.match(text[1:].strip()):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f"{shown!r} looks like a spreadsheet formula (starts with {text[0]!r}); "
                         "refused because reports export this field")
    return value


def split_list(value: str) -> list[str]:
    """'a; b|c' -> ['a', 'b', 'c']: items separated by ';' or '|', blanks dropped."""
    return [item.strip() for item in re.split(r"[;|]", value) if item.strip()]


def _header_name(raw: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", raw.strip().lower()).strip("_")


class CsvRows:
    """A CSV export read whole, with headers mapped onto the connector's column names."""

    def __init__(self, path: Path, limit_bytes: int, aliases: dict[str, str], required: tuple[str, ...]):
        self.path = path
        data = read_limited(path, limit_bytes)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise IngestError.one(path, f"not UTF-8 text (byte {exc.start})", line) from None
        self._reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            header = next(self._reader)
        except StopIteration:
            raise IngestError.one(path, "empty file: expected a header row") from None
        except csv.Error as exc:
            raise IngestError.one(path, f"malformed CSV: {exc}", 1) from None
        self.columns = [aliases.get(_header_name(h), _header_name(h)) for h in header]
        missing = [c for c in required if c not in self.columns]
        if missing:
            raise IngestError.one(path, f"header lacks column(s) {', '.join(missing)}; found {', '.join(header)}", 1)

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(line number, {column: stripped value}) for each non-empty row."""
        width = len(self.columns)
        while True:
            try:
                values = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise IngestError.one(self.path, f"malformed CSV: {exc}", self._reader.line_num) from None
            line = self._reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != width:
                raise IngestError.one(self.path, f"{len(values)} fields where the header has {width}", line)
            for column, value in zip(self.columns, values):
                if len(value) > MAX_FIELD_CHARS:
                    raise IngestError.one(self.path, f"value longer than {MAX_FIELD_CHARS} characters", line, column)
            yield line, {c: v.strip() for c, v in zip(self.columns, values)}


class FieldReader:
    """Typed access to one row's fields; bad values become problems naming line and field."""

    def __init__(self, problems: ProblemList, line: int, row: dict[str, str]):
        self.problems, self.line, self.row = problems, line, row

    def text(self, field: str) -> str | None:
        """The field's text, None when empty; a formula-looking value is a problem on this field."""
        value = self.row.get(field) or None
        if value is not None:
            try:
                refuse_formula(value)
            except ValueError as exc:
                self.problems.add(str(exc), self.line, field)
                return None
        return value

    def secret(self, field: str) -> str | None:
        """A secret's text (a licence key), None when empty. Never checked, so never quoted in an error:
        it is only fingerprinted, never stored or exported."""
        return self.row.get(field) or None

    def required(self, field: str) -> str | None:
        value = self.text(field)
        if value is None:
            self.problems.add("is empty", self.line, field)
        return value

    def date(self, field: str) -> date | None:
        value = self.text(field)
        if value is None:
            return None
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            self.problems.add(f"{value!r} is not a date (YYYY-MM-DD)", self.line, field)
            return None

    def number(self, field: str) -> float | None:
        value = self.text(field)
        if value is None:
            return None
        try:
            number = float(value.replace(",", "").lstrip("$€£"))
        except ValueError:
            number = math.nan
        if not math.isfinite(number):       # 'inf' and 'nan' parse as floats but are no quantity
            self.problems.add(f"{value!r} is not a number", self.line, field)
            return None
        return number

    def whole(self, field: str) -> int | None:
        value = self.number(field)
        if value is None:
            return None
        if value != int(value) or value < 0:
            self.problems.add(f"{self.row[field]!r} is not a whole number", self.line, field)
            return None
        return int(value)

    def check(self, field: str, convert):
        """convert(value) or None, recording its ValueError as a problem on this field."""
        value = self.text(field)
        if value is None:
            return None
        try:
            return convert(value)
        except ValueError as exc:
            self.problems.add(str(exc), self.line, field)
            return None
