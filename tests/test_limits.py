"""Every API limit at its boundary: N is accepted, N+1 refused (depth, aliases, tokens, page size,
body size, maxHops). The numbers are written out, not imported, so loosening a limit fails here."""
from __future__ import annotations

import json

import pytest

MAX_DEPTH, MAX_ALIASES, MAX_TOKENS, MAX_PAGE, MAX_BODY_BYTES, MAX_HOPS = 10, 15, 2000, 100, 64 * 1024, 3
DEPTH_ERROR = f"exceeds maximum operation depth of {MAX_DEPTH}"


def deep_query(depth: int) -> str:
    """A query whose deepest field sits at `depth` (the root field is depth 0): asset, reachable, asset, ..."""
    path = ["asset(identifier: \"x\")" if level % 2 == 0 else "reachable" for level in range(depth)]
    leaf = "name" if depth % 2 == 1 else "hops"        # under asset: name; under reachable: hops
    return "{ " + " { ".join(path) + " { " + leaf + " }" + " }" * (depth - 1) + " }"


def messages(answer: dict) -> list[str]:
    return [error["message"] for error in answer.get("errors", [])]


def test_depth_limit_at_n_and_n_plus_one(api):
    assert not any(DEPTH_ERROR in m for m in messages(api(deep_query(MAX_DEPTH))))
    assert any(DEPTH_ERROR in m for m in messages(api(deep_query(MAX_DEPTH + 1))))


def aliased(count: int) -> str:
    return "{ " + " ".join(f'a{i}: asset(identifier: "x") {{ id }}' for i in range(count)) + " }"


def test_alias_limit_at_n_and_n_plus_one(api):
    accepted = api(aliased(MAX_ALIASES))
    assert "errors" not in accepted and len(accepted["data"]) == MAX_ALIASES
    assert messages(api(aliased(MAX_ALIASES + 1))) == [f"{MAX_ALIASES + 1} aliases found. Allowed: {MAX_ALIASES}"]


def tokens(count: int) -> str:
    """A valid query of exactly `count` tokens (18 around the spreads, 2 per spread, 1 per extra id)."""
    spreads, extra = divmod(count - 18, 2)
    return '{ asset(identifier: "x") { ' + "id " * (1 + extra) + "...F " * spreads + "} } fragment F on Asset { id }"


def test_token_limit_at_n_and_n_plus_one(api):
    assert api(tokens(MAX_TOKENS)) == {"data": {"asset": None}}
    assert "more than 2000 tokens" in messages(api(tokens(MAX_TOKENS + 1)))[0]


@pytest.mark.parametrize("field", ["assets(first: %d) { edges { cursor } }", "conflicts(first: %d) { id }"])
def test_page_size_at_n_and_n_plus_one(api, field):
    assert "errors" not in api("{ " + field % MAX_PAGE + " }")
    assert messages(api("{ " + field % (MAX_PAGE + 1) + " }")) == [f"first must be between 1 and {MAX_PAGE}"]
    assert messages(api("{ " + field % 0 + " }")) == [f"first must be between 1 and {MAX_PAGE}"]


def test_max_hops_at_n_and_n_plus_one(api, store):
    store.execute("CREATE (:Asset:Host {id: 'asset-1', name: 'web-01'})"
                  "<-[:IDENTIFIES]-(:Identifier {key: 'hostname:web-01', kind: 'hostname', value: 'web-01'})")
    query = '{ asset(identifier: "web-01") { reachable(maxHops: %d) { hops } } }'
    assert api(query % MAX_HOPS) == {"data": {"asset": {"reachable": []}}}
    assert messages(api(query % (MAX_HOPS + 1))) == [f"maxHops must be between 1 and {MAX_HOPS}"]
    assert messages(api(query % 0)) == [f"maxHops must be between 1 and {MAX_HOPS}"]


def body_of(size: int) -> bytes:
    """A JSON GraphQL request of exactly `size` bytes (padded in a key the server ignores)."""
    base = json.dumps({"query": "{ conflicts { id } }", "pad": ""}).encode()
    return json.dumps({"query": "{ conflicts { id } }", "pad": "x" * (size - len(base))}).encode()


def test_body_limit_at_n_and_n_plus_one(api):
    accepted = api.client.post("/graphql", content=body_of(MAX_BODY_BYTES), headers={"content-type": "application/json"})
    assert len(body_of(MAX_BODY_BYTES)) == MAX_BODY_BYTES
    assert accepted.status_code == 200 and accepted.json() == {"data": {"conflicts": []}}
    refused = api.client.post("/graphql", content=body_of(MAX_BODY_BYTES + 1),
                              headers={"content-type": "application/json"})
    assert refused.status_code == 413
