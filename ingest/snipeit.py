"""Snipe-IT hardware export (CSV): the inventory of record, with owners and lifecycle."""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from graph.identifiers import canonical_mac
from graph.models import AssetProperties, Batch, HostObservation, HostType, Identifier, OwnerRef
from graph.schema import IdentifierKind, LifecycleStage
from ingest.csvfile import CsvRows, FieldReader
from ingest.dates import add_months, file_observed_at
from ingest.errors import ProblemList
from ingest.hostnames import host_name_identifiers

SOURCE = "snipeit"

# Snipe-IT's export headers and importer field names, mapped onto ours.
ALIASES = {
    "name": "item_name", "asset_name": "item_name",
    "model": "asset_model", "model_name": "asset_model",
    "serial_number": "serial",
    "status_label": "status",
    "purchased": "purchase_date",   # the custom asset report's header (admin/hardware/table.purchase_date)
    "warranty": "warranty_months", "warranty_months_": "warranty_months",
    "eol_date": "asset_eol_date", "eol": "asset_eol_date",
    "checked_out_to": "full_name", "checked_out": "full_name", "assigned_to": "full_name",
    "user_email": "email", "username": "email",
    "last_audit": "last_audit_date",
    "mac": "mac_address",
    "decommission_date": "decommissioned_date",
    "cost": "purchase_cost",
    "order": "order_number", "purchase_order": "order_number",
    "vendor": "supplier", "supplier_name": "supplier",
}
REQUIRED = ("asset_tag", "status")

STATUS_STAGES = {
    "pending": LifecycleStage.PROCUREMENT, "ordered": LifecycleStage.PROCUREMENT,
    "ready to deploy": LifecycleStage.PROCUREMENT, "in stock": LifecycleStage.PROCUREMENT,
    "deployed": LifecycleStage.DEPLOYMENT, "in use": LifecycleStage.DEPLOYMENT,
    "out for repair": LifecycleStage.MAINTENANCE, "in repair": LifecycleStage.MAINTENANCE,
    "out for diagnostics": LifecycleStage.MAINTENANCE, "maintenance": LifecycleStage.MAINTENANCE,
    "broken": LifecycleStage.MAINTENANCE,
    "archived": LifecycleStage.DECOMMISSIONED, "retired": LifecycleStage.DECOMMISSIONED,
    "decommissioned": LifecycleStage.DECOMMISSIONED, "lost/stolen": LifecycleStage.DECOMMISSIONED,
    "broken - not fixable": LifecycleStage.DECOMMISSIONED,   # out of service for good, like Lost/Stolen
    "disposed": LifecycleStage.DISPOSED, "recycled": LifecycleStage.DISPOSED,
    "sold": LifecycleStage.DISPOSED, "destroyed": LifecycleStage.DISPOSED,
}

CATEGORY_TYPES = {
    "servers": HostType.SERVER, "server": HostType.SERVER,
    "desktops": HostType.WORKSTATION, "desktop": HostType.WORKSTATION, "workstations": HostType.WORKSTATION,
    "laptops": HostType.LAPTOP, "laptop": HostType.LAPTOP, "notebooks": HostType.LAPTOP,
    "networking": HostType.NETWORK, "network": HostType.NETWORK, "switches": HostType.NETWORK,
    "routers": HostType.NETWORK, "firewalls": HostType.NETWORK,
    "virtual machines": HostType.VM, "vms": HostType.VM,
}


# Snipe-IT's status types (Statuslabel::getStatuslabelType), and "deployed" for a checked-out asset
# (AssetPresenter::statusMeta). The custom asset report writes a status as "label (type)"; the type
# gives the stage of a label STATUS_STAGES does not name.
STATUS_TYPE_STAGES = {
    "deployable": LifecycleStage.PROCUREMENT, "pending": LifecycleStage.PROCUREMENT,
    "deployed": LifecycleStage.DEPLOYMENT, "undeployable": LifecycleStage.MAINTENANCE,
    "archived": LifecycleStage.DECOMMISSIONED,
}
_LABEL_AND_TYPE = re.compile(rf"(?P<label>\S.*?) ?\((?P<type>{'|'.join(STATUS_TYPE_STAGES)})\)", re.IGNORECASE)


def status_stage(status: str) -> tuple[str, LifecycleStage]:
    """The status label and its lifecycle stage: a label STATUS_STAGES names decides; otherwise the
    status type of the custom report's "label (type)" form; otherwise ValueError."""
    text = " ".join(status.split())
    typed = _LABEL_AND_TYPE.fullmatch(text)
    label = typed["label"] if typed else text
    stage = STATUS_STAGES.get(label.lower())
    if stage is None and typed:
        stage = STATUS_TYPE_STAGES[typed["type"].lower()]
    if stage is None:
        known = ", ".join(sorted({s.title() for s in STATUS_STAGES}))
        raise ValueError(f"unknown status {status!r}; known: {known}; another label needs its Snipe-IT "
                         f"status type, as the custom asset report writes it: 'label ({'|'.join(STATUS_TYPE_STAGES)})'")
    return label, stage


def parse_snipeit_assets(path: Path, limit_bytes: int, observed_at: datetime | None = None) -> list[HostObservation]:
    """Every row of a Snipe-IT hardware export as a host observation; IngestError lists every bad field."""
    return list(iter_snipeit_assets(path, limit_bytes, observed_at))


def iter_snipeit_assets(path: Path, limit_bytes: int, observed_at: datetime | None = None) -> Iterator[HostObservation]:
    """The rows of an export one at a time, so a million-row export is never held as observations at once.
    IngestError (every bad field) is raised at the end, after the good rows were yielded: a caller that
    must write nothing on bad input reads the whole file first (ingest/pipeline.py reads it twice)."""
    rows = CsvRows(path, limit_bytes, ALIASES, REQUIRED)
    problems = ProblemList(path)
    seen_tags: dict[str, int] = {}
    at = observed_at or file_observed_at(path)
    for line, row in rows:
        field = FieldReader(problems, line, row)
        before = len(problems.problems)
        tag = field.required("asset_tag")
        status = field.required("status")
        label, stage = (field.check("status", status_stage) if status else None) or (None, None)
        serial = field.text("serial")
        name = field.text("item_name")
        mac = field.check("mac_address", canonical_mac)
        names: list[Identifier] = []
        if name:
            try:
                names = host_name_identifiers(name)
            except ValueError:
                pass  # a display name such as "Jane's MacBook" is a name, not a host name
        purchase = field.date("purchase_date")
        warranty = field.whole("warranty_months")
        email = field.check("email", lambda v: OwnerRef(email=v).email if "@" in v else _not_email(v))
        audit = field.date("last_audit_date")
        decommissioned = field.date("decommissioned_date")
        eol = field.date("asset_eol_date")
        cost = field.number("purchase_cost")
        # Snipe-IT itself keeps asset tags unique, so a repeated tag means a broken export. A repeated
        # serial is real life (placeholders, typos, a re-used board): identity resolution records it.
        if tag:
            key = tag.upper()
            if key in seen_tags:
                problems.add(f"asset tag {tag!r} already on line {seen_tags[key]}", line, "asset_tag")
            seen_tags.setdefault(key, line)
        if len(problems.problems) > before or tag is None:
            continue
        identifiers = [Identifier.of(IdentifierKind.ASSET_TAG, tag)]
        if serial:
            identifiers.append(Identifier.of(IdentifierKind.SERIAL, serial))
        if mac:
            identifiers.append(Identifier(kind=IdentifierKind.MAC, value=mac))
        identifiers += names
        category = field.text("category")
        props = AssetProperties(
            name=name or tag,
            host_type=CATEGORY_TYPES.get((category or "").lower(), HostType.OTHER if category else None),
            lifecycle_stage=stage, status_label=label, asset_tag=tag.upper(),
            serial=serial.upper() if serial else None, model=field.text("asset_model"),
            manufacturer=field.text("manufacturer"), category=category, location=field.text("location"),
            purchase_date=purchase, purchase_cost=cost, order_number=field.text("order_number"),
            supplier=field.text("supplier"),
            warranty_end=add_months(purchase, warranty) if purchase and warranty is not None else None,
            eol_date=eol, decommissioned_on=decommissioned, last_audit=audit,
        )
        owner = OwnerRef(email=email, name=field.text("full_name"), department=field.text("department")) if email else None
        yield HostObservation(
            record=f"{path.name} line {line}", observed_at=at,
            identifiers=tuple(identifiers), properties=props, owner=owner)
    problems.raise_if_any()


def _not_email(value: str) -> str:
    raise ValueError(f"{value!r} is not an e-mail address (owners are keyed by e-mail)")



SCOPES = ["snipeit:hardware"]   # one export is the whole inventory


def parse_batch(path: Path, limit_bytes: int) -> Batch:
    """The registry's entry point: the whole export as one batch."""
    return Batch(hosts=parse_snipeit_assets(path, limit_bytes), scopes=list(SCOPES))


def stream_batch(path: Path, limit_bytes: int) -> tuple[Batch, Iterator[HostObservation]]:
    """The registry's streaming entry point: the batch without its hosts, and the hosts one at a time."""
    return Batch(scopes=list(SCOPES)), iter_snipeit_assets(path, limit_bytes)
