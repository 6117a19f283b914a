"""Snipe-IT hardware exports and HR directories: what procurement says exists, and who people are."""
from __future__ import annotations

import pytest

from ingest.errors import IngestError
from ingest.pipeline import ingest_files
from tests.builders import snipeit_csv

OWNED = {"asset_tag": "ITAM-1", "item_name": "web-01", "serial": "SRV001", "mac_address": "00:14:22:00:00:01",
         "purchase_date": "2024-01-15", "warranty_months": "36", "full_name": "Ada Lovelace",
         "email": "Ada.Lovelace@example.com", "department": "Engineering"}


def test_export_rows_become_assets_with_owner_team_and_lifecycle(store, settings, tmp_path):
    export = snipeit_csv(tmp_path / "assets.csv", [
        OWNED,
        {"asset_tag": "ITAM-2", "item_name": "old-01", "serial": "SRV002", "status": "Archived",
         "decommissioned_date": "2026-03-01"},
    ])
    summary = ingest_files(store, "snipeit", [export], settings)
    assert (summary.records, summary.created) == (2, 2)
    rows = store.read("""
        MATCH (a:Asset) OPTIONAL MATCH (p:Person)-[:OWNS]->(a) OPTIONAL MATCH (p)-[:MEMBER_OF]->(t:Team)
        RETURN a.name AS name, a.lifecycle_stage AS stage, toString(a.warranty_end) AS warranty,
               p.email AS owner, t.name AS team ORDER BY name""")
    assert rows == [
        {"name": "old-01", "stage": "decommissioned", "warranty": None, "owner": None, "team": None},
        {"name": "web-01", "stage": "deployment", "warranty": "2027-01-15",
         "owner": "ada.lovelace@example.com", "team": "Engineering"},
    ]


def test_owner_change_replaces_the_owner(store, settings, tmp_path):
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", [OWNED])], settings)
    moved = {**OWNED, "full_name": "Grace Hopper", "email": "grace@example.com"}
    summary = ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "b.csv", [moved])], settings)
    assert (summary.updated, summary.unchanged) == (1, 0)
    assert store.read("MATCH (p:Person)-[:OWNS]->(:Asset) RETURN p.email AS email") == [{"email": "grace@example.com"}]


@pytest.mark.parametrize("change, message", [
    ({"purchase_date": "2024-13-01"}, "line 3, field 'purchase_date': '2024-13-01' is not a date (YYYY-MM-DD)"),
    ({"status": "Misplaced"}, "line 3, field 'status': unknown status 'Misplaced'"),
    ({"mac_address": "00:14:22"}, "line 3, field 'mac_address': '00:14:22' is not a MAC address"),
    ({"email": "ada"}, "line 3, field 'email': 'ada' is not an e-mail address"),
    ({"asset_tag": ""}, "line 3, field 'asset_tag': is empty"),
    ({"asset_tag": "itam-1"}, "line 3, field 'asset_tag': asset tag 'itam-1' already on line 2"),
    ({"warranty_months": "three"}, "line 3, field 'warranty_months': 'three' is not a number"),
])
def test_bad_row_names_line_and_field_and_writes_nothing(store, settings, tmp_path, change, message):
    second = {**OWNED, "asset_tag": "ITAM-9", "serial": "SRV009", "mac_address": "", "item_name": "b", **change}
    export = snipeit_csv(tmp_path / "assets.csv", [OWNED, second])
    with pytest.raises(IngestError) as caught:
        ingest_files(store, "snipeit", [export], settings)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(export))
    assert store.read("MATCH (n) WHERE NOT n:Internet RETURN count(n) AS n") == [{"n": 0}]


def test_structural_csv_problems(store, settings, tmp_path):
    no_status = tmp_path / "no-status.csv"
    no_status.write_text("asset_tag,item_name\nITAM-1,web-01\n")
    with pytest.raises(IngestError, match="no-status.csv line 1: header lacks column\\(s\\) status"):
        ingest_files(store, "snipeit", [no_status], settings)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("asset_tag,status\nITAM-1,Deployed\nITAM-2,Deployed,extra\n")
    with pytest.raises(IngestError, match="ragged.csv line 3: 3 fields where the header has 2"):
        ingest_files(store, "snipeit", [ragged], settings)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"asset_tag,status\n\xff\xfe,Deployed\n")
    with pytest.raises(IngestError, match="binary.csv line 2: not UTF-8"):
        ingest_files(store, "snipeit", [binary], settings)


def test_export_headers_as_snipeit_writes_them(store, settings, tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("Asset Tag,Name,Serial Number,Status Label,Model,Category,Checked Out To,Username\n"
                      "ITAM-7,lt-0007,C02XYZ,Deployed,MacBook Pro,Laptops,Ada Lovelace,ada@example.com\n")
    ingest_files(store, "snipeit", [export], settings)
    assert store.read("MATCH (p:Person)-[:OWNS]->(a:Asset) RETURN a.serial AS serial, a.host_type AS type, "
                      "a.model AS model, p.email AS email") == [
        {"serial": "C02XYZ", "type": "laptop", "model": "MacBook Pro", "email": "ada@example.com"}]


def test_hr_directory_marks_departures_and_teams(store, settings, tmp_path):
    hr = tmp_path / "hr.csv"
    hr.write_text("email,name,employee_id,department,manager_email,start_date,end_date\n"
                  "boss@example.com,Boss,E1,Engineering,,2020-01-01,\n"
                  "ada@example.com,Ada,E2,Engineering,boss@example.com,2021-01-01,2026-10-01\n")
    summary = ingest_files(store, "hr", [hr], settings)
    assert (summary.records, summary.created) == (2, 2)
    rows = store.read("MATCH (p:Person)-[:MEMBER_OF]->(t:Team) OPTIONAL MATCH (p)-[:REPORTS_TO]->(m) "
                      "RETURN p.email AS email, p.active AS active, t.name AS team, m.email AS manager ORDER BY email")
    assert rows == [
        {"email": "ada@example.com", "active": False, "team": "Engineering", "manager": "boss@example.com"},
        {"email": "boss@example.com", "active": True, "team": "Engineering", "manager": None},
    ]
    again = ingest_files(store, "hr", [hr], settings)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_hr_bad_rows(store, settings, tmp_path):
    hr = tmp_path / "hr.csv"
    hr.write_text("email,name,start_date,end_date\nnot-an-email,X,2020-01-01,\nb@example.com,B,2022-01-01,2021-01-01\n")
    with pytest.raises(IngestError) as caught:
        ingest_files(store, "hr", [hr], settings)
    assert "hr.csv line 2, field 'email': 'not-an-email' is not an e-mail address" in str(caught.value)
    assert "hr.csv line 3, field 'end_date': end date 2021-01-01 is before start date 2022-01-01" in str(caught.value)


def test_dry_run_reports_without_writing(store, settings, tmp_path):
    export = snipeit_csv(tmp_path / "assets.csv", [OWNED])
    summary = ingest_files(store, "snipeit", [export], settings, dry_run=True)
    assert (summary.status, summary.created) == ("dry-run", 1)
    assert store.read("MATCH (n) WHERE NOT n:Internet RETURN count(n) AS n") == [{"n": 0}]


def test_dry_run_reports_what_would_retire(store, settings, tmp_path):
    rows = [{**OWNED}, {**OWNED, "asset_tag": "ITAM-2", "item_name": "b", "serial": "SRV002", "mac_address": ""}]
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", rows)], settings)
    before = store.counts()
    summary = ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "b.csv", rows[:1])], settings, dry_run=True)
    assert (summary.unchanged, summary.retired, summary.status) == (1, 1, "dry-run")
    assert store.counts() == before
    assert store.read("MATCH ()-[s:SEEN_BY {current: false}]->() RETURN count(s) AS n") == [{"n": 0}]
