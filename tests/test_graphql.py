"""The public GraphQL contract: the responder's host query by any identifier, pagination, limits, auth."""
from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, TokenAuth, TokenConfigError
from api.graphql_schema import schema
from ingest.pipeline import ingest_files
from tests.builders import nmap_xml, snipeit_csv

SCAN_TIME = 1795000000  # 2026-11-18 08:53 UTC, after the decommissioning below

HOST_QUERY = """
query($id: String!) { asset(identifier: $id) {
  id name kind lifecycleStage identifiers { kind value } owner { name email active } team { name }
  software { name version } licenses { product seats expiresOn } credentials { kind fingerprint notAfter }
  openPorts { protocol number service product version } sightings { source firstSeen lastSeen }
  shouldExist { verdict reasons } reachable(maxHops: 2) { asset { name } hops ports } } }
"""


@pytest.fixture
def small_org(store, settings, tmp_path):
    hr = tmp_path / "hr.csv"
    hr.write_text("email,name,department,end_date\nada@example.com,Ada,Engineering,\n"
                  "gone@example.com,Gone,Finance,2026-10-01\n")
    ingest_files(store, "hr", [hr], settings)
    snipeit_csv(tmp_path / "assets.csv", [
        {"asset_tag": "ITAM-1", "item_name": "web-01", "serial": "SRV1", "mac_address": "00:14:22:00:00:01",
         "email": "ada@example.com"},
        {"asset_tag": "ITAM-2", "item_name": "old-01", "serial": "SRV2", "mac_address": "00:14:22:00:00:02",
         "status": "Archived", "decommissioned_date": "2026-06-30"},
        {"asset_tag": "ITAM-3", "item_name": "lt-0003", "serial": "LT3", "mac_address": "00:14:22:00:00:03",
         "category": "Laptops", "email": "gone@example.com"},
    ])
    ingest_files(store, "snipeit", [tmp_path / "assets.csv"], settings)
    scan = nmap_xml(tmp_path / "scan.xml", [
        {"ip": "10.0.3.5", "mac": "00:14:22:00:00:01", "name": "web-01.corp", "ports": [("tcp", 443, "https")]},
        {"ip": "10.0.3.7", "mac": "00:14:22:00:00:02", "name": "old-01.corp", "ports": [("tcp", 22, "ssh")]},
        {"ip": "10.0.3.9", "mac": "00:14:22:00:00:03", "name": "lt-0003.corp"},
        {"ip": "10.0.3.66", "mac": "b8:27:eb:00:00:66", "name": "raspberrypi", "ports": [("tcp", 22, "ssh")]},
    ], start=SCAN_TIME)
    ingest_files(store, "nmap", [scan], settings)


@pytest.mark.parametrize("identifier", ["web-01", "WEB-01.corp", "10.0.3.5", "00-14-22-00-00-01", "srv1",
                                        "ITAM-1", "serial:SRV1"])
def test_host_query_by_any_identifier(api, small_org, identifier):
    asset = api(HOST_QUERY, id=identifier)["data"]["asset"]
    assert asset["name"] == "web-01"
    assert asset["owner"] == {"name": "Ada", "email": "ada@example.com", "active": True}
    assert asset["team"] == {"name": "Engineering"}
    assert asset["openPorts"] == [{"protocol": "tcp", "number": 443, "service": "https", "product": None,
                                   "version": None}]
    assert sorted(s["source"] for s in asset["sightings"]) == ["nmap", "snipeit"]
    assert asset["shouldExist"] == {"verdict": "EXPECTED", "reasons": ["in inventory (snipeit) as Deployed"]}
    assert {"kind": "ip", "value": "10.0.3.5"} in asset["identifiers"]
    reach = {r["asset"]["name"]: (r["hops"], r["ports"]) for r in asset["reachable"]}
    assert reach == {"old-01": (1, ["tcp/22"]), "raspberrypi": (1, ["tcp/22"])}


def test_verdicts_explain_themselves(api, small_org):
    old = api(HOST_QUERY, id="old-01")["data"]["asset"]["shouldExist"]
    assert old == {"verdict": "UNEXPECTED", "reasons": [
        "decommissioned on 2026-06-30 yet still answering on 10.0.3.7 (nmap, 2026-11-18)"]}
    unknown = api(HOST_QUERY, id="b8:27:eb:00:00:66")["data"]["asset"]["shouldExist"]
    assert unknown == {"verdict": "UNEXPECTED", "reasons": ["seen by nmap on 2026-11-18 on 10.0.3.66 but never procured"]}
    laptop = api(HOST_QUERY, id="LT3")["data"]["asset"]
    assert laptop["owner"]["active"] is False
    assert laptop["shouldExist"]["verdict"] == "REVIEW"
    assert "owner gone@example.com left on 2026-10-01" in laptop["shouldExist"]["reasons"]


def test_unknown_identifier_is_null_and_ambiguous_lists_candidates(api, small_org, store, settings, tmp_path):
    assert api(HOST_QUERY, id="no-such-host")["data"]["asset"] is None
    # 'web-01' also becomes the serial of another asset: the text now means two assets.
    snipeit_csv(tmp_path / "more.csv", [{"asset_tag": "ITAM-9", "item_name": "other", "serial": "web-01"}])
    ingest_files(store, "snipeit", [tmp_path / "more.csv"], settings)
    answer = api(HOST_QUERY, id="web-01")
    message = answer["errors"][0]["message"]
    assert message.startswith("identifier 'web-01' matches 2 assets:")
    assert "other (" in message and "web-01 (" in message and "serial:web-01" in message


def test_assets_paginate_with_cursors_and_cap_page_size(api, small_org):
    query = "query($after: String) { assets(kind: \"Host\", first: 2, after: $after) { edges { cursor node { name } } "\
            "pageInfo { hasNextPage endCursor } } }"
    names, after = [], None
    for _ in range(5):
        page = api(query, after=after)["data"]["assets"]
        names += [e["node"]["name"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert sorted(names) == ["lt-0003", "old-01", "raspberrypi", "web-01"]
    assert len(names) == len(set(names))
    too_big = api("{ assets(first: 1000) { edges { cursor } } }")
    assert too_big["errors"][0]["message"] == "first must be between 1 and 100"
    stage = api('{ assets(lifecycleStage: "decommissioned") { edges { node { name } } } }')
    assert [e["node"]["name"] for e in stage["data"]["assets"]["edges"]] == ["old-01"]


def test_limits_depth_aliases_tokens_and_hops(api, small_org):
    deep = "{ asset(identifier: \"web-01\") " + "{ reachable { asset " * 6 + "{ name }" + " } }" * 6 + " }"
    assert "exceeds maximum operation depth" in api(deep)["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: asset(identifier: \"web-01\") {{ id }}" for i in range(20)) + " }"
    assert "aliases found" in api(aliases)["errors"][0]["message"]
    tokens = "{ asset(identifier: \"web-01\") { " + " ".join(["id"] * 2500) + " } }"
    assert "more than 2000 tokens" in api(tokens)["errors"][0]["message"]
    hops = api("{ asset(identifier: \"web-01\") { reachable(maxHops: 9) { hops } } }")
    assert hops["errors"][0]["message"] == "maxHops must be between 1 and 3"


def test_internal_errors_are_masked(api, small_org, store):
    store.execute("MATCH (a:Asset {name: 'web-01'}) SET a.purchase_date = 'not a date'")
    # a well-formed query over a broken record must not leak internals
    answer = api("{ asset(identifier: \"web-01\") { sightings { source firstSeen } } }")
    assert "data" in answer
    store.execute("MATCH (a:Asset {name: 'web-01'})-[s:SEEN_BY]->() SET s.first_seen = 'garbage'")
    broken = api("{ asset(identifier: \"web-01\") { sightings { source firstSeen } } }")
    assert broken["errors"][0]["message"] == "Unexpected error."


def test_tokens_and_roles(settings, store):
    auth = TokenAuth({"r" * 20: Role.READER}, allow_anonymous=True)
    with TestClient(create_app(settings, auth)) as client:
        body = {"query": "{ assets { edges { cursor } } }"}
        assert client.post("/graphql", json=body).status_code == 401
        assert client.post("/graphql", json=body, headers={"Authorization": "Bearer wrong-token-xxxxxxx"}).status_code == 401
        ok = client.post("/graphql", json=body, headers={"Authorization": "Bearer " + "r" * 20})
        assert ok.status_code == 200 and ok.json()["data"]["assets"]["edges"] == []
        assert client.post("/graphql", content=b"x" * 70000,
                           headers={"content-type": "application/json"}).status_code == 413
        assert client.get("/healthz").json() == {"status": "ok"}


def test_serving_beyond_loopback_needs_tokens(monkeypatch):
    monkeypatch.delenv("ITAM_API_TOKENS", raising=False)
    with pytest.raises(TokenConfigError, match="refusing to serve on 0.0.0.0 without ITAM_API_TOKENS"):
        TokenAuth.from_env("0.0.0.0")
    monkeypatch.setenv("ITAM_API_TOKENS", "short:reader")
    with pytest.raises(TokenConfigError, match="at least 16 characters"):
        TokenAuth.from_env("0.0.0.0")
    monkeypatch.setenv("ITAM_API_TOKENS", "a-long-enough-token:admin")
    assert TokenAuth.from_env("0.0.0.0").tokens == {"a-long-enough-token": Role.ADMIN}


def test_schema_matches_the_committed_contract():
    committed = (Path(__file__).parents[1] / "api" / "schema.graphql").read_text()
    assert schema.as_str().strip() == committed.strip(), \
        "the GraphQL schema changed: review, then `make schema` to update api/schema.graphql"
