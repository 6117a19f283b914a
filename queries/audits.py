"""Inventory audits: when each asset was last physically audited, when the next audit is due, what
discovery says about its presence, and the audit report's verdict (verified, unverified, missing).

Intervals come from the ITAM policy (queries/policy.py: default 12 months, per category). A discovery
sighting within `presence_days` is evidence of presence; a physical audit within the interval is the
other. An asset in use (deployment or maintenance) with neither is missing: expected, yet found by no
source. One in stock or retired with neither is unverified.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from neo4j import AsyncDriver

from queries.catalog import GraphReader, named
from queries.history import record_mutation

RETIRED = "['decommissioned', 'disposed']"
# The physical audit of record: the newer of the inventory's last audit date and one recorded here.
LAST_AUDIT = ("CASE WHEN a.audited_at IS NOT NULL AND (a.last_audit IS NULL OR date(a.audited_at) > a.last_audit) "
              "THEN date(a.audited_at) ELSE a.last_audit END")
INTERVAL = ("coalesce(CASE WHEN a.category IS NULL THEN null ELSE $category_months[a.category] END, "
            "$interval_months)")

# Hosts the inventory of record lists (current sighting by an inventory source), one row each.
INVENTORY_AUDITS = f"""
MATCH (src:Source) WHERE src.role = 'inventory'
MATCH (src)<-[seen:SEEN_BY]-(a:Asset:Host)
WHERE coalesce(seen.current, true)
WITH DISTINCT a
WITH a, {LAST_AUDIT} AS last_audit, {INTERVAL} AS interval,
     COLLECT {{ MATCH (a)-[d:SEEN_BY]->(s:Source) WHERE s.role = 'discovery' RETURN [d.last_seen, s.name]
               ORDER BY d.last_seen DESC LIMIT 1 }}[0] AS newest
WITH a, last_audit, interval, newest[0] AS last_discovery, newest[1] AS discovered_by,
     last_audit + duration({{months: interval}}) AS next_due
WITH a, last_audit, interval, last_discovery, discovered_by, next_due,
     last_audit IS NOT NULL AND next_due >= $today AS audit_current,
     last_discovery IS NOT NULL AND date(last_discovery) >= $today - duration({{days: $presence_days}}) AS present
"""

AUDIT_REPORT = named(
    "audit_report", "audits",
    "Every host in the inventory of record: last physical audit, next due, last discovery evidence, and "
    "status verified (current audit or recent discovery), missing (in use, neither) or unverified.",
    INVENTORY_AUDITS + """
RETURN a.id AS id, a.asset_tag AS asset_tag, a.name AS name, a.category AS category,
       a.lifecycle_stage AS stage, a.location AS location, last_audit, interval AS interval_months, next_due,
       a.audited_by AS audited_by, a.audit_location AS audit_location, a.audit_note AS audit_note,
       last_discovery, discovered_by,
       CASE WHEN audit_current OR present THEN 'verified'
            WHEN coalesce(a.lifecycle_stage, '') IN ['deployment', 'maintenance'] THEN 'missing'
            ELSE 'unverified' END AS status,
       CASE WHEN last_audit IS NULL THEN 'never audited'
            WHEN next_due < $today THEN 'overdue'
            WHEN next_due <= $today + duration({days: $due_within_days}) THEN 'due'
            ELSE 'current' END AS due
ORDER BY a.asset_tag, a.id
""")

AUDIT_OVERDUE = named(
    "audit_overdue", "audits",
    "Hosts in the inventory of record, not retired, never audited or whose next audit date has passed; one row "
    "per asset. Never audited counts as due.",
    INVENTORY_AUDITS + f"""
WITH a, last_audit, interval, next_due
WHERE NOT coalesce(a.lifecycle_stage, '') IN {RETIRED} AND (last_audit IS NULL OR next_due < $today)
RETURN coalesce(a.asset_tag, a.name, a.id) AS subject, [a.id] AS asset_ids,
       CASE WHEN last_audit IS NULL THEN ['never audited (interval ' + toString(interval) + ' months)']
            ELSE ['last audited ' + toString(last_audit) + ', due ' + toString(next_due) + ' (interval '
                  + toString(interval) + ' months)'] END AS evidence
""")

INVENTORY_HOST_COUNT = named(
    "inventory_host_count", "audits",
    "Hosts the inventory of record lists (the denominator of audit figures).",
    """
MATCH (src:Source) WHERE src.role = 'inventory'
MATCH (src)<-[seen:SEEN_BY]-(a:Asset:Host)
WHERE coalesce(seen.current, true)
RETURN count(DISTINCT a) AS count
""")

RECORD_AUDIT = named(
    "record_audit", "audits (write)",
    "Record a physical audit of the asset with this tag: when, by whom, where, with a note. Writes nothing "
    "when no asset has the tag.",
    """
MATCH (i:Identifier {key: $key})-[:IDENTIFIES]->(a:Asset) USING INDEX SEEK i:Identifier(key)
SET a.audited_at = $at, a.audited_by = $actor, a.audit_location = $location, a.audit_note = $note
RETURN a.id AS id, a.name AS name, a.asset_tag AS asset_tag
""")


class UnknownAsset(LookupError):
    """No asset has the given tag; nothing was written."""


@dataclass(frozen=True)
class RecordedAudit:
    id: str
    name: str | None
    asset_tag: str | None
    audited_at: datetime
    audited_by: str
    location: str | None
    note: str | None


async def record_audit(driver: AsyncDriver, database: str, asset_tag: str, actor: str,
                       location: str | None = None, note: str | None = None,
                       at: datetime | None = None) -> RecordedAudit:
    """Record a physical audit by asset tag; UnknownAsset (nothing written) if no asset has the tag."""
    tag = asset_tag.strip().upper()
    if not tag:
        raise UnknownAsset("an asset tag is required")
    at = at or datetime.now(timezone.utc)
    params = {"key": f"asset_tag:{tag}", "at": at, "actor": actor, "location": location, "note": note}

    async def work(tx):
        rows = [r.data() async for r in await tx.run(RECORD_AUDIT.cypher, params)]
        if len(rows) != 1:
            raise UnknownAsset(f"no asset has the asset tag {tag!r}; nothing was recorded")
        await record_mutation(tx, "audit_recorded", actor, at, [rows[0]["id"]], field="audit", subject=location,
                              after=note)       # the change log says who audited it
        return rows[0]
    async with driver.session(database=database) as session:
        row = await session.execute_write(work)
    return RecordedAudit(row["id"], row["name"], row["asset_tag"], at, actor, location, note)


async def audit_report(reader: GraphReader, today: date, policy) -> list[dict[str, Any]]:
    """The audit report rows, sorted by asset tag."""
    return await reader.rows(AUDIT_REPORT, today=today, due_within_days=policy.due_within_days,
                             **policy.audit_params())


