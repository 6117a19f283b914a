"""The Snipe-IT licence export (``snipeit-licenses.csv``)."""
from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

from demo.org import DEPLOYED, SERIAL_CHARS, Person, add_years, iso, must, stream
from demo.plan import Plan

LICENSE_COLUMNS = (
    "name", "product", "product_key", "seats", "expiration_date", "termination_date",
    "purchase_cost", "order_number", "manufacturer", "assigned_to", "asset_tag",
)
M365 = "Microsoft 365 E3"
WINDOWS_ENTERPRISE = "Windows 11 Enterprise"
ACROBAT = "Adobe Acrobat Pro"
INTELLIJ = "JetBrains IntelliJ IDEA Ultimate"
ZOOM = "Zoom Workplace Business"


def write_licenses(path: Path, seed: int, scan_date: date, plan: Plan, counts: dict[str, int]) -> Path:
    """A Snipe-IT licence export, one row per seat assignment.

    Microsoft 365 E3 seats for every current employee plus a few leavers who were never
    reclaimed; Windows 11 Enterprise per device; Adobe Acrobat Pro with fewer seats than
    installs (never one for the demo laptop's owner); JetBrains IntelliJ IDEA Ultimate expired;
    Zoom expiring within 30 days.
    """
    rng = stream(seed, "licenses")
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
        acrobat_seats = [p for p in acrobat_seats if p.email != must(plan.demo_laptop.owner).email]
    intellij_people = list({a.owner.email: a.owner for a in deployed
                            if "intellij" in a.extra_programs and a.owner is not None}.values())
    engineers = [p for p in active if p.department == "Engineering"]
    if not intellij_people and engineers:
        intellij_people = [engineers[0]]
    zoom_people = [p for p in active if p.department in ("Sales", "Operations")] or active[:1]

    def key(groups: int) -> str:
        return "-".join("".join(rng.choices(SERIAL_CHARS, k=5)) for _ in range(groups))

    def order() -> str:
        return f"PO-{scan_date.year - rng.randint(0, 2)}-{rng.randint(1000, 9999)}"

    products = (
        # name, product, key, seats, expires, cost per seat, vendor, seat holders (people or assets)
        (M365, "Microsoft 365 Apps for enterprise", key(5), len(m365_holders) + rng.randint(0, 5),
         add_years(scan_date, 1) - timedelta(days=rng.randint(30, 300)), 432.0, "Microsoft", m365_holders),
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
            shared = (name, product, product_key, seats, iso(expires), "",
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


