"""Seeded, deterministic generator of a realistic small company as real-format files.

The demo and the benchmarks feed these files to the product's connectors exactly as
a customer would, one set per source (see ``SOURCE_ORDER``):

- ``hr.csv`` (HR directory) and ``scim-users.json`` (the identity provider's SCIM 2.0
  ListResponse of the same people);
- ``snipeit-assets.csv`` (the inventory of record), ``snipeit-licenses.csv`` (licence seats)
  and ``contracts.csv`` (support contracts);
- ``aws-ec2-describe-{instances,security-groups,subnets,vpcs}.json`` and
  ``aws-iam-credential-report.json`` (an AWS account with an internet-facing bastion, app
  servers behind it and databases behind those);
- one ``nmap -sV -O`` XML report per /24 subnet, and ``osquery-results.log`` (osqueryd's
  result log: snapshots of system_info, os_version, packages, interfaces, listening ports,
  certificates and authorized_keys from ~85% of deployed hosts);
- ``coverage-{edr,mdm,logging}.csv`` (control consoles' exports, deliberately incomplete);
- ``certs/`` (an internal CA, TLS server and VPN client certificates, no private keys) and
  ``sbom-<app>.cdx.json`` (CycloneDX 1.5 SBOMs of two internal applications).

Everything is derived from ``random.Random(seed)`` streams consumed in a fixed order (the
original HR/Snipe-IT/nmap stream, and one named stream per new concern), and no wall-clock
time is used, so a given (hosts, seed, scan_date, subnets, cloud_hosts) always produces
byte-identical files, whichever ``sources`` are written.  Rows, hosts and instances are
written as they are rendered, so 100k hosts stream out without building large strings.

Usage::

    python -m ingest.demo_org OUT_DIR [--hosts N] [--seed S] [--subnets K] [--scan-date YYYY-MM-DD]
                                      [--sources hr,snipeit,nmap,...] [--cloud-hosts N]
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import ipaddress
import json
import math
import random
import uuid as uuid_module
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

__all__ = ["OrgManifest", "SOURCE_ORDER", "generate_org", "main"]

DEFAULT_SCAN_DATE = date(2026, 11, 20)
EMAIL_DOMAIN = "example.com"
DNS_SUFFIX = ".corp.example.com"
MIN_HOSTS = 10

# --------------------------------------------------------------------------- people

DEPARTMENTS = ("Engineering", "IT", "Finance", "Sales", "HR", "Operations")
DEPARTMENT_WEIGHTS = (35, 10, 10, 22, 5, 18)
PEOPLE_PER_HOST = 0.8
DEPARTED_SHARE = 0.06

FIRST_NAMES = (
    "Aisha", "Alex", "Amelia", "Andrew", "Anna", "Ben", "Carlos", "Chloe", "Daniel",
    "David", "Elena", "Emily", "Emma", "Ethan", "Fatima", "Grace", "Hannah", "Isaac",
    "James", "Jin", "Julia", "Kevin", "Laura", "Liam", "Lucas", "Maria", "Mateo", "Maya",
    "Michael", "Mohammed", "Nadia", "Noah", "Olivia", "Omar", "Priya", "Rachel", "Rahul",
    "Ryan", "Sara", "Sofia", "Thomas", "Wei", "William", "Yuki", "Zoe",
)
LAST_NAMES = (
    "Anderson", "Baker", "Brown", "Chen", "Clark", "Davis", "Evans", "Fischer", "Garcia",
    "Gonzalez", "Green", "Hall", "Harris", "Hughes", "Ivanova", "Jackson", "Johnson", "Kim",
    "Kowalski", "Lee", "Lewis", "Lopez", "Martin", "Martinez", "Miller", "Moore", "Nguyen",
    "O'Brien", "Patel", "Perez", "Roberts", "Robinson", "Rossi", "Sanchez", "Schmidt",
    "Singh", "Smith", "Taylor", "Thomas", "Thompson", "Walker", "White", "Williams",
    "Wilson", "Wright", "Young",
)

# --------------------------------------------------------------------------- assets

SERVER, WORKSTATION, LAPTOP, NETWORK = "server", "workstation", "laptop", "network"
KIND_SHARES = ((SERVER, 0.25), (WORKSTATION, 0.20), (NETWORK, 0.10))  # laptops: the rest
CATEGORY = {SERVER: "Servers", WORKSTATION: "Desktops", LAPTOP: "Laptops", NETWORK: "Networking"}

DEPLOYED, READY, REPAIR, ARCHIVED, DISPOSED = (
    "Deployed", "Ready to Deploy", "Out for Repair", "Archived", "Disposed",
)
STATUS_SHARES = ((READY, 0.05), (REPAIR, 0.03), (ARCHIVED, 0.03), (DISPOSED, 0.01))
OWNED_STATUSES = (DEPLOYED, REPAIR)
OFF_NETWORK_STATUSES = (READY, ARCHIVED, DISPOSED)
LAPTOP_SEEN_SHARE = 0.60
NO_PTR_SHARE = 0.02
UNKNOWN_DEVICE_SHARE = 0.03
LEAVER_ASSET_SHARE = 0.01
WARRANTY_MONTHS = 36
EOL_YEARS = 5

SERVER_ROLES = (("web", 30), ("app", 28), ("db", 20), ("files", 12), ("ci", 10))
NETWORK_ROLES = (("sw", 50), ("ap", 35), ("fw", 15))

MANUFACTURER_WEIGHTS = {
    SERVER: (("Dell", 50), ("HP", 30), ("Supermicro", 20)),
    WORKSTATION: (("Dell", 50), ("HP", 30), ("Lenovo", 20)),
    LAPTOP: (("Dell", 35), ("Lenovo", 25), ("HP", 20), ("Apple", 20)),
    NETWORK: (("Cisco", 100),),
}

# (model, list price in USD), keyed by kind then manufacturer (network gear: by role).
MODEL_CATALOG = {
    SERVER: {
        "Dell": (("PowerEdge R650", 8900), ("PowerEdge R750", 11500), ("PowerEdge R6515", 7200)),
        "HP": (("ProLiant DL360 Gen10 Plus", 8400), ("ProLiant DL380 Gen10 Plus", 10900)),
        "Supermicro": (("SuperServer SYS-1029P-WTR", 6400), ("SuperServer SYS-2029P-C1R", 7800)),
    },
    WORKSTATION: {
        "Dell": (("OptiPlex 7090", 1049), ("OptiPlex 7010", 999)),
        "HP": (("EliteDesk 800 G6", 1129), ("EliteDesk 800 G9", 1199)),
        "Lenovo": (("ThinkCentre M70q Gen 3", 899), ("ThinkCentre M90q Gen 3", 1099)),
    },
    LAPTOP: {
        "Dell": (("Latitude 5440", 1299), ("Latitude 7440", 1649)),
        "HP": (("EliteBook 840 G9", 1549), ("EliteBook 840 G10", 1699)),
        "Lenovo": (("ThinkPad T14 Gen 3", 1399), ("ThinkPad X1 Carbon Gen 11", 1999)),
        "Apple": (("MacBook Pro 14 M3", 1999), ("MacBook Air 13 M2", 1199)),
    },
    NETWORK: {
        "sw": (("Catalyst 9300-48P", 6900), ("Catalyst 9200L-24P-4G", 2900)),
        "fw": (("Firepower 1120", 4200), ("ASA 5516-X", 3800)),
        "ap": (("Catalyst 9120AXI", 1095), ("Aironet 2802I", 895)),
    },
}

OUI = {
    "Dell": "00:14:22", "HP": "3c:d9:2b", "Lenovo": "54:ee:75", "Apple": "a4:83:e7",
    "Cisco": "00:1b:54", "Supermicro": "0c:c4:7a",
}
NMAP_MAC_VENDOR = {
    "Dell": "Dell", "HP": "Hewlett Packard", "Lenovo": "Lenovo", "Apple": "Apple",
    "Cisco": "Cisco Systems", "Supermicro": "Super Micro Computer",
}

LOCATIONS = ("Datacenter-1", "HQ", "Branch-North")  # also the order subnets are filled in
LOCATION_WEIGHTS = {
    SERVER: (("Datacenter-1", 90), ("HQ", 10)),
    WORKSTATION: (("HQ", 70), ("Branch-North", 30)),
    LAPTOP: (("HQ", 65), ("Branch-North", 35)),
    NETWORK: (("HQ", 40), ("Branch-North", 30), ("Datacenter-1", 30)),
}

# Unknown (not inventoried) devices: (type, weight); MAC vendors per type.
UNKNOWN_DEVICE_TYPES = (("printer", 35), ("raspberrypi", 25), ("camera", 20), ("iot", 20))
UNKNOWN_DEVICE_VENDORS = {
    "printer": (("3c:d9:2b", "Hewlett Packard"), ("00:80:77", "Brother Industries")),
    "raspberrypi": (("b8:27:eb", "Raspberry Pi Foundation"), ("dc:a6:32", "Raspberry Pi Trading")),
    "camera": (("44:19:b6", "Hangzhou Hikvision Digital Technology"),),
    "iot": (("24:0a:c4", "Espressif"),),
}

# --------------------------------------------------------------------------- network

FIRST_HOST_OFFSET, LAST_HOST_OFFSET = 10, 250
SUBNET_CAPACITY = LAST_HOST_OFFSET - FIRST_HOST_OFFSET + 1
HOSTS_PER_SUBNET = 200
SCAN_START = time(8, 0)
SCAN_STAGGER_SECONDS = 240

# nmap's default "top 1000" TCP ports, exactly as nmap 7.9x prints them in <scaninfo>.
NMAP_TOP_TCP_PORTS = (
    "1,3-4,6-7,9,13,17,19-26,30,32-33,37,42-43,49,53,70,79-85,88-90,99-100,106,109-111,113,"
    "119,125,135,139,143-144,146,161,163,179,199,211-212,222,254-256,259,264,280,301,306,311,"
    "340,366,389,406-407,416-417,425,427,443-445,458,464-465,481,497,500,512-515,524,541,"
    "543-545,548,554-555,563,587,593,616-617,625,631,636,646,648,666-668,683,687,691,700,705,"
    "711,714,720,722,726,749,765,777,783,787,800-801,808,843,873,880,888,898,900-903,911-912,"
    "981,987,990,992-993,995,999-1002,1007,1009-1011,1021-1100,1102,1104-1108,1110-1114,1117,"
    "1119,1121-1124,1126,1130-1132,1137-1138,1141,1145,1147-1149,1151-1152,1154,1163-1166,"
    "1169,1174-1175,1183,1185-1187,1192,1198-1199,1201,1213,1216-1218,1233-1234,1236,1244,"
    "1247-1248,1259,1271-1272,1277,1287,1296,1300-1301,1309-1311,1322,1328,1334,1352,1417,"
    "1433-1434,1443,1455,1461,1494,1500-1501,1503,1521,1524,1533,1556,1580,1583,1594,1600,"
    "1641,1658,1666,1687-1688,1700,1717-1721,1723,1755,1761,1782-1783,1801,1805,1812,"
    "1839-1840,1862-1864,1875,1900,1914,1935,1947,1971-1972,1974,1984,1998-2010,2013,"
    "2020-2022,2030,2033-2035,2038,2040-2043,2045-2049,2065,2068,2099-2100,2103,2105-2107,"
    "2111,2119,2121,2126,2135,2144,2160-2161,2170,2179,2190-2191,2196,2200,2222,2251,2260,"
    "2288,2301,2323,2366,2381-2383,2393-2394,2399,2401,2492,2500,2522,2525,2557,2601-2602,"
    "2604-2605,2607-2608,2638,2701-2702,2710,2717-2718,2725,2800,2809,2811,2869,2875,"
    "2909-2910,2920,2967-2968,2998,3000-3001,3003,3005-3007,3011,3013,3017,3030-3031,3052,"
    "3071,3077,3128,3168,3211,3221,3260-3261,3268-3269,3283,3300-3301,3306,3322-3325,3333,"
    "3351,3367,3369-3372,3389-3390,3404,3476,3493,3517,3527,3546,3551,3580,3659,3689-3690,"
    "3703,3737,3766,3784,3800-3801,3809,3814,3826-3828,3851,3869,3871,3878,3880,3889,3905,"
    "3914,3918,3920,3945,3971,3986,3995,3998,4000-4006,4045,4111,4125-4126,4129,4224,4242,"
    "4279,4321,4343,4443-4446,4449,4550,4567,4662,4848,4899-4900,4998,5000-5004,5009,5030,"
    "5033,5050-5051,5054,5060-5061,5080,5087,5100-5102,5120,5190,5200,5214,5221-5222,"
    "5225-5226,5269,5280,5298,5357,5405,5414,5431-5432,5440,5500,5510,5544,5550,5555,5560,"
    "5566,5631,5633,5666,5678-5679,5718,5730,5800-5802,5810-5811,5815,5822,5825,5850,5859,"
    "5862,5877,5900-5904,5906-5907,5910-5911,5915,5922,5925,5950,5952,5959-5963,5987-5989,"
    "5998-6007,6009,6025,6059,6100-6101,6106,6112,6123,6129,6156,6346,6389,6502,6510,6543,"
    "6547,6565-6567,6580,6646,6666-6669,6689,6692,6699,6779,6788-6789,6792,6839,6881,6901,"
    "6969,7000-7002,7004,7007,7019,7025,7070,7100,7103,7106,7200-7201,7402,7435,7443,7496,"
    "7512,7625,7627,7676,7741,7777-7778,7800,7911,7920-7921,7937-7938,7999-8002,8007-8011,"
    "8021-8022,8031,8042,8045,8080-8090,8093,8099-8100,8180-8181,8192-8194,8200,8222,8254,"
    "8290-8292,8300,8333,8383,8400,8402,8443,8500,8600,8649,8651-8652,8654,8701,8800,8873,"
    "8888,8899,8994,9000-9003,9009-9011,9040,9050,9071,9080-9081,9090-9091,9099-9103,"
    "9110-9111,9200,9207,9220,9290,9415,9418,9485,9500,9502-9503,9535,9575,9593-9595,9618,"
    "9666,9876-9878,9898,9900,9917,9929,9943-9944,9968,9998-10004,10009-10010,10012,"
    "10024-10025,10082,10180,10215,10243,10566,10616-10617,10621,10626,10628-10629,10778,"
    "11110-11111,11967,12000,12174,12265,12345,13456,13722,13782-13783,14000,14238,"
    "14441-14442,15000,15002-15004,15660,15742,16000-16001,16012,16016,16018,16080,16113,"
    "16992-16993,17877,17988,18040,18101,18988,19101,19283,19315,19350,19780,19801,19842,"
    "20000,20005,20031,20221-20222,20828,21571,22939,23502,24444,24800,25734-25735,26214,"
    "27000,27352-27353,27355-27356,27715,28201,30000,30718,30951,31038,31337,32768-32785,"
    "33354,33899,34571-34573,35500,38292,40193,40911,41511,42510,44176,44442-44443,44501,"
    "45100,48080,49152-49161,49163,49165,49167,49175-49176,49400,49999-50003,50006,50300,"
    "50389,50500,50636,50800,51103,51493,52673,52822,52848,52869,54045,54328,55055-55056,"
    "55555,55600,56737-56738,57294,57797,58080,60020,60443,61532,61900,62078,63331,64623,"
    "64680,65000,65129,65389"
)


# =========================================================================== public API

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
    ``max(5, round(hosts / 10))``), ``osquery-results.log``, ``coverage-{edr,mdm,logging}.csv``,
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
    cloud_count = cloud_hosts if cloud_hosts is not None else max(MIN_CLOUD_HOSTS, round(hosts * CLOUD_SHARE))
    if not MIN_CLOUD_HOSTS <= cloud_count <= MAX_CLOUD_HOSTS:
        raise ValueError(f"cloud_hosts must be between {MIN_CLOUD_HOSTS} and {MAX_CLOUD_HOSTS}, got {cloud_count}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    networks = _subnet_networks(subnet_count)

    people = _build_people(rng, max(2 * len(DEPARTMENTS), round(hosts * PEOPLE_PER_HOST)), scan_date)
    registry = _Registry()
    assets, picks = _build_assets(rng, hosts, scan_date, registry)
    _assign_owners(rng, assets, people)
    _leave_assets_with_leavers(rng, assets, people, picks["departed_owner"])
    for asset in assets:
        asset.os = _pick_os(rng, asset)
    _decide_visibility(rng, assets, forced_seen=(picks["decommissioned_alive"], picks["departed_owner"]))
    picks["unseen_laptop"] = _pick_unseen_laptop(rng, assets)
    devices = _build_unknown_devices(rng, unknown_count, registry.macs)
    free_offsets = _place_on_network(rng, assets, devices, networks)

    # Everything below draws from its own seeded stream (never from ``rng``, which the nmap
    # writer consumes), so the original three sources are unchanged and each file is the
    # same whichever other sources are written.
    plan = _plan_extras(seed, scan_date, people, assets, picks)
    certs = _mint_certificates(seed, scan_date, plan) if wanted & {"certificates", "osquery"} else None
    cloud = _plan_cloud(seed, scan_date, people, plan, cloud_count) if "aws" in wanted else None

    written: dict[str, list[Path]] = {}
    counts: dict[str, int] = {}
    for source in SOURCE_ORDER:
        if source not in wanted:
            continue
        if source == "hr":
            written[source] = [_write_hr(out_dir / "hr.csv", people)]
        elif source == "scim":
            written[source] = [_write_scim(out_dir / "scim-users.json", seed, scan_date, people)]
        elif source == "snipeit":
            written[source] = [_write_snipeit(out_dir / "snipeit-assets.csv", assets)]
        elif source == "licenses":
            written[source] = [_write_licenses(out_dir / "snipeit-licenses.csv", seed, scan_date, plan, counts)]
        elif source == "contracts":
            written[source] = [_write_contracts(out_dir / "contracts.csv", seed, scan_date, assets, counts)]
        elif source == "aws":
            written[source] = _write_aws(out_dir, seed, scan_date, cloud, counts)
        elif source == "nmap":
            written[source], scan_counts = _write_nmap_scans(
                rng, out_dir, networks, assets, devices, free_offsets, scan_date
            )
            counts.update(scan_counts)
        elif source == "osquery":
            written[source] = [_write_osquery(out_dir / "osquery-results.log", seed, scan_date, plan, certs, counts)]
        elif source == "coverage":
            written[source] = _write_coverage(out_dir, scan_date, assets, counts)
        elif source == "certificates":
            written[source] = [_write_certificates(out_dir / "certs", certs, counts)]
        elif source == "sbom":
            written[source] = _write_sboms(out_dir, seed, scan_date, counts)

    counts = {**_count(people, assets, devices, networks, plan, "nmap" in wanted), **counts}
    highlights = _describe_highlights(picks, devices[0], networks, scan_date)
    highlights.update(_describe_new_highlights(plan, certs, cloud, wanted, scan_date))
    return OrgManifest(
        out_dir=out_dir,
        files=[path for source in SOURCE_ORDER for path in written.get(source, [])],
        counts=counts,
        highlights=highlights,
        files_by_source=written,
    )


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


# =========================================================================== people


@dataclass(slots=True)
class Person:
    """One row of the HR directory."""

    employee_id: str
    name: str
    email: str
    department: str
    manager_email: str
    start_date: date
    end_date: date | None = None


def _build_people(rng: random.Random, count: int, scan_date: date) -> list[Person]:
    """Staff in hire order: one head per department first, managers from early hires."""
    start_dates = sorted(scan_date - timedelta(days=rng.randint(30, 8 * 365)) for _ in range(count))
    departments = list(DEPARTMENTS) + rng.choices(
        DEPARTMENTS, weights=DEPARTMENT_WEIGHTS, k=count - len(DEPARTMENTS)
    )
    email_uses: dict[str, int] = {}
    teams: dict[str, list[Person]] = {name: [] for name in DEPARTMENTS}
    managers: set[str] = set()
    people: list[Person] = []
    for number, (start_date, department) in enumerate(zip(start_dates, departments), start=1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        team = teams[department]
        manager_email = ""
        if team:  # leads are the earliest ~10% of the team so far
            manager_email = rng.choice(team[: len(team) // 10 + 1]).email
            managers.add(manager_email)
        person = Person(
            employee_id=f"E{number:04d}",
            name=f"{first} {last}",
            email=_unique_email(first, last, email_uses),
            department=department,
            manager_email=manager_email,
            start_date=start_date,
        )
        team.append(person)
        people.append(person)
    _mark_leavers(rng, people, managers, scan_date)
    return people


def _unique_email(first: str, last: str, uses: dict[str, int]) -> str:
    """``first.last@example.com``; later namesakes get a digit suffix (``first.last2``)."""
    local = f"{_ascii_letters(first)}.{_ascii_letters(last)}"
    uses[local] = uses.get(local, 0) + 1
    suffix = str(uses[local]) if uses[local] > 1 else ""
    return f"{local}{suffix}@{EMAIL_DOMAIN}"


def _ascii_letters(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isascii() and ch.isalpha())


def _mark_leavers(rng: random.Random, people: list[Person], managers: set[str], scan_date: date) -> None:
    """Give ~6% of individual contributors an end date 10-200 days before the scan."""
    latest_start = scan_date - timedelta(days=240)
    candidates = [
        p for p in people
        if p.manager_email and p.email not in managers and p.start_date <= latest_start
    ]
    leaver_count = min(len(candidates), max(1, round(len(people) * DEPARTED_SHARE)))
    for person in rng.sample(candidates, leaver_count):
        person.end_date = scan_date - timedelta(days=rng.randint(10, 200))


# =========================================================================== assets


@dataclass(slots=True)
class Asset:
    """One Snipe-IT hardware asset plus what the network will show of it."""

    kind: str
    status: str
    role: str
    flavor: str
    manufacturer: str
    model: str
    serial: str
    mac: str
    location: str
    purchase_date: date
    purchase_cost: str
    decommissioned_date: date | None
    last_audit_date: date | None
    asset_tag: str = ""
    hostname: str = ""
    owner: Person | None = None
    os: str = ""
    seen: bool = False
    has_ptr: bool = True
    pinned: bool = False  # a highlight: keep it predictable (PTR, departed owner, ...)
    subnet: int = -1
    ip: str = ""
    # What the other sources say about it (decided by _plan_extras).
    agent: bool = False               # runs osquery
    agent_uuid: str = ""              # its SMBIOS UUID as osquery reports it
    edr_seen: datetime | None = None  # last check-in per control (None: not covered)
    mdm_tool: str = ""
    mdm_seen: datetime | None = None
    log_seen: datetime | None = None
    extra_programs: tuple[str, ...] = ()  # licensed products installed ("acrobat", "intellij")


@dataclass(slots=True)
class _Registry:
    """Serial numbers and MAC addresses handed out so far (both must be unique)."""

    serials: set[str] = field(default_factory=set)
    macs: set[str] = field(default_factory=set)


def _build_assets(
    rng: random.Random, count: int, scan_date: date, registry: _Registry
) -> tuple[list[Asset], dict[str, Asset]]:
    """Create, date and label every asset; return them in asset-tag order plus highlight picks."""
    plan = _plan_kinds_and_statuses(rng, count)
    reserved: set[int] = set()
    pick_index = {
        "decommissioned_alive": _reserve(rng, plan, SERVER, ARCHIVED, reserved),
        "departed_owner": _reserve(rng, plan, LAPTOP, DEPLOYED, reserved),
        "deployed_server": _reserve(rng, plan, SERVER, DEPLOYED, reserved),
    }
    assets = [_new_asset(rng, kind, status, scan_date, registry) for kind, status in plan]
    picks = {name: assets[index] for name, index in pick_index.items()}
    for asset in picks.values():
        asset.pinned = True
    _label_assets(assets)
    return assets, picks


def _plan_kinds_and_statuses(rng: random.Random, count: int) -> list[list[str]]:
    """Exact kind and status mix for ``count`` assets, shuffled independently."""
    kind_counts = {kind: max(1, round(count * share)) for kind, share in KIND_SHARES}
    kind_counts[SERVER] = max(2, kind_counts[SERVER])
    kind_counts[LAPTOP] = count - sum(kind_counts.values())
    status_counts = {status: round(count * share) for status, share in STATUS_SHARES}
    status_counts[ARCHIVED] = max(1, status_counts[ARCHIVED])
    status_counts = {DEPLOYED: count - sum(status_counts.values()), **status_counts}

    kinds = [kind for kind, n in kind_counts.items() for _ in range(n)]
    statuses = [status for status, n in status_counts.items() for _ in range(n)]
    rng.shuffle(kinds)
    rng.shuffle(statuses)
    return [[kind, status] for kind, status in zip(kinds, statuses)]


def _reserve(rng: random.Random, plan: list[list[str]], kind: str, status: str, reserved: set[int]) -> int:
    """Index of a planned (kind, status) asset, swapping statuses to create one if needed."""
    free = [i for i in range(len(plan)) if i not in reserved]
    matches = [i for i in free if plan[i] == [kind, status]]
    if matches:
        chosen = rng.choice(matches)
    else:
        chosen = rng.choice([i for i in free if plan[i][0] == kind])
        donor = rng.choice([i for i in free if plan[i][1] == status])
        plan[chosen][1], plan[donor][1] = status, plan[chosen][1]
    reserved.add(chosen)
    return chosen


def _new_asset(rng: random.Random, kind: str, status: str, scan_date: date, registry: _Registry) -> Asset:
    """One unlabelled asset with hardware, purchase and lifecycle details."""
    role, flavor = _pick_role(rng, kind)
    manufacturer = _weighted(rng, MANUFACTURER_WEIGHTS[kind])
    catalog = MODEL_CATALOG[kind][role if kind == NETWORK else manufacturer]
    model, list_price = rng.choice(catalog)
    purchase_date, decommissioned_date = _lifecycle_dates(rng, status, scan_date)
    last_audit = max(purchase_date, scan_date - timedelta(days=rng.randint(1, 365)))
    return Asset(
        kind=kind,
        status=status,
        role=role,
        flavor=flavor,
        manufacturer=manufacturer,
        model=model,
        serial=_new_serial(rng, manufacturer, kind, registry),
        mac=_new_mac(rng, OUI[manufacturer], registry.macs),
        location=_weighted(rng, LOCATION_WEIGHTS[kind]),
        purchase_date=purchase_date,
        purchase_cost=f"{round(list_price * rng.uniform(0.94, 1.06)):.2f}",
        decommissioned_date=decommissioned_date,
        last_audit_date=last_audit,
    )


def _pick_role(rng: random.Random, kind: str) -> tuple[str, str]:
    """Hostname prefix (server/network role) and, for databases, the engine."""
    if kind == SERVER:
        role = _weighted(rng, SERVER_ROLES)
        return role, (rng.choice(("postgresql", "mysql")) if role == "db" else "")
    if kind == NETWORK:
        return _weighted(rng, NETWORK_ROLES), ""
    return ("ws" if kind == WORKSTATION else "lt"), ""


def _lifecycle_dates(rng: random.Random, status: str, scan_date: date) -> tuple[date, date | None]:
    """Purchase date (within 5 years) and, for retired assets, the decommission date."""
    if status == READY:  # spares bought recently and not yet handed out
        return scan_date - timedelta(days=rng.randint(14, 180)), None
    if status in (ARCHIVED, DISPOSED):  # old gear, retired in the last ~year
        purchased = scan_date - timedelta(days=rng.randint(3 * 365, 5 * 365))
        return purchased, scan_date - timedelta(days=rng.randint(10, 400))
    return scan_date - timedelta(days=rng.randint(30, 5 * 365)), None


_DELL_TAG_CHARS = "0123456789BCDFGHJKLMNPQRSTVWXYZ"
_SERIAL_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_HP_PREFIX = {SERVER: "CZJ", WORKSTATION: "MXL", LAPTOP: "5CG"}


def _new_serial(rng: random.Random, manufacturer: str, kind: str, registry: _Registry) -> str:
    """A unique serial number in the manufacturer's usual format."""
    while True:
        serial = _serial_candidate(rng, manufacturer, kind)
        if serial not in registry.serials:
            registry.serials.add(serial)
            return serial


def _serial_candidate(rng: random.Random, manufacturer: str, kind: str) -> str:
    def chars(alphabet: str, n: int) -> str:
        return "".join(rng.choices(alphabet, k=n))

    if manufacturer == "Dell":  # 7-character service tag, no vowels
        return chars(_DELL_TAG_CHARS, 7)
    if manufacturer == "HP":  # e.g. 5CG1234ABC: site, year digit, week, sequence
        return f"{_HP_PREFIX[kind]}{rng.randint(1, 5)}{rng.randint(1, 52):02d}{rng.randint(0, 9)}{chars(_SERIAL_CHARS, 3)}"
    if manufacturer == "Lenovo":
        return f"PF{chars(_SERIAL_CHARS, 6)}" if kind == LAPTOP else f"MJ0{chars(_SERIAL_CHARS, 5)}"
    if manufacturer == "Apple":  # randomised 10-character serial
        return chars("CDFGHJKLMNPQRTVWXY", 1) + chars(_SERIAL_CHARS, 9)
    if manufacturer == "Cisco":  # LLLYYWWSSSS
        return f"FOC{rng.randint(22, 27)}{rng.randint(1, 52):02d}{chars(_SERIAL_CHARS, 4)}"
    return f"ZM{rng.randint(19, 25)}{rng.choice('AB')}S{rng.randint(0, 999999):06d}"  # Supermicro


def _new_mac(rng: random.Random, oui: str, taken: set[str]) -> str:
    """A unique lower-case MAC address under ``oui``."""
    while True:
        tail = rng.getrandbits(24)
        mac = f"{oui}:{tail >> 16:02x}:{(tail >> 8) & 0xFF:02x}:{tail & 0xFF:02x}"
        if mac not in taken:
            taken.add(mac)
            return mac


def _label_assets(assets: list[Asset]) -> None:
    """Order by purchase date, then hand out asset tags and per-prefix hostname numbers."""
    assets.sort(key=lambda a: a.purchase_date)  # stable: ties keep creation order
    next_number: dict[str, int] = {}
    for index, asset in enumerate(assets, start=1):
        asset.asset_tag = f"ITAM-{index:06d}"
        number = next_number.get(asset.role, 1)
        next_number[asset.role] = number + 1
        width = 4 if asset.kind in (WORKSTATION, LAPTOP) else 2
        asset.hostname = f"{asset.role}-{number:0{width}d}"


def _assign_owners(rng: random.Random, assets: list[Asset], people: list[Person]) -> None:
    """Check deployed gear out to current staff: infrastructure to IT/Engineering,
    endpoints to everyone, roughly one endpoint per person before anyone gets a second."""
    active = [p for p in people if p.end_date is None]
    technical = [p for p in active if p.department in ("IT", "Engineering")]
    it_staff = [p for p in active if p.department == "IT"]
    queue: list[Person] = []
    for asset in assets:
        if asset.status not in OWNED_STATUSES:
            continue
        if asset.kind == SERVER:
            asset.owner = rng.choice(technical)
        elif asset.kind == NETWORK:
            asset.owner = rng.choice(it_staff)
        else:
            if not queue:
                queue = active[:]
                rng.shuffle(queue)
            asset.owner = queue.pop()


def _leave_assets_with_leavers(
    rng: random.Random, assets: list[Asset], people: list[Person], highlight: Asset
) -> None:
    """~1% of deployed endpoints (always the highlight laptop) still belong to someone who left."""
    leavers = [p for p in people if p.end_date is not None]
    highlight.owner = rng.choice(leavers)
    candidates = [
        a for a in assets
        if a.status == DEPLOYED and a.kind in (WORKSTATION, LAPTOP) and not a.pinned
    ]
    extra = max(0, round(len(assets) * LEAVER_ASSET_SHARE) - 1)
    for asset in rng.sample(candidates, min(extra, len(candidates))):
        asset.owner = rng.choice(leavers)


def _pick_os(rng: random.Random, asset: Asset) -> str:
    """Operating system key matching the asset's kind, vendor and (for endpoints) owner."""
    if asset.kind == SERVER:
        return "linux"
    if asset.kind == NETWORK:
        return "ios"
    if asset.manufacturer == "Apple":
        return "macos"
    owner_is_engineer = asset.owner is not None and asset.owner.department == "Engineering"
    if owner_is_engineer and rng.random() < 0.3:
        return "linux"
    if asset.purchase_date.year >= 2023 or rng.random() < 0.4:
        return "windows11"
    return "windows10"


def _decide_visibility(rng: random.Random, assets: list[Asset], forced_seen: tuple[Asset, ...]) -> None:
    """Which assets nmap sees, and which of those lack a reverse-DNS name."""
    for asset in assets:
        if asset.kind == LAPTOP:
            asset.seen = asset.status == DEPLOYED and rng.random() < LAPTOP_SEEN_SHARE
        else:
            asset.seen = asset.status not in OFF_NETWORK_STATUSES
    for asset in forced_seen:
        asset.seen = True
    for asset in assets:
        if asset.seen and not asset.pinned and rng.random() < NO_PTR_SHARE:
            asset.has_ptr = False


def _pick_unseen_laptop(rng: random.Random, assets: list[Asset]) -> Asset | None:
    """A deployed laptop with a current owner that no scan saw (off-network)."""
    candidates = [
        a for a in assets
        if a.kind == LAPTOP and a.status == DEPLOYED and not a.seen
        and a.owner is not None and a.owner.end_date is None
    ]
    if not candidates:
        return None
    chosen = rng.choice(candidates)
    chosen.pinned = True
    return chosen


# =========================================================================== unknown devices


@dataclass(slots=True)
class UnknownDevice:
    """Something answering on the network that is not in the inventory."""

    device_type: str
    hostname: str | None
    mac: str
    vendor: str
    subnet: int = -1
    ip: str = ""


def _build_unknown_devices(rng: random.Random, count: int, taken_macs: set[str]) -> list[UnknownDevice]:
    """Printers, Raspberry Pis, cameras and IoT gadgets; the first is a named Raspberry Pi.

    ``taken_macs`` holds the inventory's MACs, so no unknown device clashes with an asset.
    """
    taken_names: set[str] = set()
    devices = []
    for index in range(count):
        device_type = "raspberrypi" if index == 0 else _weighted(rng, UNKNOWN_DEVICE_TYPES)
        oui, vendor = rng.choice(UNKNOWN_DEVICE_VENDORS[device_type])
        hostname = _unknown_hostname(rng, device_type, taken_names)
        devices.append(UnknownDevice(device_type, hostname, _new_mac(rng, oui, taken_macs), vendor))
    return devices


def _unknown_hostname(rng: random.Random, device_type: str, taken: set[str]) -> str | None:
    if device_type in ("camera", "iot"):  # no PTR record: shows up as an unnamed MAC
        return None
    if device_type == "raspberrypi" and "raspberrypi" not in taken:
        taken.add("raspberrypi")
        return "raspberrypi"
    while True:
        name = f"{device_type}-{rng.getrandbits(16):04x}"
        if name not in taken:
            taken.add(name)
            return name


# =========================================================================== network


def _subnet_networks(count: int) -> list[ipaddress.IPv4Network]:
    """10.0.1.0/24 ... 10.0.254.0/24, then 10.1.1.0/24 ... and so on."""
    networks = []
    for index in range(count):
        second, third = divmod(index, 254)
        if second > 255:
            raise ValueError(f"too many subnets: {count}")
        networks.append(ipaddress.IPv4Network(f"10.{second}.{third + 1}.0/24"))
    return networks


def _place_on_network(
    rng: random.Random,
    assets: list[Asset],
    devices: list[UnknownDevice],
    networks: list[ipaddress.IPv4Network],
) -> list[list[int]]:
    """Give every asset and unknown device a unique IP; return each subnet's free offsets.

    Assets are laid out by location (datacenter, HQ, branch) in contiguous blocks so
    most subnets belong to one site; unknown devices are spread round-robin.
    """
    subnet_count = len(networks)
    free = [rng.sample(range(FIRST_HOST_OFFSET, LAST_HOST_OFFSET + 1), SUBNET_CAPACITY) for _ in networks]
    prefixes = [str(net.network_address).rsplit(".", 1)[0] + "." for net in networks]

    layout = assets[:]
    rng.shuffle(layout)
    layout.sort(key=lambda a: LOCATIONS.index(a.location))
    for position, asset in enumerate(layout):
        asset.subnet = position * subnet_count // len(layout)
        asset.ip = prefixes[asset.subnet] + str(free[asset.subnet].pop())

    first = rng.randrange(subnet_count)
    for position, device in enumerate(devices):
        device.subnet = (first + position) % subnet_count
        device.ip = prefixes[device.subnet] + str(free[device.subnet].pop())
    return free


# =========================================================================== CSV writers

HR_COLUMNS = ("email", "name", "employee_id", "department", "manager_email", "start_date", "end_date")
SNIPEIT_COLUMNS = (
    "asset_tag", "item_name", "asset_model", "category", "manufacturer", "serial",
    "mac_address", "status", "location", "purchase_date", "purchase_cost", "warranty_months",
    "asset_eol_date", "decommissioned_date", "full_name", "email", "department",
    "last_audit_date", "order_number", "supplier",
)


def _write_hr(path: Path, people: list[Person]) -> Path:
    """The HR directory export, one row per person in employee-id order."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HR_COLUMNS)
        for p in people:
            writer.writerow((
                p.email, p.name, p.employee_id, p.department, p.manager_email,
                p.start_date.isoformat(), _iso(p.end_date),
            ))
    return path


def _write_snipeit(path: Path, assets: list[Asset]) -> Path:
    """The Snipe-IT hardware export, one row per asset in asset-tag order."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SNIPEIT_COLUMNS)
        for a in assets:
            owner = a.owner
            writer.writerow((
                a.asset_tag, a.hostname, a.model, CATEGORY[a.kind], a.manufacturer, a.serial,
                a.mac, a.status, a.location, a.purchase_date.isoformat(), a.purchase_cost,
                WARRANTY_MONTHS, _add_years(a.purchase_date, EOL_YEARS).isoformat(),
                _iso(a.decommissioned_date),
                owner.name if owner else "", owner.email if owner else "",
                owner.department if owner else "", _iso(a.last_audit_date),
                f"PO-{a.purchase_date.year}-{a.asset_tag.rsplit('-', 1)[-1]}", SUPPLIERS.get(a.manufacturer, "CDW"),
            ))
    return path


# Who the hardware was bought from (Snipe-IT's supplier field).
SUPPLIERS = {"Dell": "Dell Technologies", "HP": "CDW", "Lenovo": "CDW", "Apple": "Apple Business", "Cisco": "Insight"}


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# =========================================================================== nmap scan profiles


@dataclass(frozen=True)
class _Service:
    """One open port as nmap -sV reports it."""

    port: int
    name: str
    product: str = ""
    version: str = ""
    extrainfo: str = ""
    ostype: str = ""
    tunnel: str = ""
    cpes: tuple[str, ...] = ()
    proto: str = "tcp"
    probed: bool = True  # False: only the nmap-services table guess (conf 3)


@dataclass(frozen=True)
class _OsGuess:
    """The best <osmatch> nmap -O gives for a device."""

    name: str
    accuracy: int
    line: int
    device_type: str
    vendor: str
    family: str
    generation: str
    cpe: str


_LINUX_CPE = "cpe:/o:linux:linux_kernel"
SSH_UBUNTU = _Service(22, "ssh", "OpenSSH", "8.9p1 Ubuntu 3ubuntu0.4", "Ubuntu Linux; protocol 2.0",
                      "Linux", cpes=("cpe:/a:openbsd:openssh:8.9p1", _LINUX_CPE))
SERVER_ROLE_SERVICES = {
    "web": (_Service(80, "http", "nginx", "1.24.0", cpes=("cpe:/a:igor_sysoev:nginx:1.24.0",)),
            _Service(443, "https", "nginx", "1.24.0", tunnel="ssl", cpes=("cpe:/a:igor_sysoev:nginx:1.24.0",))),
    "postgresql": (_Service(5432, "postgresql", "PostgreSQL DB", "14.9", cpes=("cpe:/a:postgresql:postgresql:14.9",)),),
    "mysql": (_Service(3306, "mysql", "MySQL", "8.0.35", cpes=("cpe:/a:mysql:mysql:8.0.35",)),),
    "app": (_Service(8080, "http-proxy", "Apache Tomcat", "9.0.83", cpes=("cpe:/a:apache:tomcat:9.0.83",)),),
    "files": (_Service(445, "microsoft-ds", "Samba smbd", "4.15", "workgroup: CORP", cpes=("cpe:/a:samba:samba",)),),
    "ci": (_Service(8080, "http", "Jenkins", "2.426.1", "Jetty 10.0.18", cpes=("cpe:/a:jenkins:jenkins:2.426.1",)),),
}
WINDOWS_SERVICES = (
    _Service(135, "msrpc", "Microsoft Windows RPC", ostype="Windows", cpes=("cpe:/o:microsoft:windows",)),
    _Service(139, "netbios-ssn", "Microsoft Windows netbios-ssn", ostype="Windows", cpes=("cpe:/o:microsoft:windows",)),
    _Service(445, "microsoft-ds", probed=False),
    _Service(3389, "ms-wbt-server", "Microsoft Terminal Services", ostype="Windows", cpes=("cpe:/o:microsoft:windows",)),
)
MACOS_SERVICES = (_Service(22, "ssh", "OpenSSH", "9.0", "protocol 2.0", cpes=("cpe:/a:openbsd:openssh:9.0",)),)
CISCO_SERVICES = (
    _Service(22, "ssh", "Cisco SSH", "1.25", "protocol 2.0", "IOS", cpes=("cpe:/o:cisco:ios",)),
    _Service(443, "https", "Cisco IOS http config", tunnel="ssl", ostype="IOS", cpes=("cpe:/o:cisco:ios",)),
    _Service(161, "snmp", "Cisco SNMP service", extrainfo="SNMPv1 server; SNMPv3 server",
             cpes=("cpe:/o:cisco:ios",), proto="udp"),
)
UNKNOWN_DEVICE_SERVICES = {
    "printer": (_Service(631, "ipp", probed=False), _Service(9100, "jetdirect", probed=False)),
    "raspberrypi": (_Service(22, "ssh", "OpenSSH", "7.9p1 Raspbian 10+deb10u2+rpt1", "protocol 2.0", "Linux",
                             cpes=("cpe:/a:openbsd:openssh:7.9p1", _LINUX_CPE)),),
    "camera": (_Service(80, "http", "Hikvision IP camera httpd", cpes=("cpe:/h:hikvision:ip_camera",)),
               _Service(554, "rtsp", "Hikvision 7513 POE IP camera rtspd", cpes=("cpe:/h:hikvision:ip_camera",))),
    "iot": (_Service(80, "http", probed=False),),
}

OS_GUESSES = {
    "linux": _OsGuess("Linux 5.0 - 5.14", 98, 67000, "general purpose", "Linux", "Linux", "5.X",
                      "cpe:/o:linux:linux_kernel:5"),
    "windows10": _OsGuess("Microsoft Windows 10 1709 - 21H2", 97, 104802, "general purpose", "Microsoft",
                          "Windows", "10", "cpe:/o:microsoft:windows_10"),
    "windows11": _OsGuess("Microsoft Windows 11 21H2 - 23H2", 96, 105170, "general purpose", "Microsoft",
                          "Windows", "11", "cpe:/o:microsoft:windows_11"),
    "macos": _OsGuess("Apple macOS 12 (Monterey) - 13 (Ventura) (Darwin 21.1.0 - 22.6.0)", 95, 6214,
                      "general purpose", "Apple", "macOS", "12.X", "cpe:/o:apple:mac_os_x:12"),
    "raspbian": _OsGuess("Linux 4.15 - 5.8", 96, 66950, "general purpose", "Linux", "Linux", "4.X",
                         "cpe:/o:linux:linux_kernel:4"),
    "printer-hp": _OsGuess("HP LaserJet Pro M404dn printer", 96, 33102, "printer", "HP", "embedded", "",
                           "cpe:/h:hp:laserjet_pro_m404dn"),
    "printer-brother": _OsGuess("Brother HL-L2350DW printer", 95, 12907, "printer", "Brother", "embedded", "",
                                "cpe:/h:brother:hl-l2350dw"),
    "camera": _OsGuess("Hikvision DS-2CD2xxx IP camera (Linux 3.X)", 94, 32470, "webcam", "Hikvision",
                       "embedded", "", "cpe:/h:hikvision:ds-2cd2032-i"),
    "iot": _OsGuess("Espressif esp8266 firmware (lwIP stack)", 93, 27301, "specialized", "Espressif",
                    "embedded", "", "cpe:/o:espressif:esp8266_firmware"),
}
CISCO_DEVICE_TYPE = {"sw": "switch", "fw": "firewall", "ap": "WAP"}
_WITH_UPTIME = ("linux", "macos", "ios", "raspbian")


@dataclass(frozen=True)
class _ScanProfile:
    """Everything per-host-constant in a <host> element, pre-rendered once."""

    services: tuple[_Service, ...]
    ports_xml: str
    os_xml: str
    reports_uptime: bool

    def port_summary(self) -> str:
        return ", ".join(f"{s.port}/{s.name}" for s in self.services)


def _asset_profile(asset: Asset) -> _ScanProfile:
    return _profile(asset.kind, asset.flavor or asset.role, asset.os)


def _device_profile(device: UnknownDevice) -> _ScanProfile:
    os_key = {"raspberrypi": "raspbian", "camera": "camera", "iot": "iot"}.get(device.device_type)
    if os_key is None:
        os_key = "printer-hp" if device.vendor == "Hewlett Packard" else "printer-brother"
    return _profile("unknown", device.device_type, os_key)


@lru_cache(maxsize=None)
def _profile(kind: str, role: str, os_key: str) -> _ScanProfile:
    """Services, firewalling and OS guess for one kind of device."""
    if kind == SERVER:
        services = (SSH_UBUNTU, *SERVER_ROLE_SERVICES[role])
    elif kind == NETWORK:
        services = CISCO_SERVICES
    elif kind == "unknown":
        services = UNKNOWN_DEVICE_SERVICES[role]
    elif os_key.startswith("windows"):
        services = WINDOWS_SERVICES
    elif os_key == "macos":
        services = MACOS_SERVICES
    else:
        services = (SSH_UBUNTU,)

    if os_key == "ios":
        guess = _OsGuess("Cisco IOS 15.2(2)E - 15.2(7)E", 95, 17140, CISCO_DEVICE_TYPE[role], "Cisco", "IOS",
                         "15.X", "cpe:/o:cisco:ios:15.2")
    else:
        guess = OS_GUESSES[os_key]
    firewalled = os_key.startswith("windows")
    ttl = {"windows10": 128, "windows11": 128, "ios": 255}.get(os_key, 64)
    return _ScanProfile(
        services=services,
        ports_xml=_ports_xml(services, ttl, firewalled),
        os_xml=_os_xml(services, guess, firewalled),
        reports_uptime=os_key in _WITH_UPTIME,
    )


def _ports_xml(services: tuple[_Service, ...], ttl: int, firewalled: bool) -> str:
    open_tcp = {s.port for s in services if s.proto == "tcp"}
    not_shown = [port for port in _top_tcp_ports() if port not in open_tcp]
    state, reason = ("filtered", "no-response") if firewalled else ("closed", "reset")
    lines = [
        f'<ports><extraports state="{state}" count="{len(not_shown)}">\n'
        f'<extrareasons reason="{reason}" count="{len(not_shown)}" proto="tcp" ports="{_port_ranges(not_shown)}"/>\n'
        "</extraports>\n"
    ]
    ordered = sorted(services, key=lambda s: (s.proto != "tcp", s.port))
    lines.extend(_port_xml(service, ttl) for service in ordered)
    lines.append("</ports>\n")
    return "".join(lines)


def _port_xml(service: _Service, ttl: int) -> str:
    attrs = [f'name="{_attr(service.name)}"']
    for key, value in (("product", service.product), ("version", service.version),
                       ("extrainfo", service.extrainfo), ("ostype", service.ostype),
                       ("tunnel", service.tunnel)):
        if value:
            attrs.append(f'{key}="{_attr(value)}"')
    attrs.append('method="probed" conf="10"' if service.probed else 'method="table" conf="3"')
    cpes = "".join(f"<cpe>{escape(cpe)}</cpe>" for cpe in service.cpes)
    body = f"<service {' '.join(attrs)}>{cpes}</service>" if cpes else f"<service {' '.join(attrs)}/>"
    reason = "syn-ack" if service.proto == "tcp" else "udp-response"
    return (
        f'<port protocol="{service.proto}" portid="{service.port}">'
        f'<state state="open" reason="{reason}" reason_ttl="{ttl}"/>{body}</port>\n'
    )


def _os_xml(services: tuple[_Service, ...], guess: _OsGuess, firewalled: bool) -> str:
    first_open = min(s.port for s in services if s.proto == "tcp")
    used = [f'<os><portused state="open" proto="tcp" portid="{first_open}"/>\n']
    if not firewalled:
        used.append('<portused state="closed" proto="tcp" portid="1"/>\n')
        used.append('<portused state="closed" proto="udp" portid="40125"/>\n')
    generation = f' osgen="{_attr(guess.generation)}"' if guess.generation else ""
    return "".join(used) + (
        f'<osmatch name="{_attr(guess.name)}" accuracy="{guess.accuracy}" line="{guess.line}">\n'
        f'<osclass type="{_attr(guess.device_type)}" vendor="{_attr(guess.vendor)}" '
        f'osfamily="{_attr(guess.family)}"{generation} accuracy="{guess.accuracy}">'
        f"<cpe>{escape(guess.cpe)}</cpe></osclass>\n"
        "</osmatch>\n</os>\n"
    )


@lru_cache(maxsize=1)
def _top_tcp_ports() -> tuple[int, ...]:
    ports: list[int] = []
    for part in NMAP_TOP_TCP_PORTS.split(","):
        low, _, high = part.partition("-")
        ports.extend(range(int(low), int(high or low) + 1))
    return tuple(ports)


def _port_ranges(ports: list[int]) -> str:
    """Compress sorted port numbers the way nmap does: ``1,3-4,6-7``."""
    ranges: list[str] = []
    start = previous = ports[0]
    for port in ports[1:] + [-1]:
        if port == previous + 1:
            previous = port
            continue
        ranges.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = port
    return ",".join(ranges)


# =========================================================================== nmap writer


def _write_nmap_scans(
    rng: random.Random,
    out_dir: Path,
    networks: list[ipaddress.IPv4Network],
    assets: list[Asset],
    devices: list[UnknownDevice],
    free_offsets: list[list[int]],
    scan_date: date,
) -> tuple[list[Path], dict[str, int]]:
    """One nmap XML report per subnet; returns the paths and up/down host totals."""
    targets: list[list[tuple[int, Asset | UnknownDevice]]] = [[] for _ in networks]
    for asset in assets:
        if asset.seen:
            targets[asset.subnet].append((_last_octet(asset.ip), asset))
    for device in devices:
        targets[device.subnet].append((_last_octet(device.ip), device))

    first_start = int(datetime.combine(scan_date, SCAN_START, tzinfo=timezone.utc).timestamp())
    paths, hosts_up, hosts_down = [], 0, 0
    for index, network in enumerate(networks):
        down = rng.sample(free_offsets[index], min(rng.randint(1, 3), len(free_offsets[index])))
        path = out_dir / f"nmap-{str(network.network_address).replace('.', '-')}.xml"
        up = _write_scan(rng, path, network, targets[index], down, first_start + index * SCAN_STAGGER_SECONDS)
        paths.append(path)
        hosts_up += up
        hosts_down += len(down)
    return paths, {"hosts_up": hosts_up, "hosts_down_listed": hosts_down}


def _write_scan(
    rng: random.Random,
    path: Path,
    network: ipaddress.IPv4Network,
    targets: list[tuple[int, Asset | UnknownDevice]],
    down_offsets: list[int],
    start: int,
) -> int:
    """Stream one subnet's report, hosts in address order; returns the hosts-up count."""
    prefix = str(network.network_address).rsplit(".", 1)[0] + "."
    elapsed = round(rng.uniform(600.0, 900.0), 2)
    finished = start + int(elapsed)
    entries: list[tuple[int, Asset | UnknownDevice | None]] = [*targets, *((o, None) for o in down_offsets)]
    entries.sort(key=lambda entry: entry[0])
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(_scan_header(path.name, str(network), start))
        for offset, target in entries:
            if target is None:
                handle.write(_down_host_xml(prefix + str(offset)))
            else:
                handle.write(_up_host_xml(rng, target, start, finished))
        handle.write(_scan_footer(len(targets), finished, elapsed, network.num_addresses))
    return len(targets)


def _scan_header(file_name: str, cidr: str, start: int) -> str:
    args = f"nmap -sV -O -oX {file_name} {cidr}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<!DOCTYPE nmaprun>\n"
        f'<nmaprun scanner="nmap" args="{_attr(args)}" start="{start}" startstr="{_ctime(start)}" '
        'version="7.94" xmloutputversion="1.05">\n'
        f'<scaninfo type="syn" protocol="tcp" numservices="1000" services="{NMAP_TOP_TCP_PORTS}"/>\n'
        '<scaninfo type="udp" protocol="udp" numservices="1" services="161"/>\n'
        '<verbose level="0"/>\n'
        '<debugging level="0"/>\n'
    )


def _scan_footer(up: int, finished: int, elapsed: float, total: int) -> str:
    when = _ctime(finished)
    summary = (
        f"Nmap done at {when}; {total} IP addresses ({up} {'host' if up == 1 else 'hosts'} up) "
        f"scanned in {elapsed:.2f} seconds"
    )
    return (
        f'<runstats><finished time="{finished}" timestr="{when}" summary="{_attr(summary)}" '
        f'elapsed="{elapsed:.2f}" exit="success"/><hosts up="{up}" down="{total - up}" total="{total}"/>\n'
        "</runstats>\n"
        "</nmaprun>\n"
    )


def _up_host_xml(rng: random.Random, target: Asset | UnknownDevice, scan_start: int, scan_end: int) -> str:
    """A live host: addresses, PTR name, open ports, OS guess, uptime and timings."""
    if isinstance(target, Asset):
        vendor = NMAP_MAC_VENDOR[target.manufacturer]
        fqdn = target.hostname + DNS_SUFFIX if target.has_ptr else None
        profile = _asset_profile(target)
    else:
        vendor = target.vendor
        fqdn = target.hostname + DNS_SUFFIX if target.hostname else None
        profile = _device_profile(target)

    started = scan_start + rng.randint(1, max(2, scan_end - scan_start - 60))
    ended = min(scan_end, started + rng.randint(5, 45))
    parts = [
        f'<host starttime="{started}" endtime="{ended}"><status state="up" reason="arp-response" reason_ttl="0"/>\n',
        f'<address addr="{target.ip}" addrtype="ipv4"/>\n',
        f'<address addr="{target.mac.upper()}" addrtype="mac" vendor="{_attr(vendor)}"/>\n',
        "<hostnames>\n",
        f'<hostname name="{_attr(fqdn)}" type="PTR"/>\n' if fqdn else "",
        "</hostnames>\n",
        profile.ports_xml,
        profile.os_xml,
    ]
    if profile.reports_uptime:
        uptime = rng.randint(3600, 180 * 86400)
        parts.append(f'<uptime seconds="{uptime}" lastboot="{_ctime(ended - uptime)}"/>\n')
    srtt, rttvar = rng.randint(150, 2500), rng.randint(50, 1500)
    parts.append('<distance value="1"/>\n')
    parts.append(f'<times srtt="{srtt}" rttvar="{rttvar}" to="{max(100000, srtt + 4 * rttvar)}"/>\n</host>\n')
    return "".join(parts)


def _down_host_xml(ip: str) -> str:
    return (
        '<host><status state="down" reason="no-response" reason_ttl="0"/>\n'
        f'<address addr="{ip}" addrtype="ipv4"/>\n'
        "</host>\n"
    )


# =========================================================================== the other sources: plan

AGENT_SHARE = 0.85          # deployed servers, workstations and laptops running osquery
EDR_SHARE = 0.90            # ... covered by the EDR
MDM_SHARE = 0.93            # deployed endpoints enrolled in MDM
LOGGING_SHARE = 0.95        # deployed servers shipping logs
STALE_CHECK_IN_SHARE = 0.06  # covered hosts whose last check-in is days old
ACROBAT_SHARE = 0.30        # Windows endpoints of paperwork-heavy teams with Acrobat Pro
INTELLIJ_SHARE = 0.40       # Windows endpoints of engineers with IntelliJ IDEA Ultimate
ACROBAT_TEAMS = ("Finance", "Sales", "HR", "Operations")
VPN_EXTRA_HOLDERS = 5
TLS_SERVER_CERTS = 4        # besides the deployed_server highlight's
DEPARTED_SSH_HOSTS = 3
CLOUD_SHARE = 0.10
MIN_CLOUD_HOSTS = 5
MAX_CLOUD_HOSTS = 60_000


def _stream(seed: int, name: str) -> random.Random:
    """An independent seeded stream per concern (``random`` seeds str deterministically)."""
    return random.Random(f"itam-demo/{seed}/{name}")


@dataclass(slots=True)
class _Plan:
    """Decisions the new sources share, so every file tells the same story."""

    people: list[Person]
    assets: list[Asset]
    picks: dict[str, Asset | None]
    demo_laptop: Asset | None
    departed_vpn: Person
    vpn_holders: list[Person]                     # VPN client certificates, in issue order
    tls_hosts: list[tuple[Asset, str]]            # (server, 'valid' | 'expiring' | 'expired')
    extra_expiry: list[str]                       # 'expiring'/'expired' no server could take: a VPN cert
    departed_ssh_hosts: list[Asset]               # servers still holding the departed user's SSH key
    user_numbers: dict[str, int] = field(default_factory=dict)   # e-mail -> uid offset


def _plan_extras(
    seed: int, scan_date: date, people: list[Person], assets: list[Asset], picks: dict[str, Asset | None]
) -> _Plan:
    """Agents, controls, installed products, certificate holders and the new highlights."""
    rng = _stream(seed, "plan")
    demo_laptop = _pick_demo_laptop(rng, assets)
    for asset in assets:
        if asset.status != DEPLOYED or asset.kind == NETWORK:
            continue
        asset.agent_uuid = _smbios_uuid(rng)
        asset.agent = rng.random() < AGENT_SHARE
        if rng.random() < EDR_SHARE:
            asset.edr_seen = _check_in(rng, scan_date)
        if asset.kind == SERVER:
            if rng.random() < LOGGING_SHARE:
                asset.log_seen = _check_in(rng, scan_date)
            continue
        if rng.random() < MDM_SHARE:
            asset.mdm_tool = "Jamf Pro" if asset.os == "macos" else "Intune"
            asset.mdm_seen = _check_in(rng, scan_date)
        if asset.os.startswith("windows") and asset.owner is not None:
            programs = []
            if asset.owner.department in ACROBAT_TEAMS and rng.random() < ACROBAT_SHARE:
                programs.append("acrobat")
            if asset.owner.department == "Engineering" and rng.random() < INTELLIJ_SHARE:
                programs.append("intellij")
            asset.extra_programs = tuple(programs)
    if demo_laptop is not None:
        demo_laptop.pinned = True
        demo_laptop.agent = True
        demo_laptop.edr_seen = demo_laptop.edr_seen or _check_in(rng, scan_date, fresh=True)
        demo_laptop.mdm_tool = demo_laptop.mdm_tool or ("Jamf Pro" if demo_laptop.os == "macos" else "Intune")
        demo_laptop.mdm_seen = demo_laptop.mdm_seen or _check_in(rng, scan_date, fresh=True)
        if demo_laptop.os.startswith("windows") and "acrobat" not in demo_laptop.extra_programs:
            demo_laptop.extra_programs += ("acrobat",)   # its owner installed Acrobat Pro without a seat
    unseen = picks.get("unseen_laptop")
    if unseen is not None:   # off-network for weeks: no agent, EDR or MDM has heard from it either
        unseen.agent, unseen.edr_seen, unseen.mdm_seen, unseen.mdm_tool = False, None, None, ""
    _plan_itam_stories(seed, assets, picks, demo_laptop)
    retired = picks["decommissioned_alive"]
    retired_seen = datetime.combine(retired.decommissioned_date, time(17, 42, 9), tzinfo=timezone.utc)
    retired.edr_seen = retired_seen  # stopped checking in when it was archived: a stale record

    departed_vpn = _pick_departed_vpn(rng, people, picks)
    vpn_holders = _pick_vpn_holders(rng, people, demo_laptop, departed_vpn)
    tls_hosts, extra_expiry = _pick_tls_hosts(rng, assets, picks)
    for server, _ in tls_hosts:
        if server.status == DEPLOYED:
            server.agent = True   # the certificate shows in its osquery certificates table
    servers_with_agent = [a for a in assets if a.kind == SERVER and a.agent]
    departed_ssh = rng.sample(servers_with_agent, min(DEPARTED_SSH_HOSTS, len(servers_with_agent)))
    departed_ssh.sort(key=lambda a: a.asset_tag)
    return _Plan(
        people=people, assets=assets, picks=picks, demo_laptop=demo_laptop, departed_vpn=departed_vpn,
        vpn_holders=vpn_holders, tls_hosts=tls_hosts, extra_expiry=extra_expiry,
        departed_ssh_hosts=departed_ssh,
        user_numbers={p.email: n for n, p in enumerate(people)},
    )


PHOTOSHOP_SHARE = 0.25      # Windows endpoints of Sales with Photoshop, for which no licence exists
NEVER_AUDITED_SHARE = 0.06  # assets Snipe-IT has no audit date for


def _plan_itam_stories(seed: int, assets: list[Asset], picks: dict[str, Asset | None],
                       demo_laptop: Asset | None) -> None:
    """The asset manager's stories, each on its own random stream (the rest of the company stays as it was):
    Photoshop installed with no licence at all, assets never audited, and the off-network laptop that no
    agent, EDR or MDM reports either: missing, and never audited."""
    rng = _stream(seed, "itam-stories")
    eligible = [a for a in assets if a.status == DEPLOYED and a.os.startswith("windows") and a.owner is not None
                and a is not demo_laptop and a.kind != NETWORK and a.kind != SERVER]
    photoshop = [a for a in eligible if a.owner.department == "Sales" and rng.random() < PHOTOSHOP_SHARE]
    for asset in photoshop or eligible[:1]:
        asset.extra_programs += ("photoshop",)
    for asset in assets:
        if rng.random() < NEVER_AUDITED_SHARE and not asset.pinned:
            asset.last_audit_date = None
    missing = picks.get("unseen_laptop")
    if missing is not None:
        missing.agent, missing.edr_seen, missing.mdm_tool, missing.mdm_seen = False, None, "", None
        missing.last_audit_date = None


def _smbios_uuid(rng: random.Random) -> str:
    value = uuid_module.UUID(int=rng.getrandbits(128), version=4)
    return str(value).upper()


def _check_in(rng: random.Random, scan_date: date, fresh: bool = False) -> datetime:
    """A last check-in: mostly in the hours before the scan, sometimes days or weeks old."""
    midnight = datetime.combine(scan_date, time(6, 0), tzinfo=timezone.utc)
    if not fresh and rng.random() < STALE_CHECK_IN_SHARE:
        return midnight - timedelta(days=rng.randint(3, 40), seconds=rng.randint(0, 86399))
    return midnight - timedelta(seconds=rng.randint(60, 20 * 3600))


def _pick_demo_laptop(rng: random.Random, assets: list[Asset]) -> Asset | None:
    """A Deployed Windows laptop nmap saw by name, owned by a current employee (relaxed if none)."""
    def base(a: Asset) -> bool:
        return (a.kind == LAPTOP and a.status == DEPLOYED and not a.pinned
                and a.owner is not None and a.owner.end_date is None)

    for strict in (
        lambda a: a.seen and a.has_ptr and a.os.startswith("windows"),
        lambda a: a.seen and a.os.startswith("windows"),
        lambda a: a.seen,
        lambda a: True,
    ):
        candidates = [a for a in assets if base(a) and strict(a)]
        if candidates:
            return rng.choice(candidates)
    return None


def _pick_departed_vpn(rng: random.Random, people: list[Person], picks: dict[str, Asset | None]) -> Person:
    """A leaver, preferably technical and not the departed_owner highlight's owner."""
    leavers = [p for p in people if p.end_date is not None]
    other = picks["departed_owner"].owner
    for pool in (
        [p for p in leavers if p.department in ("Engineering", "IT") and p is not other],
        [p for p in leavers if p is not other],
        leavers,
    ):
        if pool:
            return rng.choice(pool)
    raise AssertionError("the organisation has no leavers")  # _mark_leavers always makes one


def _pick_vpn_holders(
    rng: random.Random, people: list[Person], demo_laptop: Asset | None, departed: Person
) -> list[Person]:
    active = [p for p in people if p.end_date is None]
    holders = [departed]
    if demo_laptop is not None:
        holders.append(demo_laptop.owner)
    others = [p for p in active if p not in holders]
    holders += rng.sample(others, min(VPN_EXTRA_HOLDERS, len(others)))
    return holders


def _pick_tls_hosts(
    rng: random.Random, assets: list[Asset], picks: dict[str, Asset | None]
) -> tuple[list[tuple[Asset, str]], list[str]]:
    """Web servers with internal-CA certificates: one about to expire, one expired, the rest valid."""
    highlight = picks["deployed_server"]
    deployed = [a for a in assets if a.kind == SERVER and a.status == DEPLOYED and a is not highlight]
    web = [a for a in deployed if a.role == "web"]
    rng.shuffle(web)
    rest = [a for a in deployed if a.role != "web"]
    rng.shuffle(rest)
    candidates = (web + rest + [picks["decommissioned_alive"]])[:TLS_SERVER_CERTS]
    validity = ["expiring", "expired"] + ["valid"] * TLS_SERVER_CERTS
    chosen = [(server, validity[index]) for index, server in enumerate(candidates)]
    missing = validity[len(candidates):2]   # a tiny company: VPN certificates take what is left
    chosen.append((highlight, "valid"))
    retired = picks["decommissioned_alive"]
    if all(server is not retired for server, _ in chosen):   # decommissioned, its certificate never revoked
        chosen.append((retired, "valid"))
    chosen.sort(key=lambda pair: pair[0].asset_tag)
    return chosen, missing


# =========================================================================== SCIM

SCIM_LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCIM_BASE_URL = "https://idp.example.com/scim/v2/Users/"


def _write_scim(path: Path, seed: int, scan_date: date, people: list[Person]) -> Path:
    """The identity provider's ``GET /Users`` ListResponse for the same people as hr.csv."""
    rng = _stream(seed, "scim")
    ids = {p.email: str(uuid_module.UUID(int=rng.getrandbits(128), version=4)) for p in people}
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(
            '{\n  "schemas": [\n    "' + SCIM_LIST + '"\n  ],\n'
            f'  "totalResults": {len(people)},\n  "startIndex": 1,\n  "itemsPerPage": {len(people)},\n'
            '  "Resources": [\n'
        )
        for index, person in enumerate(people):
            given, _, family = person.name.partition(" ")
            extension = {"employeeNumber": person.employee_id, "department": person.department}
            if person.manager_email:
                extension["manager"] = {"value": ids[person.manager_email],
                                        "$ref": SCIM_BASE_URL + ids[person.manager_email]}
            changed = person.end_date or person.start_date
            resource = {
                "schemas": [SCIM_USER, SCIM_ENTERPRISE],
                "id": ids[person.email],
                "externalId": person.employee_id,
                "userName": person.email,
                "name": {"formatted": person.name, "givenName": given, "familyName": family},
                "displayName": person.name,
                "emails": [{"value": person.email, "primary": True, "type": "work"}],
                "active": person.end_date is None,
                SCIM_ENTERPRISE: extension,
                "meta": {
                    "resourceType": "User",
                    "created": f"{person.start_date.isoformat()}T09:00:00Z",
                    "lastModified": f"{changed.isoformat()}T17:30:00Z",
                    "location": SCIM_BASE_URL + ids[person.email],
                },
            }
            text = json.dumps(resource, indent=2, ensure_ascii=False).replace("\n", "\n    ")
            handle.write("    " + text + (",\n" if index < len(people) - 1 else "\n"))
        handle.write("  ]\n}\n")
    return path


# =========================================================================== licences and contracts

LICENSE_COLUMNS = (
    "name", "product", "product_key", "seats", "expiration_date", "termination_date",
    "purchase_cost", "order_number", "manufacturer", "assigned_to", "asset_tag",
)
CONTRACT_COLUMNS = (
    "vendor", "reference", "start_date", "end_date", "notice_days", "covered_asset_tags", "covered_licenses", "cost",
)
# Yearly cost per covered asset, and of the enterprise agreement.
CONTRACT_COST_PER_ASSET = {"Dell Technologies": 380.0, "Cisco Systems": 240.0}
EA_COST = 48_000.0
M365 = "Microsoft 365 E3"
WINDOWS_ENTERPRISE = "Windows 11 Enterprise"
ACROBAT = "Adobe Acrobat Pro"
INTELLIJ = "JetBrains IntelliJ IDEA Ultimate"
ZOOM = "Zoom Workplace Business"
MAX_TAGS_PER_CONTRACT = 250   # keeps covered_asset_tags well under a CSV field's 4096 characters


def _write_licenses(path: Path, seed: int, scan_date: date, plan: _Plan, counts: dict[str, int]) -> Path:
    """A Snipe-IT licence export, one row per seat assignment.

    Microsoft 365 E3 seats for every current employee plus a few leavers who were never
    reclaimed; Windows 11 Enterprise per device; Adobe Acrobat Pro with fewer seats than
    installs (never one for the demo laptop's owner); JetBrains IntelliJ IDEA Ultimate expired;
    Zoom expiring within 30 days.
    """
    rng = _stream(seed, "licenses")
    people, assets = plan.people, plan.assets
    deployed = [a for a in assets if a.status == DEPLOYED]
    active = [p for p in people if p.end_date is None]
    leavers = [p for p in people if p.end_date is not None]
    stale_leavers = rng.sample(leavers, max(1, len(leavers) // 4))
    m365_holders = sorted(active + stale_leavers, key=lambda p: p.employee_id)
    win11 = [a for a in deployed if a.os == "windows11"]
    acrobat_hosts = [a for a in deployed if "acrobat" in a.extra_programs]
    acrobat_people = list({a.owner.email: a.owner for a in acrobat_hosts if a.owner is not None}.values())
    acrobat_seats = rng.sample(acrobat_people, max(1, len(acrobat_people) // 3)) if acrobat_people else []
    if plan.demo_laptop is not None:   # the demo laptop's Acrobat Pro is an unlicensed install
        acrobat_seats = [p for p in acrobat_seats if p.email != plan.demo_laptop.owner.email]
    intellij_people = list({a.owner.email: a.owner for a in deployed
                            if "intellij" in a.extra_programs and a.owner is not None}.values())
    engineers = [p for p in active if p.department == "Engineering"]
    if not intellij_people and engineers:
        intellij_people = [engineers[0]]
    zoom_people = [p for p in active if p.department in ("Sales", "Operations")] or active[:1]

    def key(groups: int) -> str:
        return "-".join("".join(rng.choices(_SERIAL_CHARS, k=5)) for _ in range(groups))

    def order() -> str:
        return f"PO-{scan_date.year - rng.randint(0, 2)}-{rng.randint(1000, 9999)}"

    products = (
        # name, product, key, seats, expires, cost per seat, vendor, seat holders (people or assets)
        (M365, "Microsoft 365 Apps for enterprise", key(5), len(m365_holders) + rng.randint(0, 5),
         _add_years(scan_date, 1) - timedelta(days=rng.randint(30, 300)), 432.0, "Microsoft", m365_holders),
        (WINDOWS_ENTERPRISE, WINDOWS_ENTERPRISE, key(5), len(win11) + rng.randint(0, 10),
         None, 84.0, "Microsoft", win11),
        (ACROBAT, ACROBAT, key(6), max(1, len(acrobat_seats)),
         scan_date + timedelta(days=rng.randint(90, 300)), 239.88, "Adobe", acrobat_seats),
        (INTELLIJ, INTELLIJ, key(4), max(1, len(intellij_people)),
         scan_date - timedelta(days=rng.randint(35, 60)), 599.0, "JetBrains", intellij_people),
        (ZOOM, "Zoom Workplace", key(4), len(zoom_people),
         scan_date + timedelta(days=rng.randint(7, 25)), 219.9, "Zoom Video Communications", zoom_people),
    )
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LICENSE_COLUMNS)
        for name, product, product_key, seats, expires, unit_cost, vendor, holders in products:
            shared = (name, product, product_key, seats, _iso(expires), "",
                      f"{seats * unit_cost:.2f}", order(), vendor)
            for holder in holders:
                if isinstance(holder, Person):
                    writer.writerow((*shared, holder.email, ""))
                else:
                    writer.writerow((*shared, "", holder.asset_tag))
                rows += 1
            if not holders:
                writer.writerow((*shared, "", ""))
                rows += 1
    counts.update({"licenses": len(products), "license_rows": rows,
                   "acrobat_installs": len(acrobat_hosts), "acrobat_seats": len(acrobat_seats)})
    return path


def _write_contracts(path: Path, seed: int, scan_date: date, assets: list[Asset], counts: dict[str, int]) -> Path:
    """Support contracts: Dell ProSupport per server purchase year, Cisco SmartNet ending within
    60 days of the scan, and the Microsoft Enterprise Agreement covering the Microsoft licences."""
    rng = _stream(seed, "contracts")
    rows: list[tuple] = []
    dell_servers = [a for a in assets if a.kind == SERVER and a.manufacturer == "Dell" and a.status != DISPOSED]
    by_year: dict[int, list[Asset]] = {}
    for server in dell_servers:
        by_year.setdefault(server.purchase_date.year, []).append(server)
    for year in sorted(by_year):
        group = by_year[year]
        for part, start in enumerate(range(0, len(group), MAX_TAGS_PER_CONTRACT), start=1):
            chunk = group[start:start + MAX_TAGS_PER_CONTRACT]
            begin = min(a.purchase_date for a in chunk)
            rows.append(("Dell Technologies", f"DELL-PSP-{year}-{part:03d}", begin.isoformat(),
                         _add_years(begin, 3).isoformat(), 30, ";".join(a.asset_tag for a in chunk), ""))
    network = [a for a in assets if a.kind == NETWORK and a.status in (DEPLOYED, REPAIR, READY)]
    smartnet_end = scan_date + timedelta(days=rng.randint(20, 55))
    for part, start in enumerate(range(0, len(network), MAX_TAGS_PER_CONTRACT), start=1):
        chunk = network[start:start + MAX_TAGS_PER_CONTRACT]
        rows.append(("Cisco Systems", f"CON-SNT-{rng.randint(10_000_000, 99_999_999)}",
                     _add_years(smartnet_end, -1).isoformat(), smartnet_end.isoformat(), 60,
                     ";".join(a.asset_tag for a in chunk), ""))
    ea_start = _add_years(scan_date, -2) - timedelta(days=rng.randint(30, 200))
    rows.append(("Microsoft", f"MS-EA-{rng.randint(10_000_000, 99_999_999)}", ea_start.isoformat(),
                 _add_years(ea_start, 3).isoformat(), 90, "", f"{M365};{WINDOWS_ENTERPRISE}"))
    rows = [(*row, f"{EA_COST:.2f}" if not row[5] else
             f"{CONTRACT_COST_PER_ASSET[row[0]] * len(row[5].split(';')):.2f}") for row in rows]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CONTRACT_COLUMNS)
        writer.writerows(rows)
    counts["contracts"] = len(rows)
    return path


# =========================================================================== AWS

AWS_ACCOUNT = "123456789012"
AWS_REGION = "us-east-1"
AWS_ZONES = (("us-east-1a", "use1-az1"), ("us-east-1b", "use1-az2"), ("us-east-1c", "use1-az4"))
AWS_VPC_CIDR = "172.31.0.0/16"        # the cloud never overlaps the offices' 10.x subnets
AWS_PRIVATE_SUBNETS_MAX = 15          # 172.31.16.0/20 ... 172.31.240.0/20
AWS_SUBNET_USABLE = 4091              # a /20 less the five addresses AWS reserves
AWS_OTHER_ROLES = (("worker", 30), ("batch", 15), ("cache", 15), ("search", 10), ("etl", 15),
                   ("analytics", 10), ("jump-win", 5))
AWS_INSTANCE_TYPES = {
    "bastion": ("t3.micro",), "app": ("m6i.large", "m6i.xlarge"), "db": ("r6i.xlarge", "r6i.2xlarge"),
    "worker": ("c6i.large", "c6i.xlarge"), "batch": ("c6i.2xlarge",), "cache": ("r6g.large",),
    "search": ("r6i.large",), "etl": ("m6i.2xlarge",), "analytics": ("r6i.4xlarge",),
    "jump-win": ("t3.large",),
}
AWS_SERVICE_USERS = ("ci-deployer", "terraform")
CREDENTIAL_REPORT_COLUMNS = (
    "user", "arn", "user_creation_time", "password_enabled", "password_last_used",
    "password_last_changed", "password_next_rotation", "mfa_active",
    "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
    "access_key_1_last_used_region", "access_key_1_last_used_service",
    "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
    "access_key_2_last_used_region", "access_key_2_last_used_service",
    "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated",
)
IAM_USER_SHARE = 0.5   # technical staff with an IAM user


@dataclass(slots=True)
class _Instance:
    instance_id: str
    role: str
    name: str
    instance_type: str
    state: str
    zone: int
    subnet_id: str
    private_ip: str
    public_ip: str | None
    mac: str
    eni_id: str
    reservation_id: str
    group: str               # key into _Cloud.groups
    launched: datetime
    imds_v2: bool
    windows: bool
    owner: Person


@dataclass(slots=True)
class _Cloud:
    vpc_id: str
    public_subnets: list[tuple[str, str, int]]    # (subnet id, cidr, zone index)
    private_subnets: list[tuple[str, str, int]]
    groups: dict[str, tuple[str, str]]             # key -> (group id, group name)
    instances: list[_Instance]
    iam_rows: list[tuple[str, ...]]
    departed_owner: Person


def _aws_id(rng: random.Random, prefix: str, taken: set[str]) -> str:
    while True:
        value = f"{prefix}-0{rng.getrandbits(64):016x}"
        if value not in taken:
            taken.add(value)
            return value


def _plan_cloud(seed: int, scan_date: date, people: list[Person], plan: _Plan, count: int) -> _Cloud:
    """One VPC in us-east-1: a bastion open to the internet, app servers behind it, databases
    behind them, and ``count`` instances in all; IAM users for part of the technical staff."""
    rng = _stream(seed, "aws")
    taken: set[str] = set()
    vpc_id = _aws_id(rng, "vpc", taken)
    groups = {key: (_aws_id(rng, "sg", taken), name) for key, name in (
        ("default", "default"), ("bastion", "bastion"), ("app", "app"), ("db", "db"), ("internal", "internal"))}

    db_count = max(1, round(count * 0.08))
    app_count = max(2, round(count * 0.25))
    other_count = count - 1 - db_count - app_count
    if other_count < 1:
        app_count += other_count - 1
        other_count = 1
    roles = ["bastion"] + ["app"] * app_count + ["db"] * db_count + [
        _weighted(rng, AWS_OTHER_ROLES) for _ in range(other_count)]

    private_count = count - 1
    subnet_count = min(AWS_PRIVATE_SUBNETS_MAX,
                       max(3, 3 * math.ceil(private_count / (3 * AWS_SUBNET_USABLE // 2))))
    public_subnets = [(_aws_id(rng, "subnet", taken), f"172.31.{zone}.0/24", zone) for zone in range(3)]
    private_subnets = [(_aws_id(rng, "subnet", taken), f"172.31.{16 * (index + 1)}.0/20", index % 3)
                       for index in range(subnet_count)]
    per_subnet = math.ceil(private_count / subnet_count)
    max_gap = max(1, min(3, (AWS_SUBNET_USABLE - 1) // max(1, per_subnet)))
    next_offset = [4 + rng.randint(0, 20) for _ in private_subnets]

    technical = [p for p in people if p.end_date is None and p.department in ("Engineering", "IT")]
    technical = technical or [p for p in people if p.end_date is None]
    leavers = [p for p in people if p.end_date is not None and p is not plan.departed_vpn]
    departed_owner = rng.choice(leavers) if leavers else plan.departed_vpn
    macs: set[str] = set()
    numbers: dict[str, int] = {}
    instances: list[_Instance] = []
    for index, role in enumerate(roles):
        if role == "bastion":
            subnet_id, cidr, zone = public_subnets[0]
            private_ip = f"172.31.0.{rng.randint(10, 250)}"
            public_ip = f"54.{rng.randint(160, 175)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        else:
            slot = (index - 1) % subnet_count
            subnet_id, cidr, zone = private_subnets[slot]
            offset = next_offset[slot]
            next_offset[slot] += rng.randint(1, max_gap)
            network = ipaddress.IPv4Network(cidr)
            private_ip = str(network.network_address + offset)
            public_ip = None
        number = numbers.get(role, 0) + 1
        numbers[role] = number
        while True:
            mac = "0e:" + ":".join(f"{b:02x}" for b in rng.getrandbits(40).to_bytes(5, "big"))
            if mac not in macs:
                macs.add(mac)
                break
        state = "running" if role in ("bastion", "app", "db") or rng.random() > 0.05 else "stopped"
        launched = datetime.combine(scan_date, time(0, 0), tzinfo=timezone.utc) - timedelta(
            days=rng.randint(5, 900), seconds=rng.randint(0, 86399))
        instances.append(_Instance(
            instance_id=_aws_id(rng, "i", taken),
            role=role,
            name=f"prod-{role}-{number:02d}",
            instance_type=rng.choice(AWS_INSTANCE_TYPES[role]),
            state=state,
            zone=zone,
            subnet_id=subnet_id,
            private_ip=private_ip,
            public_ip=public_ip,
            mac=mac,
            eni_id=_aws_id(rng, "eni", taken),
            reservation_id=_aws_id(rng, "r", taken),
            group=role if role in ("bastion", "app", "db") else "internal",
            launched=launched,
            imds_v2=role != "bastion" and rng.random() > 0.15,   # the bastion still allows IMDSv1
            windows=role == "jump-win",
            owner=rng.choice(technical),
        ))
    others = [i for i in instances if i.group == "internal"]
    rng.choice(others).owner = departed_owner     # an instance tagged with a leaver's e-mail
    return _Cloud(vpc_id=vpc_id, public_subnets=public_subnets, private_subnets=private_subnets,
                  groups=groups, instances=instances,
                  iam_rows=_credential_report_rows(rng, scan_date, people, plan.departed_vpn),
                  departed_owner=departed_owner)


def _aws_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _credential_report_rows(
    rng: random.Random, scan_date: date, people: list[Person], departed: Person
) -> list[tuple[str, ...]]:
    """IAM users named by e-mail local part: half the technical staff, a few properly offboarded
    leavers, two service users, and the departed_vpn_user with an access key still active."""
    now = datetime.combine(scan_date, time(6, 0), tzinfo=timezone.utc)
    na = "N/A"

    def ago(low: int, high: int) -> datetime:
        return now - timedelta(days=rng.randint(low, high), seconds=rng.randint(0, 86399))

    def key_columns(active: bool, rotated: datetime, used: datetime | None, service: str) -> list[str]:
        if used is None:
            return ["true" if active else "false", _aws_time(rotated), na, na, na]
        return ["true" if active else "false", _aws_time(rotated), _aws_time(used), AWS_REGION, service]

    no_key = ["false", na, na, na, na]
    rows = [("<root_account>", f"arn:aws:iam::{AWS_ACCOUNT}:root", _aws_time(ago(1800, 2200)), "not_supported",
             _aws_time(ago(60, 200)), "not_supported", "not_supported", "true", *no_key, *no_key,
             "false", na, "false", na)]
    users: list[tuple[Person | None, str]] = []
    for person in people:
        technical = person.department in ("Engineering", "IT")
        if person is departed:
            users.append((person, "departed"))
        elif person.end_date is None and technical and rng.random() < IAM_USER_SHARE:
            users.append((person, "active"))
        elif person.end_date is not None and technical and rng.random() < 0.3:
            users.append((person, "offboarded"))
    users += [(None, name) for name in AWS_SERVICE_USERS]
    for person, status in users:
        name = person.email.split("@", 1)[0] if person else status
        created = ago(200, 1800) if person is None else max(
            datetime.combine(person.start_date, time(10, 0), tzinfo=timezone.utc), ago(1500, 1800))
        rotated = created + (now - created) * rng.uniform(0.1, 0.9)
        if person is None:          # a service user: keys only, no console
            password = ["false", na, na, na, "false"]
            key1 = key_columns(True, rotated, ago(0, 2), rng.choice(("s3", "ecr", "sts")))
        elif status == "departed":   # console removed, the access key forgotten and still in use
            end = datetime.combine(person.end_date, time(18, 0), tzinfo=timezone.utc)
            rotated = min(rotated, end - timedelta(days=30))
            password = ["false", _aws_time(end - timedelta(days=2)), _aws_time(rotated), na, "false"]
            key1 = key_columns(True, rotated, now - timedelta(days=rng.randint(1, 5), hours=3), "s3")
        elif status == "offboarded":
            end = datetime.combine(person.end_date, time(18, 0), tzinfo=timezone.utc)
            rotated = min(rotated, end - timedelta(days=30))
            password = ["false", _aws_time(end - timedelta(days=3)), _aws_time(rotated), na, "true"]
            key1 = key_columns(False, rotated, end - timedelta(days=4), "ec2")
        else:
            used = ago(0, 30) if rng.random() < 0.9 else None
            password = ["true", _aws_time(used) if used else "no_information", _aws_time(rotated), na,
                        "true" if rng.random() < 0.85 else "false"]
            key1 = (key_columns(True, rotated, ago(0, 60) if rng.random() < 0.8 else None,
                                rng.choice(("s3", "ec2", "sts", "cloudformation")))
                    if rng.random() < 0.6 else no_key)
        rows.append((name, f"arn:aws:iam::{AWS_ACCOUNT}:user/{name}", _aws_time(created), *password,
                     *key1, *no_key, "false", na, "false", na))
    return rows


def _write_aws(out_dir: Path, seed: int, scan_date: date, cloud: _Cloud, counts: dict[str, int]) -> list[Path]:
    """The AWS CLI's JSON for describe-instances/-security-groups/-subnets/-vpcs and the IAM
    credential report, each as ``aws ... --output json`` prints it (four-space indents)."""
    paths = [
        _write_aws_instances(out_dir / "aws-ec2-describe-instances.json", cloud),
        _write_aws_json(out_dir / "aws-ec2-describe-security-groups.json", {"SecurityGroups": _aws_groups(cloud)}),
        _write_aws_json(out_dir / "aws-ec2-describe-subnets.json", {"Subnets": _aws_subnets(cloud)}),
        _write_aws_json(out_dir / "aws-ec2-describe-vpcs.json", {"Vpcs": [_aws_vpc(cloud)]}),
        _write_credential_report(out_dir / "aws-iam-credential-report.json", scan_date, cloud),
    ]
    counts.update({"cloud_instances": len(cloud.instances),
                   "iam_users": len(cloud.iam_rows) - 1})
    return paths


def _write_aws_json(path: Path, document: dict) -> Path:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps(document, indent=4) + "\n")
    return path


def _write_aws_instances(path: Path, cloud: _Cloud) -> Path:
    """Streamed: one reservation per instance, written as it is rendered."""
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write('{\n    "Reservations": [\n')
        last = len(cloud.instances) - 1
        for index, instance in enumerate(cloud.instances):
            reservation = {
                "Groups": [],
                "Instances": [_aws_instance(cloud, instance)],
                "OwnerId": AWS_ACCOUNT,
                "ReservationId": instance.reservation_id,
            }
            text = json.dumps(reservation, indent=4).replace("\n", "\n        ")
            handle.write("        " + text + (",\n" if index < last else "\n"))
        handle.write("    ]\n}\n")
    return path


def _aws_instance(cloud: _Cloud, i: _Instance) -> dict:
    group_id, group_name = cloud.groups[i.group]
    groups = [{"GroupId": group_id, "GroupName": group_name}]
    zone = AWS_ZONES[i.zone][0]
    dns = "ip-" + i.private_ip.replace(".", "-") + ".ec2.internal"
    launched = _aws_time(i.launched)
    running = i.state == "running"
    address = {"Primary": True, "PrivateDnsName": dns, "PrivateIpAddress": i.private_ip}
    eni = {
        "Attachment": {
            "AttachTime": launched, "AttachmentId": "eni-attach-" + i.eni_id[4:],
            "DeleteOnTermination": True, "DeviceIndex": 0, "Status": "attached", "NetworkCardIndex": 0,
        },
        "Description": "", "Groups": groups, "Ipv6Addresses": [], "MacAddress": i.mac,
        "NetworkInterfaceId": i.eni_id, "OwnerId": AWS_ACCOUNT, "PrivateDnsName": dns,
        "PrivateIpAddress": i.private_ip, "PrivateIpAddresses": [address], "SourceDestCheck": True,
        "Status": "in-use", "SubnetId": i.subnet_id, "VpcId": cloud.vpc_id, "InterfaceType": "interface",
    }
    public = i.public_ip if running else None
    if public:
        association = {"IpOwnerId": "amazon", "PublicDnsName": f"ec2-{public.replace('.', '-')}.compute-1.amazonaws.com",
                       "PublicIp": public}
        eni = {"Association": association, **eni}
        address["Association"] = association
    tags = [{"Key": "Name", "Value": i.name}, {"Key": "Owner", "Value": i.owner.email},
            {"Key": "Environment", "Value": "production"}]
    instance = {
        "AmiLaunchIndex": 0,
        "ImageId": "ami-0c7217cdde317cfec" if not i.windows else "ami-0f9c44e98edf38a2b",
        "InstanceId": i.instance_id,
        "InstanceType": i.instance_type,
        "KeyName": "prod-ops",
        "LaunchTime": launched,
        "Monitoring": {"State": "disabled"},
        "Placement": {"AvailabilityZone": zone, "GroupName": "", "Tenancy": "default"},
        "PrivateDnsName": dns,
        "PrivateIpAddress": i.private_ip,
        "ProductCodes": [],
        "PublicDnsName": (f"ec2-{public.replace('.', '-')}.compute-1.amazonaws.com" if public else ""),
    }
    if public:
        instance["PublicIpAddress"] = public
    if i.windows:
        instance["Platform"] = "windows"
    instance.update({
        "State": {"Code": 16, "Name": "running"} if running else {"Code": 80, "Name": "stopped"},
        "StateTransitionReason": "" if running else "User initiated",
        "SubnetId": i.subnet_id,
        "VpcId": cloud.vpc_id,
        "Architecture": "x86_64",
        "BlockDeviceMappings": [{"DeviceName": "/dev/sda1" if i.windows else "/dev/xvda",
                                 "Ebs": {"AttachTime": launched, "DeleteOnTermination": True,
                                         "Status": "attached", "VolumeId": "vol-" + i.eni_id[4:]}}],
        "ClientToken": "terraform-" + i.reservation_id[2:],
        "EbsOptimized": True,
        "EnaSupport": True,
        "Hypervisor": "xen",
        "NetworkInterfaces": [eni],
        "RootDeviceName": "/dev/sda1" if i.windows else "/dev/xvda",
        "RootDeviceType": "ebs",
        "SecurityGroups": groups,
        "SourceDestCheck": True,
        "Tags": tags,
        "VirtualizationType": "hvm",
        "MetadataOptions": {"State": "applied", "HttpTokens": "required" if i.imds_v2 else "optional",
                            "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled",
                            "HttpProtocolIpv6": "disabled", "InstanceMetadataTags": "disabled"},
        "PlatformDetails": "Windows" if i.windows else "Linux/UNIX",
        "UsageOperation": "RunInstances:0002" if i.windows else "RunInstances",
    })
    return instance


def _permission(protocol: str, low: int, high: int, cidrs: tuple[tuple[str, str], ...] = (),
                groups: tuple[tuple[str, str], ...] = ()) -> dict:
    permission = {"IpProtocol": protocol}
    if protocol != "-1":
        permission["FromPort"], permission["ToPort"] = low, high
    permission.update({
        "IpRanges": [{"CidrIp": cidr, "Description": note} for cidr, note in cidrs],
        "Ipv6Ranges": [],
        "PrefixListIds": [],
        "UserIdGroupPairs": [{"Description": note, "GroupId": group, "UserId": AWS_ACCOUNT}
                             for group, note in groups],
    })
    return permission


def _aws_groups(cloud: _Cloud) -> list[dict]:
    """sg bastion: tcp/22 from anywhere; app: tcp/8080 (and 22) from the bastion; db: tcp/5432
    from app; internal: tcp/22 from the bastion and tcp/443 from the VPC."""
    ids = {key: value[0] for key, value in cloud.groups.items()}
    ingress = {
        "default": [_permission("-1", 0, 0, groups=((ids["default"], ""),))],
        "bastion": [_permission("tcp", 22, 22, cidrs=(("0.0.0.0/0", "SSH from anywhere"),))],
        "app": [_permission("tcp", 8080, 8080, groups=((ids["bastion"], "app from bastion"),)),
                _permission("tcp", 22, 22, groups=((ids["bastion"], "SSH from bastion"),))],
        "db": [_permission("tcp", 5432, 5432, groups=((ids["app"], "PostgreSQL from app"),))],
        "internal": [_permission("tcp", 22, 22, groups=((ids["bastion"], "SSH from bastion"),)),
                     _permission("tcp", 443, 443, cidrs=((AWS_VPC_CIDR, "HTTPS inside the VPC"),)),
                     _permission("tcp", 3389, 3389, groups=((ids["bastion"], "RDP from bastion"),))],
    }
    descriptions = {"default": "default VPC security group", "bastion": "SSH bastion",
                    "app": "application servers", "db": "PostgreSQL databases", "internal": "internal services"}
    return [{
        "Description": descriptions[key],
        "GroupName": name,
        "IpPermissions": ingress[key],
        "OwnerId": AWS_ACCOUNT,
        "GroupId": group_id,
        "IpPermissionsEgress": [_permission("-1", 0, 0, cidrs=(("0.0.0.0/0", ""),))],
        "Tags": [] if key == "default" else [{"Key": "Name", "Value": f"prod-{name}"}],
        "VpcId": cloud.vpc_id,
    } for key, (group_id, name) in cloud.groups.items()]


def _aws_subnets(cloud: _Cloud) -> list[dict]:
    used: dict[str, int] = {}
    for instance in cloud.instances:
        used[instance.subnet_id] = used.get(instance.subnet_id, 0) + 1
    subnets = []
    for public, entries in ((True, cloud.public_subnets), (False, cloud.private_subnets)):
        for subnet_id, cidr, zone in entries:
            size = ipaddress.IPv4Network(cidr).num_addresses - 5
            subnets.append({
                "AvailabilityZone": AWS_ZONES[zone][0],
                "AvailabilityZoneId": AWS_ZONES[zone][1],
                "AvailableIpAddressCount": size - used.get(subnet_id, 0),
                "CidrBlock": cidr,
                "DefaultForAz": False,
                "MapPublicIpOnLaunch": public,
                "State": "available",
                "SubnetId": subnet_id,
                "VpcId": cloud.vpc_id,
                "OwnerId": AWS_ACCOUNT,
                "AssignIpv6AddressOnCreation": False,
                "Ipv6CidrBlockAssociationSet": [],
                "Tags": [{"Key": "Name", "Value": f"prod-{'public' if public else 'private'}-{AWS_ZONES[zone][0][-1]}"
                                                  f"{'' if public else '-' + cidr.split('.')[2]}"}],
                "SubnetArn": f"arn:aws:ec2:{AWS_REGION}:{AWS_ACCOUNT}:subnet/{subnet_id}",
            })
    return subnets


def _aws_vpc(cloud: _Cloud) -> dict:
    return {
        "CidrBlock": AWS_VPC_CIDR,
        "DhcpOptionsId": "dopt-0" + cloud.vpc_id[5:],
        "State": "available",
        "VpcId": cloud.vpc_id,
        "OwnerId": AWS_ACCOUNT,
        "InstanceTenancy": "default",
        "CidrBlockAssociationSet": [{"AssociationId": "vpc-cidr-assoc-0" + cloud.vpc_id[5:],
                                     "CidrBlock": AWS_VPC_CIDR, "CidrBlockState": {"State": "associated"}}],
        "IsDefault": False,
        "Tags": [{"Key": "Name", "Value": "prod"}],
    }


def _write_credential_report(path: Path, scan_date: date, cloud: _Cloud) -> Path:
    """``aws iam get-credential-report``: the report CSV, base64-encoded in ``Content``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CREDENTIAL_REPORT_COLUMNS)
    writer.writerows(cloud.iam_rows)
    content = base64.b64encode(buffer.getvalue().rstrip("\n").encode("utf-8")).decode("ascii")
    generated = datetime.combine(scan_date, time(5, 58, 12), tzinfo=timezone.utc)
    return _write_aws_json(path, {"Content": content, "ReportFormat": "text/csv",
                                  "GeneratedTime": _aws_time(generated)})


# =========================================================================== osquery

OSQUERY_START = time(6, 0)
OSQUERY_SPREAD_SECONDS = 3 * 3600
OLD_OPENSSL_SHARE = 0.10    # Linux hosts still on an older OpenSSL build
TELNET_REMOVED_SHARE = 0.03  # Linux hosts where a removal event shows telnet going away

HARDWARE_VENDOR = {"Dell": "Dell Inc.", "HP": "HP", "Lenovo": "LENOVO", "Apple": "Apple Inc.",
                   "Supermicro": "Supermicro", "Cisco": "Cisco Systems Inc"}
OS_VERSION_ROWS = {
    "linux": {"name": "Ubuntu", "version": "22.04.3 LTS (Jammy Jellyfish)", "platform": "ubuntu"},
    "windows11": {"name": "Microsoft Windows 11 Enterprise", "version": "10.0.22631", "platform": "windows"},
    "windows10": {"name": "Microsoft Windows 10 Enterprise", "version": "10.0.19045", "platform": "windows"},
    "macos": {"name": "macOS", "version": "14.6.1", "platform": "darwin"},
}
DEB_BASE = (
    ("adduser", "3.118ubuntu5", "all"), ("apt", "2.4.11", "amd64"), ("bash", "5.1-6ubuntu1", "amd64"),
    ("ca-certificates", "20230311ubuntu0.22.04.1", "all"), ("coreutils", "8.32-4.1ubuntu1", "amd64"),
    ("curl", "7.81.0-1ubuntu1.14", "amd64"), ("libc6", "2.35-0ubuntu3.4", "amd64"),
    ("linux-image-5.15.0-88-generic", "5.15.0-88.98", "amd64"),
    ("openssh-client", "1:8.9p1-3ubuntu0.4", "amd64"), ("openssh-server", "1:8.9p1-3ubuntu0.4", "amd64"),
    ("osquery", "5.10.2-1.linux", "amd64"), ("python3", "3.10.6-1~22.04", "amd64"),
    ("rsyslog", "8.2112.0-2ubuntu2.2", "amd64"), ("sudo", "1.9.9-1ubuntu2.4", "amd64"),
    ("systemd", "249.11-0ubuntu3.11", "amd64"), ("tzdata", "2023c-0ubuntu0.22.04.2", "all"),
    ("vim", "2:8.2.3995-1ubuntu2.13", "amd64"), ("xz-utils", "5.2.5-2ubuntu1", "amd64"),
    ("zlib1g", "1:1.2.11.dfsg-2ubuntu9.2", "amd64"),
)
OPENSSL_CURRENT, OPENSSL_OLD = "3.0.2-0ubuntu1.12", "3.0.2-0ubuntu1.7"
TELNET = ("telnet", "0.17-44build1", "amd64")
OPENJDK = ("openjdk-17-jre-headless", "17.0.9+9-1~22.04", "amd64")
GIT_DEB = ("git", "1:2.34.1-1ubuntu1.10", "amd64")
DOCKER_DEB = ("docker-ce", "5:24.0.7-1~ubuntu.22.04~jammy", "amd64")
DEB_ROLE = {
    "web": (("nginx", "1.24.0-1~jammy", "amd64"),),
    "app": (OPENJDK, ("tomcat9", "9.0.83-1", "all")),
    "postgresql": (("postgresql-14", "14.9-0ubuntu0.22.04.1", "amd64"),
                   ("postgresql-client-14", "14.9-0ubuntu0.22.04.1", "amd64")),
    "mysql": (("mysql-server-8.0", "8.0.35-0ubuntu0.22.04.1", "amd64"),
              ("mysql-client-8.0", "8.0.35-0ubuntu0.22.04.1", "amd64")),
    "files": (("samba", "2:4.15.13+dfsg-0ubuntu1.5", "amd64"),),
    "ci": (("jenkins", "2.426.1", "all"), OPENJDK, GIT_DEB, DOCKER_DEB),
    "desktop": (("code", "1.84.2-1699528352", "amd64"), ("google-chrome-stable", "119.0.6045.159-1", "amd64"),
                GIT_DEB, DOCKER_DEB),
}
DEB_EDR = ("falcon-sensor", "7.10.0-16303", "amd64")
DEB_LOGGING = ("elastic-agent", "8.11.1", "amd64")

PROGRAMS_BASE = (
    ("7-Zip 23.01 (x64)", "23.01", "Igor Pavlov"),
    ("Microsoft 365 Apps for enterprise - en-us", "16.0.17029.20108", "Microsoft Corporation"),
    ("Microsoft Edge", "119.0.2151.72", "Microsoft Corporation"),
    ("Microsoft Teams", "23285.3604.2469.4152", "Microsoft"),
    ("osquery", "5.10.2", "osquery"),
    ("Zoom Workplace (64-bit)", "6.2.11", "Zoom Video Communications, Inc."),
)
CHROME_CURRENT = ("Google Chrome", "119.0.6045.160", "Google LLC")
CHROME_OLD = ("Google Chrome", "114.0.5735.199", "Google LLC")
ACROBAT_READER = ("Adobe Acrobat Reader (64-bit)", "23.006.20380", "Adobe")
PROGRAMS_EXTRA = {
    "acrobat": ("Adobe Acrobat Pro", "23.006.20380", "Adobe"),
    "intellij": ("JetBrains IntelliJ IDEA Ultimate", "2023.2.5", "JetBrains s.r.o."),
    "photoshop": ("Adobe Photoshop 2024", "25.2.0", "Adobe Inc."),
}
PROGRAMS_ENGINEERING = (
    ("Docker Desktop", "4.25.2", "Docker Inc."),
    ("Git", "2.43.0", "The Git Development Community"),
    ("Microsoft Visual Studio Code (User)", "1.84.2", "Microsoft Corporation"),
    ("Python 3.12.0 (64-bit)", "3.12.150.0", "Python Software Foundation"),
)
PROGRAM_EDR = ("CrowdStrike Windows Sensor", "7.10.17706.0", "CrowdStrike, Inc.")
ROLE_LISTEN = {
    "web": (80, 443), "app": (8080,), "postgresql": (5432,), "mysql": (3306,), "files": (139, 445),
    "ci": (8080,),
}
CA_FILE_LINUX = "/usr/local/share/ca-certificates/example-corp-internal-ca.crt"


def _js(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@lru_cache(maxsize=4096)
def _osquery_time(unix_time: int) -> str:
    return datetime.fromtimestamp(unix_time, tz=timezone.utc).strftime("%a %b %d %H:%M:%S %Y UTC")


@lru_cache(maxsize=None)
def _deb_snapshot(role: str, edr: bool, logging: bool, old_openssl: bool, telnet: bool) -> str:
    ssl = OPENSSL_OLD if old_openssl else OPENSSL_CURRENT
    rows = [*DEB_BASE, ("libssl3", ssl, "amd64"), ("openssl", ssl, "amd64"), *DEB_ROLE.get(role, ())]
    if edr:
        rows.append(DEB_EDR)
    if logging:
        rows.append(DEB_LOGGING)
    if telnet:
        rows.append(TELNET)
    rows = sorted(dict.fromkeys(rows))
    return _js([{"name": name, "version": version, "arch": arch} for name, version, arch in rows])


@lru_cache(maxsize=None)
def _program_snapshot(engineering: bool, extras: tuple[str, ...], edr: bool, old_chrome: bool) -> str:
    rows = [*PROGRAMS_BASE, CHROME_OLD if old_chrome else CHROME_CURRENT]
    rows += [PROGRAMS_EXTRA[name] for name in extras]
    if "acrobat" not in extras:
        rows.append(ACROBAT_READER)
    if engineering:
        rows += PROGRAMS_ENGINEERING
    if edr:
        rows.append(PROGRAM_EDR)
    rows.sort(key=lambda row: row[0].lower())
    return _js([{"name": name, "version": version, "publisher": publisher} for name, version, publisher in rows])


@lru_cache(maxsize=None)
def _ports_snapshot(os_key: str, role: str, address: str) -> str:
    rows: list[tuple[str, str, str]] = []
    if os_key == "linux":
        rows.append(("22", "6", "0.0.0.0"))
        rows += [(str(port), "6", "0.0.0.0") for port in ROLE_LISTEN.get(role, ())]
        rows += [("53", "6", "127.0.0.53"), ("53", "17", "127.0.0.53"), ("6791", "6", "127.0.0.1")]
    elif os_key.startswith("windows"):
        rows += [("135", "6", "0.0.0.0"), ("139", "6", address), ("445", "6", "0.0.0.0"),
                 ("3389", "6", "0.0.0.0"), ("5040", "6", "0.0.0.0"), ("49664", "6", "0.0.0.0"),
                 ("137", "17", address), ("5353", "17", "0.0.0.0")]
    else:  # macOS
        rows += [("22", "6", "0.0.0.0"), ("5000", "6", "0.0.0.0"), ("7000", "6", "0.0.0.0")]
    return _js([{"port": port, "protocol": proto, "address": addr} for port, proto, addr in rows])


def _ssh_key(seed: int, who: str) -> str:
    """A person's (deterministic) ed25519 public key, as it appears in authorized_keys."""
    public = hashlib.sha256(f"itam-demo/{seed}/ssh/{who}".encode()).digest()
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + public
    return base64.b64encode(blob).decode("ascii")


def _write_osquery(
    path: Path, seed: int, scan_date: date, plan: _Plan, certs: "_Certificates", counts: dict[str, int]
) -> Path:
    """osqueryd's filesystem logger output: one scheduled-query snapshot per line per host
    (system_info, os_version, packages/programs, interfaces, listening ports, certificates
    and authorized_keys where relevant), plus a few differential 'removed' events."""
    rng = _stream(seed, "osquery")
    start = int(datetime.combine(scan_date, OSQUERY_START, tzinfo=timezone.utc).timestamp())
    technical = [p for p in plan.people if p.end_date is None and p.department == "IT"] or \
        [p for p in plan.people if p.end_date is None]
    host_certs = certs.by_host() if certs is not None else {}
    departed_hosts = {a.asset_tag for a in plan.departed_ssh_hosts}
    departed_user = plan.departed_vpn.email.split("@", 1)[0]
    first_linux = next((a for a in plan.assets if a.agent and a.os == "linux"), None)   # always one removal
    agents = lines = removals = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for asset in plan.assets:
            if not asset.agent:
                continue
            agents += 1
            host = asset.hostname
            unix = start + rng.randint(0, OSQUERY_SPREAD_SECONDS)
            decorations = _js({"host_uuid": asset.agent_uuid, "hostname": host})
            head_host = _js(host)

            def line(table: str, payload: str, at: int, action: str = "snapshot", counter: int = 0) -> str:
                body = '"snapshot":' + payload if action == "snapshot" else '"columns":' + payload
                return (
                    f'{{"name":"pack_inventory_{table}","hostIdentifier":{head_host},'
                    f'"calendarTime":"{_osquery_time(at)}","unixTime":{at},"epoch":0,"counter":{counter},'
                    f'"decorations":{decorations},"action":"{action}",{body}}}\n'
                )

            model = ("HP " + asset.model) if asset.manufacturer == "HP" else asset.model
            out = [line("system_info", _js([{
                "hostname": host, "uuid": asset.agent_uuid, "hardware_serial": asset.serial,
                "hardware_vendor": HARDWARE_VENDOR[asset.manufacturer], "hardware_model": model,
            }]), unix)]
            out.append(line("os_version", _js([OS_VERSION_ROWS[asset.os]]), unix + 1))
            telnet = False
            if asset.os == "linux":
                role = (asset.flavor or asset.role) if asset.kind == SERVER else "desktop"
                telnet = rng.random() < TELNET_REMOVED_SHARE or asset is first_linux
                payload = _deb_snapshot(role, asset.edr_seen is not None, asset.log_seen is not None,
                                        rng.random() < OLD_OPENSSL_SHARE, telnet)
                out.append(line("deb_packages", payload, unix + 2))
            elif asset.os.startswith("windows"):
                engineering = asset.owner is not None and asset.owner.department == "Engineering"
                payload = _program_snapshot(engineering, asset.extra_programs, asset.edr_seen is not None,
                                            rng.random() < 0.2)
                out.append(line("programs", payload, unix + 2))
            interface = {"linux": "eno1", "macos": "en0"}.get(asset.os, str(rng.choice((4, 7, 12, 13))))
            out.append(line("interface_addresses", _js([
                {"interface": "lo" if asset.os == "linux" else ("lo0" if asset.os == "macos" else "1"),
                 "address": "127.0.0.1", "mask": "255.0.0.0"},
                {"interface": interface, "address": asset.ip, "mask": "255.255.255.0"},
            ]), unix + 3))
            out.append(line("interface_details", _js([{"interface": interface, "mac": asset.mac}]), unix + 3))
            role = (asset.flavor or asset.role) if asset.kind == SERVER else ""
            out.append(line("listening_ports", _ports_snapshot(asset.os, role, asset.ip), unix + 4))
            found = host_certs.get(asset.asset_tag)
            if found:
                out.append(line("certificates", _js(found), unix + 5))
            if asset.kind == SERVER:
                out.append(line("authorized_keys", _js(_authorized_keys(
                    seed, rng, asset, technical, departed_user if asset.asset_tag in departed_hosts else None,
                    plan.user_numbers)), unix + 6))
            if telnet:
                removed = {"name": TELNET[0], "version": TELNET[1], "arch": TELNET[2]}
                out.append(line("deb_packages", _js(removed), unix + 3600, action="removed", counter=1))
                removals += 1
            handle.write("".join(out))
            lines += len(out)
    counts.update({"osquery_agents": agents, "osquery_lines": lines, "osquery_removed_events": removals})
    return path


def _authorized_keys(
    seed: int, rng: random.Random, server: Asset, technical: list[Person], departed_user: str | None,
    numbers: dict[str, int],
) -> list[dict[str, str]]:
    """The server owner's key, an IT admin's, a CI deploy key on app tiers, maybe a leaver's."""
    users: list[tuple[str, str, str]] = []   # (account, key owner, comment)
    people = [server.owner] if server.owner is not None else []
    admin = rng.choice(technical)
    if admin not in people:
        people.append(admin)
    for person in people:
        name = person.email.split("@", 1)[0]
        users.append((name, name, f"{name}@{EMAIL_DOMAIN}"))
    if departed_user:
        users.append((departed_user, departed_user, f"{departed_user}@{EMAIL_DOMAIN}"))
    if server.role in ("web", "app"):
        users.append(("deploy", "jenkins", "jenkins@ci-01"))
    rows = []
    for account, key_owner, comment in users:
        uid = "1500" if account == "deploy" else str(2000 + numbers.get(f"{account}@{EMAIL_DOMAIN}", 0))
        rows.append({"uid": uid, "algorithm": "ssh-ed25519", "key": _ssh_key(seed, key_owner),
                     "key_file": f"/home/{account}/.ssh/authorized_keys", "comment": comment})
    return rows


# =========================================================================== coverage

COVERAGE_COLUMNS = ("tool", "category", "hostname", "serial", "mac", "last_check_in")


def _coverage_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_coverage(out_dir: Path, scan_date: date, assets: list[Asset], counts: dict[str, int]) -> list[Path]:
    """EDR, MDM and log-shipping exports, each in its console's usual MAC style; deliberately
    incomplete, and the EDR still lists a server archived months ago (its last check-in)."""
    def edr(a: Asset) -> tuple | None:
        if a.edr_seen is None:
            return None
        return ("CrowdStrike Falcon", "edr", a.hostname, a.serial, a.mac.replace(":", "-"), _coverage_time(a.edr_seen))

    def mdm(a: Asset) -> tuple | None:
        if a.mdm_seen is None:
            return None
        if a.mdm_tool == "Jamf Pro":
            return ("Jamf Pro", "mdm", a.hostname, a.serial, a.mac.upper(), _coverage_time(a.mdm_seen))
        return ("Intune", "mdm", a.hostname.upper(), a.serial, a.mac.replace(":", "").upper(),
                _coverage_time(a.mdm_seen))

    def logging(a: Asset) -> tuple | None:
        if a.log_seen is None:
            return None
        return ("Elastic Agent", "logging", f"{a.hostname}{DNS_SUFFIX}", a.serial, a.mac, _coverage_time(a.log_seen))

    paths = []
    for name, render in (("edr", edr), ("mdm", mdm), ("logging", logging)):
        path = out_dir / f"coverage-{name}.csv"
        rows = 0
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COVERAGE_COLUMNS)
            for asset in assets:
                row = render(asset)
                if row is not None:
                    writer.writerow(row)
                    rows += 1
            if name == "mdm":
                rows += _write_swapped_board(writer, assets)
        counts[f"coverage_{name}"] = rows
        paths.append(path)
    return paths


def _write_swapped_board(writer, assets: list[Asset]) -> int:
    """One MDM record after a repair swapped a laptop's board: the serial of one enrolled laptop with
    the MAC of another: the record lands on the laptop its serial names, the MAC then names two laptops,
    and the next scan that sees it cannot tell which (an identity conflict to review)."""
    enrolled = sorted((a for a in assets if a.kind == LAPTOP and a.mdm_seen is not None), key=lambda a: a.asset_tag)
    if len(enrolled) < 2:
        return 0
    first, second = enrolled[:2]
    writer.writerow(("Intune", "mdm", first.hostname.upper(), first.serial, second.mac.replace(":", "").upper(),
                     _coverage_time(first.mdm_seen)))
    return 1


# =========================================================================== certificates

CA_NAME = "Example Corp Internal CA"
ORGANISATION = "Example Corp"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
CERT_LIFETIME_DAYS = 397


@dataclass(slots=True)
class _MintedCert:
    file_name: str
    pem: bytes
    common_name: str
    subject: str                 # osquery's /C=../O=../CN=.. form
    issuer: str
    not_after: datetime
    sha1: str
    validity: str                # 'valid' | 'expiring' | 'expired' | 'ca'
    holder: Asset | Person | None


@dataclass(slots=True)
class _Certificates:
    ca: _MintedCert
    servers: list[_MintedCert]
    clients: list[_MintedCert]
    plan: _Plan

    def by_host(self) -> dict[str, list[dict[str, str]]]:
        """osquery certificates rows per asset tag: server certificates on their servers, VPN
        client certificates on their holders' Windows endpoints, with the CA beside them."""
        rows: dict[str, list[dict[str, str]]] = {}
        for cert in self.servers:
            server = cert.holder
            rows[server.asset_tag] = [
                _osquery_cert(self.ca, CA_FILE_LINUX),
                _osquery_cert(cert, f"/etc/ssl/certs/{server.hostname}.pem"),
            ]
        holders = {cert.holder.email: cert for cert in self.clients if isinstance(cert.holder, Person)}
        for asset in self.plan.assets:
            if (asset.agent and asset.os.startswith("windows") and asset.owner is not None
                    and asset.owner.email in holders and asset.asset_tag not in rows):
                rows[asset.asset_tag] = [
                    _osquery_cert(self.ca, "LocalMachine\\Trusted Root Certification Authorities"),
                    _osquery_cert(holders[asset.owner.email], "CurrentUser\\Personal"),
                ]
        return rows


def _osquery_cert(cert: _MintedCert, where: str) -> dict[str, str]:
    return {"common_name": cert.common_name, "subject": cert.subject, "issuer": cert.issuer,
            "not_valid_after": str(int(cert.not_after.timestamp())), "sha1": cert.sha1, "path": where}


def _mint_certificates(seed: int, scan_date: date, plan: _Plan) -> _Certificates:
    """An internal CA and the certificates it issued, all on P-256 keys derived from the seed,
    signed with deterministic ECDSA (RFC 6979), so the PEM files are byte-identical per seed.
    Private keys only ever live in memory."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    rng = _stream(seed, "certificates")
    midnight = datetime.combine(scan_date, time(0, 0), tzinfo=timezone.utc)

    def key():
        return ec.derive_private_key(rng.randrange(1, _P256_ORDER), ec.SECP256R1())

    def name(common_name: str, unit: str | None = None) -> x509.Name:
        parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION)]
        if unit:
            parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
        parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        return x509.Name(parts)

    def slash(value: x509.Name) -> str:
        short = {NameOID.COUNTRY_NAME: "C", NameOID.ORGANIZATION_NAME: "O",
                 NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COMMON_NAME: "CN"}
        return "".join(f"/{short[attr.oid]}={attr.value}" for attr in value)

    ca_key = key()
    ca_name = name(CA_NAME)
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())

    def mint(subject: x509.Name, public_key, not_before: datetime, not_after: datetime,
             extensions: list[tuple[object, bool]], issuer_key) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(subject).issuer_name(ca_name).public_key(public_key)
                   .serial_number(rng.getrandbits(63) | (1 << 62))
                   .not_valid_before(not_before).not_valid_after(not_after))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=True)

    def wrap(cert: x509.Certificate, file_name: str, validity: str, holder, chain: bytes = b"") -> _MintedCert:
        return _MintedCert(
            file_name=file_name,
            pem=cert.public_bytes(serialization.Encoding.PEM) + chain,
            common_name=cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
            subject=slash(cert.subject), issuer=slash(cert.issuer),
            not_after=cert.not_valid_after_utc, sha1=cert.fingerprint(hashes.SHA1()).hex(),
            validity=validity, holder=holder,
        )

    ca_cert = mint(ca_name, ca_key.public_key(), midnight - timedelta(days=3 * 365),
                   midnight + timedelta(days=7 * 365), [
                       (x509.BasicConstraints(ca=True, path_length=0), True),
                       (x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                      crl_sign=True, encipher_only=False, decipher_only=False), True),
                       (ca_ski, False),
                   ], ca_key)
    ca = wrap(ca_cert, "example-corp-internal-ca.pem", "ca", None)
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    leaf_usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                               data_encipherment=False, key_agreement=False, key_cert_sign=False,
                               crl_sign=False, encipher_only=False, decipher_only=False)

    def window(validity: str) -> tuple[datetime, datetime]:
        if validity == "expiring":
            end = midnight + timedelta(days=rng.randint(5, 12), hours=12)
        elif validity == "expired":
            end = midnight - timedelta(days=rng.randint(10, 40), hours=12)
        else:
            end = midnight + timedelta(days=rng.randint(60, 330), hours=12)
        return end - timedelta(days=CERT_LIFETIME_DAYS), end

    servers = []
    for server, validity in plan.tls_hosts:
        fqdn = server.hostname + DNS_SUFFIX
        leaf_key = key()
        start, end = window(validity)
        cert = mint(name(fqdn), leaf_key.public_key(), start, end, [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (leaf_usage, True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.SubjectAlternativeName([x509.DNSName(server.hostname), x509.DNSName(fqdn),
                                          x509.IPAddress(ipaddress.IPv4Address(server.ip))]), False),
            (x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False),
            (aki, False),
        ], ca_key)
        servers.append(wrap(cert, f"tls-{server.hostname}.pem", validity, server, chain=ca.pem))

    clients = []
    holders = [(person, "valid") for person in plan.vpn_holders]
    active = [p for p in plan.people if p.end_date is None and p not in plan.vpn_holders]
    for validity in plan.extra_expiry:          # only in tiny companies with too few servers
        if active:
            holders.append((active.pop(rng.randrange(len(active))), validity))
    for person, validity in holders:
        leaf_key = key()
        if validity == "valid":
            issued = midnight - timedelta(days=rng.randint(30, 300))
            if person.end_date is not None:
                issued = min(issued, datetime.combine(person.end_date, time(0, 0), tzinfo=timezone.utc)
                             - timedelta(days=rng.randint(20, 120)))
            start, end = issued, issued + timedelta(days=365)
        else:
            start, end = window(validity)
        local = person.email.split("@", 1)[0]
        cert = mint(name(person.name, "VPN"), leaf_key.public_key(), start, end, [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (leaf_usage, True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
            (x509.SubjectAlternativeName([x509.RFC822Name(person.email)]), False),
            (x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False),
            (aki, False),
        ], ca_key)
        clients.append(wrap(cert, f"vpn-{local}.pem", validity, person))
    return _Certificates(ca=ca, servers=servers, clients=clients, plan=plan)


def _write_certificates(folder: Path, certs: _Certificates, counts: dict[str, int]) -> Path:
    """certs/: the CA, each server's full chain (leaf then CA) and each VPN client certificate.
    Earlier runs' .pem files that this run did not write are removed; keys are never written."""
    folder.mkdir(parents=True, exist_ok=True)
    minted = [certs.ca, *certs.servers, *certs.clients]
    names = {cert.file_name for cert in minted}
    for stale in folder.glob("*.pem"):
        if stale.name not in names:
            stale.unlink()
    for cert in minted:
        (folder / cert.file_name).write_bytes(cert.pem)
    every = [*certs.servers, *certs.clients]
    counts.update({
        "certificates": len(minted),
        "tls_certificates": len(certs.servers),
        "vpn_certificates": len(certs.clients),
        "certificates_expiring_14d": sum(1 for c in every if c.validity == "expiring"),
        "certificates_expired": sum(1 for c in every if c.validity == "expired"),
    })
    return folder


# =========================================================================== SBOM

SBOM_APPS = (
    {
        "name": "payroll-portal", "version": "3.4.1", "group": "com.example", "ecosystem": "maven",
        "tool": ("org.cyclonedx", "cyclonedx-maven-plugin", "2.7.9"),
        "components": (
            ("org.springframework.boot", "spring-boot-starter-web", "2.5.4", "Apache-2.0"),
            ("org.springframework", "spring-core", "5.3.9", "Apache-2.0"),
            ("org.springframework", "spring-webmvc", "5.3.9", "Apache-2.0"),
            ("org.apache.tomcat.embed", "tomcat-embed-core", "9.0.52", "Apache-2.0"),
            ("org.apache.logging.log4j", "log4j-api", "2.14.1", "Apache-2.0"),
            ("org.apache.logging.log4j", "log4j-core", "2.14.1", "Apache-2.0"),
            ("com.fasterxml.jackson.core", "jackson-databind", "2.12.3", "Apache-2.0"),
            ("org.apache.commons", "commons-text", "1.9", "Apache-2.0"),
            ("org.yaml", "snakeyaml", "1.28", "Apache-2.0"),
            ("com.google.guava", "guava", "30.1-jre", "Apache-2.0"),
            ("org.postgresql", "postgresql", "42.2.18", "BSD-2-Clause"),
            ("ch.qos.logback", "logback-classic", "1.2.5", "EPL-1.0"),
        ),
    },
    {
        "name": "customer-portal", "version": "2.8.0", "group": "", "ecosystem": "npm",
        "tool": ("@cyclonedx", "cyclonedx-npm", "1.16.1"),
        "components": (
            ("", "express", "4.17.1", "MIT"),
            ("", "lodash", "4.17.15", "MIT"),
            ("", "axios", "0.21.0", "MIT"),
            ("", "minimist", "1.2.5", "MIT"),
            ("", "moment", "2.29.1", "MIT"),
            ("", "jsonwebtoken", "8.5.1", "MIT"),
            ("", "node-fetch", "2.6.0", "MIT"),
            ("", "qs", "6.7.0", "BSD-3-Clause"),
            ("", "ws", "7.4.5", "MIT"),
            ("", "semver", "5.7.1", "ISC"),
            ("", "react", "17.0.2", "MIT"),
            ("", "react-dom", "17.0.2", "MIT"),
            ("@babel", "runtime", "7.12.5", "MIT"),
        ),
    },
)


def _purl(ecosystem: str, group: str, name: str, version: str) -> str:
    if ecosystem == "maven":
        return f"pkg:maven/{group}/{name}@{version}?type=jar"
    scope = group.replace("@", "%40") + "/" if group else ""
    return f"pkg:npm/{scope}{name}@{version}"


def _write_sboms(out_dir: Path, seed: int, scan_date: date, counts: dict[str, int]) -> list[Path]:
    """One CycloneDX 1.5 JSON SBOM per internal application, as its build plugin writes it."""
    rng = _stream(seed, "sbom")
    paths, components = [], 0
    for app in SBOM_APPS:
        built = datetime.combine(scan_date, time(0, 0), tzinfo=timezone.utc) - timedelta(
            days=rng.randint(1, 20), seconds=rng.randint(0, 86399))
        tool_group, tool_name, tool_version = app["tool"]
        app_purl = _purl(app["ecosystem"], app["group"], app["name"], app["version"])
        libraries = []
        for group, name, version, license_id in app["components"]:
            purl = _purl(app["ecosystem"], group, name, version)
            library = {"type": "library", "bom-ref": purl}
            if group:
                library["group"] = group
            library.update({"name": name, "version": version, "scope": "required",
                            "licenses": [{"license": {"id": license_id}}], "purl": purl})
            libraries.append(library)
        component = {"type": "application", "bom-ref": app["name"]}
        if app["group"]:
            component["group"] = app["group"]
        component.update({"name": app["name"], "version": app["version"], "purl": app_purl})
        document = {
            "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "serialNumber": f"urn:uuid:{uuid_module.UUID(int=rng.getrandbits(128), version=4)}",
            "version": 1,
            "metadata": {
                "timestamp": built.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tools": {"components": [{"type": "application", "group": tool_group, "name": tool_name,
                                          "version": tool_version}]},
                "component": component,
            },
            "components": libraries,
            "dependencies": [{"ref": app["name"], "dependsOn": [lib["bom-ref"] for lib in libraries]}]
            + [{"ref": lib["bom-ref"], "dependsOn": []} for lib in libraries],
        }
        path = out_dir / f"sbom-{app['name']}.cdx.json"
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8", newline="\n")
        paths.append(path)
        components += len(libraries)
    counts.update({"sbom_files": len(paths), "sbom_components": components})
    return paths


# =========================================================================== new highlights


def _describe_new_highlights(
    plan: _Plan, certs: _Certificates | None, cloud: _Cloud | None, wanted: set[str], scan_date: date
) -> dict[str, dict[str, str | None]]:
    highlights: dict[str, dict[str, str | None]] = {}
    laptop = plan.demo_laptop
    if laptop is not None and wanted & {"osquery", "coverage", "certificates"}:
        controls = ["CrowdStrike Falcon (EDR)"] + ([f"{laptop.mdm_tool} (MDM)"] if laptop.mdm_tool else [])
        installed = ("; it runs Adobe Acrobat Pro without a licence seat"
                     if "acrobat" in laptop.extra_programs else "")
        card = _asset_card(
            laptop,
            f"{laptop.hostname} ({laptop.manufacturer} {laptop.model}) is Deployed to {laptop.owner.name} "
            f"({laptop.owner.email}, {laptop.owner.department}); osquery reports it as {laptop.agent_uuid}, "
            f"{', '.join(controls)} cover it, and its owner holds a VPN client certificate{installed}.",
        )
        card["email"] = laptop.owner.email
        highlights["demo_laptop"] = card
    if cloud is not None:
        bastion = next(i for i in cloud.instances if i.role == "bastion")
        app = next(i for i in cloud.instances if i.role == "app")
        database = next(i for i in cloud.instances if i.role == "db")
        groups = {key: value[0] for key, value in cloud.groups.items()}
        highlights["internet_bastion"] = {
            "hostname": "ip-" + bastion.private_ip.replace(".", "-"),
            "ip": bastion.public_ip,
            "mac": bastion.mac,
            "serial": None,
            "asset_tag": None,
            "cloud_id": bastion.instance_id,
            "public_ip": bastion.public_ip,
            "private_ip": bastion.private_ip,
            "story": f"{bastion.name} ({bastion.instance_id}) is open to the internet on tcp/22 at "
                     f"{bastion.public_ip} via {groups['bastion']} (bastion), and still allows IMDSv1.",
        }
        highlights["aws_database"] = {
            "hostname": "ip-" + database.private_ip.replace(".", "-"),
            "ip": database.private_ip,
            "mac": database.mac,
            "serial": None,
            "asset_tag": None,
            "cloud_id": database.instance_id,
            "story": f"{database.name} ({database.instance_id}, {database.private_ip}) takes tcp/5432 only from "
                     f"{groups['app']} (app), which takes tcp/8080 from {groups['bastion']} (bastion), which is "
                     f"open to 0.0.0.0/0: two hops from the internet (e.g. via {app.name}).",
        }
    if wanted & {"certificates", "aws"}:
        person = plan.departed_vpn
        local = person.email.split("@", 1)[0]
        holds = []
        if "certificates" in wanted:
            holds.append(f"a VPN client certificate (certs/vpn-{local}.pem)")
        if "aws" in wanted:
            holds.append(f"IAM user {local} with an access key still active and used after they left")
        if "osquery" in wanted and plan.departed_ssh_hosts:
            holds.append("an SSH key on " + ", ".join(a.hostname for a in plan.departed_ssh_hosts))
        highlights["departed_vpn_user"] = {
            "hostname": None, "ip": None, "mac": None, "serial": None, "asset_tag": None,
            "email": person.email,
            "story": f"{person.name} ({person.email}, {person.department}) left on {person.end_date.isoformat()} "
                     f"but still holds {'; '.join(holds)}.",
        }
    return highlights


# =========================================================================== manifest


def _count(
    people: list[Person],
    assets: list[Asset],
    devices: list[UnknownDevice],
    networks: list[ipaddress.IPv4Network],
    plan: _Plan,
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


def _describe_highlights(
    picks: dict[str, Asset | None],
    unknown: UnknownDevice,
    networks: list[ipaddress.IPv4Network],
    scan_date: date,
) -> dict[str, dict[str, str | None]]:
    """The named demo hosts and the one-line story each illustrates."""
    server = picks["deployed_server"]
    retired = picks["decommissioned_alive"]
    orphaned = picks["departed_owner"]
    highlights = {
        "deployed_server": _asset_card(
            server,
            f"{server.hostname} ({server.manufacturer} {server.model}) is Deployed to "
            f"{server.owner.name} ({server.owner.department}) and answers on {server.ip} "
            f"with {_asset_profile(server).port_summary()} open.",
        ),
        "decommissioned_alive": _asset_card(
            retired,
            f"{retired.hostname} was Archived in Snipe-IT on {retired.decommissioned_date.isoformat()} "
            f"yet still answers on {retired.ip} ({_asset_profile(retired).port_summary()}) "
            f"in the {scan_date.isoformat()} scan, and its TLS certificate is still valid.",
        ),
        "departed_owner": _asset_card(
            orphaned,
            f"{orphaned.hostname} is still assigned to {orphaned.owner.name}, who left on "
            f"{orphaned.owner.end_date.isoformat()}, and is still online at {orphaned.ip}.",
        ),
        "unknown_device": {
            "hostname": unknown.hostname,
            "ip": unknown.ip,
            "mac": unknown.mac,
            "serial": None,
            "asset_tag": None,
            "story": f"{unknown.hostname} ({unknown.vendor} MAC {unknown.mac}) answers on {unknown.ip} "
                     f"in {networks[unknown.subnet]} but has no Snipe-IT record.",
        },
    }
    unseen = picks.get("unseen_laptop")
    if unseen is not None:
        highlights["unseen_laptop"] = _asset_card(
            unseen,
            f"{unseen.hostname} is Deployed to {unseen.owner.name} but no scan, agent, EDR or MDM saw it and it "
            f"was never audited: the audit report calls it missing.",
        )
    return highlights


def _asset_card(asset: Asset, story: str) -> dict[str, str | None]:
    return {
        "hostname": asset.hostname,
        "ip": asset.ip if asset.seen else None,
        "mac": asset.mac,
        "serial": asset.serial,
        "asset_tag": asset.asset_tag,
        "story": story,
    }


# =========================================================================== helpers


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    names = [name for name, _ in options]
    weights = [weight for _, weight in options]
    return rng.choices(names, weights=weights, k=1)[0]


def _attr(value: str) -> str:
    """Escape a value for use inside a double-quoted XML attribute."""
    return escape(value, {'"': "&quot;"})


def _ctime(unix_time: int) -> str:
    """nmap's time format (``Fri Nov 20 08:00:00 2026``), in UTC."""
    return datetime.fromtimestamp(unix_time, tz=timezone.utc).ctime()


def _last_octet(ip: str) -> int:
    return int(ip.rsplit(".", 1)[1])


# =========================================================================== CLI


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m ingest.demo_org OUT_DIR [--hosts N] [--seed S] [--sources a,b]``."""
    parser = argparse.ArgumentParser(
        prog="python -m ingest.demo_org",
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
                        help="EC2 instances in the AWS account (default max(5, hosts/10))")
    args = parser.parse_args(argv)
    sources = None if args.sources is None else {s.strip() for s in args.sources.split(",") if s.strip()}
    manifest = generate_org(args.out_dir, hosts=args.hosts, seed=args.seed, scan_date=args.scan_date,
                            subnets=args.subnets, sources=sources, cloud_hosts=args.cloud_hosts)
    print(json.dumps(manifest.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
