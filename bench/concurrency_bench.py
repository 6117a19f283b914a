"""Concurrency: 32 GraphQL clients on a real `itam serve` against 32 raw-driver sessions, same question.

For each host count: ingest the demo org with the product (HR, Snipe-IT, nmap), pick identifiers as
bench.query_bench does, then for each server configuration (uvicorn workers, ITAM_READS_PER_REQUEST)
start `itam serve` on a free port and alternate, `--rounds` times and in a random order each round,
(a) `--clients` closed-loop HTTP clients (bench.live.LeanClient, light enough not to starve the server)
sending the host query `asset(identifier)` (query_bench's `asset` variant: identifiers, owner, team,
ports, sightings, verdict) and (b) as the floor, as many
concurrent coroutines on one raw async driver running the same named Cypher (FIND_BY_IDENTIFIER, then
ASSET_CONTEXT), one session each, for `--seconds` each. Both sides are warmed up first. Throughput is
answers per second of wall time; percentiles are of per-request wall time over all rounds.

    python -m bench.concurrency_bench --hosts 10000,100000 [--clients 32] [--seconds 15] [--rounds 2]
        [--configs 1:4,2:4]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (BenchDatabase, add_database_options, host_counts, load_average, load_org, percentile,
                          print_machine, private_database, verdict)
from bench.live import LeanClient, Pick, Run, ServedApi, closed_loop, lean_graphql
from bench.query_bench import PLAIN_QUERY, SOURCES, Probe, floor_request, pick_probes
from graph.store import connect_async

TARGET_RATIO = 0.5
WARMUP_S = 5.0


@dataclass(frozen=True)
class ServerConfig:
    workers: int
    reads_per_request: int

    def __str__(self) -> str:
        return f"{self.workers} worker{'s' if self.workers > 1 else ''}, {self.reads_per_request} reads/request"


def server_configs(text: str) -> list[ServerConfig]:
    """'1:4,2:8' -> workers 1 with 4 reads per request, workers 2 with 8 (argparse type)."""
    try:
        configs = [ServerConfig(*(int(x) for x in item.split(":"))) for item in text.split(",") if item.strip()]
    except (TypeError, ValueError):
        raise ValueError(f"--configs wants workers:reads pairs separated by commas, got {text!r}") from None
    if not configs or min(min(c.workers, c.reads_per_request) for c in configs) < 1:
        raise ValueError("--configs wants at least one workers:reads pair, each 1 or more")
    return configs


@dataclass
class Sides:
    """Every round of one configuration, product and floor."""

    product: list[Run] = field(default_factory=list)
    floor: list[Run] = field(default_factory=list)

    @staticmethod
    def rate(runs: list[Run]) -> float:
        return sum(len(r.samples) for r in runs) / sum(r.seconds for r in runs)

    @staticmethod
    def p(runs: list[Run], pct: float) -> float:
        return percentile([ms for r in runs for ms in r.ms()], pct)

    @property
    def errors(self) -> int:
        return sum(len(r.errors) for r in self.product + self.floor)


def cycling(probes: list[Probe], clients: int, make) -> Pick:
    """Each client walks the identifiers from its own offset, so the clients ask different things."""
    step = max(1, len(probes) // clients)

    def pick(client: int, n: int):
        text = probes[(client * step + n) % len(probes)].text
        return "asset", lambda: make(text)
    return pick


async def measure_config(db: BenchDatabase, probes: list[Probe], config: ServerConfig, clients: int,
                         seconds: float, rounds: int, rng: random.Random, log: Path) -> Sides:
    env = {"ITAM_READS_PER_REQUEST": str(config.reads_per_request), "ITAM_ACCESS_LOG": "off",
           "ITAM_RATE_PER_MINUTE": str(10**9)}
    sides = Sides()
    by_text = {p.text: p for p in probes}
    driver = connect_async(db.settings)
    try:
        floor = cycling(probes, clients, floor_request(driver, db.settings.neo4j_database, by_text, reach=False))
        with ServedApi(db.settings, log, ["--workers", str(config.workers)], env) as api:
            client = LeanClient(api.url)
            try:
                product = cycling(probes, clients, lambda text: lean_graphql(client, PLAIN_QUERY, {"id": text}))
                for pick in (product, floor):                       # warm plans, pools and caches, untimed
                    await closed_loop(pick, clients, WARMUP_S)
                for _ in range(rounds):
                    order = [("product", product), ("floor", floor)]
                    rng.shuffle(order)
                    for name, pick in order:
                        getattr(sides, name).append(await closed_loop(pick, clients, seconds))
            finally:
                await client.aclose()
    finally:
        await driver.close()
    first = next((s.error for runs in (sides.product, sides.floor) for r in runs for s in r.errors), None)
    print(f"  {config}: product {Sides.rate(sides.product):.0f} q/s, floor {Sides.rate(sides.floor):.0f} q/s, "
          f"errors {sides.errors}{f' (first: {first})' if first else ''}; load average {load_average()}")
    return sides


def print_table(rows: list[tuple[int, ServerConfig, Sides]], clients: int, seconds: float, rounds: int) -> None:
    print(f"\nHost query with {clients} concurrent clients, {rounds} rounds of {seconds:.0f} s per side after "
          f"{WARMUP_S:.0f} s warm-up (target: product throughput >= {TARGET_RATIO}x the floor's)")
    header = (f"{'hosts':>7}  {'server':<30} {'side':<8} {'q/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}  "
              f"{'ratio':>6}  target")
    print(header)
    print("-" * len(header))
    for hosts, config, sides in rows:
        ratio = Sides.rate(sides.product) / Sides.rate(sides.floor)
        for name in ("product", "floor"):
            runs = getattr(sides, name)
            lead = (f"{hosts:>7}  {str(config):<30}" if name == "product" else f"{'':>7}  {'':<30}")
            tail = f"  {ratio:>5.2f}x  {verdict(ratio >= TARGET_RATIO)}" if name == "product" else ""
            print(f"{lead} {name:<8} {Sides.rate(runs):>7.0f} {Sides.p(runs, 50):>7.1f} {Sides.p(runs, 99):>7.1f} "
                  f"{sum(len(r.errors) for r in runs):>6}{tail}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.concurrency_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=host_counts, default=[10_000], help="comma-separated host counts (default 10000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients per side (default 32)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per side and round (default 15)")
    parser.add_argument("--rounds", type=int, default=2, help="product/floor rounds per configuration (default 2)")
    parser.add_argument("--configs", type=server_configs, default=server_configs("1:4,2:4"),
                        help="server configurations as workers:reads_per_request (default 1:4,2:4)")
    parser.add_argument("--identifiers", type=int, default=200, help="identifiers to cycle through (default 200)")
    parser.add_argument("--seed", type=int, default=7, help="demo org, identifier and order seed (default 7)")
    add_database_options(parser)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="itam-concurrency-bench-"))
    rng = random.Random(args.seed)
    rows = []
    try:
        with private_database("itam-concurrency-bench", args.heap_mb, args.pagecache_mb) as db:
            print_machine(db)
            for hosts in args.hosts:
                files = load_org(db, work / str(hosts), hosts, args.seed, SOURCES)
                probes = pick_probes(files, args.identifiers, args.seed, db.settings.max_file_bytes)
                shutil.rmtree(work / str(hosts), ignore_errors=True)
                for config in args.configs:
                    sides = asyncio.run(measure_config(db, probes, config, args.clients, args.seconds, args.rounds,
                                                       rng, work / "serve.log"))
                    rows.append((hosts, config, sides))
            print_table(rows, args.clients, args.seconds, args.rounds)
            print("\nProduct: `itam serve --workers W` (uvicorn, real HTTP on loopback), access log off, clients in "
                  "this process (bench.live.LeanClient: one keep-alive connection each, httptools' parser).\n"
                  "Floor: the same named Cypher on one raw "
                  "async driver (default pool), one session per statement; no HTTP, GraphQL or result shaping.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
