"""Transport limits: the body cap for chunked requests, the request time limit, the per-token rate
limit (429 with Retry-After) and the GraphiQL/introspection policy."""
from __future__ import annotations

import asyncio
import json

from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, TokenAuth
from api.ratelimit import RateLimiter
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


def test_graphiql_is_served_only_without_tokens(settings, store):
    html = {"accept": "text/html"}
    with TestClient(create_app(settings, TokenAuth({}, allow_anonymous=True)), base_url="http://127.0.0.1") as client:
        page = client.get("/graphql", headers=html)
        assert page.status_code == 200 and "graphiql" in page.text.lower()
    with TestClient(create_app(settings, TokenAuth({READER: Role.READER}, allow_anonymous=False))) as client:
        page = client.get("/graphql", headers={**html, "Authorization": f"Bearer {READER}"})
        assert "graphiql" not in page.text.lower()
        assert client.post("/graphql", json=INTROSPECTION).status_code == 401
        answer = client.post("/graphql", json=INTROSPECTION, headers={"Authorization": f"Bearer {READER}"})
        assert answer.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
