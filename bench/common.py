"""What both benchmarks share: a private Neo4j, the machine description, option parsing, statistics."""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from graph.config import Settings
from graph.local import LocalNeo4j, free_port
from graph.store import BATCH_SIZE, Store
from demo import generate_org
from ingest.pipeline import ingest_files

HEAP_MB = 4096
PAGECACHE_MB = 1024
M = TypeVar("M", bound="Measured")


@dataclass
class BenchDatabase:
    """A running private Neo4j with the schema applied, and a Store connected to it."""

    neo4j: LocalNeo4j
    settings: Settings
    store: Store


@contextmanager
def private_database(prefix: str, heap_mb: int = HEAP_MB, pagecache_mb: int = PAGECACHE_MB,
                     change_log: bool = True) -> Iterator[BenchDatabase]:
    """Start a throw-away Neo4j on a free port in a temporary directory; always stop and delete it.
    `change_log=False` ingests as ITAM_CHANGE_LOG=0 does (to measure what the log costs)."""
    # a benchmark is one caller sending thousands of requests: no rate limit, no access log
    os.environ.setdefault("ITAM_ACCESS_LOG", "off")
    os.environ.setdefault("ITAM_RATE_PER_MINUTE", str(10**9))
    home = Path(tempfile.mkdtemp(prefix=f"{prefix}-neo4j-"))
    neo4j = LocalNeo4j(home, port=free_port(), heap_mb=heap_mb, pagecache_mb=pagecache_mb)
    store = None
    try:
        started = time.perf_counter()
        neo4j.start()
        print(f"Neo4j started on {neo4j.uri} in {time.perf_counter() - started:.1f} s (data dir {home})")
        # benchmarks time ingest alone; the findings evaluation after a run is measured by findings_bench
        settings = Settings(neo4j_uri=neo4j.uri, home=home, evaluate_findings=False, change_log=change_log)
        store = Store.from_settings(settings)
        store.apply_schema()
        yield BenchDatabase(neo4j, settings, store)
    finally:
        if store is not None:
            store.close()
        neo4j.stop()
        shutil.rmtree(home, ignore_errors=True)


@dataclass(frozen=True)
class Cpu:
    """CPU seconds one timed run used: the Neo4j process's (every thread: queries, commits, the garbage
    collector, the JIT) and this Python process's (every thread: parsing, the read-ahead, the driver)."""

    neo4j: float
    python: float


def _process_cpu(pid: int) -> float:
    """User plus system CPU seconds of a process so far, from /proc/<pid>/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Measured(Protocol):
    cpu: Cpu | None


def with_cpu(db: BenchDatabase, run: Callable[[], M]) -> M:
    """`run()`'s result (a timing) with `cpu` set: what Neo4j and this process used during it."""
    pid = db.neo4j.pid()
    if pid is None:
        raise RuntimeError("the bench's Neo4j is not running")
    neo4j, python = _process_cpu(pid), time.process_time()
    result = run()
    result.cpu = Cpu(_process_cpu(pid) - neo4j, time.process_time() - python)
    return result


def cores() -> int:
    return len(os.sched_getaffinity(0))


def print_cpu_table(rows: list[dict]) -> None:
    """Per row (hosts, connector, floor_s, and product_cpu and floor_cpu as median Cpu): where the CPU went,
    and the best ratio the product's work allows: the floor's time against the product's CPU spread over
    every core for the whole run (Neo4j and Python never waiting for each other)."""
    print(f"CPU seconds, medians: Neo4j's process and the bench's Python process (/proc), and the ratio the "
          f"product's work allows with all {cores()} cores busy for the whole run = floor s / (product CPU / "
          f"{cores()})")
    header = (f"{'hosts':>7}  {'connector':<9}  {'product Neo4j':>13} {'Python':>7}  {'floor Neo4j':>11} "
              f"{'Python':>7}  {'Neo4j x floor':>13}  {'ratio bound':>11}")
    print(header)
    print("-" * len(header))
    for r in rows:
        product, floor = r.get("product_cpu"), r.get("floor_cpu")
        if product is None or floor is None or "floor_s" not in r:
            continue
        bound = r["floor_s"] / ((product.neo4j + product.python) / cores())
        times = product.neo4j / floor.neo4j if floor.neo4j else float("nan")
        print(f"{r['hosts']:>7}  {r['connector']:<9}  {product.neo4j:>13.2f} {product.python:>7.2f}  "
              f"{floor.neo4j:>11.2f} {floor.python:>7.2f}  {times:>13.1f}  {bound:>11.2f}")


def median_cpu(cpus: list[Cpu]) -> Cpu | None:
    return Cpu(median([c.neo4j for c in cpus]), median([c.python for c in cpus])) if cpus else None


def write_in_transactions(store: Store, work: list[tuple[str, list[dict]]], tx_rows: int | None = None) -> None:
    """Each (Cypher, rows) in order, in chunks of BATCH_SIZE rows: in one transaction, or in transactions
    of about `tx_rows` rows (the product's batch size: the raw driver's way of writing what one
    transaction could not hold)."""
    with store.driver.session(database=store.database) as session:
        tx, in_tx = session.begin_transaction(), 0
        for cypher, rows in work:
            for start in range(0, len(rows), BATCH_SIZE):
                if tx_rows is not None and in_tx >= tx_rows:
                    tx.commit()
                    tx, in_tx = session.begin_transaction(), 0
                chunk = rows[start:start + BATCH_SIZE]
                tx.run(cypher, rows=chunk).consume()
                in_tx += len(chunk)
        tx.commit()


def refresh_statistics(store: Store) -> None:
    """Resample every index, wait for it, then drop cached plans (`db.prepareForReplanning`), so the
    next statements are planned against the graph as it is now, not as it was when it was empty."""
    with store.driver.session(database=store.database) as session:
        session.run("CALL db.prepareForReplanning(300)").consume()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def neo4j_version(store: Store) -> str:
    rows = store.read("CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition")
    return ", ".join(f"{r['name']} {'/'.join(r['versions'])} {r['edition']}" for r in rows)


def code_version() -> str:
    """The commit the benchmark ran on, and whether the working tree had uncommitted changes."""
    repo = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{sha}{' + uncommitted changes' if dirty else ''}"


def load_average() -> str:
    """1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--heap-mb", type=int, default=HEAP_MB, help=f"Neo4j heap (default {HEAP_MB})")
    parser.add_argument("--pagecache-mb", type=int, default=PAGECACHE_MB,
                        help=f"Neo4j page cache (default {PAGECACHE_MB})")


def add_change_log_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-change-log", dest="change_log", action="store_false",
                        help="ingest with the change log off (ITAM_CHANGE_LOG=0): what the log costs")


def print_machine(db: BenchDatabase) -> None:
    """The machine and code the figures belong to."""
    print("Machine")
    print(f"  nproc    {cores()}")
    print(f"  CPU      {_cpu_model()}")
    print(f"  RAM      {_ram_gib():.1f} GiB")
    print(f"  Python   {platform.python_version()} ({platform.python_implementation()})")
    print(f"  Neo4j    {neo4j_version(db.store)} (embedded, heap {db.neo4j.heap_mb} MB, "
          f"page cache {db.neo4j.pagecache_mb} MB)")
    print(f"  Code     git {code_version()}")
    if not db.settings.change_log:
        print("  Ingest   change log off (--no-change-log)")
    print(f"  Load     {load_average()} (1/5/15 min, at start)")
    print()


def host_counts(text: str) -> list[int]:
    """'10000,100000' -> [10000, 100000] (argparse type)."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--hosts wants whole numbers separated by commas, got {text!r}") from None
    if not counts or min(counts) < 10:
        raise ValueError("--hosts wants at least one count, each 10 or more")
    return counts


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile with linear interpolation between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def load_org(db: "BenchDatabase", out_dir: Path, hosts: int, seed: int,
             sources: tuple[str, ...] | list[str]) -> dict[str, list[Path]]:
    """Setup, not measured: generate the demo organisation and ingest these sources with the product, in
    order, refreshing statistics before each (plans made while the graph was empty can make the next
    ingest's identity lookup scan the whole index once per key, docs/PERFORMANCE.md)."""
    started = time.perf_counter()
    manifest = generate_org(out_dir, hosts=hosts, seed=seed, sources=set(sources))
    generated = time.perf_counter()
    db.store.wipe()
    print(f"{hosts} hosts: generated in {generated - started:.1f} s")
    for source in sources:
        refresh_statistics(db.store)
        begun = time.perf_counter()
        summary = ingest_files(db.store, source, manifest.files_by_source[source], db.settings)
        print(f"  ingested {source:<12} {time.perf_counter() - begun:8.1f} s  ({summary.records} records, "
              f"{summary.batches} transactions; Python peak RSS so far {python_peak_rss_mb():,.0f} MB)")
    refresh_statistics(db.store)
    print(f"{hosts} hosts: ingested ({', '.join(sources)}) in {time.perf_counter() - generated:.1f} s")
    return manifest.files_by_source


def python_peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bytes_under(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# The heap as the JVM reports it: the old generation's peak is what the data needed at most.
HEAP = """
CALL dbms.queryJmx('java.lang:type=MemoryPool,*') YIELD name, attributes
WHERE name CONTAINS 'Old Gen'
RETURN attributes.PeakUsage.value.properties.used AS peak, attributes.Usage.value.properties.max AS max
"""


def print_footprint(db: BenchDatabase) -> None:
    """Store size on disk (the store and its transaction logs) and the heap's peak use."""
    data = db.neo4j.home / "db" / "data"
    store = _bytes_under(data / "databases" / db.settings.neo4j_database)
    logs = _bytes_under(data / "transactions" / db.settings.neo4j_database)
    row = db.store.read(HEAP)[0]
    mib = 1024 ** 2
    print(f"  store on disk {store / mib:,.0f} MB (+ transaction logs {logs / mib:,.0f} MB); heap: old generation "
          f"peak {row['peak'] / mib:,.0f} MB of {row['max'] / mib:,.0f} MB; Python peak RSS "
          f"{python_peak_rss_mb():,.0f} MB")
