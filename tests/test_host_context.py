"""The responder's answer across every source: one laptop known to inventory, agent, scanner,
directory, certificates and EDR, with each fact's provenance."""
from __future__ import annotations

import pytest

from ingest.pipeline import ingest_files
from tests.builders import nmap_xml, osquery_log, snipeit_csv

LAPTOP = {"hostname": "lt-0042", "uuid": "4c4c4544-0042-3510-8052-b4c04f4b4e32", "serial": "5CG1234ABC",
          "mac": "54:ee:75:12:34:56", "ip": "10.0.3.42",
          "programs": [("Mozilla Firefox", "132.0", "Mozilla"), ("Adobe Acrobat Pro", "24.1", "Adobe")]}

QUERY = """query($id: String!) { asset(identifier: $id) {
  name lifecycleStage os owner { email active source } team { name }
  software { name version source } controls { tool verb current } credentials { kind name via issuedTo }
  sightings { source current } claims { field value source shown } shouldExist { verdict reasons } } }"""


@pytest.fixture
def laptop(store, settings, tmp_path):
    hr = tmp_path / "hr.csv"
    hr.write_text("email,name,department,end_date\nada@example.com,Ada Lovelace,Finance,\n")
    ingest_files(store, "hr", [hr], settings)
    snipeit_csv(tmp_path / "assets.csv", [{"asset_tag": "ITAM-42", "item_name": "lt-0042", "serial": "5CG1234ABC",
                                           "category": "Laptops", "email": "ada@example.com",
                                           "location": "HQ"}])
    ingest_files(store, "snipeit", [tmp_path / "assets.csv"], settings)
    ingest_files(store, "osquery", [osquery_log(tmp_path / "osquery.log", [LAPTOP])], settings)
    ingest_files(store, "nmap", [nmap_xml(tmp_path / "scan.xml", [
        {"ip": "10.0.3.42", "mac": LAPTOP["mac"], "ports": [("tcp", 3389, "ms-wbt-server")]}])], settings)
    edr = tmp_path / "edr.csv"
    edr.write_text("tool,category,hostname,serial,mac,last_check_in\n"
                   "CrowdStrike Falcon,edr,lt-0042,5CG1234ABC,,2026-11-24T08:00:00Z\n")
    ingest_files(store, "coverage", [edr], settings)


def test_laptop_known_by_serial_uuid_and_mac_is_one_asset(laptop, store):
    rows = store.read("""MATCH (a:Asset) RETURN a.name AS name,
        [(a)-[:SEEN_BY]->(s:Source) | s.name] AS sources,
        [(i:Identifier)-[:IDENTIFIES]->(a) | i.kind] AS kinds""")
    assert len(rows) == 1, rows
    assert sorted(rows[0]["sources"]) == ["coverage", "nmap", "osquery", "snipeit"]
    assert {"asset_tag", "serial", "agent_id", "mac", "hostname", "ip"} <= set(rows[0]["kinds"])


@pytest.mark.parametrize("identifier", ["lt-0042", "10.0.3.42", "54-EE-75-12-34-56", "5cg1234abc",
                                        "4C4C4544-0042-3510-8052-B4C04F4B4E32"])
def test_host_query_joins_every_source(laptop, api, identifier):
    asset = api(QUERY, id=identifier)["data"]["asset"]
    assert asset["name"] == "lt-0042"
    assert asset["owner"] == {"email": "ada@example.com", "active": True, "source": "snipeit"}
    assert asset["team"] == {"name": "Finance"}
    assert asset["os"] == "Microsoft Windows 11 Enterprise 10.0.22631"
    assert {(s["name"], s["source"]) for s in asset["software"]} == {("Mozilla Firefox", "osquery"),
                                                                     ("Adobe Acrobat Pro", "osquery")}
    assert {(c["tool"], c["verb"]) for c in asset["controls"]} == {("osquery", "MONITORS"),
                                                                   ("CrowdStrike Falcon", "PROTECTS")}
    assert sorted(s["source"] for s in asset["sightings"]) == ["coverage", "nmap", "osquery", "snipeit"]
    assert asset["shouldExist"]["verdict"] == "EXPECTED"


def test_disputed_os_shows_the_agent_and_keeps_every_claim(laptop, api, store, settings, tmp_path):
    scan = tmp_path / "os.xml"
    scan.write_text(nmap_xml(tmp_path / "base.xml", [{"ip": "10.0.3.42", "mac": LAPTOP["mac"]}]).read_text().replace(
        "</ports>", '</ports><os><osmatch name="Microsoft Windows 10 1809" accuracy="96"><osclass vendor="Microsoft" '
        'osfamily="Windows" osgen="10" accuracy="96"/></osmatch></os>'))
    ingest_files(store, "nmap", [scan], settings)
    asset = api(QUERY, id="lt-0042")["data"]["asset"]
    assert asset["os"] == "Microsoft Windows 11 Enterprise 10.0.22631"
    os_claims = [(c["source"], c["value"], c["shown"]) for c in asset["claims"] if c["field"] == "os_name"]
    assert os_claims == [("osquery", "Microsoft Windows 11 Enterprise 10.0.22631", True),
                         ("nmap", "Microsoft Windows 10 1809", False)]


def test_certificates_and_departure_show_on_the_laptop(laptop, api, store, settings, tmp_path):
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lt-0042.corp.example.com")])
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(42).not_valid_before(now).not_valid_after(now + timedelta(days=400))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("lt-0042"), x509.RFC822Name("ada@example.com")]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "lt-0042.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ingest_files(store, "certificates", [tmp_path / "certs"], settings)
    hr = tmp_path / "hr2.csv"
    hr.write_text("email,name,department,end_date\nada@example.com,Ada Lovelace,Finance,2026-11-01\n")
    ingest_files(store, "hr", [hr], settings)
    asset = api(QUERY, id="lt-0042")["data"]["asset"]
    assert asset["credentials"] == [
        {"kind": "x509", "name": "lt-0042.corp.example.com", "via": via, "issuedTo": ["ada@example.com"]}
        for via in ("AUTHENTICATES", "ISSUED_TO_OWNER")]
    assert asset["owner"]["active"] is False
    assert asset["shouldExist"]["verdict"] == "REVIEW"
    assert "owner ada@example.com left on 2026-11-01" in asset["shouldExist"]["reasons"]
