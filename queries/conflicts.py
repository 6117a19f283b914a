"""An administrator's answer to a conflict: the assets are one machine (merge) or not (separate).

Either answer is recorded on the conflict with who gave it and when, and a later run never
reopens it. A merge folds every asset the conflict involves into the oldest of them: each
relationship of the vocabulary moves across (the survivor's own facts win where both have one),
then the absorbed asset is deleted. The survivor then holds all their identifiers, so the records
that conflicted land on it from then on without a conflict.
"""
from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from graph.schema import RELS, installed_versions, merged_versions
from queries.catalog import GraphWriter, named, run


class ConflictAction(StrEnum):
    MERGE = "merge"
    SEPARATE = "separate"


class ConflictNotOpen(ValueError):
    """No such conflict, or it was resolved already: the message says which."""


CONFLICT = named(
    "conflict", "reconciliation",
    "One conflict's status and the assets it involves, with their roles and first sightings.",
    """
MATCH (c:Conflict {id: $id}) USING INDEX SEEK c:Conflict(id)
RETURN c.status AS status, c.resolved_by AS resolved_by,
       [(c)-[r:INVOLVES]->(a:Asset) | {id: a.id, first_seen: a.first_seen, role: r.role}] AS assets
""")

CLOSE_CONFLICT = named(
    "close_conflict", "reconciliation",
    "Record an administrator's answer on a conflict: merged or separate, by whom and when.",
    """
MATCH (c:Conflict {id: $id}) USING INDEX SEEK c:Conflict(id)
SET c.status = $status, c.resolved_by = $actor, c.resolved_at = $at, c.merged_into = $into
RETURN c.id AS id, c.status AS status, c.resolved_by AS resolved_by, c.resolved_at AS resolved_at,
       c.merged_into AS merged_into
""")

TAKE_OVER_PROPERTIES = named(
    "merge_asset_properties", "reconciliation",
    "The survivor of a merge takes the absorbed asset's properties it lacks (its own win).",
    """
MATCH (into:Asset {id: $into}), (gone:Asset {id: $gone}) USING INDEX SEEK into:Asset(id) USING INDEX SEEK gone:Asset(id)
WITH into, gone, properties(into) AS own
SET into += gone {.*, id: into.id}
SET into += own
""")

DELETE_ABSORBED = named(
    "merge_delete_absorbed", "reconciliation",
    "Delete an asset a merge absorbed, once its relationships have moved.",
    """
MATCH (gone:Asset {id: $gone}) USING INDEX SEEK gone:Asset(id)
DETACH DELETE gone
""")

# The property that keeps two relationships of one type between the same nodes apart.
_REL_KEYS = {"SEEN_BY": "scope", "INSTALLED": "source"}
# Both assets had the product from one source: the survivor's install takes the versions of both.
_MERGED_VERSIONS = f"""
WITH n, r, {merged_versions(installed_versions('n'), installed_versions('r'))} AS versions
SET n.version = coalesce(versions[-1], n.version), n.versions = CASE WHEN size(versions) > 1 THEN versions END"""


def _mover(verb: str, outgoing: bool):
    """Move every `verb` relationship of the absorbed asset to the survivor (types from the vocabulary)."""
    key = _REL_KEYS.get(verb)
    keyed = f" {{{key}: coalesce(r.{key}, '')}}" if key else ""
    pattern = f"(gone)-[r:{verb}]->(other)" if outgoing else f"(other)-[r:{verb}]->(gone)"
    merged = f"(into)-[n:{verb}{keyed}]->(other)" if outgoing else f"(other)-[n:{verb}{keyed}]->(into)"
    return named(
        f"merge_move_{verb.lower()}_{'out' if outgoing else 'in'}", "reconciliation",
        f"A merge moves the absorbed asset's {'outgoing' if outgoing else 'incoming'} {verb} relationships.",
        f"""
MATCH (into:Asset {{id: $into}}), (gone:Asset {{id: $gone}}) USING INDEX SEEK into:Asset(id) USING INDEX SEEK gone:Asset(id)
MATCH {pattern}
WHERE other <> into
MERGE {merged}
ON CREATE SET n += properties(r){_MERGED_VERSIONS if verb == "INSTALLED" else ""}
DELETE r
""")


MOVERS = [_mover(rel.verb, outgoing) for rel in RELS.values() for outgoing in (True, False)
          if "Asset" in (rel.start if outgoing else rel.end)]


async def resolve_conflict(writer: GraphWriter, conflict_id: str, action: ConflictAction, actor: str,
                           now: datetime | None = None) -> dict[str, Any]:
    """Merge or separate the assets of one open conflict, in one transaction; returns the closed conflict."""
    at = now or datetime.now(timezone.utc)

    async def work(tx) -> dict[str, Any]:
        found = await run(tx, CONFLICT, id=conflict_id)
        if not found:
            raise ConflictNotOpen(f"no conflict {conflict_id!r}")
        if found[0]["status"] != "open":
            raise ConflictNotOpen(f"conflict {conflict_id!r} is already {found[0]['status']} "
                                  f"(by {found[0]['resolved_by'] or 'an earlier run'})")
        into = None
        if action == ConflictAction.MERGE:
            # the oldest survives; on a tie, an asset that held the identifiers before the record came
            assets = sorted(found[0]["assets"],
                            key=lambda a: (str(a["first_seen"] or "~"), a["role"] == "record", a["id"]))
            if assets:
                into = assets[0]["id"]
                for gone in assets[1:]:
                    await _absorb(tx, into, gone["id"])
        status = "merged" if action == ConflictAction.MERGE else "separate"
        return (await run(tx, CLOSE_CONFLICT, id=conflict_id, status=status, actor=actor, at=at, into=into))[0]
    return await writer.write(work)


async def _absorb(tx, into: str, gone: str) -> None:
    await run(tx, TAKE_OVER_PROPERTIES, into=into, gone=gone)
    for mover in MOVERS:
        await run(tx, mover, into=into, gone=gone)
    await run(tx, DELETE_ABSORBED, gone=gone)
