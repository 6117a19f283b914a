"""Real inventories are messy: placeholder serials, shared virtual MACs, cloned UUIDs. Every machine
still becomes its own asset, nothing collapses, nothing disappears, and nothing refuses the run."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from ingest.pipeline import ingest_files
from tests.builders import osquery_log

MESSY = Path(__file__).parent / "fixtures" / "identity"
SNIPEIT = MESSY / "snipeit-whitebox.csv"
OSQUERY = MESSY / "osquery-messy-fleet.log"
NMAP = [MESSY / "nmap-vlan10.xml", MESSY / "nmap-vlan20.xml"]
CLONED_UUID = "564D8C1A-2B3C-4D5E-6F70-8192A3B4C5D6"


def names(store) -> list[str]:
    return [r["name"] for r in store.read("MATCH (a:Asset) RETURN a.name AS name ORDER BY name")]


def identifier_values(store, kind: str) -> list[str]:
    return [r["v"] for r in store.read("MATCH (i:Identifier {kind: $kind})-[:IDENTIFIES]->() "
                                       "RETURN DISTINCT i.value AS v ORDER BY v", kind=kind)]


def lookup(api, identifier: str) -> dict:
    return api("query($id: String!) { asset(identifier: $id) { name } }", id=identifier)


def test_a_snipeit_export_full_of_placeholder_serials_loads_completely(store, settings, api):
    summary = ingest_files(store, "snipeit", [SNIPEIT], settings)
    assert (summary.status, summary.records, summary.created, summary.conflicts) == ("succeeded", 15, 15, 1)
    assert len(names(store)) == 15
    # placeholders stay as the asset's serial property but never become an identifier
    assert identifier_values(store, "serial") == ["C02ZK1ABMD6T", "PF3ABCDE", "PF3ABCDF"]
    assert identifier_values(store, "mac") == ["a4:83:e7:11:22:01", "a4:83:e7:11:22:02"]
    kept = store.read("MATCH (a:Asset {asset_tag: 'WB-0004'}) RETURN a.serial AS serial")
    assert kept == [{"serial": "DEFAULT STRING"}]
    assert summary.conflict_details == [
        "snipeit-whitebox.csv line 14: identifiers point at different assets, kept apart as its own asset: "
        "serial:C02ZK1ABMD6T also on another asset that contradicts the record "
        "(asset_tag LT-0102 but the asset has asset_tag LT-0101)"]
    assert lookup(api, "To Be Filled By O.E.M.") == {"data": {"asset": None}}
    assert lookup(api, "0A:00:27:00:00:00") == {"data": {"asset": None}}
    assert lookup(api, "LT-0104") == {"data": {"asset": {"name": "dev-laptop-04"}}}
    shared = lookup(api, "C02ZK1ABMD6T")["errors"][0]["message"]
    assert "matches 2 assets" in shared and "dev-laptop-01" in shared and "dev-laptop-02" in shared


def test_osquery_fleet_with_virtual_adapters_and_cloned_uuids(store, settings, api):
    summary = ingest_files(store, "osquery", [OSQUERY], settings)
    assert (summary.status, summary.records, summary.created, summary.conflicts) == ("succeeded", 6, 6, 1)
    assert names(store) == ["build-01", "build-02", "ci-runner-a", "ci-runner-b", "dev-laptop-01", "dev-laptop-03"]
    # only the NICs that name one machine: no loopback, VirtualBox, RAS, docker, libvirt, AWDL or bridge MACs
    assert identifier_values(store, "mac") == ["00:50:56:a1:0b:11", "00:50:56:a1:0b:12", "70:85:c2:aa:00:01",
                                               "70:85:c2:aa:00:02", "a4:83:e7:11:22:01", "f4:a8:0d:31:9c:07"]
    assert identifier_values(store, "agent_id") == ["1B6E2F40-93C1-11EE-B962-0242AC120002", CLONED_UUID,
                                                    "6F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0"]
    assert lookup(api, "0a:00:27:00:00:00") == {"data": {"asset": None}}
    assert lookup(api, "03000200-0400-0500-0006-000700080009") == {"data": {"asset": None}}
    assert lookup(api, "70:85:c2:aa:00:02") == {"data": {"asset": {"name": "build-02"}}}
    cloned = lookup(api, CLONED_UUID)["errors"][0]["message"]
    assert "matches 2 assets" in cloned and "ci-runner-a" in cloned and "ci-runner-b" in cloned
    (detail,) = summary.conflict_details
    assert "(host ci-runner-b)" in detail and f"agent_id:{CLONED_UUID} also on another asset" in detail
    assert "hardware serial" not in detail and "serial VMWARE-56 4D 8C 1A 2B 3C 4D 5E-6F 70 81 92 A3 B4 C5 D7 but" in detail


def test_shared_virtual_macs_in_nmap_scans_keep_hosts_apart(store, settings):
    summary = ingest_files(store, "nmap", NMAP, settings)
    assert (summary.records, summary.created, summary.conflicts) == (6, 6, 0)
    assert names(store) == ["db-40", "db-41", "gw-vlan10", "gw-vlan20", "qa-vm-31", "qa-vm-32"]
    assert identifier_values(store, "mac") == ["3c:ec:ef:10:20:40", "3c:ec:ef:10:20:41"]


def test_inventory_and_agents_merge_without_collapsing(store, settings):
    ingest_files(store, "snipeit", [SNIPEIT], settings)
    summary = ingest_files(store, "osquery", [OSQUERY], settings)
    assert (summary.created, summary.updated) == (2, 4)       # the cloned CI runners are new
    rows = store.read("""MATCH (a:Asset)-[:SEEN_BY]->(:Source {name: 'osquery'})
                         RETURN a.name AS name, a.asset_tag AS tag ORDER BY name""")
    assert rows == [{"name": "build-01", "tag": "WB-0001"}, {"name": "build-02", "tag": "WB-0002"},
                    {"name": "ci-runner-a", "tag": None}, {"name": "ci-runner-b", "tag": None},
                    {"name": "dev-laptop-01", "tag": "LT-0101"}, {"name": "dev-laptop-03", "tag": "LT-0103"}]
    assert len(names(store)) == 17
    # dev-laptop-01's serial is also on LT-0102 (the export's typo): it joined LT-0101 by its MAC, and says so
    laptop = "osquery-messy-fleet.log line 1 (host 6F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0)"
    assert f"{laptop}: identifiers point at different assets, joined one of them: serial:C02ZK1ABMD6T also on " \
           "another asset" in summary.conflict_details


def test_two_laptops_behind_one_dock_mac_stay_two_assets(store, settings, tmp_path, cli_env):
    dock = "00:e0:4c:68:01:9a"   # a USB-C dock's NIC, reported by whichever laptop is plugged in
    log = osquery_log(tmp_path / "dock.log", [
        {"hostname": "lt-ana", "uuid": "0E4F5C1B-0001-4000-8000-00000000A001", "serial": "5CG1230ANA",
         "mac": dock, "ip": "10.1.0.10"},
        {"hostname": "lt-ben", "uuid": "0E4F5C1B-0001-4000-8000-00000000B002", "serial": "5CG1230BEN",
         "mac": dock, "ip": "10.1.0.11"}])
    summary = ingest_files(store, "osquery", [log], settings)
    assert (summary.created, summary.conflicts) == (2, 1)
    assert names(store) == ["lt-ana", "lt-ben"]
    answer = CliRunner().invoke(app, ["host", dock])
    assert answer.exit_code == 1
    assert "matches 2 assets" in answer.output and "lt-ana" in answer.output and "lt-ben" in answer.output
    listed = CliRunner().invoke(app, ["conflicts"])
    assert "lt-ana" in listed.output and "lt-ben" in listed.output


def test_a_placeholder_already_in_the_graph_links_nothing(store, settings):
    # A graph loaded before the rule existed holds placeholder serials. They must neither pull a record
    # in nor count as evidence against one: dev-laptop-03 still joins by its name despite serial PF3ABCDE.
    store.execute("""
        CREATE (s:Identifier {key: 'serial:TO BE FILLED BY O.E.M.', kind: 'serial', value: 'TO BE FILLED BY O.E.M.'})
        CREATE (h:Identifier {key: 'hostname:dev-laptop-03', kind: 'hostname', value: 'dev-laptop-03'})
        CREATE (a:Asset:Host {id: 'old-1', name: 'dev-laptop-03'}), (b:Asset:Host {id: 'old-2', name: 'old'})
        CREATE (s)-[:IDENTIFIES]->(a), (h)-[:IDENTIFIES]->(a), (s)-[:IDENTIFIES]->(b)""")
    summary = ingest_files(store, "snipeit", [SNIPEIT], settings)
    assert (summary.created, summary.updated, summary.conflicts) == (14, 1, 1)
    assert store.read("MATCH (a:Asset {id: 'old-1'}) RETURN a.asset_tag AS tag") == [{"tag": "LT-0103"}]
    assert len(names(store)) == 16
