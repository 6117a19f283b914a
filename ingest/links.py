"""Writes for what hangs off assets and people: credentials, licences, contracts, firewall reach,
and staleness after a complete run. Every link whose target is missing is counted, not dropped."""
from __future__ import annotations

import ipaddress
from collections import defaultdict
from datetime import datetime
from typing import Any

from neo4j import Transaction

from graph.models import ContractObservation, CredentialObservation, LicenseObservation, ReachRule
from graph.schema import INTERNET, IdentifierKind
from graph.store import write_batches
from ingest.writer import digest

UPSERT_CREDENTIALS = """
UNWIND $rows AS row
MERGE (c:Credential {fingerprint: row.fingerprint})
ON CREATE SET c.first_seen = row.at
SET c += row.props, c.last_seen = row.at, c.digest = row.digest, c.source = row.source
"""
# Each link statement returns how many rows found their target, so the rest are reported.
# An e-mail names a person (created if the directory has not yet); a bare user name must match
# exactly one person's e-mail local part, or the link is reported as unmatched.
LINK_CREDENTIAL_PERSON = """
UNWIND $rows AS row
MATCH (c:Credential {fingerprint: row.fingerprint})
CALL (row) {
  OPTIONAL MATCH (p:Person) WHERE row.email IS NULL AND p.email STARTS WITH row.user + '@'
  RETURN collect(p) AS byUser
}
CALL (row) {
  WITH row WHERE row.email IS NOT NULL
  MERGE (p:Person {email: row.email})
  ON CREATE SET p.first_seen = row.at
  RETURN collect(p) AS byMail
}
WITH c, row, coalesce(byMail[0], CASE WHEN size(byUser) = 1 THEN byUser[0] END) AS p
WITH c, row, p WHERE p IS NOT NULL
MERGE (c)-[r:ISSUED_TO]->(p)
ON CREATE SET r.first_seen = row.at
RETURN count(*) AS linked
"""
LINK_CREDENTIAL_ASSET = """
UNWIND $rows AS row
MATCH (c:Credential {fingerprint: row.fingerprint})
MATCH (:Identifier {key: row.key})-[:IDENTIFIES]->(a:Asset)
MERGE (c)-[r:%s]->(a)
ON CREATE SET r.first_seen = row.at
SET r.last_seen = row.at
RETURN count(DISTINCT row) AS linked
"""
LINK_STORED_ON = """
UNWIND $rows AS row
MATCH (c:Credential {fingerprint: row.fingerprint}), (a:Asset {id: row.asset})
MERGE (c)-[r:STORED_ON]->(a)
ON CREATE SET r.first_seen = row.at
SET r.last_seen = row.at, r.source = row.source
"""

UPSERT_LICENSES = """
UNWIND $rows AS row
MERGE (l:License {id: row.id})
ON CREATE SET l.first_seen = row.at
SET l += row.props, l.last_seen = row.at, l.digest = row.digest
WITH l, row
CALL (l, row) {
  MATCH (l)-[old:COVERS|ASSIGNED_TO]->() DELETE old
}
CALL (l, row) {
  OPTIONAL MATCH (s:Software) WHERE toLower(s.name) STARTS WITH toLower(row.product)
  WITH l, row, collect(s) AS found
  FOREACH (s IN found | MERGE (l)-[:COVERS]->(s))
  FOREACH (_ IN CASE WHEN size(found) = 0 THEN [1] ELSE [] END |
    MERGE (p:Software {key: '/' + toLower(row.product)})
    ON CREATE SET p.name = row.product, p.first_seen = row.at
    MERGE (l)-[:COVERS]->(p))
}
"""
ASSIGN_LICENSE_ASSET = """
UNWIND $rows AS row
MATCH (l:License {id: row.id})
MATCH (:Identifier {key: row.key})-[:IDENTIFIES]->(a:Asset)
MERGE (l)-[:ASSIGNED_TO]->(a)
RETURN count(*) AS linked
"""
ASSIGN_LICENSE_PERSON = """
UNWIND $rows AS row
MATCH (l:License {id: row.id})
MATCH (p:Person {email: row.email})
MERGE (l)-[:ASSIGNED_TO]->(p)
RETURN count(*) AS linked
"""

UPSERT_CONTRACTS = """
UNWIND $rows AS row
MERGE (c:Contract {reference: row.reference})
ON CREATE SET c.first_seen = row.at
SET c += row.props, c.last_seen = row.at, c.digest = row.digest
WITH c
MATCH (c)-[old:COVERS]->() DELETE old
"""
CONTRACT_COVERS_ASSET = """
UNWIND $rows AS row
MATCH (c:Contract {reference: row.reference})
MATCH (:Identifier {key: row.key})-[:IDENTIFIES]->(a:Asset)
MERGE (c)-[:COVERS]->(a)
RETURN count(*) AS linked
"""
CONTRACT_COVERS_LICENSE = """
UNWIND $rows AS row
MATCH (c:Contract {reference: row.reference})
MATCH (l:License) WHERE toLower(l.name) = toLower(row.name)
MERGE (c)-[:COVERS]->(l)
RETURN count(DISTINCT row) AS linked
"""

# Firewall rules: a run states every rule of the groups it read, so their old edges go first.
CLEAR_GROUP_REACH = """
UNWIND $rows AS gid
MATCH (g:SecurityGroup {id: gid})<-[:IN]-(a:Asset)<-[r:CAN_REACH]-()
WHERE r.basis = 'security group ' + gid
DELETE r
"""
GROUP_REACH = """
UNWIND $rows AS row
MATCH (g:SecurityGroup {id: row.group})<-[:IN]-(a:Asset)
CALL (row) {
  OPTIONAL MATCH (i:Internet {name: $internet}) WHERE row.kind = 'internet'
  OPTIONAL MATCH (n:Subnet {cidr: row.cidr}) WHERE row.kind = 'cidr'
  OPTIONAL MATCH (sg:SecurityGroup {id: row.source_group}) WHERE row.kind = 'group'
  RETURN coalesce(i, n, sg) AS origin
}
WITH a, row, origin WHERE origin IS NOT NULL
MERGE (origin)-[r:CAN_REACH {basis: 'security group ' + row.group}]->(a)
SET r.ports = row.ports
"""
ENSURE_ORIGINS = """
UNWIND $rows AS row
CALL (row) {
  WITH row WHERE row.kind = 'cidr'
  MERGE (:Subnet {cidr: row.cidr})
}
CALL (row) {
  WITH row WHERE row.kind = 'group'
  MERGE (:SecurityGroup {id: row.source_group})
}
"""

# A firewall rule names a wide CIDR (a VPC, an office range); hosts sit in narrower subnets.
RULE_CIDRS = """
MATCH (wide:Subnet)-[r:CAN_REACH]->() WHERE r.basis STARTS WITH 'security group '
RETURN DISTINCT wide.cidr AS cidr
"""
ALL_SUBNETS = "MATCH (s:Subnet) RETURN s.cidr AS cidr"
LINK_CONTAINED = """
UNWIND $rows AS row
MATCH (narrow:Subnet {cidr: row.narrow}), (wide:Subnet {cidr: row.wide})
MERGE (narrow)-[:IN]->(wide)
"""

MARK_STALE = """
UNWIND $scopes AS scope
MATCH (a:Asset)-[s:SEEN_BY {scope: scope}]->(:Source {name: $source})
WHERE s.run_id <> $run_id AND coalesce(s.current, true)
SET s.current = false, s.stale_since = $now
RETURN count(a) AS retired
"""


def _run_count(tx: Transaction, cypher: str, rows: list[dict], **params: Any) -> int:
    linked = 0
    for start in range(0, len(rows), 5000):
        record = tx.run(cypher, rows=rows[start:start + 5000], **params).single()
        linked += record["linked"] if record else 0
    return linked


def existing_digests(tx: Transaction, label_key: str, keys: list[str]) -> dict[str, str | None]:
    """{key: digest} of the nodes that exist already (label and key property from the vocabulary)."""
    queries = {
        "Credential.fingerprint": "UNWIND $keys AS k MATCH (n:Credential {fingerprint: k}) RETURN k, n.digest AS d",
        "License.id": "UNWIND $keys AS k MATCH (n:License {id: k}) RETURN k, n.digest AS d",
        "Contract.reference": "UNWIND $keys AS k MATCH (n:Contract {reference: k}) RETURN k, n.digest AS d",
    }
    return {row["k"]: row["d"] for row in tx.run(queries[label_key], keys=keys)}


def write_credentials(tx: Transaction, source: str, credentials: list[CredentialObservation],
                      stored: list[dict], now: datetime) -> tuple[dict[str, str], int]:
    """Upsert credentials and link them; returns ({fingerprint: digest}, unmatched links)."""
    unique = {c.fingerprint: c for c in credentials}
    rows, person_rows, asset_rows = [], [], defaultdict(list)
    digests = {}
    for fingerprint, cred in sorted(unique.items()):
        props = cred.model_dump(exclude={"record", "fingerprint", "grants_access_to", "issued_to_email",
                                         "issued_to_user"}, exclude_none=True, mode="python")
        props = {k: (v.value if hasattr(v, "value") else list(v) if isinstance(v, tuple) else v)
                 for k, v in props.items()}
        digests[fingerprint] = digest(props)
        rows.append({"fingerprint": fingerprint, "props": props, "digest": digests[fingerprint], "at": now,
                     "source": source})
        if cred.issued_to_email or (cred.issued_to_user and cred.issued_to_user != "<root_account>"):
            person_rows.append({"fingerprint": fingerprint, "email": cred.issued_to_email,
                                "user": cred.issued_to_user, "at": now})
        for name in cred.dns_names:
            kind = IdentifierKind.FQDN if "." in name else IdentifierKind.HOSTNAME
            asset_rows["AUTHENTICATES"].append({"fingerprint": fingerprint, "key": f"{kind}:{name.lower()}", "at": now})
        for address in cred.ip_addresses:
            asset_rows["AUTHENTICATES"].append({"fingerprint": fingerprint, "key": f"ip:{address}", "at": now})
        for ident in cred.grants_access_to:
            asset_rows["GRANTS_ACCESS_TO"].append({"fingerprint": fingerprint, "key": ident.key, "at": now})
    write_batches(tx, UPSERT_CREDENTIALS, rows)
    write_batches(tx, LINK_STORED_ON, stored)
    unmatched = len(person_rows) - _run_count(tx, LINK_CREDENTIAL_PERSON, person_rows)
    # A certificate naming a host we do not know is not an error; only wrong links would be.
    _run_count(tx, LINK_CREDENTIAL_ASSET % "AUTHENTICATES", asset_rows["AUTHENTICATES"])
    grants = asset_rows["GRANTS_ACCESS_TO"]
    unmatched += len(grants) - _run_count(tx, LINK_CREDENTIAL_ASSET % "GRANTS_ACCESS_TO", grants)
    return digests, unmatched


def write_licenses(tx: Transaction, licenses: list[LicenseObservation], now: datetime) -> tuple[dict[str, str], int]:
    rows, asset_rows, person_rows, digests = [], [], [], {}
    for lic in licenses:
        props = lic.model_dump(exclude={"record", "id", "assigned_asset_tags", "assigned_emails"}, exclude_none=True)
        digests[lic.id] = digest(lic.model_dump(mode="json", exclude={"record"}))
        rows.append({"id": lic.id, "product": lic.product, "props": props, "digest": digests[lic.id], "at": now})
        asset_rows += [{"id": lic.id, "key": f"asset_tag:{tag.strip().upper()}"} for tag in lic.assigned_asset_tags]
        person_rows += [{"id": lic.id, "email": email.strip().lower()} for email in lic.assigned_emails]
    write_batches(tx, UPSERT_LICENSES, rows)
    unmatched = len(asset_rows) - _run_count(tx, ASSIGN_LICENSE_ASSET, asset_rows)
    unmatched += len(person_rows) - _run_count(tx, ASSIGN_LICENSE_PERSON, person_rows)
    return digests, unmatched


def write_contracts(tx: Transaction, contracts: list[ContractObservation], now: datetime) -> tuple[dict[str, str], int]:
    rows, asset_rows, license_rows, digests = [], [], [], {}
    for contract in contracts:
        props = contract.model_dump(exclude={"record", "reference", "asset_tags", "license_names"}, exclude_none=True)
        digests[contract.reference] = digest(contract.model_dump(mode="json", exclude={"record"}))
        rows.append({"reference": contract.reference, "props": props, "digest": digests[contract.reference],
                     "at": now})
        asset_rows += [{"reference": contract.reference, "key": f"asset_tag:{t.strip().upper()}"}
                       for t in contract.asset_tags]
        license_rows += [{"reference": contract.reference, "name": n} for n in contract.license_names]
    write_batches(tx, UPSERT_CONTRACTS, rows)
    unmatched = len(asset_rows) - _run_count(tx, CONTRACT_COVERS_ASSET, asset_rows)
    unmatched += len(license_rows) - _run_count(tx, CONTRACT_COVERS_LICENSE, license_rows)
    return digests, unmatched


def write_reach(tx: Transaction, rules: list[ReachRule]) -> None:
    """CAN_REACH edges from the internet, a CIDR or a security group to every asset in the target group."""
    merged: dict[tuple, set[str]] = defaultdict(set)
    for rule in rules:
        if rule.source_cidr in ("0.0.0.0/0", "::/0"):
            origin = ("internet", None, None)
        elif rule.source_cidr:
            origin = ("cidr", rule.source_cidr, None)
        elif rule.source_group:
            origin = ("group", None, rule.source_group)
        else:
            continue
        merged[(rule.target_group, *origin)].update(rule.ports)
    rows = [{"group": group, "kind": kind, "cidr": cidr, "source_group": source_group, "ports": sorted(ports)}
            for (group, kind, cidr, source_group), ports in sorted(merged.items(), key=lambda item: str(item[0]))]
    write_batches(tx, CLEAR_GROUP_REACH, sorted({r.target_group for r in rules}))
    write_batches(tx, ENSURE_ORIGINS, rows)
    for start in range(0, len(rows), 5000):
        tx.run(GROUP_REACH, rows=rows[start:start + 5000], internet=INTERNET).consume()


def link_subnet_containment(tx: Transaction) -> None:
    """(narrow:Subnet)-[:IN]->(wide:Subnet) for every rule CIDR, so reachability finds hosts inside it."""
    wides = [ipaddress.ip_network(r["cidr"]) for r in tx.run(RULE_CIDRS)]
    if not wides:
        return
    rows = []
    for record in tx.run(ALL_SUBNETS):
        narrow = ipaddress.ip_network(record["cidr"])
        rows += [{"narrow": str(narrow), "wide": str(wide)} for wide in wides
                 if wide != narrow and wide.version == narrow.version and narrow.subnet_of(wide)]
    write_batches(tx, LINK_CONTAINED, rows)


def mark_stale(tx: Transaction, source: str, run_id: str, scopes: list[str], now: datetime) -> int:
    """After a complete run: what this source saw before in these scopes but not now is no longer observed."""
    if not scopes:
        return 0
    record = tx.run(MARK_STALE, scopes=sorted(set(scopes)), source=source, run_id=run_id, now=now).single()
    return record["retired"] if record else 0
