"""ITAM policy as data: audit intervals (default and per category) and evidence windows.

Read from `queries/data/itam_policy.toml` (or the file `ITAM_POLICY` names) and validated at start-up:
a malformed file, an unknown key or a value out of range is refused with `FILE line N, field 'F'`.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from graph.config import data_file_loader

DEFAULT_POLICY = Path(__file__).parent / "data" / "itam_policy.toml"

# section -> key -> (least, greatest) allowed whole number.
LIMITS = {
    "audit": {"interval_months": (1, 120), "due_within_days": (0, 3650), "presence_days": (1, 3650)},
    "lifecycle": {"check_in_days": (1, 3650)},
    "licenses": {"not_seen_days": (1, 3650)},
}
CATEGORY_MONTHS = (1, 120)


class PolicyError(ValueError):
    """The policy file was refused: `FILE line N, field 'F': what is wrong`."""


@dataclass(frozen=True)
class Policy:
    interval_months: int = 12
    due_within_days: int = 30
    presence_days: int = 30
    check_in_days: int = 14
    not_seen_days: int = 30
    category_months: dict[str, int] = field(default_factory=dict)

    def interval_for(self, category: str | None) -> int:
        return self.category_months.get(category or "", self.interval_months)

    def audit_params(self) -> dict:
        """The Cypher parameters every audit query takes."""
        return {"interval_months": self.interval_months, "category_months": dict(self.category_months),
                "presence_days": self.presence_days}


def _line(text: str, section: str, key: str) -> int | None:
    """The line of `key = ...` inside `[section]` (tomllib keeps no positions)."""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"\s*\[\s*([^\]]+?)\s*\]", line)
        if header:
            current = header.group(1)
            continue
        if current == section and re.match(rf'\s*"?{re.escape(key)}"?\s*=', line):
            return number
    return None


def _refuse(path: Path, text: str, section: str, key: str, message: str) -> PolicyError:
    line = _line(text, section, key)
    where = f"{path} line {line}" if line else str(path)
    return PolicyError(f"{where}, field '{section}.{key}': {message}")


def _whole(path, text, section, key, value, limits) -> int:
    low, high = limits
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _refuse(path, text, section, key, f"{value!r} is not a whole number from {low} to {high}")
    return value


def load_policy(path: Path) -> Policy:
    """Read and validate the policy file; PolicyError names the file, line and field of the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the ITAM policy: {exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise PolicyError(f"{path} line {line.group(1) if line else '?'}: malformed TOML: {exc}") from None
    values: dict = {}
    for section, content in data.items():
        if section not in LIMITS or not isinstance(content, dict):
            raise PolicyError(f"{path} line {_header_line(text, section)}: unknown section [{section}] "
                              f"(known: {', '.join(sorted(LIMITS))})")
        for key, value in content.items():
            if section == "audit" and key == "category_months":
                values["category_months"] = _categories(path, text, value)
            elif key in LIMITS[section]:
                values[key] = _whole(path, text, section, key, value, LIMITS[section][key])
            else:
                raise _refuse(path, text, section, key, f"unknown setting (known: {', '.join(sorted(LIMITS[section]))})")
    return Policy(**values)


def _categories(path: Path, text: str, table) -> dict[str, int]:
    if not isinstance(table, dict):
        raise _refuse(path, text, "audit", "category_months", "must be a table of category = months")
    return {str(name): _whole(path, text, "audit.category_months", name, months, CATEGORY_MONTHS)
            for name, months in sorted(table.items())}


def _header_line(text: str, section: str) -> int | str:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*\[\s*{re.escape(section)}\s*\]", line):
            return number
    return "?"


# The file in force (re-read when it changes).
current_policy = data_file_loader("ITAM_POLICY", DEFAULT_POLICY, load_policy)
