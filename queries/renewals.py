"""Renewals: contracts, licences and warranties by the date notice must be given, with their cost and
what they cover, flagging deployed assets whose only support lapses with them.

A contract's notice deadline is its end date less its notice period; a licence's and a warranty's is
their end (they carry no notice). Items whose deadline falls within `within_days` are listed, including
those already inside their notice period (deadline passed, not yet ended).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from queries.catalog import GraphReader, named

# A deployed asset loses all support when nothing else (warranty or another contract) runs past `end`.
LAPSES = """
x.lifecycle_stage = 'deployment' AND NOT coalesce(x.warranty_end > {end}, false)
AND NOT EXISTS {{ MATCH (o:Contract)-[:COVERS]->(x) WHERE o <> {item} AND (o.end IS NULL OR o.end > {end}) }}
"""

RENEWALS = named(
    "renewals", "renewals",
    "Contracts, licences and warranties whose notice deadline falls within $within_days days (or has passed "
    "while they still run), soonest first, with cost, what they cover and the deployed assets whose only "
    "support lapses with them.",
    f"""
CALL () {{
  MATCH (c:Contract) WHERE c.end IS NOT NULL AND c.end >= $today
  WITH c, c.end - duration({{days: coalesce(c.notice_days, 0)}}) AS deadline
  WHERE deadline <= $today + duration({{days: $within_days}})
  RETURN 'contract' AS kind, c.reference AS reference, c.vendor AS vendor, deadline, c.end AS ends, c.cost AS cost,
         [(c)-[:COVERS]->(x:Asset) | coalesce(x.asset_tag, x.name)] + [(c)-[:COVERS]->(l:License) | l.name] AS covers,
         [(c)-[:COVERS]->(x:Asset) WHERE {LAPSES.format(end="c.end", item="c")} | coalesce(x.asset_tag, x.name)]
           AS lapsing
  UNION
  MATCH (l:License) WHERE l.expires_on >= $today AND l.expires_on <= $today + duration({{days: $within_days}})
  RETURN 'licence' AS kind, l.name AS reference, l.vendor AS vendor, l.expires_on AS deadline, l.expires_on AS ends,
         l.purchase_cost AS cost,
         [coalesce(l.product_name, l.product) + coalesce(' (' + toString(l.seats) + ' seats)', '')]
           + [(l)-[:ASSIGNED_TO]->(x) | coalesce(x.asset_tag, x.email, x.name)] AS covers, [] AS lapsing
  UNION
  MATCH (x:Asset) WHERE x.warranty_end >= $today AND x.warranty_end <= $today + duration({{days: $within_days}})
  RETURN 'warranty' AS kind, coalesce(x.asset_tag, x.name) AS reference, coalesce(x.supplier, x.manufacturer) AS vendor,
         x.warranty_end AS deadline, x.warranty_end AS ends, null AS cost, [coalesce(x.asset_tag, x.name)] AS covers,
         [y IN [x] WHERE y.lifecycle_stage = 'deployment'
            AND NOT EXISTS {{ MATCH (o:Contract)-[:COVERS]->(y) WHERE o.end IS NULL OR o.end > y.warranty_end }}
            | coalesce(y.asset_tag, y.name)] AS lapsing
}}
RETURN kind, reference, vendor, deadline, ends, cost, covers, lapsing, deadline <= $today AS in_notice
ORDER BY deadline, kind, reference
""")


async def renewals(reader: GraphReader, today: date, within_days: int = 90) -> list[dict[str, Any]]:
    if not 0 <= within_days <= 3650:
        raise ValueError("withinDays must be between 0 and 3650")
    rows = await reader.rows(RENEWALS, today=today, within_days=within_days)
    for row in rows:            # pattern comprehensions keep no order
        row["covers"], row["lapsing"] = row["covers"][:1] + sorted(row["covers"][1:]) if row["kind"] == "licence" \
            else sorted(row["covers"]), sorted(row["lapsing"])
    return rows
