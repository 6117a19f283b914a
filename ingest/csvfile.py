"""Reading CSV exports: header aliases, line numbers, typed fields with precise errors."""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from pathlib import Path
from weakref import WeakKeyDictionary

from ingest.errors import MAX_PROBLEMS, IngestError, ProblemList, read_limited

MAX_FIELD_CHARS = 4096

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN = re.compile(r"""^(
    [+-]?\d([\d,. \u00a0\u202f]*\d)?([eE][+-]?\d+)?%?         # 5  1,234.50  1.234,56  1 234,56  1e3
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
        """An amount written 1,234.56, 1234.56, 1.234,56, 1 234,56 or 999,00 (a leading $, € or £ is
        dropped). A shape no convention reads is refused; 1.234 or 1,234 (either convention reads it,
        differently) is read with a decimal point, and refused in a file whose other numbers use a
        decimal comma."""
        value = self.text(field)
        if value is None:
            return None
        try:
            amount = read_amount(value.lstrip("$€£"))
        except ValueError:
            self.problems.add(f"{value!r} is not a number", self.line, field)
            return None
        marks = _FILE_MARKS.setdefault(self.problems, _DecimalMarks())
        seen = NumberSeen(self.line, field, value, amount.value)
        if amount.ambiguous:
            if marks.comma is not None:
                self.problems.add(_ambiguous(seen, marks.comma), self.line, field)
                return None
            marks.hold(seen)
        elif amount.mark == "," and marks.comma is None:
            marks.comma = seen
            if marks.more_held:          # first, so the error's cut-off cannot hide it
                self.problems.add(f"{len(marks.held) + marks.more_held} numbers before line {self.line} have an "
                                  f"ambiguous shape such as {marks.held[0].value!r} and this file writes decimal "
                                  f"commas; the first {len(marks.held)} follow")
            for held in marks.held:      # read before this file showed its decimal comma
                self.problems.add(_ambiguous(held, seen), held.line, held.field)
        return amount.value

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


# Reading amounts. Snipe-IT writes costs with its "digit separator" setting, 1,234.56 or 1.234,56
# (Helper::formatCurrencyOutput), and hand-made CSVs add 1 234,56 and 999,00. The shape decides: the
# last '.' or ',' is the decimal mark unless it is followed by exactly three digits after a short
# head, where both conventions read it, differently (1.234 is 1.234 or 1234).
_THOUSANDS_SPACES = " \u00a0\u202f"     # French and Swiss exports group with (narrow) no-break spaces
_EXPONENT = re.compile(r"[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]+")
_GROUPED = re.compile(r"[1-9][0-9]{0,2}(?:([^0-9])[0-9]{3})(?:\1[0-9]{3})*")
_SHORT_HEAD = re.compile(r"[1-9][0-9]{0,2}")
_LAKH = re.compile(r"[1-9][0-9]?(?:,[0-9]{2})*,[0-9]{3}")   # Indian grouping: 1,23,456 (with a decimal point)


@dataclass(frozen=True)
class Amount:
    value: float
    mark: str | None            # the decimal mark the shape proves: '.', ',' or None (no sign of either)
    ambiguous: bool = False     # 1.234 or 1,234: read with a decimal point


def _digits(head: str, separators: str) -> str | None:
    """head's digits when it is plain digits or grouped in threes by one of separators, else None."""
    if re.fullmatch(r"[0-9]*", head):
        return head
    grouped = _GROUPED.fullmatch(head)
    if (grouped and grouped[1] in separators) or ("," in separators and _LAKH.fullmatch(head)):
        return re.sub(r"[^0-9]", "", head)
    return None


def read_amount(text: str) -> Amount:
    """An amount by its shape (see FieldReader.number); ValueError when no convention reads it or it
    is too large for a float ('1e400')."""
    amount = _read_amount(text)
    if not math.isfinite(amount.value):
        raise ValueError(text)
    return amount


def _read_amount(text: str) -> Amount:
    body = text.strip()
    sign = body[0] if body[:1] in ("+", "-") else ""
    body = body[len(sign):]
    if _EXPONENT.fullmatch(body):
        return Amount(float(sign + body), "." if "." in body else None)
    cut = max(body.rfind("."), body.rfind(","))
    if cut < 0:
        digits = _digits(body, _THOUSANDS_SPACES)
        if not digits:
            raise ValueError(text)
        return Amount(float(sign + digits), None)
    mark, head, tail = body[cut], body[:cut], body[cut + 1:]
    other = "," if mark == "." else "."
    if mark == "." and not tail and re.fullmatch(r"[0-9]+", head):
        return Amount(float(sign + head), ".")                # '5.': a decimal point with nothing after it
    if not re.fullmatch(r"[0-9]+", tail):
        raise ValueError(text)
    if len(tail) == 3 and _SHORT_HEAD.fullmatch(head):
        return Amount(float(sign + (f"{head}.{tail}" if mark == "." else head + tail)), None, ambiguous=True)
    if len(tail) == 3 and mark in head:             # 1.234.567, 1,234,567 or 1,23,456: thousands only
        digits = re.sub(r"[^0-9]", "", head) if _LAKH.fullmatch(body) else _digits(head, mark)
        if digits is None:
            raise ValueError(text)
        return Amount(float(sign + digits + tail), other)
    digits = _digits(head, other + _THOUSANDS_SPACES)
    if digits is None:
        raise ValueError(text)
    return Amount(float(f"{sign}{digits or 0}.{tail}"), mark)


@dataclass(frozen=True)
class NumberSeen:
    line: int
    field: str
    value: str          # as written
    amount: float       # as read


@dataclass
class _DecimalMarks:
    """One file's evidence: its first decimal comma, and the ambiguous numbers read before it."""
    comma: NumberSeen | None = None
    held: list[NumberSeen] = dataclass_field(default_factory=list)
    more_held: int = 0

    def hold(self, seen: NumberSeen) -> None:
        if len(self.held) < MAX_PROBLEMS:
            self.held.append(seen)
        else:
            self.more_held += 1


# Each connector makes one ProblemList per file, so it is the file's key; the weak reference lets the
# evidence go with the parse.
_FILE_MARKS: WeakKeyDictionary[ProblemList, _DecimalMarks] = WeakKeyDictionary()


def _ambiguous(seen: NumberSeen, comma: NumberSeen) -> str:
    """seen was read with a decimal point; the message gives both readings."""
    decimal_comma = float(seen.value.lstrip("$€£").replace(".", "").replace(",", "."))
    return (f"{seen.value!r} is ambiguous ({seen.amount:g} or {decimal_comma:g}) and this file writes decimal commas "
            f"(line {comma.line}, field '{comma.field}': {comma.value!r}); write its decimals too, "
            "as Snipe-IT does (1.234,00)")
