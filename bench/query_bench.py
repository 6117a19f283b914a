"""Query latency: the GraphQL `asset(identifier)` question against the same Cypher on the raw driver.

For each host count: ingest a demo org with the product (HR, Snipe-IT, nmap), pick
identifiers (host names, IPs, MACs, serials; seeded), then send sequential requests
through an in-process ASGI client to `create_app(...)` and, as the floor, run the same
named queries (FIND_BY_IDENTIFIER, ASSET_CONTEXT, and REACH_STEP for `reachable`) on the
raw async driver, one session each. Percentiles are of per-request wall time.

    python -m bench.query_bench --hosts 10000,100000 [--requests 1000] [--warmup 50]
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import random
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from neo4j import READ_ACCESS, AsyncDriver

from api.app import create_app
from api.auth import TokenAuth
from api.ratelimit import RateLimiter
from bench.common import (BenchDatabase, load_org, add_database_options, host_counts, load_average, percentile,
                          print_footprint, print_machine, private_database, verdict)
from graph.identifiers import lookup_keys
from graph.store import connect_async
from ingest.nmap import parse_nmap
from queries.host import ASSET_CONTEXT, FIND_BY_IDENTIFIER, GONE_STATES, MAX_REACHABLE, REACH_STEP

TARGET_P99_MS = 50.0
TARGET_P99_RATIO = 3.0
KINDS = ("hostname", "ip", "mac", "serial")
SOURCES = ("hr", "snipeit", "nmap")  # ingested in this order
REACH_HOPS = 2

ASSET_FIELDS = """id name lifecycleStage identifiers { kind value } owner { name email active } team { name }
    openPorts { protocol number service } sightings { source firstSeen lastSeen } shouldExist { verdict reasons }"""
PLAIN_QUERY = f"query($id: String!) {{ asset(identifier: $id) {{ {ASSET_FIELDS} }} }}"
REACH_QUERY = (f"query($id: String!) {{ asset(identifier: $id) {{ {ASSET_FIELDS} "
               f"reachable(maxHops: {REACH_HOPS}) {{ asset {{ name }} hops ports }} }} }}")
VARIANTS = {"asset": PLAIN_QUERY, "asset+reachable": REACH_QUERY}

Request = Callable[[str], Awaitable[int]]


@dataclass
class Probe:
    """One identifier to ask about, with the lookup keys the product derives from it."""

    kind: str
    text: str
    keys: list[str]


@dataclass
class Latencies:
    """Per-request milliseconds of one side of one variant, plus the sizes of the answers."""

    ms: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    def p(self, pct: float) -> float:
        return percentile(self.ms, pct)


# --------------------------------------------------------------------------- setup

def pick_probes(files: dict[str, list[Path]], count: int, seed: int, limit_bytes: int) -> list[Probe]:
    """count identifiers, an equal share of each kind, drawn with a seeded RNG from the CSV and the scans."""
    pools: dict[str, set[str]] = {kind: set() for kind in KINDS}
    [inventory] = files["snipeit"]
    with inventory.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for kind, column in (("hostname", "item_name"), ("mac", "mac_address"), ("serial", "serial")):
                if row[column]:
                    pools[kind].add(row[column])
    for scan in files["nmap"]:
        for obs in parse_nmap(scan, limit_bytes).observations:
            pools["ip"].update(obs.ips)
    rng = random.Random(seed)
    per_kind = count // len(KINDS)
    probes = [Probe(kind, text, lookup_keys(text)) for kind in KINDS
              for text in rng.sample(sorted(pools[kind]), per_kind)]
    rng.shuffle(probes)
    return probes


# --------------------------------------------------------------------------- the floor

async def read(driver: AsyncDriver, database: str, cypher: str, **params) -> list[dict]:
    """One read in its own session and auto-commit transaction, as the product's GraphReader does."""
    async with driver.session(database=database, default_access_mode=READ_ACCESS) as session:
        result = await session.run(cypher, params)
        return [record.data() async for record in result]


async def floor_reach(driver: AsyncDriver, database: str, asset_id: str) -> int:
    """REACH_STEP hop by hop over the frontier (it returns the reached hosts' names, as the product uses)."""
    visited, frontier = {asset_id}, [asset_id]
    found: list[str] = []
    for _ in range(REACH_HOPS):
        if not frontier:
            break
        rows = await read(driver, database, REACH_STEP.cypher, ids=frontier, visited=dict.fromkeys(visited, True),
                          gone=GONE_STATES, limit=MAX_REACHABLE - len(found))
        frontier = []
        for row in rows:
            if row["id"] not in visited:
                visited.add(row["id"])
                frontier.append(row["id"])
        found += frontier
    return len(found)


def floor_request(driver: AsyncDriver, database: str, probes: dict[str, Probe], reach: bool) -> Request:
    async def request(text: str) -> int:
        matched = await read(driver, database, FIND_BY_IDENTIFIER.cypher, keys=probes[text].keys)
        if len(matched) != 1:
            return 0
        asset_id = matched[0]["id"]
        context = read(driver, database, ASSET_CONTEXT.cypher, ids=[asset_id], gone=GONE_STATES)
        if not reach:
            await context
            return 0
        _, reached = await asyncio.gather(context, floor_reach(driver, database, asset_id))
        return reached
    return request


# --------------------------------------------------------------------------- the product

class RequestFailed(RuntimeError):
    pass


def product_request(client: httpx.AsyncClient, query: str) -> Request:
    async def request(text: str) -> int:
        response = await client.post("/graphql", json={"query": query, "variables": {"id": text}})
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RequestFailed(f"{text!r}: HTTP {response.status_code} {body.get('errors')}")
        asset = body["data"]["asset"]
        return len(asset.get("reachable", ())) if asset else 0
    return request


# --------------------------------------------------------------------------- measuring

async def measure(request: Request, probes: list[Probe], warmup: int, count: int) -> Latencies:
    """warmup unrecorded requests, then count sequential timed ones, cycling through the probes."""
    for i in range(warmup):
        await request(probes[i % len(probes)].text)
    out = Latencies()
    for i in range(count):
        started = time.perf_counter()
        size = await request(probes[(warmup + i) % len(probes)].text)
        out.ms.append((time.perf_counter() - started) * 1000)
        out.sizes.append(size)
    return out


async def check_probes(driver: AsyncDriver, database: str, probes: list[Probe]) -> None:
    """Report how many probes resolve to exactly one asset (the rest answer null or an ambiguity error)."""
    found = {kind: 0 for kind in KINDS}
    for probe in probes:
        found[probe.kind] += len(await read(driver, database, FIND_BY_IDENTIFIER.cypher, keys=probe.keys)) == 1
    per_kind = ", ".join(f"{kind} {found[kind]}/{sum(p.kind == kind for p in probes)}" for kind in KINDS)
    print(f"  {len(probes)} identifiers, resolving to exactly one asset: {per_kind}")


async def run_all(db: BenchDatabase, probes: list[Probe], warmup: int, count: int) -> dict[str, dict[str, Latencies]]:
    """Both variants, product then floor, with the app's lifespan running (it opens the driver)."""
    by_text = {p.text: p for p in probes}
    app = create_app(db.settings, TokenAuth(tokens={}, allow_anonymous=True, limiter=RateLimiter(10**9)))
    driver = connect_async(db.settings)
    results: dict[str, dict[str, Latencies]] = {}
    try:
        await check_probes(driver, db.settings.neo4j_database, probes)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                for name, query in VARIANTS.items():
                    reach = name != "asset"
                    product = await measure(product_request(client, query), probes, warmup, count)
                    floor = await measure(floor_request(driver, db.settings.neo4j_database, by_text, reach),
                                          probes, warmup, count)
                    results[name] = {"product": product, "floor": floor}
                    print(f"  {name}: product p50 {product.p(50):.1f} ms, floor p50 {floor.p(50):.1f} ms"
                          + (f"; reachable assets per answer: mean {sum(product.sizes) / count:.0f}, "
                             f"max {max(product.sizes)}" if reach else ""))
    finally:
        await driver.close()
    return results


# --------------------------------------------------------------------------- reporting

def print_table(rows: list[tuple[int, str, dict[str, Latencies]]], count: int, warmup: int) -> None:
    print(f"Query latency in ms, {count} sequential requests after {warmup} warm-up "
          f"(targets: product p99 < {TARGET_P99_MS:.0f} ms, p99 product/floor < {TARGET_P99_RATIO:.0f}x)")
    header = (f"{'hosts':>7}  {'query':<16} {'side':<8} {'p50':>7} {'p90':>7} {'p99':>7}   "
              f"{'p50 ratio':>9} {'p99 ratio':>9}  p99 target  ratio target")
    print(header)
    print("-" * len(header))
    for hosts, name, sides in rows:
        product, floor = sides["product"], sides["floor"]
        r50, r99 = product.p(50) / floor.p(50), product.p(99) / floor.p(99)
        print(f"{hosts:>7}  {name:<16} {'product':<8} {product.p(50):>7.1f} {product.p(90):>7.1f} "
              f"{product.p(99):>7.1f}   {r50:>8.1f}x {r99:>8.1f}x  {verdict(product.p(99) < TARGET_P99_MS):<10}  "
              f"{verdict(r99 < TARGET_P99_RATIO)}")
        print(f"{'':>7}  {'':<16} {'floor':<8} {floor.p(50):>7.1f} {floor.p(90):>7.1f} {floor.p(99):>7.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.query_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=host_counts, default=[10_000],
                        help="comma-separated host counts (default 10000)")
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per variant and side (default 1000)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed requests first (default 50)")
    parser.add_argument("--identifiers", type=int, default=200, help="identifiers to cycle through (default 200)")
    parser.add_argument("--seed", type=int, default=7, help="demo org and identifier seed (default 7)")
    add_database_options(parser)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="itam-query-bench-"))
    try:
        with private_database("itam-query-bench", args.heap_mb, args.pagecache_mb) as db:
            print_machine(db)
            rows = []
            for hosts in args.hosts:
                files = load_org(db, work / str(hosts), hosts, args.seed, SOURCES)
                print_footprint(db)
                probes = pick_probes(files, args.identifiers, args.seed, db.settings.max_file_bytes)
                results = asyncio.run(run_all(db, probes, args.warmup, args.requests))
                rows += [(hosts, name, sides) for name, sides in results.items()]
                shutil.rmtree(work / str(hosts), ignore_errors=True)
                print(f"  load average now {load_average()}\n")
            print_table(rows, args.requests, args.warmup)
            print("\nFloor: the same named queries on the raw async driver, one session each, keys precomputed; "
                  "no HTTP, GraphQL, DataLoader or result shaping.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
