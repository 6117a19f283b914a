"""The HR directory export (``hr.csv``)."""
from __future__ import annotations

import csv
from pathlib import Path

from demo.org import Person, iso

HR_COLUMNS = ("email", "name", "employee_id", "department", "manager_email", "start_date", "end_date")


def write_hr(path: Path, people: list[Person]) -> Path:
    """The HR directory export, one row per person in employee-id order."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HR_COLUMNS)
        for p in people:
            writer.writerow((
                p.email, p.name, p.employee_id, p.department, p.manager_email,
                p.start_date.isoformat(), iso(p.end_date),
            ))
    return path

