"""The support contracts CSV (``contracts.csv``)."""
from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

from demo.licenses import M365, WINDOWS_ENTERPRISE
from demo.org import DEPLOYED, DISPOSED, NETWORK, READY, REPAIR, SERVER, Asset, add_years, stream

CONTRACT_COLUMNS = (
    "vendor", "reference", "start_date", "end_date", "notice_days", "covered_asset_tags", "covered_licenses", "cost",
)
# Yearly cost per covered asset, and of the enterprise agreement.
CONTRACT_COST_PER_ASSET = {"Dell Technologies": 380.0, "Cisco Systems": 240.0}
EA_COST = 48_000.0
MAX_TAGS_PER_CONTRACT = 250   # keeps covered_asset_tags well under a CSV field's 4096 characters


def write_contracts(path: Path, seed: int, scan_date: date, assets: list[Asset], counts: dict[str, int]) -> Path:
    """Support contracts: Dell ProSupport per server purchase year, Cisco SmartNet ending within
    60 days of the scan, and the Microsoft Enterprise Agreement covering the Microsoft licences."""
    rng = stream(seed, "contracts")
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
                         add_years(begin, 3).isoformat(), 30, ";".join(a.asset_tag for a in chunk), ""))
    network = [a for a in assets if a.kind == NETWORK and a.status in (DEPLOYED, REPAIR, READY)]
    smartnet_end = scan_date + timedelta(days=rng.randint(20, 55))
    for part, start in enumerate(range(0, len(network), MAX_TAGS_PER_CONTRACT), start=1):
        chunk = network[start:start + MAX_TAGS_PER_CONTRACT]
        rows.append(("Cisco Systems", f"CON-SNT-{rng.randint(10_000_000, 99_999_999)}",
                     add_years(smartnet_end, -1).isoformat(), smartnet_end.isoformat(), 60,
                     ";".join(a.asset_tag for a in chunk), ""))
    ea_start = add_years(scan_date, -2) - timedelta(days=rng.randint(30, 200))
    rows.append(("Microsoft", f"MS-EA-{rng.randint(10_000_000, 99_999_999)}", ea_start.isoformat(),
                 add_years(ea_start, 3).isoformat(), 90, "", f"{M365};{WINDOWS_ENTERPRISE}"))
    rows = [(*row, f"{EA_COST:.2f}" if not row[5] else
             f"{CONTRACT_COST_PER_ASSET[row[0]] * len(row[5].split(';')):.2f}") for row in rows]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CONTRACT_COLUMNS)
        writer.writerows(rows)
    counts["contracts"] = len(rows)
    return path


