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
from ingest.jsonfile import JsonFields, json_kind, member
from ingest.csvfile import refuse_formula
from ingest.dates import file_observed_at

SOURCE = "scim"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _schemas(value: dict) -> list[str]:
    schemas = value.get("schemas")
    return [s for s in schemas if isinstance(s, str)] if isinstance(schemas, list) else []


def _text(fields: JsonFields, obj: dict, key: str, path: str, numbers: bool = False) -> str | None:
    """An optional string member, refusing formula-looking text (reports export these fields).
    ``numbers``: a number is read as its text (employeeNumber is a string in RFC 7643, some send a number)."""
    return fields.check(obj, key, path, refuse_formula, numbers=numbers)


def _active(fields: JsonFields, user: dict, path: str) -> bool | None:
    """RFC 7643 says boolean; some providers send "True"/"False" strings. None after a problem."""
    value = user.get("active")
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    fields.add(f"{value!r} is not true or false", member(path, "active"))
    return None


def _email(fields: JsonFields, value: str, where: str) -> str | None:
    try:
        return check_email(value)
    except ValueError as exc:
        fields.add(str(exc), where)
        return None


def _pick_email(fields: JsonFields, user: dict, path: str) -> tuple[str, str] | None:
    """(e-mail, the field it came from): primary, else first work e-mail, else userName. None after a problem."""
    before = fields.found
    entries = []
    for where, entry in fields.objects(user, "emails", path):
        kind = entry.get("type")
        entries.append((where, _text(fields, entry, "value", where), entry.get("primary") is True,
                        isinstance(kind, str) and kind.lower() == "work"))
    if fields.found > before:
        return None
    primaries = [e for e in entries if e[2]]
    if len(primaries) > 1:
        fields.add(f"{len(primaries)} e-mails are marked primary (at most one may be)", member(path, "emails"))
        return None
    chosen = primaries or [e for e in entries if e[3]]
    if chosen:
        where, value, _, _ = chosen[0]
        if value is None:
            fields.add("is empty", f"{where}.value")
            return None
        email = _email(fields, value, f"{where}.value")
        return (email, f"{where}.value") if email else None
    user_name = _text(fields, user, "userName", path)
    if user_name and "@" in user_name:
        email = _email(fields, user_name, member(path, "userName"))
        return (email, member(path, "userName")) if email else None
    if fields.found == before:
        fields.add("no primary or work e-mail, and userName is not an e-mail address", member(path, "emails"))
    return None


def _name(fields: JsonFields, user: dict, path: str) -> str | None:
    name = fields.object(user, "name", path) or {}
    formatted = _text(fields, name, "formatted", member(path, "name"))
    if formatted:
        return formatted
    parts = [_text(fields, name, key, member(path, "name")) for key in ("givenName", "familyName")]
    joined = " ".join(p for p in parts if p)
    return joined or _text(fields, user, "displayName", path)


def _manager_id(extension: dict, fields: JsonFields, path: str) -> str | None:
    manager = extension.get("manager")
    if manager is None:
        return None
    if isinstance(manager, str):  # some providers flatten it to the id
        return manager.strip() or None
    manager = fields.object(extension, "manager", path)
    if manager is None:
        return None
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
        raise IngestError.one(path, f"expected a list, found {json_kind(resources)}", field="Resources")
    problems = ProblemList(path)
    fields = JsonFields(problems)
    departed_on = file_observed_at(path).date()
    users: list[tuple[int, dict, dict]] = []
    skipped = 0
    for i, resource in enumerate(resources):
        where = f"Resources[{i}]"
        if not isinstance(resource, dict):
            fields.add(f"expected an object, found {json_kind(resource)}", where)
            continue
        schemas = _schemas(resource)
        meta = _object_or_empty(resource.get("meta"))
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
        chosen = _pick_email(fields, user, where)
        if chosen is None:
            continue
        email, field = chosen
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
        before = fields.found
        ext = member(where, ENTERPRISE)
        fields.object(user, ENTERPRISE, where)
        employee_id = _text(fields, extension, "employeeNumber", ext, numbers=True)
        department = _text(fields, extension, "department", ext)
        name = _name(fields, user, where)
        active = _active(fields, user, where)
        manager_id = _manager_id(extension, fields, ext)
        if fields.found > before:
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
                manager_email=manager, states_dates=False, departed_by=None if active else departed_on))
        except ValidationError as exc:
            problems.add(exc.errors()[0]["msg"], field=where)
    problems.raise_if_any()
    return Batch(people=people, skipped=skipped)


def _object_or_empty(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def parse_batch(path: Path, limit_bytes: int) -> Batch:
    """The registry's entry point for source 'scim'."""
    return parse_scim(path, limit_bytes)
