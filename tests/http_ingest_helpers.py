"""An API client with tokens, for ingest over HTTP, and polling a run until it ends (with a deadline)."""
from __future__ import annotations

import time
from contextlib import contextmanager

from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, TokenAuth

READER = "reader-token-0123456789"
INGESTER = "ingester-token-0123456789"
TOKENS = {READER: Role.READER, INGESTER: Role.INGESTER}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def ingest_client(settings):
    app = create_app(settings, TokenAuth(TOKENS, allow_anonymous=False))
    with TestClient(app) as client:
        yield client


def post_files(client, source: str, *paths, token: str = INGESTER, **params):
    files = [("file", (p.name, p.read_bytes())) for p in paths]
    return client.post(f"/ingest/{source}", files=files, params=params, headers=bearer(token) if token else {})


def wait_for_run(client, run_id: str, deadline_s: float = 300.0) -> dict:
    """Poll GET /ingest/runs/{id} until the run is no longer running (fails past the deadline)."""
    end = time.monotonic() + deadline_s
    while True:
        answer = client.get(f"/ingest/runs/{run_id}", headers=bearer(READER))
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] != "running":
            return answer.json()
        assert time.monotonic() < end, f"run {run_id} still running after {deadline_s} s"
        time.sleep(0.05)     # polling interval, not synchronisation: the loop waits on the run's status
