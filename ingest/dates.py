"""Dates every export needs: when an export was taken, and calendar-month arithmetic for terms."""
from __future__ import annotations

import calendar
from datetime import date, datetime, timezone
from pathlib import Path


def file_observed_at(path: Path) -> datetime:
    """An export's moment: the file's modification time (exports carry no timestamp of their own)."""
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).replace(microsecond=0)


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
