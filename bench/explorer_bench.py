"""The explorer: GraphQL `neighborhood` and `path` against the same catalogue Cypher on the raw driver,
and a 300-node view laid out and drawn in headless Chromium.

For each host count: ingest a demo org (HR, Snipe-IT, nmap, AWS) with the product, pick host names
(seeded), then send sequential requests through an in-process ASGI client to `create_app(...)`:
`neighborhood(id: <host name>, limit: 100)` and `path(from: <host>, to: <another host>, maxHops: 6)`
(most random pairs have no path, so the bounded search runs to its end: the slow case). The floor
runs the same named queries (identifier lookup, key seek, NEIGHBORHOOD + VERDICT_INPUTS, ACCESS_PATH)
on the raw async driver. Then the app is served on a free port and Chromium draws a subnet's
neighbourhood cut at 300 nodes (cose up to 80 nodes, concentric above), timed from data in hand to the second animation frame.

    python -m bench.explorer_bench --hosts 10000 [--requests 300] [--warmup 30]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from neo4j import AsyncDriver

from api.app import create_app
from api.auth import TokenAuth
from bench.common import (BenchDatabase, load_org, add_database_options, host_counts, percentile, print_machine,
                          private_database, verdict)
from bench.query_bench import pick_probes, read
from graph.identifiers import lookup_keys
from graph.store import connect_async
from queries.explore import ACCESS_PATH, DETAIL_VERBS, NEIGHBORHOOD, NODE_BY_KEY, VERDICT_INPUTS
from queries.host import FIND_BY_IDENTIFIER

TARGET_P99_MS = 100.0
TARGET_DRAW_MS = 2000.0
SOURCES = ("hr", "snipeit", "nmap", "aws")
VIEW_NODES = 300
NEIGHBORHOOD_QUERY = """query($id: ID!) { neighborhood(id: $id, limit: 100) {
  nodes { id label name properties } edges { id source target type properties } truncated } }"""
PATH_QUERY = """query($a: String!, $b: String!) { path(from: $a, to: $b, maxHops: 6) {
  nodes { id label name properties } edges { id source target type properties } } }"""
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


async def floor_element(driver: AsyncDriver, database: str, text: str) -> str | None:
    found = await read(driver, database, FIND_BY_IDENTIFIER.cypher, keys=lookup_keys(text))
    if len(found) != 1:
        return None
    rows = await read(driver, database, NODE_BY_KEY["Asset"].cypher, key=found[0]["id"])
    return rows[0]["eid"]


async def floor_neighborhood(driver: AsyncDriver, database: str, text: str) -> None:
    eid = await floor_element(driver, database, text)
    rows = await read(driver, database, NEIGHBORHOOD.cypher, node=eid, types=None, detail=list(DETAIL_VERBS),
                      limit=101)
    ids = [dict(link["props"])["id"] for link in rows[0]["links"] if "Asset" in link["labels"]]
    ids.append(dict(rows[0]["props"])["id"])
    await read(driver, database, VERDICT_INPUTS.cypher, ids=ids)


async def floor_path(driver: AsyncDriver, database: str, a: str, b: str) -> None:
    source, target = await floor_element(driver, database, a), await floor_element(driver, database, b)
    await read(driver, database, ACCESS_PATH.cypher, source=source, target=target, max_hops=6)


async def timed(calls, warmup: int, count: int) -> list[float]:
    for call in calls[:warmup]:
        await call()
    ms = []
    for i in range(count):
        started = time.perf_counter()
        await calls[(warmup + i) % len(calls)]()
        ms.append((time.perf_counter() - started) * 1000)
    return ms


async def measure_queries(db: BenchDatabase, names: list[str], warmup: int, count: int) -> dict[str, list[float]]:
    rng = random.Random(11)
    pairs = [(a, rng.choice(names)) for a in names]
    app = create_app(db.settings, TokenAuth({}, allow_anonymous=True))
    driver = connect_async(db.settings)
    results = {}
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:   # the Host the anonymous API accepts
            async def ask(query, **variables):
                response = await client.post("/graphql", json={"query": query, "variables": variables})
                body = response.json()
                assert response.status_code == 200 and "errors" not in body, body
            database = db.settings.neo4j_database
            results["neighborhood (GraphQL)"] = await timed(
                [lambda n=n: ask(NEIGHBORHOOD_QUERY, id=n) for n in names], warmup, count)
            results["neighborhood (raw Cypher)"] = await timed(
                [lambda n=n: floor_neighborhood(driver, database, n) for n in names], warmup, count)
            results["path (GraphQL)"] = await timed(
                [lambda p=p: ask(PATH_QUERY, a=p[0], b=p[1]) for p in pairs], warmup, count)
            results["path (raw Cypher)"] = await timed(
                [lambda p=p: floor_path(driver, database, *p) for p in pairs], warmup, count)
    await driver.close()
    return results


def measure_drawing(db: BenchDatabase, rounds: int = 5) -> list[float]:
    """Chromium draws a subnet's neighbourhood (cut at 300 nodes) `rounds` times; ms each."""
    from playwright.sync_api import sync_playwright

    from tests.explorer.conftest import LiveServer
    subnet = db.store.read("MATCH (s:Subnet)<-[:IN]-(:IPAddress) RETURN s.cidr AS cidr, count(*) AS n "
                           "ORDER BY n DESC LIMIT 1")[0]["cidr"]
    with LiveServer(create_app(db.settings, TokenAuth({}, allow_anonymous=True))) as live, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 850})
        page.goto(live.url + "/explore")
        page.wait_for_selector("body[data-ready=true]")
        graph = page.evaluate("""async (id) => (await explorer.gql(
            `query($id: ID!) { neighborhood(id: $id, limit: 299) { nodes { id label name properties }
               edges { id source target type properties } truncated } }`, { id })).neighborhood""",
                              f"Subnet:{subnet}")
        print(f"  view: neighbourhood of Subnet:{subnet}, {len(graph['nodes'])} nodes, {len(graph['edges'])} edges")
        ms = [page.evaluate("""async (graph) => {
            explorer.cy.elements().remove();
            const started = performance.now();
            explorer.addSubgraph(graph);
            await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
            if (explorer.cy.nodes().length !== graph.nodes.length) throw new Error('not drawn');
            return performance.now() - started; }""", graph) for _ in range(rounds)]
        browser.close()
    return ms


def report(results: dict[str, list[float]]) -> None:
    print(f"  {'query':28} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, ms in results.items():
        print(f"  {name:28} {percentile(ms, 50):8.1f} {percentile(ms, 95):8.1f} {percentile(ms, 99):8.1f}")
    for name in ("neighborhood", "path"):
        p99 = percentile(results[f"{name} (GraphQL)"], 99)
        print(f"  {name}: p99 {p99:.1f} ms, target < {TARGET_P99_MS:.0f} ms: {verdict(p99 < TARGET_P99_MS)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.explorer_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=host_counts, default=[10_000], help="host counts (default 10000)")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per query and side (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests first (default 30)")
    parser.add_argument("--seed", type=int, default=7, help="demo org seed (default 7)")
    add_database_options(parser)
    args = parser.parse_args(argv)
    for hosts in args.hosts:
        with private_database("itam-explorer-bench", args.heap_mb, args.pagecache_mb) as db, \
                tempfile.TemporaryDirectory(prefix="itam-explorer-bench-") as out:
            print_machine(db)
            files = load_org(db, Path(out), hosts, args.seed, SOURCES)
            names = [p.text for p in pick_probes(files, 400, args.seed, 1 << 30) if p.kind == "hostname"]
            print(f"{hosts} hosts, {args.requests} timed requests per line, {len(names)} host names")
            report(asyncio.run(measure_queries(db, names, args.warmup, args.requests)))
            drawn = measure_drawing(db)
            worst = max(drawn)
            print(f"  {VIEW_NODES}-node view, layout + draw in Chromium: median {statistics.median(drawn):.0f} ms, "
                  f"worst {worst:.0f} ms of {len(drawn)}; target < {TARGET_DRAW_MS:.0f} ms: "
                  f"{verdict(worst < TARGET_DRAW_MS)}")


if __name__ == "__main__":
    main()
