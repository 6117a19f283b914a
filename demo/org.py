"""The demo company itself: its people, its inventoried assets, the unknown devices on its network,
and the seeded randomness everything is drawn from.

:func:`build_company` consumes the generator's main ``random.Random(seed)`` stream in a fixed
order (people, assets, owners, operating systems, visibility, unknown devices, addresses); the
nmap writer then continues that same stream. Every other concern draws from its own
:func:`stream`, so adding a source never changes another source's bytes.
"""
from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

T = TypeVar("T")

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
MODEL_CATALOG: dict[str, dict[str, tuple[tuple[str, int], ...]]] = {
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


@dataclass(slots=True)
class Picks:
    """The assets the demo tells a story about (see highlights.describe_highlights)."""

    decommissioned_alive: Asset     # archived in Snipe-IT, still answering on the network
    departed_owner: Asset           # a laptop still assigned to someone who left
    deployed_server: Asset
    unseen_laptop: Asset | None = None   # deployed, owned, but seen by no scan, agent or console


@dataclass(slots=True)
class Company:
    """Everyone and everything the demo's files describe, before any file is written."""

    people: list[Person]
    assets: list[Asset]
    picks: Picks
    devices: list[UnknownDevice]
    networks: list[ipaddress.IPv4Network]
    free_offsets: list[list[int]]        # per subnet: last octets no host holds (down hosts come from here)


def build_company(rng: random.Random, hosts: int, subnet_count: int, unknown_count: int,
                  scan_date: date) -> Company:
    """People, assets and unknown devices placed on ``subnet_count`` /24s, all drawn from ``rng``."""
    networks = _subnet_networks(subnet_count)
    people = _build_people(rng, max(2 * len(DEPARTMENTS), round(hosts * PEOPLE_PER_HOST)), scan_date)
    registry = _Registry()
    assets, picks = _build_assets(rng, hosts, scan_date, registry)
    _assign_owners(rng, assets, people)
    _leave_assets_with_leavers(rng, assets, people, picks.departed_owner)
    for asset in assets:
        asset.os = _pick_os(rng, asset)
    _decide_visibility(rng, assets, forced_seen=(picks.decommissioned_alive, picks.departed_owner))
    picks.unseen_laptop = _pick_unseen_laptop(rng, assets)
    devices = _build_unknown_devices(rng, unknown_count, registry.macs)
    free_offsets = _place_on_network(rng, assets, devices, networks)
    return Company(people=people, assets=assets, picks=picks, devices=devices, networks=networks,
                   free_offsets=free_offsets)


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
            # choice over a range draws exactly as choice over the slice did, without copying it
            # (a copy per hire made building a million-host company quadratic)
            manager_email = team[rng.choice(range(len(team) // 10 + 1))].email
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
    # What the other sources say about it (decided by plan_extras).
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
) -> tuple[list[Asset], Picks]:
    """Create, date and label every asset; return them in asset-tag order plus highlight picks."""
    plan = _plan_kinds_and_statuses(rng, count)
    reserved: set[int] = set()
    pick_index = {
        "decommissioned_alive": _reserve(rng, plan, SERVER, ARCHIVED, reserved),
        "departed_owner": _reserve(rng, plan, LAPTOP, DEPLOYED, reserved),
        "deployed_server": _reserve(rng, plan, SERVER, DEPLOYED, reserved),
    }
    assets = [_new_asset(rng, kind, status, scan_date, registry) for kind, status in plan]
    picks = Picks(**{name: assets[index] for name, index in pick_index.items()})
    for asset in (picks.decommissioned_alive, picks.departed_owner, picks.deployed_server):
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
    manufacturer = weighted(rng, MANUFACTURER_WEIGHTS[kind])
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
        location=weighted(rng, LOCATION_WEIGHTS[kind]),
        purchase_date=purchase_date,
        purchase_cost=f"{round(list_price * rng.uniform(0.94, 1.06)):.2f}",
        decommissioned_date=decommissioned_date,
        last_audit_date=last_audit,
    )


def _pick_role(rng: random.Random, kind: str) -> tuple[str, str]:
    """Hostname prefix (server/network role) and, for databases, the engine."""
    if kind == SERVER:
        role = weighted(rng, SERVER_ROLES)
        return role, (rng.choice(("postgresql", "mysql")) if role == "db" else "")
    if kind == NETWORK:
        return weighted(rng, NETWORK_ROLES), ""
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
SERIAL_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
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
        return f"{_HP_PREFIX[kind]}{rng.randint(1, 5)}{rng.randint(1, 52):02d}{rng.randint(0, 9)}{chars(SERIAL_CHARS, 3)}"
    if manufacturer == "Lenovo":
        return f"PF{chars(SERIAL_CHARS, 6)}" if kind == LAPTOP else f"MJ0{chars(SERIAL_CHARS, 5)}"
    if manufacturer == "Apple":  # randomised 10-character serial
        return chars("CDFGHJKLMNPQRTVWXY", 1) + chars(SERIAL_CHARS, 9)
    if manufacturer == "Cisco":  # LLLYYWWSSSS
        return f"FOC{rng.randint(22, 27)}{rng.randint(1, 52):02d}{chars(SERIAL_CHARS, 4)}"
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
        device_type = "raspberrypi" if index == 0 else weighted(rng, UNKNOWN_DEVICE_TYPES)
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


# =========================================================================== helpers


def iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def must(value: T | None) -> T:
    """``value``, which the company's construction guarantees is there (a highlight's owner, a leaver's
    end date); an AssertionError means the generator broke its own invariant."""
    assert value is not None
    return value


def stream(seed: int, name: str) -> random.Random:
    """An independent seeded stream per concern (``random`` seeds str deterministically)."""
    return random.Random(f"itam-demo/{seed}/{name}")


def weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    names = [name for name, _ in options]
    weights = [weight for _, weight in options]
    return rng.choices(names, weights=weights, k=1)[0]

