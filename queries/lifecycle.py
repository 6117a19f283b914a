"""Lifecycle: the recorded stage (the inventory's status label), the effective stage evidence shows, and
the standards each stage must meet, as named checks with evidence. An asset is held to the standards of
both its recorded and its effective stage: a host recorded as decommissioned but still answering must
meet the decommissioning standard and, being in use in fact, the deployment one.

The standards are data (STANDARDS, STAGE_STANDARDS, REQUIRED_CONTROLS below); the checks themselves are
one Cypher expression each, evaluated in one query for any number of assets. Not here yet: "an OS that is
not end-of-life" (deployment) waits for the end-of-life matcher.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from queries.audits import INTERVAL, LAST_AUDIT, RETIRED
from queries import control_policy
from queries.catalog import GraphReader, named

# ------------------------------------------------------------------------------------ standards (data)

# Each stage's standard, as named checks (the Cypher for each name is in PASSED and EVIDENCE_OF below).
STANDARDS: dict[str, tuple[str, ...]] = {
    "procurement": ("order-number-recorded", "cost-recorded", "vendor-recorded", "warranty-recorded"),
    "deployment": ("active-owner", "required-controls", "os-not-end-of-life", "in-inventory"),
    "maintenance": ("under-warranty-or-support", "audited-within-interval", "recent-check-in"),
    "decommissioning": ("no-activity-after-decommission", "credentials-revoked", "seats-reclaimed"),
}
# Which standards an asset in each (effective) stage must meet: a deployed asset is also maintained.
STAGE_STANDARDS: dict[str, tuple[str, ...]] = {
    "procurement": ("procurement",),
    "deployment": ("procurement", "deployment", "maintenance"),
    "maintenance": ("procurement", "maintenance"),
    "decommissioned": ("decommissioning",),
    "disposed": ("decommissioning",),
}

# Required control categories per host type: the same table the `missing-control` rule reads
# (queries/control_policy.py), so a lifecycle check and a finding never disagree.
REQUIRED_CONTROLS = control_policy.REQUIRED_CONTROLS

# ------------------------------------------------------------------------------------- the checks

# What is known about one asset `a`, gathered once; every check reads these.
# An asset has about 30 relationships, under Neo4j's dense-node threshold (50), so each typed expansion
# walks all of them: the seats, credentials and last address sighting that only retired assets' checks
# read are gathered for those alone (the filter on `a` runs before the expansion).
# Findings are reached from the asset, with no label or index to start from (what else INVOLVEs an
# asset is a Conflict, which has no `rule`):
# planned while an evaluation was writing its first findings, `(f:Finding {rule: ...})` was sought by
# index once per asset, and the lifecycle rule took minutes instead of a second.
EVIDENCE = f"""
WITH a, {LAST_AUDIT} AS last_audit, {INTERVAL} AS interval,
  [(p:Person)-[:OWNS]->(a) | {{email: p.email, end_date: p.end_date,
      active: coalesce(p.active, true) AND (p.end_date IS NULL OR p.end_date > $today)}}] AS owners,
  [(a)-[s:SEEN_BY]->(src:Source) | {{source: src.name, role: src.role, last_seen: s.last_seen,
      current: coalesce(s.current, true)}}] AS sightings,
  [(c:Control)-[r:PROTECTS|MONITORS|MANAGES]->(a) | {{category: c.category, last_seen: r.last_seen,
      current: coalesce(r.current, true)}}] AS controls,
  [(k:Contract)-[:COVERS]->(a) WHERE (k.start IS NULL OR k.start <= $today) AND (k.end IS NULL OR k.end >= $today)
      | k.reference + coalesce(' until ' + toString(k.end), '')] AS support,
  [(a)<-[:INVOLVES]-(f) WHERE f.rule = 'eol-os' AND f.status = 'OPEN' AND f.severity <> 'low'
      | f.subject + ': ' + coalesce(f.evidence[0], 'end of life')] AS eol_os,
  COLLECT {{ MATCH (l:License)-[:ASSIGNED_TO]->(a) WHERE a.lifecycle_stage IN {RETIRED} RETURN l.name }} AS seats,
  COLLECT {{
    CALL (a) {{      // a credential on the asset, or naming it; each once
      MATCH (c:Credential)-[:STORED_ON|GRANTS_ACCESS_TO]->(a) WHERE a.lifecycle_stage IN {RETIRED} RETURN c
      UNION
      MATCH (c:Credential)-[:NAMES]->(:Identifier)-[:IDENTIFIES]->(a) WHERE a.lifecycle_stage IN {RETIRED} RETURN c
    }}
    WITH c WHERE coalesce(c.active, true) AND (c.not_after IS NULL OR date(c.not_after) >= $today)
    RETURN coalesce(c.name, c.kind + ' ' + c.fingerprint) }} AS live_credentials,
  COLLECT {{ MATCH (a)-[h:HAS_IP]->(:IPAddress) WHERE a.decommissioned_on IS NOT NULL
      RETURN h.last_seen ORDER BY h.last_seen DESC LIMIT 1 }}[0] AS last_ip
WITH *, reduce(m = null, s IN sightings | CASE WHEN s.role = 'discovery' AND (m IS NULL OR s.last_seen > m)
                                               THEN s.last_seen ELSE m END) AS last_discovery,
        reduce(m = null, c IN controls | CASE WHEN m IS NULL OR c.last_seen > m THEN c.last_seen ELSE m END)
          AS last_control,
        coalesce($required_controls[coalesce(a.host_type, 'other')], []) AS required
WITH *, CASE WHEN last_control IS NOT NULL AND (last_discovery IS NULL OR last_control > last_discovery)
             THEN last_control ELSE last_discovery END AS last_check_in,
        [x IN [last_discovery, last_ip, last_control] WHERE x IS NOT NULL
              AND a.decommissioned_on IS NOT NULL AND date(x) > a.decommissioned_on] AS after_retirement,
        [r IN required WHERE none(c IN controls WHERE c.category = r AND c.current)] AS missing_controls
WITH *, last_check_in IS NOT NULL AND date(last_check_in) >= $today - duration({{days: $check_in_days}}) AS reporting
WITH *, CASE
      WHEN coalesce(a.lifecycle_stage, '') IN {RETIRED}
           AND (size(after_retirement) > 0 OR (a.decommissioned_on IS NULL AND reporting)) THEN 'deployment'
      WHEN a.lifecycle_stage = 'procurement' AND any(o IN owners WHERE o.active) AND reporting THEN 'deployment'
      ELSE a.lifecycle_stage END AS effective
"""

# Whether each check passes: cheap booleans, computed for every asset.
PASSED = """
{
  `order-number-recorded`: a.order_number IS NOT NULL,
  `cost-recorded`: a.purchase_cost IS NOT NULL,
  `vendor-recorded`: a.supplier IS NOT NULL,
  `warranty-recorded`: a.warranty_end IS NOT NULL,
  `active-owner`: any(o IN owners WHERE o.active),
  `required-controls`: size(missing_controls) = 0,
  `os-not-end-of-life`: size(eol_os) = 0,
  `in-inventory`: any(s IN sightings WHERE s.role = 'inventory' AND s.current),
  `under-warranty-or-support`: coalesce(a.warranty_end >= $today, false) OR size(support) > 0,
  `audited-within-interval`: last_audit IS NOT NULL AND last_audit + duration({months: interval}) >= $today,
  `recent-check-in`: reporting,
  `no-activity-after-decommission`: size(after_retirement) = 0,
  `credentials-revoked`: size(live_credentials) = 0,
  `seats-reclaimed`: size(seats) = 0
} AS passed
"""

# A check's evidence, for the check named `name`: a CASE evaluates only its own branch, so the strings
# are built only for the checks a query lists (the findings rule lists failed ones only).
EVIDENCE_OF = """CASE name
  WHEN 'order-number-recorded' THEN coalesce('order ' + a.order_number, 'no order number in the inventory')
  WHEN 'cost-recorded' THEN coalesce('cost ' + toString(a.purchase_cost), 'no purchase cost in the inventory')
  WHEN 'vendor-recorded' THEN coalesce('supplier ' + a.supplier, 'no supplier in the inventory')
  WHEN 'warranty-recorded' THEN coalesce('warranty until ' + toString(a.warranty_end), 'no warranty in the inventory')
  WHEN 'active-owner' THEN CASE WHEN size(owners) = 0 THEN 'no owner'
      ELSE substring(reduce(t = '', own IN owners | t + '; ' + own.email
           + CASE WHEN own.active THEN ' (active)' ELSE ' left' + coalesce(' on ' + toString(own.end_date), '') END), 2)
      END
  WHEN 'required-controls' THEN CASE
      WHEN size(required) = 0 THEN 'no controls required for host type ' + coalesce(a.host_type, 'other')
      WHEN size(missing_controls) = 0 THEN 'has ' + substring(reduce(t = '', req IN required | t + ', ' + req), 2)
      ELSE 'no current ' + substring(reduce(t = '', req IN missing_controls | t + ', ' + req), 2) END
  WHEN 'os-not-end-of-life' THEN CASE WHEN size(eol_os) = 0 THEN 'no open eol-os finding' ELSE eol_os[0] END
  WHEN 'in-inventory' THEN CASE WHEN any(s IN sightings WHERE s.role = 'inventory' AND s.current)
      THEN 'listed by ' + head([s IN sightings WHERE s.role = 'inventory' AND s.current | s.source])
      ELSE 'in no inventory of record' END
  WHEN 'under-warranty-or-support' THEN CASE
      WHEN coalesce(a.warranty_end >= $today, false) THEN 'warranty until ' + toString(a.warranty_end)
      WHEN size(support) > 0 THEN 'support contract ' + support[0]
      ELSE 'no warranty' + coalesce(' since ' + toString(a.warranty_end), '') + ' and no live support contract' END
  WHEN 'audited-within-interval' THEN CASE WHEN last_audit IS NULL THEN 'never audited'
      ELSE 'last audited ' + toString(last_audit) + ', due ' + toString(last_audit + duration({months: interval})) END
  WHEN 'recent-check-in' THEN CASE WHEN last_check_in IS NULL THEN 'no agent, control or discovery check-in'
      ELSE 'last check-in ' + toString(date(last_check_in)) END
  WHEN 'no-activity-after-decommission' THEN CASE
      WHEN size(after_retirement) = 0 THEN 'not seen after ' + coalesce(toString(a.decommissioned_on), 'retirement')
      ELSE 'decommissioned on ' + toString(a.decommissioned_on) + ' yet seen on '
           + toString(date(reduce(m = null, x IN after_retirement | CASE WHEN m IS NULL OR x > m THEN x ELSE m END)))
      END
  WHEN 'credentials-revoked' THEN CASE WHEN size(live_credentials) = 0 THEN 'no live credential'
      ELSE 'still valid: ' + substring(reduce(t = '', cred IN live_credentials | t + ', ' + toString(cred)), 2) END
  WHEN 'seats-reclaimed' THEN CASE WHEN size(seats) = 0 THEN 'no licence seat'
      ELSE 'holds seats of ' + substring(reduce(t = '', seat IN seats | t + ', ' + seat), 2) END
END"""

# The standards an asset is held to: its recorded stage's, then its effective stage's not yet listed.
STANDARDS_HELD = """
WITH *, coalesce($stage_standards[a.lifecycle_stage], []) AS recorded_standards,
        coalesce($stage_standards[effective], []) AS effective_standards
WITH *, recorded_standards + [s IN effective_standards WHERE NOT s IN recorded_standards] AS standards
"""

SINCE = """
WITH *, CASE WHEN effective <> a.lifecycle_stage AND a.lifecycle_stage IN ['decommissioned', 'disposed']
              THEN date(last_check_in)
          WHEN effective <> a.lifecycle_stage THEN date(COLLECT { MATCH (a)-[s:SEEN_BY]->(x:Source)
              WHERE x.role = 'discovery' RETURN s.first_seen ORDER BY s.first_seen LIMIT 1 }[0])
          WHEN effective IN ['decommissioned', 'disposed'] THEN a.decommissioned_on
          WHEN effective = 'procurement' THEN a.purchase_date
          ELSE coalesce(a.purchase_date, date(COLLECT { MATCH (a)-[s:SEEN_BY]->(:Source) RETURN s.first_seen
              ORDER BY s.first_seen LIMIT 1 }[0])) END AS since
"""

ASSET_LIFECYCLE = named(
    "asset_lifecycle", "lifecycle",
    "Recorded and effective lifecycle stage of assets by id, since when, and every check of the standards "
    "of the effective stage with its evidence.",
    "UNWIND $ids AS id\nMATCH (a:Asset {id: id}) USING INDEX SEEK a:Asset(id)\n" + EVIDENCE + "WITH *, " + PASSED + STANDARDS_HELD + SINCE + """
WITH a, effective, since, reduce(flat = [], stage IN standards | flat + [name IN $standards[stage] |
       {name: name, stage: stage, passed: passed[name], evidence: """ + EVIDENCE_OF + """}]) AS checks
RETURN a.id AS id, a.lifecycle_stage AS recorded, effective, since, checks
""")

LIFECYCLE_STANDARD = named(
    "lifecycle_standard", "lifecycle",
    "Every failed check of a lifecycle standard, one row per asset and check (subject 'TAG: check'), unordered: "
    "findings are listed by id.",
    """
MATCH (src:Source) WHERE src.role IN ['inventory', 'cloud']
MATCH (src)<-[:SEEN_BY]-(a:Asset)
WITH DISTINCT a
""" + EVIDENCE + "WITH *, " + PASSED + STANDARDS_HELD + """
UNWIND standards AS stage
UNWIND $standards[stage] AS name
WITH * WHERE NOT passed[name]
WITH a, effective, {name: name, stage: stage, evidence: """ + EVIDENCE_OF + """} AS check
RETURN coalesce(a.asset_tag, a.name, a.id) + ': ' + check.name AS subject, [a.id] AS asset_ids,
       [check.stage + ' standard (' + coalesce(a.lifecycle_stage, 'no stage') + ' recorded, ' + effective
        + ' in fact): ' + check.evidence] AS evidence, check.name AS check
""")


def lifecycle_params(today: date, policy) -> dict[str, Any]:
    """Everything the lifecycle queries take besides the ids: the standards as data and the policy."""
    return {"today": today, "standards": {k: list(v) for k, v in STANDARDS.items()},
            "stage_standards": {k: list(v) for k, v in STAGE_STANDARDS.items()},
            "required_controls": {k: list(v) for k, v in REQUIRED_CONTROLS.items()},
            "check_in_days": policy.check_in_days, "interval_months": policy.interval_months,
            "category_months": dict(policy.category_months)}


@dataclass
class Check:
    name: str
    stage: str
    passed: bool
    evidence: str


@dataclass
class Lifecycle:
    recorded: str | None
    effective: str | None
    since: date | None
    checks: list[Check]

    @property
    def mismatch(self) -> bool:
        return self.recorded != self.effective


async def lifecycles(reader: GraphReader, ids: list[str], today: date, policy) -> dict[str, Lifecycle]:
    """{asset id: Lifecycle} for the given ids (unknown ids are left out)."""
    rows = await reader.rows(ASSET_LIFECYCLE, ids=ids, **lifecycle_params(today, policy))
    return {r["id"]: Lifecycle(r["recorded"], r["effective"], r["since"], [Check(**c) for c in r["checks"]])
            for r in rows}
