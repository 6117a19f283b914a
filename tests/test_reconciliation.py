"""Reconciliation at breadth: time-bound names, randomised MACs, staleness after complete runs only."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.errors import IngestError
from ingest.pipeline import ingest_files
from tests.builders import nmap_xml, snipeit_csv


def ids_by_key(store, key: str) -> list[str]:
    return [r["id"] for r in store.read(
        "MATCH (:Identifier {key: $key})-[:IDENTIFIES]->(a:Asset) RETURN a.id AS id ORDER BY id", key=key)]


def test_hostname_reused_on_new_hardware_is_a_new_asset_and_moves(store, settings, tmp_path):
    snipeit_csv(tmp_path / "old.csv", [{"asset_tag": "ITAM-1", "item_name": "web-01", "serial": "OLD1",
                                        "status": "Archived"}])
    ingest_files(store, "snipeit", [tmp_path / "old.csv"], settings)
    replacement = snipeit_csv(tmp_path / "new.csv", [{"asset_tag": "ITAM-2", "item_name": "web-01", "serial": "NEW2"}])
    ingest_files(store, "snipeit", [replacement], settings, partial=True)
    assert store.read("MATCH (a:Asset) RETURN a.serial AS serial ORDER BY serial") == [{"serial": "NEW2"},
                                                                                      {"serial": "OLD1"}]
    holder = store.read("MATCH (:Identifier {key: 'hostname:web-01'})-[:IDENTIFIES]->(a) RETURN a.serial AS s")
    assert holder == [{"s": "NEW2"}]
    # the next scan of web-01 lands on the machine that holds the name now, not the retired one
    ingest_files(store, "nmap", [nmap_xml(tmp_path / "s.xml", [{"ip": "10.0.0.5", "mac": "00:14:22:00:00:09",
                                                                 "name": "web-01"}])], settings)
    seen = store.read("MATCH (a:Asset)-[:SEEN_BY]->(:Source {name: 'nmap'}) RETURN a.serial AS s")
    assert seen == [{"s": "NEW2"}]


def test_vm_with_randomised_mac_stays_one_asset(store, settings, tmp_path):
    first = nmap_xml(tmp_path / "a.xml", [{"ip": "10.0.0.7", "mac": "02:00:00:aa:00:01", "name": "vm-7.lab",
                                           "time": 1763000000}], start=1763000000)
    second = nmap_xml(tmp_path / "b.xml", [{"ip": "10.0.0.8", "mac": "02:00:00:bb:00:02", "name": "vm-7.lab",
                                            "time": 1763600000}], start=1763600000)
    ingest_files(store, "nmap", [first], settings)
    ingest_files(store, "nmap", [second], settings)
    rows = store.read("MATCH (a:Asset) RETURN [(i:Identifier {kind: 'mac'})-[:IDENTIFIES]->(a) | i.value] AS macs")
    assert len(rows) == 1 and sorted(rows[0]["macs"]) == ["02:00:00:aa:00:01", "02:00:00:bb:00:02"]


def test_same_short_name_in_two_domains_is_two_assets(store, settings, tmp_path):
    scan = nmap_xml(tmp_path / "s.xml", [{"ip": "10.0.0.1", "name": "web-01.corp.example"},
                                         {"ip": "10.0.1.1", "name": "web-01.lab.example"}])
    ingest_files(store, "nmap", [scan], settings)
    corp, lab = ids_by_key(store, "fqdn:web-01.corp.example"), ids_by_key(store, "fqdn:web-01.lab.example")
    assert len(corp) == len(lab) == 1 and corp != lab
    assert store.read("MATCH (a:Asset) RETURN count(a) AS n") == [{"n": 2}]


def scan_of(tmp_path, name: str, hosts: list[str], start: int):
    return nmap_xml(tmp_path / name, [{"ip": ip, "mac": f"00:14:22:00:00:{ip.rsplit('.', 1)[1].zfill(2)}",
                                       "name": f"h{ip.rsplit('.', 1)[1]}", "time": start} for ip in hosts],
                    start=start)


def fix_args(path, target: str):
    path.write_text(path.read_text().replace(f'args="nmap -sV -O -oX {path.name}"',
                                             f'args="nmap -sV -O -oX {path.name} {target}"'))
    return path


def current_nmap(store) -> dict[str, bool]:
    rows = store.read("MATCH (a:Asset)-[s:SEEN_BY]->(:Source {name: 'nmap'}) RETURN a.name AS name, s.current AS c")
    return {r["name"]: r["c"] for r in rows}


def test_a_complete_run_of_the_same_scope_marks_what_it_no_longer_sees(store, settings, tmp_path):
    before = fix_args(scan_of(tmp_path, "a.xml", ["10.9.0.1", "10.9.0.2"], 1763000000), "10.9.0.0/24")
    ingest_files(store, "nmap", [before], settings)
    other_scope = fix_args(scan_of(tmp_path, "b.xml", ["10.9.1.1"], 1763100000), "10.9.1.0/24")
    assert ingest_files(store, "nmap", [other_scope], settings).retired == 0
    assert current_nmap(store) == {"h1": True, "h2": True}
    partial = fix_args(scan_of(tmp_path, "c.xml", ["10.9.0.1"], 1763200000), "10.9.0.0/24")
    assert ingest_files(store, "nmap", [partial], settings, partial=True).retired == 0
    assert current_nmap(store)["h2"] is True
    broken = tmp_path / "broken.xml"
    broken.write_text(partial.read_text()[:300])
    with pytest.raises(IngestError):
        ingest_files(store, "nmap", [broken], settings)
    assert current_nmap(store)["h2"] is True
    summary = ingest_files(store, "nmap", [partial], settings)
    assert summary.retired == 1
    assert current_nmap(store) == {"h1": True, "h2": False}
    stale = store.read("MATCH (a:Asset {name: 'h2'})-[s:SEEN_BY]->() RETURN s.stale_since IS NOT NULL AS marked")
    assert stale == [{"marked": True}]
    assert ingest_files(store, "nmap", [before], settings).retired == 0
    assert current_nmap(store)["h2"] is True  # seen again: current again


def test_inventory_drop_needs_review(store, settings, tmp_path, api):
    rows = [{"asset_tag": "ITAM-1", "item_name": "keep", "serial": "K1", "email": "a@example.com"},
            {"asset_tag": "ITAM-2", "item_name": "gone", "serial": "G2", "email": "a@example.com"}]
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", rows)], settings)
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "b.csv", rows[:1])], settings)
    verdict = api('{ asset(identifier: "G2") { shouldExist { verdict reasons } sightings { current } } }')
    asset = verdict["data"]["asset"]
    assert asset["sightings"] == [{"current": False}]
    assert asset["shouldExist"]["verdict"] == "REVIEW"
    assert asset["shouldExist"]["reasons"][-1].startswith("no longer in the snipeit inventory since ")


ACME = Path(__file__).parent / "fixtures" / "aws" / "acme"


def reach_into(store) -> set[tuple[str, str, str]]:
    rows = store.read("MATCH (o)-[r:CAN_REACH]->(a:Asset) WHERE r.basis STARTS WITH 'security group ' "
                      "RETURN coalesce(o.id, o.name) AS origin, a.name AS target, r.basis AS basis")
    return {(r["origin"], r["target"], r["basis"]) for r in rows}


def test_firewall_reach_does_not_depend_on_file_order(store, settings, tmp_path):
    ingest_files(store, "aws", [ACME / "ec2-describe-security-groups.json"], settings)
    assert reach_into(store) == set()
    ingest_files(store, "aws", [ACME / "ec2-describe-instances.json"], settings)
    rules_first = reach_into(store)
    store.wipe()
    ingest_files(store, "aws", [ACME / "ec2-describe-instances.json", ACME / "ec2-describe-security-groups.json"],
                 settings)
    assert reach_into(store) == rules_first
    assert ("internet", "bastion-01", "security group sg-bastion") in rules_first


def test_leaving_a_security_group_takes_its_reach_away(store, settings, tmp_path):
    ingest_files(store, "aws", [ACME / "ec2-describe-instances.json", ACME / "ec2-describe-security-groups.json"],
                 settings)
    assert any(target == "app-01" for _, target, _ in reach_into(store))
    moved = json.loads((ACME / "ec2-describe-instances.json").read_text())
    for reservation in moved["Reservations"]:
        for instance in reservation["Instances"]:
            if any(t["Value"] == "app-01" for t in instance.get("Tags", []) if t["Key"] == "Name"):
                instance["SecurityGroups"] = [{"GroupId": "sg-quarantine", "GroupName": "quarantine"}]
                for eni in instance.get("NetworkInterfaces", []):
                    eni["Groups"] = [{"GroupId": "sg-quarantine", "GroupName": "quarantine"}]
    later = tmp_path / "ec2-describe-instances.json"
    later.write_text(json.dumps(moved))
    ingest_files(store, "aws", [later], settings)
    assert not any(target == "app-01" for _, target, _ in reach_into(store))


OSQUERY = Path(__file__).parent / "fixtures" / "osquery"


@pytest.mark.parametrize("first", ["osquery", "certificates"])
def test_one_certificate_seen_by_osquery_and_as_a_file_is_one_node(store, settings, first):
    runs = {"osquery": [OSQUERY / "snapshot.log"], "certificates": [OSQUERY / "web01.pem"]}
    for source in sorted(runs, key=lambda s: s != first):
        ingest_files(store, source, runs[source], settings)
    rows = store.read("""
        MATCH (c:Credential {kind: 'x509'}) WHERE c.name = 'web01.corp.example.com'
        RETURN c.fingerprint AS fingerprint, c.aliases AS aliases,
               [(c)-[:STORED_ON]->(a) | a.name] AS stored_on, [(c)-[:NAMES]->()-[:IDENTIFIES]->(a) | a.name] AS authenticates""")
    assert len(rows) == 1
    cert = rows[0]
    assert len(cert["fingerprint"]) == 64 and not cert["fingerprint"].startswith("sha1:")
    assert cert["stored_on"] == ["web01"]
    assert sorted(set(cert["authenticates"])) == ["web01"]
    if first == "osquery":
        assert [a[:5] for a in cert["aliases"]] == ["sha1:"]
