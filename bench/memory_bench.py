"""Python memory of an ingest run: the peak resident size of a process that runs one connector.

For each host count: generate the demo org (HR, Snipe-IT, nmap; not timed), then ingest Snipe-IT and
then nmap, each run in a fresh child process, and report the child's peak RSS before the run (imports)
and after it. Neo4j's own memory is not in these figures (query_bench prints its heap). A run whose
memory is bounded by its batch grows sub-linearly: ten times the hosts, far less than ten times the RSS.

    python -m bench.memory_bench --hosts 10000,100000
"""
from __future__ import annotations

import argparse
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import (add_database_options, host_counts, load_average, print_machine, private_database,
                          python_peak_rss_mb)
from demo import generate_org
from graph.config import Settings

SOURCES = ("snipeit", "nmap")


def _ingest_in_child(settings: Settings, source: str, paths: list[Path]) -> tuple[float, float, int, int]:
    """In a fresh process: (peak RSS MB after the run, seconds, records, batches). The peak before the run
    is no baseline (Linux carries the parent's high-water mark across the spawn): compare peaks."""
    from graph.store import Store
    from ingest.pipeline import ingest_files
    store = Store.from_settings(settings)
    try:
        started = time.perf_counter()
        summary = ingest_files(store, source, paths, settings)
        return python_peak_rss_mb(), time.perf_counter() - started, summary.records, summary.batches
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=host_counts, default=[10_000, 100_000],
                        help="comma-separated host counts (default 10000,100000)")
    parser.add_argument("--seed", type=int, default=7, help="demo org seed (default 7)")
    add_database_options(parser)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="itam-memory-bench-"))
    spawn = multiprocessing.get_context("spawn")
    rows = []
    try:
        with private_database("itam-memory-bench", args.heap_mb, args.pagecache_mb) as db:
            print_machine(db)
            for hosts in args.hosts:
                manifest = generate_org(work / str(hosts), hosts=hosts, seed=args.seed, sources=set(SOURCES))
                db.store.wipe()
                for source in SOURCES:
                    with spawn.Pool(1) as pool:
                        peak, seconds, records, batches = pool.apply(
                            _ingest_in_child, (db.settings, source, manifest.files_by_source[source]))
                    rows.append((hosts, source, records, batches, peak))
                    print(f"  {hosts} hosts, {source}: {records} records in {batches} transactions, {seconds:.1f} s; "
                          f"peak RSS {peak:,.0f} MB; load {load_average()}")
                shutil.rmtree(work / str(hosts), ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nPython peak RSS of one ingest run, in its own process (MB)")
    print(f"{'hosts':>8}  {'connector':<9} {'records':>8} {'batches':>7} {'peak':>8}")
    for hosts, source, records, batches, peak in rows:
        print(f"{hosts:>8}  {source:<9} {records:>8} {batches:>7} {peak:>8,.0f}")
    for source in SOURCES:
        mine = [(h, peak) for h, s, _, _, peak in rows if s == source]
        for (small, small_mb), (large, large_mb) in zip(mine, mine[1:]):
            print(f"  {source}: {large / small:.0f}x the hosts, {large_mb / small_mb:.1f}x the peak RSS")


if __name__ == "__main__":
    main()
