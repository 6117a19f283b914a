"""The ITAM rules, ready for the findings engine: each a read-only catalogue query returning one row per
subject with `subject`, `asset_ids` (list) and `evidence` (list of strings), parameterised by `$today`
and thresholds, with a count query giving the denominator (`scope`, `total`: how many subjects were examined).
`queries/rules.py` registers them with the findings engine, which tracks their findings.

The engine that tracks findings registers these; until then `itam queries` lists them and the tests run
each directly against Neo4j.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from queries.audits import AUDIT_OVERDUE
from queries.catalog import NamedQuery, named
from queries.licensing import EVIDENCE_LINES, RECLAIMABLE_SEATS, SHORTFALL, UNLICENSED_INSTALLS
from queries.lifecycle import LIFECYCLE_STANDARD, REQUIRED_CONTROLS, STAGE_STANDARDS, STANDARDS
from queries.policy import Policy


@dataclass(frozen=True)
class ItamRule:
    id: str
    title: str
    severity: str                       # info, low, medium, high
    category: str
    description: str
    identity: tuple[str, ...]           # row fields that keep a finding the same across runs
    query: NamedQuery
    count: NamedQuery
    params: dict[str, Any] = field(default_factory=dict)   # defaults; `today` is always given

    def parameters(self, today: date, **overrides: Any) -> dict[str, Any]:
        unknown = set(overrides) - set(self.params)
        if unknown:
            raise ValueError(f"rule {self.id} has no parameter {sorted(unknown)[0]!r}")
        return {**self.params, **overrides, "today": today}


_DEFAULTS = Policy()

INVENTORY_COUNT = named(
    "rule_count_inventory_assets", "rule denominators",
    "Assets an inventory or cloud source lists (what lifecycle standards are checked on).",
    """
MATCH (src:Source) WHERE src.role IN ['inventory', 'cloud']
MATCH (src)<-[:SEEN_BY]-(a:Asset)
RETURN null AS scope, count(DISTINCT a) AS total
""")
AUDITABLE_COUNT = named(
    "rule_count_auditable_hosts", "rule denominators",
    "Hosts the inventory of record lists, not retired (what must be audited).",
    """
MATCH (src:Source) WHERE src.role = 'inventory'
MATCH (src)<-[seen:SEEN_BY]-(a:Asset:Host)
WHERE coalesce(seen.current, true) AND NOT coalesce(a.lifecycle_stage, '') IN ['decommissioned', 'disposed']
RETURN null AS scope, count(DISTINCT a) AS total
""")
LICENSED_PRODUCTS_COUNT = named(
    "rule_count_licensed_products", "rule denominators",
    "Products with at least one licence.",
    "MATCH (l:License) WHERE l.product_key IS NOT NULL RETURN null AS scope, count(DISTINCT l.product_key) AS total")
LICENSABLE_PRODUCTS_COUNT = named(
    "rule_count_installed_licensable_products", "rule denominators",
    "Licensable products (by the normalisation table) installed somewhere.",
    """
MATCH (s:Software {licensable: true})
WHERE EXISTS { (:Asset)-[:INSTALLED]->(s) }
RETURN null AS scope, count(DISTINCT s.product_key) AS total
""")
LIVE_SEATS_COUNT = named(
    "rule_count_live_seats", "rule denominators",
    "Seats of live licences.",
    """
MATCH (l:License)
WHERE (l.expires_on IS NULL OR l.expires_on >= $today) AND (l.terminated_on IS NULL OR l.terminated_on > $today)
RETURN null AS scope, coalesce(sum(l.seats), 0) AS total
""")

RULES: dict[str, ItamRule] = {r.id: r for r in (
    ItamRule("lifecycle-standard", "Asset fails a check of its lifecycle stage's standard", "medium", "lifecycle",
             "A named check of the standard for the asset's effective stage (procurement records, active owner, "
             "required controls, inventory of record, warranty or support, audit interval, recent check-in, "
             "nothing alive after decommissioning, credentials revoked, seats reclaimed) fails.",
             ("subject",), LIFECYCLE_STANDARD, INVENTORY_COUNT,
             {"check_in_days": _DEFAULTS.check_in_days, "interval_months": _DEFAULTS.interval_months,
              "category_months": {},
              "standards": {k: list(v) for k, v in STANDARDS.items()},
              "stage_standards": {k: list(v) for k, v in STAGE_STANDARDS.items()},
              "required_controls": {k: list(v) for k, v in REQUIRED_CONTROLS.items()}}),
    ItamRule("license-shortfall", "More installs than licensed seats", "high", "licences",
             "A product is installed on more assets than its live licences and contracts entitle.",
             ("subject",), SHORTFALL, LICENSED_PRODUCTS_COUNT,
             {"product_key": None, "evidence_lines": EVIDENCE_LINES}),
    ItamRule("unlicensed-install", "Licensable software installed with no licence", "high", "licences",
             "A product the normalisation table marks licensable is installed and no licence covers it.",
             ("subject",), UNLICENSED_INSTALLS, LICENSABLE_PRODUCTS_COUNT, {"evidence_lines": EVIDENCE_LINES}),
    ItamRule("license-seat-reclaimable", "Licence seat can be reclaimed", "low", "licences",
             "A live licence seat is held by someone who left, by an asset no source has seen for "
             "not_seen_days days (or retired), or was never assigned.",
             ("subject",), RECLAIMABLE_SEATS, LIVE_SEATS_COUNT, {"not_seen_days": _DEFAULTS.not_seen_days}),
    ItamRule("audit-overdue", "Inventory audit overdue", "medium", "audits",
             "A host in the inventory of record was never physically audited, or its last audit is older than "
             "its category's interval (default 12 months).",
             ("subject",), AUDIT_OVERDUE, AUDITABLE_COUNT,
             {"interval_months": _DEFAULTS.interval_months, "category_months": {}, "presence_days": _DEFAULTS.presence_days}),
)}


def rule_parameters(rule: ItamRule, today: date, policy: Policy) -> dict[str, Any]:
    """A rule's parameters with the thresholds of the policy in force."""
    from_policy = {"check_in_days": policy.check_in_days, "interval_months": policy.interval_months,
                   "category_months": dict(policy.category_months), "not_seen_days": policy.not_seen_days,
                   "presence_days": policy.presence_days}
    return rule.parameters(today, **{k: v for k, v in from_policy.items() if k in rule.params})
