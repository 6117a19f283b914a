"""The query cost budget: worked out from the parsed query before any resolver runs; nesting multiplies."""
from __future__ import annotations

import strawberry
from graphql import parse

from api.graphql_schema import schema
from api.limits import DEFAULT_BUDGET, request_cost

HOST_QUERY = """
query Host($id: String!) { asset(identifier: $id) {
  id name identifiers { kind value } owner { email } openPorts { number service }
  shouldExist { verdict reasons } reachable(maxHops: 2) { asset { name } hops ports } } }
"""
NESTED = '{ asset(identifier: "x") { reachable { asset { reachable { asset { reachable { hops } } } } } } }'


def cost(query: str, variables: dict | None = None, graphql_schema=schema) -> int:
    return request_cost(graphql_schema._schema, parse(query), None, variables)


def test_costs_follow_the_documented_rules():
    # asset 1 + identifiers/owner/openPorts/shouldExist 4 + reachable 1 + 2 hops x 10 + 500 reached x asset 1
    assert cost(HOST_QUERY, {"id": "web-01"}) == 1 + 4 + 21 + 500
    # a page of 100: the connection 1, then per item edges 1 + node 1 + owner 1; pageInfo 1
    assert cost("{ assets(first: 100) { edges { node { owner { email } } } pageInfo { hasNextPage } } }") == \
        1 + 100 * 3 + 100
    assert cost("{ assets { edges { cursor } } }") == 1 + 50      # the argument's default page of 50


def test_nesting_multiplies_and_variables_count():
    one_level = '{ asset(identifier: "x") { reachable(maxHops: 1) { hops } } }'
    two_levels = '{ asset(identifier: "x") { reachable(maxHops: 1) { asset { reachable(maxHops: 1) { hops } } } } }'
    assert cost(one_level) == 1 + 11
    assert cost(two_levels) == 1 + 11 + 50 * (1 + 11)
    page = "query($n: Int!) { assets(first: $n) { edges { node { owner { email } } } } }"
    assert cost(page, {"n": 10}) == 1 + 10 * 3
    assert cost(page, {"n": 100}) == 1 + 100 * 3


def test_fragments_and_aliases_are_counted():
    aliased = "{ a: asset(identifier: \"x\") { owner { email } } b: asset(identifier: \"y\") { owner { email } } }"
    assert cost(aliased) == 4
    spread = "{ asset(identifier: \"x\") { ...F ... on Asset { team { name } } } } fragment F on Asset { owner { email } }"
    assert cost(spread) == 3


@strawberry.type
class Finding:
    rule: str


@strawberry.type
class Node:
    name: str

    @strawberry.field
    def neighborhood(self, max_hops: int = 2) -> list[Node]:
        return []


@strawberry.type
class FutureQuery:
    """Fields other developers are adding (findings, chokePoints, neighborhood), with no cost entry."""

    @strawberry.field
    def findings(self, first: int = 50) -> list[Finding]:
        return []

    @strawberry.field
    def choke_points(self, limit: int = 10) -> list[Node]:
        return []


def test_new_fields_are_costed_by_their_arguments_without_a_table_entry():
    other = strawberry.Schema(query=FutureQuery)
    assert cost("{ findings(first: 30) { rule } }", graphql_schema=other) == 1
    assert cost("{ chokePoints { neighborhood(maxHops: 1) { name } } }", graphql_schema=other) == 1 + 10 * 11
    assert cost("{ chokePoints(limit: 5) { neighborhood { neighborhood { name } } } }", graphql_schema=other) == \
        1 + 5 * (21 + 500 * 21)


def test_over_budget_is_refused_before_anything_runs_with_cost_and_budget(api):
    answer = api(NESTED)
    assert answer["data"] is None
    (error,) = answer["errors"]
    assert error["message"].startswith(f"query cost {cost(NESTED)} is over the budget of {DEFAULT_BUDGET}")


def test_budget_at_n_and_n_plus_one(api, monkeypatch):
    exact = cost(HOST_QUERY, {"id": "web-01"})
    monkeypatch.setenv("ITAM_QUERY_BUDGET", str(exact))
    assert api(HOST_QUERY, id="web-01") == {"data": {"asset": None}}
    monkeypatch.setenv("ITAM_QUERY_BUDGET", str(exact - 1))
    assert api(HOST_QUERY, id="web-01")["errors"][0]["message"].startswith(
        f"query cost {exact} is over the budget of {exact - 1}")
