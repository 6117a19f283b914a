"""The change log's cost and the as-of question's speed.

For N hosts (demo org: nmap scans, then the Snipe-IT export), alternately with the change log on and off
(ITAM_CHANGE_LOG), on an emptied graph, time: the first nmap scan, the Snipe-IT load, and a second
scan a day later in which ~10 % of hosts closed a port and ~2 % swapped addresses (IP moves). The
ratio on/off per phase is the change log's overhead (target <= 1.2). Then, with the log on,
`asset_as_of` on identifiers (moved IPs and host names) (a moved IP a second before its move), p50/p99 (target
p99 < 50 ms), against the floor of the present lookup (`find_asset_id` + `asset_contexts`) on the same
identifiers. Last, the log's size on disk: every Change node is copied once, the store is
checkpointed, and the growth of the data directory divided by the copies gives bytes per change.

    python -m bench.history_bench --hosts 10000 [--repeat 2] [--lookups 300]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from defusedxml import ElementTree

from bench.common import (add_database_options, load_average, median, percentile, print_machine, private_database,
                          refresh_statistics, verdict)
from demo import generate_org
from graph.store import connect_async
from ingest.pipeline import ingest_files
from queries.catalog import GraphReader
from queries.history import asset_as_of
from queries.host import asset_contexts, find_asset_id

TARGET_RATIO = 1.2
TARGET_P99_MS = 50.0
DAY = 86_400


def next_day_scans(paths: list[Path], out_dir: Path, seed: int) -> tuple[list[Path], list[str]]:
    """The same scans a day later: ~10 % of hosts lost a port, ~2 % swapped IPv4 addresses in pairs.
    Returns the new files and the addresses that moved."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    moved: list[str] = []
    for path in paths:
        tree = ElementTree.parse(path)
        root = tree.getroot()
        assert root is not None     # a parsed document always has a root element
        if start := root.get("start"):
            root.set("start", str(int(start) + DAY))
        swap = []
        for host in root.iter("host"):
            for key in ("starttime", "endtime"):
                if stamp := host.get(key):
                    host.set(key, str(int(stamp) + DAY))
            ports = host.find("ports")
            open_ports = ports.findall("port") if ports is not None else []
            if ports is not None and open_ports and rng.random() < 0.10:
                ports.remove(open_ports[-1])
            if rng.random() < 0.02:
                swap += [a for a in host.findall("address") if a.get("addrtype") == "ipv4"][:1]
        for a, b in zip(swap[::2], swap[1::2]):
            a_addr, b_addr = a.get("addr"), b.get("addr")
            assert a_addr is not None and b_addr is not None    # nmap's <address> always carries addr
            moved += [a_addr, b_addr]
            a.set("addr", b_addr)
            b.set("addr", a_addr)
        target = out_dir / path.name
        target.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n' + _tostring(root))
        written.append(target)
    return written, moved


def _tostring(root) -> str:
    from xml.etree.ElementTree import tostring   # serialising our own tree: nothing untrusted is parsed
    return tostring(root, encoding="unicode")


def timed(store, settings, source: str, paths: list[Path]) -> float:
    refresh_statistics(store)
    started = time.perf_counter()
    summary = ingest_files(store, source, paths, settings)
    if summary.status != "succeeded":
        raise RuntimeError(f"{source}: {summary.status} {summary.error}")
    return time.perf_counter() - started


def run_modes(db, files: dict[str, list[Path]], day2: list[Path], repeat: int) -> dict[str, dict[str, list[float]]]:
    """Alternating on/off rounds on an emptied graph; seconds per phase per mode."""
    phases = ("nmap day 1", "snipeit load", "nmap day 2 (changes)")
    results: dict[str, dict[str, list[float]]] = {mode: {p: [] for p in phases} for mode in ("on", "off")}
    for mode in ("on", "off"):          # warm-up, not recorded: plans compiled, JVM warm, for both modes
        db.store.wipe()
        timed(db.store, replace(db.settings, change_log=mode == "on"), "nmap", files["nmap"])
    for round_ in range(repeat):
        for mode in (("on", "off") if round_ % 2 == 0 else ("off", "on")):
            settings = replace(db.settings, change_log=mode == "on")
            db.store.wipe()
            for phase, (source, paths) in zip(phases, (("nmap", files["nmap"]), ("snipeit", files["snipeit"]),
                                                       ("nmap", day2))):
                results[mode][phase].append(timed(db.store, settings, source, paths))
            print(f"  round {round_ + 1} log {mode:3}: " + ", ".join(
                f"{p} {results[mode][p][-1]:.1f} s" for p in phases), flush=True)
    return results


async def lookups(db, identifiers: list[tuple[str, datetime]]) -> tuple[list[float], list[float]]:
    """Milliseconds per as-of lookup and per present lookup (the floor), alternating, same identifiers."""
    driver = connect_async(db.settings)
    reader = GraphReader(driver, db.settings.neo4j_database, 30.0)
    as_of, present = [], []
    try:
        for text, moment in identifiers[:20]:        # warm the plans and the page cache
            await asset_as_of(reader, text, moment)
        for text, moment in identifiers:
            started = time.perf_counter()
            found = await asset_as_of(reader, text, moment)
            as_of.append((time.perf_counter() - started) * 1000)
            if found is None:
                raise RuntimeError(f"as-of lookup of {text!r} found nothing")
            started = time.perf_counter()
            asset_id = await find_asset_id(reader, text)
            if asset_id is None:
                raise RuntimeError(f"present lookup of {text!r} found nothing")
            await asset_contexts(reader, [asset_id])
            present.append((time.perf_counter() - started) * 1000)
    finally:
        await driver.close()
    return as_of, present


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def bytes_per_change(db) -> tuple[int, int, float, float]:
    """(Change nodes, changes they hold, bytes written to disk per change, bytes of change text per change):
    every Change node is copied once and the data directory's growth (transaction log and store files;
    Community has no checkpoint procedure) is divided by the changes copied."""
    row = db.store.read("MATCH (c:Change) RETURN count(c) AS nodes, sum(size(c.items)) AS text")[0]
    changes = sum(len(json.loads(r["items"])) for r in db.store.read("MATCH (c:Change) RETURN c.items AS items"))
    before = du(db.neo4j.home / "db")
    with db.store.driver.session(database=db.store.database) as session:
        session.run("MATCH (c:Change) CALL (c) { CREATE (d:Change) SET d = c {.*, id: c.id + '/copy'} } "
                    "IN TRANSACTIONS OF 10000 ROWS").consume()
        session.run("CALL db.awaitIndexes(300)").consume()
    after = du(db.neo4j.home / "db")
    return row["nodes"], changes, (after - before) / max(changes, 1), (row["text"] or 0) / max(changes, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2, help="rounds of on and off (alternating order); 0: "
                                                              "only as-of and size, after one load with the log on")
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    add_database_options(parser)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="history-bench-"))
    try:
        with private_database("history-bench", args.heap_mb, args.pagecache_mb) as db:
            print_machine(db)
            manifest = generate_org(work / "org", hosts=args.hosts, seed=args.seed, sources={"snipeit", "nmap"})
            files = manifest.files_by_source
            day2, moved = next_day_scans(files["nmap"], work / "day2", args.seed)
            print(f"{args.hosts} hosts, {len(files['nmap'])} scan files; day 2 moves {len(moved)} addresses")
            results = run_modes(db, files, day2, args.repeat) if args.repeat else {}   # then 'on' once more if needed
            if not db.store.read("MATCH (c:Change) RETURN count(c) > 0 AS any")[0]["any"]:
                db.store.wipe()
                settings = db.settings
                for source, paths in (("nmap", files["nmap"]), ("snipeit", files["snipeit"]), ("nmap", day2)):
                    timed(db.store, settings, source, paths)
            print("\nChange log overhead (median seconds, log on / log off)" if results else "")
            total_on = total_off = 0.0
            for phase in results.get("on", ()):
                on, off = median(results["on"][phase]), median(results["off"][phase])
                total_on, total_off = total_on + on, total_off + off
                print(f"  {phase:22} on {on:7.1f}  off {off:7.1f}  ratio {on / off:.2f}")
            if results:
                ratio = total_on / total_off
                print(f"  {'all three':22} on {total_on:7.1f}  off {total_off:7.1f}  ratio {ratio:.2f} "
                      f"(target <= {TARGET_RATIO}) {verdict(ratio <= TARGET_RATIO)}")
            refresh_statistics(db.store)
            # a moved address a second before it moved (the former holder, rewound); host names at a moment
            # after the runs (the same path: holder, history, rewind)
            moves = [(r["key"][3:], r["at"].to_native() - timedelta(seconds=1)) for r in db.store.read(
                "MATCH (c:Change) WHERE c.subject STARTS WITH 'ip:' AND c.holder IS NOT NULL AND c.prior IS NOT NULL "
                "RETURN c.subject AS key, min(c.at) AS at ORDER BY key")]
            names = [r["name"] for r in db.store.read(
                "MATCH (:Identifier {kind: 'hostname'})-[:IDENTIFIES]->(a:Asset)-[:SEEN_BY]->(:Source {name: 'nmap'}) "
                "RETURN DISTINCT a.name AS name ORDER BY name LIMIT $n", n=args.lookups * 3)]
            rng = random.Random(args.seed)
            later = datetime.now(timezone.utc) + timedelta(minutes=1)
            identifiers = (moves + [(n, later) for n in rng.sample(names, min(len(names), args.lookups))]
                           )[:args.lookups]
            moment = moves[0][1] if moves else later
            as_of, present = asyncio.run(lookups(db, identifiers))
            p99, floor = percentile(as_of, 99), percentile(present, 99)
            print(f"\nasset(asOf) on {len(identifiers)} identifiers ({len(moves)} moved IPs, each a second before "
                  f"its move, e.g. {moment.isoformat()}; then host names after the runs)")
            print(f"  as-of   p50 {percentile(as_of, 50):6.1f} ms  p99 {p99:6.1f} ms  (target p99 < {TARGET_P99_MS:g}) "
                  f"{verdict(p99 < TARGET_P99_MS)}")
            print(f"  present p50 {percentile(present, 50):6.1f} ms  p99 {floor:6.1f} ms  (floor: find_asset_id + "
                  f"asset_contexts); ratio p99 {p99 / floor:.2f}")
            nodes, count, each, text = bytes_per_change(db)
            print(f"\nChange log size: {count} changes in {nodes} nodes; {each:.0f} bytes written to disk per change "
                  f"(nodes, properties, 3 indexes, the id constraint; transaction log and store) = "
                  f"{each * 1e6 / 2**20:.0f} MiB per million changes; the change text alone {text:.0f} bytes each")
            print(f"Load at end: {load_average()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
