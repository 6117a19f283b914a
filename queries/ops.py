"""Operational questions: what identity resolution refused to merge, and what each ingest did."""
from __future__ import annotations

from queries.catalog import GraphReader, named

OPEN_CONFLICTS = named(
    "open_conflicts", "reconciliation",
    "Records identity resolution would not merge, newest first, with the assets they point at.",
    """
MATCH (c:Conflict {status: 'open'})
RETURN c.id AS id, c.source AS source, c.record AS record, c.reason AS reason,
       c.identifiers AS identifiers, c.last_seen AS last_seen,
       [(c)-[:INVOLVES]->(a:Asset) | {id: a.id, name: a.name}] AS assets
ORDER BY c.last_seen DESC, c.id
LIMIT $limit
""")

INGEST_RUNS = named(
    "ingest_runs", "operations",
    "Recent ingest runs with status and counts, newest first.",
    """
MATCH (r:IngestRun)
WHERE $source IS NULL OR r.source = $source
RETURN r {.*} AS run
ORDER BY r.started DESC
LIMIT $limit
""")


async def open_conflicts(reader: GraphReader, limit: int = 100) -> list[dict]:
    return await reader.rows(OPEN_CONFLICTS, limit=limit)


async def ingest_runs(reader: GraphReader, source: str | None = None, limit: int = 20) -> list[dict]:
    return [row["run"] for row in await reader.rows(INGEST_RUNS, source=source, limit=limit)]
