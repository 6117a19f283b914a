"""Seeded, deterministic generator of a realistic small company as real-format files.

The demo and the benchmarks feed these files to the product's connectors exactly as
a customer would: a Snipe-IT hardware export (the inventory of record), an HR
directory export and one ``nmap -sV -O`` XML report per /24 subnet.

Everything is derived from one ``random.Random(seed)`` consumed in a fixed order, and
no wall-clock time is used, so a given (hosts, seed, scan_date, subnets) always
produces byte-identical files.  Rows and ``<host>`` elements are written as they are
rendered, so 100k hosts stream out in seconds without building large strings.

Usage::

    python -m ingest.demo_org OUT_DIR [--hosts N] [--seed S] [--subnets K] [--scan-date YYYY-MM-DD]
"""

from __future__ import annotations

import argparse
import csv
import ipaddress
import json
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

__all__ = ["OrgManifest", "generate_org", "main"]

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


@dataclass(frozen=True)
class OrgManifest:
    """What :func:`generate_org` wrote.

    ``files`` is in ingestion order (HR first, then the inventory of record, then the
    nmap scans); ``highlights`` names hosts the demo tells a story about, each a dict
    with ``hostname, ip, mac, serial, asset_tag`` (any may be None) and ``story``.
    """

    out_dir: Path
    files: list[Path]
    counts: dict[str, int]
    highlights: dict[str, dict[str, str | None]]

    def to_dict(self) -> dict:
        """A JSON-serialisable view of the manifest."""
        return {
            "out_dir": str(self.out_dir),
            "files": [str(path) for path in self.files],
            "counts": dict(self.counts),
            "highlights": {name: dict(host) for name, host in self.highlights.items()},
        }


def generate_org(
    out_dir: Path,
    hosts: int = 300,
    seed: int = 7,
    scan_date: date = DEFAULT_SCAN_DATE,
    subnets: int | None = None,
) -> OrgManifest:
    """Generate a demo company of ``hosts`` inventoried assets into ``out_dir``.

    Writes ``hr.csv``, ``snipeit-assets.csv`` and one ``nmap-<subnet>.xml`` per /24
    subnet (default ``max(3, ceil(hosts / 200))`` subnets from 10.0.1.0/24 upwards) and
    returns the :class:`OrgManifest`.  Output is byte-identical for equal arguments.
    """
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

    hr_path = _write_hr(out_dir / "hr.csv", people)
    inventory_path = _write_snipeit(out_dir / "snipeit-assets.csv", assets)
    scan_paths, scan_counts = _write_nmap_scans(
        rng, out_dir, networks, assets, devices, free_offsets, scan_date
    )

    counts = _count(people, assets, devices, networks, scan_counts)
    highlights = _describe_highlights(picks, devices[0], networks, scan_date)
    return OrgManifest(
        out_dir=out_dir,
        files=[hr_path, inventory_path, *scan_paths],
        counts=counts,
        highlights=highlights,
    )


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
    last_audit_date: date
    asset_tag: str = ""
    hostname: str = ""
    owner: Person | None = None
    os: str = ""
    seen: bool = False
    has_ptr: bool = True
    pinned: bool = False  # a highlight: keep it predictable (PTR, departed owner, ...)
    subnet: int = -1
    ip: str = ""


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
    "last_audit_date",
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
                owner.department if owner else "", a.last_audit_date.isoformat(),
            ))
    return path


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


# =========================================================================== manifest


def _count(
    people: list[Person],
    assets: list[Asset],
    devices: list[UnknownDevice],
    networks: list[ipaddress.IPv4Network],
    scan_counts: dict[str, int],
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
        "nmap_files": len(networks),
        **scan_counts,
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
            f"in the {scan_date.isoformat()} scan.",
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
            f"{unseen.hostname} is Deployed to {unseen.owner.name} but no scan saw it (off-network).",
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
    """Command line: ``python -m ingest.demo_org OUT_DIR [--hosts N] [--seed S]``."""
    parser = argparse.ArgumentParser(
        prog="python -m ingest.demo_org",
        description="Generate a deterministic demo company (Snipe-IT CSV, HR CSV, nmap XML).",
    )
    parser.add_argument("out_dir", type=Path, help="directory to write the files into")
    parser.add_argument("--hosts", type=int, default=300, help="inventoried assets (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--subnets", type=int, default=None, help="number of /24 subnets")
    parser.add_argument("--scan-date", type=date.fromisoformat, default=DEFAULT_SCAN_DATE,
                        help="date of the nmap scans, YYYY-MM-DD (default %(default)s)")
    args = parser.parse_args(argv)
    manifest = generate_org(args.out_dir, hosts=args.hosts, seed=args.seed,
                            scan_date=args.scan_date, subnets=args.subnets)
    print(json.dumps(manifest.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
