"""Kill and recover: how fast the API notices the database is gone, and how fast it answers again once the
database is back, against a raw-driver floor measured in the same run.

Each round: the API (create_app in-process, lifespan running, one driver with pooled connections)
answers a host query; the local Neo4j is stopped (SIGTERM, a clean shutdown) or killed (SIGKILL, so the
next start recovers from the transaction log); the API is asked while it is down (the time to its 503);
the database is started again. From the moment Bolt answers, the API is polled until its first 200.
The floor is a fresh raw async driver running the same two named statements the API runs for that
query (FIND_BY_IDENTIFIER, ASSET_CONTEXT), cold too: rounds alternate which of the two goes first
after the restart, and only the first one's time counts (the second finds the plans cached).

    python -m bench.recovery_bench --rounds 6
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from neo4j import AsyncGraphDatabase

from api.app import create_app
from api.auth import TokenAuth
from bench.common import add_database_options, load_org, median, print_machine, private_database
from bench.query_bench import read
from graph.identifiers import lookup_keys
from queries.host import ASSET_CONTEXT, FIND_BY_IDENTIFIER, GONE_STATES

QUERY = "query Host($id: String!) { asset(identifier: $id) { name openPorts { number } } }"
POLL_S = 0.005                      # polling a process for readiness, as the launcher does


def _kill(db) -> None:
    """SIGKILL the database and reap it, so its next start finds a stale pid and an unclean store."""
    pid = db.neo4j.pid()
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    db.neo4j.pid_file.unlink(missing_ok=True)


def _until_200(client: TestClient, body: dict, deadline_s: float = 120.0) -> tuple[float, int]:
    """Seconds until the API answers 200, and how many requests that took."""
    started, tries = time.perf_counter(), 0
    while time.perf_counter() - started < deadline_s:
        tries += 1
        if client.post("/graphql", json=body).status_code == 200:
            return time.perf_counter() - started, tries
        time.sleep(POLL_S)
    raise SystemExit(f"the API did not answer 200 within {deadline_s:.0f} s of the database being back")


def _raw_first_query(db, name: str) -> float:
    """The floor: a fresh raw driver running the API's two statements for this host query."""
    async def work() -> None:
        async with AsyncGraphDatabase.driver(db.settings.neo4j_uri, auth=db.settings.auth,
                                             notifications_min_severity="OFF") as driver:
            found = await read(driver, db.settings.neo4j_database, FIND_BY_IDENTIFIER.cypher, keys=lookup_keys(name))
            await read(driver, db.settings.neo4j_database, ASSET_CONTEXT.cypher, ids=[found[0]["id"]],
                       gone=GONE_STATES)
    started = time.perf_counter()
    asyncio.run(work())
    return time.perf_counter() - started


def run(rounds: int, hosts: int, heap_mb: int, pagecache_mb: int) -> None:
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)   # the expected 503s, not news
    with private_database("recovery", heap_mb, pagecache_mb) as db:
        print_machine(db)
        with tempfile.TemporaryDirectory(prefix="recovery-org-") as folder:
            load_org(db, Path(folder), hosts, seed=7, sources=("snipeit", "nmap"))
        name = db.store.read("MATCH (a:Host) WHERE a.name IS NOT NULL RETURN a.name AS name ORDER BY name LIMIT 1")[0]["name"]
        body = {"query": QUERY, "variables": {"id": name}}
        app = create_app(db.settings, TokenAuth({}, allow_anonymous=True))
        figures: dict[str, dict[str, list[float]]] = {}
        with TestClient(app, base_url="http://127.0.0.1") as client:
            answer = client.post("/graphql", json=body).json()
            assert answer["data"]["asset"]["name"] == name, answer
            for how in ("stop", "kill"):
                got = figures.setdefault(how, {"down": [], "start": [], "api": [], "raw": []})
                for round_ in range(rounds):
                    db.neo4j.stop() if how == "stop" else _kill(db)
                    started = time.perf_counter()
                    status = client.post("/graphql", json=body).status_code
                    got["down"].append(time.perf_counter() - started)
                    assert status == 503, f"while the database is down the API answered {status}"
                    started = time.perf_counter()
                    db.neo4j.start()
                    got["start"].append(time.perf_counter() - started)
                    if round_ % 2 == 0:
                        got["api"].append(_until_200(client, body)[0])
                        _raw_first_query(db, name)
                    else:
                        got["raw"].append(_raw_first_query(db, name))
                        _until_200(client, body)
        print(f"{rounds} rounds each, {hosts} hosts; medians (API and floor: first after the restart, "
              f"{len(figures['stop']['api'])} and {len(figures['stop']['raw'])} rounds)")
        print(f"{'':6} {'503 while down':>15} {'db start':>10} {'API: back to 200':>17} {'raw floor':>10} {'ratio':>6}")
        for how, got in figures.items():
            api, raw = median(got["api"]), median(got["raw"])
            print(f"{how:6} {median(got['down']) * 1000:12.0f} ms {median(got['start']):8.1f} s "
                  f"{api * 1000:14.0f} ms {raw * 1000:7.0f} ms {api / raw:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="stops and kills each, at least 2 (default 6)")
    parser.add_argument("--hosts", type=int, default=1000, help="demo organisation size (default 1000)")
    add_database_options(parser)
    args = parser.parse_args()
    run(args.rounds, args.hosts, args.heap_mb, args.pagecache_mb)


if __name__ == "__main__":
    main()
