"""The licence compliance position per product: entitled, assigned, installed, shortfall, reclaimable
seats, unlicensed installs, the cost of unused seats and expiry.

Licences cover installs through the normalisation table (ingest.license_matching stamps `product_key`
on licences and software), so every figure here is an index seek by product key. Every consumed unit
traces to an asset or a person and to the source that saw it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ingest.software_table import current_table, normalise
from queries.catalog import GraphReader, named

RETIRED = "['decommissioned', 'disposed']"
# An install's versions as one text ('5.14.0-70, 5.14.0-427'): a licence counts the product on the asset once.
VERSION_TEXT = "CASE WHEN i.versions IS NULL THEN i.version ELSE reduce(t = head(i.versions), v IN tail(i.versions) | " \
               "t + ', ' + v) END"
# A licence counts from purchase until it expires or is terminated.
LIVE_LICENCE = ("(l.expires_on IS NULL OR l.expires_on >= $today) "
                "AND (l.terminated_on IS NULL OR l.terminated_on > $today)")

# Products: every licensed product, and every product the table marks licensable that is installed.
PRODUCT_KEYS = """
CALL () {
  MATCH (l:License) WHERE l.product_key IS NOT NULL
  RETURN l.product_key AS key
  UNION
  MATCH (s:Software {licensable: true})
  WHERE EXISTS { (:Asset)-[:INSTALLED]->(s) }
  RETURN s.product_key AS key
}
WITH DISTINCT key WHERE $product_key IS NULL OR key = $product_key
"""
# Per product key: live licences (seats, cost, expiry), contract quantities, assignments, installs.
POSITION_BODY = PRODUCT_KEYS + f"""
CALL (key) {{
  OPTIONAL MATCH (l:License {{product_key: key}})
  RETURN collect(DISTINCT l {{.id, .name, .seats, .purchase_cost, .expires_on, .terminated_on, .product_name,
                              live: {LIVE_LICENCE}}}) AS licences
}}
CALL (key) {{
  OPTIONAL MATCH (c:Contract)-[:COVERS]->(:License {{product_key: key}})
  WHERE c.quantity IS NOT NULL AND (c.end IS NULL OR c.end >= $today) AND (c.start IS NULL OR c.start <= $today)
  WITH DISTINCT c
  RETURN coalesce(sum(c.quantity), 0) AS contracted
}}
CALL (key) {{
  OPTIONAL MATCH (l:License {{product_key: key}})-[:ASSIGNED_TO]->(holder)
  WHERE {LIVE_LICENCE}
  RETURN count(holder) AS assigned
}}
CALL (key) {{
  OPTIONAL MATCH (s:Software {{product_key: key}})<-[i:INSTALLED]-(a:Asset)
  WHERE NOT coalesce(a.lifecycle_stage, '') IN {RETIRED}
  WITH s, i, a ORDER BY a.name, a.id, s.name, i.source
  RETURN collect(DISTINCT a.id) AS asset_ids,
         [x IN collect(CASE WHEN a IS NULL THEN null ELSE {{asset_id: a.id, asset: a.name, software: s.name,
                       version: {VERSION_TEXT}, source: i.source}} END) WHERE x IS NOT NULL] AS installs,
         collect(DISTINCT s.product)[0] AS installed_as
}}
WITH key, licences, contracted, assigned, asset_ids, installs, installed_as,
     [l IN licences WHERE l.live] AS live
WITH key, licences, live, assigned, asset_ids, installs,
     coalesce(head([l IN licences | l.product_name]), installed_as, key) AS product,
     reduce(n = 0, l IN live | n + coalesce(l.seats, 0)) + contracted AS entitled
"""

LICENSE_POSITIONS = named(
    "license_positions", "licences",
    "Per licensed product (or one, by $product_key): live licences, entitled seats (licence seats plus "
    "contract quantities), assigned seats, installs (asset, software, version, source) and expiry.",
    POSITION_BODY + """
RETURN key, product, entitled, assigned, asset_ids, installs, size(licences) AS licence_count,
       [l IN live | l {.id, .name, .seats, .purchase_cost}] AS live,
       reduce(m = null, l IN live | CASE WHEN l.expires_on IS NOT NULL AND (m IS NULL OR l.expires_on < m)
                                         THEN l.expires_on ELSE m END) AS expires_on
ORDER BY product, key
""")

# Install lines a licence finding's evidence quotes; the rest are counted (a shortfall on an office suite
# involves tens of thousands of installs: quoted in full, one finding was 1.8 MB and its page took 80 ms).
EVIDENCE_LINES = 20
# The evidence lines of a list of installs ({asset, software, version, source}): the first $evidence_lines
# quoted, the rest counted.
QUOTED_INSTALLS = """[x IN installs[..$evidence_lines] | x.asset + ': ' + x.software + coalesce(' ' + x.version, '')
          + ' (' + x.source + ')']
       + CASE WHEN size(installs) > $evidence_lines
              THEN ['and ' + toString(size(installs) - $evidence_lines) + ' more installs (the finding lists every asset)']
              ELSE [] END"""

SHORTFALL = named(
    "license_shortfall", "licences",
    "Products installed on more assets than their live entitlement covers; one row per product.",
    POSITION_BODY + """
WITH key, product, entitled, asset_ids, installs WHERE size(asset_ids) > entitled
RETURN product AS subject, key AS product_key, asset_ids,
       ['entitled ' + toString(entitled) + ', installed on ' + toString(size(asset_ids)) + ' assets: shortfall '
        + toString(size(asset_ids) - entitled)]
       + QUOTED AS evidence
""".replace("QUOTED", QUOTED_INSTALLS))

UNLICENSED_INSTALLS = named(
    "unlicensed_installs", "licences",
    "Products the normalisation table marks licensable, installed with no licence at all; one row per product.",
    f"""
MATCH (s:Software {{licensable: true}})
WHERE NOT EXISTS {{ (:License)-[:COVERS]->(s) }}      // a licence covers every install of its product
MATCH (a:Asset)-[i:INSTALLED]->(s)
WHERE NOT coalesce(a.lifecycle_stage, '') IN {RETIRED}
WITH s.product AS product, s.product_key AS key, a, s, i ORDER BY a.name, a.id, s.name, i.source
WITH product, key, collect(DISTINCT a.id) AS asset_ids,
     collect({{asset_id: a.id, asset: a.name, software: s.name, version: {VERSION_TEXT}, source: i.source}}) AS installs
RETURN product AS subject, key AS product_key, asset_ids, installs, {QUOTED_INSTALLS} AS evidence
""")

RECLAIMABLE_SEATS = named(
    "reclaimable_seats", "licences",
    "Seats of live licences that can be taken back: held by people who left, by assets no source has seen "
    "for $not_seen_days days (or retired), or never assigned; one row per licence and holder.",
    f"""
MATCH (l:License)
WHERE {LIVE_LICENCE}
CALL (l) {{
  MATCH (l)-[:ASSIGNED_TO]->(p:Person)
  WHERE p.active = false OR p.end_date <= $today
  RETURN p.email AS holder, [] AS asset_ids, 1 AS seats,
         'held by ' + p.email + ', who left' + coalesce(' on ' + toString(p.end_date), '') AS reason
  UNION
  MATCH (l)-[:ASSIGNED_TO]->(a:Asset)
  OPTIONAL MATCH (a)-[s:SEEN_BY]->(src:Source) WHERE src.role IN ['discovery', 'cloud']
  WITH a, max(s.last_seen) AS seen
  WHERE coalesce(a.lifecycle_stage, '') IN {RETIRED} OR seen IS NULL
     OR date(seen) < $today - duration({{days: $not_seen_days}})
  RETURN coalesce(a.name, a.asset_tag, a.id) AS holder, [a.id] AS asset_ids, 1 AS seats,
         CASE WHEN coalesce(a.lifecycle_stage, '') IN {RETIRED}
              THEN 'on ' + a.lifecycle_stage + ' asset ' + coalesce(a.asset_tag, a.id)
              WHEN seen IS NULL THEN 'on an asset no discovery source has ever seen'
              ELSE 'on an asset not seen since ' + toString(date(seen)) END AS reason
  UNION
  WITH l WHERE l.seats IS NOT NULL
  OPTIONAL MATCH (l)-[x:ASSIGNED_TO]->()
  WITH l, count(x) AS used WHERE l.seats > used
  RETURN '(unassigned)' AS holder, [] AS asset_ids, l.seats - used AS seats,
         toString(l.seats - used) + ' of ' + toString(l.seats) + ' seats never assigned' AS reason
}}
RETURN l.name + ': ' + holder AS subject, asset_ids, [reason] AS evidence, l.id AS license, l.name AS license_name,
       l.product_key AS product_key, holder, reason, seats,
       CASE WHEN l.purchase_cost IS NULL OR coalesce(l.seats, 0) = 0 THEN 0.0
            ELSE toFloat(l.purchase_cost) / l.seats * seats END AS cost
ORDER BY subject
""")


@dataclass
class Reclaimable:
    holder: str
    reason: str
    seats: int
    license: str


@dataclass
class Install:
    asset_id: str
    asset: str | None
    software: str
    version: str | None
    source: str | None


@dataclass
class LicensePosition:
    product: str
    entitled: int
    assigned: int
    installed: int
    shortfall: int
    expires_on: date | None
    unused_cost: float
    installs: list[Install] = field(default_factory=list)
    reclaimable: list[Reclaimable] = field(default_factory=list)
    unlicensed_installs: list[Install] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "product": self.product, "entitled": self.entitled, "assigned": self.assigned,
            "installed": self.installed, "shortfall": self.shortfall,
            "reclaimable": [r.__dict__ for r in self.reclaimable],
            "unlicensed_installs": [i.__dict__ for i in self.unlicensed_installs],
            "unused_cost": self.unused_cost,
            "expires_on": self.expires_on.isoformat() if self.expires_on else None,
        }


def product_key(product: str) -> str:
    """The key a product name (or one of its aliases in the table) is matched by."""
    entry = current_table().for_licence(product)
    return entry.key if entry else normalise(product)


async def license_compliance(reader: GraphReader, today: date, product: str | None = None,
                             not_seen_days: int = 30) -> list[LicensePosition]:
    """The compliance position of every product (or one), sorted by product."""
    key = product_key(product) if product else None
    rows = await reader.rows(LICENSE_POSITIONS, today=today, product_key=key)
    reclaim = await reader.rows(RECLAIMABLE_SEATS, today=today, not_seen_days=not_seen_days)
    unlicensed = {r["product_key"]: r for r in await reader.rows(UNLICENSED_INSTALLS, today=today,
                                                                 evidence_lines=EVIDENCE_LINES)}
    positions = []
    for row in rows:
        seats = [r for r in reclaim if r["product_key"] == row["key"]]
        installs = [Install(**i) for i in row["installs"]]
        bare = row["key"] in unlicensed and row["licence_count"] == 0
        positions.append(LicensePosition(
            product=row["product"], entitled=row["entitled"], assigned=row["assigned"],
            installed=len(row["asset_ids"]), shortfall=max(0, len(row["asset_ids"]) - row["entitled"]),
            expires_on=row["expires_on"], unused_cost=round(sum(r["cost"] for r in seats), 2),
            installs=installs,
            reclaimable=[Reclaimable(r["holder"], r["reason"], r["seats"], r["license_name"]) for r in seats],
            unlicensed_installs=installs if bare else []))
    return positions
