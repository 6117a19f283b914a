"""Operational questions: what identity resolution refused to merge, and what each ingest did."""
from __future__ import annotations

from queries.catalog import GraphReader, named

OPEN_CONFLICTS = named(
    "open_conflicts", "reconciliation",
    "Records identity resolution could not merge with confidence, newest first: the record, and each asset "
    "involved (the one the record landed on, role 'record', and the others holding its identifiers) with "
    "its sources and identifiers.",
    """
MATCH (c:Conflict {status: 'open'})
RETURN c.id AS id, c.source AS source, c.record AS record, c.reason AS reason,
       c.identifiers AS identifiers, c.last_seen AS last_seen, c.status AS status,
       [(c)-[r:INVOLVES]->(a:Asset) | {id: a.id, name: a.name, role: coalesce(r.role, 'candidate'),
                                       sources: [(a)-[:SEEN_BY]->(s:Source) | s.name],
                                       identifiers: [(i:Identifier)-[:IDENTIFIES]->(a) | i.key]}] AS assets
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


INGEST_RUNS_PAGE = named(
    "ingest_runs_page", "operations",
    "Ingest runs, newest first, by source and status, keyset-paged on (started, id).",
    """
MATCH (r:IngestRun)
WHERE ($source IS NULL OR r.source = $source) AND ($status IS NULL OR r.status = $status)
  AND ($after_started IS NULL OR r.started < $after_started OR (r.started = $after_started AND r.id < $after_id))
RETURN r {.*} AS run
ORDER BY r.started DESC, r.id DESC
LIMIT $limit
""")

INGEST_RUN = named(
    "ingest_run", "operations",
    "One ingest run by id: status and counts.",
    "MATCH (r:IngestRun {id: $id}) USING INDEX SEEK r:IngestRun(id) RETURN r {.*} AS run")


async def ingest_runs_page(reader: GraphReader, source: str | None, status: str | None, limit: int,
                           after: tuple | None = None) -> list[dict]:
    """Runs newest first after a (started, id) keyset position; `limit` rows at most."""
    after_started, after_id = after or (None, None)
    return [row["run"] for row in await reader.rows(INGEST_RUNS_PAGE, source=source, status=status, limit=limit,
                                                    after_started=after_started, after_id=after_id)]


async def ingest_run(reader: GraphReader, run_id: str) -> dict | None:
    rows = await reader.rows(INGEST_RUN, id=run_id)
    return rows[0]["run"] if rows else None
