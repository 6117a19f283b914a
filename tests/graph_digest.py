"""The whole graph as comparable data: every node with its labels and properties, every relationship with
its type, properties and endpoints (named by their labels and properties, since element ids are not
kept across a restore)."""
from __future__ import annotations

import hashlib
import json

from graph.store import Store


def _text(value) -> str:
    """JSON with each non-JSON value named by its type too: a datetime is not its ISO string."""
    return json.dumps(value, sort_keys=True, default=lambda v: f"{type(v).__name__}:{v}")


def graph_content(store: Store) -> tuple[list[str], list[str]]:
    """Sorted node and relationship descriptions of the whole graph."""
    nodes = store.read("MATCH (n) RETURN elementId(n) AS id, labels(n) AS labels, properties(n) AS props")
    named = {n["id"]: _text([sorted(n["labels"]), n["props"]]) for n in nodes}
    rels = store.read("MATCH (a)-[r]->(b) RETURN elementId(a) AS a, type(r) AS type, properties(r) AS props, "
                      "elementId(b) AS b")
    return (sorted(named.values()),
            sorted(_text([named[r["a"]], r["type"], r["props"], named[r["b"]]]) for r in rels))


def graph_digest(store: Store) -> str:
    """One SHA-256 over graph_content: equal digests, equal graphs."""
    nodes, rels = graph_content(store)
    return hashlib.sha256("\n".join(nodes + ["--"] + rels).encode()).hexdigest()
