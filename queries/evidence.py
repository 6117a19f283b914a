"""The inventory evidence report: per asset its stage (recorded and effective), owner, controls, last seen
per source, audit status and licence status; then a completeness summary, each figure with the query
that produced it. The same graph and generation time give a byte-identical report.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from queries.audits import INTERVAL, LAST_AUDIT, audit_report
from queries.catalog import GraphReader, NamedQuery, named
from queries.licensing import LIVE_LICENCE
from queries.lifecycle import lifecycles

INVENTORY_EVIDENCE = named(
    "inventory_evidence", "evidence",
    "Per host in the inventory of record: owner (and whether active), current controls, last seen per "
    "source, licence seats it holds, and per licensable product installed the licences that cover it "
    "(live or not) with the seats of each held by the host or by one of its owners.",
    f"""
MATCH (src:Source) WHERE src.role = 'inventory'
MATCH (src)<-[seen:SEEN_BY]-(a:Asset:Host)
WHERE coalesce(seen.current, true)
WITH DISTINCT a
RETURN a.id AS id,
  [(p:Person)-[:OWNS]->(a) | p.email + CASE WHEN p.active = false OR p.end_date <= $today THEN ' (left)' ELSE '' END]
    AS owners,
  [(c:Control)-[r:PROTECTS|MONITORS|MANAGES]->(a) WHERE coalesce(r.current, true) | c.category + ':' + c.name]
    AS controls,
  [(a)-[s:SEEN_BY]->(x:Source) | x.name + '=' + toString(date(s.last_seen))] AS last_seen,
  [(l:License)-[:ASSIGNED_TO]->(a) | l.name] AS seats,
  // a seat assigned to the host is a per-device seat, one assigned to its owner a per-user seat
  [(a)-[:INSTALLED]->(s:Software {{licensable: true}}) | {{product: coalesce(s.product, s.name),
     licences: [(l:License)-[:COVERS]->(s) | {{name: l.name, live: {LIVE_LICENCE},
                 device_seat: EXISTS {{ (l)-[:ASSIGNED_TO]->(a) }},
                 user_seats: [(l)-[:ASSIGNED_TO]->(p:Person)-[:OWNS]->(a) | p.email]}}]}}] AS licensable
""")

LATEST_RUNS = named(
    "latest_ingest_runs", "evidence",
    "The newest finished ingest run of each source: what a report reflects.",
    """
MATCH (r:IngestRun) WHERE r.status = 'succeeded'
WITH r.source AS source, r ORDER BY r.started DESC
WITH source, collect(r)[0] AS r
RETURN source, r.id AS id, r.finished AS finished
ORDER BY source
""")

# The population every completeness figure is a share of: hosts the inventory lists, not retired.
POPULATION = """
MATCH (src:Source) WHERE src.role = 'inventory'
MATCH (src)<-[seen:SEEN_BY]-(a:Asset:Host)
WHERE coalesce(seen.current, true) AND NOT coalesce(a.lifecycle_stage, '') IN ['decommissioned', 'disposed']
WITH DISTINCT a
"""


def _figure(name: str, description: str, condition: str) -> NamedQuery:
    return named(f"completeness_{name}", "evidence", description,
                 POPULATION + f"RETURN count(a) AS total, count(CASE WHEN {condition} THEN a END) AS meeting")


COMPLETENESS = {
    "active owner": _figure("active_owner", "Share of in-service inventory hosts with an active owner.",
                            "EXISTS { MATCH (p:Person)-[:OWNS]->(a) WHERE coalesce(p.active, true) "
                            "AND (p.end_date IS NULL OR p.end_date > $today) }"),
    "EDR": _figure("edr", "Share of in-service inventory hosts an EDR currently protects.",
                   "EXISTS { MATCH (c:Control {category: 'edr'})-[r:PROTECTS]->(a) WHERE coalesce(r.current, true) }"),
    "current audit": _figure("current_audit", "Share of in-service inventory hosts audited within their interval.",
                             f"({LAST_AUDIT}) + duration({{months: {INTERVAL}}}) >= $today"),
    "known location": _figure("known_location", "Share of in-service inventory hosts with a known location.",
                              "a.location IS NOT NULL"),
}


@dataclass
class EvidenceReport:
    generated_at: datetime
    today: date
    runs: list[dict[str, Any]]
    assets: list[dict[str, Any]]
    completeness: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"generated_at": self.generated_at, "as_of": self.today, "ingest_runs": self.runs,
                "assets": self.assets, "completeness": self.completeness}


# The statuses of a host's licensable products, worst first, in the order the licence column lists them.
LICENCE_STATUSES = ("unlicensed", "lapsed", "no seat", "covered")


def product_status(covering: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """One installed licensable product's status and the licences it names, from the licences covering it
    (`name`, `live`, `device_seat`: the host holds a seat, `user_seats`: owners of the host holding one)."""
    live = [lic for lic in covering if lic["live"]]
    held = [lic for lic in live if lic["device_seat"] or lic["user_seats"]]
    if not covering:
        return "unlicensed", []
    if not live:
        return "lapsed", sorted({lic["name"] for lic in covering})
    if not held:
        return "no seat", sorted({lic["name"] for lic in live})
    return "covered", sorted({lic["name"] if lic["device_seat"]
                              else lic["name"] + " via " + " and ".join(sorted(set(lic["user_seats"])))
                              for lic in held})


def licence_status(installed: list[dict[str, Any]], seats: list[str]) -> str:
    """The licence column of one host, from its licensable installs (`product`, `licences` covering it)
    and the names of the licences with a seat assigned to the host.

    Per product: `unlicensed` (no licence covers it: the rule of `unlicensed_installs`), `lapsed` (only
    licences no longer live cover it), `no seat` (live licences cover it, but neither the host nor an owner
    of it holds a seat of one) or `covered` (the host holds a seat of a live covering licence, or an owner
    does: `via` the owner). Then `other seats`: seats the host holds of licences covering nothing
    licensable installed on it. "none needed" when nothing licensable is installed.
    """
    covering: dict[str, list[dict[str, Any]]] = {}
    for install in installed:              # one product may be installed under several names
        covering.setdefault(install["product"], []).extend(install["licences"])
    groups: dict[str, list[str]] = {status: [] for status in LICENCE_STATUSES}
    for product, licences in sorted(covering.items()):
        status, names = product_status(licences)
        groups[status].append(f"{product} (licence: {', '.join(names)})" if names else product)
    parts = [f"{status}: {', '.join(products)}" for status, products in groups.items() if products]
    other = sorted(set(seats) - {lic["name"] for licences in covering.values() for lic in licences})
    return "; ".join((parts or ["none needed"]) + ([f"other seats: {', '.join(other)}"] if other else []))


async def inventory_report(reader: GraphReader, today: date, generated_at: datetime, policy) -> EvidenceReport:
    """The evidence report; everything sorted, so the same graph gives the same report."""
    audits = await audit_report(reader, today, policy)
    evidence = {r["id"]: r for r in await reader.rows(INVENTORY_EVIDENCE, today=today)}
    stages = await lifecycles(reader, [a["id"] for a in audits], today, policy)
    assets = []
    for audit in audits:
        found, stage = evidence.get(audit["id"], {}), stages.get(audit["id"])
        assets.append({
            "asset_tag": audit["asset_tag"], "name": audit["name"], "recorded_stage": audit["stage"],
            "effective_stage": stage.effective if stage else audit["stage"],
            "owner": "; ".join(sorted(found.get("owners", []))),
            "controls": "; ".join(sorted(found.get("controls", []))),
            "last_seen": "; ".join(sorted(found.get("last_seen", []))),
            "last_audit": audit["last_audit"], "next_audit_due": audit["next_due"], "audit_status": audit["status"],
            "licence_status": licence_status(found.get("licensable", []), found.get("seats", []))})
    figures = []
    for label, query in COMPLETENESS.items():
        row = (await reader.rows(query, today=today, **policy.audit_params()))[0]
        share = round(100.0 * row["meeting"] / row["total"], 1) if row["total"] else 0.0
        figures.append({"figure": label, "meeting": row["meeting"], "total": row["total"], "percent": share,
                        "query": query.name, "cypher": query.cypher})
    runs = [{"source": r["source"], "id": r["id"], "finished": r["finished"]} for r in await reader.rows(LATEST_RUNS)]
    return EvidenceReport(generated_at, today, runs, assets, figures)
