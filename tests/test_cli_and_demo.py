"""The `itam` command end to end: the local database launcher, the demo organisation, the host panel."""
from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from api.cli import app
from graph.local import LauncherError, LocalNeo4j, free_port
from demo import generate_org
from ingest.registry import BY_SOURCE

runner = CliRunner()


def itam(*args: str):
    result = runner.invoke(app, list(args))
    return result


def test_db_start_status_stop_manage_a_real_neo4j(tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("ITAM_HOME", str(tmp_path))
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{port}")
    monkeypatch.setenv("ITAM_NEO4J_HEAP_MB", "512")
    monkeypatch.setenv("ITAM_NEO4J_PAGECACHE_MB", "64")
    started = itam("db", "start")
    assert started.exit_code == 0, started.output
    pid = int((tmp_path / "neo4j.pid").read_text())
    assert f"pid {pid}" in started.output
    try:
        status = itam("db", "status")
        assert status.exit_code == 0 and "ready" in status.output
        assert itam("db", "start").exit_code == 0  # idempotent: the same process
        assert int((tmp_path / "neo4j.pid").read_text()) == pid
    finally:
        stopped = itam("db", "stop")
    assert stopped.exit_code == 0 and "Neo4j stopped" in stopped.output
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert itam("db", "status").exit_code == 3


def test_missing_java_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LauncherError, match="'java' is not on PATH"):
        LocalNeo4j(tmp_path, port=free_port()).start()


@pytest.fixture
def demo(store, cli_env, tmp_path):
    manifest = generate_org(tmp_path / "demo", hosts=80, seed=3)
    for source, files in manifest.files_by_source.items():
        result = itam("ingest", BY_SOURCE[source].command, *map(str, files))
        assert result.exit_code == 0, result.output
    return manifest


@pytest.mark.parametrize("kind", ["hostname", "ip", "mac", "serial"])
def test_demo_hosts_answer_by_every_identifier(demo, kind):
    wanted = {"deployed_server": "EXPECTED", "decommissioned_alive": "UNEXPECTED", "departed_owner": "REVIEW"}
    for name, verdict in wanted.items():
        host = demo.highlights[name]
        result = itam("host", host[kind], "--json")
        assert result.exit_code == 0, result.output
        answer = json.loads(result.output)
        assert answer["props"]["name"] == host["hostname"]
        assert answer["should_exist"]["verdict"] == verdict, (name, answer["should_exist"])
        assert answer["ports"] and answer["reachable"]
        assert {"snipeit", "nmap"} <= {s["source"] for s in answer["sightings"]}


def test_unknown_device_and_panel(demo):
    unknown = demo.highlights["unknown_device"]
    panel = itam("host", unknown["mac"])
    assert panel.exit_code == 0, panel.output
    assert "UNEXPECTED" in panel.output and "never procured" in panel.output
    missing = itam("host", "no-such-host")
    assert missing.exit_code == 4 and "no asset has an identifier 'no-such-host'" in missing.output


def test_ingest_cli_reports_bad_input_and_reruns_change_nothing(demo, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("asset_tag,status,purchase_date\nITAM-X,Deployed,yesterday\n")
    result = itam("ingest", "snipeit-assets", str(bad))
    assert result.exit_code == 2
    assert "nothing was written" in result.output and "bad.csv line 2, field 'purchase_date'" in result.output
    nmap_files = [str(p) for p in demo.files_by_source["nmap"]]
    for rerun in range(2):
        # the demo's swapped laptop board (found by a source loaded after nmap) puts one MAC on two
        # assets: the first rerun records that standing conflict, the second adds nothing at all
        known = {c["id"] for c in json.loads(itam("conflicts", "--json").output)}
        summary = json.loads(itam("ingest", "nmap", "--json", *nmap_files).output)
        assert (summary["created"], summary["updated"]) == (0, 0)
        assert summary["unchanged"] == summary["records"]
    assert {c["id"] for c in json.loads(itam("conflicts", "--json").output)} == known
    runs = itam("ingest", "runs", "--json")
    assert [r["status"] for r in json.loads(runs.output)][:1] == ["succeeded"]


def test_demo_laptop_answers_with_every_source(demo):
    laptop = demo.highlights["demo_laptop"]
    answer = json.loads(itam("host", laptop["hostname"], "--json").output)
    assert answer["owners"][0]["email"] == laptop["email"] and answer["owners"][0]["teams"]
    assert answer["props"]["os_name"] and any(s["source"] == "osquery" for s in answer["software"])
    assert {c["tool"] for c in answer["controls"]} >= {"osquery", "CrowdStrike Falcon"}
    assert {s["source"] for s in answer["sightings"]} >= {"snipeit", "nmap", "osquery", "coverage"}
    vpn = [c for c in answer["credentials"] if c["via"] == "ISSUED_TO_OWNER" and c["kind"] == "x509"]
    assert vpn and all(c["issued_to"] == [laptop["email"]] for c in vpn)


def test_demo_bastion_reaches_the_database_in_two_hops(demo):
    bastion, database = demo.highlights["internet_bastion"], demo.highlights["aws_database"]
    answer = json.loads(itam("host", bastion["cloud_id"], "--json", "--max-hops", "2").output)
    assert answer["internet_exposed"] is True
    hops = {r["id"]: r["hops"] for r in answer["reachable"]}
    db = json.loads(itam("host", database["cloud_id"], "--json").output)
    assert hops[db["id"]] == 2


def test_departed_vpn_user_still_holds_credentials(demo, store):
    person = demo.highlights["departed_vpn_user"]["email"]
    rows = store.read("MATCH (c:Credential)-[:ISSUED_TO]->(p:Person {email: $email}) "
                      "RETURN p.active AS active, collect(DISTINCT c.kind) AS kinds", email=person)
    assert rows[0]["active"] is False
    assert {"x509", "aws_access_key"} <= set(rows[0]["kinds"])


def test_demo_shows_every_rule_and_prints_a_findings_summary(demo, store):
    from datetime import timedelta

    from demo import DEFAULT_SCAN_DATE
    from queries.findings import evaluate
    from queries.rules import RULES
    evaluation = evaluate(store, DEFAULT_SCAN_DATE + timedelta(days=10))
    matched = {o.rule: o.matched for o in evaluation.outcomes}
    assert set(matched) == set(RULES) and all(matched.values()), matched
    summary = itam("findings", "summary", "--json")
    assert summary.exit_code == 0, summary.output
    rows = {r["rule"]: r for r in json.loads(summary.output)}
    assert all(rows[rule]["open"] >= 1 for rule in RULES), rows
    # the denominator counts what a rule looks at; lifecycle-standard looks at assets and finds failed checks
    per_subject = set(RULES) - {"lifecycle-standard"}
    assert all(rows[rule]["total"] >= rows[rule]["open"] for rule in per_subject), rows


def test_demo_load_evaluates_findings_once_after_the_last_source(store, cli_env, tmp_path, monkeypatch):
    import ingest.pipeline as pipeline
    evaluated_after = []
    real = pipeline._evaluate_findings

    def counting(store_, summary):           # the real evaluation, counted
        evaluated_after.append(summary.source)
        return real(store_, summary)
    monkeypatch.setattr(pipeline, "_evaluate_findings", counting)
    result = itam("demo", "load", "--dir", str(tmp_path / "demo"), "--hosts", "40", "--seed", "3")
    assert result.exit_code == 0, result.output
    runs = store.read("MATCH (r:IngestRun) RETURN r.source AS source ORDER BY r.started DESC LIMIT 1")
    assert evaluated_after == [runs[0]["source"]]
    assert store.read("MATCH (f:Finding {status: 'OPEN'}) RETURN count(f) > 0 AS any") == [{"any": True}]
