"""The demo organisation generator, without a database: every source's file is deterministic, parses
with its own connector, and the files tell one consistent story about the highlighted hosts and people."""
from __future__ import annotations

import csv
import hashlib
import importlib.util
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from demo import DEFAULT_SCAN_DATE, SOURCE_ORDER, generate_org
from ingest.errors import IngestError
from ingest.registry import BY_SOURCE

HOSTS = 60
SEED = 11
LIMIT = 64 * 1024 * 1024
SCAN = datetime.combine(DEFAULT_SCAN_DATE, time(0, 0), tzinfo=timezone.utc)


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def available(source: str) -> bool:
    module = BY_SOURCE[source].parser.partition(":")[0]
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    return generate_org(tmp_path_factory.mktemp("org"), hosts=HOSTS, seed=SEED)


@pytest.fixture(scope="module")
def parsed(org):
    """Every generated file through its connector's parser (sources whose connector is missing: absent)."""
    return {source: [BY_SOURCE[source].parse(path, LIMIT) for path in paths]
            for source, paths in org.files_by_source.items() if available(source)}


def need(parsed: dict, *sources: str) -> None:
    for source in sources:
        if source not in parsed:
            pytest.skip(f"connector for {source} not available yet")


# ------------------------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_bytes(org, tmp_path):
    again = generate_org(tmp_path / "again", hosts=HOSTS, seed=SEED)
    first, second = digests(org.out_dir), digests(again.out_dir)
    assert first == second
    assert {"certs/example-corp-internal-ca.pem", "osquery-results.log", "scim-users.json",
            "aws-ec2-describe-instances.json"} <= set(first)
    assert again.counts == org.counts and again.highlights == org.highlights
    other = digests(generate_org(tmp_path / "other", hosts=HOSTS, seed=SEED + 1).out_dir)
    assert other["osquery-results.log"] != first["osquery-results.log"]
    assert other["certs/example-corp-internal-ca.pem"] != first["certs/example-corp-internal-ca.pem"]


def test_each_file_is_the_same_whichever_sources_are_written(org, tmp_path):
    full = digests(org.out_dir)
    for sources in ({"hr", "snipeit", "nmap"}, {"osquery"}, {"aws", "certificates"}, {"coverage", "licenses"}):
        out = tmp_path / "-".join(sorted(sources))
        manifest = generate_org(out, hosts=HOSTS, seed=SEED, sources=sources)
        assert set(manifest.files_by_source) == sources
        part = digests(out)
        assert part and all(full[name] == digest for name, digest in part.items()), sources
        assert {str(p.relative_to(out)) for p in manifest.files if p.is_file()} <= set(part)


def test_sources_are_checked_and_cloud_size_is_a_parameter(tmp_path):
    with pytest.raises(ValueError, match="unknown source"):
        generate_org(tmp_path / "x", hosts=20, sources={"nmap", "ldap"})
    with pytest.raises(ValueError, match="cloud_hosts"):
        generate_org(tmp_path / "y", hosts=20, sources={"aws"}, cloud_hosts=2)
    manifest = generate_org(tmp_path / "z", hosts=20, sources={"aws"}, cloud_hosts=40)
    assert manifest.counts["cloud_instances"] == 40
    assert [p.name for p in manifest.files] == [
        "aws-ec2-describe-instances.json", "aws-ec2-describe-security-groups.json",
        "aws-ec2-describe-subnets.json", "aws-ec2-describe-vpcs.json", "aws-iam-credential-report.json"]


# ------------------------------------------------------------------------------------ the manifest


def test_files_are_grouped_by_source_in_ingest_order(org):
    assert list(org.files_by_source) == list(SOURCE_ORDER)
    assert org.files == [p for source in SOURCE_ORDER for p in org.files_by_source[source]]
    assert all(p.exists() for p in org.files)
    (certs,) = org.files_by_source["certificates"]
    assert certs.is_dir() and certs.name == "certs"
    names = {source: [p.name for p in paths] for source, paths in org.files_by_source.items()}
    assert names["hr"] == ["hr.csv"] and names["scim"] == ["scim-users.json"]
    assert names["snipeit"] == ["snipeit-assets.csv"] and names["licenses"] == ["snipeit-licenses.csv"]
    assert names["osquery"] == ["osquery-results.log"]
    assert names["coverage"] == ["coverage-edr.csv", "coverage-mdm.csv", "coverage-logging.csv"]
    assert all(n.startswith("nmap-") for n in names["nmap"]) and all(n.startswith("sbom-") for n in names["sbom"])
    assert org.to_dict()["files_by_source"]["certificates"] == [str(certs)]


def test_no_private_key_is_written(org):
    for path in org.out_dir.rglob("*"):
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes(), path
    assert not [p for p in org.out_dir.rglob("*") if p.suffix in (".key", ".p12", ".pfx")]


# ------------------------------------------------------------------------------------ connectors


@pytest.mark.parametrize("source", SOURCE_ORDER)
def test_every_file_parses_with_its_connector(org, source):
    if not available(source):
        pytest.skip(f"connector for {source} not available yet")
    for path in org.files_by_source[source]:
        try:
            batch = BY_SOURCE[source].parse(path, LIMIT)
        except IngestError as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{path.name}: {exc}")
        assert batch.hosts or batch.people or batch.credentials or batch.licenses or batch.contracts \
            or batch.reach or path.name in ("aws-ec2-describe-subnets.json", "aws-ec2-describe-vpcs.json"), path.name
        assert batch.skipped == 0 or source == "nmap", (path.name, batch.skipped)


# ------------------------------------------------------------------------------------ the story


def hr_people(org) -> dict[str, dict[str, str]]:
    with org.files_by_source["hr"][0].open(newline="") as handle:
        return {row["email"]: row for row in csv.DictReader(handle)}


def inventory(org) -> dict[str, dict[str, str]]:
    with org.files_by_source["snipeit"][0].open(newline="") as handle:
        return {row["serial"]: row for row in csv.DictReader(handle)}


def hosts_with(parsed: dict, source: str, kind: str, value: str) -> list:
    return [h for batch in parsed[source] for h in batch.hosts
            if any(i.kind == kind and i.value == value for i in h.identifiers)]


def test_directories_agree(org, parsed):
    need(parsed, "hr", "scim")
    hr = {p.email: p for p in parsed["hr"][0].people}
    scim = {p.email: p for p in parsed["scim"][0].people}
    assert set(hr) == set(scim)
    for email, person in hr.items():
        assert scim[email].manager_email == person.manager_email
        assert scim[email].department == person.department and scim[email].employee_id == person.employee_id
        assert (scim[email].departed_by is None) == (person.end_date is None)


def test_demo_laptop_is_seen_everywhere(org, parsed):
    need(parsed, "osquery", "coverage", "nmap")
    card = org.highlights["demo_laptop"]
    row = inventory(org)[card["serial"]]
    assert row["category"] == "Laptops" and row["status"] == "Deployed"
    assert row["asset_tag"] == card["asset_tag"] and row["item_name"] == card["hostname"]
    owner = hr_people(org)[card["email"]]
    assert row["email"] == card["email"] and owner["end_date"] == ""

    (agent,) = hosts_with(parsed, "osquery", "serial", card["serial"])
    ids = {(i.kind, i.value) for i in agent.identifiers}
    assert {("mac", card["mac"]), ("ip", card["ip"]), ("hostname", card["hostname"])} <= ids
    assert any(kind == "agent_id" for kind, _ in ids)
    client = [c for c in agent.credentials if c.kind == "x509" and c.name != "Example Corp Internal CA"]
    assert client, "the owner's VPN certificate is in the laptop's certificate store"
    assert any(s.name == "Adobe Acrobat Pro" for s in agent.software)
    (seen,) = hosts_with(parsed, "nmap", "mac", card["mac"])
    assert card["ip"] in seen.ips

    tools = {h.controls[0].tool for h in hosts_with(parsed, "coverage", "serial", card["serial"])}
    assert "CrowdStrike Falcon" in tools and tools & {"Intune", "Jamf Pro"}

    if "certificates" in parsed:
        vpn = [c for c in parsed["certificates"][0].credentials if c.issued_to_email == card["email"]]
        assert vpn and vpn[0].client_auth and vpn[0].not_after > SCAN
        assert vpn[0].fingerprint != client[0].fingerprint  # SHA-256 here, SHA-1 in osquery


def test_osquery_agrees_with_the_inventory_and_the_scans(org, parsed):
    need(parsed, "osquery", "snipeit", "nmap")
    assets = inventory(org)
    nmap_ips = {i.value: h.ips for b in parsed["nmap"] for h in b.hosts for i in h.identifiers if i.kind == "mac"}
    agents = parsed["osquery"][0].hosts
    deployed = sum(1 for a in assets.values() if a["status"] == "Deployed" and a["category"] != "Networking")
    assert 0.75 * deployed <= len(agents) < deployed    # most deployed hosts, not all
    for host in agents:
        ids = {i.kind: i.value for i in host.identifiers}
        asset = assets[ids["serial"]]
        assert asset["status"] == "Deployed" and ids["mac"] == asset["mac_address"]
        assert ids["hostname"] == asset["item_name"]
        if ids["mac"] in nmap_ips:
            assert set(host.ips) == set(nmap_ips[ids["mac"]])
    assert org.counts["osquery_removed_events"] >= 1
    removed = [h for h in agents if h.software is not None and any(s.name == "telnet" for s in h.software)]
    assert not removed, "telnet's removal events follow the snapshots that listed it"


def test_departed_vpn_user_keeps_access(org, parsed):
    need(parsed, "certificates", "aws", "hr")
    email = org.highlights["departed_vpn_user"]["email"]
    person = hr_people(org)[email]
    left = date.fromisoformat(person["end_date"])
    assert left < DEFAULT_SCAN_DATE

    certs = [c for c in parsed["certificates"][0].credentials if c.issued_to_email == email]
    assert len(certs) == 1 and certs[0].client_auth and certs[0].not_after > SCAN
    assert email in certs[0].emails

    user = email.split("@", 1)[0]
    iam = [c for b in parsed["aws"] for c in b.credentials if c.issued_to_user == user]
    keys = [c for c in iam if c.kind == "aws_access_key"]
    assert keys and keys[0].active is True and keys[0].last_used.date() > left
    console = [c for c in iam if c.kind == "aws_password"]
    assert console and console[0].active is False


def test_bastion_and_database_two_hops_from_the_internet(org, parsed):
    need(parsed, "aws")
    bastion, database = org.highlights["internet_bastion"], org.highlights["aws_database"]
    instances = {i.value: h for b in parsed["aws"] for h in b.hosts for i in h.identifiers if i.kind == "cloud_id"}
    front, back = instances[bastion["cloud_id"]], instances[database["cloud_id"]]
    assert bastion["public_ip"] in front.ips and database["ip"] in back.ips
    assert not any(ip.startswith("10.") for h in instances.values() for ip in h.ips)   # no overlap with offices

    rules = [r for b in parsed["aws"] for r in b.reach]
    into = {}
    for rule in rules:
        into.setdefault(rule.target_group, []).append(rule)
    (front_group,) = front.security_groups
    assert any(r.source_cidr == "0.0.0.0/0" and r.ports == ("tcp/22",) for r in into[front_group])
    (db_group,) = back.security_groups
    (from_app,) = [r for r in into[db_group]]
    assert from_app.ports == ("tcp/5432",) and from_app.source_group
    assert not any(r.source_cidr for r in into[db_group])
    hop = into[from_app.source_group]
    assert any(r.source_group == front_group and r.ports == ("tcp/8080",) for r in hop)

    emails = set(hr_people(org))
    owners = [h.owner.email for h in instances.values() if h.owner is not None]
    assert len(owners) == len(instances) and set(owners) <= emails
    departed = {e for e, p in hr_people(org).items() if p["end_date"]}
    assert len(set(owners) & departed) == 1


def test_licences_and_contracts_tell_their_story(org, parsed):
    need(parsed, "licenses", "contracts", "osquery")
    licences = {lic.name: lic for lic in parsed["licenses"][0].licenses}
    installs = {}
    for host in parsed["osquery"][0].hosts:
        for software in host.software or ():
            installs[software.name] = installs.get(software.name, 0) + 1
    acrobat = licences["Adobe Acrobat Pro"]
    assert installs["Adobe Acrobat Pro"] > len(acrobat.assigned_emails) and acrobat.seats < installs["Adobe Acrobat Pro"]
    assert org.highlights["demo_laptop"]["email"] not in acrobat.assigned_emails
    assert licences["JetBrains IntelliJ IDEA Ultimate"].expires_on < DEFAULT_SCAN_DATE
    soon = [lic for lic in licences.values()
            if lic.expires_on and DEFAULT_SCAN_DATE <= lic.expires_on <= DEFAULT_SCAN_DATE + timedelta(days=30)]
    assert [lic.name for lic in soon] == ["Zoom Workplace Business"]
    assert licences["Windows 11 Enterprise"].assigned_asset_tags

    contracts = parsed["contracts"][0].contracts
    tags = {row["asset_tag"]: row for row in inventory(org).values()}
    smartnet = [c for c in contracts if c.vendor == "Cisco Systems"]
    assert smartnet and all(DEFAULT_SCAN_DATE < c.end <= DEFAULT_SCAN_DATE + timedelta(days=60) for c in smartnet)
    assert all(tags[t]["category"] == "Networking" for c in smartnet for t in c.asset_tags)
    dell = [c for c in contracts if c.vendor == "Dell Technologies"]
    assert all(tags[t]["manufacturer"] == "Dell" and tags[t]["category"] == "Servers" for c in dell for t in c.asset_tags)
    (ea,) = [c for c in contracts if c.vendor == "Microsoft"]
    assert set(ea.license_names) <= set(licences)


def test_coverage_is_incomplete_and_remembers_a_retired_server(org, parsed):
    need(parsed, "coverage")
    batches = dict(zip((p.name for p in org.files_by_source["coverage"]), parsed["coverage"]))
    assets = inventory(org)
    edr = batches["coverage-edr.csv"].hosts
    serial_of = [{i.kind: i.value for i in h.identifiers}["serial"] for h in edr]
    live = [s for s, a in assets.items() if a["status"] == "Deployed" and a["category"] != "Networking"]
    covered = set(serial_of) & set(live)
    assert 0.75 * len(live) <= len(covered) < len(live)
    retired = org.highlights["decommissioned_alive"]
    (stale,) = [h for h in edr if {i.kind: i.value for i in h.identifiers}["serial"] == retired["serial"]]
    assert stale.controls[0].last_seen < SCAN - timedelta(days=5)
    logging = batches["coverage-logging.csv"].hosts
    assert all(assets[{i.kind: i.value for i in h.identifiers}["serial"]]["category"] == "Servers" for h in logging)


def test_certificates_include_one_expiring_and_one_expired(org, parsed):
    need(parsed, "certificates")
    leaves = [c for c in parsed["certificates"][0].credentials if c.name != "Example Corp Internal CA"]
    expired = [c for c in leaves if c.not_after < SCAN]
    expiring = [c for c in leaves if SCAN <= c.not_after <= SCAN + timedelta(days=14)]
    assert len(expired) == 1 and len(expiring) == 1
    servers = [c for c in leaves if "serverAuth" in c.extended_key_usage]
    assert servers and all(c.ip_addresses and len(c.dns_names) == 2 for c in servers)
    assert all(c.issuer == leaves[0].issuer for c in leaves)
    assert sum(1 for c in leaves if c.client_auth) >= 3


def test_sboms_carry_the_old_libraries(org, parsed):
    need(parsed, "sbom")
    software = {(s.name, s.version): s for b in parsed["sbom"] for h in b.hosts for s in h.software}
    assert software[("lodash", "4.17.15")].purl == "pkg:npm/lodash@4.17.15"
    assert software[("log4j-core", "2.14.1")].licenses == ("Apache-2.0",)
    names = {h.properties.name for b in parsed["sbom"] for h in b.hosts}
    assert names == {"payroll-portal", "customer-portal"}
