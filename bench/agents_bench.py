"""Ingest throughput of the osquery and AWS connectors against a raw-driver floor on the same data.

For each host count: generate the demo org's osquery log and AWS files (not timed); then, on an
empty graph, time `ingest_files` per connector (wall time: parse, resolve, write), and the floor:
the raw driver writing the same assets, identifiers, addresses, installed software and security
group memberships with plain `UNWIND ... MERGE` in transactions of the product's batch size
(`ITAM_INGEST_BATCH_ROWS` rows), from rows the connector's own parser prepared before the clock
started (the floor excludes parsing).
Medians of --repeat runs.

    python -m bench.agents_bench --hosts 10000,100000 [--repeat N] [--statements] [--same-graph] [--no-change-log]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench import same_graph
from bench.common import (add_change_log_option, add_database_options, host_counts, load_average, median,
                          median_cpu, print_cpu_table, print_machine, private_database, verdict,
                          with_cpu, write_in_transactions)
from bench.ingest_bench import TimedStore, Timing, print_breakdown, run_product
from graph.models import Batch
from graph.store import Store
from demo import generate_org
from ingest.pipeline import read_batch

TARGET_RATIO = 0.5
SOURCES = ("osquery", "aws")

FLOOR = {
    "assets": "UNWIND $rows AS row MERGE (a:Asset {id: row.id}) SET a += row.props",
    "identifiers": """UNWIND $rows AS row MATCH (a:Asset {id: row.asset})
        MERGE (i:Identifier {key: row.key}) ON CREATE SET i.kind = row.kind, i.value = row.value
        MERGE (i)-[:IDENTIFIES]->(a)""",
    "ips": """UNWIND $rows AS row MATCH (a:Asset {id: row.asset})
        MERGE (ip:IPAddress {address: row.address}) MERGE (a)-[:HAS_IP]->(ip)""",
    "software": """UNWIND $rows AS row MATCH (a:Asset {id: row.asset})
        MERGE (s:Software {key: row.key}) ON CREATE SET s.name = row.name
        MERGE (a)-[r:INSTALLED]->(s) SET r.version = row.version""",
    "groups": """UNWIND $rows AS row MATCH (a:Asset {id: row.asset})
        MERGE (g:SecurityGroup {id: row.group}) MERGE (a)-[:IN]->(g)""",
}


def floor_rows(batch: Batch) -> dict[str, list[dict]]:
    """The nodes and edges the floor writes, one asset per observation's first identifier."""
    rows: dict[str, list[dict]] = {name: [] for name in FLOOR}
    seen: dict[str, str] = {}
    for obs in batch.hosts:
        asset = seen.setdefault(obs.identifiers[0].key, obs.identifiers[0].key)
        props = {k: (v.value if hasattr(v, "value") else v)
                 for k, v in obs.properties.model_dump(exclude_none=True).items()}
        rows["assets"].append({"id": asset, "props": props})
        rows["identifiers"] += [{"asset": asset, "key": i.key, "kind": i.kind.value, "value": i.value}
                                for i in obs.identifiers]
        rows["ips"] += [{"asset": asset, "address": ip} for ip in obs.ips]
        rows["software"] += [{"asset": asset, "key": sw.key, "name": sw.name, "version": sw.version}
                             for sw in (obs.software or ())]
        rows["groups"] += [{"asset": asset, "group": g} for g in obs.security_groups]
    return rows


def run_floor(store: Store, rows: dict[str, list[dict]], records: int, tx_rows: int) -> Timing:
    """The floor's statements in transactions of about `tx_rows` rows, the product's batch size (one
    transaction for 100k agents held 3.7 million commands, which a 4 GB heap could not commit)."""
    started = time.perf_counter()
    write_in_transactions(store, [(cypher, rows[name]) for name, cypher in FLOOR.items()], tx_rows)
    return Timing(records, time.perf_counter() - started)


def statement_breakdown(db, source: str, paths: list[Path]) -> None:
    """One extra, unreported product run on a wiped graph with every statement and the commit timed
    (timing each statement slows the run: read the shares, not the total)."""
    db.store.wipe()
    timed = TimedStore(db.store)
    print_breakdown(source, run_product(timed, db.settings, source, paths), timed.totals)


def measure(hosts: int, repeat: int, seed: int, db, statements: bool = False, same: bool = False) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="itam-agents-bench-") as tmp:
        started = time.perf_counter()
        org = generate_org(Path(tmp), hosts=hosts, seed=seed, sources={"hr", "snipeit", "nmap", "osquery", "aws"})
        print(f"\n{hosts} hosts: generated in {time.perf_counter() - started:.1f} s (not timed)")
        lines = []
        for source in SOURCES:
            paths = org.files_by_source[source]
            rows = floor_rows(read_batch(source, paths, db.settings.max_file_bytes, lambda *a: None))
            product, floor = [], []
            for run in range(1, repeat + 1):
                db.store.wipe()
                product.append(with_cpu(db, lambda: run_product(db.store, db.settings, source, paths)))
                db.store.wipe()
                floor.append(with_cpu(db, lambda: run_floor(db.store, rows, len(rows["assets"]),
                                                                  db.settings.ingest_batch_rows)))
                print(f"  run {run}/{repeat} {source:<8} product {product[-1].seconds:7.2f} s "
                      f"({product[-1].written} records incl. credentials)   floor {floor[-1].seconds:7.2f} s "
                      f"({len(rows['assets'])} assets)")
            if statements:
                statement_breakdown(db, source, paths)
            p, f = median([t.seconds for t in product]), median([t.seconds for t in floor])
            assets = len(rows["assets"])  # the same work on both sides: the hosts the files describe
            lines.append({"hosts": hosts, "connector": source, "assets": assets, "runs": repeat,
                          "product_s": p, "product_rate": assets / p, "floor_s": f, "floor_rate": assets / f,
                          "product_cpu": median_cpu([t.cpu for t in product if t.cpu]),
                          "floor_cpu": median_cpu([t.cpu for t in floor if t.cpu])})
            if same:
                lines[-1]["same"] = same_graph.try_measure(
                    db.store, lambda: run_product(db.store, db.settings, source, paths), repeat,
                    db.settings.ingest_batch_rows)
        print(f"  load average now {load_average()}")
        return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.agents_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="2000", help="comma-separated host counts (default 2000)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per measurement (default 3 up to 10000 "
                                                                 "hosts, else 1)")
    parser.add_argument("--seed", type=int, default=7)
    add_database_options(parser)
    add_change_log_option(parser)
    parser.add_argument("--statements", action="store_true",
                        help="also time each statement of the write stage in one extra, unreported product run")
    parser.add_argument("--same-graph", action="store_true",
                        help="also time the raw driver writing exactly the graph one extra product run left "
                             "(bench/same_graph.py)")
    args = parser.parse_args(argv)
    rows = []
    with private_database("itam-agents-bench", args.heap_mb, args.pagecache_mb, args.change_log) as db:
        print_machine(db)
        for hosts in host_counts(args.hosts):
            rows += measure(hosts, args.repeat or (3 if hosts <= 10000 else 1), args.seed, db, args.statements,
                            args.same_graph)
    print("\nIngest throughput, medians (target: product/floor >= 0.5)")
    print(f"{'hosts':>7} {'connector':<9} {'assets':>7} {'runs':>4} {'product s':>10} {'assets/s':>9} "
          f"{'floor s':>8} {'assets/s':>9} {'ratio':>6}  target")
    for r in rows:
        ratio = r["product_rate"] / r["floor_rate"]
        print(f"{r['hosts']:>7} {r['connector']:<9} {r['assets']:>7} {r['runs']:>4} {r['product_s']:>10.2f} "
              f"{r['product_rate']:>9.0f} {r['floor_s']:>8.2f} {r['floor_rate']:>9.0f} {ratio:>6.2f}  "
              f"{verdict(ratio >= TARGET_RATIO)}")
    print()
    print_cpu_table(rows)
    if args.same_graph:
        print()
        same_graph.print_table([{**r["same"], "hosts": r["hosts"], "connector": r["connector"],
                                 "product_s": r["product_s"]} for r in rows if r.get("same")])
    print("\nFloor: raw driver, UNWIND/MERGE of the same assets, identifiers, IPs, installed software and security "
          "group memberships from rows the connector's parser prepared before timing: parsing, identity resolution, "
          "provenance, claims, controls, credentials, reachability and the run record are NOT in the floor.")


if __name__ == "__main__":
    main()
