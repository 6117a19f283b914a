"""Snipe-IT hardware exports and HR directories: what procurement says exists, and who people are."""
from __future__ import annotations

import pytest

from ingest.errors import MAX_PROBLEMS, IngestError
from ingest.pipeline import ingest_files
from ingest.snipeit import parse_snipeit_assets
from tests.builders import snipeit_csv
from tests.conftest import FIXTURES

SNIPEIT = FIXTURES / "snipeit"
LIMIT = 8 * 1024 * 1024

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
    ({"status": "Misplaced (lost)"}, "line 3, field 'status': unknown status 'Misplaced (lost)'"),
    ({"status": "(deployed)"}, "line 3, field 'status': unknown status '(deployed)'"),
    ({"purchase_cost": "1.234.56"}, "line 3, field 'purchase_cost': '1.234.56' is not a number"),
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


def test_custom_asset_report_status_is_label_then_status_type(store, settings):
    # Snipe-IT's custom report writes "label (type)"; a label we know decides, another label's type does.
    summary = ingest_files(store, "snipeit", [SNIPEIT / "custom-assets-report.csv"], settings)
    assert (summary.records, summary.created) == (8, 8)
    rows = store.read("""
        MATCH (a:Asset) OPTIONAL MATCH (p:Person)-[:OWNS]->(a)
        RETURN a.asset_tag AS tag, a.status_label AS label, a.lifecycle_stage AS stage,
               toString(a.purchase_date) AS purchased, a.purchase_cost AS cost, p.email AS owner, p.name AS holder
        ORDER BY tag""")
    assert [(r["tag"], r["label"], r["stage"]) for r in rows] == [
        ("ASSET-0001", "Ready to Deploy", "procurement"),
        ("ASSET-0002", "Ready to Deploy", "procurement"),     # checked out: the effective stage says deployed
        ("ASSET-0003", "Broken - Not Fixable", "decommissioned"),
        ("ASSET-0004", "Loaner Pool", "deployment"),
        ("ASSET-0005", "Spare Shelf", "procurement"),
        ("ASSET-0006", "Quarantined", "maintenance"),
        ("ASSET-0007", "Awaiting Invoice", "procurement"),
        ("ASSET-0008", "Written Off", "decommissioned"),
    ]
    assert (rows[0]["purchased"], rows[0]["cost"]) == ("2022-03-14", 4820.0)
    assert [(r["tag"], r["owner"], r["holder"]) for r in rows if r["owner"]] == [
        ("ASSET-0002", "jane.doe@example.com", "Jane Doe"), ("ASSET-0004", "sam.okafor@example.com", "Sam Okafor")]


@pytest.mark.parametrize("label, stage", [
    ("Ready to Deploy", "procurement"), ("Pending", "procurement"), ("Archived", "decommissioned"),
    ("Out for Diagnostics", "maintenance"), ("Out for Repair", "maintenance"),
    ("Broken - Not Fixable", "decommissioned"), ("Lost/Stolen", "decommissioned"),
    ("broken  -  not fixable", "decommissioned"), ("Out for Repair (deployed)", "maintenance"),
])
def test_snipeit_default_status_labels(tmp_path, label, stage):
    export = snipeit_csv(tmp_path / "assets.csv", [{**OWNED, "status": label}])
    assert parse_snipeit_assets(export, LIMIT)[0].properties.lifecycle_stage == stage


def _cost_export(tmp_path, costs: list[str]):
    return snipeit_csv(tmp_path / "assets.csv", [
        {"asset_tag": f"ITAM-{n}", "item_name": f"ws-{n}", "purchase_cost": cost} for n, cost in enumerate(costs)])


def _costs(path) -> list[float | None]:
    return [host.properties.purchase_cost for host in parse_snipeit_assets(path, LIMIT)]


@pytest.mark.parametrize("cost, value", [
    ("1,234.56", 1234.56), ("1234.56", 1234.56), ("1.234,56", 1234.56), ("1 234,56", 1234.56),
    ("1\u202f234,56", 1234.56), ("999,00", 999.0), ("$1,234.56", 1234.56), ("€1.234,56", 1234.56),
    ("1,234,567", 1234567.0), ("1.234.567", 1234567.0), ("1 234 567", 1234567.0), ("-1,234.50", -1234.5),
    ("12,5", 12.5), ("1,23", 1.23),             # one or two digits after the mark: a decimal mark
    ("1,234", 1234.0), ("1.234", 1.234),         # three: both conventions read it; a decimal point here
    ("1,2345", 1.2345), ("0,125", 0.125),        # four digits, or a head of 0: no thousands group
    ("123,456", 123456.0), ("1234,567", 1234.567),   # a head of three digits may be a group, of four not
    ("1e3", 1000.0), ("1200", 1200.0),
    ("1,23,456.00", 123456.0), ("1,23,456", 123456.0),   # Indian grouping (lakh), as float() took it before
    ("12.", 12.0),                                        # a decimal point with nothing after it
    ("-1.234,56", -1234.56), ("-1 234,56", -1234.56), ("-999,00", -999.0),   # negative, either convention
])
def test_cost_shapes_are_read_by_their_shape(tmp_path, cost, value):
    assert _costs(_cost_export(tmp_path, [cost])) == [value]


@pytest.mark.parametrize("cost", ["1.234.56", "1,234,56", "12,34.5", "1.2.3", "12,", "1,23,4567", "1 23,45", "01 234", "1.234 567,50",
                                  "1,5e3", "12 euros", "nan", "1e400"])
def test_cost_shapes_no_convention_reads_are_refused(tmp_path, cost):
    export = _cost_export(tmp_path, ["5", cost])
    with pytest.raises(IngestError) as caught:
        parse_snipeit_assets(export, LIMIT)
    assert str(caught.value) == f"{export} line 3, field 'purchase_cost': {cost!r} is not a number"


def test_european_costs_are_stored_as_written(store, settings):
    ingest_files(store, "snipeit", [SNIPEIT / "eu-costs.csv"], settings)
    assert store.read("MATCH (a:Asset) RETURN a.asset_tag AS tag, a.purchase_cost AS cost ORDER BY tag") == [
        {"tag": "ASSET-0010", "cost": 1234.56}, {"tag": "ASSET-0011", "cost": 999.0},
        {"tag": "ASSET-0012", "cost": 12500.0}]


@pytest.mark.parametrize("costs, line, evidence", [
    (["999,00", "1.234"], 3, "line 2, field 'purchase_cost': '999,00'"),      # after the decimal comma
    (["1.234", "5", "1.234.567"], 2, "line 4, field 'purchase_cost': '1.234.567'"),   # before it
])
def test_an_ambiguous_cost_in_a_decimal_comma_file_is_refused(store, settings, tmp_path, costs, line, evidence):
    export = _cost_export(tmp_path, costs)
    with pytest.raises(IngestError) as caught:
        ingest_files(store, "snipeit", [export], settings)
    assert str(caught.value) == (
        f"{export} line {line}, field 'purchase_cost': '1.234' is ambiguous (1.234 or 1234) and this file writes "
        f"decimal commas ({evidence}); write its decimals too, as Snipe-IT does (1.234,00)")
    assert store.read("MATCH (n) WHERE NOT n:Internet RETURN count(n) AS n") == [{"n": 0}]


def test_ambiguous_costs_read_with_a_decimal_point_beside_decimal_points(tmp_path):
    assert _costs(_cost_export(tmp_path, ["1,234", "1,234.56", "1.234", "1,234,567"])) == [
        1234.0, 1234.56, 1.234, 1234567.0]


@pytest.mark.parametrize("ambiguous, summary", [(MAX_PROBLEMS, False), (MAX_PROBLEMS + 1, True)])
def test_many_ambiguous_costs_are_counted_not_all_kept(tmp_path, ambiguous, summary):
    export = _cost_export(tmp_path, ["1,234"] * ambiguous + ["999,00"])
    with pytest.raises(IngestError) as caught:
        parse_snipeit_assets(export, LIMIT)
    messages = [problem.message for problem in caught.value.problems]
    more = (f"{ambiguous} numbers before line {ambiguous + 2} have an ambiguous shape such as '1,234' and this "
            f"file writes decimal commas; the first {MAX_PROBLEMS} follow")
    assert (messages[0] == more) == summary
    assert sum("'1,234' is ambiguous" in m for m in messages) == min(ambiguous, MAX_PROBLEMS - summary)
