"""Control coverage CSVs (EDR, MDM, ...): which tool covers which host, and hosts only a tool knows."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from graph.models import ControlCategory
from ingest.coverage import category_of, check_in, parse_batch
from ingest.errors import IngestError
from ingest.pipeline import ingest_files
from tests.builders import snipeit_csv
from tests.conftest import FIXTURES

EDR = FIXTURES / "coverage" / "edr-hosts.csv"
MDM = FIXTURES / "coverage" / "mdm-devices.csv"
LIMIT = 8 * 1024 * 1024
INVENTORY = [
    {"asset_tag": "ITAM-1", "item_name": "web-01", "serial": "SRV001", "mac_address": "00:14:22:00:00:01"},
    {"asset_tag": "ITAM-7", "item_name": "Ada's MacBook", "serial": "C02XYZ", "category": "Laptops"},
]
HEADER = "tool,category,hostname,serial,mac,last_check_in\n"
GOOD_ROW = "Falcon,edr,web-01,SRV001,,2026-08-20T09:14:00Z\n"


def _write(tmp_path, text: str, name: str = "coverage.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _keys(host) -> list[str]:
    return [i.key for i in host.identifiers]


def test_edr_export_rows_become_hosts_with_one_control():
    batch = parse_batch(EDR, LIMIT)
    assert batch.scopes == ["coverage:CrowdStrike Falcon"]
    web, shadow, lab = batch.hosts
    assert _keys(web) == ["serial:SRV001", "mac:00:14:22:00:00:01", "hostname:web-01", "fqdn:web-01.corp.example.com"]
    control = web.controls[0]
    assert (control.tool, control.category) == ("CrowdStrike Falcon", ControlCategory.EDR)
    assert control.last_seen == web.observed_at == datetime(2026, 8, 20, 9, 14, tzinfo=timezone.utc)
    assert (web.scope, web.record, web.ports, web.software, web.owner) == (
        "coverage:CrowdStrike Falcon", "edr-hosts.csv line 2", None, None, None)
    assert web.properties.model_dump(exclude_none=True) == {}
    assert _keys(shadow) == ["serial:PF3ABCDE", "mac:3c:22:fb:7a:10:02", "hostname:shadow-pc-7"]
    assert _keys(lab) == ["mac:3c:22:fb:7a:10:03", "hostname:lab-box"]   # placeholder serial dropped
    assert lab.observed_at == datetime(2026, 8, 1, tzinfo=timezone.utc)  # a date is midnight UTC


def test_mdm_export_headers_and_device_names():
    batch = parse_batch(MDM, LIMIT)
    assert batch.scopes == ["coverage:Microsoft Intune"]
    macbook, desktop = batch.hosts
    assert _keys(macbook) == ["serial:C02XYZ", "mac:3c:22:fb:01:02:03"]   # "Ada's MacBook Pro" is no host name
    assert _keys(desktop) == ["serial:5CG1234XYZ", "hostname:desktop-8k2lq"]
    assert {h.controls[0].category for h in batch.hosts} == {ControlCategory.MDM}
    assert macbook.controls[0].last_seen == datetime(2026, 8, 20, 7, 2, 11, tzinfo=timezone.utc)


def test_several_tools_in_one_file_give_one_scope_each(tmp_path):
    path = _write(tmp_path, HEADER + GOOD_ROW + "Wazuh,SIEM,web-01,,,2026-08-20\nNessus,scanner,db-01,,,\n")
    batch = parse_batch(path, LIMIT)
    assert batch.scopes == ["coverage:Falcon", "coverage:Nessus", "coverage:Wazuh"]
    assert [h.controls[0].category for h in batch.hosts] == [
        ControlCategory.EDR, ControlCategory.LOGGING, ControlCategory.VULNERABILITY_SCANNER]
    unseen = batch.hosts[2]   # no check-in: the file's time, and no last_seen
    assert unseen.controls[0].last_seen is None and unseen.observed_at.tzinfo is not None


@pytest.mark.parametrize("text, category", [
    ("EDR", "edr"), ("Antivirus", "edr"), ("anti-virus", "edr"), ("MDM", "mdm"), ("Device management", "mdm"),
    ("siem", "logging"), ("Log Shipper", "logging"), ("scanner", "vulnerability_scanner"),
    ("vulnerability_scanner", "vulnerability_scanner"), ("monitoring", "monitoring"), ("Backup", "backup"),
    ("endpoint_agent", "endpoint_agent"),
])
def test_category_aliases(text, category):
    assert category_of(text) == ControlCategory(category)


def test_check_in_times_are_utc():
    assert check_in("2026-08-20T11:14:00+02:00") == datetime(2026, 8, 20, 9, 14, tzinfo=timezone.utc)
    assert check_in("2026-08-20 09:14:00") == datetime(2026, 8, 20, 9, 14, tzinfo=timezone.utc)


def test_edr_and_mdm_coverage_in_the_graph(store, settings, tmp_path):
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "assets.csv", INVENTORY)], settings)
    edr = ingest_files(store, "coverage", [EDR], settings)
    assert (edr.records, edr.created, edr.updated, edr.conflicts) == (3, 2, 1, 0)
    protected = store.read("""
        MATCH (c:Control)-[r:PROTECTS]->(a:Asset)
        RETURN c.name AS tool, c.category AS category, a.asset_tag AS tag,
               toString(r.last_seen) AS last_seen, r.source AS source ORDER BY last_seen""")
    assert protected == [
        {"tool": "CrowdStrike Falcon", "category": "edr", "tag": None, "last_seen": "2026-08-01T00:00:00Z",
         "source": "coverage"},
        {"tool": "CrowdStrike Falcon", "category": "edr", "tag": None, "last_seen": "2026-08-19T22:41:07Z",
         "source": "coverage"},
        {"tool": "CrowdStrike Falcon", "category": "edr", "tag": "ITAM-1", "last_seen": "2026-08-20T09:14:00Z",
         "source": "coverage"},
    ]
    assert store.read("MATCH (c:Control {name: 'CrowdStrike Falcon'})-[:PROTECTS]->(a:Asset {asset_tag: 'ITAM-1'}) "
                      "RETURN a.name AS name") == [{"name": "web-01"}]

    # Shadow IT: hosts only the EDR knows are new assets seen by 'coverage' alone.
    shadow = store.read("""
        MATCH (a:Asset) WHERE NOT (a)-[:SEEN_BY]->(:Source {name: 'snipeit'})
        MATCH (a)-[:SEEN_BY]->(s:Source) MATCH (i:Identifier)-[:IDENTIFIES]->(a)
        RETURN a.id AS id, a.kind AS kind, collect(DISTINCT s.name) AS sources, collect(DISTINCT i.key) AS identifiers""")
    assert sorted((r["kind"], r["sources"], sorted(r["identifiers"])) for r in shadow) == [
        ("Host", ["coverage"], ["hostname:lab-box", "mac:3c:22:fb:7a:10:03"]),
        ("Host", ["coverage"], ["hostname:shadow-pc-7", "mac:3c:22:fb:7a:10:02", "serial:PF3ABCDE"]),
    ]

    mdm = ingest_files(store, "coverage", [MDM], settings)
    assert (mdm.records, mdm.created, mdm.updated) == (2, 1, 1)
    assert store.read("MATCH (c:Control)-[r:MANAGES]->(a:Asset) WHERE a.asset_tag IS NOT NULL "
                      "RETURN c.name AS tool, c.category AS category, a.asset_tag AS tag") == [
        {"tool": "Microsoft Intune", "category": "mdm", "tag": "ITAM-7"}]
    # Coverage names nothing else: the inventory's name and type stay.
    assert store.read("MATCH (a:Asset {asset_tag: 'ITAM-7'}) RETURN a.name AS name, a.host_type AS type") == [
        {"name": "Ada's MacBook", "type": "laptop"}]

    before = store.counts()
    again = ingest_files(store, "coverage", [EDR], settings)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    after = store.counts()
    assert after.pop("IngestRun") == before.pop("IngestRun") + 1
    assert after == before


@pytest.mark.parametrize("row, message", [
    ("Falcon,edr,,,,2026-08-20\n",
     "line 3: no identifier: the row needs a hostname, fqdn, serial or mac"),
    ("Falcon,edr,,To be filled by O.E.M.,00:00:00:00:00:00,2026-08-20\n", "line 3: no identifier"),
    ("Falcon,edr,Ada's MacBook,,,2026-08-20\n",
     "line 3, field 'hostname': \"Ada's MacBook\" is not a host name, and the row has no serial, MAC or FQDN"),
    ("Falcon,edr,web-02,,,20/08/2026\n", "line 3, field 'last_check_in': '20/08/2026' is not an ISO date or date-time"),
    ("Falcon,edr,web-02,,,2026-02-30\n", "line 3, field 'last_check_in': '2026-02-30' is not an ISO date"),
    ("Falcon,firewall,web-02,,,\n", "line 3, field 'category': unknown category 'firewall'"),
    ("Falcon,mdm,web-02,,,\n", "line 3, field 'category': 'Falcon' is 'edr' on line 2; a tool has one category"),
    ("Falcon,edr,web-02,,00:14:22,\n", "line 3, field 'mac': '00:14:22' is not a MAC address"),
    ("\"=HYPERLINK(\"\"http://evil.example\"\")\",edr,web-02,,,\n",
     "line 3, field 'tool': '=HYPERLINK(\"http://evil.example\")' looks like a spreadsheet formula"),
    ("Falcon,edr,@cmd,,,\n", "line 3, field 'hostname': '@cmd' looks like a spreadsheet formula"),
    ("Falcon,edr,web-02,-2+3,,\n", "line 3, field 'serial': '-2+3' looks like a spreadsheet formula"),
    (",edr,web-02,,,\n", "line 3, field 'tool': is empty"),
])
def test_bad_rows_name_line_and_field_and_write_nothing(store, settings, tmp_path, row, message):
    ingest_files(store, "coverage", [EDR], settings)
    before = store.counts()
    path = _write(tmp_path, HEADER + GOOD_ROW + row)
    with pytest.raises(IngestError) as caught:
        ingest_files(store, "coverage", [path], settings)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))
    assert store.counts() == before


def test_structural_problems(store, settings, tmp_path):
    before = store.counts()
    with pytest.raises(IngestError, match="line 1: header lacks column\\(s\\) category"):
        ingest_files(store, "coverage", [_write(tmp_path, "tool,hostname\nFalcon,web-01\n")], settings)
    with pytest.raises(IngestError, match="line 3: 7 fields where the header has 6"):
        ingest_files(store, "coverage", [_write(tmp_path, HEADER + GOOD_ROW + GOOD_ROW.strip() + ",x\n")], settings)
    with pytest.raises(IngestError, match="malformed CSV"):
        ingest_files(store, "coverage", [_write(tmp_path, HEADER + 'Falcon,edr,"web-01\n')], settings)
    with pytest.raises(IngestError, match="over the limit of 100 bytes"):
        ingest_files(store, "coverage", [EDR], replace(settings, max_file_bytes=100))
    assert store.counts() == before


def test_a_full_export_retires_hosts_the_tool_no_longer_lists(store, settings, tmp_path):
    first = _write(tmp_path, HEADER + GOOD_ROW + "Falcon,edr,pc-2,SER2,,2026-08-20\n", "first.csv")
    later = _write(tmp_path, HEADER + "Falcon,edr,pc-2,SER2,,2026-08-22\n", "later.csv")
    ingest_files(store, "coverage", [first], settings)
    summary = ingest_files(store, "coverage", [later], settings)
    assert summary.retired == 1
    assert store.read("""
        MATCH (i:Identifier)-[:IDENTIFIES]->(a:Asset)-[s:SEEN_BY]->(:Source {name: 'coverage'})
        WHERE i.kind = 'serial' RETURN i.value AS serial, s.current AS current ORDER BY serial""") == [
        {"serial": "SER2", "current": True}, {"serial": "SRV001", "current": False}]


def test_each_tool_retires_only_its_own_coverage(store, settings, tmp_path):
    edr = _write(tmp_path, HEADER + GOOD_ROW + "Falcon,edr,pc-2,SER2,,2026-08-20\n", "edr1.csv")
    mdm = _write(tmp_path, HEADER + "Intune,mdm,web-01,SRV001,,2026-08-21\n", "mdm1.csv")
    edr_later = _write(tmp_path, HEADER + "Falcon,edr,pc-2,SER2,,2026-08-22\n", "edr2.csv")
    for path in (edr, mdm, edr_later):
        ingest_files(store, "coverage", [path], settings)
    # Falcon no longer lists web-01: its PROTECTS edge goes (or is marked not current); Intune still manages it.
    assert store.read("""
        MATCH (c:Control)-[r]->(a:Asset)<-[:IDENTIFIES]-(i:Identifier {kind: 'serial'})
        WHERE coalesce(r.current, true) RETURN c.name AS tool, i.value AS serial ORDER BY tool, serial""") == [
        {"tool": "Falcon", "serial": "SER2"}, {"tool": "Intune", "serial": "SRV001"}]
