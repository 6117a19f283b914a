"""Every question the product answers, as a named, documented unit of Cypher.

The API and the CLI call these; neither writes Cypher of its own. `itam queries` lists them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neo4j import AsyncDriver


@dataclass(frozen=True)
class NamedQuery:
    name: str
    category: str
    description: str
    cypher: str


CATALOG: dict[str, NamedQuery] = {}


def named(name: str, category: str, description: str, cypher: str) -> NamedQuery:
    """Declare a query in the catalogue (names are unique)."""
    if name in CATALOG:
        raise ValueError(f"query {name!r} declared twice")
    CATALOG[name] = query = NamedQuery(name, category, description, cypher.strip())
    return query


class GraphReader:
    """Runs catalogue queries read-only, one short session per call (sessions are not shared
    between concurrent coroutines; the driver pools the connections)."""

    def __init__(self, driver: AsyncDriver, database: str = "neo4j"):
        self.driver = driver
        self.database = database

    async def rows(self, query: NamedQuery, **params: Any) -> list[dict[str, Any]]:
        async def work(tx):
            result = await tx.run(query.cypher, params)
            return [native(record.data()) async for record in result]
        async with self.driver.session(database=self.database) as session:
            return await session.execute_read(work)


def native(value: Any) -> Any:
    """Neo4j temporal values as Python date/datetime, recursively through lists and maps."""
    if isinstance(value, dict):
        return {k: native(v) for k, v in value.items()}
    if isinstance(value, list):
        return [native(v) for v in value]
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

