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


def test_conflicting_strong_identifiers_keep_the_record_as_its_own_asset(store, settings, tmp_path, cli_env):
    snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "ITAM-1", "item_name": "alpha", "serial": "S1"},
        {"asset_tag": "ITAM-2", "item_name": "beta", "serial": "S2"},
    ])
    ingest_files(store, "snipeit", [tmp_path / "a.csv"], settings, partial=True)
    # A later export claims ITAM-1 carries serial S2: two assets' identifiers in one record, each
    # contradicting it. The record is neither merged into either nor lost: it stands alone.
    snipeit_csv(tmp_path / "b.csv", [{"asset_tag": "ITAM-1", "item_name": "alpha", "serial": "S2"}])
    summary = ingest_files(store, "snipeit", [tmp_path / "b.csv"], settings, partial=True)
    assert (summary.status, summary.conflicts, summary.created) == ("succeeded", 1, 1)
    detail = summary.conflict_details[0]
    assert detail.startswith("b.csv line 2: identifiers point at different assets, kept apart as its own asset")
    assert "serial S2 but the asset has serial S1" in detail and "asset_tag ITAM-1 but the asset has asset_tag ITAM-2" in detail
    assert [a["name"] for a in assets(store)] == ["alpha", "alpha", "beta"]
    involved = store.read("MATCH (c:Conflict)-[r:INVOLVES]->(a) RETURN a.serial AS serial, r.role AS role "
                          "ORDER BY role DESC, serial")
    assert involved == [{"serial": "S2", "role": "record"}, {"serial": "S1", "role": "candidate"},
                        {"serial": "S2", "role": "candidate"}]
    for shared in ("ITAM-1", "S2"):  # each shared identifier now names two assets: a lookup lists both
        holders = store.read("MATCH (:Identifier {value: $v})-[:IDENTIFIES]->(a) RETURN count(a) AS n", v=shared)
        assert holders == [{"n": 2}]

    from typer.testing import CliRunner

    from api.cli import app
    listed = CliRunner().invoke(app, ["conflicts"])
    assert listed.exit_code == 0, listed.output
    assert "kept apart as its own asset" in listed.output
    before = store.counts()
    again = ingest_files(store, "snipeit", [tmp_path / "b.csv"], settings, partial=True)
    assert (again.conflicts, again.created) == (0, 0)  # already recorded; the record is on its own asset
    after = store.counts()
    assert after.pop("IngestRun") == before.pop("IngestRun") + 1
    assert after == before  # the same record finds its own asset and its one conflict again


def test_single_valued_identifier_contradiction_is_a_separate_asset(store, settings, tmp_path):
    snipeit_csv(tmp_path / "a.csv", [{"asset_tag": "ITAM-1", "item_name": "alpha", "serial": "S1"}])
    ingest_files(store, "snipeit", [tmp_path / "a.csv"], settings)
    snipeit_csv(tmp_path / "b.csv", [{"asset_tag": "ITAM-1", "item_name": "alpha", "serial": "S9"}])
    summary = ingest_files(store, "snipeit", [tmp_path / "b.csv"], settings)
    assert summary.conflicts == 1
    assert "serial S9 but the asset has serial S1" in summary.conflict_details[0]
    assert store.read("MATCH (a:Asset) RETURN a.serial AS serial ORDER BY serial") == [{"serial": "S1"},
                                                                                      {"serial": "S9"}]


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
