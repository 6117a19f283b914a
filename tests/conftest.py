"""One real Neo4j per test run (free port, temporary data directory); the graph is emptied before each test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings as hypothesis_profiles

from api.app import create_app
from api.auth import TokenAuth
from graph.config import Settings
from graph.local import LocalNeo4j, free_port
from graph.store import Store

FIXTURES = Path(__file__).parent / "fixtures"

# Property-based tests run a bounded budget in `make test` (`ci`, the same examples every run) and a
# long random one with HYPOTHESIS_PROFILE=long (`make fuzz`). A test's own @settings still wins.
_RELAXED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
hypothesis_profiles.register_profile("ci", max_examples=20, deadline=None, derandomize=True,
                                     suppress_health_check=_RELAXED)
hypothesis_profiles.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=_RELAXED)
hypothesis_profiles.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def itam_home(tmp_path_factory) -> Path:
    """The test run's ITAM_HOME: the Neo4j data, its password file and the fingerprint key."""
    home = tmp_path_factory.mktemp("itam-home")
    before = os.environ.get("ITAM_HOME")
    os.environ["ITAM_HOME"] = str(home)     # code that reads only the environment finds the same home
    yield home
    if before is None:
        os.environ.pop("ITAM_HOME", None)
    else:
        os.environ["ITAM_HOME"] = before


@pytest.fixture(scope="session")
def neo4j_server(itam_home):
    server = LocalNeo4j(itam_home, port=free_port(), heap_mb=1024, pagecache_mb=256)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def settings(neo4j_server, itam_home) -> Settings:
    """Clients log in the way the CLI does: with the password the launcher keeps in ITAM_HOME."""
    return Settings(neo4j_uri=neo4j_server.uri, home=itam_home, max_file_bytes=8 * 1024 * 1024)


@pytest.fixture(scope="session")
def _schema(settings):
    store = Store.from_settings(settings)
    store.apply_schema()
    store.close()


@pytest.fixture
def store(settings, _schema):
    store = Store.from_settings(settings)
    store.wipe()
    yield store
    store.close()


@pytest.fixture
def cli_env(settings, monkeypatch):
    """The environment the `itam` command reads, pointed at the test database."""
    monkeypatch.setenv("NEO4J_URI", settings.neo4j_uri)
    monkeypatch.setenv("ITAM_HOME", str(settings.home))
    monkeypatch.setenv("ITAM_MAX_FILE_MB", "8")
    monkeypatch.setenv("COLUMNS", "200")
    return os.environ


@pytest.fixture
def api(settings, store):
    """A GraphQL client on the real app (lifespan and all), anonymous on loopback."""
    app = create_app(settings, TokenAuth({}, allow_anonymous=True))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        def gql(query: str, **variables):
            response = client.post("/graphql", json={"query": query, "variables": variables})
            assert response.status_code == 200, response.text
            return response.json()
        gql.client = client
        yield gql


def nmap_fixture(name: str) -> Path:
    return FIXTURES / "nmap" / name


def plan_details(plan: dict) -> list[str]:
    """'Operator: details' of every step of an EXPLAIN plan (the operator without its '@neo4j' runtime tag)."""
    details = [f"{plan['operatorType'].split('@')[0]}: {plan.get('args', {}).get('Details', '')}"]
    for child in plan.get("children", []):
        details += plan_details(child)
    return details


def stored_times(store: Store, names: tuple[str, ...]) -> dict[str, dict]:
    """Each credential's stored times by fingerprint, as Python datetimes (None where absent)."""
    rows = store.read("MATCH (c:Credential) RETURN c.fingerprint AS f, properties(c) AS p")
    return {row["f"]: {name: row["p"][name].to_native() if name in row["p"] else None for name in names}
            for row in rows}
