"""The responder's answer across every source: one laptop known to inventory, agent, scanner,
directory, certificates and EDR, with each fact's provenance."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from ingest.pipeline import ingest_files
from tests.builders import nmap_xml, osquery_log, snipeit_csv
from tests.conftest import FIXTURES, plan_details

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


# ------------------------------------------------------------------ which asset a responder's text means

ACME_INSTANCES = FIXTURES / "aws" / "acme" / "ec2-describe-instances.json"
BASTION = "i-0b5e7d1f3a2c49e01"     # Name tag 'bastion-01', host name ip-10-20-0-10
LOOKUP = "query($id: String!) { asset(identifier: $id) { id name } }"


def lookup(api, text: str) -> dict:
    """The GraphQL answer for asset(identifier: text): {'asset': ...} or {'error': message}."""
    answer = api(LOOKUP, id=text)
    return {"error": answer["errors"][0]["message"]} if answer.get("errors") else answer["data"]


def application_sbom(path: Path, name: str, purl: str) -> Path:
    """A CycloneDX SBOM describing one application (what a build pipeline publishes)."""
    path.write_text(json.dumps({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"timestamp": "2026-02-01T10:00:00Z", "component": {
            "type": "application", "name": name, "version": "2.4.0", "purl": purl, "bom-ref": purl}},
        "components": [{"type": "library", "name": "express", "version": "4.18.2", "purl": "pkg:npm/express@4.18.2"}]}))
    return path


@pytest.fixture
def named_assets(laptop, store, settings, tmp_path):
    """The laptop, the AWS account's three instances and an application known only by its SBOM."""
    ingest_files(store, "aws", [ACME_INSTANCES], settings)
    ingest_files(store, "sbom", [application_sbom(tmp_path / "payroll.cdx.json", "payroll-portal",
                                                  "pkg:npm/payroll-portal@2.4.0")], settings)


def test_cloud_instances_and_applications_are_found_by_name_and_by_asset_id(named_assets, api, cli_env):
    bastion = lookup(api, "bastion-01")["asset"]
    assert bastion["name"] == "bastion-01"
    assert lookup(api, f"cloud_id:{BASTION}")["asset"] == bastion
    payroll = lookup(api, "payroll-portal")["asset"]
    assert payroll["name"] == "payroll-portal"
    assert lookup(api, payroll["id"]) == {"asset": payroll}      # the id findings { assets { id } } gives
    assert lookup(api, "Payroll-Portal") == {"asset": None}       # names are exact: no index serves other case
    shown = CliRunner().invoke(app, ["host", "bastion-01", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["id"] == bastion["id"]


def test_identifiers_come_before_asset_ids_and_asset_ids_before_names(laptop, api, store, settings, tmp_path):
    laptop_id = lookup(api, "lt-0042")["asset"]["id"]
    # an application named like the laptop's host name, another named like the laptop's asset id
    ingest_files(store, "sbom", [application_sbom(tmp_path / "a.cdx.json", "lt-0042", "pkg:npm/lt-0042@1"),
                                 application_sbom(tmp_path / "b.cdx.json", laptop_id, "pkg:npm/id-named@1")],
                 settings)
    assert lookup(api, "lt-0042")["asset"] == {"id": laptop_id, "name": "lt-0042"}
    assert lookup(api, laptop_id)["asset"] == {"id": laptop_id, "name": "lt-0042"}


def test_a_name_two_assets_share_lists_both_with_what_picks_each(laptop, api, store, settings, tmp_path, cli_env):
    ingest_files(store, "sbom", [application_sbom(tmp_path / "npm.cdx.json", "payroll", "pkg:npm/payroll@1"),
                                 application_sbom(tmp_path / "mvn.cdx.json", "payroll", "pkg:maven/acme/payroll@1")],
                 settings)
    message = lookup(api, "payroll")["error"]
    assert message.startswith("identifier 'payroll' matches 2 assets: payroll (")
    picks = re.findall(r"choose it with '([^']+)'", message)
    assert len(picks) == 2 and all(p.startswith("asset_tag:") for p in picks), message
    assert len({lookup(api, p)["asset"]["id"] for p in picks}) == 2
    assert "prefix" not in message
    answer = CliRunner().invoke(app, ["host", "payroll"])
    assert answer.exit_code == 1 and "matches 2 assets" in answer.output


def test_two_laptops_behind_one_dock_mac_each_get_an_identifier_of_their_own(store, settings, tmp_path, api):
    dock = "54:ee:75:01:2d:8f"
    ingest_files(store, "osquery", [osquery_log(tmp_path / "dock.log", [
        {"hostname": "lt-ana", "uuid": "0E4F5C1B-0001-4000-8000-00000000A001", "serial": "5CG1230ANA",
         "mac": dock, "ip": "10.1.0.10"},
        {"hostname": "lt-ben", "uuid": "0E4F5C1B-0001-4000-8000-00000000B002", "serial": "5CG1230BEN",
         "mac": dock, "ip": "10.1.0.11"}])], settings)
    for text in (dock, f"mac:{dock}", f"MAC:{dock.upper()}"):
        message = lookup(api, text)["error"]
        assert f"identifier {text!r} matches 2 assets" in message
        assert "lt-ana (" in message and "choose it with 'serial:5CG1230ANA'" in message
        assert "lt-ben (" in message and "choose it with 'serial:5CG1230BEN'" in message
        assert "prefix" not in message and "serial:mac:" not in message   # both matched by the MAC


def test_a_shared_asset_tag_is_not_offered_as_the_pick(store, settings, tmp_path, api):
    # a tag re-used on other hardware (another serial) in a later export: kept apart, both hold the tag
    for name, serial in (("srv-a", "SRVA0001"), ("srv-b", "SRVB0002")):
        snipeit_csv(tmp_path / f"{name}.csv", [{"asset_tag": "ITAM-7", "item_name": name, "serial": serial}])
        ingest_files(store, "snipeit", [tmp_path / f"{name}.csv"], settings)
    message = lookup(api, "ITAM-7")["error"]
    assert "matches 2 assets" in message
    assert "choose it with 'serial:SRVA0001'" in message and "choose it with 'serial:SRVB0002'" in message


def test_a_kind_prefix_is_suggested_when_candidates_matched_as_different_kinds(store, settings, tmp_path, api):
    snipeit_csv(tmp_path / "assets.csv", [{"asset_tag": "ZX81", "item_name": "tagged", "serial": "SER00001"},
                                          {"asset_tag": "ITAM-81", "item_name": "serialled", "serial": "ZX81"}])
    ingest_files(store, "snipeit", [tmp_path / "assets.csv"], settings)
    message = lookup(api, "zx81")["error"]
    assert "matches 2 assets" in message
    assert "They matched as different kinds; prefix one: " in message
    assert "'asset_tag:zx81' means tagged" in message and "'serial:zx81' means serialled" in message
    assert lookup(api, "asset_tag:zx81")["asset"]["name"] == "tagged"
    assert lookup(api, "serial:zx81")["asset"]["name"] == "serialled"


@pytest.mark.parametrize("identifier", ["IP:10.0.3.42", "SERIAL:5cg1234abc", "Hostname:lt-0042",
                                        "Asset_Tag:itam-42", "MAC:54-EE-75-12-34-56"])
def test_kind_prefixes_in_any_case(laptop, api, identifier):
    assert lookup(api, identifier)["asset"]["name"] == "lt-0042"


def test_an_unknown_prefix_is_part_of_the_identifier(laptop, api, cli_env):
    assert lookup(api, "foo:bar") == {"asset": None}
    assert lookup(api, "54:EE:75:12:34:56")["asset"]["name"] == "lt-0042"     # a MAC's colons are no prefix
    missing = CliRunner().invoke(app, ["host", "foo:bar"])
    assert missing.exit_code == 4 and "no asset has an identifier 'foo:bar'" in missing.output


def test_candidates_without_an_identifier_of_their_own_are_chosen_by_asset_id():
    from queries.host import AmbiguousIdentifier
    message = str(AmbiguousIdentifier("10.1.0.10", [
        {"id": "a-1", "name": "lt-ana", "matched": ["ip:10.1.0.10"]},
        {"id": "b-2", "name": "lt-ben", "matched": ["ip:10.1.0.10"], "pick": "serial:5CG1230BEN"}]))
    assert message == ("identifier '10.1.0.10' matches 2 assets: lt-ana (a-1, matched ip:10.1.0.10): choose it with "
                       "'a-1'; lt-ben (b-2, matched ip:10.1.0.10): choose it with 'serial:5CG1230BEN'.")


def test_upper_case_instance_ids_find_the_instance(named_assets, api):
    assert lookup(api, BASTION.upper())["asset"]["name"] == "bastion-01"


def test_name_and_id_lookups_seek_by_index(store):
    from queries.host import FIND_BY_ID_OR_NAME, SOLE_IDENTIFIERS
    with store.driver.session(database=store.database) as session:
        by_text = plan_details(session.run("EXPLAIN " + FIND_BY_ID_OR_NAME.cypher, text="x", most=11).consume().plan)
        sole = plan_details(session.run("EXPLAIN " + SOLE_IDENTIFIERS.cypher, ids=["x"]).consume().plan)
    assert any(d.startswith("NodeUniqueIndexSeek") and "Asset(id)" in d for d in by_text), by_text
    assert any(d.startswith("NodeIndexSeek") and "Asset(name)" in d for d in by_text), by_text
    assert any(d.startswith("NodeUniqueIndexSeek") and "Asset(id)" in d for d in sole), sole
    assert not any("Scan" in d.split(":")[0] for d in by_text + sole), (by_text, sole)


def test_findings_severity_in_any_case(store, settings, tmp_path, cli_env):
    from queries.findings import evaluate
    ingest_files(store, "nmap", [nmap_xml(tmp_path / "scan.xml", [{"ip": "10.0.9.9", "name": "rogue-01"}])], settings)
    evaluate(store, rule_ids=["shadow-it"])
    shown = {}
    for severity in ("HIGH", "high", "High", "CRITICAL"):
        answer = CliRunner().invoke(app, ["findings", "--severity", severity, "--json"])
        assert answer.exit_code == 0, answer.output
        shown[severity] = [(f["rule"], f["subject"]) for f in json.loads(answer.output)]
    assert shown["HIGH"] == shown["high"] == shown["High"] == [("shadow-it", "rogue-01")]
    assert shown["CRITICAL"] == []


@pytest.mark.parametrize("spares, said", [(10, "matches 10 assets"), (11, "matches more than 10 assets")])
def test_a_common_name_lists_at_most_ten_candidates(store, api, spares, said):
    store.execute("UNWIND range(1, $n) AS i CREATE (:Asset:Host {id: 'spare-' + toString(i), name: 'Spare laptop'})",
                  n=spares)
    message = lookup(api, "Spare laptop")["error"]
    assert said in message and message.count("choose it with") == 10
