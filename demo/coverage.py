"""Control consoles' exports (``coverage-{edr,mdm,logging}.csv``), each in its console's MAC style."""
from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

from demo.org import DNS_SUFFIX, LAPTOP, Asset, must

COVERAGE_COLUMNS = ("tool", "category", "hostname", "serial", "mac", "last_check_in")


def _coverage_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_coverage(out_dir: Path, scan_date: date, assets: list[Asset], counts: dict[str, int]) -> list[Path]:
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
                     _coverage_time(must(first.mdm_seen))))
    return 1


