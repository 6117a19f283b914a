"""An injection corpus through every string argument of the GraphQL API, as an administrator: the graph
does not change (node and relationship counts, and a digest of every node and relationship with its
properties), and no answer is a 500 or a masked internal error.

The arguments come from the schema by introspection, so a new one is covered without being listed."""
from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, TokenAuth
from api.ratelimit import RateLimiter
from ingest.pipeline import ingest_files
from tests.conftest import FIXTURES
from tests.graph_digest import graph_content, graph_digest
from tests.hostile import INJECTION
from tests.schema_walk import INTROSPECT, operations, plain_variables

ADMIN = "admin-token-0123456789"
STRINGS = ("String", "ID")
# What an internal error looks like once it leaks: the masked placeholder, or the database's own words.
LEAKS = ("Unexpected error", "Traceback", "Neo.ClientError", "Neo.DatabaseError", "CypherSyntaxError",
         "neo4j.exceptions", "File \"")


@pytest.fixture
def estate(store, settings):
    """A small real estate: an inventory export, two scans and an osquery fleet (with their conflicts)."""
    settings = replace(settings, evaluate_findings=False)
    for source, name in (("snipeit", "snipeit-whitebox.csv"), ("nmap", "nmap-vlan10.xml"),
                         ("nmap", "nmap-vlan20.xml"), ("osquery", "osquery-messy-fleet.log")):
        ingest_files(store, source, [FIXTURES / "identity" / name], settings)
    return store


def test_no_string_argument_outside_query_and_mutation_goes_untested(settings, store):
    """The corpus reaches the root fields' arguments; an argument on a nested field would need a path."""
    with TestClient(create_app(settings, TokenAuth({ADMIN: Role.ADMIN}, allow_anonymous=False))) as client:
        data = client.post("/graphql", json={"query": INTROSPECT},
                           headers={"Authorization": f"Bearer {ADMIN}"}).json()["data"]
    _, _, types = operations(data)
    roots = {data["__schema"]["queryType"]["name"], data["__schema"]["mutationType"]["name"]}
    nested = [f"{t['name']}.{f['name']}({a['name']})" for t in types.values()
              if t["kind"] == "OBJECT" and t["name"] not in roots and not t["name"].startswith("__")
              for f in t["fields"] or () for a in f["args"]
              if _named(a["type"]) in STRINGS]
    assert nested == [], "string arguments below the root: extend tests/test_injection.py to reach them"


def _named(ref: dict) -> str:
    while ref["kind"] in ("NON_NULL", "LIST"):
        ref = ref["ofType"]
    return ref["name"]


def test_injection_corpus_through_every_string_argument_changes_nothing(estate, settings):
    auth = TokenAuth({ADMIN: Role.ADMIN}, allow_anonymous=False, limiter=RateLimiter(10**6))
    headers = {"Authorization": f"Bearer {ADMIN}"}
    before_counts, before_digest = estate.counts(), graph_digest(estate)
    assert before_counts["Asset"] > 10 and before_counts.get("Conflict", 0) > 0
    with TestClient(create_app(settings, auth)) as client:
        ops, enums, _ = operations(client.post("/graphql", json={"query": INTROSPECT}, headers=headers).json()["data"])
        targets = [(op, arg) for op in ops for arg in op.args if arg.named in STRINGS]
        assert {op.kind for op, _ in targets} == {"query", "mutation"}
        problems, sent = [], 0
        for op, arg in targets:
            for text in INJECTION:
                variables = {**plain_variables(op, enums), arg.name: [text] if arg.is_list else text}
                response = client.post("/graphql", json={"query": op.document(), "variables": variables},
                                       headers=headers)
                sent += 1
                where = f"{op.name}({arg.name}={text[:40]!r})"
                if response.status_code >= 500:
                    problems.append(f"{where}: HTTP {response.status_code}")
                leaked = [word for word in LEAKS if word in response.text]
                if leaked:
                    problems.append(f"{where}: {leaked} in {response.text[:300]}")
    assert problems == []
    assert sent == len(targets) * len(INJECTION) and sent > 200
    assert estate.counts() == before_counts
    assert graph_digest(estate) == before_digest


def test_text_a_mutation_stores_is_stored_literally_and_changes_nothing_else(estate, settings):
    """Where an argument is meant to be written (an audit's location and note), the injection text lands
    as the value, character for character, on the one asset, and every other node and relationship stays
    as it was."""
    auth = TokenAuth({ADMIN: Role.ADMIN}, allow_anonymous=False, limiter=RateLimiter(10**6))
    mutation = ("mutation Audit($tag: String!, $location: String, $note: String) { "
                "recordAudit(assetTag: $tag, location: $location, note: $note) { location note } }")
    audited = '"asset_tag": "WB-0001"'         # the asset's own line, and its relationships' (quotes escaped)
    before_counts = estate.counts()
    before = other_lines(estate, audited)
    with TestClient(create_app(settings, auth)) as client:
        for text in INJECTION:
            note = "checked: " + text[:200]
            answer = client.post("/graphql", headers={"Authorization": f"Bearer {ADMIN}"}, json={
                "query": mutation, "variables": {"tag": "WB-0001", "location": text, "note": note}}).json()
            assert answer == {"data": {"recordAudit": {"location": text, "note": note}}}
            stored = estate.read("MATCH (a:Asset {asset_tag: 'WB-0001'}) RETURN a.audit_location AS location, "
                                 "a.audit_note AS note")
            assert stored == [{"location": text, "note": note}]
    after_counts = estate.counts()
    logged = after_counts.pop("Change", 0) - before_counts.pop("Change", 0)
    assert logged == len(INJECTION)                    # each audit is in the change log, with who recorded it
    assert after_counts == before_counts
    assert other_lines(estate, audited) == before


def other_lines(estate, audited: str) -> list[str]:
    """The graph's content apart from the audited asset's own lines and the change log's records."""
    return [line for part in graph_content(estate) for line in part
            if audited not in line.replace('\\"', '"') and not line.startswith('[["Change"]')]
