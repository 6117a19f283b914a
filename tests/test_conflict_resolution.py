"""An administrator answers a conflict: merge (one machine) or separate; recorded, never reopened."""
from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.auth import Role, TokenAuth
from api.cli import app
from graph.models import HostObservation, Identifier
from graph.schema import IdentifierKind
from ingest.pipeline import ingest_files
from ingest.reconcile import Resolver
from tests.builders import osquery_log, snipeit_csv

READER, ADMIN = "r" * 20, "a" * 20
RESOLVE = "mutation($id: ID!, $action: ConflictAction!) { resolveConflict(id: $id, action: $action) " \
          "{ id status resolvedBy resolvedAt mergedInto { name identifiers { kind value } } } }"


def board_swap(store, settings, tmp_path):
    """ITAM-1 had serial S1; after a board swap the export says S9: a separate asset plus a conflict."""
    owner = {"full_name": "Ada Lovelace", "email": "ada@example.com"}
    first = snipeit_csv(tmp_path / "a.csv", [{"asset_tag": "ITAM-1", "item_name": "alpha", "serial": "S1", **owner}])
    ingest_files(store, "snipeit", [first], settings)
    later = snipeit_csv(tmp_path / "b.csv", [{"asset_tag": "ITAM-1", "item_name": "alpha", "serial": "S9", **owner}])
    # exported the same second: both assets are as old, so a merge keeps the one that held ITAM-1 first
    os.utime(later, (first.stat().st_mtime, first.stat().st_mtime))
    summary = ingest_files(store, "snipeit", [later], settings)
    assert summary.conflicts == 1
    (conflict,) = store.read("MATCH (c:Conflict) RETURN c.id AS id")
    return conflict["id"], later


def state(store) -> dict:
    return {"assets": store.read("MATCH (a:Asset) RETURN a.id AS id ORDER BY id"),
            "conflicts": store.read("MATCH (c:Conflict) RETURN c {.*} AS c ORDER BY c.id"),
            "counts": store.counts()}


def test_cli_lists_both_sides_and_separate_is_kept(store, settings, tmp_path, cli_env):
    dock = "00:e0:4c:68:01:9a"
    log = osquery_log(tmp_path / "dock.log", [
        {"hostname": "lt-ana", "uuid": "0E4F5C1B-0001-4000-8000-00000000A001", "serial": "5CG1230ANA",
         "mac": dock, "ip": "10.1.0.10"},
        {"hostname": "lt-ben", "uuid": "0E4F5C1B-0001-4000-8000-00000000B002", "serial": "5CG1230BEN",
         "mac": dock, "ip": "10.1.0.11"}])
    ingest_files(store, "osquery", [log], settings)
    (conflict,) = store.read("MATCH (c:Conflict) RETURN c.id AS id")
    listed = CliRunner().invoke(app, ["conflicts"])
    assert listed.exit_code == 0, listed.output
    flat = " ".join(listed.output.split())
    for expected in (conflict["id"], "record: lt-ben (osquery;", "candidate: lt-ana (osquery;",
                     "serial:5CG1230ANA", "serial:5CG1230BEN", f"mac:{dock}"):
        assert expected.replace(" ", "") in flat.replace(" ", ""), expected
    assert CliRunner().invoke(app, ["conflicts", "resolve", conflict["id"]]).exit_code == 1
    done = CliRunner().invoke(app, ["conflicts", "resolve", conflict["id"], "--separate"])
    assert done.exit_code == 0, done.output
    assert f"{conflict['id']}: separate by cli:" in done.output
    recorded = store.read("MATCH (c:Conflict) RETURN c.status AS status, c.resolved_by STARTS WITH 'cli:' AS cli, "
                          "c.resolved_at IS NOT NULL AS at")
    assert recorded == [{"status": "separate", "cli": True, "at": True}]
    assert "no open conflicts" in CliRunner().invoke(app, ["conflicts"]).output
    again = ingest_files(store, "osquery", [log], settings)
    assert (again.created, again.conflicts) == (0, 0)
    assert store.read("MATCH (c:Conflict) RETURN c.status AS status") == [{"status": "separate"}]
    twice = CliRunner().invoke(app, ["conflicts", "resolve", conflict["id"], "--merge"])
    assert twice.exit_code == 1 and "already separate" in twice.output


def test_cli_merge_folds_the_record_into_the_older_asset_for_good(store, settings, tmp_path, cli_env):
    conflict_id, later = board_swap(store, settings, tmp_path)
    assert len(store.read("MATCH (a:Asset) RETURN a")) == 2
    done = CliRunner().invoke(app, ["conflicts", "resolve", conflict_id, "--merge"])
    assert done.exit_code == 0, done.output
    rows = store.read("""MATCH (a:Asset)
        RETURN a.serial AS serial, [(i:Identifier)-[:IDENTIFIES]->(a) | i.key] AS keys,
               [(p:Person)-[:OWNS]->(a) | p.email] AS owners, [(a)-[:SEEN_BY]->(s) | s.name] AS sources""")
    assert len(rows) == 1
    assert rows[0]["serial"] == "S1"   # the survivor's own facts win
    assert sorted(rows[0]["keys"]) == ["asset_tag:ITAM-1", "hostname:alpha", "serial:S1", "serial:S9"]
    assert rows[0]["owners"] == ["ada@example.com"] and rows[0]["sources"] == ["snipeit"]
    assert store.read("MATCH (c:Conflict)-[:INVOLVES]->(a) RETURN c.status AS s, count(a) AS n") == [
        {"s": "merged", "n": 1}]
    again = ingest_files(store, "snipeit", [later], settings)
    assert (again.created, again.conflicts) == (0, 0)     # the answer holds on the next run
    assert len(store.read("MATCH (a:Asset) RETURN a")) == 1


def test_a_merge_keeps_the_versions_of_a_product_both_assets_had(store, settings, tmp_path, cli_env):
    dock = "00:e0:4c:68:01:9a"            # one docking station's MAC on two laptops: a conflict
    log = osquery_log(tmp_path / "dock.log", [
        {"hostname": "lt-ana", "uuid": "0E4F5C1B-0001-4000-8000-00000000A001", "serial": "5CG1230ANA",
         "mac": dock, "ip": "10.1.0.10", "programs": [("OpenSSL", "1.1.1n", "OpenSSL"), ("OpenSSL", "3.5.1", "OpenSSL"),
                                                       ("7-Zip", "23.01", "Igor")]},
        {"hostname": "lt-ben", "uuid": "0E4F5C1B-0001-4000-8000-00000000B002", "serial": "5CG1230BEN",
         "mac": dock, "ip": "10.1.0.11", "programs": [("OpenSSL", "3.5.1", "OpenSSL"), ("OpenSSL", "0.9.8", "OpenSSL")]}])
    ingest_files(store, "osquery", [log], settings)
    (conflict,) = store.read("MATCH (c:Conflict) RETURN c.id AS id")
    done = CliRunner().invoke(app, ["conflicts", "resolve", conflict["id"], "--merge"])
    assert done.exit_code == 0, done.output
    rows = store.read("MATCH (a:Asset)-[i:INSTALLED]->(s:Software) RETURN s.name AS name, i.version AS version, "
                      "i.versions AS versions ORDER BY name")
    assert rows[0] == {"name": "7-Zip", "version": "23.01", "versions": None}
    [openssl] = rows[1:]
    assert sorted(openssl["versions"]) == ["0.9.8", "1.1.1n", "3.5.1"]     # each of both, once
    assert openssl["version"] == openssl["versions"][-1]


def test_graphql_resolve_needs_admin_and_records_who(store, settings, tmp_path):
    conflict_id, _ = board_swap(store, settings, tmp_path)
    auth = TokenAuth({READER: Role.READER, ADMIN: Role.ADMIN}, allow_anonymous=False)
    with TestClient(create_app(settings, auth)) as client:
        def call(token: str, **variables):
            return client.post("/graphql", json={"query": RESOLVE, "variables": variables},
                               headers={"Authorization": f"Bearer {token}"})
        listing = client.post("/graphql", headers={"Authorization": f"Bearer {READER}"}, json={
            "query": "{ conflicts { id involved { role sources identifiers asset { name } } } }"}).json()
        parties = listing["data"]["conflicts"][0]["involved"]
        assert sorted((p["role"], tuple(p["identifiers"])) for p in parties) == [
            ("candidate", ("asset_tag:ITAM-1", "serial:S1")),
            ("record", ("asset_tag:ITAM-1", "hostname:alpha", "serial:S9"))]
        before = state(store)
        denied = call(READER, id=conflict_id, action="MERGE")
        assert denied.status_code == 403
        assert denied.json()["errors"][0]["message"] == "needs role admin"
        assert state(store) == before
        merged = call(ADMIN, id=conflict_id, action="MERGE")
        assert merged.status_code == 200, merged.text
        answer = merged.json()["data"]["resolveConflict"]
        assert (answer["id"], answer["status"], answer["resolvedBy"]) == (conflict_id, "merged", "token-admin")
        assert answer["resolvedAt"] and answer["mergedInto"]["name"] == "alpha"
        assert {"kind": "serial", "value": "S9"} in answer["mergedInto"]["identifiers"]
        again = call(ADMIN, id=conflict_id, action="SEPARATE").json()
        assert "is already merged (by token-admin)" in again["errors"][0]["message"]
        unknown = call(ADMIN, id="conflict-nope", action="SEPARATE").json()
        assert "no conflict 'conflict-nope'" in unknown["errors"][0]["message"]


def test_an_answered_conflict_that_recurs_stays_answered(store, settings, cli_env):
    messy = Path(__file__).parent / "fixtures" / "identity"
    ingest_files(store, "snipeit", [messy / "snipeit-whitebox.csv"], settings)
    osquery = [messy / "osquery-messy-fleet.log"]
    ingest_files(store, "osquery", osquery, settings)
    # dev-laptop-01's serial is also on LT-0102: every osquery run raises the same conflict again
    (laptop,) = store.read("MATCH (c:Conflict {source: 'osquery'}) WHERE c.record CONTAINS 'line 1 ' "
                           "RETURN c.id AS id")
    assert CliRunner().invoke(app, ["conflicts", "resolve", laptop["id"], "--separate"]).exit_code == 0
    again = ingest_files(store, "osquery", osquery, settings)
    assert any("line 1 " in d for d in again.conflict_details)
    assert store.read("MATCH (c:Conflict {id: $id}) RETURN c.status AS s", id=laptop["id"]) == [{"s": "separate"}]
    listed = CliRunner().invoke(app, ["conflicts", "--json"]).output
    assert laptop["id"] not in listed and "ci-runner-b" in listed


def test_a_conflicts_reason_does_not_depend_on_the_rivals_random_ids():
    """A re-run writes the same reason: its parts follow what they say, not the rival assets' ids."""
    record = HostObservation(record="odd.csv line 2", observed_at=datetime(2026, 11, 1, tzinfo=UTC),
                             identifiers=(Identifier.of(IdentifierKind.SERIAL, "SN1"),
                                          Identifier.of(IdentifierKind.ASSET_TAG, "TAG-2")))
    reasons = set()
    for serial_holder, tag_holder in (("a-asset", "z-asset"), ("z-asset", "a-asset")):
        resolver = Resolver("snipeit")
        resolver.index.add(serial_holder, IdentifierKind.SERIAL, "SN1")
        resolver.index.add(tag_holder, IdentifierKind.ASSET_TAG, "TAG-2")
        reasons.add(resolver._conflict(record, "own", {serial_holder, tag_holder}).reason)
    assert len(reasons) == 1
