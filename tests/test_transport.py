"""Transport limits: the body cap for chunked requests, the request time limit, the per-token rate
limit (429 with Retry-After), the GraphiQL/introspection policy, and the access log."""
from __future__ import annotations

import asyncio
import gc
import json

import pytest
from fastapi.testclient import TestClient

from api.access_log import query_digest
from api.app import create_app
from api.auth import Role, TokenAuth, TokenConfigError
from api.ratelimit import RateLimiter, worker_share
from api.transport import RequestTimeout

MAX_BODY = 64 * 1024
READER, OTHER = "r" * 20, "o" * 20


def chunked(body: bytes, size: int = 4096):
    """The body as a generator: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def body_of(size: int) -> bytes:
    base = json.dumps({"query": "{ conflicts { id } }", "pad": ""}).encode()
    return json.dumps({"query": "{ conflicts { id } }", "pad": "x" * (size - len(base))}).encode()


def test_chunked_body_limit_at_n_and_n_plus_one(api):
    headers = {"content-type": "application/json"}
    accepted = api.client.post("/graphql", content=chunked(body_of(MAX_BODY)), headers=headers)
    assert accepted.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in accepted.request.headers
    assert accepted.status_code == 200 and accepted.json() == {"data": {"conflicts": []}}
    refused = api.client.post("/graphql", content=chunked(body_of(MAX_BODY + 1)), headers=headers)
    assert refused.status_code == 413 and refused.json() == {"detail": f"request body over {MAX_BODY} bytes"}


def test_a_request_over_its_time_limit_gets_504():
    async def stuck(scope, receive, send):
        await asyncio.Event().wait()            # a dependency that never answers

    client = TestClient(RequestTimeout(stuck, seconds=0.2))    # no `with`: the stub has no lifespan
    response = client.get("/graphql")
    assert response.status_code == 504
    assert response.json() == {"detail": "request took longer than 0.2 s (ITAM_REQUEST_TIMEOUT_S)"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_at_n_and_n_plus_one_then_refills():
    clock = Clock()
    limiter = RateLimiter(per_minute=6, clock=clock)            # one request every 10 s, bursts of 6
    assert [limiter.retry_after("a") for _ in range(6)] == [None] * 6
    assert limiter.retry_after("a") == 10
    assert limiter.retry_after("b") is None                    # another caller has its own bucket
    clock.now += 9.9
    assert limiter.retry_after("a") == 1
    clock.now += 0.1
    assert limiter.retry_after("a") is None


def test_workers_share_the_rate_and_never_allow_more_than_it_together(monkeypatch):
    assert [worker_share(rate, 2) for rate in (1, 2, 3, 4)] == [1, 1, 1, 2]     # at least 1, rounded down
    assert worker_share(600, 1) == 600
    monkeypatch.setenv("ITAM_RATE_PER_MINUTE", "5")
    assert TokenAuth.from_env("127.0.0.1", workers=2).limiter.capacity == 2
    assert TokenAuth.from_env("127.0.0.1").limiter.capacity == 5


def test_api_answers_429_with_retry_after_per_token(settings, store):
    auth = TokenAuth({READER: Role.READER, OTHER: Role.READER}, allow_anonymous=False,
                     limiter=RateLimiter(per_minute=3, clock=Clock()))
    body = {"query": "{ conflicts { id } }"}
    with TestClient(create_app(settings, auth)) as client:
        def post(token):
            return client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
        assert [post(READER).status_code for _ in range(3)] == [200, 200, 200]
        refused = post(READER)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "20"
        assert refused.json() == {"detail": "too many requests (ITAM_RATE_PER_MINUTE): retry in 20 s"}
        assert post(OTHER).status_code == 200


INTROSPECTION = {"query": "{ __schema { queryType { name } } }"}


def test_graphiql_is_a_page_without_data_and_introspection_needs_a_token(settings, store):
    html = {"accept": "text/html"}
    with TestClient(create_app(settings, TokenAuth({}, allow_anonymous=True)), base_url="http://127.0.0.1") as client:
        page = client.get("/graphql", headers=html)
        assert page.status_code == 200 and "graphiql" in page.text.lower()
    with TestClient(create_app(settings, TokenAuth({READER: Role.READER}, allow_anonymous=False))) as client:
        page = client.get("/graphql", headers=html)   # the page asks for a token; it holds no data
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        assert client.post("/graphql", json=INTROSPECTION).status_code == 401
        answer = client.post("/graphql", json=INTROSPECTION, headers={"Authorization": f"Bearer {READER}"})
        assert answer.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


def test_every_graphql_request_is_in_the_access_log_without_what_was_asked(settings, store, tmp_path,
                                                                            monkeypatch):
    log = tmp_path / "access.jsonl"
    monkeypatch.setenv("ITAM_ACCESS_LOG", str(log))
    query = 'query Lookup($id: String!) { asset(identifier: $id) { name } }'
    with TestClient(create_app(settings, TokenAuth({READER: Role.READER}, allow_anonymous=False))) as client:
        bearer = {"Authorization": f"Bearer {READER}"}
        assert client.post("/graphql", json={"query": query, "variables": {"id": "web-01"}},
                           headers=bearer).status_code == 200
        client.post("/graphql", json={"query": "{ nosuchfield }"}, headers=bearer)
    first, second = (json.loads(line) for line in log.read_text().splitlines())
    assert first["principal"] == "token-reader" and first["caller"].startswith("token:")
    assert READER not in log.read_text() and "web-01" not in log.read_text()
    assert (first["operation"], first["outcome"], first["errors"]) == ("Lookup", "ok", 0)
    assert first["query_sha256"] == query_digest(query, {"id": "web-01"}) != query_digest(query, {"id": "db-01"})
    assert first["duration_ms"] >= 0 and first["at"].endswith("+00:00")
    assert (second["operation"], second["outcome"], second["errors"]) == (None, "error", 1)
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_tokens_can_come_from_a_private_file(tmp_path, monkeypatch):
    monkeypatch.delenv("ITAM_API_TOKENS", raising=False)
    path = tmp_path / "tokens"
    path.write_text(f"# API tokens\n{READER}:reader\n{OTHER}:admin, {'i' * 16}:ingester\n")
    path.chmod(0o600)
    monkeypatch.setenv("ITAM_API_TOKENS_FILE", str(path))
    assert TokenAuth.from_env("0.0.0.0").tokens == {READER: Role.READER, OTHER: Role.ADMIN, "i" * 16: Role.INGESTER}
    path.chmod(0o640)
    with pytest.raises(TokenConfigError, match="readable by others \\(mode 640\\): chmod 600 it"):
        TokenAuth.from_env("0.0.0.0")
    path.chmod(0o600)
    monkeypatch.setenv("ITAM_API_TOKENS", f"{READER}:reader")
    with pytest.raises(TokenConfigError, match="not both"):
        TokenAuth.from_env("0.0.0.0")
    monkeypatch.delenv("ITAM_API_TOKENS")
    monkeypatch.setenv("ITAM_API_TOKENS_FILE", str(tmp_path / "missing"))
    with pytest.raises(TokenConfigError, match="No such file"):
        TokenAuth.from_env("0.0.0.0")


def test_the_app_freezes_what_it_starts_with_out_of_the_collector_and_thaws_it_on_shutdown(settings):
    gc.unfreeze()
    with TestClient(create_app(settings, TokenAuth({}, allow_anonymous=True)), base_url="http://127.0.0.1") as client:
        frozen = gc.get_freeze_count()
        assert client.get("/healthz").status_code == 200
    assert frozen > 10_000          # the modules, the GraphQL schema and the app: a full collection skips them
    assert gc.get_freeze_count() == 0
