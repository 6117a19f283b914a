"""Writes for what hangs off assets and people: credentials, licences, contracts, firewall reach,
and staleness after a complete run. Every link whose target is missing is counted, not dropped."""
from __future__ import annotations

import ipaddress
from collections import defaultdict
from datetime import datetime
from typing import get_args

from neo4j import Transaction

from graph.identifiers import x509_identity
from graph.models import (ContractObservation, CredentialKind, CredentialObservation, CredentialTime,
                          LicenseObservation, ReachRule)
from graph.networks import includes_public_addresses
from graph.schema import INTERNET, NODES, RELS, IdentifierKind, verb
from graph.store import BATCH_SIZE, count_batches, write_batches
from ingest.catalog import control_verbs, write
from ingest.digest import digest

# A credential's times ride at the top of its row, where write_batches sends them as epoch milliseconds
# (UTC, to the millisecond; the driver packs a datetime nested in `props` slowly, graph/store.py). An
# absent one leaves the stored value, as `+=` does, unless the source states it (`row.stated`): then
# absent means none, and the stored value goes (a rotated AWS key is not used until the report says so).
CREDENTIAL_TIMES: tuple[CredentialTime, ...] = get_args(CredentialTime)
UPSERT_CREDENTIALS = write(
    'upsert-credentials',
    'Credentials by fingerprint (never the secret itself).',
    """
UNWIND $rows AS row
MERGE (c:Credential {fingerprint: row.fingerprint})
ON CREATE SET c.first_seen = row.at
SET c += row.props, c.last_seen = row.at, c.digest = row.digest, c.source = row.source""" +
    "".join(f",\n    c.{name} = CASE WHEN '{name}' IN row.stated THEN row.{name} ELSE coalesce(row.{name}, c.{name}) END"
            for name in CREDENTIAL_TIMES) + "\n")
# Each link statement returns how many rows found their target, so the rest are reported.
# An e-mail names a person (created if the directory has not yet); a bare user name must match
# exactly one person's e-mail local part, or the link is reported as unmatched.
LINK_CREDENTIAL_PERSON = write(
    'link-credential-person',
    'A credential ISSUED_TO a person by e-mail, or by a user name matching one e-mail exactly; returns how many linked.',
    """
UNWIND $rows AS row
MATCH (c:Credential {fingerprint: row.fingerprint}) USING INDEX SEEK c:Credential(fingerprint)
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
""")
LINK_CREDENTIAL_ASSET = write(
    'link-credential-asset',
    'A credential GRANTS_ACCESS_TO the asset an identifier names; returns how many linked.',
    """
UNWIND $rows AS row
MATCH (c:Credential {fingerprint: row.fingerprint}) USING INDEX SEEK c:Credential(fingerprint)
MATCH (i:Identifier {key: row.key})-[:IDENTIFIES]->(a:Asset) USING INDEX SEEK i:Identifier(key)
MERGE (c)-[r:%s]->(a)
ON CREATE SET r.first_seen = row.at
SET r.last_seen = row.at
RETURN count(DISTINCT row) AS linked
""")
# SAN names link to identifiers, not assets: the certificate follows a name to whichever asset
# holds it now, and a host ingested later is found without rewriting the certificate.
LINK_NAMES = write(
    'link-certificate-names',
    'A certificate NAMES the identifiers in its SAN.',
    """
UNWIND $rows AS row
MATCH (c:Credential {fingerprint: row.fingerprint}) USING INDEX SEEK c:Credential(fingerprint)
MERGE (i:Identifier {key: row.kind + ':' + row.value})
ON CREATE SET i.kind = row.kind, i.value = row.value, i.first_seen = row.at
MERGE (c)-[:NAMES]->(i)
""")
LINK_STORED_ON = write(
    'link-credential-stored-on',
    'A credential found on an asset (STORED_ON).',
    """
UNWIND $rows AS row
MATCH (c:Credential {fingerprint: row.fingerprint}), (a:Asset {id: row.asset})
USING INDEX SEEK c:Credential(fingerprint) USING INDEX SEEK a:Asset(id)
MERGE (c)-[r:STORED_ON]->(a)
ON CREATE SET r.first_seen = row.at
SET r.last_seen = row.at, r.source = row.source
""")

# What a licence covers is linked afterwards by ingest.license_matching (the normalisation table).
UPSERT_LICENSES = write(
    'upsert-licenses',
    'Licences by id; their assignments are rebuilt from the export.',
    """
UNWIND $rows AS row
MERGE (l:License {id: row.id})
ON CREATE SET l.first_seen = row.at
SET l += row.props, l.last_seen = row.at, l.digest = row.digest, l.name_key = toLower(row.props.name)
WITH l
CALL (l) {
  MATCH (l)-[old:COVERS|ASSIGNED_TO]->() DELETE old
}
""")
ASSIGN_LICENSE_ASSET = write(
    'assign-license-asset',
    'A licence seat ASSIGNED_TO the asset with an asset tag; returns how many linked.',
    """
UNWIND $rows AS row
MATCH (l:License {id: row.id}) USING INDEX SEEK l:License(id)
MATCH (i:Identifier {key: row.key})-[:IDENTIFIES]->(a:Asset) USING INDEX SEEK i:Identifier(key)
MERGE (l)-[:ASSIGNED_TO]->(a)
RETURN count(*) AS linked
""")
ASSIGN_LICENSE_PERSON = write(
    'assign-license-person',
    'A licence seat ASSIGNED_TO a person by e-mail; returns how many linked.',
    """
UNWIND $rows AS row
MATCH (l:License {id: row.id}) USING INDEX SEEK l:License(id)
MATCH (p:Person {email: row.email}) USING INDEX SEEK p:Person(email)
MERGE (l)-[:ASSIGNED_TO]->(p)
RETURN count(*) AS linked
""")

UPSERT_CONTRACTS = write(
    'upsert-contracts',
    'Contracts by reference; what they cover is rebuilt from the export.',
    """
UNWIND $rows AS row
MERGE (c:Contract {reference: row.reference})
ON CREATE SET c.first_seen = row.at
SET c += row.props, c.last_seen = row.at, c.digest = row.digest
WITH c
MATCH (c)-[old:COVERS]->() DELETE old
""")
CONTRACT_COVERS_ASSET = write(
    'contract-covers-asset',
    'A contract COVERS the asset with an asset tag; returns how many linked.',
    """
UNWIND $rows AS row
MATCH (c:Contract {reference: row.reference}) USING INDEX SEEK c:Contract(reference)
MATCH (i:Identifier {key: row.key})-[:IDENTIFIES]->(a:Asset) USING INDEX SEEK i:Identifier(key)
MERGE (c)-[:COVERS]->(a)
RETURN count(*) AS linked
""")
CONTRACT_COVERS_LICENSE = write(
    'contract-covers-license',
    'A contract COVERS licences by name (case-insensitive, through the indexed name_key); returns how many linked.',
    """
UNWIND $rows AS row
MATCH (c:Contract {reference: row.reference}) USING INDEX SEEK c:Contract(reference)
MATCH (l:License {name_key: toLower(row.name)})
MERGE (c)-[:COVERS]->(l)
RETURN count(DISTINCT row) AS linked
""")

# Firewall rules live on their SecurityGroup (a run states every rule of the groups it read), so
# reach can be rebuilt whenever rules or membership change, in whichever order the files arrive.
STORE_RULES = write(
    'store-firewall-rules',
    "A security group's firewall rules, kept on the group so reach can be rebuilt.",
    """
UNWIND $rows AS row
MERGE (g:SecurityGroup {id: row.group})
SET g.rules = row.rules
""")
CLEAR_REACH_INTO = write(
    'clear-group-reach-into-assets',
    'Security-group reach into given assets, before it is rebuilt.',
    """
UNWIND $rows AS id
MATCH (a:Asset {id: id})<-[r:CAN_REACH]-() USING INDEX SEEK a:Asset(id) WHERE r.basis STARTS WITH 'security group '
DELETE r
""")
CLEAR_GROUP_REACH = write(
    'clear-group-reach',
    "A security group's reach into its members, before it is rebuilt.",
    """
UNWIND $rows AS gid
MATCH (g:SecurityGroup {id: gid})<-[:IN]-(a:Asset)<-[r:CAN_REACH]-() USING INDEX SEEK g:SecurityGroup(id)
WHERE r.basis = 'security group ' + gid
DELETE r
""")
GROUPS_OF = write(
    'read-groups-of-assets',
    'Read: the security groups of given assets.',
    """
UNWIND $ids AS id
MATCH (a:Asset {id: id})-[:IN]->(g:SecurityGroup) USING INDEX SEEK a:Asset(id)
RETURN DISTINCT g.id AS id
""")
RULES_OF = write(
    'read-group-rules',
    'Read: the stored rules of given security groups.',
    """
UNWIND $ids AS id
MATCH (g:SecurityGroup {id: id}) USING INDEX SEEK g:SecurityGroup(id) WHERE g.rules IS NOT NULL
RETURN g.id AS id, g.rules AS rules
""")
GROUP_REACH = write(
    'derive-group-reach',
    "CAN_REACH from each rule's origin (Internet, subnet, group) into the group's members.",
    """
UNWIND $rows AS row
MATCH (g:SecurityGroup {id: row.group})<-[:IN]-(a:Asset) USING INDEX SEEK g:SecurityGroup(id)
CALL (row) {
  OPTIONAL MATCH (i:Internet {name: $internet}) USING INDEX SEEK i:Internet(name) WHERE row.kind = 'internet'
  OPTIONAL MATCH (n:Subnet {cidr: row.cidr}) USING INDEX SEEK n:Subnet(cidr) WHERE row.kind = 'cidr'
  OPTIONAL MATCH (sg:SecurityGroup {id: row.source_group}) USING INDEX SEEK sg:SecurityGroup(id)
    WHERE row.kind = 'group'
  RETURN coalesce(i, n, sg) AS origin
}
WITH a, row, origin WHERE origin IS NOT NULL
MERGE (origin)-[r:CAN_REACH {basis: 'security group ' + row.group}]->(a)
SET r.ports = row.ports
""")
ENSURE_ORIGINS = write(
    'ensure-reach-origins',
    'The subnets and groups firewall rules name, created if missing.',
    """
UNWIND $rows AS row
CALL (row) {
  WITH row WHERE row.kind = 'cidr'
  MERGE (:Subnet {cidr: row.cidr})
}
CALL (row) {
  WITH row WHERE row.kind = 'group'
  MERGE (:SecurityGroup {id: row.source_group})
}
""")

# A firewall rule names a wide CIDR (a VPC, an office range); hosts sit in narrower subnets.
RULE_CIDRS = write(
    'read-rule-cidrs',
    'Read: the wide CIDRs firewall rules name.',
    """
MATCH (wide:Subnet)-[r:CAN_REACH]->() WHERE r.basis STARTS WITH 'security group '
RETURN DISTINCT wide.cidr AS cidr
""", scans='every subnet with group reach: a pass over Subnet nodes')
ALL_SUBNETS = write('read-all-subnets', "Read: every subnet, to find which lie inside a rule's CIDR.",
    "MATCH (s:Subnet) RETURN s.cidr AS cidr", scans='every subnet: containment is computed in Python')
LINK_CONTAINED = write(
    'link-subnet-containment',
    'A narrow subnet IN the wide one containing it.',
    """
UNWIND $rows AS row
MATCH (narrow:Subnet {cidr: row.narrow}), (wide:Subnet {cidr: row.wide})
USING INDEX SEEK narrow:Subnet(cidr) USING INDEX SEEK wide:Subnet(cidr)
MERGE (narrow)-[:IN]->(wide)
""")

# One pass over the source's sightings (a dense Source node), not one scan per scope.
MARK_STALE = write(
    'mark-stale-sightings',
    "After a complete run: the source's sightings in its scopes that this run did not renew become no longer current.",
    """
MATCH (src:Source {name: $source})<-[s:SEEN_BY]-(a:Asset) USING INDEX SEEK src:Source(name)
WHERE s.scope IN $scopes AND s.run_id <> $run_id AND coalesce(s.current, true)
SET s.current = false, s.stale_since = $now
RETURN count(a) AS retired, collect({asset: a.id, scope: s.scope}) AS marked
""")
MARK_CONTROLS_STALE = write(
    'mark-stale-controls',
    "After a complete run: the source's control check-ins in its scopes that this run did not renew.",
    """
MATCH (c:Control)-[r:%s]->(a:Asset)
WHERE r.source = $source AND r.scope IN $scopes AND r.run_id <> $run_id AND coalesce(r.current, true)
SET r.current = false, r.stale_since = $now
RETURN a.id AS asset, c.name AS tool, c.category AS category, type(r) AS verb
""", scans='a pass over every control check-in (Control nodes are few tools)')


def _existing(label: str) -> str:
    """The read of which `label` nodes exist already, by the label's key, with their digest."""
    key = NODES[label].key
    return write(f"read-existing-{label.lower()}-digests",
                 f"Read: which {label} nodes exist already (by {key}), with their digest, to count created, "
                 "updated and unchanged.",
                 f"UNWIND $keys AS k MATCH (n:{label} {{{key}: k}}) USING INDEX SEEK n:{label}({key}) "
                 "RETURN k, n.digest AS d")


EXISTING = {label: _existing(label) for label in ("License", "Contract", "Credential", "Person")}


def existing_digests(tx: Transaction, label: str, keys: list[str]) -> dict[str, str | None]:
    """{key: digest} of the nodes of one of EXISTING's labels that exist already."""
    return {row["k"]: row["d"] for row in tx.run(EXISTING[label], keys=keys)}


# Stored identities are recomputed, not trusted: one an older DN normalisation wrote (graph/identifiers.py
# changed in ef72fb1) never equals today's, and its certificate would stay two nodes. The certificates that
# expire when a batch's do are sought by the not_after index (a second either way: a time another tool wrote
# in another zone is the same instant) and their identities computed again from the names they were stored with.
FIND_X509 = write(
    'read-certificates-by-expiry',
    "Read: certificates expiring when a batch's do, with their stored names, to recompute their identities "
    "and keep one node per certificate.",
    """
UNWIND $expiries AS expiry
MATCH (c:Credential) USING INDEX SEEK c:Credential(not_after)
WHERE c.not_after >= expiry - duration({seconds: 1}) AND c.not_after <= expiry + duration({seconds: 1})
  AND c.kind = $kind
RETURN DISTINCT c.fingerprint AS fingerprint, c.x509_identity AS identity, c.subject AS subject,
       c.issuer AS issuer, c.not_before AS not_before, c.not_after AS not_after
""")
RESPELL_X509 = write(
    'respell-certificate-identities',
    'Certificates whose stored identity an older DN normalisation wrote take the one computed now.',
    """
UNWIND $rows AS row
MATCH (c:Credential {fingerprint: row.fingerprint}) USING INDEX SEEK c:Credential(fingerprint)
SET c.x509_identity = row.identity
""")
REKEY_CREDENTIAL = write(
    'rekey-credential',
    'A certificate known by a weaker fingerprint takes the SHA-256 one; the old stays as an alias.',
    """
UNWIND $rows AS row
MATCH (c:Credential {fingerprint: row.old}) USING INDEX SEEK c:Credential(fingerprint)
SET c.fingerprint = row.new, c.aliases = [a IN coalesce(c.aliases, []) WHERE a <> row.new] + row.old
""")


def _earliest(kept: str, old: str) -> str:
    return f"CASE WHEN {old} IS NULL OR {kept} < {old} THEN {kept} ELSE {old} END"


def _latest(kept: str, old: str) -> str:
    return f"CASE WHEN {old} IS NULL OR {kept} > {old} THEN {kept} ELSE {old} END"


def _move_edges(rel: str, outgoing: bool) -> str:
    """Cypher moving the old node's `rel` edges of one direction to the kept node. An equivalent edge
    there (same verb, same other end: what the write path MERGEs on) keeps its own properties, takes
    those it lacks, and has the earliest first_seen and the latest last_seen of the two."""
    left, right = ("-", "->") if outgoing else ("<-", "-")
    return f"""CALL (old, kept) {{
  MATCH (old){left}[r:{verb(rel)}]{right}(x)
  MERGE (kept){left}[m:{rel}]{right}(x)
  WITH r, m, properties(m) AS had
  SET m += properties(r)
  SET m += had, m.first_seen = {_earliest('had.first_seen', 'r.first_seen')},
      m.last_seen = {_latest('had.last_seen', 'r.last_seen')}
  DELETE r
}}"""


# Every verb the vocabulary lets touch a credential, both ways. The old node is then DELETEd, not
# DETACH DELETEd: an edge outside the vocabulary fails the transaction instead of vanishing.
MERGE_CREDENTIAL = write(
    'merge-credential',
    'A certificate node under a weaker key folded into the node that holds its preferred key already: '
    'its edges move (an equivalent one keeps the earliest first_seen and latest last_seen), properties '
    'the kept node lacks come along, the old key and its aliases join the aliases, the old node goes.',
    """
UNWIND $rows AS row
MATCH (old:Credential {fingerprint: row.old}) USING INDEX SEEK old:Credential(fingerprint)
MATCH (kept:Credential {fingerprint: row.new}) USING INDEX SEEK kept:Credential(fingerprint)
""" + "\n".join([_move_edges(rel, True) for rel, t in sorted(RELS.items()) if "Credential" in t.start] +
                [_move_edges(rel, False) for rel, t in sorted(RELS.items()) if "Credential" in t.end]) + f"""
WITH old, kept, properties(kept) AS had
SET kept += old {{.*, fingerprint: had.fingerprint}}
SET kept += had, kept.first_seen = {_earliest('had.first_seen', 'old.first_seen')},
    kept.last_seen = {_latest('had.last_seen', 'old.last_seen')},
    kept.aliases = reduce(known = [], a IN coalesce(had.aliases, []) + coalesce(old.aliases, []) + [old.fingerprint] |
                          CASE WHEN a IN known OR a = had.fingerprint THEN known ELSE known + a END)
DELETE old
""")


def _preference(fingerprint: str) -> tuple:
    """The key a certificate keeps when sightings disagree: a SHA-256 of the DER beats a SHA-1 or a CBOM ref."""
    is_sha256 = len(fingerprint) == 64 and all(c in "0123456789abcdef" for c in fingerprint)
    return (not is_sha256, fingerprint)


def _native(moment):
    return moment.to_native() if hasattr(moment, "to_native") else moment


def _stored_certificates(tx: Transaction, expiries: set) -> dict[str, str]:
    """{fingerprint: identity computed now} of the stored certificates expiring at these times; those
    stored with another spelling are re-spelled on the way."""
    found, respell = {}, []
    for row in tx.run(FIND_X509, kind=CredentialKind.X509.value, expiries=sorted(expiries)):
        now = x509_identity(row["subject"], row["issuer"], _native(row["not_before"]), _native(row["not_after"]))
        if now and now != row["identity"]:
            respell.append({"fingerprint": row["fingerprint"], "identity": now})
        found[row["fingerprint"]] = now or row["identity"]
    write_batches(tx, RESPELL_X509, respell)
    return found


def unify_certificates(tx: Transaction, credentials: list[CredentialObservation],
                       stored: list[dict]) -> list[CredentialObservation]:
    """One node per certificate across tools: sightings with the same issuer, subject and validity
    take one fingerprint (SHA-256 preferred). An existing node with a weaker key is re-keyed, or, when
    a node holds the preferred key already (two tools' nodes an older version never unified), merged
    into that node; all in the caller's transaction."""
    identities = {c.fingerprint: x509_identity(c.subject, c.issuer, c.not_before, c.not_after)
                  for c in credentials if c.kind == CredentialKind.X509}
    wanted = {i for i in identities.values() if i}
    if not wanted:
        return credentials
    groups: dict[str, set[str]] = defaultdict(set)
    expiries = {c.not_after for c in credentials if identities.get(c.fingerprint)}
    existing = {fp: identity for fp, identity in _stored_certificates(tx, expiries).items() if identity in wanted}
    for fingerprint, identity in [*existing.items(), *identities.items()]:
        if identity:
            groups[identity].add(fingerprint)
    chosen = {fp: min(fps, key=_preference) for fps in groups.values() for fp in fps}
    weaker: dict[str, list[str]] = defaultdict(list)       # kept key -> the stored nodes that fold into it
    for fp in sorted(existing, key=_preference):
        if chosen[fp] != fp:
            weaker[chosen[fp]].append(fp)
    present = set(existing_digests(tx, "Credential", sorted(weaker)))
    rekey = [{"old": olds.pop(0), "new": new} for new, olds in sorted(weaker.items()) if new not in present]
    write_batches(tx, REKEY_CREDENTIAL, rekey)
    # One row per kept node in a statement: a second old node's merge must see what the first one moved.
    for depth in range(max(map(len, weaker.values()), default=0)):
        write_batches(tx, MERGE_CREDENTIAL, [{"old": olds[depth], "new": new}
                                             for new, olds in sorted(weaker.items()) if depth < len(olds)])
    for link in stored:
        link["fingerprint"] = chosen.get(link["fingerprint"], link["fingerprint"])
    return [c.model_copy(update={"fingerprint": chosen.get(c.fingerprint, c.fingerprint)}) for c in credentials]


def write_credentials(tx: Transaction, source: str, credentials: list[CredentialObservation],
                      stored: list[dict], now: datetime) -> tuple[dict[str, str], int]:
    """Upsert credentials and link them; returns ({fingerprint: digest}, unmatched links)."""
    credentials = unify_certificates(tx, credentials, stored)
    unique = {c.fingerprint: c for c in credentials}
    grants: dict[str, set[str]] = defaultdict(set)
    for cred in credentials:
        grants[cred.fingerprint].update(ident.key for ident in cred.grants_access_to)
    rows, person_rows, name_rows, asset_rows = [], [], [], defaultdict(list)
    digests = {}
    for fingerprint, cred in sorted(unique.items()):
        props = cred.model_dump(exclude={"record", "fingerprint", "grants_access_to", "issued_to_email",
                                         "issued_to_user", "stated_times"}, exclude_none=True, mode="python")
        props = {k: (v.value if hasattr(v, "value") else list(v) if isinstance(v, tuple) else v)
                 for k, v in props.items()}
        props["x509_identity"] = x509_identity(cred.subject, cred.issuer, cred.not_before, cred.not_after)
        digests[fingerprint] = digest(props)
        times: dict[str, datetime] = {name: props.pop(name) for name in CREDENTIAL_TIMES if name in props}
        rows.append({"fingerprint": fingerprint, "props": props, "digest": digests[fingerprint], "at": now,
                     "source": source, "stated": list(cred.stated_times), **times})
        if cred.issued_to_email or (cred.issued_to_user and cred.issued_to_user != "<root_account>"):
            person_rows.append({"fingerprint": fingerprint, "email": cred.issued_to_email,
                                "user": cred.issued_to_user, "at": now})
        for name in cred.dns_names:
            kind = IdentifierKind.FQDN if "." in name else IdentifierKind.HOSTNAME
            name_rows.append({"fingerprint": fingerprint, "kind": kind.value, "value": name.lower(), "at": now})
        for address in cred.ip_addresses:
            name_rows.append({"fingerprint": fingerprint, "kind": "ip", "value": address, "at": now})
        for key in grants[fingerprint]:  # the same key may open several hosts
            asset_rows["GRANTS_ACCESS_TO"].append({"fingerprint": fingerprint, "key": key, "at": now})
    write_batches(tx, UPSERT_CREDENTIALS, rows)
    write_batches(tx, LINK_STORED_ON, stored)
    unmatched = len(person_rows) - count_batches(tx, LINK_CREDENTIAL_PERSON, person_rows, "linked")
    write_batches(tx, LINK_NAMES, name_rows)
    access = asset_rows["GRANTS_ACCESS_TO"]
    unmatched += len(access) - count_batches(tx, LINK_CREDENTIAL_ASSET % "GRANTS_ACCESS_TO", access, "linked")
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
    unmatched = len(asset_rows) - count_batches(tx, ASSIGN_LICENSE_ASSET, asset_rows, "linked")
    unmatched += len(person_rows) - count_batches(tx, ASSIGN_LICENSE_PERSON, person_rows, "linked")
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
    unmatched = len(asset_rows) - count_batches(tx, CONTRACT_COVERS_ASSET, asset_rows, "linked")
    unmatched += len(license_rows) - count_batches(tx, CONTRACT_COVERS_LICENSE, license_rows, "linked")
    return digests, unmatched


def _rule_text(kind: str, ref: str | None, ports: set[str]) -> str:
    return "|".join((kind, ref or "", ",".join(sorted(ports))))


def _origins(rule: ReachRule) -> list[tuple[str, str | None]]:
    """Where a rule lets traffic in from. A CIDR with any public address is the Internet (graph/networks.py),
    and, unless it is everything, also that range, so hosts inside it reach through it as well."""
    if rule.source_cidr:
        internet = [("internet", None)] if includes_public_addresses(rule.source_cidr) else []
        everything = ipaddress.ip_network(rule.source_cidr, strict=False).prefixlen == 0
        return internet + ([] if everything else [("cidr", rule.source_cidr)])
    return [("group", rule.source_group)] if rule.source_group else []


def write_reach(tx: Transaction, rules: list[ReachRule]) -> None:
    """Store each target group's rules (internet, CIDR or group origins) and rebuild its reach."""
    merged: dict[str, dict[tuple, set[str]]] = defaultdict(lambda: defaultdict(set))
    for rule in rules:
        for origin in _origins(rule):
            merged[rule.target_group][origin].update(rule.ports)
    rows = [{"group": group, "rules": sorted(_rule_text(kind, ref, ports) for (kind, ref), ports in origins.items())}
            for group, origins in sorted(merged.items())]
    write_batches(tx, STORE_RULES, rows)
    derive_group_reach(tx, sorted(merged), [])


def derive_group_reach(tx: Transaction, group_ids: list[str], asset_ids: list[str]) -> None:
    """Rebuild security-group reach into the given assets (membership changed) and the given groups
    (rules changed): CAN_REACH {ports, basis: 'security group <id>'} to every current member."""
    write_batches(tx, CLEAR_REACH_INTO, asset_ids)
    write_batches(tx, CLEAR_GROUP_REACH, group_ids)
    groups = set(group_ids)
    for start in range(0, len(asset_ids), BATCH_SIZE):
        groups |= {r["id"] for r in tx.run(GROUPS_OF, ids=asset_ids[start:start + BATCH_SIZE])}
    rows = []
    for record in tx.run(RULES_OF, ids=sorted(groups)):
        for text in record["rules"]:
            kind, ref, ports = text.split("|")
            rows.append({"group": record["id"], "kind": kind, "cidr": ref if kind == "cidr" else None,
                         "source_group": ref if kind == "group" else None, "ports": ports.split(",")})
    write_batches(tx, ENSURE_ORIGINS, rows)
    for start in range(0, len(rows), BATCH_SIZE):
        tx.run(GROUP_REACH, rows=rows[start:start + BATCH_SIZE], internet=INTERNET).consume()


def link_subnet_containment(tx: Transaction) -> None:
    """(narrow:Subnet)-[:IN]->(wide:Subnet) for every rule CIDR, so reachability finds hosts inside it."""
    wides = [ipaddress.ip_network(r["cidr"]) for r in tx.run(RULE_CIDRS)]
    if not wides:
        return
    rows = []
    for record in tx.run(ALL_SUBNETS):
        narrow = ipaddress.ip_network(record["cidr"])
        rows += [{"narrow": str(narrow), "wide": str(wide)} for wide in wides
                 if wide != narrow and narrow.prefixlen >= wide.prefixlen and narrow.network_address in wide]
    write_batches(tx, LINK_CONTAINED, rows)


def mark_stale(tx: Transaction, source: str, run_id: str, scopes: list[str], now: datetime,
               marked: dict | None = None) -> int:
    """After a complete run: what this source saw before in these scopes but not now is no longer observed.
    `marked` (the change log's) receives what was marked: {"controls": [...], "sightings": [...]}."""
    if not scopes:
        return 0
    params = {"scopes": sorted(set(scopes)), "source": source, "run_id": run_id, "now": now}
    controls = [row.data() for row in tx.run(MARK_CONTROLS_STALE % control_verbs(), params)]
    record = tx.run(MARK_STALE, params).single()
    if marked is not None:  # change log hook (issue 10)
        marked["controls"], marked["sightings"] = controls, record["marked"] if record else []
    return record["retired"] if record else 0
