"""The public GraphQL contract. Types are thin; every field reads an AssetContext loaded in one
batched query per request (a DataLoader), so lists of assets cost one round trip, not N."""
from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.dataloader import DataLoader
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.fastapi import BaseContext
from strawberry.extensions import (AddValidationRules, MaskErrors, SchemaExtension, MaxAliasesLimiter,
                                   MaxTokensLimiter, ParserCache, QueryDepthLimiter, ValidationCache)
from strawberry.scalars import JSON
from strawberry.types import Info

from api.auth import Role
from api.permissions import actor, requires
from queries import findings as findings_q
from queries.catalog import DatabaseUnavailable, GraphReader, GraphWriter, ReadTimedOut
from queries.conflicts import ConflictAction as ConflictActionValue
from queries.conflicts import ConflictNotOpen, resolve_conflict
from queries.filter_values import ASSET_KIND, HOST_TYPE, LIFECYCLE_STAGE, RULE
from queries.rules import RULES, Severity as RuleSeverity, get_rule
from api.graphql_itam import ItamMutation, ItamQuery, Lifecycle, load_lifecycles
from api.graphql_history import AssetHistory, HistoryQuery, asset_history
from queries.history import PastAsset
from api.access_log import AccessLog
from api.limits import CostLimiter
from queries import explore
from queries.ops import open_conflicts
from queries.host import (MAX_HOPS, MAX_PAGE, AmbiguousIdentifier, AssetContext, asset_contexts, encode_cursor,
                          list_asset_ids, reachable)

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2000


class UserError(GraphQLError):
    """An error the caller can act on; shown as is (everything else is masked)."""


class Context(BaseContext):
    """Per request: the reader and a fresh DataLoader (a module-level one would cache forever)."""

    def __init__(self, reader: GraphReader, principal):
        super().__init__()
        self.reader = reader
        self.principal = principal
        self.assets = DataLoader(load_fn=lambda ids: asset_contexts(reader, list(ids)))
        self.findings = DataLoader(load_fn=lambda ids: findings_q.findings_of_assets(reader, list(ids)))
        self.lifecycles = DataLoader(load_fn=lambda ids: load_lifecycles(reader, list(ids)))


@strawberry.enum
class Verdict(Enum):
    EXPECTED = "EXPECTED"
    UNEXPECTED = "UNEXPECTED"
    REVIEW = "REVIEW"


@strawberry.type
class Identifier:
    kind: str
    value: str


@strawberry.type
class Team:
    name: str


@strawberry.type
class Owner:
    name: str | None
    email: str
    active: bool
    left_on: dt.date | None
    source: str | None


@strawberry.type
class Software:
    name: str
    version: str | None
    source: str | None
    purl: str | None


@strawberry.type
class License:
    product: str | None
    seats: int | None
    expires_on: dt.date | None


@strawberry.type
class Credential:
    kind: str | None
    fingerprint: str
    name: str | None
    not_after: dt.datetime | None
    via: str = strawberry.field(description="STORED_ON, AUTHENTICATES or GRANTS_ACCESS_TO this asset, "
                                            "or ISSUED_TO_OWNER (held by the asset's owner)")
    issued_to: list[str]


@strawberry.type
class Control:
    tool: str
    category: str | None
    verb: str = strawberry.field(description="PROTECTS, MONITORS or MANAGES")
    last_seen: dt.datetime | None
    current: bool = strawberry.field(description="False once a complete export of the tool no longer lists it")


@strawberry.type
class Claim:
    field: str
    value: str
    source: str | None
    observed_at: dt.datetime | None
    shown: bool = strawberry.field(description="Whether the asset shows this claim (source precedence)")


@strawberry.type
class Port:
    protocol: str
    number: int
    service: str | None
    product: str | None
    version: str | None


@strawberry.type
class Address:
    address: str
    current: bool
    last_seen: dt.datetime | None


@strawberry.type
class Sighting:
    source: str
    scope: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    current: bool = strawberry.field(description="False once a complete run of the source no longer saw it")
    stale_since: dt.datetime | None


@strawberry.type
class Cloud:
    provider: str
    account: str | None
    region: str | None
    state: str | None
    instance_type: str | None
    imds_v2_required: bool | None


@strawberry.type
class ShouldExist:
    verdict: Verdict
    reasons: list[str]


@strawberry.type
class Reachable:
    asset: "Asset"
    hops: int
    ports: list[str]


def _date(value) -> dt.date | None:
    return value if isinstance(value, dt.date) else None


@strawberry.type
class Asset:
    """A managed thing (a host, for now) with everything known about it."""

    id: strawberry.ID
    known_name: strawberry.Private[str | None] = None   # from the query that found it: no context load
    past: strawberry.Private[PastAsset | None] = None   # asked asOf a past moment: the asset as it was then

    async def _ctx(self, info: Info) -> AssetContext:
        if self.past is not None:
            return self.past.context
        ctx = await info.context.assets.load(str(self.id))
        if ctx is None:
            raise UserError(f"asset {self.id} no longer exists")
        return ctx

    @strawberry.field
    async def name(self, info: Info) -> str | None:
        if self.known_name is not None:
            return self.known_name
        return (await self._ctx(info)).props.get("name")

    @strawberry.field
    async def kind(self, info: Info) -> str:
        return (await self._ctx(info)).props.get("kind", "Host")

    @strawberry.field
    async def host_type(self, info: Info) -> str | None:
        return (await self._ctx(info)).props.get("host_type")

    @strawberry.field
    async def lifecycle_stage(self, info: Info) -> str | None:
        return (await self._ctx(info)).props.get("lifecycle_stage")

    @strawberry.field
    async def status_label(self, info: Info) -> str | None:
        return (await self._ctx(info)).props.get("status_label")

    @strawberry.field
    async def model(self, info: Info) -> str | None:
        return (await self._ctx(info)).props.get("model")

    @strawberry.field
    async def location(self, info: Info) -> str | None:
        return (await self._ctx(info)).props.get("location")

    @strawberry.field
    async def os(self, info: Info) -> str | None:
        return (await self._ctx(info)).props.get("os_name")

    @strawberry.field
    async def os_version(self, info: Info) -> str | None:
        return (await self._ctx(info)).props.get("os_version")

    @strawberry.field
    async def cloud(self, info: Info) -> "Cloud | None":
        props = (await self._ctx(info)).props
        if not props.get("cloud_provider"):
            return None
        return Cloud(provider=props["cloud_provider"], account=props.get("cloud_account"),
                     region=props.get("cloud_region"), state=props.get("cloud_state"),
                     instance_type=props.get("instance_type"), imds_v2_required=props.get("imds_v2_required"))

    @strawberry.field
    async def purchase_date(self, info: Info) -> dt.date | None:
        return _date((await self._ctx(info)).props.get("purchase_date"))

    @strawberry.field
    async def warranty_end(self, info: Info) -> dt.date | None:
        return _date((await self._ctx(info)).props.get("warranty_end"))

    @strawberry.field
    async def decommissioned_on(self, info: Info) -> dt.date | None:
        return _date((await self._ctx(info)).props.get("decommissioned_on"))

    @strawberry.field
    async def identifiers(self, info: Info) -> list[Identifier]:
        return [Identifier(**i) for i in (await self._ctx(info)).identifiers]

    @strawberry.field
    async def addresses(self, info: Info) -> list[Address]:
        return [Address(**a) for a in (await self._ctx(info)).addresses]

    @strawberry.field
    async def owner(self, info: Info) -> Owner | None:
        owner = (await self._ctx(info)).owner
        if owner is None:
            return None
        return Owner(name=owner["name"], email=owner["email"], active=owner["active"], left_on=owner["end_date"],
                     source=owner["source"])

    @strawberry.field
    async def team(self, info: Info) -> Team | None:
        owner = (await self._ctx(info)).owner
        return Team(name=owner["teams"][0]) if owner and owner["teams"] else None

    @strawberry.field
    async def software(self, info: Info) -> list[Software]:
        return [Software(**s) for s in (await self._ctx(info)).software]

    @strawberry.field
    async def licenses(self, info: Info) -> list[License]:
        return [License(**lic) for lic in (await self._ctx(info)).licenses]

    @strawberry.field
    async def credentials(self, info: Info) -> list[Credential]:
        return [Credential(**c) for c in (await self._ctx(info)).credentials]

    @strawberry.field
    async def controls(self, info: Info) -> list[Control]:
        return [Control(**c) for c in (await self._ctx(info)).controls]

    @strawberry.field(description="Every source's claim on disputed fields (owner, OS, location, model).")
    async def claims(self, info: Info) -> list[Claim]:
        return [Claim(**c) for c in (await self._ctx(info)).claims()]

    @strawberry.field
    async def open_ports(self, info: Info) -> list[Port]:
        return [Port(**p) for p in (await self._ctx(info)).ports]

    @strawberry.field
    async def sightings(self, info: Info) -> list[Sighting]:
        return [Sighting(source=s["source"], scope=s["scope"] or None, first_seen=s["first_seen"],
                         last_seen=s["last_seen"],
                         current=s["current"], stale_since=s["stale_since"])
                for s in (await self._ctx(info)).sightings]

    @strawberry.field
    async def internet_exposed(self, info: Info) -> bool:
        return (await self._ctx(info)).internet_exposed

    @strawberry.field
    async def should_exist(self, info: Info) -> ShouldExist:
        verdict = (await self._ctx(info)).verdict
        return ShouldExist(verdict=Verdict(verdict.verdict), reasons=verdict.reasons)

    @strawberry.field(description="Findings about this asset, most severe first (open ones unless a status "
                                  "is given; status: null for all).")
    async def findings(self, info: Info,
                       status: Annotated["FindingStatus", strawberry.lazy("api.graphql_schema")] | None
                       = findings_q.FindingStatus.OPEN) -> list[Annotated["Finding", strawberry.lazy("api.graphql_schema")]]:
        found = await info.context.findings.load(str(self.id))
        return [Finding.of(f) for f in found if status is None or f["status"] == status.value]

    @strawberry.field(description="Recorded and effective lifecycle stage, since when, and each check of the "
                                  "effective stage's standard with its evidence.")
    async def lifecycle(self, info: Info) -> Lifecycle | None:
        return await info.context.lifecycles.load(str(self.id))

    @strawberry.field(description="Set when the asset is shown asOf a past moment: that moment, and where "
                                  "history does not reach back.")
    def history(self) -> AssetHistory | None:
        return asset_history(self.past)

    @strawberry.field(description=f"Hosts this asset can reach, nearest first; maxHops 1..{MAX_HOPS}.")
    async def reachable(self, info: Info, max_hops: int = 2) -> list[Reachable]:
        try:
            found = await reachable(info.context.reader, str(self.id), max_hops)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        return [Reachable(asset=Asset(id=strawberry.ID(r.asset_id), known_name=r.name), hops=r.hops,
                          ports=list(r.ports)) for r in found]


@strawberry.type
class AssetEdge:
    cursor: str
    node: Asset


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class AssetConnection:
    edges: list[AssetEdge]
    page_info: PageInfo


@strawberry.type
class ConflictParty:
    role: str = strawberry.field(description="'record': the asset the conflicting record landed on; "
                                             "'candidate': another asset holding its identifiers")
    sources: list[str]
    identifiers: list[str]
    asset: Asset


@strawberry.type
class Conflict:
    id: str
    source: str
    record: str
    reason: str
    identifiers: list[str]
    last_seen: dt.datetime | None
    assets: list[Asset]
    involved: list[ConflictParty]


# ----------------------------------------------------------------- findings (rules, tracking, suppression)

# The rules' and the tracker's own enums, registered as GraphQL enums under these names (strawberry.enum
# returns the class it decorates, so the aliases are the same classes and mypy can use them as types).
Severity = RuleSeverity
FindingStatus = findings_q.FindingStatus
strawberry.enum(Severity, name="Severity", description="How bad a finding is")
strawberry.enum(FindingStatus, name="FindingStatus",
                description="OPEN; RESOLVED when no longer matched; SUPPRESSED by an admin until a date")


@strawberry.type(description="A node of the graph. id is '<Label>:<key>' (e.g. 'Asset:<asset id>', "
                               "'Person:<e-mail>', 'Internet:internet'): stable, and accepted back by neighborhood.")
class GraphNode:
    id: strawberry.ID
    label: str = strawberry.field(description="The most specific label: Host, Application, DataStore, Person, ...")
    name: str
    properties: JSON = strawberry.field(description="The node's properties as a JSON object (dates in ISO 8601); "
                                                    "assets also carry verdict and verdict_reasons.")

    @strawberry.field(description="The asset behind this node with its whole context; null for other labels.")
    def asset(self) -> Asset | None:
        asset_id = str(self.id).partition(":")[2] if str(self.id).startswith("Asset:") else None
        return Asset(id=strawberry.ID(asset_id)) if asset_id else None


@strawberry.type(description="A relationship as stored (source to target); id is '<source>><TYPE>><target>'.")
class GraphEdge:
    id: strawberry.ID
    source: strawberry.ID
    target: strawberry.ID
    type: str
    properties: JSON


@strawberry.type
class Subgraph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool = strawberry.field(description="True when the answer was cut at its limit")


@strawberry.type
class ChokePoint:
    node: GraphNode
    share: float = strawberry.field(description="Share (0..1) of the shortest Internet-to-target reach paths "
                                                "passing through this node")


@strawberry.type
class ChokePoints:
    target: GraphNode
    points: list[ChokePoint]
    reach: Subgraph = strawberry.field(description="Every shortest Internet-to-target reach path")


def _graph_node(node: explore.Node) -> GraphNode:
    return GraphNode(id=strawberry.ID(node.id), label=node.label, name=node.name, properties=JSON(node.properties))


def _subgraph(graph: explore.Subgraph) -> Subgraph:
    return Subgraph(nodes=[_graph_node(n) for n in graph.nodes.values()],
                    edges=[GraphEdge(id=strawberry.ID(e.id), source=strawberry.ID(e.source),
                                     target=strawberry.ID(e.target), type=e.type, properties=JSON(e.properties))
                           for e in graph.edges.values()],
                    truncated=graph.truncated)


async def _explore(work):
    """Run an explorer query; what the caller got wrong comes back as a UserError."""
    try:
        return await work
    except (ValueError, explore.NodeNotFound, AmbiguousIdentifier) as exc:
        raise UserError(str(exc)) from None


@strawberry.type
class RuleCount:
    scope: str | None = strawberry.field(description="e.g. the control category; null for the whole estate")
    total: int
    covered: int | None


@strawberry.type
class Rule:
    """A standing question about the estate (see `itam rules`)."""

    id: str
    title: str
    severity: Severity
    category: str
    description: str

    @strawberry.field(description="Findings of this rule that are open now.")
    async def open_count(self, info: Info) -> int:
        [row] = await findings_q.rule_summaries(info.context.reader, [self.id])
        return row["open"]

    @strawberry.field(description="The denominator: how many things the rule looks at (\"7 of 23 laptops\").")
    async def total(self, info: Info) -> int:
        rows = await findings_q.rule_total(info.context.reader, get_rule(self.id))
        return sum(r["total"] for r in rows)

    @strawberry.field(description="The count query's rows, e.g. coverage per control category.")
    async def counts(self, info: Info) -> list[RuleCount]:
        rows = await findings_q.rule_total(info.context.reader, get_rule(self.id))
        return [RuleCount(scope=r["scope"], total=r["total"], covered=r.get("covered")) for r in rows]

    @classmethod
    def of(cls, rule_id: str) -> "Rule":
        r = get_rule(rule_id)
        return cls(id=r.id, title=r.title, severity=r.severity, category=r.category, description=r.description)


@strawberry.type
class FindingAsset:
    id: strawberry.ID
    name: str | None


@strawberry.type
class Finding:
    """One rule's finding about one subject, with evidence a person can check."""

    id: strawberry.ID
    rule_id: strawberry.Private[str]
    severity: Severity
    subject: str
    evidence: list[str]
    assets: list[FindingAsset] = strawberry.field(
        description=f"Up to {findings_q.FINDING_ASSETS} of the assets it is about, shown by name (assetCount says how many).")
    asset_count: int = strawberry.field(description="How many assets the finding is about.")
    first_seen: dt.date
    last_seen: dt.date
    status: FindingStatus
    resolved_on: dt.date | None
    suppressed_until: dt.date | None
    suppressed_reason: str | None
    suppressed_by: str | None

    @strawberry.field
    def rule(self) -> Rule:
        return Rule.of(self.rule_id)

    @classmethod
    def of(cls, f: dict) -> "Finding":
        day = dt.date.fromisoformat
        return cls(id=strawberry.ID(f["id"]), rule_id=f["rule"], severity=RuleSeverity(f["severity"]),
                   subject=f["subject"], evidence=f["evidence"] or [],
                   assets=[FindingAsset(id=strawberry.ID(a["id"]), name=a["name"]) for a in f["assets"]],
                   asset_count=f["asset_count"],
                   first_seen=day(f["first_seen"]), last_seen=day(f["last_seen"]),
                   status=findings_q.FindingStatus(f["status"]),
                   resolved_on=day(f["resolved_on"]) if f["resolved_on"] else None,
                   suppressed_until=day(f["suppressed_until"]) if f["suppressed_until"] else None,
                   suppressed_reason=f["suppressed_reason"], suppressed_by=f["suppressed_by"])


@strawberry.type
class FindingEdge:
    cursor: str
    node: Finding


@strawberry.type
class FindingConnection:
    edges: list[FindingEdge]
    page_info: PageInfo


@strawberry.type
class FindingsQuery:
    @strawberry.field(description="Every rule, with its open findings and denominator.")
    def rules(self) -> list[Rule]:
        return [Rule.of(rule_id) for rule_id in RULES]

    @strawberry.field(description=f"Findings in id order, {findings_q.MAX_PAGE} at most per page; "
                                  "status OPEN unless given (null for every status).")
    async def findings(self, info: Info, rule: str | None = None, severity: Severity | None = None,
                       status: FindingStatus | None = findings_q.FindingStatus.OPEN, first: int = 50,
                       after: str | None = None) -> FindingConnection:
        try:
            found, more = await findings_q.list_findings(
                info.context.reader, RULE.check("rule", rule), severity.value if severity else None,
                status.value if status else None, first, after)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        edges = [FindingEdge(cursor=f["id"], node=Finding.of(f)) for f in found]
        return FindingConnection(edges=edges, page_info=PageInfo(has_next_page=more,
                                                                 end_cursor=edges[-1].cursor if edges else None))


@strawberry.type
class FindingsMutation:
    @strawberry.mutation(permission_classes=[requires(Role.ADMIN)],
                         description="Suppress a finding until a date (inclusive) with a reason; it re-opens the "
                                     "day after if it still matches. Needs the admin role.")
    async def suppress_finding(self, info: Info, id: strawberry.ID, reason: str, until: dt.date) -> Finding:
        try:
            found = await findings_q.suppress(info.context.reader, str(id), reason, until, actor(info))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        return Finding.of(found)

# ----------------------------------------------------------------- end of findings


@strawberry.type
class Query(FindingsQuery, ItamQuery, HistoryQuery):
    @strawberry.field(description=f"Records identity resolution refused to merge, newest first ({MAX_PAGE} at most).")
    async def conflicts(self, info: Info, first: int = 50) -> list[Conflict]:
        if not 1 <= first <= MAX_PAGE:
            raise UserError(f"first must be between 1 and {MAX_PAGE}")
        rows = await open_conflicts(info.context.reader, first)
        return [Conflict(id=r["id"], source=r["source"], record=r["record"], reason=r["reason"],
                         identifiers=r["identifiers"] or [], last_seen=r["last_seen"],
                         assets=[Asset(id=strawberry.ID(a["id"])) for a in r["assets"]],
                         involved=[ConflictParty(role=a["role"], sources=sorted(a["sources"]),
                                                 identifiers=sorted(a["identifiers"]),
                                                 asset=Asset(id=strawberry.ID(a["id"]), known_name=a["name"]))
                                   for a in r["assets"]]) for r in rows]

    # asset(identifier, asOf) lives in api/graphql_history.py (HistoryQuery).

    @strawberry.field(description=f"Assets in id order, {MAX_PAGE} at most per page.")
    async def assets(self, info: Info, kind: str | None = None, host_type: str | None = None,
                     lifecycle_stage: str | None = None, first: int = 50, after: str | None = None) -> AssetConnection:
        try:
            ids, more = await list_asset_ids(info.context.reader, first, after, ASSET_KIND.check("kind", kind),
                                             HOST_TYPE.check("hostType", host_type),
                                             LIFECYCLE_STAGE.check("lifecycleStage", lifecycle_stage))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        edges = [AssetEdge(cursor=encode_cursor(i), node=Asset(id=strawberry.ID(i))) for i in ids]
        return AssetConnection(edges=edges, page_info=PageInfo(has_next_page=more,
                                                               end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="A node and its neighbours, at most limit (1.."
                                  f"{explore.MAX_NEIGHBOURS}); types filters relationship types (the graph "
                                  "model's verbs; by default all but IDENTIFIES and SEEN_BY). id: a node id, "
                                  "'Internet', an e-mail, any asset identifier or name.")
    async def neighborhood(self, info: Info, id: strawberry.ID, types: list[str] | None = None,
                           limit: int = 100) -> Subgraph:
        return _subgraph(await _explore(explore.neighborhood(info.context.reader, str(id), types, limit)))

    @strawberry.field(description="The shortest path along which access flows from one thing to another (reach, "
                                  "security groups, addresses, ownership, credentials), at most maxHops "
                                  f"relationships (1..{explore.MAX_PATH_HOPS}); empty when there is none. "
                                  "Endpoints: a node id, 'Internet', an e-mail, any asset identifier or name.")
    async def path(self, info: Info, from_: Annotated[str, strawberry.argument(name="from")], to: str,
                   max_hops: int = 6) -> Subgraph:
        return _subgraph(await _explore(explore.access_path(info.context.reader, from_, to, max_hops)))

    @strawberry.field(description="Hosts, security groups and subnets that the most shortest Internet-to-target "
                                  "reach paths pass through (betweenness), within maxHops host-to-host hops "
                                  f"(1..{explore.MAX_CHOKE_HOPS}).")
    async def choke_points(self, info: Info, target: str, max_hops: int = 4) -> ChokePoints:
        found = await _explore(explore.choke_points(info.context.reader, target, max_hops))
        return ChokePoints(target=_graph_node(found.target),
                           points=[ChokePoint(node=_graph_node(p.node), share=p.share) for p in found.points],
                           reach=_subgraph(found.reach))

    @strawberry.field(description="One node by node id (or anything neighborhood accepts), for a details panel.")
    async def node(self, info: Info, id: strawberry.ID) -> GraphNode:
        return _graph_node(await _explore(explore.node(info.context.reader, str(id))))


# ---------------------------------------------------------------------------------------------
# Mutations: conflict resolution (identity, issue 12). Other mutations go in their own block.

ConflictAction = strawberry.enum(ConflictActionValue, name="ConflictAction",
                                 description="MERGE: one machine; SEPARATE: different machines")


@strawberry.type
class ConflictResolution:
    id: str
    status: str = strawberry.field(description="'merged' or 'separate'")
    resolved_by: str
    resolved_at: dt.datetime
    merged_into: Asset | None = strawberry.field(description="The asset that absorbed the others (merge only)")


async def _resolve_conflict(info: Info, id: strawberry.ID, action: ConflictActionValue) -> ConflictResolution:
    reader = info.context.reader
    try:
        done = await resolve_conflict(GraphWriter(reader.driver, reader.database), str(id),
                                      action, actor(info))
    except ConflictNotOpen as exc:
        raise UserError(str(exc)) from None
    into = done["merged_into"]
    return ConflictResolution(id=done["id"], status=done["status"], resolved_by=done["resolved_by"],
                              resolved_at=done["resolved_at"],
                              merged_into=Asset(id=strawberry.ID(into)) if into else None)


@strawberry.type
class ConflictsMutation:
    resolve_conflict: ConflictResolution = strawberry.mutation(
        resolver=_resolve_conflict, permission_classes=[requires(Role.ADMIN)],
        description="Answer a conflict (admin role): MERGE folds its assets into the oldest, SEPARATE keeps "
                    "them apart; recorded with who and when, never reopened by a later run.")

# ---------------------------------------------------------------------------------------------


class DatabaseDown(SchemaExtension):
    """HTTP 503 when a read found the database gone, so clients and load balancers can tell it from a
    bad query."""

    def on_execute(self):
        yield
        result = self.execution_context.result
        if result and any(isinstance(e.original_error, DatabaseUnavailable) for e in result.errors or ()):
            response = getattr(self.execution_context.context, "response", None)
            if response is not None:
                response.status_code = 503


# Shown as is: errors the caller can act on, strawberry's own deliberate ones (a permission's "needs role
# admin") and graphql-core's (a variable that is not a value of its enum).
_SHOWN = (UserError, StrawberryGraphQLError, ReadTimedOut, DatabaseUnavailable)


def _mask(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, (*_SHOWN, GraphQLError)) and not isinstance(error, _SHOWN)


@strawberry.type
class Mutation(ConflictsMutation, FindingsMutation, ItamMutation):
    """Writes through the API; each names the least role it needs (api/permissions.py)."""


# The depth and alias rules are built once: the validation cache is keyed by the rule classes, and a
# limiter made per request makes new ones, so every request was validated again (bench/concurrency_bench.py).
LIMIT_RULES = [*QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
               *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules]

schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    extensions=[
        AccessLog,                          # first: it times and records everything after it
        lambda: AddValidationRules(LIMIT_RULES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        # Responders repeat the same few queries with new variables: parse and validate each once
        # (the caches are module-level and keyed by the rules above, which still apply).
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        CostLimiter,                        # after validation: needs a valid document
        DatabaseDown,
        lambda: MaskErrors(should_mask_error=_mask),
    ],
)
