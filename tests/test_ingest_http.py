"""Ingest over HTTP: POST /ingest/{source} answers with the run id at once; GET /ingest/runs/{id} follows it."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

from api import ingest_http
from tests.builders import nmap_xml
from tests.http_ingest_helpers import (
    READER,
    bearer,
    ingest_client,
    post_files,
    wait_for_run,
)

HOSTS = [{"ip": f"10.1.0.{n}", "mac": f"00:1b:a9:10:00:{n:02x}", "name": f"pos-{n}", "ports": [("tcp", 443, "https")]}
         for n in range(1, 4)]


def assets(store) -> int:
    return store.read("MATCH (a:Asset) RETURN count(a) AS n")[0]["n"]


def runs(store) -> int:
    return store.read("MATCH (r:IngestRun) RETURN count(r) AS n")[0]["n"]


def test_an_ingester_pushes_a_scan_and_follows_the_run(store, settings, tmp_path):
    scan = nmap_xml(tmp_path / "store-12.xml", HOSTS)
    with ingest_client(settings) as client:
        dry = post_files(client, "nmap", scan, dry_run="true")
        assert dry.status_code == 202, dry.text
        assert wait_for_run(client, dry.json()["id"])["status"] == "dry-run"
        assert (assets(store), runs(store)) == (0, 0)
        answer = post_files(client, "nmap", scan)
        assert answer.status_code == 202 and answer.json()["status"] == "running"
        done = wait_for_run(client, answer.json()["id"])
        listed = client.post("/graphql", headers=bearer(READER), json={"query": """{ ingestRuns(source: "nmap",
            status: "succeeded", first: 5) { edges { node { id status created } } pageInfo { hasNextPage } } }"""})
        assert listed.json()["data"]["ingestRuns"] == {
            "edges": [{"node": {"id": answer.json()["id"], "status": "succeeded", "created": 3}}],
            "pageInfo": {"hasNextPage": False}}
    assert (done["status"], done["created"], done["records"]) == ("succeeded", 3, 3)
    assert store.read("MATCH (r:IngestRun) RETURN r.id AS id") == [{"id": answer.json()["id"]}]
    assert assets(store) == 3


def test_ingest_needs_an_ingester_token(store, settings, tmp_path):
    scan = nmap_xml(tmp_path / "store-12.xml", HOSTS)
    with ingest_client(settings) as client:
        assert post_files(client, "nmap", scan, token=None).status_code == 401
        refused = post_files(client, "nmap", scan, token=READER)
        assert (refused.status_code, refused.json()["detail"]) == (403, "needs role ingester")
        assert client.get("/ingest/runs/run-x").status_code == 401
    assert (assets(store), runs(store)) == (0, 0)


def test_a_file_over_the_size_limit_is_refused_and_nothing_is_written(store, settings, tmp_path):
    limit = 64 * 1024
    small = replace(settings, max_file_bytes=limit)
    scan = nmap_xml(tmp_path / "big.xml", HOSTS)
    body = scan.read_bytes()
    scan.write_bytes(body + b" " * (limit + 1 - len(body)))          # N+1 bytes: refused
    with ingest_client(small) as client:
        refused = post_files(client, "nmap", scan)
        assert refused.status_code == 413, refused.text
        assert "big.xml" in refused.json()["detail"] and "nothing was written" in refused.json()["detail"]
        assert (assets(store), runs(store)) == (0, 0)
        scan.write_bytes(body + b" " * (limit - len(body)))          # exactly N bytes: accepted
        accepted = post_files(client, "nmap", scan)
        assert accepted.status_code == 202, accepted.text
        assert wait_for_run(client, accepted.json()["id"])["status"] == "succeeded"
    assert assets(store) == 3


def test_a_malformed_file_is_refused_with_the_cli_error(store, settings, tmp_path):
    broken = tmp_path / "cut.xml"
    broken.write_text('<?xml version="1.0"?><nmaprun><host><address addr="10.0.0.1"')
    with ingest_client(settings) as client:
        answer = post_files(client, "nmap", broken)
        assert answer.status_code == 422
        assert answer.json()["detail"].startswith("cut.xml")
        assert post_files(client, "no-such-source", broken).status_code == 404
    assert (assets(store), runs(store)) == (0, 0)


def test_a_second_run_of_the_same_source_and_scope_gets_409(store, settings, tmp_path, monkeypatch):
    release = threading.Event()
    real = ingest_http.pipeline.ingest_files

    def held(*args, **kwargs):         # the first run waits until the test has tried the second
        assert release.wait(60)
        return real(*args, **kwargs)
    monkeypatch.setattr(ingest_http.pipeline, "ingest_files", held)
    scan = nmap_xml(tmp_path / "store-12.xml", HOSTS)
    with ingest_client(settings) as client:
        first = post_files(client, "nmap", scan)
        assert first.status_code == 202
        second = post_files(client, "nmap", scan)
        assert (second.status_code, second.json()["running"]) == (409, first.json()["id"])
        assert client.get(f"/ingest/runs/{first.json()['id']}", headers=bearer(READER)).json()["status"] == "running"
        release.set()
        assert wait_for_run(client, first.json()["id"])["status"] == "succeeded"
        # a run another process records as running blocks the scope too
        store.execute("CREATE (:IngestRun {id: 'run-elsewhere', source: 'nmap', status: 'running', "
                      "started: $now, scopes: ['nmap:*']})", now=datetime.now(UTC))
        blocked = post_files(client, "nmap", scan)
        assert (blocked.status_code, blocked.json()["running"]) == (409, "run-elsewhere")
        # another source is not blocked
        assert post_files(client, "coverage", scan).status_code == 422
    assert runs(store) == 2
