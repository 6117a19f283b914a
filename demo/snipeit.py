"""The Snipe-IT hardware export (``snipeit-assets.csv``)."""
from __future__ import annotations

import csv
from pathlib import Path

from demo.org import CATEGORY, EOL_YEARS, WARRANTY_MONTHS, Asset, add_years, iso

SNIPEIT_COLUMNS = (
    "asset_tag", "item_name", "asset_model", "category", "manufacturer", "serial",
    "mac_address", "status", "location", "purchase_date", "purchase_cost", "warranty_months",
    "asset_eol_date", "decommissioned_date", "full_name", "email", "department",
    "last_audit_date", "order_number", "supplier",
)

def write_snipeit(path: Path, assets: list[Asset]) -> Path:
    """The Snipe-IT hardware export, one row per asset in asset-tag order."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SNIPEIT_COLUMNS)
        for a in assets:
            owner = a.owner
            writer.writerow((
                a.asset_tag, a.hostname, a.model, CATEGORY[a.kind], a.manufacturer, a.serial,
                a.mac, a.status, a.location, a.purchase_date.isoformat(), a.purchase_cost,
                WARRANTY_MONTHS, add_years(a.purchase_date, EOL_YEARS).isoformat(),
                iso(a.decommissioned_date),
                owner.name if owner else "", owner.email if owner else "",
                owner.department if owner else "", iso(a.last_audit_date),
                f"PO-{a.purchase_date.year}-{a.asset_tag.rsplit('-', 1)[-1]}", SUPPLIERS.get(a.manufacturer, "CDW"),
            ))
    return path


# Who the hardware was bought from (Snipe-IT's supplier field).
SUPPLIERS = {"Dell": "Dell Technologies", "HP": "CDW", "Lenovo": "CDW", "Apple": "Apple Business", "Cisco": "Insight"}
