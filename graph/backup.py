"""Backup and restore of the whole graph as gzipped JSON lines, through Bolt, while the database runs.

Neo4j's own `neo4j-admin database dump` needs the database stopped (Community Edition has no online
backup) and a launcher the embedded jars do not ship, so the local database is exported instead: one
read transaction streams every node (labels, properties) and relationship (type, properties,
endpoints). Typed values (dates, datetimes, durations, byte arrays) are tagged so they come back as the
same types. Labels and relationship types are checked against graph/schema.py on the way in, so a
tampered backup cannot create vocabulary of its own.

File: a header line {"format": "itam-graph-backup", "version": 1, ...}, then {"node": ...} lines, then
{"rel": ...} lines, then {"end": {"nodes": N, "relationships": M}}. A file without its end line is
refused as truncated.
"""
from __future__ import annotations

import base64
import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from neo4j import READ_ACCESS, Driver
from neo4j.time import Date, DateTime, Duration, Time

from graph.schema import label, schema_statements, verb
from graph.store import delete_everything

FORMAT, VERSION = "itam-graph-backup", 1
BATCH = 5000
_COUNT = "MATCH (n) WITH count(n) AS nodes MATCH ()-[r]->() RETURN nodes, count(r) AS relationships"
_TEMPORAL: dict[str, Any] = {"date": Date, "datetime": DateTime, "time": Time, "duration": Duration}


class BackupError(RuntimeError):
    """A backup that could not be taken or a file that cannot be restored; the message says why."""


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    nodes: int
    relationships: int


def _encode(value: Any) -> Any:
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, bytes):
        return {"$": "bytes", "v": base64.b64encode(value).decode()}
    for name, kind in _TEMPORAL.items():
        if isinstance(value, kind):
            return {"$": name, "v": value.iso_format()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise BackupError(f"a property of type {type(value).__name__} cannot be backed up")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        kind, text = value.get("$"), str(value.get("v"))
        if kind == "bytes":
            return base64.b64decode(text)
        if kind in _TEMPORAL:
            return _TEMPORAL[kind].from_iso_format(text)
        raise BackupError(f"unknown value type {kind!r}")
    return value


def _props(props: dict[str, Any]) -> dict[str, Any]:
    return {key: _encode(value) for key, value in props.items()}


def backup(driver: Driver, database: str, path: Path) -> BackupSummary:
    """Write every node and relationship to `path` (gzip JSON lines) from one read transaction. The file
    appears only when complete; a graph that changed while it was read is refused (run it again)."""
    partial = path.with_name(path.name + ".partial")
    nodes = rels = 0
    try:
        with driver.session(database=database, default_access_mode=READ_ACCESS) as session, \
                session.begin_transaction() as tx, gzip.open(partial, "wt", encoding="utf-8") as out:
            before = tx.run(_COUNT).single(strict=True).data()
            out.write(json.dumps({"format": FORMAT, "version": VERSION, "database": database,
                                  "created": datetime.now(timezone.utc).isoformat()}) + "\n")
            for record in tx.run("MATCH (n) RETURN elementId(n) AS id, labels(n) AS labels, properties(n) AS props"):
                out.write(json.dumps({"node": [record["id"], sorted(record["labels"]), _props(record["props"])]}) + "\n")
                nodes += 1
            for record in tx.run("MATCH (a)-[r]->(b) RETURN elementId(a) AS a, type(r) AS type, "
                                 "properties(r) AS props, elementId(b) AS b"):
                out.write(json.dumps({"rel": [record["a"], record["type"], _props(record["props"]), record["b"]]})
                          + "\n")
                rels += 1
            after = tx.run(_COUNT).single(strict=True).data()
            if before != after or after != {"nodes": nodes, "relationships": rels}:
                raise BackupError("the graph changed while it was backed up (an ingest running?): "
                                  "nothing was kept; run the backup again")
            out.write(json.dumps({"end": {"nodes": nodes, "relationships": rels}}) + "\n")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return BackupSummary(path, nodes, rels)


def _lines(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BackupError(f"{path} line {number}: not a backup record ({exc.msg})") from None
    except FileNotFoundError:
        raise BackupError(f"{path}: no such file") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path}: not a gzip backup file or cut short ({exc})") from None


def _records(path: Path) -> Iterator[tuple[str, tuple, dict]]:
    """("node", (id, labels), props) and ("rel", (start, type, stop), props), each checked: the header,
    labels and types of the graph model, endpoints the file holds, and an end line whose counts agree."""
    ids: set[str] = set()
    header = end = None
    counts = {"nodes": 0, "relationships": 0}
    for number, record in _lines(path):
        where = f"{path} line {number}"
        try:
            if header is None:
                if record.get("format") != FORMAT or record.get("version") != VERSION:
                    raise BackupError(f"{where}: not an itam-graph backup (version {VERSION})")
                header = record
            elif end is not None:
                raise BackupError(f"{where}: records after the end line")
            elif "node" in record:
                node_id, labels, props = record["node"]
                ids.add(node_id)
                counts["nodes"] += 1
                yield "node", (node_id, tuple(label(name) for name in labels)), _decoded(props)
            elif "rel" in record:
                start, rel_type, props, stop = record["rel"]
                if start not in ids or stop not in ids:
                    raise BackupError(f"{where}: relationship between nodes the backup does not hold")
                counts["relationships"] += 1
                yield "rel", (start, verb(rel_type), stop), _decoded(props)
            elif "end" in record:
                end = record["end"]
            else:
                raise BackupError(f"{where}: not a backup record")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BackupError(f"{where}: {exc}") from None
    if end is None:
        raise BackupError(f"{path}: no end line: the backup is truncated")
    if end != counts:
        raise BackupError(f"{path}: the end line counts {end}, the file holds {counts['nodes']} nodes and "
                          f"{counts['relationships']} relationships")


def _decoded(props: dict[str, Any]) -> dict[str, Any]:
    return {key: _decode(value) for key, value in props.items()}


def _write(session, cypher: str, rows: list[dict]) -> list:
    """One batch in its own transaction (not retried: CREATE twice would duplicate)."""
    with session.begin_transaction() as tx:
        records = list(tx.run(cypher, rows=rows))
        tx.commit()
    return records


def restore(driver: Driver, database: str, path: Path, force: bool = False) -> BackupSummary:
    """Load a backup into an empty database (or, with force, one emptied first). The whole file is read
    and checked once before anything is written, then read again to load: the schema (constraints,
    indexes) first, then nodes and relationships in batches of BATCH rows."""
    nodes = rels = 0
    for kind, _, _ in _records(path):
        nodes, rels = nodes + (kind == "node"), rels + (kind == "rel")
    with driver.session(database=database) as session:
        present = session.run("MATCH (n) WHERE NOT n:Internet RETURN count(n) AS n").single(strict=True)["n"]
        if present and not force:
            raise BackupError(f"the database holds {present} nodes: restore refuses to mix graphs "
                              "(pass --force to empty it first)")
        delete_everything(session)
        for statement in schema_statements():
            session.run(statement).consume()
        session.run("CALL db.awaitIndexes(300)").consume()
        new_ids: dict[str, str] = {}
        pending: dict[tuple, list[dict]] = {}

        def flush(key: tuple) -> None:
            kind, name = key
            rows = pending.pop(key)
            if kind == "node":
                cypher = (f"UNWIND $rows AS row CREATE (n{''.join(':' + part for part in name)}) "
                          "SET n = row.props RETURN row.id AS old, elementId(n) AS new")
                new_ids.update((r["old"], r["new"]) for r in _write(session, cypher, rows))
            else:
                cypher = ("UNWIND $rows AS row MATCH (a) WHERE elementId(a) = row.a "
                          f"MATCH (b) WHERE elementId(b) = row.b CREATE (a)-[r:{name}]->(b) SET r = row.props")
                _write(session, cypher, [{**row, "a": new_ids[row["a"]], "b": new_ids[row["b"]]} for row in rows])

        for kind, what, props in _records(path):
            if kind == "rel" and any(k[0] == "node" for k in pending):
                for key in [k for k in pending if k[0] == "node"]:
                    flush(key)
            key = (kind, what[1])
            row = {"id": what[0]} if kind == "node" else {"a": what[0], "b": what[2]}
            pending.setdefault(key, []).append({**row, "props": props})
            if len(pending[key]) >= BATCH:
                flush(key)
        for key in sorted(pending, key=lambda k: k[0] != "node"):
            flush(key)
        session.run("MERGE (:Internet {name: 'internet'})").consume()
    return BackupSummary(path, nodes, rels)
