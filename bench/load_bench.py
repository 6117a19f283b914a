"""Load: N clients for D minutes of mixed queries against a real `itam serve`: errors, latency over time, memory.

Ingest the demo org with the product (HR, Snipe-IT, nmap, AWS: the explorer bench's sources; osquery
at 100k hosts does not fit in memory yet), evaluate the findings, start `itam serve` (its default workers)
on a free port, warm up, then run `--clients` closed-loop clients for `--minutes`. Each client rotates
through four questions: the host query `asset(identifier)`, the same with `reachable(maxHops: 2)`,
the next `assets` page (50, following its own cursor) and the next `findings` page (50, likewise).
Every `--window-s` seconds the API's resident memory (the serve process and its workers) is read.
Prints one row per window: requests, errors, p50/p99 overall and p99 per question, memory.

    python -m bench.load_bench [--hosts 100000] [--clients 32] [--minutes 10] [--window-s 60]
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.common import add_database_options, load_average, load_org, percentile, print_machine, private_database
from bench.live import Pick, Run, ServedApi, closed_loop, graphql, http_client
from bench.query_bench import PLAIN_QUERY, REACH_QUERY, pick_probes
from queries.findings import evaluate

SOURCES = ("hr", "snipeit", "nmap", "aws")
WARMUP_S = 10.0
ASSETS_PAGE = """query($after: String) { assets(first: 50, after: $after) {
  edges { cursor node { id name kind lifecycleStage owner { email } } } pageInfo { hasNextPage endCursor } } }"""
FINDINGS_PAGE = """query($after: String) { findings(first: 50, after: $after) {
  edges { cursor node { id rule { id severity } assets { id name } subject evidence lastSeen status } }
  pageInfo { hasNextPage endCursor } } }"""
OPS = ("host", "reachable", "assets", "findings")


def mixed(client: httpx.AsyncClient, identifiers: list[str], clients: int) -> Pick:
    """Each client rotates through OPS (starting at its own place) and walks its own identifiers and pages."""
    cursors: dict[tuple[int, str], str | None] = {}
    step = max(1, len(identifiers) // clients)

    async def page(key: tuple[int, str], query: str) -> None:
        data = await graphql(client, query, {"after": cursors.get(key)})
        info = data[key[1]]["pageInfo"]
        cursors[key] = info["endCursor"] if info["hasNextPage"] else None     # from the start again at the end

    def pick(index: int, n: int):
        op = OPS[(index + n) % len(OPS)]
        text = identifiers[(index * step + n) % len(identifiers)]
        if op == "host":
            return op, lambda: graphql(client, PLAIN_QUERY, {"id": text})
        if op == "reachable":
            return op, lambda: graphql(client, REACH_QUERY, {"id": text})
        return op, lambda: page((index, op), ASSETS_PAGE if op == "assets" else FINDINGS_PAGE)
    return pick


@dataclass
class LoadResult:
    run: Run
    window_s: float
    rss_ready_mb: float                                   # once the server answered, before any query
    rss_mb: list[float] = field(default_factory=list)     # after the warm-up, then at the end of each window

    def windows(self) -> list[list]:
        """The samples finished in each window (the last one holds the requests finished after the end)."""
        count = len(self.rss_mb) - 1
        out: list[list] = [[] for _ in range(count)]
        for sample in self.run.samples:
            out[min(int(sample.at // self.window_s), count - 1)].append(sample)
        return out


async def load(api: ServedApi, identifiers: list[str], clients: int, seconds: float, window_s: float,
               warmup_s: float = WARMUP_S) -> LoadResult:
    """Warm up, then run the mixed load, reading the API's memory after the warm-up and every window."""
    result = LoadResult(Run(), window_s, api.rss_mb())
    async with http_client(api.url, clients) as client:
        pick = mixed(client, identifiers, clients)
        await closed_loop(pick, clients, warmup_s)
        result.rss_mb.append(api.rss_mb())

        async def sample_memory() -> None:
            started = time.perf_counter()
            for window in range(1, int(round(seconds / window_s)) + 1):
                await asyncio.sleep(max(0.0, started + window * window_s - time.perf_counter()))
                result.rss_mb.append(api.rss_mb())

        sampler = asyncio.create_task(sample_memory())
        result.run = await closed_loop(pick, clients, seconds)
        await sampler
    return result


def print_report(result: LoadResult, clients: int) -> None:
    header = (f"{'window':>6} {'end s':>6} {'requests':>8} {'q/s':>6} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7}  "
              + "  ".join(f"{op + ' p99':>13}" for op in OPS) + f"  {'API RSS MiB':>11}")
    print(f"\n{clients} clients, mixed queries ({', '.join(OPS)} in rotation), one row per {result.window_s:.0f} s")
    print(header)
    print("-" * len(header))
    for i, samples in enumerate(result.windows()):
        ms = [s.ms for s in samples]
        per_op = [[s.ms for s in samples if s.op == op] for op in OPS]
        print(f"{i + 1:>6} {(i + 1) * result.window_s:>6.0f} {len(samples):>8} {len(samples) / result.window_s:>6.0f} "
              f"{sum(1 for s in samples if s.error):>6} {percentile(ms, 50):>7.1f} {percentile(ms, 99):>7.1f}  "
              + "  ".join(f"{percentile(op_ms, 99) if op_ms else float('nan'):>13.1f}" for op_ms in per_op)
              + f"  {result.rss_mb[i + 1]:>11.1f}")
    run = result.run
    print(f"\nTotal: {len(run.samples)} requests in {run.seconds:.0f} s ({run.rate:.0f} q/s), "
          f"{len(run.errors)} errors" + (f" (first: {run.errors[0].op}: {run.errors[0].error})" if run.errors else ""))
    for op in OPS:
        ms = run.ms(op)
        print(f"  {op:<10} {len(ms):>7} requests  p50 {percentile(ms, 50):>7.1f} ms  p99 {percentile(ms, 99):>7.1f} ms")
    start, end = result.rss_mb[0], result.rss_mb[-1]
    print(f"API resident memory: {result.rss_ready_mb:.1f} MiB when ready, {start:.1f} MiB after the warm-up, "
          f"{end:.1f} MiB at the end ({end - start:+.1f} MiB over {len(run.samples)} requests)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=100_000, help="hosts in the demo org (default 100000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of load after the warm-up (default 10)")
    parser.add_argument("--window-s", type=float, default=60.0, help="seconds per report row (default 60)")
    parser.add_argument("--identifiers", type=int, default=400, help="identifiers to cycle through (default 400)")
    parser.add_argument("--seed", type=int, default=7, help="demo org and identifier seed (default 7)")
    parser.add_argument("--serve", default="", help="extra `itam serve` options, e.g. '--workers 1'")
    add_database_options(parser)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="itam-load-bench-"))
    try:
        with private_database("itam-load-bench", args.heap_mb, args.pagecache_mb) as db:
            print_machine(db)
            files = load_org(db, work / "org", args.hosts, args.seed, SOURCES)
            started = time.perf_counter()
            totals = evaluate(db.store).totals()
            print(f"findings evaluated in {time.perf_counter() - started:.1f} s: {totals}")
            identifiers = [p.text for p in pick_probes(files, args.identifiers, args.seed, db.settings.max_file_bytes)]
            shutil.rmtree(work / "org", ignore_errors=True)
            env = {"ITAM_ACCESS_LOG": "off", "ITAM_RATE_PER_MINUTE": str(10**9)}
            with ServedApi(db.settings, work / "serve.log", args.serve.split(), env) as api:
                print(f"itam serve {' '.join(api.argv[2:])}: ready, load average {load_average()}")
                result = asyncio.run(load(api, identifiers, args.clients, args.minutes * 60, args.window_s))
            print_report(result, args.clients)
            print(f"Load average at the end: {load_average()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
