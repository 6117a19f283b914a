"""Snipe-IT licence exports and contract lists (CSV): seats, expiry, assignments, terms and what they cover.

Licences (`parse_licenses`, source 'licenses'): a Snipe-IT licence export or any CSV with a `name` column.
Snipe-IT writes "Name", "Product Key"/"Serial", "Seats", "Expiration Date", "Termination Date",
"Purchase Cost", "Order Number", "Manufacturer", "Licensed to Email"; a seat assignment rides on
"Assigned To" (an e-mail) and/or "Asset Tag" (several separated by ';' or '|'). One licence may span
several rows (one per assigned seat): rows with the same name, product and key are one licence whose
assignments are gathered, and any other field they both fill must agree. The product is the `product` (`software`) column, else the name.
The licence key itself is never stored, checked or quoted: only `key_fingerprint`, a keyed HMAC-SHA256
of it (32 hex digits; the key is ITAM_FINGERPRINT_KEY or ITAM_HOME/fingerprint-key), to tell keys apart
without letting anyone who reads the graph confirm a guessed key. A licence's id is a hash of (name, product, key fingerprint), so it is stable
across exports. "Licensed to Email" is the licensee on the vendor's records, not a seat: it is not carried.

Contracts (`parse_contracts`, source 'contracts'): vendor, reference, start_date, end_date,
notice_days or notice_period ("90", "90 days", "6 weeks", "3 months", "1 year"; months and years count
back from the end date when there is one, else as 30 and 365 days), covered_asset_tags and
covered_licenses (licence names), lists separated by ';' or '|'. An end date before the start date is
refused.

Spreadsheet formulas: reports export these values to CSV, so a value that starts with '=', '+', '-', '@',
a tab or a carriage return (after any leading spaces) and goes on with anything other than a plain number
or date is refused ("looks like a spreadsheet formula"), naming line and field: '-5' and '+1.50' pass,
'=HYPERLINK(...)', '@SUM(A1)' and '-2+3' do not. A lone '-' (an empty placeholder) passes. The rule covers
every field carried into the graph, here and in the SCIM and coverage connectors (`refuse_formula`);
the licence key is never carried, so it is not checked.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field as dc_field
from typing import Any
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from graph.config import Settings
from graph.identifiers import canonical_code
from graph.local_secrets import fingerprint_key
from graph.models import Batch, ContractObservation, LicenseObservation, check_email
from ingest.csvfile import CsvRows, FieldReader, refuse_formula, split_list
from ingest.dates import add_months
from ingest.errors import ProblemList

# ---------------------------------------------------------------------------------------------- licences

LICENSE_ALIASES = {
    "license_name": "name", "licence_name": "name", "license": "name", "licence": "name",
    "software": "product", "software_name": "product", "product_name": "product",
    "product_key": "key", "serial": "key", "license_key": "key", "licence_key": "key", "serial_number": "key",
    "total_seats": "seats",
    "expiration_date": "expires_on", "expiry_date": "expires_on", "expires": "expires_on", "expiration": "expires_on",
    "termination_date": "terminated_on", "terminated": "terminated_on",
    "cost": "purchase_cost",
    "order": "order_number",
    "manufacturer": "vendor", "publisher": "vendor",
    "license_email": "licensed_to_email", "licence_email": "licensed_to_email", "email": "licensed_to_email",
    "checked_out_to": "assigned_to", "assigned_email": "assigned_to", "assigned_to_email": "assigned_to",
    "assigned_asset": "asset_tag", "assigned_asset_tag": "asset_tag",
}
LICENSE_REQUIRED = ("name",)
# Fields every row of one licence must agree on (when both fill them).
LICENSE_SHARED = ("seats", "expires_on", "terminated_on", "purchase_cost", "order_number", "vendor")


def key_fingerprint(key: str, secret: bytes) -> str:
    """32 hex digits of the key's HMAC-SHA256 under this installation's secret: tells keys apart without
    keeping them, and without the secret a guessed key cannot be checked against the graph."""
    return hmac.new(secret, key.strip().encode(), hashlib.sha256).hexdigest()[:32]


def license_id(name: str, product: str, fingerprint: str | None) -> str:
    """Stable across exports: a hash of name, product (case and spacing folded) and key fingerprint."""
    parts = [" ".join(name.split()).casefold(), " ".join(product.split()).casefold(), fingerprint or ""]
    return "license-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


@dataclass
class _Licence:
    lines: list[int]
    name: str
    product: str
    fingerprint: str | None
    shared: dict[str, Any]
    shared_lines: dict[str, int]
    tags: set[str] = dc_field(default_factory=set)
    emails: set[str] = dc_field(default_factory=set)


def _assignee(value: str) -> str:
    if "@" not in value:
        raise ValueError(f"{value!r} is not an e-mail address (seats are assigned to people by e-mail)")
    return check_email(refuse_formula(value))


def _tag(value: str) -> str:
    return canonical_code(refuse_formula(value))


def parse_license_rows(path: Path, limit_bytes: int) -> list[LicenseObservation]:
    """Every licence in an export, seat rows merged; IngestError lists every bad field."""
    rows = CsvRows(path, limit_bytes, LICENSE_ALIASES, LICENSE_REQUIRED)
    problems = ProblemList(path)
    licences: dict[str, _Licence] = {}
    secret = fingerprint_key(Settings.from_env().home)
    for line, row in rows:
        field = FieldReader(problems, line, row)
        before = len(problems.problems)
        name = field.text("name") if field.required("name") else None
        product = field.text("product") or name
        key = field.secret("key")
        shared = {
            "seats": field.whole("seats"),
            "expires_on": field.date("expires_on"),
            "terminated_on": field.date("terminated_on"),
            "purchase_cost": field.number("purchase_cost"),
            "order_number": field.text("order_number"),
            "vendor": field.text("vendor"),
        }
        emails = field.check("assigned_to", lambda v: [_assignee(x) for x in split_list(v)]) or []
        tags = field.check("asset_tag", lambda v: [_tag(x) for x in split_list(v)]) or []
        if len(problems.problems) > before or not name or not product:
            continue
        fingerprint = key_fingerprint(key, secret) if key else None
        lid = license_id(name, product, fingerprint)
        known = licences.get(lid)
        if known is None:
            known = licences[lid] = _Licence([line], name, product, fingerprint, {}, {})
        else:
            known.lines.append(line)
        for column, value in shared.items():
            if value is None:
                continue
            if column in known.shared and known.shared[column] != value:
                problems.add(f"{row[column]!r} differs from {known.shared[column]!s} on line "
                             f"{known.shared_lines[column]} for the same licence", line, column)
                continue
            known.shared.setdefault(column, value)
            known.shared_lines.setdefault(column, line)
        known.emails.update(emails)
        known.tags.update(tags)
    problems.raise_if_any()
    observations = []
    for lid, lic in licences.items():
        lines = ", ".join(str(n) for n in lic.lines)
        record = f"{path.name} line{'s' if len(lic.lines) > 1 else ''} {lines}"
        try:
            observations.append(LicenseObservation(
                record=record, id=lid, name=lic.name, product=lic.product, key_fingerprint=lic.fingerprint,
                assigned_asset_tags=tuple(sorted(lic.tags)), assigned_emails=tuple(sorted(lic.emails)),
                **lic.shared))
        except ValidationError as exc:
            problems.add(exc.errors()[0]["msg"], lic.lines[0])
    problems.raise_if_any()
    return observations


def parse_licenses(path: Path, limit_bytes: int) -> Batch:
    """The registry's entry point for source 'licenses'."""
    return Batch(licenses=parse_license_rows(path, limit_bytes))


# --------------------------------------------------------------------------------------------- contracts

CONTRACT_ALIASES = {
    "supplier": "vendor", "provider": "vendor", "manufacturer": "vendor",
    "contract": "reference", "contract_number": "reference", "contract_id": "reference", "contract_ref": "reference",
    "contract_reference": "reference", "ref": "reference",
    "start": "start_date", "starts": "start_date", "start_on": "start_date",
    "end": "end_date", "ends": "end_date", "end_on": "end_date", "expiry_date": "end_date",
    "expiration_date": "end_date", "renewal_date": "end_date",
    "notice": "notice_period", "notice_period_days": "notice_days",
    "asset_tags": "covered_asset_tags", "assets": "covered_asset_tags", "covered_assets": "covered_asset_tags",
    "licenses": "covered_licenses", "licences": "covered_licenses", "covered_licences": "covered_licenses",
    "license_names": "covered_licenses",
    "seats": "quantity", "licensed_seats": "quantity",
    "annual_cost": "cost", "value": "cost", "contract_value": "cost", "price": "cost",
}
CONTRACT_REQUIRED = ("vendor", "reference")

MAX_NOTICE_COUNT = 36_500         # a notice period of a hundred years of days is already nonsense
_NOTICE = re.compile(r"^(\d+)\s*(d|days?|w|wks?|weeks?|m|mos?|months?|y|yrs?|years?)?$", re.IGNORECASE)


def notice_days(value: str, end: date | None) -> int:
    """'90', '90 days', '6 weeks', '3 months', '1 year' -> days of notice before `end`.

    Months and years count back on the calendar from the end date when it is known
    (3 months before 2026-06-30 is 2026-03-30: 92 days), else as 30 and 365 days."""
    match = _NOTICE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a notice period (e.g. '90 days', '3 months')")
    count, unit = int(match.group(1)), (match.group(2) or "d").lower()
    if count > MAX_NOTICE_COUNT:
        raise ValueError(f"{value!r} is not a notice period: more than {MAX_NOTICE_COUNT} of anything")
    if unit.startswith("d"):
        return count
    if unit.startswith("w"):
        return count * 7
    months = count * 12 if unit.startswith("y") else count
    if end is not None:
        try:
            return (end - add_months(end, -months)).days
        except ValueError:  # before year 1
            raise ValueError(f"{value!r} reaches back before year 1") from None
    return count * 365 if unit.startswith("y") else count * 30


def _items(field: FieldReader, name: str, convert) -> tuple[str, ...]:
    value = field.text(name)
    if value is None:
        return ()
    found: list[str] = []
    for item in split_list(value):
        try:
            converted = convert(item)
        except ValueError as exc:
            field.problems.add(str(exc), field.line, name)
            continue
        if converted not in found:
            found.append(converted)
    return tuple(found)


def parse_contract_rows(path: Path, limit_bytes: int) -> list[ContractObservation]:
    """Every contract of a contracts CSV; IngestError lists every bad field."""
    rows = CsvRows(path, limit_bytes, CONTRACT_ALIASES, CONTRACT_REQUIRED)
    problems = ProblemList(path)
    seen: dict[str, int] = {}
    contracts = []
    for line, row in rows:
        field = FieldReader(problems, line, row)
        before = len(problems.problems)
        vendor = field.text("vendor") if field.required("vendor") else None
        reference = field.text("reference") if field.required("reference") else None
        start, end = field.date("start_date"), field.date("end_date")
        if start and end and end < start:
            problems.add(f"end date {end} is before start date {start}", line, "end_date")
        days = field.check("notice_days", lambda v: notice_days(v, end))
        period = field.check("notice_period", lambda v: notice_days(v, end))
        if days is not None and period is not None and days != period:
            problems.add(f"{row['notice_period']!r} ({period} days) disagrees with notice_days {days}",
                         line, "notice_period")
        quantity, cost = field.whole("quantity"), field.number("cost")
        tags = _items(field, "covered_asset_tags", _tag)
        names = _items(field, "covered_licenses", lambda v: " ".join(refuse_formula(v).split()))
        if reference:
            if reference.casefold() in seen:
                problems.add(f"contract {reference!r} already on line {seen[reference.casefold()]}", line, "reference")
            seen.setdefault(reference.casefold(), line)
        if len(problems.problems) > before or not vendor or not reference:
            continue
        try:
            contracts.append(ContractObservation(
                record=f"{path.name} line {line}", reference=reference, vendor=vendor, start=start, end=end,
                notice_days=days if days is not None else period, quantity=quantity, cost=cost, asset_tags=tags, license_names=names))
        except ValidationError as exc:
            problems.add(exc.errors()[0]["msg"], line)
    problems.raise_if_any()
    return contracts


def parse_contracts(path: Path, limit_bytes: int) -> Batch:
    """The registry's entry point for source 'contracts'."""
    return Batch(contracts=parse_contract_rows(path, limit_bytes))
