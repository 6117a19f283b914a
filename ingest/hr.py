"""HR directory CSV: who people are, their team and manager, and when they left."""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from graph.models import Batch, PersonObservation, check_email
from ingest.csvfile import CsvRows, FieldReader
from ingest.errors import ProblemList

SOURCE = "hr"
ALIASES = {"mail": "email", "work_email": "email", "full_name": "name", "display_name": "name",
           "employee_number": "employee_id", "manager": "manager_email",
           "hire_date": "start_date", "termination_date": "end_date", "departure_date": "end_date"}
REQUIRED = ("email",)


def parse_hr(path: Path, limit_bytes: int) -> list[PersonObservation]:
    """Every person in an HR export; a departure date makes the person departed from that day."""
    problems = ProblemList(path)
    seen: dict[str, int] = {}
    people = []
    for line, row in CsvRows(path, limit_bytes, ALIASES, REQUIRED):
        field = FieldReader(problems, line, row)
        before = len(problems.problems)
        email = field.check("email", check_email) if field.required("email") else None
        manager = field.check("manager_email", check_email)
        start, end = field.date("start_date"), field.date("end_date")
        if start and end and end < start:
            problems.add(f"end date {end} is before start date {start}", line, "end_date")
        if email in seen:
            problems.add(f"{email} already on line {seen[email]}", line, "email")
        if len(problems.problems) > before or email is None:
            continue
        seen[email] = line
        try:
            people.append(PersonObservation(
                record=f"{path.name} line {line}", email=email, name=field.text("name"),
                employee_id=field.text("employee_id"), department=field.text("department"),
                manager_email=manager, start_date=start, end_date=end))
        except ValidationError as exc:
            problems.add(exc.errors()[0]["msg"], line)
    problems.raise_if_any()
    return people


def parse_batch(path: Path, limit_bytes: int) -> Batch:
    return Batch(people=parse_hr(path, limit_bytes))
