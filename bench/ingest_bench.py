"""Ingest throughput: the product's connectors against a raw-driver floor on the same data.

For each host count: generate a demo org (not timed), then on an empty graph time
`ingest_files` for the Snipe-IT CSV and then for every nmap file (wall time: parse,
resolve, write), and time the floor: the raw driver writing the same assets, identifiers,
addresses and ports with plain `UNWIND ... MERGE` in batches of 5000 in one transaction,
from rows prepared beforehand (so the floor excludes parsing). Medians of --repeat runs.

    python -m bench.ingest_bench --hosts 10000,100000 [--repeat N] [--statements]
"""
from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from neo4j import Driver

import ingest.writer as writer
from bench.common import BenchDatabase, host_counts, median, print_machine, private_database, verdict
from graph.store import BATCH_SIZE
from ingest.demo_org import generate_org
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
    """One timed ingest of one connector: records and wall seconds (plus the product's stages)."""

    records: int
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def generate(out_dir: Path, hosts: int, seed: int) -> Org:
    started = time.perf_counter()
    manifest = generate_org(out_dir, hosts=hosts, seed=seed)
    elapsed = time.perf_counter() - started
    inventory = next(p for p in manifest.files if p.name.startswith("snipeit"))
    scans = [p for p in manifest.files if p.name.startswith("nmap")]
    return Org(hosts, inventory, scans, elapsed)


# --------------------------------------------------------------------------- the product

def run_product(db: BenchDatabase, source: str, paths: list[Path]) -> Timing:
    """`ingest_files` for one source, timed end to end and split at its progress callbacks."""
    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            marks[stage] = time.perf_counter()

    started = time.perf_counter()
    summary = ingest_files(db.store, source, paths, db.settings, progress=progress)
    finished = time.perf_counter()
    if summary.status != "succeeded":
        raise RuntimeError(f"{source} ingest ended {summary.status}: {summary.error}")
    stages = {"parse": marks["read"] - started, "resolve": marks["resolve"] - marks["read"],
              "write": finished - marks["resolve"]}
    return Timing(summary.records, finished - started, stages)


STATEMENT_NAMES = {getattr(writer, name): name for name in (
    "UPSERT_ASSETS", "LINK_IDENTIFIERS", "LINK_IPS", "REPLACE_PORTS", "SET_OWNERS",
    "RECORD_CONFLICTS", "DERIVE_REACH")}


@contextmanager
def timed_statements(totals: dict[str, float]) -> Iterator[None]:
    """Diagnostics only: add the seconds each writer statement takes (all its batches) to totals."""
    original = writer.write_batches

    def timed(tx, cypher, rows, batch_size=BATCH_SIZE):
        started = time.perf_counter()
        try:
            return original(tx, cypher, rows, batch_size)
        finally:
            totals[STATEMENT_NAMES.get(cypher, "other")] += time.perf_counter() - started

    writer.write_batches = timed
    try:
        yield
    finally:
        writer.write_batches = original


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


def run_floor(driver: Driver, database: str, rows: FloorRows) -> Timing:
    """Write prepared rows with the raw driver: batches of BATCH_SIZE, one transaction."""
    started = time.perf_counter()
    with driver.session(database=database) as session, session.begin_transaction() as tx:
        for cypher, batch_rows in ((FLOOR_ASSETS, rows.assets), (FLOOR_IDENTIFIERS, rows.identifiers),
                                   (FLOOR_IPS, rows.ips), (FLOOR_PORTS, rows.ports)):
            for start in range(0, len(batch_rows), BATCH_SIZE):
                tx.run(cypher, rows=batch_rows[start:start + BATCH_SIZE]).consume()
        tx.commit()
    return Timing(rows.records, time.perf_counter() - started)


def prepare_floor(org: Org, limit_bytes: int) -> dict[str, FloorRows]:
    snipeit, by_mac, by_name = snipeit_floor_rows(org.inventory)
    return {"snipeit": snipeit, "nmap": nmap_floor_rows(org.scans, by_mac, by_name, limit_bytes)}


# --------------------------------------------------------------------------- one host count

def node_counts(db: BenchDatabase) -> str:
    counts = db.store.counts()
    return ", ".join(f"{label} {counts.get(label, 0)}" for label in ("Asset", "Identifier", "IPAddress", "Port"))


def measure(db: BenchDatabase, org: Org, floor_rows: dict[str, FloorRows], repeat: int,
            quiet: bool = False) -> dict[str, dict[str, list[Timing]]]:
    """repeat x (wipe, product snipeit then nmap, wipe, floor snipeit then nmap); timings per side and connector."""
    results: dict[str, dict[str, list[Timing]]] = {"product": defaultdict(list), "floor": defaultdict(list)}
    driver, database = db.store.driver, db.store.database
    for run in range(1, repeat + 1):
        db.store.wipe()
        for source in CONNECTORS:
            results["product"][source].append(run_product(db, source, org.paths(source)))
        if run == 1 and not quiet:
            print(f"  graph after product: {node_counts(db)}")
        db.store.wipe()
        for source in CONNECTORS:
            results["floor"][source].append(run_floor(driver, database, floor_rows[source]))
        if run == 1 and not quiet:
            print(f"  graph after floor:   {node_counts(db)}")
        if not quiet:
            line = ", ".join(f"{side} {src} {t[-1].seconds:.2f} s"
                             for side, per in results.items() for src, t in per.items())
            print(f"  run {run}/{repeat}: {line}")
    db.store.wipe()
    return results


def statement_breakdown(db: BenchDatabase, org: Org) -> None:
    """One extra, unreported product run with each writer statement timed."""
    db.store.wipe()
    for source in CONNECTORS:
        totals: dict[str, float] = defaultdict(float)
        with timed_statements(totals):
            timing = run_product(db, source, org.paths(source))
        parts = ", ".join(f"{name} {secs:.2f}" for name, secs in sorted(totals.items(), key=lambda kv: -kv[1]))
        print(f"  {source} write stage {timing.stages['write']:.2f} s; by statement (s): {parts}")
    db.store.wipe()


def summarise(hosts: int, results: dict[str, dict[str, list[Timing]]]) -> list[dict]:
    rows = []
    for source in CONNECTORS:
        product, floor = results["product"][source], results["floor"][source]
        p_rate, f_rate = median([t.rate for t in product]), median([t.rate for t in floor])
        rows.append({
            "hosts": hosts, "connector": source, "records": product[0].records, "runs": len(product),
            "product_s": median([t.seconds for t in product]), "product_rate": p_rate,
            "floor_s": median([t.seconds for t in floor]), "floor_rate": f_rate, "ratio": p_rate / f_rate,
            "stages": {k: median([t.stages[k] for t in product]) for k in ("parse", "resolve", "write")},
        })
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"Ingest throughput, medians (target: product/floor >= {TARGET_RATIO})")
    header = (f"{'hosts':>7}  {'connector':<9} {'records':>8} {'runs':>4}  {'product s':>9} {'assets/s':>9}  "
              f"{'floor s':>8} {'assets/s':>9}  {'ratio':>5}  target")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['hosts']:>7}  {r['connector']:<9} {r['records']:>8} {r['runs']:>4}  {r['product_s']:>9.2f} "
              f"{r['product_rate']:>9.0f}  {r['floor_s']:>8.2f} {r['floor_rate']:>9.0f}  {r['ratio']:>5.2f}  "
              f"{verdict(r['ratio'] >= TARGET_RATIO)}")
    print()
    print("Product wall time by stage, medians (s): parse = read+validate files, resolve = identity "
          "resolution, write = Cypher + commit")
    for r in rows:
        s = r["stages"]
        total = sum(s.values())
        print(f"{r['hosts']:>7}  {r['connector']:<9} parse {s['parse']:7.2f} ({s['parse'] / total:4.0%})  "
              f"resolve {s['resolve']:7.2f} ({s['resolve'] / total:4.0%})  "
              f"write {s['write']:7.2f} ({s['write'] / total:4.0%})")


def default_repeat(hosts: int) -> int:
    return 3 if hosts <= 10_000 else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=host_counts, default=[2000], help="comma-separated host counts (default 2000)")
    parser.add_argument("--repeat", type=int, help="runs per measurement (default 3 up to 10000 hosts, else 1)")
    parser.add_argument("--seed", type=int, default=7, help="demo org seed (default 7)")
    parser.add_argument("--statements", action="store_true",
                        help="also time each writer statement in one extra, unreported product run")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="itam-ingest-bench-"))
    try:
        with private_database("itam-ingest-bench") as db:
            print_machine(db.store)
            warm = generate(work / "warmup", WARMUP_HOSTS, args.seed)
            measure(db, warm, prepare_floor(warm, db.settings.max_file_bytes), repeat=1, quiet=True)
            rows = []
            for hosts in args.hosts:
                org = generate(work / str(hosts), hosts, args.seed)
                print(f"{hosts} hosts: generated in {org.generated_s:.1f} s (not timed): "
                      f"1 Snipe-IT CSV, {len(org.scans)} nmap files")
                floor_rows = prepare_floor(org, db.settings.max_file_bytes)
                results = measure(db, org, floor_rows, args.repeat or default_repeat(hosts))
                if args.statements:
                    statement_breakdown(db, org)
                rows += summarise(hosts, results)
                shutil.rmtree(work / str(hosts), ignore_errors=True)
                print()
            print_table(rows)
            print("\nFloor: raw driver, UNWIND/MERGE of the same assets, identifiers, IPs and ports from rows "
                  "prepared before timing (CSV via csv.DictReader, nmap via ingest.nmap.parse_nmap): "
                  "parsing, resolution, SEEN_BY, subnets, owners, reachability and the run record are "
                  "NOT in the floor.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
