"""ITAM latency: the licence position of every product and the audit report, through GraphQL, against
the same named queries on the raw driver.

For each host count: generate the demo org (seed 7) and ingest HR, Snipe-IT, osquery, licences,
contracts and coverage with the product (untimed), then send sequential GraphQL requests through an
in-process ASGI client to `create_app(...)` for `licenseCompliance` (every product) and `auditReport`
(every inventory host), and, as the floor, run the named queries behind them (LICENSE_POSITIONS,
RECLAIMABLE_SEATS, UNLICENSED_INSTALLS; AUDIT_REPORT) on the raw async driver.

    python -m bench.itam_bench --hosts 10000 [--requests 20] [--warmup 3]
"""
from __future__ import annotations

import argparse
import dataclasses
import asyncio
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

from api.app import create_app
from api.auth import TokenAuth
from bench.common import (BenchDatabase, load_org, add_database_options, host_counts, percentile, print_machine,
                          private_database)
from bench.query_bench import read
from graph.store import connect_async
from queries.audits import AUDIT_REPORT
from queries.licensing import EVIDENCE_LINES, LICENSE_POSITIONS, RECLAIMABLE_SEATS, UNLICENSED_INSTALLS
from queries.policy import current_policy

SOURCES = ("hr", "snipeit", "osquery", "licenses", "contracts", "coverage")   # ingested in this order
LICENCES_QUERY = """{ licenseCompliance { product entitled assigned installed shortfall reclaimable { holder reason }
  unlicensedInstalls { asset { name } software version source } unusedCost expiresOn } }"""
AUDIT_QUERY = "{ auditReport { assetTag lastAudit nextAuditDue due lastDiscovery discoveredBy status } }"


async def timed(work, warmup: int, count: int) -> tuple[list[float], int]:
    for _ in range(warmup):
        await work()
    ms, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        size = await work()
        ms.append((time.perf_counter() - started) * 1000)
    return ms, size


async def run(db: BenchDatabase, warmup: int, count: int, read_timeout_s: float
              ) -> dict[str, dict[str, tuple[list[float], int]]]:
    settings = dataclasses.replace(db.settings, read_timeout_s=read_timeout_s)
    app = create_app(settings, TokenAuth(tokens={}, allow_anonymous=True))
    driver = connect_async(db.settings)
    database = db.settings.neo4j_database
    today = datetime.now(timezone.utc).date()
    policy = current_policy()

    async def floor_licences() -> int:
        rows = await read(driver, database, LICENSE_POSITIONS.cypher, today=today, product_key=None)
        await read(driver, database, RECLAIMABLE_SEATS.cypher, today=today, not_seen_days=policy.not_seen_days)
        await read(driver, database, UNLICENSED_INSTALLS.cypher, today=today, evidence_lines=EVIDENCE_LINES)
        return len(rows)

    async def floor_audits() -> int:
        return len(await read(driver, database, AUDIT_REPORT.cypher, today=today,
                              due_within_days=policy.due_within_days, **policy.audit_params()))

    results = {}
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=600) as client:
                def product(query: str, field: str):
                    async def work() -> int:
                        response = await client.post("/graphql", json={"query": query})
                        body = response.json()
                        if response.status_code != 200 or body.get("errors"):
                            raise RuntimeError(f"HTTP {response.status_code} {body.get('errors')}")
                        return len(body["data"][field])
                    return work
                for name, query, field, floor in (("licenseCompliance", LICENCES_QUERY, "licenseCompliance",
                                                   floor_licences),
                                                  ("auditReport", AUDIT_QUERY, "auditReport", floor_audits)):
                    results[name] = {"product": await timed(product(query, field), warmup, count),
                                     "floor": await timed(floor, warmup, count)}
                    print(f"  {name}: {results[name]['product'][1]} rows; product p50 "
                          f"{percentile(results[name]['product'][0], 50):.0f} ms, floor p50 "
                          f"{percentile(results[name]['floor'][0], 50):.0f} ms")
    finally:
        await driver.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.itam_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=host_counts, default=[10_000], help="comma-separated host counts")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per query and side (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first (default 3)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--read-timeout-s", type=float, default=10.0,
                        help="the API's interactive read timeout (ITAM_READ_TIMEOUT_S, default 10); the reports "
                             "measured here read under ITAM_REPORT_TIMEOUT_S (120 s)")
    add_database_options(parser)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="itam-itam-bench-"))
    try:
        with private_database("itam-itam-bench", args.heap_mb, args.pagecache_mb) as db:
            print_machine(db)
            table = []
            for hosts in args.hosts:
                load_org(db, work / str(hosts), hosts, args.seed, SOURCES)
                for name, sides in asyncio.run(run(db, args.warmup, args.requests, args.read_timeout_s)).items():
                    table.append((hosts, name, sides))
            print(f"\nLatency in ms, {args.requests} sequential requests after {args.warmup} warm-up")
            print(f"{'hosts':>7}  {'query':<18} {'rows':>6} {'product p50':>12} {'p99':>8} {'floor p50':>10} "
                  f"{'p99':>8} {'p50 ratio':>10}")
            for hosts, name, sides in table:
                (pm, rows), (fm, _) = sides["product"], sides["floor"]
                print(f"{hosts:>7}  {name:<18} {rows:>6} {percentile(pm, 50):>12.1f} {percentile(pm, 99):>8.1f} "
                      f"{percentile(fm, 50):>10.1f} {percentile(fm, 99):>8.1f} "
                      f"{percentile(pm, 50) / percentile(fm, 50):>9.1f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
