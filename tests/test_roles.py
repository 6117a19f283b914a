"""Every query and mutation against every role: anonymous, reader, ingester, admin.

The operations come from the schema by introspection; each must have an entry in MINIMUM_ROLE, so a
new query or mutation without a decision about who may call it fails here."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, TokenAuth
from api.ratelimit import RateLimiter
from tests.schema_walk import INTROSPECT, Operation, operations, plain_variables

TOKENS = {"reader-token-0123456789": Role.READER, "ingester-token-0123456789": Role.INGESTER,
          "admin-token-0123456789": Role.ADMIN}
BY_ROLE = {role: token for token, role in TOKENS.items()}

# The least role each operation needs. Reads need a reader; writes name their role in api/permissions.py.
MINIMUM_ROLE: dict[str, Role] = {
    **{f"query {name}": Role.READER for name in (
        "rules", "findings", "licenseCompliance", "auditReport", "renewals", "inventoryReport", "conflicts",
        "asset", "assets", "neighborhood", "path", "chokePoints", "node", "changes", "ingestRuns")},
    "mutation resolveConflict": Role.ADMIN,
    "mutation suppressFinding": Role.ADMIN,
    "mutation recordAudit": Role.INGESTER,
}
CALLERS = ("anonymous", "reader", "ingester", "admin")


@pytest.fixture(scope="module")
def clients(settings, _schema):
    """One API with tokens configured, one anonymous on loopback (no tokens); no rate limit in the way."""
    with_tokens = create_app(settings, TokenAuth(TOKENS, allow_anonymous=False, limiter=RateLimiter(10**6)))
    loopback = create_app(settings, TokenAuth({}, allow_anonymous=True, limiter=RateLimiter(10**6)))
    with TestClient(with_tokens) as tokens, TestClient(loopback, base_url="http://127.0.0.1") as anonymous:
        yield tokens, anonymous


@pytest.fixture(scope="module")
def schema_operations(clients):
    tokens, _ = clients
    answer = tokens.post("/graphql", json={"query": INTROSPECT},
                         headers={"Authorization": f"Bearer {BY_ROLE[Role.ADMIN]}"}).json()
    return operations(answer["data"])


def test_every_query_and_mutation_has_a_minimum_role(schema_operations):
    ops, _, _ = schema_operations
    names = {op.name for op in ops}
    assert names - MINIMUM_ROLE.keys() == set(), "new operations: decide who may call them in MINIMUM_ROLE"
    assert MINIMUM_ROLE.keys() - names == set(), "MINIMUM_ROLE names operations the schema no longer has"


def expected(caller: str, need: Role, tokens_configured: bool) -> int:
    if caller == "anonymous":
        if tokens_configured:
            return 401
        return 200 if need <= Role.READER else 403     # loopback without tokens: an anonymous reader
    return 200 if Role[caller.upper()] >= need else 403


def call(client: TestClient, op: Operation, enums, caller: str):
    headers = {} if caller == "anonymous" else {"Authorization": f"Bearer {BY_ROLE[Role[caller.upper()]]}"}
    return client.post("/graphql", json={"query": op.document(), "variables": plain_variables(op, enums)},
                       headers=headers)


def check(response, op: Operation, status: int, need: Role) -> str | None:
    """What is wrong with this answer, or None."""
    if response.status_code != status:
        return f"{op.name}: HTTP {response.status_code}, expected {status}: {response.text[:200]}"
    if status == 401:
        return None if "token" in response.json()["detail"] else f"{op.name}: 401 without a reason"
    errors = [e["message"] for e in response.json().get("errors") or ()]
    refusal = f"needs role {need.name.lower()}"
    if status == 403 and errors != [refusal]:
        return f"{op.name}: 403 with errors {errors}, expected [{refusal!r}]"
    if status == 200 and any(e.startswith("needs role") for e in errors):
        return f"{op.name}: allowed, yet refused: {errors}"
    return None


@pytest.mark.parametrize("caller", CALLERS)
def test_role_matrix_with_tokens_configured(clients, schema_operations, store, caller):
    ops, enums, _ = schema_operations
    tokens, _ = clients
    before = store.counts()
    problems = [check(call(tokens, op, enums, caller), op, expected(caller, MINIMUM_ROLE[op.name], True),
                      MINIMUM_ROLE[op.name]) for op in ops]
    assert [p for p in problems if p] == []
    if caller in ("anonymous", "reader"):
        assert store.counts() == before


def test_role_matrix_anonymous_on_loopback_without_tokens(clients, schema_operations, store):
    ops, enums, _ = schema_operations
    _, anonymous = clients
    problems = [check(call(anonymous, op, enums, "anonymous"), op, expected("anonymous", MINIMUM_ROLE[op.name], False),
                      MINIMUM_ROLE[op.name]) for op in ops]
    assert [p for p in problems if p] == []


def test_the_matrix_holds_each_role_to_its_level():
    """The expectation itself, spelled out for one write of each level."""
    table = {caller: [expected(caller, need, True) for need in Role] for caller in CALLERS}
    assert table == {"anonymous": [401, 401, 401], "reader": [200, 403, 403],
                     "ingester": [200, 200, 403], "admin": [200, 200, 200]}
    assert [expected("anonymous", need, False) for need in Role] == [200, 403, 403]
