"""The store: one driver per process, the schema, batched writes inside one transaction."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from neo4j import AsyncDriver, AsyncGraphDatabase, Driver, GraphDatabase, ManagedTransaction, Session, Transaction

from graph.config import Settings
from graph.schema import schema_statements

BATCH_SIZE = 5000


def connect(settings: Settings) -> Driver:
    """A synchronous driver (ingest, CLI); close it when done."""
    return GraphDatabase.driver(settings.neo4j_uri, auth=settings.auth, notifications_min_severity="OFF")


def connect_async(settings: Settings) -> AsyncDriver:
    """An async driver (the API); one per app, closed in its lifespan. A connection attempt gives up
    after 1 s, so a dead database is reported at once instead of after a long wait."""
    return AsyncGraphDatabase.driver(settings.neo4j_uri, auth=settings.auth, notifications_min_severity="OFF",
                                     connection_timeout=1.0, connection_acquisition_timeout=5.0)


class Store:
    """Reads and writes against one database, always through parameters."""

    def __init__(self, driver: Driver, database: str = "neo4j"):
        self.driver = driver
        self.database = database

    @classmethod
    def from_settings(cls, settings: Settings) -> "Store":
        return cls(connect(settings), settings.neo4j_database)

    def close(self) -> None:
        self.driver.close()

    def apply_schema(self) -> None:
        """Create constraints and indexes (auto-commit, idempotent) and wait for them to be online."""
        with self.driver.session(database=self.database) as session:
            for statement in schema_statements():
                session.run(statement).consume()
            session.run("CALL db.awaitIndexes(300)").consume()
            session.run("MERGE (:Internet {name: 'internet'})").consume()

    def read(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """Run a read query and return its rows as dicts."""
        def work(tx: ManagedTransaction) -> list[dict[str, Any]]:
            return [record.data() for record in tx.run(cypher, params)]
        with self.driver.session(database=self.database) as session:
            return session.execute_read(work)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One explicit transaction: everything in it lands together or not at all."""
        with self.driver.session(database=self.database) as session:
            with session.begin_transaction() as tx:
                yield tx
                if not tx.closed():
                    tx.commit()

    def execute(self, cypher: str, **params: Any) -> None:
        """A single write in its own transaction."""
        with self.transaction() as tx:
            tx.run(cypher, params).consume()

    def counts(self) -> dict[str, int]:
        """Node count per vocabulary label and relationship count per type, for checks and tests."""
        rows = self.read("MATCH (n) UNWIND labels(n) AS l RETURN l AS name, count(*) AS n "
                         "UNION ALL MATCH ()-[r]->() RETURN type(r) AS name, count(*) AS n")
        return {row["name"]: row["n"] for row in rows}

    def wipe(self) -> None:
        """Delete every node and relationship (tests, `itam db reset`); the schema stays."""
        with self.driver.session(database=self.database) as session:
            delete_everything(session)
            session.run("MERGE (:Internet {name: 'internet'})").consume()


def delete_everything(session: Session) -> None:
    """Every relationship, then every node, in bounded transactions (auto-commit session): detaching a
    dense node (a product installed on 100k hosts, a source that saw them) at once can exhaust the heap."""
    session.run("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS").consume()
    session.run("MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS").consume()


_UNWIND_ROWS = "UNWIND $rows AS row"


def _epoch_millis(rows: Sequence[dict[str, Any]], cypher: str) -> tuple[str, list[dict[str, Any]]]:
    """Send top-level datetimes as epoch milliseconds and rebuild them in Cypher (UTC, to the millisecond;
    a naive datetime is taken as UTC): the driver packs a Python datetime many times slower than an
    integer (docs/PERFORMANCE.md)."""
    if not rows or not isinstance(rows[0], dict) or not cypher.lstrip().startswith(_UNWIND_ROWS):
        return cypher, list(rows)
    keys = sorted({k for row in rows for k, v in row.items() if isinstance(v, datetime)})
    if not keys:
        return cypher, list(rows)
    converted = [{**row, **{k: epoch_millis(row[k]) for k in keys if isinstance(row.get(k), datetime)}}
                 for row in rows]
    rebuilt = ", ".join(f"{k}: {from_epoch_millis(f'_r.{k}')}" for k in keys)
    return cypher.replace(_UNWIND_ROWS, f"UNWIND $rows AS _r WITH _r{{.*, {rebuilt}}} AS row", 1), converted


def epoch_millis(value: datetime) -> int:
    """A datetime as epoch milliseconds, the cheap way to send it (a naive one is taken as UTC)."""
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1000)


def from_epoch_millis(expression: str) -> str:
    """Cypher for the datetime (UTC) an epoch-milliseconds expression holds, null staying null."""
    return f"CASE WHEN {expression} IS NULL THEN null ELSE datetime({{epochMillis: {expression}}}) END"


def _batches(cypher: str, rows: Sequence[Any], batch_size: int) -> Iterator[tuple[str, list]]:
    for start in range(0, len(rows), batch_size):
        yield _epoch_millis(rows[start:start + batch_size], cypher)


def write_batches(tx: Transaction, cypher: str, rows: Sequence[Any],
                  batch_size: int = BATCH_SIZE, **params: Any) -> int:
    """Run `UNWIND $rows AS row ...` over rows in batches inside the caller's transaction; `params` go
    with every batch (what the rows share, sent once per statement instead of in each row)."""
    for statement, batch in _batches(cypher, rows, batch_size):
        tx.run(statement, rows=batch, **params).consume()
    return len(rows)


def count_batches(tx: Transaction, cypher: str, rows: Sequence[Any], column: str,
                  batch_size: int = BATCH_SIZE, **params: Any) -> int:
    """Like `write_batches`, for a statement that returns one row with a count: the sum of `column`."""
    total = 0
    for statement, batch in _batches(cypher, rows, batch_size):
        record = tx.run(statement, rows=batch, **params).single()
        total += record[column] if record else 0
    return total
