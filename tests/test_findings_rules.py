"""Each rule against real Neo4j and real-format input: a case that fires and one that must not,
and date rules at their boundary day N and N+1."""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ingest.pipeline import ingest_files
from queries.findings import evaluate, run_rule
from queries.rules import READS_FINDINGS, RULES, Severity, query_parameters
from tests.builders import hr_csv, nmap_xml, osquery_log, snipeit_csv
from tests.conftest import FIXTURES

TODAY = date(2026, 11, 30)
SCAN = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def load(store, settings):
    quiet = dataclasses.replace(settings, evaluate_findings=False)

    def ingest(source: str, *paths: Path):
        summary = ingest_files(store, source, list(paths), quiet)
        assert summary.status == "succeeded"
        return summary
    return ingest


def subjects(store, rule_id: str, today: date = TODAY, **params) -> dict[str, list]:
    return {d.subject: d for d in run_rule(store, RULES[rule_id], today, **params)}


def scan(tmp_path: Path, name: str, hosts: list[dict], when: datetime = SCAN) -> Path:
    return nmap_xml(tmp_path / name, hosts, start=int(when.timestamp()))


def test_every_rule_and_count_query_is_valid_cypher(store):
    for rule in RULES.values():
        params = query_parameters(rule, lambda cypher, p: store.read(cypher, **p), TODAY)
        for query in (rule.query, rule.count, *([rule.candidates] if rule.candidates else [])):
            store.read("EXPLAIN " + query.cypher, **params)
        assert rule.id == rule.id.lower() and " " not in rule.id
        assert rule.severity in Severity and rule.description and rule.identity


def test_every_rule_that_reads_findings_is_read_only_after_the_rules_before_it_are_written():
    # an evaluation reads the next rule while it writes the current one's findings (queries/findings.py);
    # a rule whose query reads findings (INVOLVES from an asset) must wait, or it sees the last evaluation's
    reading = {rule.id for rule in RULES.values() if "<-[:INVOLVES]-(f)" in rule.query.cypher}
    assert reading == set(READS_FINDINGS) == {"internet-exposed", "lifecycle-standard"}


def test_shadow_it_is_discovery_without_inventory(store, load, tmp_path):
    load("snipeit", snipeit_csv(tmp_path / "a.csv", [{"asset_tag": "A1", "item_name": "known-01",
                                                      "mac_address": "00:11:22:33:44:01"}]))
    load("nmap", scan(tmp_path, "s.xml", [
        {"ip": "10.0.0.1", "mac": "00:11:22:33:44:01", "name": "known-01"},
        {"ip": "10.0.0.2", "mac": "00:11:22:33:44:02", "name": "rogue-pi"}]))
    found = subjects(store, "shadow-it")
    assert list(found) == ["rogue-pi"]
    assert "never procured" in found["rogue-pi"].evidence[0] and "10.0.0.2" in found["rogue-pi"].evidence[0]


def test_decommissioned_but_seen_after_its_date(store, load, tmp_path):
    load("snipeit", snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "A1", "item_name": "old-01", "status": "Archived", "decommissioned_date": "2026-02-01",
         "mac_address": "00:11:22:33:44:01"},
        {"asset_tag": "A2", "item_name": "old-02", "status": "Archived", "decommissioned_date": "2026-12-01",
         "mac_address": "00:11:22:33:44:02"}]))
    load("nmap", scan(tmp_path, "s.xml", [{"ip": "10.0.0.1", "mac": "00:11:22:33:44:01", "name": "old-01"},
                                          {"ip": "10.0.0.2", "mac": "00:11:22:33:44:02", "name": "old-02"}]))
    found = subjects(store, "decommissioned-but-seen")
    assert list(found) == ["old-01"]        # old-02 was seen before its decommissioning date
    assert "decommissioned on 2026-02-01 yet still answering on 10.0.0.1" in found["old-01"].evidence[0]


def _cert(path: Path, cn: str, not_after: datetime, email: str | None = None) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(not_after - timedelta(days=365))
               .not_valid_after(not_after))
    if email:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_orphaned_credential_of_a_departed_person(store, load, tmp_path):
    load("hr", hr_csv(tmp_path / "hr.csv", "ada@example.com,Ada,1,IT,,2020-01-01,",
                      "bob@example.com,Bob,2,IT,,2020-01-01,2026-06-30",
                      "cy@example.com,Cy,3,IT,,2020-01-01,2027-01-31"))
    certs = tmp_path / "certs"
    certs.mkdir()
    _cert(certs / "ada.pem", "ada-vpn", datetime(2027, 6, 1, tzinfo=timezone.utc), "ada@example.com")
    _cert(certs / "bob.pem", "bob-vpn", datetime(2027, 6, 1, tzinfo=timezone.utc), "bob@example.com")
    _cert(certs / "cy.pem", "cy-vpn", datetime(2027, 6, 1, tzinfo=timezone.utc), "cy@example.com")
    load("certificates", certs)
    found = run_rule(store, RULES["orphaned-credential"], TODAY)
    assert len(found) == 1
    assert found[0].evidence[:2] == ["issued to bob@example.com, who left on 2026-06-30", "still valid until 2027-06-01"]
    # Cy leaves on 2027-01-31: her certificate is orphaned from that day, not the day before
    assert len(run_rule(store, RULES["orphaned-credential"], date(2027, 1, 30))) == 1
    assert len(run_rule(store, RULES["orphaned-credential"], date(2027, 1, 31))) == 2


def test_an_orphaned_ssh_key_names_the_hosts_it_still_opens(store, load, tmp_path):
    load("hr", hr_csv(tmp_path / "hr.csv", "alice@example.com,Alice,1,IT,,2020-01-01,2026-06-30"))
    load("osquery", FIXTURES / "osquery" / "snapshot.log")
    found = {f.subject: f for f in run_rule(store, RULES["orphaned-credential"], TODAY)}
    alice = found["ssh_key alice@laptop"]
    [web01] = store.read("MATCH (:Identifier {key: 'hostname:web01'})-[:IDENTIFIES]->(a:Asset) RETURN a.id AS id")
    assert alice.assets == [web01["id"]]
    assert alice.evidence[:2] == ["issued to alice@example.com, who left on 2026-06-30",
                                  "grants access to web01, in service"]
    # a host retired since: its key is orphaned by that, and the host is not called in service
    store.execute("MATCH (:Identifier {key: 'hostname:db02'})-[:IDENTIFIES]->(a:Asset) "
                  "SET a.lifecycle_stage = 'decommissioned'")
    backup = {f.subject: f for f in run_rule(store, RULES["orphaned-credential"], TODAY)}["ssh_key backup@db02"]
    assert [e for e in backup.evidence if "db02" in e] == ["grants access to db02, which is decommissioned",
                                                           "stored on db02, which is decommissioned"]


def test_missing_control_per_category_and_not_applicable(store, load, tmp_path):
    load("snipeit", snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "S1", "item_name": "srv-01", "serial": "SER1", "category": "Servers"},
        {"asset_tag": "S2", "item_name": "srv-02", "serial": "SER2", "category": "Servers"},
        {"asset_tag": "P1", "item_name": "printer-01", "serial": "PRN1", "category": "Printers"},
        {"asset_tag": "N1", "item_name": "core-sw", "serial": "NET1", "category": "Switches"}]))
    edr = tmp_path / "edr.csv"
    edr.write_text("tool,category,hostname,serial,mac,last_check_in\n"
                   "Falcon,edr,srv-01,SER1,,2026-11-20T10:00:00Z\nFalcon,edr,srv-02,SER2,,2026-11-20T10:00:00Z\n")
    logs = tmp_path / "logs.csv"
    logs.write_text("tool,category,hostname,serial,mac,last_check_in\nElastic,logging,srv-01,SER1,,2026-11-20T10:00:00Z\n")
    load("coverage", edr)
    load("coverage", logs)
    found = subjects(store, "missing-control")
    assert list(found) == ["srv-02: no logging"]
    counts = {r["scope"]: (r["covered"], r["total"])
              for r in store.read(RULES["missing-control"].count.cypher, **RULES["missing-control"].parameters(TODAY))}
    assert counts == {"edr": (2, 2), "logging": (1, 2)}


def test_eol_software_and_os_from_osquery(store, load, tmp_path):
    load("osquery", osquery_log(tmp_path / "o.log", [
        {"hostname": "pc-old", "uuid": "11111111-1111-1111-1111-111111111111", "serial": "PC1",
         "mac": "00:11:22:33:44:01", "ip": "10.0.0.1", "os": ("Microsoft Windows 10 Enterprise", "10.0.19045"),
         "programs": [("OpenSSL 1.1.1n (64-bit)", "1.1.1n", "OpenSSL"), ("7-Zip", "23.01", "Igor")]},
        {"hostname": "pc-new", "uuid": "22222222-2222-2222-2222-222222222222", "serial": "PC2",
         "mac": "00:11:22:33:44:02", "ip": "10.0.0.2", "os": ("Microsoft Windows 11 Enterprise", "10.0.26100"),
         "programs": [("OpenSSL 3.5.1 (64-bit)", "3.5.1", "OpenSSL")]}]))
    software = run_rule(store, RULES["eol-software"], TODAY)
    assert [d.subject for d in software] == ["pc-old: OpenSSL 1.1.1n (64-bit) 1.1.1n"]
    assert software[0].evidence[1] == "OpenSSL 1.1.1: end of life on 2023-09-11, 1176 days ago"
    os_found = run_rule(store, RULES["eol-os"], TODAY)
    assert [d.subject for d in os_found] == ["pc-old: Microsoft Windows 10 Enterprise 10.0.19045"]
    assert os_found[0].severity is None          # past its end of life: the rule's severity


def test_eol_within_warning_window_is_low_severity(store, load, tmp_path):
    load("osquery", osquery_log(tmp_path / "o.log", [
        {"hostname": "pc-1", "uuid": "11111111-1111-1111-1111-111111111111", "serial": "PC1",
         "mac": "00:11:22:33:44:01", "ip": "10.0.0.1", "programs": [("OpenSSL 3.0.2", "3.0.2", "OpenSSL")]}]))
    eol_day = date(2026, 9, 7)                   # OpenSSL 3.0
    assert run_rule(store, RULES["eol-software"], eol_day - timedelta(days=91)) == []
    warned = run_rule(store, RULES["eol-software"], eol_day - timedelta(days=90))
    assert [d.severity for d in warned] == [Severity.LOW]
    assert [d.severity for d in run_rule(store, RULES["eol-software"], eol_day)] == [None]


def test_expiring_certificate_at_30_and_31_days(store, load, tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    _cert(certs / "web.pem", "web.example.com", datetime(2026, 12, 30, 12, tzinfo=timezone.utc))
    load("certificates", certs)
    ends = date(2026, 12, 30)
    assert run_rule(store, RULES["expiring-certificate"], ends - timedelta(days=31)) == []
    found = run_rule(store, RULES["expiring-certificate"], ends - timedelta(days=30))
    assert found[0].evidence[0] == "expires on 2026-12-30 (in 30 days)" and found[0].severity is None
    expired = run_rule(store, RULES["expiring-certificate"], ends + timedelta(days=1))
    assert expired[0].severity == Severity.HIGH


LICENSES = "ID,Name,Product Key,Seats,Expiration Date,Termination Date,Purchase Cost,Order Number,Manufacturer," \
           "Licensed to Email,Assigned To,Asset Tag\n"


def test_expiring_license_at_30_and_31_days(store, load, tmp_path):
    path = tmp_path / "licenses.csv"
    path.write_text(LICENSES + "1,Acrobat Pro,,10,2026-12-30,,100,PO-1,Adobe,,,\n"
                               "2,Office,,10,2027-06-30,,100,PO-2,Microsoft,,,\n")
    load("licenses", path)
    assert subjects(store, "expiring-license", date(2026, 11, 29)) == {}
    found = subjects(store, "expiring-license", date(2026, 11, 30))
    assert list(found) == ["licence Acrobat Pro"]


def test_expiring_contract_alerts_on_the_notice_deadline(store, load, tmp_path):
    path = tmp_path / "contracts.csv"
    path.write_text("vendor,reference,start_date,end_date,notice_days,covered_asset_tags,covered_licenses\n"
                    "Dell,DELL-1,2024-01-01,2027-01-29,30,,\n"     # deadline 2026-12-30: 30 days away
                    "HP,HP-1,2024-01-01,2027-01-29,29,,\n")        # deadline 2026-12-31: 31 days away
    load("contracts", path)
    found = subjects(store, "expiring-contract")
    assert list(found) == ["contract DELL-1 (Dell)"]
    assert found["contract DELL-1 (Dell)"].evidence[0] == "notice deadline 2026-12-30 (in 30 days; 30 days' notice)"
    # the end date itself is two months away: only the notice deadline makes it urgent
    assert subjects(store, "expiring-contract", date(2026, 12, 1)).keys() == {"contract DELL-1 (Dell)",
                                                                                "contract HP-1 (HP)"}


def test_warranty_expired_only_for_deployed_assets(store, load, tmp_path):
    load("snipeit", snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "A1", "item_name": "srv-01", "purchase_date": "2023-11-30", "warranty_months": "36"},
        {"asset_tag": "A2", "item_name": "srv-02", "purchase_date": "2020-01-01", "warranty_months": "12",
         "status": "Archived"}]))
    ends = store.read("MATCH (a:Asset {name: 'srv-01'}) RETURN a.warranty_end AS d")[0]["d"].to_native()
    assert subjects(store, "warranty-expired", ends) == {}
    assert list(subjects(store, "warranty-expired", ends + timedelta(days=1))) == ["srv-01"]


def test_internet_exposed_is_critical_when_also_unexpected(store, load, tmp_path):
    load("snipeit", snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "A1", "item_name": "www-01", "mac_address": "00:11:22:33:44:01", "category": "Printers"},
        {"asset_tag": "A2", "item_name": "intra-01", "mac_address": "00:11:22:33:44:03", "category": "Printers"}]))
    load("nmap", scan(tmp_path, "s.xml", [
        {"ip": "52.10.20.1", "mac": "00:11:22:33:44:01", "name": "www-01", "ports": [("tcp", 443, "https")]},
        {"ip": "52.10.20.2", "mac": "00:11:22:33:44:02", "name": "rogue", "ports": [("tcp", 22, "ssh")]},
        {"ip": "10.0.0.3", "mac": "00:11:22:33:44:03", "name": "intra-01", "ports": [("tcp", 80, "http")]}]))
    evaluate(store, TODAY)
    found = subjects(store, "internet-exposed")
    assert set(found) == {"www-01", "rogue"}
    assert found["www-01"].severity is None and found["www-01"].evidence == [
        "reachable from the Internet on tcp/443 (public address)"]
    assert found["rogue"].severity == Severity.CRITICAL and found["rogue"].evidence[-1] == "also shadow-it"


def test_stale_asset_after_30_days_without_discovery(store, load, tmp_path):
    load("snipeit", snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "A1", "item_name": "pc-01", "mac_address": "00:11:22:33:44:01", "category": "Desktops"},
        {"asset_tag": "A2", "item_name": "pc-02", "mac_address": "00:11:22:33:44:02", "category": "Desktops"}]))
    load("nmap", scan(tmp_path, "s.xml", [{"ip": "10.0.0.1", "mac": "00:11:22:33:44:01", "name": "pc-01"}]))
    seen = SCAN.date()
    assert list(subjects(store, "stale-asset", seen + timedelta(days=30))) == ["pc-02"]   # never seen
    later = subjects(store, "stale-asset", seen + timedelta(days=31))
    assert set(later) == {"pc-01", "pc-02"}
    assert later["pc-01"].evidence == ["deployed in the inventory; last seen by discovery on 2026-11-20 (31 days ago)"]


def test_unresolved_conflict(store, load, tmp_path):
    load("snipeit", snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "A1", "item_name": "pc-01", "serial": "SER1", "mac_address": "00:11:22:33:44:01"},
        {"asset_tag": "A2", "item_name": "pc-02", "serial": "SER2", "mac_address": "00:11:22:33:44:02"}]))
    assert subjects(store, "unresolved-conflict") == {}
    mdm = tmp_path / "mdm.csv"
    mdm.write_text("tool,category,hostname,serial,mac,last_check_in\nIntune,mdm,pc-01,SER1,00:11:22:33:44:02,"
                   "2026-11-20T10:00:00Z\n")
    load("coverage", mdm)   # a swapped board: SER1 reports pc-02's MAC, which now names two machines
    assert subjects(store, "unresolved-conflict") == {}
    load("nmap", scan(tmp_path, "s.xml", [{"ip": "10.0.0.2", "mac": "00:11:22:33:44:02", "name": "pc-02"}]))
    found = run_rule(store, RULES["unresolved-conflict"], TODAY)   # the scan cannot tell which: a conflict
    assert len(found) == 1 and len(found[0].assets) == 2
