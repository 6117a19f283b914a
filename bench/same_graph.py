"""The same-graph floor: the raw driver writing exactly the graph a product run left.

The raw-driver floor of ingest_bench and agents_bench writes the core facts only (assets,
identifiers, addresses, ports, software); the product also writes sightings, owners, people,
subnets, reach, the change log and the run record. This floor takes the graph a product run
built (every node with its labels and properties, every relationship with its properties) and
times the raw driver writing it again into an empty database the cheapest plain way:
`UNWIND ... CREATE` per label set, then `UNWIND ... MATCH ... MATCH ... CREATE` per relationship
type between nodes found by their keys (index seeks), in transactions of the product's batch
size. Against it, the product's time is what its logic (parsing, identity resolution, reads,
diffs, statement shapes) adds to writing its own graph.
"""
from __future__ import annotations

import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from neo4j.time import DateTime

from bench.common import write_in_transactions
from graph.schema import ASSET_KINDS, NODES, RELS
from graph.store import Store, delete_everything, epoch_millis, from_epoch_millis

# What a node is found by: its one vocabulary label (kind labels ride along) and that label's key.
NodeRef = tuple[str, object]


@dataclass
class SameGraph:
    """A captured graph as the rows that write it again: nodes grouped by label set, relationships by
    (type, start label, end label)."""

    nodes: dict[tuple[str, ...], list[dict]] = field(default_factory=lambda: defaultdict(list))
    rels: dict[tuple[str, str, str], list[dict]] = field(default_factory=lambda: defaultdict(list))
    # per group, the properties that hold zoned datetimes: sent as epoch milliseconds, as the product
    # sends its timestamps (the driver packs a datetime slowly, graph/store.py)
    times: dict[tuple, set[str]] = field(default_factory=lambda: defaultdict(set))

    @property
    def size(self) -> tuple[int, int]:
        return sum(map(len, self.nodes.values())), sum(map(len, self.rels.values()))

    def statements(self) -> list[tuple[str, list[dict]]]:
        """(Cypher, rows) in order: every node group, then every relationship group. Labels and types
        come from graph.schema, checked against it."""
        work = []
        for labels, rows in sorted(self.nodes.items()):
            key = NODES[labels[0]].key
            work.append((f"UNWIND $rows AS row CREATE (n:{':'.join(labels)} {{{key}: row.key}}) SET n += row.props"
                         f"{self._times('n', labels)}", rows))
        for (verb, start, end), rows in sorted(self.rels.items()):
            start_key, end_key = NODES[start].key, NODES[end].key
            work.append((f"UNWIND $rows AS row MATCH (a:{start} {{{start_key}: row.start}}) "
                         f"USING INDEX SEEK a:{start}({start_key}) MATCH (b:{end} {{{end_key}: row.end}}) "
                         f"USING INDEX SEEK b:{end}({end_key}) CREATE (a)-[r:{verb}]->(b) SET r = row.props"
                         f"{self._times('r', (verb, start, end))}", rows))
        return work

    def _times(self, var: str, group: tuple) -> str:
        return "".join(f", {var}.`{k}` = {from_epoch_millis(f'row.t.`{k}`')}" for k in sorted(self.times[group]))

    def _split(self, group: tuple, props: dict) -> tuple[dict, dict]:
        """(properties as they are, zoned datetimes as epoch milliseconds)."""
        times = {k: epoch_millis(v.to_native()) for k, v in props.items()
                 if isinstance(v, DateTime) and v.tzinfo is not None}
        for k in times:
            if not _NAME.fullmatch(k):
                raise ValueError(f"property name {k!r} is not a plain name")
        self.times[group].update(times)
        return {k: v for k, v in props.items() if k not in times}, times


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _labels(found: list[str]) -> tuple[str, ...]:
    """The node's vocabulary label first, then its kind labels; anything else is refused."""
    main = [label for label in found if label in NODES]
    extra = sorted(label for label in found if label not in NODES)
    if len(main) != 1 or any(label not in ASSET_KINDS for label in extra):
        raise ValueError(f"a node with labels {found} is outside graph.schema's vocabulary")
    return (main[0], *extra)


def capture(store: Store) -> SameGraph:
    """Every node and relationship of the graph, as rows (untimed setup: reads the whole graph)."""
    graph = SameGraph()
    refs: dict[str, NodeRef] = {}
    with store.driver.session(database=store.database) as session:
        for row in session.run("MATCH (n) RETURN elementId(n) AS id, labels(n) AS labels, properties(n) AS props"):
            labels = _labels(row["labels"])
            props, times = graph._split(labels, dict(row["props"]))
            key = props.pop(NODES[labels[0]].key)
            refs[row["id"]] = (labels[0], key)
            graph.nodes[labels].append({"key": key, "props": props, "t": times})
        for row in session.run("MATCH (a)-[r]->(b) RETURN elementId(a) AS a, type(r) AS verb, "
                               "properties(r) AS props, elementId(b) AS b"):
            if row["verb"] not in RELS:
                raise ValueError(f"a relationship of type {row['verb']} is outside graph.schema's vocabulary")
            (start, start_key), (end, end_key) = refs[row["a"]], refs[row["b"]]
            group = (row["verb"], start, end)
            props, times = graph._split(group, dict(row["props"]))
            graph.rels[group].append({"start": start_key, "end": end_key, "props": props, "t": times})
    return graph


def empty(store: Store) -> None:
    """No node at all (`Store.wipe` keeps the Internet node, which the captured graph holds too)."""
    with store.driver.session(database=store.database) as session:
        delete_everything(session)


def write(store: Store, graph: SameGraph, tx_rows: int) -> float:
    """Write the captured graph with the raw driver in transactions of about `tx_rows` rows; returns the
    seconds it took."""
    started = time.perf_counter()
    write_in_transactions(store, graph.statements(), tx_rows)
    return time.perf_counter() - started


def measure(store: Store, build: Callable[[], object], repeat: int, tx_rows: int) -> dict:
    """Build the graph with the product (`build`, untimed), capture it, then time writing it again into an
    empty database `repeat` times; the written graph must count the same nodes and relationships."""
    store.wipe()
    build()
    expected = store.counts()
    graph = capture(store)
    seconds = []
    for _ in range(repeat):
        empty(store)
        seconds.append(write(store, graph, tx_rows))
        if store.counts() != expected:
            raise RuntimeError(f"the same-graph floor wrote {store.counts()}, not the product's {expected}")
    store.wipe()
    nodes, rels = graph.size
    return {"same_s": statistics.median(seconds), "nodes": nodes, "rels": rels, "runs": repeat}


def try_measure(store: Store, build: Callable[[], object], repeat: int, tx_rows: int) -> dict | None:
    """`measure`, or None after saying why it could not be measured (the other tables still print)."""
    try:
        return measure(store, build, repeat, tx_rows)
    except (RuntimeError, ValueError) as exc:
        print(f"  same-graph floor not measured: {exc}")
        return None


def print_table(rows: list[dict]) -> None:
    """Rows of hosts, connector, product_s (the product's median) and what `measure` returned."""
    print("Same graph, medians: the raw driver writing exactly the graph the product's run left into an empty "
          "database (CREATE per label set, then per relationship type between nodes sought by key; "
          "bench/same_graph.py) against the product's median above")
    header = (f"{'hosts':>7}  {'connector':<13} {'nodes':>9} {'rels':>9} {'runs':>4}  {'product s':>9}  "
              f"{'same graph s':>12}  {'ratio':>5}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['hosts']:>7}  {r['connector']:<13} {r['nodes']:>9} {r['rels']:>9} {r['runs']:>4}  "
              f"{r['product_s']:>9.2f}  {r['same_s']:>12.2f}  {r['same_s'] / r['product_s']:>5.2f}")
