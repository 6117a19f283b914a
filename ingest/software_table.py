"""The software normalisation table: which installs a licence's product covers, and which products need one.

The table is data (`ingest/data/software_products.toml`, or the file `ITAM_SOFTWARE_TABLE` names), so an
asset manager edits it without touching code. Each `[[product]]` entry has a `name` (the product a licence
names), an optional `vendor`, `licensable` (installing it needs a licence), and the `names` and `purls` its
installs go by. Matching is exact, never by prefix: an install matches an entry by its versionless purl or
by its normalised name (case folded, every run of punctuation or spaces one space, so `intellij-idea-ultimate`
and "IntelliJ IDEA Ultimate" are one name). A product no entry names matches installs of exactly its own
normalised name. When an entry and an install both name a vendor, the vendors' first words must agree.

A malformed table is refused at start-up with the file, line and field (`SoftwareTableError`).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field as dc_field
from pathlib import Path

from graph.config import data_file_loader

DEFAULT_TABLE = Path(__file__).parent / "data" / "software_products.toml"
ENTRY_KEYS = {"name", "vendor", "licensable", "names", "purls"}


class SoftwareTableError(ValueError):
    """The table was refused: `FILE line N, field 'F': what is wrong`."""


def normalise(name: str) -> str:
    """Case folded, every run of anything but letters and digits one space: the exact-match key."""
    return re.sub(r"[\W_]+", " ", name.casefold()).strip()


def versionless_purl(purl: str) -> str:
    """A purl without version, qualifiers and subpath, lower-cased (the Software node key of a purl'd install)."""
    return purl.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[0].lower()


@dataclass(frozen=True)
class Product:
    name: str
    vendor: str | None
    licensable: bool
    names: tuple[str, ...]
    purls: tuple[str, ...]
    line: int

    @property
    def key(self) -> str:
        return normalise(self.name)


@dataclass(frozen=True)
class SoftwareTable:
    path: str
    products: tuple[Product, ...]
    _by_name: dict[str, Product] = dc_field(init=False, repr=False, compare=False)
    _by_purl: dict[str, Product] = dc_field(init=False, repr=False, compare=False)

    def __post_init__(self):
        by_name: dict[str, Product] = {}
        by_purl: dict[str, Product] = {}
        for product in self.products:
            for name in (product.name, *product.names):
                by_name[normalise(name)] = product
            for purl in product.purls:
                by_purl[purl] = product
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_by_purl", by_purl)

    def for_install(self, key: str, name: str | None, vendor: str | None) -> Product | None:
        """The entry an installed Software node (key, name, vendor) belongs to, if any."""
        found = self._by_purl.get(key) if key.startswith("pkg:") else None
        if found is None and name:
            found = self._by_name.get(normalise(name))
            if found and found.vendor and vendor and normalise(found.vendor).split()[:1] != normalise(vendor).split()[:1]:
                return None
        return found

    def for_licence(self, product: str) -> Product | None:
        """The entry a licence's product names (by name, alias or purl), if any."""
        if product.strip().lower().startswith("pkg:"):
            return self._by_purl.get(versionless_purl(product.strip()))
        return self._by_name.get(normalise(product))


def _entry_lines(text: str) -> list[int]:
    """The line of each `[[product]]` header, in order (tomllib keeps no positions)."""
    return [n for n, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*product\s*\]\]", line)]


def _field_line(text: str, start: int, field: str) -> int:
    lines = text.splitlines()
    for n in range(start, len(lines) + 1):
        if n > start and re.match(r"\s*\[", lines[n - 1]):
            break
        if re.match(rf"\s*{re.escape(field)}\s*=", lines[n - 1]):
            return n
    return start


def _strings(value, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{field} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _product(raw: dict) -> Product:
    unknown = sorted(set(raw) - ENTRY_KEYS)
    if unknown:
        raise KeyError(unknown[0], f"unknown field (known: {', '.join(sorted(ENTRY_KEYS))})")
    name = raw.get("name")
    if not isinstance(name, str) or not normalise(name):
        raise KeyError("name", "every product needs a non-empty name")
    vendor = raw.get("vendor")
    if vendor is not None and (not isinstance(vendor, str) or not vendor.strip()):
        raise KeyError("vendor", "must be a non-empty string")
    licensable = raw.get("licensable", False)
    if not isinstance(licensable, bool):
        raise KeyError("licensable", "must be true or false")
    try:
        names = _strings(raw.get("names", []), "names")
    except ValueError as exc:
        raise KeyError("names", str(exc)) from None
    try:
        purls = _strings(raw.get("purls", []), "purls")
    except ValueError as exc:
        raise KeyError("purls", str(exc)) from None
    bad = [p for p in purls if not p.lower().startswith("pkg:") or "/" not in p]
    if bad:
        raise KeyError("purls", f"{bad[0]!r} is not a package URL (pkg:type/name)")
    return Product(name.strip(), vendor.strip() if vendor else None, licensable, names,
                   tuple(versionless_purl(p) for p in purls), 0)


def load_table(path: Path) -> SoftwareTable:
    """Read and validate the table; SoftwareTableError names the file, line and field of the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SoftwareTableError(f"{path}: cannot read the software table: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_of(str(exc))
        raise SoftwareTableError(f"{path} line {line}: malformed TOML: {exc}") from None
    extra = sorted(set(data) - {"product"})
    if extra:
        raise SoftwareTableError(f"{path}: unknown top-level key {extra[0]!r} (only [[product]] entries)")
    entries = data.get("product", [])
    if not isinstance(entries, list):
        raise SoftwareTableError(f"{path}: 'product' must be [[product]] entries")
    lines = _entry_lines(text)
    products: list[Product] = []
    claimed: dict[tuple[str, str], Product] = {}
    for index, raw in enumerate(entries):
        start = lines[index] if index < len(lines) else 1
        try:
            product = _product(raw)
        except KeyError as exc:
            field, message = exc.args
            raise SoftwareTableError(f"{path} line {_field_line(text, start, field)}, field '{field}': "
                                     f"{message}") from None
        product = Product(**{**product.__dict__, "line": start})
        for field, keys in (("names", [normalise(n) for n in (product.name, *product.names)]),
                            ("purls", list(product.purls))):
            for key in keys:
                other = claimed.get((field, key))
                if other is not None and other.name != product.name:
                    raise SoftwareTableError(
                        f"{path} line {_field_line(text, start, field if key != product.key else 'name')}, "
                        f"field '{field}': {key!r} already belongs to {other.name!r} (line {other.line})")
                claimed[(field, key)] = product
        products.append(product)
    return SoftwareTable(str(path), tuple(products))


def _line_of(message: str) -> int | str:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else "?"


# The file in force (re-read when it changes).
current_table = data_file_loader("ITAM_SOFTWARE_TABLE", DEFAULT_TABLE, load_table)
