"""Identity resolution: one asset per real machine across sources; conflicts reported, never merged."""
from __future__ import annotations

from ingest.pipeline import ingest_files
from tests.builders import nmap_xml, snipeit_csv


def assets(store) -> list[dict]:
    return store.read("""
        MATCH (a:Asset)
        RETURN a.name AS name, [(a)-[:SEEN_BY]->(s:Source) | s.name] AS sources,
               [(a)-[:HAS_IP {current: true}]->(ip) | ip.address] AS ips
        ORDER BY name""")


def test_inventory_and_scan_merge_by_mac(store, settings, tmp_path):
    snipeit_csv(tmp_path / "a.csv", [{"asset_tag": "ITAM-1", "item_name": "Finance file server",
                                      "serial": "S1", "mac_address": "00-14-22-AA-BB-CC"}])
    ingest_files(store, "snipeit", [tmp_path / "a.csv"], settings)
    scan = nmap_xml(tmp_path / "s.xml", [{"ip": "10.0.0.5", "mac": "00:14:22:aa:bb:cc", "name": "fs01.corp"}])
    summary = ingest_files(store, "nmap", [scan], settings)
    assert (summary.created, summary.updated) == (0, 1)
    assert sorted(assets(store)[0]["sources"]) == ["nmap", "snipeit"]
    assert assets(store)[0]["name"] == "Finance file server"  # discovery never renames the inventory's asset


def test_inventory_and_scan_merge_by_hostname_when_unambiguous(store, settings, tmp_path):
    snipeit_csv(tmp_path / "a.csv", [{"asset_tag": "ITAM-1", "item_name": "web-01", "serial": "S1"}])
    ingest_files(store, "snipeit", [tmp_path / "a.csv"], settings)
    scan = nmap_xml(tmp_path / "s.xml", [{"ip": "10.0.0.5", "mac": "00:14:22:00:00:05", "name": "web-01.corp.example"}])
    ingest_files(store, "nmap", [scan], settings)
    rows = store.read("MATCH (i:Identifier)-[:IDENTIFIES]->(a:Asset) RETURN a.name AS name, "
                      "collect(i.key) AS keys")
    assert len(rows) == 1
    assert {"serial:S1", "mac:00:14:22:00:00:05", "fqdn:web-01.corp.example", "ip:10.0.0.5"} <= set(rows[0]["keys"])


def test_conflicting_strong_identifiers_are_reported_not_merged(store, settings, tmp_path, cli_env):
    snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "ITAM-1", "item_name": "alpha", "serial": "S1"},
        {"asset_tag": "ITAM-2", "item_name": "beta", "serial": "S2"},
    ])
    ingest_files(store, "snipeit", [tmp_path / "a.csv"], settings)
    # A later export claims ITAM-1 carries serial S2: two assets' identifiers in one record.
    snipeit_csv(tmp_path / "b.csv", [{"asset_tag": "ITAM-1", "item_name": "alpha", "serial": "S2"}])
    before = store.counts()
    summary = ingest_files(store, "snipeit", [tmp_path / "b.csv"], settings)
    assert summary.conflicts == 1
    assert "b.csv line 2: strong identifiers point at different assets" in summary.conflict_details[0]
    assert [a["name"] for a in assets(store)] == ["alpha", "beta"]
    assert store.counts()["IDENTIFIES"] == before["IDENTIFIES"]
    involved = store.read("MATCH (c:Conflict)-[:INVOLVES]->(a) RETURN a.name AS name ORDER BY name")
    assert involved == [{"name": "alpha"}, {"name": "beta"}]

    from typer.testing import CliRunner

    from api.cli import app
    listed = CliRunner().invoke(app, ["conflicts"])
    assert listed.exit_code == 0, listed.output
    assert "strong identifiers point at different assets" in listed.output
    again = ingest_files(store, "snipeit", [tmp_path / "b.csv"], settings)
    assert again.conflicts == 1
    assert store.read("MATCH (c:Conflict) RETURN count(c) AS n") == [{"n": 1}]


def test_single_valued_identifier_contradiction_is_a_conflict(store, settings, tmp_path):
    snipeit_csv(tmp_path / "a.csv", [{"asset_tag": "ITAM-1", "item_name": "alpha", "serial": "S1"}])
    ingest_files(store, "snipeit", [tmp_path / "a.csv"], settings)
    snipeit_csv(tmp_path / "b.csv", [{"asset_tag": "ITAM-1", "item_name": "alpha", "serial": "S9"}])
    summary = ingest_files(store, "snipeit", [tmp_path / "b.csv"], settings)
    assert summary.conflicts == 1
    assert "serial S9 but the asset has serial S1" in summary.conflict_details[0]
    assert store.read("MATCH (a:Asset) RETURN a.serial AS serial") == [{"serial": "S1"}]


def test_an_ip_belongs_to_the_host_that_last_held_it(store, settings, tmp_path):
    older = nmap_xml(tmp_path / "old.xml", [{"ip": "10.0.0.9", "mac": "00:14:22:00:00:01", "name": "first",
                                             "time": 1763000000}], start=1763000000)
    newer = nmap_xml(tmp_path / "new.xml", [{"ip": "10.0.0.9", "mac": "00:14:22:00:00:02", "name": "second",
                                             "time": 1763600000}], start=1763600000)
    ingest_files(store, "nmap", [older], settings)
    ingest_files(store, "nmap", [newer], settings)
    assert assets(store) == [{"name": "first", "sources": ["nmap"], "ips": []},
                             {"name": "second", "sources": ["nmap"], "ips": ["10.0.0.9"]}]
    ingest_files(store, "nmap", [older], settings)  # a late upload of the old scan does not take it back
    assert [a["ips"] for a in assets(store)] == [[], ["10.0.0.9"]]
    holder = store.read("MATCH (:Identifier {key: 'ip:10.0.0.9'})-[:IDENTIFIES]->(a) RETURN a.name AS name")
    assert holder == [{"name": "second"}]


def test_same_host_twice_in_one_run_is_one_asset(store, settings, tmp_path):
    first = nmap_xml(tmp_path / "a.xml", [{"ip": "10.0.0.1", "mac": "00:14:22:00:00:01", "name": "h"}])
    second = nmap_xml(tmp_path / "b.xml", [{"ip": "10.0.0.1", "mac": "00:14:22:00:00:01", "name": "h",
                                            "ports": [("tcp", 22, "ssh")]}])
    summary = ingest_files(store, "nmap", [first, second], settings)
    assert (summary.records, summary.created) == (2, 1)
    assert len(assets(store)) == 1
