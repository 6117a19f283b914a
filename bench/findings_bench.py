"""Findings: evaluating every rule against the raw rule queries alone, and a findings page through GraphQL.

For each host count: ingest the demo org through the connectors (every source unless `--sources`),
then time, alternately, (a) the raw floor: every rule's query run once on the raw driver, rows
consumed, nothing else; and (b) the product: `queries.findings.evaluate` (the same queries, then
evidence, batched upserts, resolution, asset links). The first evaluation creates every finding and
is reported apart; the repeated ones are the steady state (nothing changed in the graph). Then
sequential `findings(first: 50)` pages through an in-process ASGI client, cycling rules and cursors.

    python -m bench.findings_bench --hosts 10000 [--runs 3] [--pages 300] [--sources hr,snipeit,nmap,...]
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

from api.app import create_app
from api.auth import TokenAuth
from bench.common import (BenchDatabase, load_org, add_database_options, host_counts, load_average, percentile,
                          print_machine, private_database, verdict)
from demo import SOURCE_ORDER
from queries.findings import evaluate
from queries.rules import ORDER, RULES, query_parameters

TARGET_RATIO = 1.5
TARGET_SECONDS = 30.0
TARGET_PAGE_P99_MS = 50.0
PAGE = """query($rule: String, $after: String) { findings(rule: $rule, first: 50, after: $after) {
  edges { cursor node { id rule { id title severity } severity assets { id name } subject evidence firstSeen lastSeen
  status } } pageInfo { hasNextPage endCursor } } }"""


def raw_rules(db: BenchDatabase, today: date) -> float:
    """Every rule query once on the raw driver, rows consumed (with its candidates query first where it
    has one): the floor."""
    started = time.perf_counter()
    with db.store.driver.session(database=db.store.database) as session:
        for rule_id in ORDER:
            rule = RULES[rule_id]
            params = query_parameters(rule, lambda cypher, p: [r.data() for r in session.run(cypher, p)], today)
            list(session.run(rule.query.cypher, params))
    return time.perf_counter() - started


def timed_evaluation(db: BenchDatabase, today: date) -> tuple[float, dict]:
    started = time.perf_counter()
    evaluation = evaluate(db.store, today)
    return time.perf_counter() - started, evaluation.totals()


async def page_latencies(db: BenchDatabase, pages: int) -> list[float]:
    """Sequential findings pages: each rule's first page, then following its cursor, round robin."""
    app = create_app(db.settings, TokenAuth(tokens={}, allow_anonymous=True))
    cursors: dict[str, str | None] = {r: None for r in ORDER}
    ms = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for i in range(pages + 20):
                rule = ORDER[i % len(ORDER)]
                started = time.perf_counter()
                response = await client.post("/graphql", json={"query": PAGE, "variables": {
                    "rule": rule, "after": cursors[rule]}})
                elapsed = (time.perf_counter() - started) * 1000
                body = response.json()
                if response.status_code != 200 or body.get("errors"):
                    raise RuntimeError(f"findings page failed: {response.status_code} {body.get('errors')}")
                info = body["data"]["findings"]["pageInfo"]
                cursors[rule] = info["endCursor"] if info["hasNextPage"] else None
                if i >= 20:                       # the first 20 warm the plans and caches
                    ms.append(elapsed)
    return ms


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.findings_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=host_counts, default=[10_000], help="comma-separated host counts")
    parser.add_argument("--runs", type=int, default=3, help="steady-state evaluations and raw runs (default 3)")
    parser.add_argument("--pages", type=int, default=300, help="timed findings pages (default 300)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sources", default=",".join(SOURCE_ORDER),
                        help="sources to ingest, in order (default: all the demo org writes)")
    add_database_options(parser)
    args = parser.parse_args(argv)
    sources = [s for s in args.sources.split(",") if s]
    today = date(2026, 11, 30)
    work = Path(tempfile.mkdtemp(prefix="itam-findings-bench-"))
    rows = []
    try:
        with private_database("itam-findings-bench", args.heap_mb, args.pagecache_mb) as db:
            print_machine(db)
            for hosts in args.hosts:
                load_org(db, work / str(hosts), hosts, args.seed, sources)
                raw_rules(db, today)                                  # warm the plans, untimed
                first_s, totals = timed_evaluation(db, today)
                print(f"  first evaluation (creates every finding): {first_s:.2f} s, {totals}")
                raws, evals = [], []
                for _ in range(args.runs):
                    raws.append(raw_rules(db, today))
                    evals.append(timed_evaluation(db, today)[0])
                raw, product = statistics.median(raws), statistics.median(evals)
                ms = asyncio.run(page_latencies(db, args.pages))
                rows.append((hosts, totals["matched"], first_s, product, raw, ms))
                print(f"  steady evaluation median {product:.2f} s, raw queries median {raw:.2f} s; "
                      f"load average {load_average()}")
                shutil.rmtree(work / str(hosts), ignore_errors=True)
        print(f"\nhosts  findings  first eval s  eval s (median)  raw s (median)  ratio  page p50 ms  p99 ms  "
              f"targets: ratio <= {TARGET_RATIO}, eval <= {TARGET_SECONDS:.0f} s, page p99 < {TARGET_PAGE_P99_MS:.0f} ms")
        for hosts, found, first_s, product, raw, ms in rows:
            ratio = product / raw
            print(f"{hosts:>6} {found:>9} {first_s:>13.2f} {product:>16.2f} {raw:>15.2f} {ratio:>6.2f} "
                  f"{percentile(ms, 50):>12.1f} {percentile(ms, 99):>7.1f}  ratio {verdict(ratio <= TARGET_RATIO)}, "
                  f"time {verdict(product <= TARGET_SECONDS)}, page {verdict(percentile(ms, 99) < TARGET_PAGE_P99_MS)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
