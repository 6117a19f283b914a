"""``generate_org``: the demo company written out as every source's real-format files."""
from __future__ import annotations

import argparse
import ipaddress
import json
import math
import random
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from demo.aws import CLOUD_SHARE, MAX_CLOUD_HOSTS, MIN_CLOUD_HOSTS, plan_cloud, write_aws
from demo.certificates import mint_certificates, write_certificates
from demo.contracts import write_contracts
from demo.coverage import write_coverage
from demo.highlights import describe_highlights, describe_new_highlights
from demo.hr import write_hr
from demo.licenses import write_licenses
from demo.nmap import write_nmap_scans
from demo.org import (
    ARCHIVED, DEFAULT_SCAN_DATE, DEPLOYED, DISPOSED, HOSTS_PER_SUBNET, LAPTOP, MIN_HOSTS, NETWORK, READY,
    REPAIR, SERVER, SUBNET_CAPACITY, UNKNOWN_DEVICE_SHARE, WORKSTATION, Asset, Person, UnknownDevice,
    build_company, must,
)
from demo.osquery import write_osquery
from demo.plan import Plan, plan_extras
from demo.sbom import write_sboms
from demo.scim import write_scim
from demo.snipeit import write_snipeit

__all__ = ["OrgManifest", "SOURCE_ORDER", "default_cloud_hosts", "generate_org", "main"]

# Every source the demo can write, in ingest order (directories first, then the inventory of
# record and its licences and contracts, then cloud, discovery, coverage and the rest).
# Control consoles load before the scans, so the scans meet the MAC the swapped-board MDM record put on
# two laptops and record the identity conflict on the first load, as they would in production.
SOURCE_ORDER = (
    "hr", "scim", "snipeit", "licenses", "contracts", "aws", "coverage", "nmap", "osquery",
    "certificates", "sbom",
)


@dataclass(frozen=True)
class OrgManifest:
    """What :func:`generate_org` wrote.

    ``files`` is every written path in ingestion order; ``files_by_source`` groups the same
    paths by connector source name (keys in :data:`SOURCE_ORDER`, only the sources that were
    generated; for ``certificates`` the entry is the ``certs/`` folder).  ``highlights`` names
    hosts and people the demo tells a story about, each a dict with ``hostname, ip, mac,
    serial, asset_tag`` (any may be None), ``story`` and sometimes ``email``, ``cloud_id``.
    """

    out_dir: Path
    files: list[Path]
    counts: dict[str, int]
    highlights: dict[str, dict[str, str | None]]
    files_by_source: dict[str, list[Path]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-serialisable view of the manifest."""
        return {
            "out_dir": str(self.out_dir),
            "files": [str(path) for path in self.files],
            "files_by_source": {name: [str(p) for p in paths] for name, paths in self.files_by_source.items()},
            "counts": dict(self.counts),
            "highlights": {name: dict(host) for name, host in self.highlights.items()},
        }


def generate_org(
    out_dir: Path,
    hosts: int = 300,
    seed: int = 7,
    scan_date: date = DEFAULT_SCAN_DATE,
    subnets: int | None = None,
    sources: set[str] | None = None,
    cloud_hosts: int | None = None,
) -> OrgManifest:
    """Generate a demo company of ``hosts`` inventoried assets into ``out_dir``.

    Writes ``hr.csv``, ``snipeit-assets.csv`` and one ``nmap-<subnet>.xml`` per /24 subnet
    (default ``max(3, ceil(hosts / 200))`` subnets from 10.0.1.0/24 upwards), and the other
    sources' files (see :data:`SOURCE_ORDER`): ``scim-users.json``, ``snipeit-licenses.csv``,
    ``contracts.csv``, ``aws-*.json`` (``cloud_hosts`` EC2 instances, default
    :func:`default_cloud_hosts`), ``osquery-results.log``, ``coverage-{edr,mdm,logging}.csv``,
    ``certs/*.pem`` and ``sbom-<app>.cdx.json``.  ``sources`` limits what is written (None: all);
    the company itself is the same whatever is written, and each file is byte-identical for
    equal arguments.
    """
    wanted = _check_sources(sources)
    if hosts < MIN_HOSTS:
        raise ValueError(f"hosts must be at least {MIN_HOSTS}, got {hosts}")
    subnet_count = subnets if subnets is not None else max(3, math.ceil(hosts / HOSTS_PER_SUBNET))
    if subnet_count < 1:
        raise ValueError(f"subnets must be at least 1, got {subnet_count}")
    unknown_count = max(1, round(hosts * UNKNOWN_DEVICE_SHARE))
    needed = math.ceil(hosts / subnet_count) + math.ceil(unknown_count / subnet_count)
    if needed > SUBNET_CAPACITY:
        raise ValueError(
            f"{subnet_count} subnets cannot hold {hosts} hosts (+{unknown_count} unknown devices); "
            f"a /24 holds {SUBNET_CAPACITY} here"
        )
    cloud_count = cloud_hosts if cloud_hosts is not None else default_cloud_hosts(hosts)
    if not MIN_CLOUD_HOSTS <= cloud_count <= MAX_CLOUD_HOSTS:
        raise ValueError(f"cloud_hosts must be between {MIN_CLOUD_HOSTS} and {MAX_CLOUD_HOSTS}, got {cloud_count}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    company = build_company(rng, hosts, subnet_count, unknown_count, scan_date)
    people, assets, picks, devices, networks = (
        company.people, company.assets, company.picks, company.devices, company.networks)

    # Everything below draws from its own seeded stream (never from ``rng``, which the nmap
    # writer consumes), so the original three sources are unchanged and each file is the
    # same whichever other sources are written.
    plan = plan_extras(seed, scan_date, people, assets, picks)
    certs = mint_certificates(seed, scan_date, plan) if wanted & {"certificates", "osquery"} else None
    cloud = plan_cloud(seed, scan_date, people, plan, cloud_count) if "aws" in wanted else None

    written: dict[str, list[Path]] = {}
    counts: dict[str, int] = {}
    for source in SOURCE_ORDER:
        if source not in wanted:
            continue
        if source == "hr":
            written[source] = [write_hr(out_dir / "hr.csv", people)]
        elif source == "scim":
            written[source] = [write_scim(out_dir / "scim-users.json", seed, scan_date, people)]
        elif source == "snipeit":
            written[source] = [write_snipeit(out_dir / "snipeit-assets.csv", assets)]
        elif source == "licenses":
            written[source] = [write_licenses(out_dir / "snipeit-licenses.csv", seed, scan_date, plan, counts)]
        elif source == "contracts":
            written[source] = [write_contracts(out_dir / "contracts.csv", seed, scan_date, assets, counts)]
        elif source == "aws":
            written[source] = write_aws(out_dir, seed, scan_date, must(cloud), counts)
        elif source == "nmap":
            written[source], scan_counts = write_nmap_scans(
                rng, out_dir, networks, assets, devices, company.free_offsets, scan_date
            )
            counts.update(scan_counts)
        elif source == "osquery":
            written[source] = [write_osquery(out_dir / "osquery-results.log", seed, scan_date, plan, certs, counts)]
        elif source == "coverage":
            written[source] = write_coverage(out_dir, scan_date, assets, counts)
        elif source == "certificates":
            written[source] = [write_certificates(out_dir / "certs", must(certs), counts)]
        elif source == "sbom":
            written[source] = write_sboms(out_dir, seed, scan_date, counts)

    counts = {**_count(people, assets, devices, networks, plan, "nmap" in wanted), **counts}
    highlights = describe_highlights(picks, devices[0], networks, scan_date)
    highlights.update(describe_new_highlights(plan, certs, cloud, wanted, scan_date))
    return OrgManifest(
        out_dir=out_dir,
        files=[path for source in SOURCE_ORDER for path in written.get(source, [])],
        counts=counts,
        highlights=highlights,
        files_by_source=written,
    )


def default_cloud_hosts(hosts: int) -> int:
    """A tenth of the hosts run in AWS: at least ``MIN_CLOUD_HOSTS``, at most ``MAX_CLOUD_HOSTS`` (what
    the VPC's fifteen /20 subnets hold), so a million-host company still generates."""
    return min(MAX_CLOUD_HOSTS, max(MIN_CLOUD_HOSTS, round(hosts * CLOUD_SHARE)))


def _check_sources(sources) -> set[str]:
    if sources is None:
        return set(SOURCE_ORDER)
    if isinstance(sources, str):
        sources = {sources}
    wanted = set(sources)
    unknown = sorted(wanted - set(SOURCE_ORDER))
    if unknown:
        raise ValueError(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(SOURCE_ORDER)}")
    return wanted


def _count(
    people: list[Person],
    assets: list[Asset],
    devices: list[UnknownDevice],
    networks: list[ipaddress.IPv4Network],
    plan: Plan,
    nmap_written: bool,
) -> dict[str, int]:
    def tally(predicate) -> int:
        return sum(1 for a in assets if predicate(a))

    counts = {
        "people": len(people),
        "people_departed": sum(1 for p in people if p.end_date is not None),
        "assets": len(assets),
        "servers": tally(lambda a: a.kind == SERVER),
        "workstations": tally(lambda a: a.kind == WORKSTATION),
        "laptops": tally(lambda a: a.kind == LAPTOP),
        "network_devices": tally(lambda a: a.kind == NETWORK),
    }
    for status in (DEPLOYED, READY, REPAIR, ARCHIVED, DISPOSED):
        counts["status_" + status.lower().replace(" ", "_")] = tally(lambda a, s=status: a.status == s)
    counts.update({
        "assets_with_departed_owner": tally(lambda a: a.owner is not None and a.owner.end_date is not None),
        "assets_seen_by_nmap": tally(lambda a: a.seen),
        "assets_seen_without_hostname": tally(lambda a: a.seen and not a.has_ptr),
        "unknown_devices": len(devices),
        "subnets": len(networks),
    })
    if nmap_written:
        counts["nmap_files"] = len(networks)
    counts.update({
        "hosts_with_agent": tally(lambda a: a.agent),
        "hosts_with_edr": tally(lambda a: a.edr_seen is not None),
        "hosts_with_mdm": tally(lambda a: a.mdm_seen is not None),
        "hosts_with_logging": tally(lambda a: a.log_seen is not None),
        "vpn_holders": len(plan.vpn_holders),
    })
    return counts




def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m demo OUT_DIR [--hosts N] [--seed S] [--sources a,b]``."""
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Generate a deterministic demo company as every source's real-format files.",
    )
    parser.add_argument("out_dir", type=Path, help="directory to write the files into")
    parser.add_argument("--hosts", type=int, default=300, help="inventoried assets (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--subnets", type=int, default=None, help="number of /24 subnets")
    parser.add_argument("--scan-date", type=date.fromisoformat, default=DEFAULT_SCAN_DATE,
                        help="date of the nmap scans, YYYY-MM-DD (default %(default)s)")
    parser.add_argument("--sources", default=None,
                        help=f"comma-separated sources to write (default all: {','.join(SOURCE_ORDER)})")
    parser.add_argument("--cloud-hosts", type=int, default=None,
                        help="EC2 instances in the AWS account (default max(5, hosts/10), at most 60000)")
    args = parser.parse_args(argv)
    sources = None if args.sources is None else {s.strip() for s in args.sources.split(",") if s.strip()}
    manifest = generate_org(args.out_dir, hosts=args.hosts, seed=args.seed, scan_date=args.scan_date,
                            subnets=args.subnets, sources=sources, cloud_hosts=args.cloud_hosts)
    print(json.dumps(manifest.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
