"""The graph as comparable data: two runs that learned the same facts give equal pictures.

Asset ids are random (and port ids carry them), so an asset is named by its identifiers. What
only says which run wrote a fact (its run id, a timestamp equal to a run's start) is masked."""
from __future__ import annotations

from graph.schema import NODES

SKIP_LABELS = ("IngestRun", "WriteLock", "Change", "ChangeLog")   # the record of runs, not the estate
NODES_Q = "MATCH (n) RETURN elementId(n) AS ref, labels(n) AS labels, properties(n) AS props"
RELS_Q = ("MATCH (a)-[r]->(b) RETURN elementId(a) AS a, type(r) AS type, properties(r) AS props, "
          "elementId(b) AS b")
ASSET_NAMES = ("MATCH (a:Asset) OPTIONAL MATCH (i:Identifier)-[:IDENTIFIES]->(a) "
               "RETURN a.id AS id, elementId(a) AS ref, collect(i.key) AS keys")
RUN_TIMES = "MATCH (r:IngestRun) RETURN r.started AS at"
VOLATILE = {"run_id", "heartbeat"}


def picture(store) -> tuple[list, list]:
    """(sorted nodes, sorted relationships), each as plain comparable tuples."""
    assets = {row["ref"]: (row["id"], "Asset[" + ",".join(sorted(row["keys"])) + "]")
              for row in store.read(ASSET_NAMES)}
    renames = {asset_id: name for asset_id, name in assets.values()}
    run_times = {_text(row["at"]) for row in store.read(RUN_TIMES)}

    def plain(value):
        value = _text(value)
        if isinstance(value, str):
            if value in run_times:
                return "<run time>"
            for asset_id, name in renames.items():
                value = value.replace(asset_id, name)
        if isinstance(value, list):
            return tuple(plain(v) for v in value)
        return value

    names, nodes = {}, []
    for row in store.read(NODES_Q):
        if any(label in SKIP_LABELS for label in row["labels"]):
            continue
        props = tuple(sorted((k, plain(v)) for k, v in row["props"].items() if k not in VOLATILE))
        if row["ref"] in assets:
            names[row["ref"]] = assets[row["ref"]][1]
        else:
            label = next(label for label in row["labels"] if label in NODES)
            names[row["ref"]] = f"{label}:{plain(row['props'][NODES[label].key])}"
        nodes.append((names[row["ref"]], tuple(sorted(row["labels"])), props))
    rels = [(names[row["a"]], row["type"], tuple(sorted((k, plain(v)) for k, v in row["props"].items()
                                                        if k not in VOLATILE)), names[row["b"]])
            for row in store.read(RELS_Q) if row["a"] in names and row["b"] in names]
    return sorted(nodes), sorted(rels)


def _text(value):
    return value.iso_format() if hasattr(value, "iso_format") else value
