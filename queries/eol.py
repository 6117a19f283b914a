"""End-of-life matching: installed software and operating systems against endoflife.date release cycles.

The snapshot (`eol_data/snapshot.json`, built by `itam eol refresh DIR` from endoflife.date's product
files, MIT) holds each product's purl/CPE identifiers and release cycles. A product is found by its
versionless purl or CPE first, then by the name table (`eol_data/names.json`, data: a pattern per
package or OS name, Debian/RPM names included); the release cycle is the longest one that prefixes
the installed version, as scanners such as xeol do.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from queries.catalog import named

DATA = Path(__file__).parent / "eol_data"
SNAPSHOT = DATA / "snapshot.json"
NAMES = DATA / "names.json"


class EolDataError(Exception):
    """A product file or the snapshot cannot be read; the message names the file and the field."""


@dataclass(frozen=True)
class Cycle:
    product: str
    title: str
    cycle: str
    eol: date | None          # None: no end date announced
    label: str

    def days_past(self, today: date) -> int | None:
        return (today - self.eol).days if self.eol else None


# ----------------------------------------------------------------- building the snapshot

def _front_matter(path: Path) -> dict[str, Any]:
    import yaml
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        raise EolDataError(f"{path}: no YAML front matter (a product file starts with '---')")
    end = text.find("\n---", 3)
    if end < 0:
        raise EolDataError(f"{path}: front matter never closed with '---'")
    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError as exc:
        raise EolDataError(f"{path}: invalid YAML front matter: {exc}") from None
    if not isinstance(data, dict):
        raise EolDataError(f"{path}: front matter is not a mapping")
    return data


def _eol_text(value: Any, path: Path, index: int) -> str | bool | None:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise EolDataError(f"{path}: releases[{index}].eol: {value!r} is neither a date nor a boolean") from None


def read_product(path: Path) -> dict[str, Any]:
    """One endoflife.date product file as the snapshot keeps it."""
    data = _front_matter(path)
    releases = data.get("releases")
    if not isinstance(releases, list):
        raise EolDataError(f"{path}: field 'releases' missing or not a list")
    cycles = []
    for index, release in enumerate(releases):
        if not isinstance(release, dict) or "releaseCycle" not in release:
            raise EolDataError(f"{path}: releases[{index}].releaseCycle missing")
        cycles.append({"cycle": str(release["releaseCycle"]), "eol": _eol_text(release.get("eol"), path, index),
                       "label": str(release.get("releaseLabel") or release["releaseCycle"]),
                       "latest": str(release["latest"]) if release.get("latest") is not None else None})
    identifiers = [i for i in data.get("identifiers") or [] if isinstance(i, dict)]
    return {"title": str(data.get("title") or path.stem), "category": data.get("category"),
            "purls": sorted(i["purl"] for i in identifiers if "purl" in i),
            "cpes": sorted({_cpe_key(i["cpe"]) for i in identifiers if "cpe" in i} - {None}),
            "releases": cycles}


def build_snapshot(folder: Path, products: list[str] | None = None) -> dict[str, Any]:
    """The snapshot from a local copy of endoflife.date's `products/` folder (only `products` if given)."""
    if not folder.is_dir():
        raise EolDataError(f"{folder}: not a folder (give endoflife.date's products/ folder)")
    wanted = products or sorted(p.stem for p in folder.glob("*.md"))
    missing = [name for name in wanted if not (folder / f"{name}.md").is_file()]
    if missing:
        raise EolDataError(f"{folder}: no product file for {', '.join(missing)}")
    return {"source": "endoflife.date (MIT)", "products": {name: read_product(folder / f"{name}.md")
                                                          for name in wanted}}


def refresh(folder: Path, target: Path = SNAPSHOT) -> int:
    """Rebuild the snapshot for the products it already holds and the name table needs; returns the count.
    Everything is read before the file is replaced, so a bad product file changes nothing."""
    wanted = sorted(set(load_snapshot(target)["products"]) | {entry["product"] for entry in name_table()})
    snapshot = build_snapshot(folder, wanted)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
    tmp.replace(target)
    catalogue.cache_clear()
    return len(snapshot["products"])


# ----------------------------------------------------------------- matching

def load_snapshot(path: Path = SNAPSHOT) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EolDataError(f"{path}: cannot read the EOL snapshot: {exc}") from None


@cache
def name_table() -> tuple[dict[str, Any], ...]:
    entries = json.loads(NAMES.read_text())["names"]
    return tuple({**e, "regex": re.compile(e["pattern"], re.IGNORECASE)} for e in entries)


def _cpe_key(cpe: str) -> str | None:
    """'cpe:2.3:a:openssl:openssl:1.1.1n:*' and 'cpe:/a:openssl:openssl' both as 'a:openssl:openssl'."""
    text = cpe.lower()
    parts = text[len("cpe:2.3:"):].split(":") if text.startswith("cpe:2.3:") else \
        text[len("cpe:/"):].split(":") if text.startswith("cpe:/") else []
    return ":".join(parts[:3]) if len(parts) >= 3 else None


def _purl_key(purl: str) -> str:
    return purl.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[0].lower()


@dataclass(frozen=True)
class Catalogue:
    products: dict[str, dict[str, Any]]
    by_purl: dict[str, str]
    by_cpe: dict[str, str]


@cache
def catalogue() -> Catalogue:
    products = load_snapshot()["products"]
    by_purl = {_purl_key(p): name for name, prod in products.items() for p in prod["purls"]}
    by_cpe = {c: name for name, prod in products.items() for c in prod["cpes"]}
    return Catalogue(products, by_purl, by_cpe)


_VERSION = re.compile(r"\d+(?:\.\d+)*")


def upstream_version(version: str | None) -> str | None:
    """The upstream version of a package version: Debian epoch ('1:') and revision ('-0ubuntu1') and RPM
    release dropped; '22.04.3 LTS (Jammy Jellyfish)' -> '22.04.3'."""
    if not version:
        return None
    text = version.strip()
    if re.match(r"^\d+:", text):
        text = text.split(":", 1)[1]
    found = _VERSION.search(text)
    return found.group(0) if found else None


def _pick_cycle(product: str, version: str, hint: str | None) -> Cycle | None:
    prod = catalogue().products[product]
    releases = prod["releases"]
    if hint:   # a cycle the name itself carries (postgresql-13, Windows 10 by build)
        releases = [r for r in releases if r["cycle"] == hint or r["cycle"].startswith(hint + "-")] or releases
    prefixed = [r for r in releases if version == r["cycle"] or version.startswith(r["cycle"] + ".")]
    if not prefixed:   # Windows-style cycles ('10-22h2') are found by the build their latest release carries
        build = ".".join(version.split(".")[:3])
        prefixed = [r for r in releases if r["latest"] and (r["latest"] == build or
                                                             r["latest"].startswith(build + "."))]
        if not prefixed:
            return None
        # several editions share a build: take the most generous end date, never a false alarm
        best = max(prefixed, key=lambda r: (r["eol"] is not True, r["eol"] if isinstance(r["eol"], str) else "9999"))
    else:
        best = max(prefixed, key=lambda r: len(r["cycle"]))
    eol = best["eol"]
    if eol is True:    # EOL without a date: treat as ended long ago
        end = date.min
    elif isinstance(eol, str):
        end = date.fromisoformat(eol)
    else:
        end = None
    return Cycle(product, prod["title"], best["cycle"], end, best["label"])


def identify(name: str | None, purl: str | None = None, cpe: str | None = None) -> tuple[str, str | None] | None:
    """(product, cycle hint) for a package or OS: purl, then CPE, then the name table."""
    cat = catalogue()
    if purl and _purl_key(purl) in cat.by_purl:
        return cat.by_purl[_purl_key(purl)], None
    key = _cpe_key(cpe) if cpe else None
    if key and key in cat.by_cpe:
        return cat.by_cpe[key], None
    if not name:
        return None
    for entry in name_table():
        found = entry["regex"].fullmatch(name.strip())
        if found and entry["product"] in cat.products:
            hint = found.groupdict().get("cycle")
            return entry["product"], hint
    return None


def match(name: str | None, version: str | None, purl: str | None = None, cpe: str | None = None) -> Cycle | None:
    """The release cycle an installed product is on, None when unrecognised or the version fits no cycle."""
    found = identify(name, purl, cpe)
    upstream = upstream_version(version)
    if not found or not upstream:
        return None
    product, hint = found
    return _pick_cycle(product, upstream, hint)


# ----------------------------------------------------------------- coverage

INSTALLED_PRODUCTS = named("installed_products", "findings",
                 "Every distinct installed product and version, and every operating system, for EOL coverage.",
                 """
MATCH ()-[i:INSTALLED]->(s:Software)
UNWIND coalesce(i.versions, [i.version]) AS version
RETURN DISTINCT 'software' AS kind, s.name AS name, version, s.purl AS purl, s.cpe AS cpe
UNION
MATCH (a:Asset) WHERE a.os_name IS NOT NULL
RETURN DISTINCT 'os' AS kind, a.os_name AS name, a.os_version AS version, null AS purl, null AS cpe
""")


def coverage(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Per kind (software, os): distinct products seen, recognised as an endoflife.date product, and
    placed on a release cycle."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = out.setdefault(row["kind"], {"installed": 0, "recognised": 0, "cycle_known": 0})
        counts["installed"] += 1
        version = row["version"] or (row["name"] if row["kind"] == "os" else None)
        if identify(row["name"], row["purl"], row["cpe"]):
            counts["recognised"] += 1
            if match(row["name"], version, row["purl"], row["cpe"]):
                counts["cycle_known"] += 1
    return out
