"""`itam serve`: the app under uvicorn, in one process or several worker processes.

Workers are separate processes (uvicorn's supervisor starts them; they share the listening socket), so
uvicorn needs the app as an import string: `app_from_env` builds it in each worker from the environment,
with the bind host and GraphiQL choice that `serve` put there. Each worker has its own Neo4j driver and
connection pool, and its own rate-limit buckets holding its share of ITAM_RATE_PER_MINUTE, so the
workers together allow no more than the rate (docs/PERFORMANCE.md, "Concurrency").
"""
from __future__ import annotations

import os

from fastapi import FastAPI

from api.app import create_app
from api.auth import TokenAuth
from graph.config import Settings

_BIND_HOST = "ITAM_SERVE_BIND_HOST"
_GRAPHIQL = "ITAM_SERVE_GRAPHIQL"
_WORKERS = "ITAM_SERVE_WORKERS"


def app_from_env() -> FastAPI:
    """The app one worker serves (a uvicorn factory): settings and tokens from the environment."""
    auth = TokenAuth.from_env(os.environ.get(_BIND_HOST, "127.0.0.1"), int(os.environ.get(_WORKERS, "1")))
    return create_app(Settings.from_env(), auth, graphiql=os.environ.get(_GRAPHIQL, "1") == "1")


def serve(host: str, port: int, workers: int, graphiql: bool, keep_alive_s: int, max_connections: int) -> None:
    """Run uvicorn until stopped. The app is built here once first, so a bad token file, policy or
    software table stops the command with its message instead of every worker failing (and being
    restarted by the supervisor) in turn. `max_connections` is per worker."""
    import uvicorn
    os.environ[_BIND_HOST] = host
    os.environ[_GRAPHIQL] = "1" if graphiql else "0"
    os.environ[_WORKERS] = str(workers)
    app = app_from_env()
    target = app if workers == 1 else "api.server:app_from_env"
    uvicorn.run(target, factory=workers > 1, host=host, port=port, workers=workers, log_level="info",
                timeout_keep_alive=keep_alive_s, limit_concurrency=max_connections)
