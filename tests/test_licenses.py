"""Snipe-IT licence exports and contracts: seats merged per licence, keys never stored, what they cover."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date

import pytest

from ingest.errors import IngestError
from ingest.licenses import license_id, notice_days, parse_contracts, parse_licenses, refuse_formula
from ingest.pipeline import ingest_files
from tests.builders import snipeit_csv
from tests.conftest import FIXTURES

LICENSES = FIXTURES / "licenses" / "snipeit-licenses.csv"
CONTRACTS = FIXTURES / "licenses" / "contracts.csv"
LIMIT = 8 * 1024 * 1024
ACROBAT_KEY = "4XK8-77Q2-J9PA-1MZC"
SERVER_KEY = "WX4NM-KYWYW-QJJR4-XV3QB-6VM33"
ASSETS = [
    {"asset_tag": "ITAM-1", "item_name": "web-01", "serial": "SRV001", "full_name": "Ada Lovelace",
     "email": "ada@example.com"},
    {"asset_tag": "ITAM-2", "item_name": "db-01", "serial": "SRV002"},
]
LICENSE_HEADER = "Name,Product Key,Seats,Expiration Date,Purchase Cost,Assigned To,Asset Tag\n"


def _write(tmp_path, text: str, name: str = "export.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_seat_rows_merge_into_one_licence_without_the_key():
    licences = {lic.name: lic for lic in parse_licenses(LICENSES, LIMIT).licenses}
    assert sorted(licences) == ["Adobe Acrobat Pro DC", "Microsoft 365 E3", "Windows Server 2022 Datacenter"]
    m365 = licences["Microsoft 365 E3"]
    assert (m365.product, m365.seats, m365.expires_on, m365.purchase_cost, m365.order_number, m365.vendor) == (
        "Microsoft 365 E3", 25, date(2027, 6, 30), 7200.0, "PO-2026-0112", "Microsoft")
    assert (m365.assigned_emails, m365.assigned_asset_tags, m365.key_fingerprint) == (
        ("ada@example.com", "grace@example.com"), (), None)
    acrobat = licences["Adobe Acrobat Pro DC"]
    assert (acrobat.assigned_emails, acrobat.assigned_asset_tags) == (("ada@example.com",), ("ITAM-1",))
    assert len(acrobat.key_fingerprint) == 32   # a keyed HMAC, not the plain hash (tests/test_security.py)
    assert acrobat.key_fingerprint not in hashlib.sha256(ACROBAT_KEY.encode()).hexdigest()
    assert acrobat.record == "snipeit-licenses.csv lines 4, 5"
    assert acrobat.id == license_id("Adobe Acrobat Pro DC", "Adobe Acrobat Pro DC", acrobat.key_fingerprint)
    dumped = json.dumps([lic.model_dump(mode="json") for lic in licences.values()])
    assert ACROBAT_KEY not in dumped and SERVER_KEY not in dumped


def test_licence_ids_are_stable_and_tell_keys_apart(tmp_path):
    first = _write(tmp_path, "name,product,key,seats\nAcrobat,Adobe Acrobat,KEY-1,5\nAcrobat,Adobe Acrobat,KEY-2,5\n",
                   "a.csv")
    again = _write(tmp_path, "License Name,Software,Serial,Total Seats\nacrobat , adobe  acrobat,KEY-2,5\n", "b.csv")
    ids = [lic.id for lic in parse_licenses(first, LIMIT).licenses]
    assert len(set(ids)) == 2
    assert parse_licenses(again, LIMIT).licenses[0].id == ids[1]


def test_contracts_parse_terms_and_covered_items():
    contracts = {c.reference: c for c in parse_contracts(CONTRACTS, LIMIT).contracts}
    dell = contracts["DELL-PS-2024-0456"]
    assert (dell.vendor, dell.start, dell.end, dell.notice_days, dell.asset_tags, dell.license_names) == (
        "Dell Technologies", date(2024, 1, 15), date(2027, 1, 14), 90, ("ITAM-1", "ITAM-2"), ())
    assert contracts["MS-EA-8812345"].license_names == ("Microsoft 365 E3", "Windows Server 2022 Datacenter")
    assert contracts["MS-EA-8812345"].notice_days == 92     # 3 months before 2027-06-30 is 2027-03-30
    assert contracts["ADBE-VIP-77120"].notice_days == 30


@pytest.mark.parametrize("text, end, days", [
    ("90", None, 90), ("90 days", None, 90), ("6 weeks", None, 42), ("3 months", None, 90),
    ("3 months", date(2026, 6, 30), 92), ("1 year", date(2027, 1, 1), 365), ("1 year", date(2028, 12, 31), 366),
    ("2 Months", date(2026, 3, 31), 59),
])
def test_notice_periods(text, end, days):
    assert notice_days(text, end) == days


@pytest.mark.parametrize("value", ["Adobe", "-5", "+1.50", "-1,234.50", "-1.234,56", "-1 234,56", "-", "2026-01-01",
                                   "+44", "Dell - EMEA"])
def test_plain_values_pass_the_formula_rule(value):
    assert refuse_formula(value) == value


@pytest.mark.parametrize("value", ['=HYPERLINK("http://evil.example","x")', "@SUM(A1:A2)", "+cmd|' /C calc'!A0",
                                   "-2+3", "-1.234,5+A1", "\t=1+1", "\r@x", "  =1+1", "-ABC"])
def test_formulas_are_refused(value):
    with pytest.raises(ValueError, match="looks like a spreadsheet formula"):
        refuse_formula(value)


def test_licences_cover_software_and_are_assigned_to_assets_and_people(store, settings, tmp_path):
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "assets.csv", ASSETS)], settings)
    summary = ingest_files(store, "licenses", [LICENSES], settings)
    assert (summary.records, summary.created) == (3, 3)
    assert summary.unmatched == 1          # grace@example.com is no person in the graph
    rows = store.read("""
        MATCH (l:License)-[:COVERS]->(s:Software)
        OPTIONAL MATCH (l)-[:ASSIGNED_TO]->(a:Asset)
        OPTIONAL MATCH (l)-[:ASSIGNED_TO]->(p:Person)
        RETURN l.name AS licence, s.name AS software, collect(DISTINCT a.asset_tag) AS assets,
               collect(DISTINCT p.email) AS people ORDER BY licence""")
    assert rows == [
        {"licence": "Adobe Acrobat Pro DC", "software": "Adobe Acrobat Pro DC", "assets": ["ITAM-1"],
         "people": ["ada@example.com"]},
        {"licence": "Microsoft 365 E3", "software": "Microsoft 365 E3", "assets": [], "people": ["ada@example.com"]},
        {"licence": "Windows Server 2022 Datacenter", "software": "Windows Server 2022 Datacenter",
         "assets": ["ITAM-2"], "people": []},
    ]
    stored = json.dumps(store.read("MATCH (l:License) RETURN properties(l) AS p"), default=str)
    assert ACROBAT_KEY not in stored and SERVER_KEY not in stored
    before = store.counts()
    again = ingest_files(store, "licenses", [LICENSES], settings)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    after = store.counts()
    assert after.pop("IngestRun") == before.pop("IngestRun") + 1
    assert after == before


def test_contracts_cover_assets_and_licences(store, settings, tmp_path):
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "assets.csv", ASSETS)], settings)
    ingest_files(store, "licenses", [LICENSES], settings)
    summary = ingest_files(store, "contracts", [CONTRACTS], settings)
    assert (summary.records, summary.created, summary.unmatched) == (3, 3, 0)
    rows = store.read("""
        MATCH (c:Contract)-[:COVERS]->(x)
        RETURN c.reference AS contract, c.vendor AS vendor, c.notice_days AS notice,
               collect(coalesce(x.asset_tag, x.name)) AS covers ORDER BY contract""")
    assert [{**r, "covers": sorted(r["covers"])} for r in rows] == [
        {"contract": "ADBE-VIP-77120", "vendor": "Adobe", "notice": 30, "covers": ["Adobe Acrobat Pro DC"]},
        {"contract": "DELL-PS-2024-0456", "vendor": "Dell Technologies", "notice": 90, "covers": ["ITAM-1", "ITAM-2"]},
        {"contract": "MS-EA-8812345", "vendor": "Microsoft", "notice": 92,
         "covers": ["Microsoft 365 E3", "Windows Server 2022 Datacenter"]},
    ]
    assert store.read("MATCH (c:Contract {reference: 'DELL-PS-2024-0456'})-[:COVERS]->(a:Asset) "
                      "RETURN count(a) AS n") == [{"n": 2}]
    before = store.counts()
    again = ingest_files(store, "contracts", [CONTRACTS], settings)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    after = store.counts()
    assert after.pop("IngestRun") == before.pop("IngestRun") + 1
    assert after == before


LICENSE_ROW = "Acrobat,K-1,5,2026-12-31,899.95,ada@example.com,ITAM-1\n"


@pytest.mark.parametrize("row, message", [
    ('"=HYPERLINK(""http://evil.example"",""x"")",K-1,5,,,,\n',
     "line 3, field 'name': '=HYPERLINK(\"http://evil.example\",\"x\")' looks like a spreadsheet formula"),
    ("Acrobat,K-1,5,2026-02-30,,,\n", "line 3, field 'expires_on': '2026-02-30' is not a date (YYYY-MM-DD)"),
    ("Acrobat,K-1,five,,,,\n", "line 3, field 'seats': 'five' is not a number"),
    ("Acrobat,K-1,2.5,,,,\n", "line 3, field 'seats': '2.5' is not a whole number"),
    ("Acrobat,K-1,5,,12 euros,,\n", "line 3, field 'purchase_cost': '12 euros' is not a number"),
    ("Acrobat,K-1,6,,,,\n", "line 3, field 'seats': '6' differs from 5 on line 2 for the same licence"),
    ("Acrobat,K-1,5,,,Ada Lovelace,\n",
     "line 3, field 'assigned_to': 'Ada Lovelace' is not an e-mail address (seats are assigned to people by e-mail)"),
    ("Acrobat,K-1,5,,,,@ITAM(1)\n", "line 3, field 'asset_tag': '@ITAM(1)' looks like a spreadsheet formula"),
    (",K-1,5,,,,\n", "line 3, field 'name': is empty"),
    ("Acrobat,K-1,5,2026-12-31,+SUM(1;2),,\n", "line 3, field 'purchase_cost': '+SUM(1;2)' looks like a spreadsheet formula"),
])
def test_bad_licence_rows_name_line_and_field(store, settings, tmp_path, row, message):
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "assets.csv", ASSETS)], settings)
    before = store.counts()
    path = _write(tmp_path, LICENSE_HEADER + LICENSE_ROW + row)
    with pytest.raises(IngestError) as caught:
        ingest_files(store, "licenses", [path], settings)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))
    assert store.counts() == before


CONTRACT_HEADER = "vendor,reference,start_date,end_date,notice_period,covered_asset_tags,covered_licenses\n"
CONTRACT_ROW = "Dell,DELL-1,2024-01-15,2027-01-14,90 days,ITAM-1,\n"


@pytest.mark.parametrize("row, message", [
    ("Dell,DELL-2,2025-01-01,2024-12-31,,,\n",
     "line 3, field 'end_date': end date 2024-12-31 is before start date 2025-01-01"),
    ("Dell,DELL-2,2025-01-01,2025-31-12,,,\n", "line 3, field 'end_date': '2025-31-12' is not a date"),
    ("Dell,DELL-2,,,soon,,\n", "line 3, field 'notice_period': 'soon' is not a notice period"),
    ("Dell,dell-1,,,,,\n", "line 3, field 'reference': contract 'dell-1' already on line 2"),
    (",DELL-2,,,,,\n", "line 3, field 'vendor': is empty"),
    ("Dell,DELL-2,,,,ITAM-1;=cmd|' /C calc'!A0,\n",
     "line 3, field 'covered_asset_tags': '=cmd' looks like a spreadsheet formula"),
    ("Dell,DELL-2,,,,,Office|@SUM(A1)\n", "line 3, field 'covered_licenses': '@SUM(A1)' looks like a spreadsheet"),
    ("-1+2,DELL-2,,,,,\n", "line 3, field 'vendor': '-1+2' looks like a spreadsheet formula"),
])
def test_bad_contract_rows_name_line_and_field(store, settings, tmp_path, row, message):
    before = store.counts()
    path = _write(tmp_path, CONTRACT_HEADER + CONTRACT_ROW + row, "contracts.csv")
    with pytest.raises(IngestError) as caught:
        ingest_files(store, "contracts", [path], settings)
    assert message in str(caught.value)
    assert store.counts() == before


def test_notice_days_and_period_must_agree(tmp_path):
    path = _write(tmp_path, "vendor,reference,end_date,notice_days,notice_period\nDell,D-1,2027-01-14,60,3 months\n")
    with pytest.raises(IngestError, match="line 2, field 'notice_period': '3 months' \\(92 days\\) disagrees"):
        parse_contracts(path, LIMIT)


def test_structural_problems(store, settings, tmp_path):
    before = store.counts()
    with pytest.raises(IngestError, match="line 1: header lacks column\\(s\\) name"):
        ingest_files(store, "licenses", [_write(tmp_path, "Seats,Product Key\n5,K\n")], settings)
    with pytest.raises(IngestError, match="line 1: header lacks column\\(s\\) reference"):
        ingest_files(store, "contracts", [_write(tmp_path, "vendor,start_date\nDell,2024-01-01\n")], settings)
    with pytest.raises(IngestError, match="line 3: 3 fields where the header has 2"):
        ingest_files(store, "licenses", [_write(tmp_path, "name,seats\nA,1\nB,2,3\n")], settings)
    small = replace(settings, max_file_bytes=100)
    with pytest.raises(IngestError, match="over the limit of 100 bytes"):
        ingest_files(store, "licenses", [LICENSES], small)
    with pytest.raises(IngestError, match="over the limit of 100 bytes"):
        ingest_files(store, "contracts", [CONTRACTS], small)
    assert store.counts() == before


def test_one_row_may_assign_several_seats(tmp_path):
    path = _write(tmp_path, LICENSE_HEADER + "Acrobat,K-1,5,,,ada@example.com; Grace@Example.com,ITAM-1|itam-2\n")
    (acrobat,) = parse_licenses(path, LIMIT).licenses
    assert acrobat.assigned_emails == ("ada@example.com", "grace@example.com")
    assert acrobat.assigned_asset_tags == ("ITAM-1", "ITAM-2")


def test_licence_costs_in_the_decimal_comma_convention(tmp_path):
    path = _write(tmp_path, LICENSE_HEADER + "Acrobat,K-1,5,2026-12-31,\"1.234,56\",,\nOffice,K-2,5,2026-12-31,\"999,00\",,\n")
    assert [lic.purchase_cost for lic in parse_licenses(path, LIMIT).licenses] == [1234.56, 999.0]


def test_an_ambiguous_contract_cost_beside_decimal_commas_is_refused(tmp_path):
    path = _write(tmp_path, "vendor,reference,cost\nDell,DELL-1,\"1.200\"\nDell,DELL-2,\"99,50\"\n", "contracts.csv")
    with pytest.raises(IngestError) as caught:
        parse_contracts(path, LIMIT)
    assert str(caught.value).startswith(
        f"{path} line 2, field 'cost': '1.200' is ambiguous (1.2 or 1200) and this file writes decimal commas "
        "(line 3, field 'cost': '99,50')")
