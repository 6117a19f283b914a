"""The database goes away: the API answers 503 at once and recovers by itself; an ingest fails clearly.

These tests run their own Neo4j (the session's one is shared), stop it and start it again."""
from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.auth import TokenAuth
from api.cli import app as itam
from graph.config import Settings
from graph.local import LauncherError, LocalNeo4j, free_port
from graph.store import Store
from tests.conftest import FIXTURES

QUERY = {"query": '{ asset(identifier: "web-01") { name } }'}
DOWN = "the graph database is not answering; try again when it is back (itam db status)"


@pytest.fixture
def own_neo4j(tmp_path):
    server = LocalNeo4j(tmp_path, port=free_port(), heap_mb=512, pagecache_mb=64)
    server.start()
    yield server
    server.stop()


def test_api_answers_503_within_a_second_while_the_database_is_down_then_recovers(own_neo4j, tmp_path):
    settings = Settings(neo4j_uri=own_neo4j.uri, home=tmp_path)
    store = Store.from_settings(settings)
    store.apply_schema()
    store.close()
    with TestClient(create_app(settings, TokenAuth({}, allow_anonymous=True)), base_url="http://127.0.0.1") as client:
        assert client.post("/graphql", json=QUERY).json() == {"data": {"asset": None}}
        own_neo4j.stop()
        started = time.monotonic()
        down = client.post("/graphql", json=QUERY)
        elapsed = time.monotonic() - started
        assert down.status_code == 503 and down.json()["errors"][0]["message"] == DOWN
        assert elapsed < 1.0, f"answered after {elapsed:.2f} s"
        health = client.get("/healthz")
        assert (health.status_code, health.json()) == (503, {"status": "database unavailable"})
        own_neo4j.start()
        assert client.get("/healthz").json() == {"status": "ok"}
        back = client.post("/graphql", json=QUERY)       # the same app, no restart: pooled connections renewed
        assert (back.status_code, back.json()) == (200, {"data": {"asset": None}})


@pytest.mark.parametrize("command, name", [("hr", "hr.csv"), ("nmap", "2_hosts.xml")])
def test_an_ingest_against_a_dead_database_fails_clearly(tmp_path, monkeypatch, command, name):
    port = free_port()                                   # nothing listens there
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{port}")
    monkeypatch.setenv("ITAM_HOME", str(tmp_path))
    file = tmp_path / name
    if command == "hr":
        file.write_text("email,name\nada@example.com,Ada\n")
    else:
        file.write_bytes((FIXTURES / "nmap" / name).read_bytes())
    result = CliRunner().invoke(itam, ["ingest", command, str(file)])
    assert result.exit_code == 3
    assert " ".join(result.output.split()) == (f"error: the graph database at bolt://127.0.0.1:{port} is not "
                                               "answering (itam db start); nothing was written")
    assert isinstance(result.exception, SystemExit)      # typer's exit, not a traceback


def test_a_database_that_does_not_answer_in_time_is_not_left_running(tmp_path):
    server = LocalNeo4j(tmp_path, port=free_port(), heap_mb=512, pagecache_mb=64)
    with pytest.raises(LauncherError, match="did not answer"):
        server.start(timeout=0.5)                        # far shorter than a JVM start
    assert server.pid() is None and not server.pid_file.exists()
