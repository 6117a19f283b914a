"""Re-ingesting unchanged files costs time linear in their size: a tarpit host and a large SBOM.

A scan of one host answering on N ports, and a CycloneDX SBOM of one application with M components,
each ingested into a fresh database and then ingested again unchanged (the second run must prune
nothing and rewrite the same facts). Each size is run at N and 2N: a linear statement takes about twice
as long at 2N, a quadratic one four times. Usage:

    python -m bench.reingest_bench --ports 2000,4000 --components 20000,40000
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.common import add_database_options, host_counts, print_machine, private_database
from ingest.pipeline import ingest_files


def tarpit_scan(path: Path, ports: int) -> Path:
    """An nmap -sV XML scan of one host with `ports` open TCP ports."""
    rows = "".join(f'<port protocol="tcp" portid="{n}"><state state="open" reason="syn-ack"/>'
                   f'<service name="tarpit" method="probed" conf="10"/></port>' for n in range(1, ports + 1))
    path.write_text('<?xml version="1.0"?><!DOCTYPE nmaprun><nmaprun scanner="nmap" args="nmap -sV" '
                    'start="1763625600" version="7.94" xmloutputversion="1.05"><host starttime="1763625600" '
                    'endtime="1763625600"><status state="up" reason="syn-ack"/><address addr="10.66.0.1" '
                    'addrtype="ipv4"/><hostnames><hostname name="tarpit-01" type="PTR"/></hostnames>'
                    f'<ports>{rows}</ports></host><runstats><finished time="1763625660" exit="success"/>'
                    '<hosts up="1" down="0" total="1"/></runstats></nmaprun>\n')
    return path


def large_sbom(path: Path, components: int) -> Path:
    """A CycloneDX 1.5 SBOM of one application with `components` npm packages."""
    path.write_text(json.dumps({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"component": {"type": "application", "name": "monorepo", "version": "1.0.0"}},
        "components": [{"type": "library", "name": f"pkg-{i}", "version": "1.0.0", "purl": f"pkg:npm/pkg-{i}@1.0.0"}
                       for i in range(components)]}))
    return path


def twice(args, source: str, make, size: int, work: Path, show_machine: bool) -> tuple[float, float]:
    """(first ingest, unchanged re-ingest) seconds, in a fresh database."""
    with private_database(f"reingest-{source}", args.heap_mb, args.pagecache_mb) as db:
        if show_machine:
            print_machine(db)
        path = make(work / f"{source}-{size}", size)
        times = []
        for _ in range(2):
            started = time.perf_counter()
            ingest_files(db.store, source, [path], db.settings)
            times.append(time.perf_counter() - started)
        return times[0], times[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reingest_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=host_counts, default=host_counts("2000,4000"))
    parser.add_argument("--components", type=host_counts, default=host_counts("20000,40000"))
    add_database_options(parser)
    args = parser.parse_args(argv)
    rows: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="reingest-") as tmp:
        for source, make, sizes in (("nmap", tarpit_scan, args.ports), ("sbom", large_sbom, args.components)):
            for size in sizes:
                first, again = twice(args, source, make, size, Path(tmp), show_machine=not rows)
                rows.append((source, size, first, again))
                print(f"{source} {size}: first {first:.2f} s, unchanged again {again:.2f} s", flush=True)
    print("\n  source      size   first s   again s")
    for source, size, first, again in rows:
        print(f"  {source:<6} {size:>9}  {first:>8.2f}  {again:>8.2f}")


if __name__ == "__main__":
    main()
