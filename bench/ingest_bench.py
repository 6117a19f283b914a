"""Ingest throughput: the product's connectors against a raw-driver floor on the same data.

For each host count: generate a demo org (not timed), then on an empty graph time
`ingest_files` for the Snipe-IT CSV and then for every nmap file (wall time: parse,
resolve, write), and time the floor: the raw driver writing the same assets, identifiers,
addresses and ports with plain `UNWIND ... MERGE` in batches of 5000 in one transaction,
from rows prepared beforehand (so the floor excludes parsing). Medians of --repeat runs.

    python -m bench.ingest_bench --hosts 10000,100000 [--repeat N] [--statements] [--same-graph]
"""
from __future__ import annotations

import argparse
import csv
import random
import re
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from neo4j import Transaction
from neo4j.exceptions import DriverError, Neo4jError

from bench import same_graph
from bench.common import (BenchDatabase, Cpu, add_change_log_option, add_database_options, host_counts,
                          load_average, median, median_cpu, print_cpu_table, print_machine, private_database,
                          refresh_statistics, verdict, with_cpu, write_in_transactions)
from graph.config import Settings
from graph.store import Store
from ingest.catalog import all_writes
from demo import generate_org
from ingest.nmap import parse_nmap
from ingest.pipeline import ingest_files

TARGET_RATIO = 0.5
WARMUP_HOSTS = 300
CONNECTORS = ("snipeit", "nmap")

FLOOR_ASSETS = "UNWIND $rows AS row MERGE (a:Asset {id: row.id}) SET a += row.props"
FLOOR_IDENTIFIERS = """
UNWIND $rows AS row
MATCH (a:Asset {id: row.asset})
MERGE (i:Identifier {key: row.key}) ON CREATE SET i.kind = row.kind, i.value = row.value
MERGE (i)-[:IDENTIFIES]->(a)
"""
FLOOR_IPS = """
UNWIND $rows AS row
MATCH (a:Asset {id: row.asset})
MERGE (ip:IPAddress {address: row.address})
MERGE (a)-[:HAS_IP]->(ip)
"""
FLOOR_PORTS = """
UNWIND $rows AS row
MATCH (a:Asset {id: row.asset})
MERGE (p:Port {id: row.id}) SET p += row.props
MERGE (a)-[:LISTENS_ON]->(p)
"""


@dataclass
class Org:
    """A generated demo org on disk."""

    hosts: int
    inventory: Path
    scans: list[Path]
    generated_s: float

    def paths(self, source: str) -> list[Path]:
        return [self.inventory] if source == "snipeit" else self.scans


@dataclass
class FloorRows:
    """Everything the floor writes for one connector, prepared before the clock starts."""

    assets: list[dict] = field(default_factory=list)
    identifiers: list[dict] = field(default_factory=list)
    ips: list[dict] = field(default_factory=list)
    ports: list[dict] = field(default_factory=list)

    @property
    def records(self) -> int:
        return len(self.assets)


@dataclass
class Timing:
    """One timed ingest of one connector: records and wall seconds (plus the product's stages, what it
    wrote: created, updated and unchanged, credentials found on hosts included; and the CPU it used)."""

    records: int
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)
    written: int = 0
    cpu: Cpu | None = None

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def generate(out_dir: Path, hosts: int, seed: int) -> Org:
    started = time.perf_counter()
    manifest = generate_org(out_dir, hosts=hosts, seed=seed, sources=set(CONNECTORS))
    elapsed = time.perf_counter() - started
    [inventory] = manifest.files_by_source["snipeit"]
    return Org(hosts, inventory, manifest.files_by_source["nmap"], elapsed)


# --------------------------------------------------------------------------- the product

def run_product(store: Store, settings: Settings, source: str, paths: list[Path]) -> Timing:
    """`ingest_files` for one source, timed end to end and split at its progress callbacks."""
    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            marks[stage] = time.perf_counter()

    started = time.perf_counter()
    summary = ingest_files(store, source, paths, settings, progress=progress)
    finished = time.perf_counter()
    if summary.status != "succeeded":
        raise RuntimeError(f"{source} ingest ended {summary.status}: {summary.error}")
    stages = {"parse": marks["read"] - started, "write": finished - marks["read"]}  # write: resolve + write
    return Timing(summary.records, finished - started, stages,
                  written=summary.created + summary.updated + summary.unchanged)


# graph.store.write_batches may rewrite `UNWIND $rows AS row` to convert values on the server.
_ROWS_REWRITE = re.compile(r"UNWIND \$rows AS _r WITH _r\{.*?\} AS row", re.S)


class _Buffered:
    """A statement's result, fetched in full so its time is known; iterates, .single() and .consume()."""

    def __init__(self, eager):
        self._eager = eager

    def __iter__(self):
        return iter(self._eager.records)

    def single(self):
        return self._eager.records[0] if self._eager.records else None

    def consume(self):
        return self._eager.summary


class _TimedTransaction:
    """Diagnostics only: a transaction that adds each statement's seconds to totals, by statement name."""

    def __init__(self, tx, totals: dict[str, float]):
        self._tx, self._totals = tx, totals

    def run(self, query, parameters=None, **kwargs):
        started = time.perf_counter()
        result = _Buffered(self._tx.run(query, parameters, **kwargs).to_eager_result())
        self._totals[statement_name(query)] += time.perf_counter() - started
        return result

    def __getattr__(self, name):
        return getattr(self._tx, name)


class TimedStore(Store):
    """A Store whose write transactions time every statement and the commit (see --statements)."""

    def __init__(self, store: Store):
        super().__init__(store.driver, store.database)
        self.totals: dict[str, float] = defaultdict(float)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self.driver.session(database=self.database) as session, session.begin_transaction() as tx:
            yield cast(Transaction, _TimedTransaction(tx, self.totals))   # a proxy with the same methods
            if not tx.closed():
                started = time.perf_counter()
                tx.commit()
                self.totals["(commit)"] += time.perf_counter() - started


def statement_name(cypher: str) -> str:
    """The write catalogue's name for a statement (templates match up to their placeholder)."""
    cypher = _ROWS_REWRITE.sub("UNWIND $rows AS row", cypher, count=1).strip()
    for entry in all_writes().values():
        head = entry.cypher.split("{kind}")[0].split("%s")[0]
        if cypher == entry.cypher or (head != entry.cypher and cypher.startswith(head)):
            return entry.name
    for entry in all_writes().values():   # statements built per call (resolve-claims) share their first lines
        if cypher.splitlines()[:3] == entry.cypher.splitlines()[:3]:
            return entry.name
    return " ".join(cypher.split())[:40]


# --------------------------------------------------------------------------- the floor

def snipeit_floor_rows(path: Path) -> tuple[FloorRows, dict[str, str], dict[str, str]]:
    """Rows from the CSV via csv.DictReader; also asset ids by MAC and by host name for nmap."""
    rows = FloorRows()
    by_mac: dict[str, str] = {}
    by_name: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            asset = str(uuid.uuid4())
            rows.assets.append({"id": asset, "props": {k: v for k, v in record.items() if v}})
            idents = [("asset_tag", record["asset_tag"].upper()), ("serial", record["serial"].upper()),
                      ("mac", record["mac_address"].lower()), ("hostname", record["item_name"].lower())]
            for kind, value in idents:
                if value:
                    rows.identifiers.append({"asset": asset, "key": f"{kind}:{value}", "kind": kind, "value": value})
            if record["mac_address"]:
                by_mac[record["mac_address"].lower()] = asset
            if record["item_name"]:
                by_name[record["item_name"].lower()] = asset
    return rows, by_mac, by_name


def nmap_floor_rows(paths: list[Path], by_mac: dict[str, str], by_name: dict[str, str],
                    limit_bytes: int) -> FloorRows:
    """Rows from the connector's own parser, matched to the floor's Snipe-IT assets by MAC or name."""
    rows = FloorRows()
    for path in paths:
        for obs in parse_nmap(path, limit_bytes).observations:
            macs = [i.value for i in obs.identifiers if i.kind == "mac"]
            names = [i.value for i in obs.identifiers if i.kind == "hostname"]
            asset = next((by_mac[m] for m in macs if m in by_mac), None) \
                or next((by_name[n] for n in names if n in by_name), None) or str(uuid.uuid4())
            props = obs.properties.model_dump(exclude_none=True, mode="json")
            rows.assets.append({"id": asset, "props": props})
            rows.identifiers += [{"asset": asset, "key": i.key, "kind": i.kind.value, "value": i.value}
                                 for i in obs.identifiers]
            rows.ips += [{"asset": asset, "address": address} for address in obs.ips]
            rows.ports += [{"asset": asset, "id": f"{asset}/{p.protocol}/{p.number}",
                            "props": p.model_dump(exclude_none=True)} for p in obs.ports or ()]
    return rows


def run_floor(store: Store, rows: FloorRows) -> Timing:
    """Write prepared rows with the raw driver: batches of BATCH_SIZE, one transaction."""
    started = time.perf_counter()
    write_in_transactions(store, [(FLOOR_ASSETS, rows.assets), (FLOOR_IDENTIFIERS, rows.identifiers),
                                  (FLOOR_IPS, rows.ips), (FLOOR_PORTS, rows.ports)])
    return Timing(rows.records, time.perf_counter() - started)


def prepare_floor(org: Org, limit_bytes: int) -> dict[str, FloorRows]:
    snipeit, by_mac, by_name = snipeit_floor_rows(org.inventory)
    return {"snipeit": snipeit, "nmap": nmap_floor_rows(org.scans, by_mac, by_name, limit_bytes)}


# --------------------------------------------------------------------------- one host count

@dataclass
class Outcome:
    """Every timing of one side (product or floor) and connector, or why it could not be measured."""

    timings: list[Timing] = field(default_factory=list)
    error: str | None = None

    def attempt(self, run: Callable[[], Timing]) -> bool:
        """Time one run unless an earlier one failed; a database error is recorded, not raised."""
        if self.error:
            return False
        try:
            self.timings.append(run())
            return True
        except (Neo4jError, DriverError, RuntimeError) as exc:
            message = f"{exc.code}: {exc.message}" if isinstance(exc, Neo4jError) else str(exc)
            self.error = f"FAILED {message}"
            return False

    def describe(self) -> str:
        if not self.timings:
            return self.error or "not run"
        last = self.timings[-1]
        stages = ", ".join(f"{k} {v:.2f}" for k, v in last.stages.items())
        return f"{last.seconds:.2f} s" + (f" ({stages})" if stages else "")


Results = dict[tuple[str, str], Outcome]


def print_counts(product: dict[str, int], floor: dict[str, int]) -> None:
    """Node and relationship counts of the graph each side built, side by side."""
    print(f"  {'label or type':<18} {'product':>9} {'floor':>9}")
    for name in sorted(set(product) | set(floor)):
        print(f"  {name:<18} {product.get(name, 0):>9} {floor.get(name, 0):>9}")


def run_side(side: str, results: Results, timer: Callable[[str], Timing]) -> None:
    """Snipe-IT then nmap for one side; nmap is skipped when Snipe-IT failed (it would meet an empty graph)."""
    ok = True
    for source in CONNECTORS:
        outcome = results.setdefault((side, source), Outcome())
        if not ok:
            outcome.error = outcome.error or "skipped: Snipe-IT failed first"
            continue
        ok = outcome.attempt(lambda: timer(source))


def measure(db: BenchDatabase, org: Org, floor_rows: dict[str, FloorRows], repeat: int,
            fresh_plans: bool = False, quiet: bool = False, seed: int = 7) -> Results:
    """repeat x (wipe, one side's snipeit then nmap, wipe, the other side's): the sides interleave and
    which goes first is drawn at random each time, so neither always meets the warmer database."""
    results: Results = {}
    order = random.Random(seed)

    def product(source: str) -> Timing:
        if fresh_plans:
            refresh_statistics(db.store)
        return with_cpu(db, lambda: run_product(db.store, db.settings, source, org.paths(source)))

    def floor(source: str) -> Timing:
        return with_cpu(db, lambda: run_floor(db.store, floor_rows[source]))

    sides = {"product": product, "floor": floor}
    for run in range(1, repeat + 1):
        counts = {}
        for side in order.sample(sorted(sides), 2):
            db.store.wipe()
            run_side(side, results, sides[side])
            counts[side] = db.store.counts()
        if run == 1 and not quiet:
            print_counts(counts["product"], counts["floor"])
        if not quiet:
            print(f"  run {run}/{repeat}:")
            for (side, source), outcome in results.items():
                print(f"    {side:<7} {source:<7} {outcome.describe()}")
    db.store.wipe()
    return results


def statement_breakdown(db: BenchDatabase, org: Org, fresh_plans: bool = False) -> None:
    """One extra, unreported product run with every statement and the commit timed."""
    db.store.wipe()
    for source in CONNECTORS:
        if fresh_plans:
            refresh_statistics(db.store)
        timed = TimedStore(db.store)
        outcome = Outcome()
        if not outcome.attempt(lambda: run_product(timed, db.settings, source, org.paths(source))):
            print(f"  {source}: {outcome.error}")
            break
        print_breakdown(source, outcome.timings[0], timed.totals)
    db.store.wipe()


def print_breakdown(source: str, timing: Timing, totals: dict[str, float]) -> None:
    """A timed run's parse, then its write split into the Python around the statements and each statement
    (and the commits), largest first."""
    python = timing.stages["write"] - sum(totals.values())
    parts = ", ".join(f"{name} {secs:.2f}" for name, secs in sorted(totals.items(), key=lambda kv: -kv[1])
                      if secs >= 0.005)
    print(f"  {source}: parse {timing.stages['parse']:.2f} s, "
          f"resolve + write {timing.stages['write']:.2f} s = Python {python:.2f} + statements (s): {parts}")


def summarise(hosts: int, results: Results, floor_rows: dict[str, FloorRows]) -> list[dict]:
    """One row per connector: medians of what succeeded, or the error."""
    rows = []
    for source in CONNECTORS:
        product, floor = results[("product", source)], results[("floor", source)]
        row = {"hosts": hosts, "connector": source, "records": floor_rows[source].records,
               "product": product, "floor": floor}
        if product.timings:
            row["product_s"] = median([t.seconds for t in product.timings])
            row["product_rate"] = median([t.rate for t in product.timings])
            row["stages"] = {k: median([t.stages[k] for t in product.timings]) for k in ("parse", "write")}
            row["product_cpu"] = median_cpu([t.cpu for t in product.timings if t.cpu])
        if floor.timings:
            row["floor_s"] = median([t.seconds for t in floor.timings])
            row["floor_rate"] = median([t.rate for t in floor.timings])
            row["floor_cpu"] = median_cpu([t.cpu for t in floor.timings if t.cpu])
        rows.append(row)
    return rows


def _side(row: dict, side: str) -> str:
    if f"{side}_s" not in row:
        return f"{'-':>9} {'-':>9}"
    return f"{row[f'{side}_s']:>9.2f} {row[f'{side}_rate']:>9.0f}"


def print_table(rows: list[dict]) -> None:
    print(f"Ingest throughput, medians (target: product/floor >= {TARGET_RATIO})")
    header = (f"{'hosts':>7}  {'connector':<9} {'records':>8} {'runs':>4}  {'product s':>9} {'assets/s':>9}  "
              f"{'floor s':>9} {'assets/s':>9}  {'ratio':>5}  target")
    print(header)
    print("-" * len(header))
    for r in rows:
        line = (f"{r['hosts']:>7}  {r['connector']:<9} {r['records']:>8} {len(r['product'].timings):>4}  "
                f"{_side(r, 'product')}  {_side(r, 'floor')}  ")
        if "product_rate" in r and "floor_rate" in r:
            ratio = r["product_rate"] / r["floor_rate"]
            line += f"{ratio:>5.2f}  {verdict(ratio >= TARGET_RATIO)}"
        else:
            line += f"{'-':>5}  MISSED"
        print(line)
        for side in ("product", "floor"):
            if r[side].error:
                print(f"{'':>9}{side}: {r[side].error}")
    print()
    print("Product wall time by stage, medians (s): parse = read+validate files, write = identity resolution "
          "(inside each batch) + Python row building + Cypher + commits (and, for a run larger than one batch, "
          "reading the files again as it writes)")
    for r in (r for r in rows if "stages" in r):
        s = r["stages"]
        total = sum(s.values())
        print(f"{r['hosts']:>7}  {r['connector']:<9} parse {s['parse']:7.2f} ({s['parse'] / total:4.0%})  "
              f"write {s['write']:7.2f} ({s['write'] / total:4.0%})")
    print()
    print_cpu_table(rows)


def default_repeat(hosts: int) -> int:
    return 3 if hosts <= 10_000 else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=host_counts, default=[2000], help="comma-separated host counts (default 2000)")
    parser.add_argument("--repeat", type=int, help="runs per measurement (default 3 up to 10000 hosts, else 1)")
    parser.add_argument("--seed", type=int, default=7, help="demo org seed (default 7)")
    parser.add_argument("--statements", action="store_true",
                        help="also time each statement of the write stage in one extra, unreported product run")
    parser.add_argument("--same-graph", action="store_true",
                        help="also time the raw driver writing exactly the graph one extra product run left "
                             "(bench/same_graph.py)")
    parser.add_argument("--fresh-plans", action="store_true",
                        help="resample indexes and clear cached plans (untimed) before each product connector "
                             "run: throughput without plans made while the graph was empty (docs/PERFORMANCE.md)")
    add_database_options(parser)
    add_change_log_option(parser)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="itam-ingest-bench-"))
    try:
        with private_database("itam-ingest-bench", args.heap_mb, args.pagecache_mb, args.change_log) as db:
            print_machine(db)
            if args.fresh_plans:
                print("--fresh-plans: indexes resampled and plans cleared before each product connector run\n")
            warm = generate(work / "warmup", WARMUP_HOSTS, args.seed)
            measure(db, warm, prepare_floor(warm, db.settings.max_file_bytes), repeat=1, quiet=True)
            rows, same_rows = [], []
            for hosts in args.hosts:
                org = generate(work / str(hosts), hosts, args.seed)
                print(f"{hosts} hosts: generated in {org.generated_s:.1f} s (not timed): "
                      f"1 Snipe-IT CSV, {len(org.scans)} nmap files")
                floor_rows = prepare_floor(org, db.settings.max_file_bytes)
                try:
                    results = measure(db, org, floor_rows, args.repeat or default_repeat(hosts), args.fresh_plans,
                                      seed=args.seed)
                    if args.statements:
                        statement_breakdown(db, org, args.fresh_plans)
                    same = None
                    if args.same_graph:
                        same = same_graph.try_measure(
                            db.store, lambda: [run_product(db.store, db.settings, source, org.paths(source))
                                               for source in CONNECTORS],
                            args.repeat or default_repeat(hosts), db.settings.ingest_batch_rows)
                except (Neo4jError, DriverError) as exc:  # the database itself gave out (wipe, counts)
                    print(f"  stopped at {hosts} hosts: {type(exc).__name__}: {exc}")
                    break
                finally:
                    shutil.rmtree(work / str(hosts), ignore_errors=True)
                summary = summarise(hosts, results, floor_rows)
                rows += summary
                if same and all("product_s" in r for r in summary):
                    same_rows.append({**same, "hosts": hosts, "connector": "+".join(CONNECTORS),
                                      "product_s": sum(r["product_s"] for r in summary)})
                print(f"  load average now {load_average()}\n")
            print_table(rows)
            if same_rows:
                print()
                same_graph.print_table(same_rows)
            print("\nFloor: raw driver, UNWIND/MERGE of the same assets, identifiers, IPs and ports from rows "
                  "prepared before timing (CSV via csv.DictReader, nmap via ingest.nmap.parse_nmap): "
                  "parsing, resolution, SEEN_BY, subnets, owners, reachability and the run record are "
                  "NOT in the floor.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
