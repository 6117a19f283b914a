"""SCIM 2.0 Users (RFC 7643/7644): a ListResponse as `GET /Users` returns it, from an identity provider.

Each User becomes a person:
- e-mail: the `primary` entry of `emails`, else the first of type "work", else `userName` if it is an
  e-mail address; a user with none is refused (field `Resources[i].emails`).
- name: `name.formatted`, else `name.givenName` + `name.familyName`, else `displayName`.
- the enterprise extension (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`) gives
  `employeeNumber`, `department` (the team) and `manager.value`: the manager's SCIM `id` (or the last
  segment of `manager.$ref`), resolved to the e-mail of that user in the same file. A manager who is not in
  the file is left out and the person's record says so ("manager id '...' not in this file").
- `active: false`: SCIM has no departure date, so the person's end date is the export's date (the file's
  modification date); a departure date makes the person departed from that day.
Groups in the same response are skipped (counted in the run's `skipped`); any other resource is refused,
as are duplicate e-mails or ids and text that looks like a spreadsheet formula (see ingest/licenses.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from graph.models import Batch, PersonObservation, check_email
from ingest.errors import IngestError, ProblemList, load_json
from ingest.csvfile import refuse_formula
from ingest.dates import file_observed_at

SOURCE = "scim"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


class _Refused(ValueError):
    """One bad field of one resource: (field path, message)."""

    def __init__(self, where: str, message: str):
        super().__init__(message)
        self.where = where




def _schemas(value: dict) -> list[str]:
    schemas = value.get("schemas")
    return [s for s in schemas if isinstance(s, str)] if isinstance(schemas, list) else []


def _text(value: Any, where: str) -> str | None:
    """An optional string field, refusing other types and formula-looking text."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Refused(where, f"expected a string, found {type(value).__name__}")
    value = value.strip()
    if not value:
        return None
    try:
        return refuse_formula(value)
    except ValueError as exc:
        raise _Refused(where, str(exc)) from None


def _object(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Refused(where, f"expected an object, found {type(value).__name__}")
    return value


def _active(value: Any, where: str) -> bool:
    """RFC 7643 says boolean; some providers send "True"/"False" strings."""
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _Refused(where, f"{value!r} is not true or false")


def _email(value: str, where: str) -> str:
    try:
        return check_email(value)
    except ValueError as exc:
        raise _Refused(where, str(exc)) from None


def _pick_email(user: dict, where: str) -> tuple[str, str]:
    """(e-mail, the field it came from): primary, else first work e-mail, else userName."""
    emails = user.get("emails")
    if emails is not None and not isinstance(emails, list):
        raise _Refused(f"{where}.emails", f"expected a list, found {type(emails).__name__}")
    entries = []
    for j, entry in enumerate(emails or []):
        entry = _object(entry, f"{where}.emails[{j}]")
        value = _text(entry.get("value"), f"{where}.emails[{j}].value")
        kind = entry.get("type")
        entries.append((j, value, entry.get("primary") is True, isinstance(kind, str) and kind.lower() == "work"))
    primaries = [e for e in entries if e[2]]
    if len(primaries) > 1:
        raise _Refused(f"{where}.emails", f"{len(primaries)} e-mails are marked primary (at most one may be)")
    chosen = primaries or [e for e in entries if e[3]]
    if chosen:
        j, value, _, _ = chosen[0]
        field = f"{where}.emails[{j}].value"
        if value is None:
            raise _Refused(field, "is empty")
        return _email(value, field), field
    user_name = _text(user.get("userName"), f"{where}.userName")
    if user_name and "@" in user_name:
        return _email(user_name, f"{where}.userName"), f"{where}.userName"
    raise _Refused(f"{where}.emails", "no primary or work e-mail, and userName is not an e-mail address")


def _name(user: dict, where: str) -> str | None:
    name = _object(user.get("name"), f"{where}.name")
    formatted = _text(name.get("formatted"), f"{where}.name.formatted")
    if formatted:
        return formatted
    parts = [_text(name.get(k), f"{where}.name.{k}") for k in ("givenName", "familyName")]
    joined = " ".join(p for p in parts if p)
    return joined or _text(user.get("displayName"), f"{where}.displayName")


def _manager_id(extension: dict, where: str) -> str | None:
    manager = extension.get("manager")
    if manager is None:
        return None
    if isinstance(manager, str):  # some providers flatten it to the id
        return manager.strip() or None
    manager = _object(manager, f"{where}.manager")
    value = manager.get("value", manager.get("managerId"))
    if isinstance(value, str) and value.strip():
        return value.strip()
    ref = manager.get("$ref")
    if isinstance(ref, str) and ref.strip("/ "):
        return ref.strip("/ ").rsplit("/", 1)[-1]
    return None


def parse_scim(path: Path, limit_bytes: int) -> Batch:
    """Every User of a SCIM ListResponse as a person; Groups skipped; IngestError lists every bad field."""
    document = load_json(path, limit_bytes)
    if not isinstance(document, dict) or LIST_RESPONSE not in _schemas(document):
        hint = ""
        if isinstance(document, dict) and USER in _schemas(document):
            hint = " (this is a single User; export the list with GET /Users)"
        raise IngestError.one(path, f"not a SCIM 2.0 ListResponse file: 'schemas' lacks {LIST_RESPONSE}{hint}")
    resources = document.get("Resources", [])
    if not isinstance(resources, list):
        raise IngestError.one(path, f"expected a list, found {type(resources).__name__}", field="Resources")
    problems = ProblemList(path)
    departed_on = file_observed_at(path).date()
    users: list[tuple[int, dict, dict]] = []
    skipped = 0
    for i, resource in enumerate(resources):
        where = f"Resources[{i}]"
        if not isinstance(resource, dict):
            problems.add(f"expected an object, found {type(resource).__name__}", field=where)
            continue
        schemas = _schemas(resource)
        meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
        kind = meta.get("resourceType")
        if GROUP in schemas or (kind == "Group" and USER not in schemas):
            skipped += 1
            continue
        if USER not in schemas and kind != "User" and (schemas or kind or "userName" not in resource):
            problems.add(f"not a User (schemas {', '.join(schemas) or 'missing'})", field=f"{where}.schemas")
            continue
        users.append((i, resource, _object_or_empty(resource.get(ENTERPRISE))))

    # First pass: each user's e-mail and id, so managers can be resolved by id.
    picked: dict[int, tuple[str, str]] = {}
    by_email: dict[str, int] = {}
    by_id: dict[str, int] = {}
    for i, user, _ in users:
        where = f"Resources[{i}]"
        try:
            email, field = _pick_email(user, where)
        except _Refused as exc:
            problems.add(str(exc), field=exc.where)
            continue
        if email in by_email:
            problems.add(f"{email} is already the e-mail of Resources[{by_email[email]}]", field=field)
            continue
        by_email[email] = i
        picked[i] = (email, field)
        scim_id = user.get("id")
        if isinstance(scim_id, str) and scim_id.strip():
            if scim_id.strip() in by_id:
                problems.add(f"id {scim_id.strip()!r} is already the id of Resources[{by_id[scim_id.strip()]}]",
                             field=f"{where}.id")
            by_id.setdefault(scim_id.strip(), i)

    people = []
    for i, user, extension in users:
        if i not in picked:
            continue
        where = f"Resources[{i}]"
        email = picked[i][0]
        record = f"{path.name} {where}"
        try:
            if user.get(ENTERPRISE) is not None and not isinstance(user[ENTERPRISE], dict):
                raise _Refused(f"{where}.{ENTERPRISE}", "expected an object")
            ext = f"{where}.{ENTERPRISE}"
            employee_id = _text(_stringify(extension.get("employeeNumber")), f"{ext}.employeeNumber")
            department = _text(extension.get("department"), f"{ext}.department")
            name = _name(user, where)
            active = _active(user.get("active"), f"{where}.active")
            manager_id = _manager_id(extension, ext)
        except _Refused as exc:
            problems.add(str(exc), field=exc.where)
            continue
        manager = None
        if manager_id is not None:
            if manager_id not in by_id or by_id[manager_id] not in picked:
                record += f" (manager id {manager_id!r} not in this file)"
            elif by_id[manager_id] == i:
                problems.add("the user is their own manager", field=f"{ext}.manager")
                continue
            else:
                manager = picked[by_id[manager_id]][0]
        try:
            people.append(PersonObservation(
                record=record, email=email, name=name, employee_id=employee_id, department=department,
                manager_email=manager, end_date=None if active else departed_on))
        except ValidationError as exc:
            problems.add(exc.errors()[0]["msg"], field=where)
    problems.raise_if_any()
    return Batch(people=people, skipped=skipped)


def _object_or_empty(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _stringify(value: Any) -> Any:
    """employeeNumber is a string in RFC 7643, but some providers send a number."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def parse_batch(path: Path, limit_bytes: int) -> Batch:
    """The registry's entry point for source 'scim'."""
    return parse_scim(path, limit_bytes)
