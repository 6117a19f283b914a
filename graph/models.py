"""What sources tell the graph, validated before anything is written.

Connectors build these from their files; reconciliation turns them into writes.
Property names come from these models, never from input.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graph.identifiers import canonical, identifier_key
from graph.schema import IdentifierKind, LifecycleStage

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class HostType(StrEnum):
    SERVER = "server"
    WORKSTATION = "workstation"
    LAPTOP = "laptop"
    VM = "vm"
    NETWORK = "network"
    OTHER = "other"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Identifier(Frozen):
    kind: IdentifierKind
    value: str

    @classmethod
    def of(cls, kind: IdentifierKind, text: str) -> "Identifier":
        """Canonicalise text as an identifier of this kind (ValueError if it is not one)."""
        return cls(kind=kind, value=canonical(kind, text))

    @property
    def key(self) -> str:
        return identifier_key(self.kind, self.value)


def check_email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


class PortObservation(Frozen):
    protocol: Literal["tcp", "udp", "sctp"]
    number: int = Field(ge=0, le=65535)
    service: str | None = None
    product: str | None = None
    version: str | None = None


class OwnerRef(Frozen):
    email: str
    name: str | None = None
    department: str | None = None

    _email = field_validator("email")(check_email)


class AssetProperties(Frozen):
    """Asset facts a source may assert; None means the source says nothing about it."""

    name: str | None = None
    host_type: HostType | None = None
    lifecycle_stage: LifecycleStage | None = None
    status_label: str | None = None
    asset_tag: str | None = None
    serial: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    category: str | None = None
    location: str | None = None
    purchase_date: date | None = None
    purchase_cost: float | None = None
    warranty_end: date | None = None
    eol_date: date | None = None
    decommissioned_on: date | None = None
    last_audit: date | None = None
    os_name: str | None = None
    os_family: str | None = None


class HostObservation(Frozen):
    """One source's view of one host at one moment."""

    record: str                                   # 'file line N' or 'file host #N': for errors and conflicts
    observed_at: datetime
    identifiers: tuple[Identifier, ...]
    properties: AssetProperties = AssetProperties()
    owner: OwnerRef | None = None
    ips: tuple[str, ...] = ()
    ports: tuple[PortObservation, ...] | None = None   # None: the source says nothing about ports


class PersonObservation(Frozen):
    """One directory record of a person."""

    record: str
    email: str
    name: str | None = None
    employee_id: str | None = None
    department: str | None = None
    manager_email: str | None = None
    start_date: date | None = None
    end_date: date | None = None

    _email = field_validator("email")(check_email)
    _manager = field_validator("manager_email")(lambda v: check_email(v) if v else None)
