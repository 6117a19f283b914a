"""Reading JSON sources: typed members with precise errors, the JSON counterpart of csvfile's FieldReader.

Every problem names the file, the line for formats with one record per line (osquery's result log),
and the member's JSON path (``Reservations[0].Instances[1].InstanceId``), so the user can go
straight to the value. AWS, SBOM, osquery and SCIM all read through :class:`JsonFields`.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from ingest.errors import ProblemList

T = TypeVar("T")

_EXPECTED = {str: "a string", int: "a whole number", bool: "a boolean", list: "a list", dict: "an object"}
_WHOLE = re.compile(r"^-?\d+$")


def json_kind(value: Any) -> str:
    """A JSON value's type as the user knows it: 'null', 'a boolean', 'a number', 'a string', 'a list', 'an object'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def shown(value: Any) -> str:
    """A JSON value as it appears in the file, cut to 60 characters, for messages."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def member(path: str, key: str) -> str:
    """The JSON path of ``key`` inside the object at ``path`` ('' is the document itself)."""
    return f"{path}.{key}" if path else key


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date and time; one without a zone is UTC. ValueError if it is not one."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class JsonFields:
    """Typed reads of a parsed JSON document's members; a bad value becomes a problem naming its JSON path.

    Reads return None (or an empty list) for what is absent or wrong, so a parser reads everything,
    then checks ``found`` (or the problem list) and refuses the record, and the user sees every problem.
    """

    def __init__(self, problems: ProblemList, line: int | None = None):
        self.problems, self.line = problems, line
        self.found = 0              # problems this reader added

    def add(self, message: str, where: str) -> None:
        self.problems.add(message, self.line, where)
        self.found += 1

    def get(self, obj: dict, key: str, path: str, kind: type[T], required: bool = False) -> T | None:
        """The member if it has JSON type ``kind`` (str, int, bool, list or dict); null counts as absent."""
        value = obj.get(key)
        if value is None:
            if required:
                self.add("missing", member(path, key))
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.add(f"expected {_EXPECTED[kind]}, found {json_kind(value)}", member(path, key))
            return None
        return value

    def text(self, obj: dict, key: str, path: str, required: bool = False,
             pattern: re.Pattern | None = None, numbers: bool = False) -> str | None:
        """A string member, stripped; empty counts as absent (exporters write "" for unset values).
        ``numbers``: a number is read as its text (osquery's --logger_numerics)."""
        value = obj.get(key)
        if numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        elif value is not None and not isinstance(value, str):
            expected = "a string or a number" if numbers else "a string"
            self.add(f"expected {expected}, found {json_kind(value)}", member(path, key))
            return None
        text = value.strip() if value is not None else ""
        if not text:
            if required:
                self.add("missing" if value is None else "is empty", member(path, key))
            return None
        if pattern is not None and not pattern.match(text):
            self.add(f"{text[:80]!r} is not a valid {key}", member(path, key))
            return None
        return text

    def whole(self, obj: dict, key: str, path: str, strings: bool = False) -> int | None:
        """A whole-number member (an integral float too); ``strings``: digits in a string count as well
        (osquery logs numbers as strings unless --logger_numerics), and "" as absent."""
        value = obj.get(key)
        if value is None or (strings and value == ""):
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if strings and isinstance(value, str) and _WHOLE.match(value.strip()):
            return int(value.strip())
        self.add(f"{shown(value)} is not a whole number", member(path, key))
        return None

    def object(self, obj: dict, key: str, path: str, required: bool = False) -> dict | None:
        return self.get(obj, key, path, dict, required)

    def array(self, obj: dict, key: str, path: str, required: bool = False) -> list:
        """A list member's items (an empty list when absent or not a list)."""
        return self.get(obj, key, path, list, required) or []

    def objects(self, obj: dict, key: str, path: str, required: bool = False) -> list[tuple[str, dict]]:
        """(JSON path, object) for each element of a list of objects; other elements are problems."""
        where = member(path, key)
        out = []
        for index, item in enumerate(self.array(obj, key, path, required)):
            if isinstance(item, dict):
                out.append((f"{where}[{index}]", item))
            else:
                self.add(f"expected an object, found {json_kind(item)}", f"{where}[{index}]")
        return out

    def moment(self, obj: dict, key: str, path: str) -> datetime | None:
        """An ISO 8601 date-and-time member; one without a zone is UTC."""
        value = self.text(obj, key, path)
        if value is None:
            return None
        try:
            return parse_moment(value)
        except ValueError:
            self.add(f"{value[:80]!r} is not an ISO 8601 date and time", member(path, key))
            return None

    def check(self, obj: dict, key: str, path: str, convert: Callable[[str], T], required: bool = False,
              numbers: bool = False) -> T | None:
        """convert(text of the member) or None, recording its ValueError as a problem on the member."""
        value = self.text(obj, key, path, required, numbers=numbers)
        if value is None:
            return None
        try:
            return convert(value)
        except ValueError as exc:
            self.add(str(exc), member(path, key))
            return None
