"""The whole graph model on one screen: labels, relationship verbs, keys and indexes, as data.

Cypher elsewhere takes labels and relationship types only from here, never from
input. `apply_schema` creates every constraint and index idempotently.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class NodeType:
    label: str
    key: str
    indexes: tuple[str, ...] = ()
    about: str = ""


@dataclass(frozen=True)
class RelType:
    verb: str
    start: tuple[str, ...]
    end: tuple[str, ...]
    about: str = ""


NODES: dict[str, NodeType] = {n.label: n for n in (
    NodeType("Asset", "id", ("name", "kind", "lifecycle_stage"), "every managed thing; a kind label rides along"),
    NodeType("Identifier", "key", ("value",), "{kind, value}; key is 'kind:value'"),
    NodeType("Person", "email", ("employee_id",), "people, active or departed"),
    NodeType("Team", "name", (), "departments and teams"),
    NodeType("Software", "key", ("name", "product_key", "licensable"), "a product; the version lives on INSTALLED"),
    NodeType("License", "id", ("product", "product_key", "name_key"), "seats of a product"),
    NodeType("Credential", "fingerprint", ("kind", "x509_identity", "not_after"), "certificates, keys, access keys"),
    NodeType("IPAddress", "address", (), "one IPv4 or IPv6 address"),
    NodeType("Subnet", "cidr", (), "a network segment"),
    NodeType("Port", "id", (), "a listening port of one host: '<asset id>/<proto>/<number>'"),
    NodeType("Internet", "name", (), "the single node standing for the whole internet"),
    NodeType("Source", "name", (), "where facts come from (nmap, snipeit, hr, ...)"),
    NodeType("IngestRun", "id", ("source", "started", "status"), "one ingest of one source"),
    NodeType("Conflict", "id", ("status",), "a record that identity resolution would not merge"),
    NodeType("Control", "name", ("category",), "a security or management tool (EDR, MDM, log shipper, ...)"),
    NodeType("Contract", "reference", ("vendor",), "a support or subscription contract"),
    NodeType("SecurityGroup", "id", (), "a cloud firewall group"),
    NodeType("WriteLock", "name", (), "a node whose write lock makes concurrent runs resolve identity one "
                                      "batch at a time"),
    NodeType("Finding", "id", ("rule", "status"), "a rule's finding: rule id + identity, tracked OPEN/RESOLVED/"
                                                  "SUPPRESSED across evaluations"),
    NodeType("Change", "id", ("asset_id", "at", "subject"),
             "one change an ingest run or a mutation made to an asset or person (ingest/changelog.py)"),
    NodeType("ChangeLog", "name", (), "the change log's own state: pruning horizon, runs written with it off"),
)}

# Kind labels that ride on :Asset.
ASSET_KINDS = ("Host", "Application", "DataStore")

RELS: dict[str, RelType] = {r.verb: r for r in (
    RelType("IDENTIFIES", ("Identifier",), ("Asset",)),
    RelType("OWNS", ("Person",), ("Asset",)),
    RelType("MEMBER_OF", ("Person",), ("Team",)),
    RelType("REPORTS_TO", ("Person",), ("Person",)),
    RelType("INSTALLED", ("Asset",), ("Software",), "{version, versions}: one per asset, product and source; "
                                                    "`versions` only when several are installed (kernels, "
                                                    "shaded jars): read them as coalesce(versions, [version]), "
                                                    "`installed_versions`"),
    RelType("COVERS", ("License", "Contract"), ("Software", "Asset", "License")),
    RelType("ASSIGNED_TO", ("License",), ("Asset", "Person")),
    RelType("ISSUED_TO", ("Credential",), ("Person",)),
    RelType("GRANTS_ACCESS_TO", ("Credential",), ("Asset",)),
    RelType("STORED_ON", ("Credential",), ("Asset",)),
    RelType("NAMES", ("Credential",), ("Identifier",), "a certificate's SAN: it authenticates whichever asset "
                                                        "holds that name or IP now"),
    RelType("HAS_IP", ("Asset",), ("IPAddress",), "{current, first_seen, last_seen}"),
    RelType("IN", ("IPAddress", "Asset", "Subnet"), ("Subnet", "SecurityGroup")),
    RelType("LISTENS_ON", ("Asset",), ("Port",)),
    RelType("CAN_REACH", ("Asset", "Subnet", "Internet", "SecurityGroup"), ("Asset",), "{ports, basis}"),
    RelType("SEEN_BY", ("Asset", "Person"), ("Source",), "{first_seen, last_seen, run_id, digest}"),
    RelType("INVOLVES", ("Conflict", "Finding"), ("Asset",), "the assets a conflict or a finding is about"),
    RelType("PROTECTS", ("Control",), ("Asset",), "{last_seen, source}: EDR, antivirus"),
    RelType("MONITORS", ("Control",), ("Asset",), "{last_seen, source}: agents, log shippers, scanners"),
    RelType("MANAGES", ("Control",), ("Asset",), "{last_seen, source}: MDM"),
)}


class IdentifierKind(StrEnum):
    HOSTNAME = "hostname"
    FQDN = "fqdn"
    IP = "ip"
    MAC = "mac"
    SERIAL = "serial"
    ASSET_TAG = "asset_tag"
    CLOUD_ID = "cloud_id"
    AGENT_ID = "agent_id"


# Strong identifiers merge records into one asset; weak ones only join when unambiguous.
STRONG_KINDS = frozenset({IdentifierKind.SERIAL, IdentifierKind.ASSET_TAG, IdentifierKind.CLOUD_ID,
                          IdentifierKind.AGENT_ID, IdentifierKind.MAC})
# An asset has at most one of each; two different values prove two different assets.
SINGLE_VALUED_KINDS = frozenset({IdentifierKind.SERIAL, IdentifierKind.ASSET_TAG,
                                 IdentifierKind.CLOUD_ID, IdentifierKind.AGENT_ID})
# Order in which strong identifiers decide between assets that all fit a record.
STRONG_PRECEDENCE = (IdentifierKind.CLOUD_ID, IdentifierKind.AGENT_ID, IdentifierKind.SERIAL, IdentifierKind.MAC,
                     IdentifierKind.ASSET_TAG)
# Order in which weak identifiers are tried.
WEAK_PRECEDENCE = (IdentifierKind.FQDN, IdentifierKind.HOSTNAME, IdentifierKind.IP)
# Weak identifiers are time-bound: each belongs to the asset that last held it (a re-used IP,
# a host name given to the machine that replaced a retired one).
TIME_BOUND_KINDS = frozenset({IdentifierKind.FQDN, IdentifierKind.HOSTNAME, IdentifierKind.IP})


class LifecycleStage(StrEnum):
    PROCUREMENT = "procurement"
    DEPLOYMENT = "deployment"
    MAINTENANCE = "maintenance"
    DECOMMISSIONED = "decommissioned"
    DISPOSED = "disposed"


RETIRED_STAGES = frozenset({LifecycleStage.DECOMMISSIONED, LifecycleStage.DISPOSED})


class SourceRole(StrEnum):
    INVENTORY = "inventory"   # what procurement says exists
    CLOUD = "cloud"           # what a cloud account provisioned: exists by being provisioned
    DISCOVERY = "discovery"   # what answered on the network, reported in, or was found
    DIRECTORY = "directory"   # who people are


SOURCES: dict[str, SourceRole] = {
    "snipeit": SourceRole.INVENTORY,
    "licenses": SourceRole.INVENTORY,
    "contracts": SourceRole.INVENTORY,
    "sbom": SourceRole.INVENTORY,
    "aws": SourceRole.CLOUD,
    "nmap": SourceRole.DISCOVERY,
    "osquery": SourceRole.DISCOVERY,
    "coverage": SourceRole.DISCOVERY,
    "certificates": SourceRole.DISCOVERY,
    "hr": SourceRole.DIRECTORY,
    "scim": SourceRole.DIRECTORY,
}

# Facts sources can disagree on: each source's claim is kept on its SEEN_BY edge and the asset
# shows the claim of the first source in this order that made one (then the newest).
CLAIM_PRECEDENCE: dict[str, tuple[str, ...]] = {
    "os_name": ("osquery", "aws", "nmap"),
    "os_version": ("osquery", "aws"),
    "location": ("snipeit", "aws"),
    "model": ("snipeit", "osquery", "aws"),
    "manufacturer": ("snipeit", "osquery", "aws"),
    "owner": ("snipeit", "aws", "osquery", "coverage"),
}

CONTROL_VERBS = {"edr": "PROTECTS", "mdm": "MANAGES", "endpoint_agent": "MONITORS", "logging": "MONITORS",
                 "vulnerability_scanner": "MONITORS", "monitoring": "MONITORS", "backup": "PROTECTS"}

INTERNET = "internet"


def schema_statements() -> list[str]:
    """DDL for every uniqueness constraint and index, each safe to run again."""
    statements = []
    for node in NODES.values():
        name = node.label.lower()
        statements.append(
            f"CREATE CONSTRAINT {name}_{node.key} IF NOT EXISTS "
            f"FOR (n:{node.label}) REQUIRE n.{node.key} IS UNIQUE")
        for prop in node.indexes:
            statements.append(f"CREATE INDEX {name}_{prop} IF NOT EXISTS FOR (n:{node.label}) ON (n.{prop})")
    return statements


def installed_versions(rel: str) -> str:
    """Cypher for every version an INSTALLED relationship `rel` stands for: `versions` when a source reported
    several of one product on one asset, else the one `version` (null when unknown)."""
    return f"coalesce({rel}.versions, [{rel}.version])"


def merged_versions(kept: str, added: str) -> str:
    """Cypher for the versions of list `kept`, then those of list `added` it lacks: each once, no nulls."""
    return f"reduce(u = [], v IN {kept} + {added} | CASE WHEN v IS NULL OR v IN u THEN u ELSE u + v END)"


def label(name: str) -> str:
    """A node label from the vocabulary; anything else is a programming error."""
    if name not in NODES and name not in ASSET_KINDS:
        raise ValueError(f"{name!r} is not a label of the graph model")
    return name


def verb(name: str) -> str:
    """A relationship type from the vocabulary; anything else is a programming error."""
    if name not in RELS:
        raise ValueError(f"{name!r} is not a relationship type of the graph model")
    return name
