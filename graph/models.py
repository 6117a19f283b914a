"""What sources tell the graph, validated before anything is written.

Connectors build these from their files; reconciliation turns them into writes.
Property names come from these models, never from input.
"""
from __future__ import annotations

import hashlib
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
    order_number: str | None = None
    supplier: str | None = None
    warranty_end: date | None = None
    eol_date: date | None = None
    decommissioned_on: date | None = None
    last_audit: date | None = None
    os_name: str | None = None
    os_family: str | None = None
    os_version: str | None = None
    cloud_provider: str | None = None
    cloud_account: str | None = None
    cloud_region: str | None = None
    cloud_state: str | None = None
    instance_type: str | None = None
    vpc_id: str | None = None
    imds_v2_required: bool | None = None
    launched_at: datetime | None = None


class SoftwareObservation(Frozen):
    """A product installed on, or bundled into, an asset."""

    name: str = Field(min_length=1, max_length=512)
    version: str | None = None
    vendor: str | None = None
    purl: str | None = None
    cpe: str | None = None
    package_type: str | None = None          # deb, rpm, program, npm, maven, ...
    licenses: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Software nodes are products: the purl without its version, else vendor/name, lower-cased."""
        if self.purl:
            return self.purl.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[0].lower()
        return f"{(self.vendor or '').strip().lower()}/{self.name.strip().lower()}"


class CredentialKind(StrEnum):
    X509 = "x509"
    SSH_KEY = "ssh_key"
    AWS_ACCESS_KEY = "aws_access_key"
    AWS_PASSWORD = "aws_password"


CredentialTime = Literal["not_before", "not_after", "last_used", "last_rotated"]


class CredentialObservation(Frozen):
    """A certificate, key or account secret's public facts; the secret itself is never carried."""

    record: str
    kind: CredentialKind
    fingerprint: str = Field(min_length=8, max_length=256)   # x509: SHA-256 hex of the DER
    name: str | None = None
    subject: str | None = None
    issuer: str | None = None
    serial_number: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    key_usage: tuple[str, ...] = ()
    extended_key_usage: tuple[str, ...] = ()
    client_auth: bool = False
    active: bool | None = None
    last_used: datetime | None = None
    last_rotated: datetime | None = None
    # Times the source states outright, so that its None means none (the IAM report's N/A: never used,
    # never rotated) and clears a stored value; any other time left out keeps what is stored.
    stated_times: tuple[CredentialTime, ...] = ()
    issued_to_email: str | None = None        # links ISSUED_TO a person by e-mail
    issued_to_user: str | None = None         # or by user name (the e-mail's local part)
    grants_access_to: tuple[Identifier, ...] = ()   # hosts it opens (an SSH key's host, ...)


class ControlCategory(StrEnum):
    EDR = "edr"
    ENDPOINT_AGENT = "endpoint_agent"
    MDM = "mdm"
    LOGGING = "logging"
    VULNERABILITY_SCANNER = "vulnerability_scanner"
    MONITORING = "monitoring"
    BACKUP = "backup"


class ControlObservation(Frozen):
    """A security or management tool that covers an asset."""

    tool: str = Field(min_length=1, max_length=200)
    category: ControlCategory
    last_seen: datetime | None = None


class ScannedPorts(Frozen):
    """The ports a scan probed, per protocol, from its <scaninfo services="1,3-4,...">: a stored port of
    a host outside them is neither confirmed nor refuted by the scan."""

    key: str                          # the same ranges, the same key: one entry of the write's map per scan
    ranges: dict[str, tuple[tuple[int, int], ...]]

    @classmethod
    def of(cls, ranges: dict[str, list[tuple[int, int]]]) -> ScannedPorts:
        text = ";".join(f"{p}:{','.join(f'{lo}-{hi}' for lo, hi in r)}" for p, r in sorted(ranges.items()))
        return cls(key=hashlib.sha256(text.encode()).hexdigest()[:16],
                   ranges={protocol: tuple(r) for protocol, r in ranges.items()})


class CloudSubnet(Frozen):
    """A subnet as its cloud lists it (`aws ec2 describe-subnets`): the addresses of hosts whose records name
    it (`SubnetPlacement`) go in its CIDR blocks."""

    id: str                                   # subnet-0abc...
    cidrs: tuple[str, ...]                    # its IPv4 block, then its IPv6 block (AWS gives a subnet one of each)
    record: str                               # 'file Subnets[N] (id)': for errors


class SubnetPlacement(Frozen):
    """A host's addresses in one cloud subnet, as its record names the subnet (an instance's or interface's
    SubnetId). `cidrs` stays empty until the run fills in the blocks a listing of the subnet gives
    (ingest/pipeline.py `CloudSubnets`)."""

    subnet_id: str
    addresses: tuple[str, ...]                # private IPv4 and IPv6 addresses, canonical as in `ips`
    cidrs: tuple[str, ...] = ()
    field: str = ""                           # where the record names the subnet: '<JSON path>.SubnetId'


class HostObservation(Frozen):
    """One source's view of one asset (a host unless `kind` says otherwise) at one moment."""

    record: str                                   # 'file line N' or 'file host #N': for errors and conflicts
    observed_at: datetime
    identifiers: tuple[Identifier, ...]
    time_from_source: bool = False                # observed_at is the source's own time (not a file's mtime)
    kind: Literal["Host", "Application", "DataStore"] = "Host"
    properties: AssetProperties = AssetProperties()
    owner: OwnerRef | None = None
    ips: tuple[str, ...] = ()
    subnet: str | None = None                     # the CIDR the source places the IPs in (cloud subnets)
    # the cloud subnets its addresses are in, by id (CIDRs filled in by the run); not in the digest: a subnet's
    # blocks do not change, and its addresses are there already
    subnets: tuple[SubnetPlacement, ...] = Field(default=(), exclude=True)
    ports: tuple[PortObservation, ...] | None = None   # None: the source says nothing about ports
    # the ports the report probed (None: every port): a stored port outside them stays; not in the digest
    scanned_ports: ScannedPorts | None = Field(default=None, exclude=True)
    software: tuple[SoftwareObservation, ...] | None = None   # the whole installed set (replaces)
    software_added: tuple[SoftwareObservation, ...] = ()      # or a change to it (event logs)
    software_removed: tuple[SoftwareObservation, ...] = ()
    credentials: tuple[CredentialObservation, ...] = ()       # found on the asset: STORED_ON
    controls: tuple[ControlObservation, ...] = ()             # tools covering it
    security_groups: tuple[str, ...] = ()                     # cloud firewall groups it sits in
    scope: str | None = None                  # the complete-run scope it belongs to (else the file's)


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
    # A directory that gives no dates (SCIM) leaves the stored ones alone; its disabled account says only that
    # the person had left by `departed_by` (the file's date): the end date is the earlier of the two.
    states_dates: bool = True
    departed_by: date | None = None

    _email = field_validator("email")(check_email)
    _manager = field_validator("manager_email")(lambda v: check_email(v) if v else None)


class LicenseObservation(Frozen):
    """Seats of a product, from a licence export; the licence key itself is never stored."""

    record: str
    id: str
    name: str
    product: str
    seats: int | None = None
    key_fingerprint: str | None = None        # keyed HMAC of the key, to tell keys apart
    expires_on: date | None = None
    terminated_on: date | None = None
    purchase_cost: float | None = None
    order_number: str | None = None
    vendor: str | None = None
    assigned_asset_tags: tuple[str, ...] = ()
    assigned_emails: tuple[str, ...] = ()


class ContractObservation(Frozen):
    """A support, maintenance or subscription contract and what it covers."""

    record: str
    reference: str
    vendor: str
    start: date | None = None
    end: date | None = None
    notice_days: int | None = None
    quantity: int | None = None               # seats a subscription contract entitles, if it carries them
    cost: float | None = None
    asset_tags: tuple[str, ...] = ()
    license_names: tuple[str, ...] = ()


class ReachRule(Frozen):
    """A firewall rule: from where (a CIDR, the internet or a security group) into a group, on which ports."""

    record: str
    target_group: str
    ports: tuple[str, ...]                    # 'tcp/22', 'tcp/8000-8080', 'all'
    source_cidr: str | None = None            # 0.0.0.0/0 and ::/0 mean the internet
    source_group: str | None = None


class Batch(BaseModel):
    """Everything one ingest run read, validated, ready for reconciliation and writing."""

    hosts: list[HostObservation] = []
    people: list[PersonObservation] = []
    credentials: list[CredentialObservation] = []
    licenses: list[LicenseObservation] = []
    contracts: list[ContractObservation] = []
    reach: list[ReachRule] = []
    skipped: int = 0
    dropped: int = 0                          # ports and packages beyond the per-host caps
    scopes: list[str] = []                    # what the files cover completely (staleness works per scope)
    subnets: list[CloudSubnet] = []           # cloud subnets the files list, for the run's hosts

    def extend(self, other: "Batch") -> None:
        for name in ("hosts", "people", "credentials", "licenses", "contracts", "reach", "scopes", "subnets"):
            getattr(self, name).extend(getattr(other, name))
        self.skipped += other.skipped
        self.dropped += other.dropped
