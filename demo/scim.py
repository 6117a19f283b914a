"""The identity provider's SCIM 2.0 ``ListResponse`` of Users (``scim-users.json``)."""
from __future__ import annotations

import json
import uuid as uuid_module
from datetime import date
from pathlib import Path

from demo.org import Person, stream

SCIM_LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCIM_BASE_URL = "https://idp.example.com/scim/v2/Users/"


def write_scim(path: Path, seed: int, scan_date: date, people: list[Person]) -> Path:
    """The identity provider's ``GET /Users`` ListResponse for the same people as hr.csv."""
    rng = stream(seed, "scim")
    ids = {p.email: str(uuid_module.UUID(int=rng.getrandbits(128), version=4)) for p in people}
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(
            '{\n  "schemas": [\n    "' + SCIM_LIST + '"\n  ],\n'
            f'  "totalResults": {len(people)},\n  "startIndex": 1,\n  "itemsPerPage": {len(people)},\n'
            '  "Resources": [\n'
        )
        for index, person in enumerate(people):
            given, _, family = person.name.partition(" ")
            extension: dict[str, object] = {"employeeNumber": person.employee_id, "department": person.department}
            if person.manager_email:
                extension["manager"] = {"value": ids[person.manager_email],
                                        "$ref": SCIM_BASE_URL + ids[person.manager_email]}
            changed = person.end_date or person.start_date
            resource = {
                "schemas": [SCIM_USER, SCIM_ENTERPRISE],
                "id": ids[person.email],
                "externalId": person.employee_id,
                "userName": person.email,
                "name": {"formatted": person.name, "givenName": given, "familyName": family},
                "displayName": person.name,
                "emails": [{"value": person.email, "primary": True, "type": "work"}],
                "active": person.end_date is None,
                SCIM_ENTERPRISE: extension,
                "meta": {
                    "resourceType": "User",
                    "created": f"{person.start_date.isoformat()}T09:00:00Z",
                    "lastModified": f"{changed.isoformat()}T17:30:00Z",
                    "location": SCIM_BASE_URL + ids[person.email],
                },
            }
            text = json.dumps(resource, indent=2, ensure_ascii=False).replace("\n", "\n    ")
            handle.write("    " + text + (",\n" if index < len(people) - 1 else "\n"))
        handle.write("  ]\n}\n")
    return path


