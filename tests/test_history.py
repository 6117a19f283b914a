"""The change log and as-of questions: an IP that moves, a port that opens and closes, an owner who changes."""
from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from api.cli import app as cli_app
from ingest import changelog
from ingest.pipeline import ingest_files
from tests.builders import nmap_xml, snipeit_csv

DAY = 86_400
T1 = 1_795_000_000                      # 2026-11-18; each scan a day later
AS_OF = """query($id: String!, $at: DateTime) {
  asset(identifier: $id, asOf: $at) { id name identifiers { kind value } openPorts { number }
    owner { email } lifecycleStage sightings { source current } history { asOf notes reachesBack } } }"""
CHANGES = """query($since: DateTime!, $asset: String, $kinds: [String!], $first: Int! = 50, $after: String) {
  changes(since: $since, asset: $asset, kinds: $kinds, first: $first, after: $after) {
    edges { cursor node { at atFrom kind field subject before after source run { id } asset { id name } } }
    pageInfo { hasNextPage endCursor } } }"""


def iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()


def scan(tmp_path, name: str, when: int, hosts: list[dict]):
    return nmap_xml(tmp_path / name, [{**h, "time": when} for h in hosts], start=when)


def test_an_ip_moving_from_a_printer_to_a_kiosk(store, settings, api, tmp_path):
    printer = {"ip": "10.0.5.50", "mac": "00:1b:a9:00:00:01", "name": "printer-3", "ports": [("tcp", 9100, "jetdirect")]}
    kiosk = {"ip": "10.0.5.50", "mac": "00:1b:a9:00:00:02", "name": "kiosk-1", "ports": [("tcp", 443, "https")]}
    first = ingest_files(store, "nmap", [scan(tmp_path, "lobby.xml", T1, [printer])], settings)
    second = ingest_files(store, "nmap", [scan(tmp_path, "lobby.xml", T1 + DAY, [kiosk])], settings)

    before = api(AS_OF, id="10.0.5.50", at=iso(T1 + 3600))["data"]["asset"]
    after = api(AS_OF, id="10.0.5.50", at=iso(T1 + DAY + 3600))["data"]["asset"]
    assert before["name"] == "printer-3" and after["name"] == "kiosk-1"
    assert {"kind": "ip", "value": "10.0.5.50"} in before["identifiers"]
    assert [p["number"] for p in before["openPorts"]] == [9100]
    assert before["history"]["reachesBack"] is None         # the log has the printer from its creation
    assert api(AS_OF, id="10.0.5.50", at=iso(T1 - 3600))["data"]["asset"] is None   # nobody held it yet
    # the present, without asOf, is unchanged: the kiosk, and no history block
    now = api(AS_OF, id="10.0.5.50")["data"]["asset"]
    assert now["name"] == "kiosk-1" and now["history"] is None
    # the printer today no longer holds the address; as of the first scan it did
    printer_now = api(AS_OF, id="printer-3")["data"]["asset"]
    assert {"kind": "ip", "value": "10.0.5.50"} not in printer_now["identifiers"]

    moves = api(CHANGES, since=iso(T1), kinds=["identifier_moved"])["data"]["changes"]["edges"]
    assert {(m["node"]["asset"]["name"], m["node"]["before"], m["node"]["after"], m["node"]["run"]["id"])
            for m in moves} == {(name, before["id"], after["id"], second.run_id) for name in ("printer-3", "kiosk-1")}
    assert all(m["node"]["at"] == iso(T1 + DAY) and m["node"]["atFrom"] == "source" for m in moves)
    created = api(CHANGES, since=iso(T1), kinds=["created"])["data"]["changes"]["edges"]
    assert [(c["node"]["asset"]["name"], c["node"]["run"]["id"]) for c in created] == [
        ("printer-3", first.run_id), ("kiosk-1", second.run_id)]


def test_a_port_opened_then_closed(store, settings, api, tmp_path):
    host = {"ip": "10.0.6.10", "mac": "00:1b:a9:00:01:01", "name": "web-07"}
    for day, ports in enumerate(([("tcp", 22, "ssh")], [("tcp", 22, "ssh"), ("tcp", 8080, "http-proxy")],
                                 [("tcp", 22, "ssh")])):
        ingest_files(store, "nmap", [scan(tmp_path, "dmz.xml", T1 + day * DAY, [{**host, "ports": ports}])], settings)
    edges = api(CHANGES, since=iso(T1), asset="web-07", kinds=["port_opened", "port_closed"])["data"]["changes"]["edges"]
    # the ports a host is created with are its first state, not changes
    assert [(e["node"]["kind"], e["node"]["subject"], e["node"]["at"]) for e in edges] == [
        ("port_opened", "tcp/8080", iso(T1 + DAY)),
        ("port_closed", "tcp/8080", iso(T1 + 2 * DAY))]
    ports_at = {day: [p["number"] for p in api(AS_OF, id="web-07", at=iso(T1 + day * DAY + 60))["data"]["asset"]
                      ["openPorts"]] for day in range(3)}
    assert ports_at == {0: [22], 1: [22, 8080], 2: [22]}


def test_an_owner_who_changes(store, settings, api, tmp_path, cli_env):
    row = {"asset_tag": "ITAM-000900", "item_name": "lt-0900", "serial": "PF3ABC900", "category": "Laptops"}
    first = ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", [{**row, "email": "alice@example.com"}])],
                         settings)
    second = ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "b.csv", [
        {**row, "email": "bob@example.com", "status": "Out for Repair"}])], settings)
    between = first.started + (second.started - first.started) / 2
    then = api(AS_OF, id="ITAM-000900", at=between.isoformat())["data"]["asset"]
    assert (then["owner"]["email"], then["lifecycleStage"]) == ("alice@example.com", "deployment")
    now = api(AS_OF, id="ITAM-000900", at=(second.started + timedelta(seconds=1)).isoformat())["data"]["asset"]
    assert (now["owner"]["email"], now["lifecycleStage"]) == ("bob@example.com", "maintenance")
    edges = api(CHANGES, since=first.started.isoformat(), asset="ITAM-000900",
                kinds=["owner_changed"])["data"]["changes"]["edges"]
    assert [(e["node"]["before"], e["node"]["after"], e["node"]["atFrom"], e["node"]["source"]) for e in edges] == [
        ("alice@example.com", "bob@example.com", "run", "snipeit")]   # an export carries no time of its own
    # the same through the CLI
    runner = CliRunner()
    out = runner.invoke(cli_app, ["changes", "--since", first.started.isoformat(), "--asset", "ITAM-000900", "--json"])
    assert out.exit_code == 0, out.output
    assert {(c["kind"], c.get("field")) for c in json.loads(out.output)} >= {("owner_changed", "owner"),
                                                                             ("field_changed", "lifecycle_stage")}
    host = runner.invoke(cli_app, ["host", "ITAM-000900", "--as-of", between.strftime("%Y-%m-%dT%H:%M:%S.%f"),
                                   "--json"])
    assert host.exit_code == 0, host.output
    assert json.loads(host.output)["owners"][0]["email"] == "alice@example.com"


def test_a_serial_added_later_is_found_as_of_after_it_only(store, settings, api, tmp_path):
    row = {"asset_tag": "ITAM-000901", "item_name": "lt-0901", "category": "Laptops"}
    now = datetime.now(UTC).timestamp()
    older, newer = snipeit_csv(tmp_path / "a.csv", [row]), snipeit_csv(tmp_path / "b.csv", [{**row, "serial": "PF3ABC901"}])
    os.utime(older, (now - 7200, now - 7200))       # an export's moment is its file's: two hours ago, then one
    os.utime(newer, (now - 3600, now - 3600))
    ingest_files(store, "snipeit", [older], settings)
    second = ingest_files(store, "snipeit", [newer], settings)
    between = datetime.fromtimestamp(now - 5400, UTC)
    assert api(AS_OF, id="PF3ABC901", at=between.isoformat())["data"]["asset"] is None   # not known then
    later = api(AS_OF, id="PF3ABC901", at=(second.started + timedelta(seconds=1)).isoformat())["data"]["asset"]
    assert later["name"] == "lt-0901"
    # a serial never moves: its addition is an item of the asset's own change, not a node keyed by it
    nodes = store.read("MATCH (c:Change {run_id: $run}) RETURN c.subject AS subject, c.items AS items",
                       run=second.run_id)
    assert [n["subject"] for n in nodes] == [None]
    assert {"kind": "identifier_added", "subject": "serial:PF3ABC901"} in [
        {"kind": i["kind"], "subject": i["subject"]} for i in json.loads(nodes[0]["items"])]


def test_changes_page_by_cursor_and_reject_a_bad_first(store, settings, api, tmp_path):
    hosts = [{"ip": f"10.0.7.{n}", "mac": f"00:1b:a9:00:02:{n:02x}", "name": f"node-{n}"} for n in range(1, 6)]
    ingest_files(store, "nmap", [scan(tmp_path, "lab.xml", T1, hosts)], settings)
    seen, after = [], None
    while True:
        page = api(CHANGES, since=iso(T1), kinds=["created"], first=2, after=after)["data"]["changes"]
        seen += [e["node"]["asset"]["name"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == [f"node-{n}" for n in range(1, 6)] and len(seen) == 5
    assert "first must be between 1 and 100" in api(CHANGES, since=iso(T1), first=101)["errors"][0]["message"]
    assert api(CHANGES, since=iso(T1), first=100)["data"]["changes"]["pageInfo"]["hasNextPage"] is False


def test_change_log_off_records_nothing_and_as_of_says_so(store, settings, api, tmp_path):
    from dataclasses import replace
    host = {"ip": "10.0.8.1", "mac": "00:1b:a9:00:03:01", "name": "quiet-1"}
    ingest_files(store, "nmap", [scan(tmp_path, "q.xml", T1, [host])], settings)
    ingest_files(store, "nmap", [scan(tmp_path, "q.xml", T1 + DAY, [{**host, "ports": [("tcp", 25, "smtp")]}])],
                 replace(settings, change_log=False))
    assert store.read("MATCH (c:Change) WHERE 'port_opened' IN c.kinds RETURN count(c) AS n") == [{"n": 0}]
    notes = api(AS_OF, id="quiet-1", at=iso(T1 + 60))["data"]["asset"]["history"]["notes"]
    assert any("change log off" in n for n in notes)


def test_retention_keeps_creation_and_latest_change(store, settings, tmp_path):
    host = {"ip": "10.0.9.1", "mac": "00:1b:a9:00:04:01", "name": "old-1"}
    for day, ports in enumerate(([("tcp", 22, "ssh")], [("tcp", 80, "http")], [("tcp", 443, "https")])):
        ingest_files(store, "nmap", [scan(tmp_path, "o.xml", T1 + day * DAY, [{**host, "ports": ports}])], settings)
    asset = store.read("MATCH (a:Asset {name: 'old-1'}) RETURN a.id AS id")[0]["id"]

    def kinds(_query=None, id=asset):
        nodes = store.read("MATCH (c:Change {asset_id: $id}) RETURN c.items AS items ORDER BY c.at, c.id", id=id)
        return [{"kind": i["kind"], "subject": i.get("subject")} for n in nodes for i in json.loads(n["items"])]
    everything = kinds()
    # changes exactly N days old stay; a second older goes (but never the creation or the latest change)
    now = datetime.fromtimestamp(T1 + DAY, UTC) + timedelta(days=3)
    changelog.prune(store, 3, now=now)
    assert {"kind": "port_opened", "subject": "tcp/80"} in kinds()
    changelog.prune(store, 3, now=now + timedelta(seconds=1))
    left = kinds()
    assert {"kind": "port_opened", "subject": "tcp/80"} not in left
    assert left[0]["kind"] == "created" and left[-1] == everything[-1] and len(left) < len(everything)


def test_a_recorded_audit_is_a_change_with_who_made_it(store, settings, tmp_path, cli_env):
    row = {"asset_tag": "ITAM-000901", "item_name": "lt-0901", "serial": "PF3ABC901", "category": "Laptops"}
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", [row])], settings)
    runner = CliRunner()
    assert runner.invoke(cli_app, ["audit", "record", "ITAM-000901", "--location", "HQ 2"]).exit_code == 0
    out = runner.invoke(cli_app, ["changes", "--asset", "ITAM-000901", "--kind", "audit_recorded", "--json"])
    assert out.exit_code == 0, out.output
    [change] = json.loads(out.output)
    assert (change["subject"], change["source"]) == ("HQ 2", "api") and change["actor"].startswith("cli:")
