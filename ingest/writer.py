"""Batched `UNWIND ... MERGE` writes of resolved observations, all inside the caller's transaction."""
# (Credentials, licences, contracts, ReachRule firewall reach and staleness are written by ingest/links.py.)
from __future__ import annotations

import ipaddress
import re
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from neo4j import Transaction

from graph.models import HostObservation, PersonObservation
from graph.schema import (CLAIM_PRECEDENCE, CONTROL_VERBS, INTERNET, TIME_BOUND_KINDS, SourceRole,
                          installed_versions, label, merged_versions, verb)
from graph.store import BATCH_SIZE, epoch_millis, write_batches
from ingest import links
from ingest.digest import digest
from ingest.reconcile import Resolution
from ingest.catalog import write

# Discovery may name an asset or guess its type, but never overrides the inventory of record.
FILL_ONLY_FROM_DISCOVERY = frozenset({"name", "host_type"})

UPSERT_SOURCE = write('upsert-source', 'The source a run reads, with its role (inventory, cloud, discovery, directory).',
    "MERGE (s:Source {name: $source}) SET s.role = $role")

UPSERT_ASSETS = write(
    'upsert-assets',
    "Assets of one kind by id, with the source's sighting (SEEN_BY: scope, digest, claims, first/last seen). "
    "A record older than the sighting's last one (files of a run come in any order; an old file may be "
    "loaded late) counts as seen but changes nothing the newer record said.",
    """
UNWIND $rows AS row
MERGE (a:Asset {id: row.id})
ON CREATE SET a:{kind}, a.first_seen = row.at, a.kind = '{kind}'
WITH a, row
MATCH (s:Source {name: row.source}) USING INDEX SEEK s:Source(name)
MERGE (a)-[seen:SEEN_BY {scope: row.scope}]->(s)
ON CREATE SET seen.first_seen = row.at
WITH a, row, seen, coalesce(seen.last_seen <= row.at, true) AS newest
SET a += CASE WHEN newest THEN row.props ELSE {} END, a += row.shown,
    a.last_seen = CASE WHEN a.last_seen > row.at THEN a.last_seen ELSE row.at END,
    seen.last_seen = CASE WHEN newest THEN row.at ELSE seen.last_seen END,
    seen.digest = CASE WHEN newest THEN row.digest ELSE seen.digest END,
    seen.run_id = row.run_id, seen.current = true, seen.stale_since = null
SET seen += CASE WHEN newest THEN row.claims ELSE {} END
FOREACH (name IN CASE WHEN a.name IS NULL THEN [row.fill.name] ELSE [] END | SET a.name = name)
FOREACH (t IN CASE WHEN a.host_type IS NULL THEN [row.fill.host_type] ELSE [] END | SET a.host_type = t)
""")

# Per disputed field the asset shows the best claim: the source's rank in CLAIM_PRECEDENCE, then
# the newest. Built per field from the vocabulary (never from input), for the fields a run claimed.
_CLAIM_FIELD = """
CALL (a) {
  OPTIONAL MATCH (a)-[s:SEEN_BY]->(src:Source) WHERE s.claim_%(f)s IS NOT NULL
  WITH s, src ORDER BY coalesce($rank.%(f)s[src.name], 99), s.last_seen DESC
  RETURN collect(s.claim_%(f)s)[0] AS %(f)s
}
"""


def claim_statement(fields: list[str]) -> str:
    """UNWIND $rows AS id ... SET a.<field> = <best claim> for each field (fields from CLAIM_PRECEDENCE)."""
    for field in fields:
        if field not in CLAIM_PRECEDENCE:
            raise ValueError(f"{field!r} is not a disputed field")
    calls = "".join(_CLAIM_FIELD % {"f": field} for field in fields)
    sets = ", ".join(f"a.{field} = {field}" for field in fields)
    return f"UNWIND $rows AS id\nMATCH (a:Asset {{id: id}}) USING INDEX SEEK a:Asset(id)\n{calls}SET {sets}\n"


# Strong identifiers never move (resolution refused anything that would); a time-bound one
# (IP, host name) moves to the asset that held it last, and an older sighting never takes it back.
LINK_IDENTIFIERS = write(
    'link-time-bound-identifiers',
    'Host names, FQDNs and IPs: each moves to the asset that held it last; an older sighting never takes it back.',
    """
UNWIND $rows AS row
MATCH (a:Asset {id: row.asset}) USING INDEX SEEK a:Asset(id)
MERGE (i:Identifier {key: row.key})
ON CREATE SET i.kind = row.kind, i.value = row.value, i.first_seen = row.at
WITH i, a, row
OPTIONAL MATCH (i)-[old:IDENTIFIES]->(other:Asset) WHERE other <> a  // from the asset in hand: comparing ids planned badly
WITH i, a, row, collect(old) AS olds, max(old.last_seen) AS newest
WHERE newest IS NULL OR newest <= row.at
FOREACH (o IN olds | DELETE o)
MERGE (i)-[r:IDENTIFIES]->(a)
ON CREATE SET r.first_seen = row.at
SET r.last_seen = CASE WHEN r.last_seen > row.at THEN r.last_seen ELSE row.at END
""")

# Strong identifiers only ever point at the asset resolution chose: no holder to displace.
LINK_STRONG_IDENTIFIERS = write(
    'link-strong-identifiers',
    'Serials, asset tags, cloud ids, agent ids and MACs to the asset resolution chose.',
    """
UNWIND $rows AS row
MATCH (a:Asset {id: row.asset}) USING INDEX SEEK a:Asset(id)
MERGE (i:Identifier {key: row.key})
ON CREATE SET i.kind = row.kind, i.value = row.value, i.first_seen = row.at
MERGE (i)-[r:IDENTIFIES]->(a)
ON CREATE SET r.first_seen = row.at
SET r.last_seen = CASE WHEN r.last_seen > row.at THEN r.last_seen ELSE row.at END
""")

# An address is IN one subnet. The subnet its source places it in (a cloud subnet the run lists) replaces any
# other, e.g. the /24 it was guessed to be in before. An address no source places stays in the subnet one placed
# it in before (unless its record now names another cloud subnet): a run without the subnet listing, or a scan,
# does not move it back to a guessed /24, where it would reach, and be reached by, hosts of other subnets.
LINK_IPS = write(
    'link-ip-addresses',
    'IP addresses with their subnet (the one a source placed them in replaces a guessed /24, which never replaces '
    'it; a cloud\'s public address is in none); an address held by another asset is marked no longer current there.',
    """
UNWIND $rows AS row
MERGE (ip:IPAddress {address: row.address})
ON CREATE SET ip.first_seen = row.at, ip.version = row.version, ip.public = row.public
WITH ip, row
CALL (ip, row) {
  WITH ip, row WHERE row.placed
  MERGE (net:Subnet {cidr: row.subnet})
  ON CREATE SET net.first_seen = row.at
  SET net.listed = true, net.cloud_id = coalesce(row.cloud_subnet, net.cloud_id)
  MERGE (ip)-[:IN]->(net)
  FOREACH (_ IN CASE WHEN ip.nat THEN [1] ELSE [] END | REMOVE ip.nat)
  WITH ip, net
  MATCH (ip)-[old:IN]->(other:Subnet) WHERE other <> net
  DELETE old
}
CALL (ip, row) {
  WITH ip, row WHERE NOT row.placed
  // a cloud's public address (its record places the others, row.subnet null) is in no subnet, for good
  FOREACH (_ IN CASE WHEN row.subnet IS NULL AND ip.nat IS NULL THEN [1] ELSE [] END | SET ip.nat = true)
  WITH ip, row
  OPTIONAL MATCH (ip)-[moved:IN]->(other:Subnet)
  WHERE (other.listed AND other.cloud_id <> row.cloud_subnet)  // the record names another cloud subnet now
     OR (ip.nat AND other.listed IS NULL)                      // a /24 guessed before it was known public
  DELETE moved
  WITH DISTINCT ip, row
  WHERE ip.nat IS NULL AND NOT EXISTS { MATCH (ip)-[:IN]->(known:Subnet) WHERE known.listed }
  MERGE (net:Subnet {cidr: row.subnet})
  ON CREATE SET net.first_seen = row.at
  MERGE (ip)-[:IN]->(net)
}
WITH ip, row
MATCH (a:Asset {id: row.asset}) USING INDEX SEEK a:Asset(id)
OPTIONAL MATCH (other:Asset)-[old:HAS_IP {current: true}]->(ip) WHERE other <> a
WITH ip, a, row, collect(old) AS olds, max(old.last_seen) AS newest
WHERE newest IS NULL OR newest <= row.at
FOREACH (o IN olds | SET o.current = false, o.until = row.at)
MERGE (a)-[h:HAS_IP]->(ip)
ON CREATE SET h.first_seen = row.at
SET h.current = true, h.until = null,
    h.last_seen = CASE WHEN h.last_seen > row.at THEN h.last_seen ELSE row.at END
""")

# A scan reports every open port of a host it reached, among the ports it probed: the newest scan's list
# replaces the last within those ports (`$scanned`: {scan key: {protocol: [[low, high], ...]}}, sent once
# per statement; a row without a scan key probed every port). Only a stored port the scan did not report
# open is tested against the ranges.
REPLACE_PORTS = write(
    'replace-ports',
    "A host's open ports become the newest scan's list within the ports that scan probed (an older scan "
    "changes nothing).",
    """
UNWIND $rows AS row
MATCH (a:Asset {id: row.asset}) USING INDEX SEEK a:Asset(id)
WHERE a.ports_observed_at IS NULL OR a.ports_observed_at <= row.at
SET a.ports_observed_at = row.at
WITH a, row
CALL (a, row) {
  MATCH (a)-[:LISTENS_ON]->(gone:Port) WHERE row.reported[gone.id] IS NULL  // a map: one lookup, not a list scan
  WITH gone, CASE WHEN row.scan IS NULL THEN null ELSE coalesce($scanned[row.scan][gone.protocol], []) END AS probed
  WHERE probed IS NULL OR any(r IN probed WHERE r[0] <= gone.number AND gone.number <= r[1])
  DETACH DELETE gone
}
CALL (a, row) {
  UNWIND row.ports AS port
  MERGE (p:Port {id: port.id})
  ON CREATE SET p.first_seen = row.at
  SET p.protocol = port.protocol, p.number = port.number, p.service = port.service,
      p.product = port.product, p.version = port.version, p.last_seen = row.at
  MERGE (a)-[:LISTENS_ON]->(p)
}
""")

# The inventory of record says who owns an asset now: its OWNS edge replaces the last one.
SET_OWNERS = write(
    'set-owners',
    "The owner a source states replaces that source's previous owner of the asset; department as team.",
    """
UNWIND $rows AS row
MATCH (a:Asset {id: row.asset}) USING INDEX SEEK a:Asset(id)
CALL (a, row) {
  MATCH (previous:Person)-[o:OWNS {source: row.source}]->(a) WHERE previous.email <> row.email OR row.email IS NULL
  DELETE o
}
WITH a, row WHERE row.email IS NOT NULL
MERGE (p:Person {email: row.email})
ON CREATE SET p.first_seen = row.at, p.name = row.name
SET p.name = coalesce(p.name, row.name)
MERGE (p)-[o:OWNS]->(a)
ON CREATE SET o.first_seen = row.at
SET o.last_seen = row.at, o.source = row.source
WITH p, row WHERE row.department IS NOT NULL AND NOT EXISTS { (p)-[:MEMBER_OF]->(:Team) }
MERGE (t:Team {name: row.department})
MERGE (p)-[:MEMBER_OF]->(t)
""")

# A conflict names the asset its record landed on and the other assets holding its identifiers.
# A re-run finds the same conflict (its id comes from the record's identifiers) and never reopens
# one an administrator resolved.
RECORD_CONFLICTS = write(
    'record-conflicts',
    'Conflicts with the asset a record landed on and the other assets holding its identifiers.',
    """
UNWIND $rows AS row
MERGE (c:Conflict {id: row.id})
ON CREATE SET c.first_seen = row.at, c.status = 'open'
SET c.source = row.source, c.record = row.record, c.reason = row.reason,
    c.identifiers = row.identifiers, c.last_seen = row.at, c.run_id = row.run_id
WITH c, row
CALL (c, row) {
  UNWIND [{id: row.asset, role: 'record'}] + [x IN row.candidates | {id: x, role: 'candidate'}] AS involved
  MATCH (a:Asset {id: involved.id}) USING INDEX SEEK a:Asset(id)
  MERGE (c)-[r:INVOLVES]->(a)
  SET r.role = involved.role
}
""")

# Same-subnet reachability is one edge per listening host from its subnet, not n² host pairs. It is
# derived per host, not per subnet: a batch rebuilds the edges into its own hosts and into the hosts
# that just lost one of their addresses to them, so its cost follows the batch, not the subnets it
# touches (rebuilding whole subnets redid every earlier batch's hosts in them, again and again).
# A host with a public address and open ports is reachable from the Internet node.
DERIVE_REACH = write(
    'derive-subnet-reach',
    "Same-subnet reach into touched hosts and the hosts that lost an address to them: one CAN_REACH from "
    "each subnet of a host's current addresses, with its open ports.",
    """
UNWIND $rows AS id
MATCH (a:Asset {id: id}) USING INDEX SEEK a:Asset(id)
OPTIONAL MATCH (a)-[:HAS_IP {current: true}]->(:IPAddress)<-[:HAS_IP {current: false}]-(other:Asset)
WITH collect(DISTINCT a) + collect(DISTINCT other) AS hosts
UNWIND hosts AS h
WITH DISTINCT h
CALL (h) {
  MATCH (:Subnet)-[old:CAN_REACH {basis: 'same subnet'}]->(h) DELETE old
}
CALL (h) {
  MATCH (h)-[:LISTENS_ON]->(p:Port)
  WITH h, p ORDER BY p.number, p.protocol  // a stable list: the same facts give the same property
  WITH h, collect(DISTINCT p.protocol + '/' + toString(p.number)) AS ports
  MATCH (h)-[:HAS_IP {current: true}]->(:IPAddress)-[:IN]->(net:Subnet)
  WITH DISTINCT h, net, ports
  MERGE (net)-[r:CAN_REACH {basis: 'same subnet'}]->(h)
  SET r.ports = ports
}
""")
DERIVE_INTERNET_REACH = write(
    'derive-internet-reach',
    'Internet reach into touched assets with a public address and open ports.',
    """
MATCH (inet:Internet {name: $internet}) USING INDEX SEEK inet:Internet(name)
UNWIND $assets AS id
MATCH (a:Asset {id: id}) USING INDEX SEEK a:Asset(id)
CALL (inet, a) {
  MATCH (inet)-[old:CAN_REACH {basis: 'public address'}]->(a) DELETE old
}
CALL (inet, a) {
  MATCH (a)-[:HAS_IP {current: true}]->(:IPAddress {public: true})
  WITH DISTINCT a
  MATCH (a)-[:LISTENS_ON]->(p:Port)
  WITH a, p ORDER BY p.number, p.protocol
  WITH a, collect(DISTINCT p.protocol + '/' + toString(p.number)) AS ports
  MERGE (inet)-[r:CAN_REACH]->(a)
  SET r.ports = ports, r.basis = 'public address'
}
""")

EXISTING_DIGESTS = write(
    'read-sighting-digests',
    "Read: this source's digest per asset and scope, to count created, updated and unchanged.",
    """
UNWIND $rows AS row
MATCH (a:Asset {id: row.id})-[s:SEEN_BY {scope: row.scope}]->(src:Source)
USING INDEX SEEK a:Asset(id)  // from the asset: starting at the Source would walk all its sightings per row
WHERE src.name = $source
RETURN row.id AS id, s.digest AS digest, coalesce(s.current, true) AS current
""")

PERSON_DIGESTS = write(
    'read-person-digests',
    "Read: this directory's digest per person, to count created, updated and unchanged.",
    """
UNWIND $emails AS email
MATCH (p:Person {email: email})-[s:SEEN_BY]->(src:Source) USING INDEX SEEK p:Person(email)
WHERE src.name = $source  // from the person, as for assets
RETURN email, s.digest AS digest
""")

UPSERT_PEOPLE = write(
    'upsert-people',
    "People by e-mail with the directory's sighting and their team.",
    """
UNWIND $rows AS row
MERGE (p:Person {email: row.email})
ON CREATE SET p.first_seen = row.at
// end_date is the earlier of the date a dated directory (HR) states and the day an account was found disabled
// (SCIM). A node written before the two were kept apart has only end_date: seen by this directory alone,
// that date was this directory's own (disabled); seen by another too, it may be the other's (kept as stated
// until that directory speaks again).
WITH p, row, NOT row.states_dates AND p.end_date IS NOT NULL AND p.stated_end_date IS NULL
               AND p.disabled_on IS NULL AS before_split
WITH p, row, before_split,
  CASE WHEN before_split THEN EXISTS { (p)-[:SEEN_BY]->(other:Source) WHERE other.name <> row.source }
       ELSE false END AS elsewhere
WITH p, row,
  CASE WHEN row.states_dates THEN row.end_date
       WHEN elsewhere THEN p.end_date
       ELSE p.stated_end_date END AS stated,
  CASE WHEN row.states_dates THEN p.disabled_on
       WHEN row.departed_by IS NULL THEN null                               // enabled (again)
       WHEN before_split AND NOT elsewhere AND p.end_date < row.departed_by THEN p.end_date
       WHEN p.disabled_on < row.departed_by THEN p.disabled_on              // disabled since an earlier file
       ELSE row.departed_by END AS disabled
WITH p, row, stated, disabled,
  CASE WHEN disabled IS NULL OR stated <= disabled THEN coalesce(stated, disabled) ELSE disabled END AS ended
SET p += row.props, p.stated_end_date = stated, p.disabled_on = disabled, p.end_date = ended,
    p.active = ended IS NULL OR ended > row.today, p.last_seen = row.at
WITH p, row
MATCH (s:Source {name: row.source}) USING INDEX SEEK s:Source(name)
MERGE (p)-[seen:SEEN_BY]->(s)
ON CREATE SET seen.first_seen = row.at
SET seen.last_seen = row.at, seen.run_id = row.run_id, seen.digest = row.digest
WITH p, row
CALL (p, row) {
  MATCH (p)-[m:MEMBER_OF]->(t:Team) WHERE t.name <> row.department OR row.department IS NULL
  DELETE m
}
CALL (p, row) {
  WITH p, row WHERE row.department IS NOT NULL
  MERGE (t:Team {name: row.department})
  MERGE (p)-[:MEMBER_OF]->(t)
}
""")
LINK_MANAGERS = write(
    'link-managers',
    "Each person's manager (REPORTS_TO), replacing the last one.",
    """
UNWIND $rows AS row
MATCH (p:Person {email: row.email}) USING INDEX SEEK p:Person(email)
CALL (p, row) {
  MATCH (p)-[r:REPORTS_TO]->(m:Person) WHERE m.email <> row.manager OR row.manager IS NULL
  DELETE r
}
WITH p, row WHERE row.manager IS NOT NULL
MERGE (m:Person {email: row.manager})
ON CREATE SET m.first_seen = row.at
MERGE (p)-[:REPORTS_TO]->(m)
""")




def observation_digest(obs: HostObservation) -> str:
    return digest(obs.model_dump(mode="json", exclude={"record", "observed_at", "time_from_source"}))


def version_order(version: str) -> list:
    """Sorts versions as people read them: digit runs as numbers ('5.14.0-427' after '5.14.0-70')."""
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", version))]


def subnet_of(address: str, v4_prefix: int = 24, v6_prefix: int = 64) -> str:
    ip = ipaddress.ip_address(address)
    prefix = v4_prefix if ip.version == 4 else v6_prefix
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def sighting_digests(tx: Transaction, source: str, sightings: dict[str, str]) -> dict[str, tuple[str, bool]]:
    """{asset id: (digest, current)} of this source's sighting of each asset in the given scope ({id: scope})."""
    rows = [{"id": asset, "scope": scope} for asset, scope in sorted(sightings.items())]
    return {row["id"]: (row["digest"], row["current"]) for row in tx.run(EXISTING_DIGESTS, rows=rows, source=source)}


# A full inventory first prunes what the source no longer reports, then adds; a change only adds.
SOFTWARE_PRUNE = write(
    'prune-installed-software',
    'A full inventory removes the packages the source no longer reports on the asset.',
    """
UNWIND $rows AS row
MATCH (a:Asset {id: row.asset})-[i:INSTALLED {source: row.source}]->(s:Software) USING INDEX SEEK a:Asset(id)
WHERE row.reported[s.key] IS NULL  // a map: one lookup per installed package, not a list scan
DELETE i
""")
# A product installed on many assets of a batch takes its fields once, from the batch's first install of
# it (`product`, merged over the batch: first known name, vendor, purl, CPE and type; first and last seen, in
# epoch milliseconds: the driver packs a nested datetime slowly, see graph/store.py `_epoch_millis`).
SOFTWARE_ADD = write(
    'add-installed-software',
    'Software products by key (their fields once per batch) and INSTALLED {version, versions, licences} from the '
    'asset: a full inventory replaces the versions, a change adds to them.',
    """
UNWIND $rows AS row
MATCH (a:Asset {id: row.asset}) USING INDEX SEEK a:Asset(id)
UNWIND row.software AS sw
MERGE (s:Software {key: sw.key})
ON CREATE SET s.first_seen = datetime({epochMillis: sw.product.first_seen}), s.name = sw.product.name
FOREACH (p IN CASE WHEN sw.product IS NULL THEN [] ELSE [sw.product] END |
  SET s.vendor = coalesce(s.vendor, p.vendor), s.purl = coalesce(s.purl, p.purl), s.cpe = coalesce(s.cpe, p.cpe),
      s.package_type = coalesce(s.package_type, p.package_type),
      s.last_seen = CASE WHEN s.last_seen > datetime({epochMillis: p.last_seen}) THEN s.last_seen
                         ELSE datetime({epochMillis: p.last_seen}) END)
MERGE (a)-[i:INSTALLED {source: row.source}]->(s)
ON CREATE SET i.first_seen = row.at
WITH i, sw, row, CASE WHEN row.keep THEN MERGED ELSE sw.versions END AS versions  // a change adds to them
SET i.version = versions[-1], i.versions = CASE WHEN size(versions) > 1 THEN versions END,
    i.licenses = sw.licenses, i.last_seen = row.at
""".replace("MERGED", merged_versions(installed_versions("i"), "sw.versions")))
SOFTWARE_REMOVE = write(
    'remove-installed-software',
    'Packages an event log says were removed: the versions it names (all when it names none); the install '
    'goes when none is left.',
    """
UNWIND $rows AS row
MATCH (a:Asset {id: row.asset}) USING INDEX SEEK a:Asset(id)
UNWIND row.software AS sw
MATCH (a)-[i:INSTALLED {source: row.source}]->(s:Software) WHERE s.key = sw.key  // from the asset in hand
WITH i, CASE WHEN size(sw.versions) = 0 THEN []
  ELSE [v IN coalesce(i.versions, [i.version]) WHERE v IS NOT NULL AND NOT v IN sw.versions] END AS left
CALL (i, left) {
  WITH i, left WHERE size(left) > 0
  SET i.version = left[-1], i.versions = CASE WHEN size(left) > 1 THEN left END
}
CALL (i, left) {
  WITH i, left WHERE size(left) = 0
  DELETE i
}
""")

# Kept per verb: relationship types come from the vocabulary, never from input.
LINK_CONTROL = write(
    'link-control',
    'A control tool covering an asset, per verb (PROTECTS, MONITORS, MANAGES), with its check-in.',
    """
UNWIND $rows AS row
MATCH (a:Asset {id: row.asset}) USING INDEX SEEK a:Asset(id)
MERGE (c:Control {name: row.tool})
ON CREATE SET c.first_seen = row.at
SET c.category = row.category
MERGE (c)-[r:%s]->(a)
ON CREATE SET r.first_seen = row.at
SET r.last_seen = CASE WHEN r.last_seen > row.last_seen THEN r.last_seen ELSE row.last_seen END, r.source = row.source,
    r.scope = row.scope, r.run_id = row.run_id, r.current = true, r.stale_since = null
""")
LINK_GROUPS = write(
    'link-security-groups',
    "An instance's security groups replace its previous ones.",
    """
UNWIND $rows AS row
MATCH (a:Asset {id: row.asset}) USING INDEX SEEK a:Asset(id)
CALL (a, row) {
  MATCH (a)-[old:IN]->(g:SecurityGroup) WHERE NOT g.id IN row.groups DELETE old
}
CALL (a, row) {
  UNWIND row.groups AS gid
  MERGE (g:SecurityGroup {id: gid})
  ON CREATE SET g.first_seen = row.at
  MERGE (a)-[:IN]->(g)
}
""")


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


def _subnet_for(address: str, obs: HostObservation) -> tuple[str | None, bool, str | None]:
    """(the subnet the address goes in, whether its source placed it there, the cloud subnet id its record
    names). A cloud subnet of the observation whose blocks the run listed, or the CIDR it declares, holding the
    address; none for an address a cloud record leaves out of its subnets (a public one); else the address's /24
    (IPv6: /64), which LINK_IPS uses only if no source placed it before."""
    ip = ipaddress.ip_address(address)
    for placement in obs.subnets:
        if address in placement.addresses:
            for cidr in placement.cidrs:
                if ip in ipaddress.ip_network(cidr):
                    return cidr, True, placement.subnet_id
            return subnet_of(address), False, placement.subnet_id
    if obs.subnet:
        network = ipaddress.ip_network(obs.subnet, strict=False)
        if ip in network:
            return str(network), True, None
    if any(placement.field for placement in obs.subnets):
        return None, False, None        # a cloud record names its addresses' subnets: this one is public
    return subnet_of(address), False, None


class HostRows:
    """Rows for each write statement, gathered from the accepted observations of one run."""

    def __init__(self, source: str, role: SourceRole, run_id: str):
        self.source, self.role, self.run_id = source, role, run_id
        self.assets: dict[str, list[dict]] = defaultdict(list)
        self.digests: dict[str, list[str]] = defaultdict(list)
        self.identifiers: list[dict[str, Any]] = []
        self.ips: list[dict[str, Any]] = []
        self.ports: list[dict[str, Any]] = []
        self.scanned_ports: dict[str, dict[str, list[list[int]]]] = {}   # REPLACE_PORTS' $scanned
        self.owners: list[dict[str, Any]] = []
        self.software: list[dict[str, Any]] = []
        self.products: dict[str, dict[str, Any]] = {}
        self.removed: list[dict[str, Any]] = []
        self.groups: list[dict[str, Any]] = []
        self.stored: list[dict[str, Any]] = []
        self.controls: dict[str, list[dict]] = defaultdict(list)
        self.claimed: set[str] = set()

    @classmethod
    def of(cls, source: str, role: SourceRole, run_id: str, resolutions: list[Resolution]) -> HostRows:
        rows = cls(source, role, run_id)
        for res in resolutions:
            rows.add(res.observation, res.asset_id)
        return rows

    def combined(self) -> dict[str, str]:
        """{asset id: digest of everything this run reports of it}: what the sighting keeps, to tell an
        unchanged report from a changed one."""
        return {asset: digest(sorted(parts)) for asset, parts in self.digests.items()}

    def facets(self) -> frozenset[str]:
        """What of its assets' facets (ingest/changelog.py `_FACETS`) these rows can change; properties
        and sightings always."""
        parts = {"identifiers": self.identifiers or self.ips, "owners": self.owners, "ports": self.ports,
                 "software": self.software or self.removed, "controls": self.controls, "sightings": True}
        return frozenset(name for name, rows in parts.items() if rows)

    def add(self, obs: HostObservation, asset: str) -> None:
        at, source = obs.observed_at, self.source
        self.digests[asset].append(observation_digest(obs))
        props = {k: _plain(v) for k, v in obs.properties.model_dump(exclude_none=True).items()}
        fill = {k: props.pop(k) for k in list(props)
                if self.role == SourceRole.DISCOVERY and k in FILL_ONLY_FROM_DISCOVERY}
        claims = {f"claim_{k}": props.pop(k) for k in list(props) if k in CLAIM_PRECEDENCE}
        self.claimed.update(name[len("claim_"):] for name in claims)
        self.assets[obs.kind].append({
            "id": asset, "props": props, "fill": {"name": fill.get("name"), "host_type": fill.get("host_type")},
            "claims": claims, "at": at, "source": source, "run_id": self.run_id, "scope": obs.scope or ""})
        for ident in obs.identifiers:
            self.identifiers.append({"key": ident.key, "kind": ident.kind.value, "value": ident.value, "asset": asset,
                                     "at": at, "exclusive": ident.kind in TIME_BOUND_KINDS})
        for address in obs.ips:
            ip = ipaddress.ip_address(address)
            subnet, placed, cloud_subnet = _subnet_for(address, obs)
            self.ips.append({"asset": asset, "address": address, "version": ip.version, "public": ip.is_global,
                             "subnet": subnet, "placed": placed, "cloud_subnet": cloud_subnet, "at": at})
        if obs.ports is not None:
            ports = [{"id": f"{asset}/{p.protocol}/{p.number}", **p.model_dump()} for p in obs.ports]
            self.ports.append({"asset": asset, "at": at, "ports": ports, "reported": {p["id"]: True for p in ports},
                               "scan": self._scanned_ports(obs)})
        if obs.owner is not None or self.role == SourceRole.INVENTORY:
            owner = obs.owner
            self.owners.append({"asset": asset, "email": owner.email if owner else None,
                                "name": owner.name if owner else None,
                                "department": owner.department if owner else None, "at": at, "source": source})
        if obs.software is not None:
            self.software.append(self._software_row(asset, obs.software, at))
        elif obs.software_added:
            self.software.append({**self._software_row(asset, obs.software_added, at), "keep": True})
        if obs.software_removed:
            self.removed.append(self._software_row(asset, obs.software_removed, at, installed=False))
        for control in obs.controls:
            self.controls[CONTROL_VERBS[control.category.value]].append({
                "asset": asset, "tool": control.tool, "category": control.category.value,
                "last_seen": control.last_seen or at, "at": at, "source": source, "scope": obs.scope or "",
                "run_id": self.run_id})
        if obs.security_groups:
            self.groups.append({"asset": asset, "groups": sorted(set(obs.security_groups)), "at": at})
        for credential in obs.credentials:
            self.stored.append({"asset": asset, "fingerprint": credential.fingerprint, "at": at, "source": source})

    def _scanned_ports(self, obs: HostObservation) -> str | None:
        """The key of the port ranges the observation's scan probed (`HostObservation.scanned_ports`),
        kept once for the statement; None when it probed every port (its list is the whole)."""
        scanned = obs.scanned_ports
        if scanned is None:
            return None
        if scanned.key not in self.scanned_ports:      # hosts of one scan share it: built once
            self.scanned_ports[scanned.key] = {
                protocol: [[low, high] for low, high in ranges] for protocol, ranges in scanned.ranges.items()}
        return scanned.key

    def _software_row(self, asset: str, items, at, installed: bool = True) -> dict:
        """One asset's installs, one per product: every version reported (oldest first), the licences of the
        first item listing any, the product's fields from the first item."""
        first: dict[str, Any] = {}
        versions: dict[str, set[str]] = defaultdict(set)
        licences: dict[str, list[str]] = defaultdict(list)
        for sw in items:
            first.setdefault(sw.key, sw)
            if sw.version:
                versions[sw.key].add(sw.version)
            licences[sw.key] = licences[sw.key] or list(sw.licenses)
        installs = []
        for key, sw in sorted(first.items()):
            install = {"key": key, "versions": sorted(versions[key], key=version_order), "licenses": licences[key],
                       "product": None}
            if installed:
                self._product(key, sw, at, install)
            installs.append(install)
        return {"asset": asset, "at": at, "source": self.source, "reported": dict.fromkeys(first, True),
                "software": installs, "keep": False}

    def _product(self, key: str, sw, at, install: dict) -> None:
        """The product's fields for the batch, merged over its installs (first known name, vendor, purl, CPE
        and type; first and last seen) and carried by its first install, which the statement meets first."""
        product, millis = self.products.get(key), epoch_millis(at)
        if product is None:
            self.products[key] = install["product"] = {
                "name": sw.name, "vendor": sw.vendor, "purl": sw.purl, "cpe": sw.cpe, "package_type": sw.package_type,
                "first_seen": millis, "last_seen": millis}
            return
        for name in ("vendor", "purl", "cpe", "package_type"):
            if product[name] is None:
                product[name] = getattr(sw, name)
        product["first_seen"] = min(product["first_seen"], millis)
        product["last_seen"] = max(product["last_seen"], millis)


def write_hosts(tx: Transaction, source: str, role: SourceRole, run_id: str,
                resolutions: list[Resolution], rows: HostRows) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Write every accepted resolution (as `rows`, built by `HostRows.of`) and record every conflict.

    Returns ({asset id: digest}, the STORED_ON rows of credentials found on the assets), so the caller
    links those credentials when it writes them with the standalone ones."""
    combined = rows.combined()
    alone = _new_with_one_record(resolutions)
    tx.run(UPSERT_SOURCE, source=source, role=role.value).consume()
    for kind, asset_rows in sorted(rows.assets.items()):
        for row in asset_rows:
            row["digest"] = combined[row["id"]]
            # its one record's claims are the best there are: shown at once, not resolved below
            row["shown"] = {name[len("claim_"):]: value for name, value in row["claims"].items()} \
                if row["id"] in alone else {}
        # oldest first: two records of one sighting in one statement leave the newer one's word (the
        # statement's guard compares with what was there before it ran; rows are written in order)
        write_batches(tx, UPSERT_ASSETS.replace("{kind}", label(kind)), sorted(asset_rows, key=lambda r: r["at"]))
    identifiers = _sorted(rows.identifiers, "key")
    write_batches(tx, LINK_STRONG_IDENTIFIERS, [r for r in identifiers if not r["exclusive"]])
    write_batches(tx, LINK_IDENTIFIERS, [r for r in identifiers if r["exclusive"]])
    write_batches(tx, LINK_IPS, _sorted(rows.ips, "address"))
    write_batches(tx, REPLACE_PORTS, rows.ports, scanned=rows.scanned_ports)
    write_batches(tx, SET_OWNERS, rows.owners)
    # a new asset without a conflict has an id minted in this batch: nothing is installed on it to prune
    minted = {res.asset_id for res in resolutions if res.is_new and not res.conflict}
    write_batches(tx, SOFTWARE_PRUNE, [r for r in rows.software if not r.get("keep") and r["asset"] not in minted])
    write_batches(tx, SOFTWARE_ADD, rows.software)
    write_batches(tx, SOFTWARE_REMOVE, rows.removed)
    for control_verb, control_rows in sorted(rows.controls.items()):
        write_batches(tx, LINK_CONTROL % verb(control_verb), control_rows)
    write_batches(tx, LINK_GROUPS, rows.groups)
    conflicts = [{"id": r.conflict.id, "record": r.conflict.record, "reason": r.conflict.reason,
                  "identifiers": list(r.conflict.identifiers), "asset": r.conflict.asset,
                  "candidates": list(r.conflict.candidates),
                  "source": source, "at": r.observation.observed_at, "run_id": run_id}
                 for r in resolutions if r.conflict]
    write_batches(tx, RECORD_CONFLICTS, conflicts)
    touched = sorted(combined)
    resolve_claims(tx, [asset for asset in touched if asset not in alone], rows.claimed)
    if rows.ips or rows.ports:
        write_batches(tx, DERIVE_REACH, touched)
        tx.run(DERIVE_INTERNET_REACH, assets=touched, internet=INTERNET).consume()
    if rows.groups:  # membership changed: rebuild firewall reach into these assets
        links.derive_group_reach(tx, [], sorted({r["asset"] for r in rows.groups}))
    return combined, rows.stored


write("resolve-claims", "Each disputed field (OS, model, location, ...) shows the best source's claim "
      "(shown here with every field; a run claims only the fields its source states).",
      claim_statement(sorted(CLAIM_PRECEDENCE)))


def resolve_claims(tx: Transaction, asset_ids: list[str], fields: set[str]) -> None:
    """Show on each asset, per disputed field this run claimed, the best source's claim."""
    if not fields or not asset_ids:
        return
    ordered = sorted(fields)
    rank = {field: {source: i for i, source in enumerate(CLAIM_PRECEDENCE[field])} for field in ordered}
    statement = claim_statement(ordered)
    for start in range(0, len(asset_ids), BATCH_SIZE):
        tx.run(statement, rows=asset_ids[start:start + BATCH_SIZE], rank=rank).consume()


def _new_with_one_record(resolutions: list[Resolution]) -> set[str]:
    """Assets this batch creates from exactly one record: no other sighting claims anything of them."""
    records = Counter(res.asset_id for res in resolutions)
    return {res.asset_id for res in resolutions if res.is_new and records[res.asset_id] == 1}


def write_people(tx: Transaction, source: str, run_id: str, people: list[PersonObservation],
                 now: datetime) -> dict[str, str]:
    """Upsert people with team and manager; returns {email: digest}."""
    today = now.date()
    rows, digests = [], {}
    for person in people:
        digests[person.email] = digest(person.model_dump(mode="json", exclude={"record"}))
        if person.states_dates:
            props = person.model_dump(include={"name", "employee_id", "start_date"})
        else:   # a directory without dates (SCIM) sets what it gives
            props = person.model_dump(include={"name", "employee_id"}, exclude_none=True)
        rows.append({"email": person.email, "props": props, "states_dates": person.states_dates,
                     "end_date": person.end_date, "departed_by": person.departed_by, "today": today,
                     "department": person.department,
                     "manager": person.manager_email, "at": now, "source": source, "run_id": run_id,
                     "digest": digests[person.email]})
    tx.run(UPSERT_SOURCE, source=source, role=SourceRole.DIRECTORY.value).consume()
    write_batches(tx, UPSERT_PEOPLE, rows)
    write_batches(tx, LINK_MANAGERS, rows)
    return digests


def _sorted(rows: list[dict], key: str) -> list[dict]:
    """Rows in key order: concurrent writers then take locks in the same order."""
    return sorted(rows, key=lambda r: r[key])
