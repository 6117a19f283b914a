"""The analyst's questions: a node's neighbourhood, the access path between two things, and the
choke points on the way from the Internet to a target. Each answer is a small subgraph.

Node ids are `<Label>:<key>`: the vocabulary label that holds the node's unique key and that key
(`Asset:<asset id>`, `Person:<e-mail>`, `SecurityGroup:sg-…`, `Subnet:10.0.1.0/24`,
`Internet:internet`). They survive a rebuild of the database (element ids do not) and are accepted
back wherever a node is asked for. Edge ids are `<source id>><TYPE>><target id>`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import islice
from typing import Any

import networkx as nx

from graph.schema import ASSET_KINDS, INTERNET, NODES, RELS, verb
from queries.catalog import GraphReader, named
from queries.host import find_asset_id
from queries.verdict import should_exist

MAX_NEIGHBOURS = 500
MAX_PATH_HOPS = 8
MAX_CHOKE_HOPS = 6
MAX_CHOKE_NODES = 2000
MAX_SHOWN_PATHS = 200

# Shown in the details panel (identifiers, sightings), not as neighbours, unless asked for by type; the
# findings and conflicts about an asset (INVOLVES) likewise, and the Findings picker highlights a rule's.
DETAIL_VERBS = ("IDENTIFIES", "SEEN_BY", "INVOLVES")

# Access flows along these verbs as written; a path may also start from a person to a credential
# issued to them (against ISSUED_TO's arrow). One direction per verb keeps the search inlined
# (Neo4j expands only matching relationships instead of filtering whole paths afterwards).
ACCESS_FORWARD = tuple(verb(v) for v in ("OWNS", "CAN_REACH", "IN", "HAS_IP", "GRANTS_ACCESS_TO", "NAMES",
                                         "IDENTIFIES"))


_TEMPORAL = "DATE | ZONED DATETIME | LOCAL DATETIME | ZONED TIME | LOCAL TIME | DURATION"


def text_props(var: str) -> str:
    """Cypher for the properties of `var` as [key, value] pairs with temporal values as ISO 8601 text:
    decoding the driver's temporal types cost more than the rest of an answer put together."""
    return f"[k IN keys({var}) | [k, CASE WHEN {var}[k] IS :: {_TEMPORAL} THEN toString({var}[k]) ELSE {var}[k] END]]"


class NodeNotFound(LookupError):
    """Nothing in the graph is called that; the message says what was tried."""


def node_by_key_query(label: str):
    node = NODES[label]
    return named(f"node_by_{label.lower()}_key", "explorer",
                 f"The element id of the {label} whose {node.key} is $key (unique-constraint seek).",
                 f"MATCH (n:{label} {{{node.key}: $key}}) USING INDEX SEEK n:{label}({node.key}) RETURN elementId(n) AS eid")


NODE_BY_KEY = {label: node_by_key_query(label) for label in NODES}

NODE_AT = named(
    "node_at", "explorer",
    "One node by element id (resolved within the same request) with its labels and properties.",
    f"""
MATCH (n) WHERE elementId(n) = $node
RETURN labels(n) AS labels, {text_props("n")} AS props
""")

NEIGHBORHOOD = named(
    "neighborhood", "explorer",
    "A node and at most $limit of its neighbours with the relationships that join them, of the given "
    "types (or every type but identifiers and sightings); one more is read to tell whether it was cut.",
    f"""
MATCH (n) WHERE elementId(n) = $node
RETURN labels(n) AS labels, {text_props("n")} AS props,
       COLLECT {{
         MATCH (n)-[r]-(m)
         WHERE CASE WHEN $types IS NULL THEN NOT type(r) IN $detail ELSE type(r) IN $types END
         RETURN {{labels: labels(m), props: {text_props("m")}, type: type(r), rel: {text_props("r")},
                 outgoing: startNode(r) = n}}
         LIMIT $limit
       }} AS links
""")

_FORWARD = "|".join(ACCESS_FORWARD)
ACCESS_PATH = named(
    "access_path", "explorer",
    "The shortest path along which access flows from one node to another, at most $max_hops relationships "
    f"(the pattern stops at {MAX_PATH_HOPS}): a person's credentials first, then reach, group membership, "
    "addresses, ownership and what credentials grant, each along its arrow.",
    f"""
MATCH (a) WHERE elementId(a) = $source
MATCH (b) WHERE elementId(b) = $target
MATCH p = SHORTEST 1 (a)(()<-[:ISSUED_TO]-()){{0,1}}(()-[:{_FORWARD}]->()){{1,{MAX_PATH_HOPS}}}(b)
WHERE length(p) <= $max_hops
RETURN [n IN nodes(p) | {{labels: labels(n), props: {text_props("n")}}}] AS nodes,
       [r IN relationships(p) | {{type: type(r), rel: {text_props("r")}, forward: type(r) <> 'ISSUED_TO'}}] AS rels
""")

REACHED_BY_STEP = named(
    "reached_by_step", "explorer",
    "One hop of reachability backwards: who reaches each given asset directly (a host or the Internet), "
    "through a subnet they sit in (or a wider CIDR holding it), or through a security group they belong to.",
    f"""
UNWIND $ids AS id
MATCH (t:Asset {{id: id}}) USING INDEX SEEK t:Asset(id)
CALL (t) {{
  MATCH (s:Subnet)-[r:CAN_REACH]->(t)
  MATCH (a:Asset)-[:HAS_IP {{current: true}}]->(:IPAddress)-[:IN]->(:Subnet)-[:IN*0..1]->(s)
  WHERE a <> t
  RETURN a AS source, s AS via, r.ports AS ports
  UNION
  MATCH (g:SecurityGroup)-[r:CAN_REACH]->(t)
  MATCH (a:Asset)-[:IN]->(g)
  WHERE a <> t
  RETURN a AS source, g AS via, r.ports AS ports
  UNION
  MATCH (a)-[r:CAN_REACH]->(t)
  WHERE a:Asset OR a:Internet
  RETURN a AS source, null AS via, r.ports AS ports
}}
RETURN t.id AS target, labels(source) AS source_labels, {text_props("source")} AS source_props,
       CASE WHEN via IS NULL THEN null ELSE labels(via) END AS via_labels,
       CASE WHEN via IS NULL THEN null ELSE {text_props("via")} END AS via_props, ports
LIMIT $limit
""")

VERDICT_INPUTS = named(
    "verdict_inputs", "explorer",
    "What the should-exist verdict needs for assets by id: owners, sightings and addresses.",
    """
UNWIND $ids AS id
MATCH (a:Asset {id: id}) USING INDEX SEEK a:Asset(id)
RETURN a.id AS id,
  [(p:Person)-[:OWNS]->(a) | {email: p.email, active: p.active, end_date: p.end_date}] AS owners,
  [(a)-[s:SEEN_BY]->(src:Source) | {source: src.name, role: src.role, last_seen: s.last_seen,
                                     current: coalesce(s.current, true), stale_since: s.stale_since}] AS sightings,
  [(a)-[h:HAS_IP]->(ip:IPAddress) | {address: ip.address, current: h.current}] AS addresses
""")


# ------------------------------------------------------------------------------------------ shapes


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    name: str
    properties: dict[str, Any]

    @property
    def asset_id(self) -> str | None:
        return self.id.partition(":")[2] if self.id.startswith("Asset:") else None


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    type: str
    properties: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.source}>{self.type}>{self.target}"


@dataclass
class Subgraph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[str, Edge] = field(default_factory=dict)
    truncated: bool = False

    def add_node(self, node: Node) -> Node:
        return self.nodes.setdefault(node.id, node)

    def add_edge(self, edge: Edge) -> None:
        self.edges.setdefault(edge.id, edge)

    def as_dict(self) -> dict[str, Any]:
        return {"nodes": [n.__dict__ for n in self.nodes.values()],
                "edges": [{"id": e.id, **e.__dict__} for e in self.edges.values()],
                "truncated": self.truncated}


@dataclass(frozen=True)
class ChokePoint:
    node: Node
    share: float  # of the shortest Internet-to-target reach paths that pass through the node


@dataclass
class ChokePoints:
    target: Node
    points: list[ChokePoint]
    reach: Subgraph


# ------------------------------------------------------------------------------------------ nodes


def key_label(labels: list[str]) -> str:
    """The vocabulary label that holds the node's unique key (Asset for every kind of asset)."""
    return next(label for label in NODES if label in labels)


def shown_label(labels: list[str]) -> str:
    """What the node is, most specific first: an asset's kind (Host, Application, DataStore)."""
    return next((kind for kind in ASSET_KINDS if kind in labels), None) or key_label(labels)


def display_name(label: str, props: dict[str, Any]) -> str:
    if label == "Internet":
        return "Internet"
    if label == "Port":
        return f"{props.get('number')}/{props.get('protocol')}"
    for key in ("name", "product", "address", "cidr", "reference", "email", "key", "source", "fingerprint"):
        if props.get(key):
            return str(props[key])
    return str(props.get(NODES[label].key, "?"))


def plain(value: Any) -> Any:
    """Property values as JSON: dates and times as ISO 8601 text."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    to_native = getattr(value, "to_native", None)
    if to_native:
        value = to_native()
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return value


def make_node(labels: list[str], pairs: list[list[Any]]) -> Node:
    """A node from its labels and its [key, value] property pairs (see text_props)."""
    props = dict(pairs)
    key = key_label(labels)
    label = shown_label(labels)
    return Node(id=f"{key}:{props[NODES[key].key]}", label=label, name=display_name(label, props),
                properties={k: plain(v) for k, v in sorted(props.items())})


def node_id_kind(node_id: str) -> tuple[str, str] | None:
    label, sep, key = node_id.partition(":")
    return (label, key) if sep and label in NODES and key else None


async def element_id(reader: GraphReader, text: str) -> str:
    """The node a user means: a node id (`Label:key`), `Internet`, a person's e-mail, or any asset
    identifier (hostname, IP, MAC, serial, tag, cloud id, `kind:value`)."""
    text = text.strip()
    if text.lower() == "internet":
        label, key = "Internet", INTERNET
    elif kind := node_id_kind(text):
        label, key = kind
    elif "@" in text and ":" not in text:
        label, key = "Person", text.lower()
    else:
        asset_id = await find_asset_id(reader, text)   # identifiers, then an asset id, then a name
        if asset_id is None:
            raise NodeNotFound(f"nothing in the graph is called {text!r} (tried node ids, 'Internet', e-mail "
                               f"addresses, asset identifiers and asset names)")
        label, key = "Asset", asset_id
    rows = await reader.rows(NODE_BY_KEY[label], key=key)
    if not rows:
        raise NodeNotFound(f"no {label} has {NODES[label].key} {key!r}")
    return rows[0]["eid"]


async def with_verdicts(reader: GraphReader, subgraph: Subgraph, today: date | None = None) -> Subgraph:
    """Every asset in the subgraph gets `verdict` and `verdict_reasons` properties (one round trip)."""
    ids = [n.asset_id for n in subgraph.nodes.values() if n.asset_id]
    if not ids:
        return subgraph
    for row in await reader.rows(VERDICT_INPUTS, ids=ids):
        node = subgraph.nodes[f"Asset:{row['id']}"]
        verdict = should_exist(_verdict_props(node), row["owners"], row["sightings"], row["addresses"], today)
        node.properties["verdict"], node.properties["verdict_reasons"] = verdict.verdict, verdict.reasons
    return subgraph


def _verdict_props(node: Node) -> dict[str, Any]:
    props = dict(node.properties)
    if isinstance(props.get("decommissioned_on"), str):
        props["decommissioned_on"] = date.fromisoformat(props["decommissioned_on"][:10])
    return props


# ------------------------------------------------------------------------------------------ queries


def checked_types(types: list[str] | None) -> list[str] | None:
    """Relationship types from the vocabulary only; anything else is the caller's error."""
    if types is None:
        return None
    unknown = sorted(set(types) - set(RELS))
    if unknown:
        raise ValueError(f"unknown relationship type(s) {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(sorted(RELS))}")
    return sorted(set(types))


async def neighborhood(reader: GraphReader, text: str, types: list[str] | None = None,
                       limit: int = 100) -> Subgraph:
    """A node and at most `limit` neighbours (1..MAX_NEIGHBOURS), `truncated` when there were more."""
    if not 1 <= limit <= MAX_NEIGHBOURS:
        raise ValueError(f"limit must be between 1 and {MAX_NEIGHBOURS}")
    types = checked_types(types)
    eid = await element_id(reader, text)
    rows = await reader.rows(NEIGHBORHOOD, node=eid, types=types, detail=list(DETAIL_VERBS), limit=limit + 1)
    graph = Subgraph()
    centre = graph.add_node(make_node(rows[0]["labels"], rows[0]["props"]))
    links = rows[0]["links"]
    graph.truncated = len(links) > limit
    for link in links[:limit]:
        other = graph.add_node(make_node(link["labels"], link["props"]))
        source, target = (centre, other) if link["outgoing"] else (other, centre)
        graph.add_edge(Edge(source.id, target.id, link["type"], {k: plain(v) for k, v in link["rel"]}))
    return await with_verdicts(reader, graph)


async def node(reader: GraphReader, text: str) -> Node:
    """One node, with its verdict when it is an asset."""
    row = (await reader.rows(NODE_AT, node=await element_id(reader, text)))[0]
    graph = Subgraph()
    found = graph.add_node(make_node(row["labels"], row["props"]))
    await with_verdicts(reader, graph)
    return found


async def access_path(reader: GraphReader, source: str, target: str, max_hops: int = 6) -> Subgraph:
    """The shortest access path from source to target (empty when none within max_hops)."""
    if not 1 <= max_hops <= MAX_PATH_HOPS:
        raise ValueError(f"maxHops must be between 1 and {MAX_PATH_HOPS}")
    start, end = await element_id(reader, source), await element_id(reader, target)
    graph = Subgraph()
    if start == end:
        graph.add_node(await node(reader, source))
        return graph
    rows = await reader.rows(ACCESS_PATH, source=start, target=end, max_hops=max_hops)
    if not rows:
        return graph
    nodes = [graph.add_node(make_node(n["labels"], n["props"])) for n in rows[0]["nodes"]]
    for i, rel in enumerate(rows[0]["rels"]):
        # the path walks some verbs against their arrow; the edge keeps the arrow as stored
        before, after = nodes[i], nodes[i + 1]
        source_node, target_node = (before, after) if rel["forward"] else (after, before)
        graph.add_edge(Edge(source_node.id, target_node.id, rel["type"],
                            {k: plain(v) for k, v in rel["rel"]}))
    return await with_verdicts(reader, graph)


async def choke_points(reader: GraphReader, target: str, max_hops: int = 4) -> ChokePoints:
    """Hosts, security groups and subnets that the shortest Internet-to-target reach paths pass
    through, by betweenness (networkx) on the reach graph walked backwards from the target for at
    most max_hops host-to-host hops."""
    if not 1 <= max_hops <= MAX_CHOKE_HOPS:
        raise ValueError(f"maxHops must be between 1 and {MAX_CHOKE_HOPS}")
    goal = await node(reader, target)
    if goal.asset_id is None:
        raise ValueError(f"{target!r} is a {goal.label}, not an asset: choke points are on the way to an asset")
    walk, truncated = await _reached_by(reader, goal, max_hops)
    internet = f"Internet:{INTERNET}"
    reach = Subgraph(truncated=truncated)
    points: list[ChokePoint] = []
    if internet in walk.graph:
        shares = nx.betweenness_centrality_subset(walk.graph, sources=[internet], targets=[goal.id],
                                                  normalized=False)
        on_paths = {n for n, share in shares.items() if share > 0} | {internet, goal.id}
        points = sorted((ChokePoint(walk.nodes[n], round(shares[n], 6)) for n in on_paths
                         if n in walk.nodes and n not in (internet, goal.id)),
                        key=lambda p: (-p.share, p.node.name))
        _shortest_path_edges(walk, internet, goal.id, reach)
    reach.add_node(goal)
    return ChokePoints(goal, points, await with_verdicts(reader, reach))


@dataclass
class _Walk:
    graph: nx.DiGraph
    nodes: dict[str, Node]
    edges: dict[tuple[str, str], Edge]


async def _reached_by(reader: GraphReader, goal: Node, max_hops: int) -> tuple[_Walk, bool]:
    """The reach graph into the goal: each host-to-host hop is two arcs (source → via → target;
    a direct reach gets a private via), so shortest paths count hops, not relationships."""
    walk = _Walk(nx.DiGraph(), {goal.id: goal}, {})
    frontier, seen = [goal.asset_id], {goal.id}
    for _ in range(max_hops):
        if not frontier:
            break
        rows = await reader.rows(REACHED_BY_STEP, ids=frontier, limit=MAX_CHOKE_NODES + 1)
        if len(rows) > MAX_CHOKE_NODES:
            return walk, True
        frontier = []
        for row in rows:
            source = make_node(row["source_labels"], row["source_props"])
            target_id = f"Asset:{row['target']}"
            walk.nodes.setdefault(source.id, source)
            ports = {"ports": row["ports"] or []}
            if row["via_labels"]:
                via = make_node(row["via_labels"], row["via_props"])
                walk.nodes.setdefault(via.id, via)
                walk.graph.add_edge(source.id, via.id)
                walk.graph.add_edge(via.id, target_id)
                walk.edges[(source.id, via.id)] = Edge(source.id, via.id, "IN", {})
                walk.edges[(via.id, target_id)] = Edge(via.id, target_id, "CAN_REACH", ports)
            else:
                hop = f"{source.id}>{target_id}"
                walk.graph.add_edge(source.id, hop)
                walk.graph.add_edge(hop, target_id)
                walk.edges[(source.id, target_id)] = Edge(source.id, target_id, "CAN_REACH", ports)
            if source.id not in seen and source.asset_id:
                seen.add(source.id)
                frontier.append(source.asset_id)
            if len(walk.nodes) > MAX_CHOKE_NODES:
                return walk, True
    return walk, False


def _shortest_path_edges(walk: _Walk, source: str, target: str, reach: Subgraph) -> None:
    """Every node and edge on some shortest source-to-target path (private vias folded back)."""
    for path in islice(nx.all_shortest_paths(walk.graph, source, target), MAX_SHOWN_PATHS):
        real = [n for n in path if n in walk.nodes]
        for node_id in real:
            reach.add_node(walk.nodes[node_id])
        for a, b in zip(real, real[1:]):
            reach.add_edge(walk.edges[(a, b)])
