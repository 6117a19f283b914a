"""The responder's question: what is this host, who owns it, should it exist, what can it reach."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from graph.identifiers import identifier_key, lookup_keys
from graph.schema import CLAIM_PRECEDENCE
from queries.catalog import GraphReader, named
from queries.verdict import Verdict, is_departed, should_exist

MAX_PAGE = 100
MAX_HOPS = 3
MAX_REACHABLE = 500
GONE_STATES = ["shutting-down", "terminated"]  # cloud instances that no longer exist on the network

FIND_BY_IDENTIFIER = named(
    "find_by_identifier", "responder",
    "Assets any of the given identifier keys ('kind:value') point at, with the keys that matched.",
    """
UNWIND $keys AS key
MATCH (i:Identifier {key: key})-[:IDENTIFIES]->(a:Asset) USING INDEX SEEK i:Identifier(key)
RETURN a.id AS id, a.name AS name, collect(key) AS matched
ORDER BY name, id
""")

FIND_BY_ID_OR_NAME = named(
    "find_by_id_or_name", "responder",
    "The asset whose id is $text (as findings and node ids give it), else the assets whose shown name is "
    "exactly $text (cloud instances go by their Name tag, SBOM applications by their component name).",
    """
MATCH (a:Asset {id: $text}) USING INDEX SEEK a:Asset(id)
RETURN a.id AS id, a.name AS name, ['asset id'] AS matched, 0 AS rank
UNION ALL
MATCH (a:Asset {name: $text}) USING INDEX SEEK a:Asset(name)
RETURN a.id AS id, a.name AS name, ['name'] AS matched, 1 AS rank
ORDER BY id LIMIT $most
""")
MOST_NAMED = 10     # a common name ('localhost', 'Spare laptop'): the ambiguity answer lists this many

SOLE_IDENTIFIERS = named(
    "sole_identifiers", "responder",
    "For assets by id, the identifiers that point at that asset alone: what tells ambiguous candidates apart.",
    """
UNWIND $ids AS id
MATCH (a:Asset {id: id}) USING INDEX SEEK a:Asset(id)
RETURN a.id AS id,
  [(i:Identifier)-[:IDENTIFIES]->(a) WHERE COUNT { (i)-[:IDENTIFIES]->(:Asset) } = 1
   | {kind: i.kind, value: i.value}] AS sole
""")

ASSET_CONTEXT = named(
    "asset_context", "responder",
    "Everything a responder needs about assets by id: identifiers, owner and team, software, licences, "
    "credentials, open ports, addresses, sightings per source. One round trip for any number of assets.",
    """
UNWIND $ids AS id
MATCH (a:Asset {id: id}) USING INDEX SEEK a:Asset(id)
RETURN a {.*} AS asset,
  [(i:Identifier)-[:IDENTIFIES]->(a) | {kind: i.kind, value: i.value}] AS identifiers,
  [(p:Person)-[o:OWNS]->(a) | {name: p.name, email: p.email, active: p.active, end_date: p.end_date,
                                source: o.source, teams: [(p)-[:MEMBER_OF]->(t:Team) | t.name]}] AS owners,
  COLLECT { MATCH (a)-[r:INSTALLED]->(s:Software) UNWIND coalesce(r.versions, [r.version]) AS version
            RETURN {name: s.name, version: version, source: r.source, purl: s.purl} } AS software,
  [(l:License)-[:ASSIGNED_TO]->(a) | {product: l.product, seats: l.seats, expires_on: l.expires_on}]
    + [(a)-[:INSTALLED]->(:Software)<-[:COVERS]-(l:License) | {product: l.product, seats: l.seats,
                                                                 expires_on: l.expires_on}] AS licenses,
  [(c:Credential)-[r:GRANTS_ACCESS_TO|STORED_ON]->(a) | {kind: c.kind, fingerprint: c.fingerprint,
      name: c.name, not_after: c.not_after, via: type(r),
      issued_to: [(c)-[:ISSUED_TO]->(p:Person) | p.email]}]
    + [(c:Credential)-[:NAMES]->(:Identifier)-[:IDENTIFIES]->(a) | {kind: c.kind, fingerprint: c.fingerprint,
      name: c.name, not_after: c.not_after, via: 'AUTHENTICATES',
      issued_to: [(c)-[:ISSUED_TO]->(p:Person) | p.email]}]
    + [(c:Credential)-[:ISSUED_TO]->(:Person)-[:OWNS]->(a) | {kind: c.kind, fingerprint: c.fingerprint,
      name: c.name, not_after: c.not_after, via: 'ISSUED_TO_OWNER',
      issued_to: [(c)-[:ISSUED_TO]->(p:Person) | p.email]}] AS credentials,
  [(c:Control)-[r:PROTECTS|MONITORS|MANAGES]->(a) | {tool: c.name, category: c.category, verb: type(r),
                                                     last_seen: r.last_seen, current: coalesce(r.current, true)}]
    AS controls,
  [(a)-[:LISTENS_ON]->(p:Port) | p {.protocol, .number, .service, .product, .version}] AS ports,
  [(a)-[h:HAS_IP]->(ip:IPAddress) | {address: ip.address, current: h.current, last_seen: h.last_seen}] AS addresses,
  [(a)-[s:SEEN_BY]->(src:Source) | {source: src.name, role: src.role, scope: s.scope, first_seen: s.first_seen,
                                     last_seen: s.last_seen, current: coalesce(s.current, true),
                                     stale_since: s.stale_since,
                                     claims: [k IN keys(s) WHERE k STARTS WITH 'claim_' | [substring(k, 6), s[k]]]}]
    AS sightings,
  EXISTS { (:Internet)-[:CAN_REACH]->(a) } AND NOT coalesce(a.cloud_state, '') IN $gone AS internet_exposed
""")

LIST_ASSETS = named(
    "list_assets", "inventory",
    "A page of assets by kind, host type and lifecycle stage, in id order after a keyset cursor.",
    """
MATCH (a:Asset)
WHERE ($kind IS NULL OR a.kind = $kind)
  AND ($host_type IS NULL OR a.host_type = $host_type)
  AND ($stage IS NULL OR a.lifecycle_stage = $stage)
  AND ($after IS NULL OR a.id > $after)
RETURN a.id AS id
ORDER BY a.id
LIMIT $limit
""")

REACH_STEP = named(
    "reach_step", "responder",
    "One hop of reachability from the given assets: every subnet (or wider CIDR holding it), security group "
    "or asset they reach from is expanded once, however many of the assets share it; each new host once. "
    "Terminated instances reach nothing and are reached by nothing; only current addresses count.",
    """
UNWIND $ids AS id
MATCH (a:Asset {id: id}) USING INDEX SEEK a:Asset(id) WHERE NOT coalesce(a.cloud_state, '') IN $gone
CALL (a) {
  MATCH (a)-[:HAS_IP {current: true}]->(:IPAddress)-[:IN]->(net:Subnet)
  RETURN net AS origin
  UNION
  MATCH (a)-[:HAS_IP {current: true}]->(:IPAddress)-[:IN]->(:Subnet)-[:IN]->(net:Subnet)
  RETURN net AS origin
  UNION
  MATCH (a)-[:IN]->(group:SecurityGroup)
  RETURN group AS origin
  UNION
  RETURN a AS origin
}
WITH DISTINCT origin
MATCH (origin)-[r:CAN_REACH]->(t:Asset)
WHERE $visited[t.id] IS NULL AND NOT coalesce(t.cloud_state, '') IN $gone
WITH t, min(r.ports) AS ports
RETURN t.id AS id, t.name AS name, ports
ORDER BY name, id
LIMIT $limit
""")


class AmbiguousIdentifier(Exception):
    """The identifier points at more than one asset; the message lists them, each with a `kind:value` that
    picks it alone (its id where no identifier does), and a kind prefix when that would choose."""

    def __init__(self, text: str, candidates: list[dict[str, Any]], more: bool = False):
        self.candidates = candidates
        listed = "; ".join(f"{c['name']} ({c['id']}, matched {', '.join(c['matched'])}): "
                           f"choose it with {c.get('pick') or c['id']!r}" for c in candidates)
        count = f"more than {len(candidates)}" if more else str(len(candidates))
        super().__init__(f"identifier {text!r} matches {count} assets: {listed}."
                         + _prefix_hint(text, candidates))


def _prefix_hint(text: str, candidates: list[dict[str, Any]]) -> str:
    """A kind prefix helps only when the candidates matched through different kinds: name each kind whose
    key only one candidate holds (when all matched by one MAC, every kind is held by all and none helps)."""
    holders: dict[str, list[dict[str, Any]]] = {}
    for c in candidates:
        for key in c["matched"]:
            holders.setdefault(key.partition(":")[0], []).append(c)
    sole = [f"'{kind}:{text}' means {held[0]['name']}" for kind, held in holders.items() if len(held) == 1]
    return f" They matched as different kinds; prefix one: {', '.join(sole)}." if sole else ""


@dataclass
class AssetContext:
    """One asset with everything the responder's question needs, as plain data."""

    id: str
    props: dict[str, Any]
    identifiers: list[dict]
    owners: list[dict]
    software: list[dict]
    licenses: list[dict]
    credentials: list[dict]
    controls: list[dict]
    ports: list[dict]
    addresses: list[dict]
    sightings: list[dict]
    internet_exposed: bool
    verdict: Verdict = field(init=False)

    @classmethod
    def from_row(cls, row: dict[str, Any], today: date | None = None) -> "AssetContext":
        owner_rank = CLAIM_PRECEDENCE["owner"]
        ctx = cls(id=row["asset"]["id"], props=row["asset"], identifiers=sorted(row["identifiers"], key=_by_kind),
                  owners=sorted(row["owners"], key=lambda o: (
                      owner_rank.index(o["source"]) if o["source"] in owner_rank else len(owner_rank), o["email"])),
                  software=sorted(row["software"], key=lambda s: (s["name"], s["version"] or "")),
                  licenses=_unique(row["licenses"]),
                  credentials=sorted(_unique_by(row["credentials"], ("fingerprint", "via")),
                                     key=lambda c: (c["fingerprint"], c["via"])),
                  controls=sorted(row["controls"], key=lambda c: c["tool"]),
                  ports=sorted(row["ports"], key=lambda p: (p["protocol"], p["number"])),
                  addresses=sorted(row["addresses"], key=lambda a: (not a["current"], a["address"])),
                  sightings=sorted(row["sightings"], key=lambda s: s["source"]),
                  internet_exposed=row["internet_exposed"])
        today = today or date.today()
        for owner in ctx.owners:
            owner["active"] = not is_departed(owner, today)
        ctx.verdict = should_exist(ctx.props, ctx.owners, ctx.sightings, ctx.addresses, today)
        return ctx

    @property
    def owner(self) -> dict | None:
        """The owner by precedence (inventory of record first); `owners` keeps every source's claim."""
        return self.owners[0] if self.owners else None

    def claims(self) -> list[dict]:
        """Every source's claim on a disputed field, beside the value the asset shows."""
        shown = {field: self.props.get(field) for field in CLAIM_PRECEDENCE}
        claims = [{"field": field, "value": str(value), "source": s["source"], "observed_at": s["last_seen"],
                   "shown": str(shown.get(field)) == str(value)}
                  for s in self.sightings for field, value in s["claims"]]
        owner = self.owner
        claims += [{"field": "owner", "value": o["email"], "source": o["source"], "observed_at": None,
                    "shown": o is owner} for o in self.owners]
        return sorted(claims, key=lambda c: (c["field"], not c["shown"], c["source"] or ""))

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "verdict"}
        data["should_exist"] = {"verdict": self.verdict.verdict, "reasons": self.verdict.reasons}
        return data


def _by_kind(ident: dict) -> tuple:
    order = ["asset_tag", "serial", "cloud_id", "agent_id", "mac", "hostname", "fqdn", "ip"]
    return (order.index(ident["kind"]) if ident["kind"] in order else 99, ident["value"])


def _unique_by(items: list[dict], keys: tuple[str, ...]) -> list[dict]:
    return list({tuple(item[k] for k in keys): item for item in items}.values())


def _unique(items: list[dict]) -> list[dict]:
    seen, out = set(), []
    for item in items:
        key = tuple(sorted(item.items()))
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


async def find_asset_id(reader: GraphReader, text: str) -> str | None:
    """The one asset a responder's text means, None if none; AmbiguousIdentifier if several.
    Identifiers first (any kind, or the `kind:value` asked for); if none matches, an asset id, then an
    asset's exact name (case-sensitive: no index serves a case-insensitive name)."""
    text = text.strip()
    keys = lookup_keys(text)
    candidates = await reader.rows(FIND_BY_IDENTIFIER, keys=keys) if keys else []
    if not candidates:
        rows = await reader.rows(FIND_BY_ID_OR_NAME, text=text, most=MOST_NAMED + 1)
        best = min((row["rank"] for row in rows), default=0)
        candidates = [r for r in rows if r["rank"] == best]
    if len(candidates) > 1:
        listed = candidates[:MOST_NAMED]
        raise AmbiguousIdentifier(text, await _with_picks(reader, listed), more=len(candidates) > len(listed))
    return candidates[0]["id"] if candidates else None


async def _with_picks(reader: GraphReader, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each candidate with `pick`: its first identifier (strongest kind first) that means it alone."""
    rows = await reader.rows(SOLE_IDENTIFIERS, ids=[c["id"] for c in candidates])
    sole = {r["id"]: sorted(r["sole"], key=_by_kind) for r in rows}
    return [{**c, "pick": next((identifier_key(i["kind"], i["value"]) for i in sole.get(c["id"], [])), None)}
            for c in candidates]


async def asset_contexts(reader: GraphReader, ids: list[str], today: date | None = None) -> list[AssetContext | None]:
    """Contexts in the order of ids (None where an id is unknown): the DataLoader's batch function."""
    rows = await reader.rows(ASSET_CONTEXT, ids=list(dict.fromkeys(ids)), gone=GONE_STATES)
    by_id = {row["asset"]["id"]: AssetContext.from_row(row, today) for row in rows}
    return [by_id.get(i) for i in ids]


async def host_context(reader: GraphReader, text: str, today: date | None = None) -> AssetContext | None:
    """The responder's one question: the asset an identifier means, with its whole context."""
    asset_id = await find_asset_id(reader, text)
    if asset_id is None:
        return None
    return (await asset_contexts(reader, [asset_id], today))[0]


def encode_cursor(asset_id: str) -> str:
    return base64.urlsafe_b64encode(f"asset:{asset_id}".encode()).decode()


def decode_cursor(cursor: str) -> str:
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("malformed cursor") from None
    if kind != "asset" or not value:
        raise ValueError("malformed cursor")
    return value


async def list_asset_ids(reader: GraphReader, first: int, after: str | None = None, kind: str | None = None,
                         host_type: str | None = None, stage: str | None = None) -> tuple[list[str], bool]:
    """A page of asset ids and whether more follow; `first` is capped at MAX_PAGE."""
    if not 1 <= first <= MAX_PAGE:
        raise ValueError(f"first must be between 1 and {MAX_PAGE}")
    rows = await reader.rows(LIST_ASSETS, kind=kind, host_type=host_type, stage=stage,
                             after=decode_cursor(after) if after else None, limit=first + 1)
    ids = [r["id"] for r in rows]
    return ids[:first], len(ids) > first


@dataclass(frozen=True)
class Reach:
    asset_id: str
    name: str | None
    hops: int
    ports: tuple[str, ...]


async def reachable(reader: GraphReader, asset_id: str, max_hops: int = 2) -> list[Reach]:
    """Hosts reachable from an asset within max_hops (capped at MAX_HOPS), nearest first, at most
    MAX_REACHABLE; one query per hop over the whole frontier, so it never explodes."""
    if not 1 <= max_hops <= MAX_HOPS:
        raise ValueError(f"maxHops must be between 1 and {MAX_HOPS}")
    found: dict[str, Reach] = {}
    frontier, visited = [asset_id], {asset_id}
    for hop in range(1, max_hops + 1):
        if not frontier:
            break
        rows = await reader.rows(REACH_STEP, ids=frontier, visited=dict.fromkeys(visited, True), gone=GONE_STATES,
                                 limit=MAX_REACHABLE - len(found))
        frontier = []
        for row in rows:
            if row["id"] in visited:
                continue
            visited.add(row["id"])
            frontier.append(row["id"])
            found[row["id"]] = Reach(row["id"], row["name"], hop, tuple(sorted(row["ports"] or ())))
            if len(found) >= MAX_REACHABLE:
                return list(found.values())
    return list(found.values())
