"""Every question the product answers, as a named, documented unit of Cypher.

The API and the CLI call these; neither writes Cypher of its own. `itam queries` lists them.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from neo4j import READ_ACCESS, AsyncDriver, Query
from neo4j.exceptions import ClientError, ServiceUnavailable, SessionExpired

if TYPE_CHECKING:
    from graph.config import Settings

READ_TIMEOUT_S = 10.0
REPORT_TIMEOUT_S = 120.0
# Whole-estate reports (every licensed product, every inventory host) read far more than a responder's
# question; they get the longer report timeout, interactive reads keep the short one.
REPORT_CATEGORIES = frozenset({"audits", "licences", "evidence", "renewals", "inventory"})
READS_PER_REQUEST = 4


@dataclass(frozen=True)
class NamedQuery:
    name: str
    category: str
    description: str
    cypher: str

    @property
    def is_report(self) -> bool:
        return self.category in REPORT_CATEGORIES


CATALOG: dict[str, NamedQuery] = {}


def named(name: str, category: str, description: str, cypher: str) -> NamedQuery:
    """Declare a query in the catalogue (names are unique)."""
    if name in CATALOG:
        raise ValueError(f"query {name!r} declared twice")
    CATALOG[name] = query = NamedQuery(name, category, description, cypher.strip())
    return query


class ReadTimedOut(Exception):
    """A read ran past its time limit and was stopped by the database; the message says so."""


class DatabaseUnavailable(Exception):
    """The graph database does not answer (stopped, restarting, unreachable); the message says so."""


class GraphReader:
    """Runs catalogue queries read-only, one short session per call (sessions are not shared
    between concurrent coroutines; the driver pools the connections).

    Every read is a transaction with a timeout the database enforces, so no query holds a pooled
    connection for long. A read that finds the database gone is tried once more at once (the pool may
    hold connections from before a restart) and then fails fast with DatabaseUnavailable, rather than
    retrying for the driver's 30 s. `for_request()` gives a reader that runs at most `reads_per_request` reads
    at once, so one request (many aliases, nested lists) cannot take the whole pool from the others."""

    def __init__(self, driver: AsyncDriver, database: str = "neo4j", timeout_s: float = READ_TIMEOUT_S,
                 reads_per_request: int = READS_PER_REQUEST, _gate: asyncio.Semaphore | None = None,
                 report_timeout_s: float = REPORT_TIMEOUT_S):
        self.driver = driver
        self.database = database
        self.timeout_s = timeout_s
        self.reads_per_request = reads_per_request
        self.report_timeout_s = report_timeout_s
        self._gate = _gate
        self.active = self.peak = 0        # reads in flight now, and the most at once (observability)

    def for_request(self) -> "GraphReader":
        """A reader for one request: same driver, its own cap on concurrent reads."""
        return GraphReader(self.driver, self.database, self.timeout_s, self.reads_per_request,
                           asyncio.Semaphore(self.reads_per_request), self.report_timeout_s)

    @classmethod
    def from_settings(cls, driver: AsyncDriver, settings: Settings) -> GraphReader:
        """A reader with the configured database, timeouts and per-request cap."""
        return cls(driver, settings.neo4j_database, settings.read_timeout_s, settings.reads_per_request,
                   report_timeout_s=settings.report_timeout_s)

    def timeout_for(self, query: NamedQuery) -> float:
        """The read timeout of a query: the report timeout (ITAM_REPORT_TIMEOUT_S) for whole-estate reports,
        else the short one (ITAM_READ_TIMEOUT_S), each as set, so the error names the setting that applied."""
        return self.report_timeout_s if query.is_report else self.timeout_s

    async def rows(self, query: NamedQuery, **params: Any) -> list[dict[str, Any]]:
        if self._gate is None:
            return await self._rows(query, params)
        async with self._gate:
            return await self._rows(query, params)

    async def _rows(self, query: NamedQuery, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            try:
                return await self._read(query, params)
            except (ServiceUnavailable, SessionExpired):
                return await self._read(query, params)      # a fresh connection, if the database is back
        except (ServiceUnavailable, SessionExpired):
            raise DatabaseUnavailable("the graph database is not answering; try again when it is back "
                                      "(itam db status)") from None
        except ClientError as exc:
            if "TransactionTimedOut" in (exc.code or ""):
                setting = "ITAM_REPORT_TIMEOUT_S" if query.is_report else "ITAM_READ_TIMEOUT_S"
                raise ReadTimedOut(f"query {query.name!r} ran longer than {self.timeout_for(query):g} s and was "
                                   f"stopped ({setting})") from None
            raise
        finally:
            self.active -= 1

    async def _read(self, query: NamedQuery, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One attempt: one statement in its own auto-commit transaction, with the timeout. One round trip
        (RUN and PULL together), where an explicit transaction takes three (BEGIN, RUN and PULL, COMMIT):
        a responder's host query is two statements, so six round trips became two."""
        async with self.driver.session(database=self.database, default_access_mode=READ_ACCESS) as session:
            result = await session.run(Query(query.cypher, timeout=self.timeout_for(query)), params)
            return [native(record.data()) async for record in result]


PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def native(value: Any) -> Any:
    """Neo4j temporal values as Python date/datetime, recursively through lists and maps (plain values
    are passed over without a call: a findings evaluation converts half a million of them)."""
    if type(value) in PLAIN_TYPES:
        return value
    if isinstance(value, dict):
        return {k: v if type(v) in PLAIN_TYPES else native(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if type(v) in PLAIN_TYPES else native(v) for v in value]
    to_native = getattr(value, "to_native", None)
    return to_native() if to_native else value


class GraphWriter(GraphReader):
    """Runs catalogue statements that change the graph: one write transaction per call, in which
    `work(tx)` runs them with `run`; the driver retries the whole transaction on transient errors."""

    async def write(self, work):
        async with self.driver.session(database=self.database) as session:
            return await session.execute_write(work)


async def run(tx, query: NamedQuery, **params: Any) -> list[dict[str, Any]]:
    """One catalogue statement inside the caller's transaction, rows as plain data."""
    result = await tx.run(query.cypher, params)
    return [native(record.data()) async for record in result]

