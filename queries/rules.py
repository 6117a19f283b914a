"""The estate's standing questions, as rules: data a reader can check, like a query library.

Each rule has a stable kebab-case id, a title, a severity, a category, a description (why it
matters, how to fix it), a read-only Cypher query returning each subject with the facts its
evidence is made of, a count query for the denominator ("7 of 23 laptops"), the identity fields
that keep a finding the same across evaluations, and parameters with defaults. Every query takes
`$today` (the evaluation's date), so date rules are exact at their boundaries. `explain` turns one
row into zero or more finding drafts: the sentences a person can check, and the assets involved.
A rule whose subjects are few among many rows (end-of-life software: a few products among a million
installs) may first run a `candidates` query and `select` from its rows what the main query takes,
so the main query reads only what can become a finding (`query_parameters`).
`itam rules` lists them; a test runs EXPLAIN on every rule and count query.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Any

from graph.schema import CONTROL_VERBS, INTERNET, RETIRED_STAGES, SourceRole
from queries import eol, itam_rules
from queries.catalog import NamedQuery, named
from queries.control_policy import policy_params
from queries.policy import current_policy
from queries.verdict import UNEXPECTED, should_exist


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(frozen=True)
class Draft:
    """One finding as a rule states it; tracking adds the id, dates and status."""

    identity: tuple[str, ...]
    subject: str
    evidence: list[str]
    assets: list[str]
    severity: Severity | None = None      # None: the rule's severity


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    category: str
    description: str
    query: NamedQuery
    count: NamedQuery
    identity: tuple[str, ...]
    explain: Callable[[dict, dict], list[Draft]]
    params: dict[str, Any] = field(default_factory=dict)
    candidates: NamedQuery | None = None
    select: Callable[[list[dict], dict], dict[str, Any]] | None = None

    def parameters(self, today: date, **overrides: Any) -> dict[str, Any]:
        unknown = set(overrides) - set(self.params)
        if unknown:
            raise ValueError(f"rule {self.id} has no parameter {', '.join(sorted(unknown))}")
        return {**self.params, **overrides, "today": today}


RULES: dict[str, Rule] = {}
Read = Callable[[str, dict[str, Any]], list[dict]]


def query_parameters(rule: Rule, read: Read, today: date, **overrides: Any) -> dict[str, Any]:
    """The parameters of the rule's query: its own, then what `select` picks from its candidate rows."""
    params = rule.parameters(today, **overrides)
    if rule.candidates is None or rule.select is None:
        return params
    return {**params, **rule.select(read(rule.candidates.cypher, params), params)}


RETIRED = sorted(s.value for s in RETIRED_STAGES)
CONTROL_EDGES = "|".join(sorted(set(CONTROL_VERBS.values())))
DISCOVERY, INVENTORY, CLOUD = SourceRole.DISCOVERY.value, SourceRole.INVENTORY.value, SourceRole.CLOUD.value


def rule(id: str, title: str, severity: Severity, category: str, description: str, cypher: str, count: str,
         identity: tuple[str, ...], params: dict | None = None, candidates: str | None = None,
         select: Callable[[list[dict], dict], dict[str, Any]] | None = None):
    """Declare a rule; the decorated function is its `explain(row, params)`."""
    def register(explain: Callable[[dict, dict], list[Draft]]) -> Callable:
        if id in RULES:
            raise ValueError(f"rule {id!r} declared twice")
        RULES[id] = Rule(id, title, severity, category, description.strip(),
                         named(f"rule:{id}", "findings", title, cypher),
                         named(f"rule:{id}:count", "findings", f"Denominator of {id}", count),
                         identity, explain, dict(params or {}),
                         named(f"rule:{id}:candidates", "findings", f"Candidates of {id}", candidates)
                         if candidates else None, select)
        return explain
    return register


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date().isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date()
    return value if isinstance(value, date) else None


def _known_date(value: Any) -> date:
    """A date the rule's query guarantees (it filters on it); ValueError means the query broke that."""
    found = _as_date(value)
    if found is None:
        raise ValueError(f"expected a date, found {value!r}")
    return found


def _days(n: int) -> str:
    return f"{n} day{'' if n == 1 else 's'}"


def _when(day: date, today: date) -> str:
    delta = (day - today).days
    return f"in {_days(delta)}" if delta > 0 else "today" if delta == 0 else f"{_days(-delta)} ago"


# ----------------------------------------------------------------- lifecycle: should it exist?

SIGHTINGS = """[(a)-[s:SEEN_BY]->(src:Source) | {source: src.name, role: src.role, scope: s.scope,
     first_seen: s.first_seen, last_seen: s.last_seen, current: coalesce(s.current, true),
     stale_since: s.stale_since}] AS sightings,
  [(a)-[h:HAS_IP]->(ip:IPAddress) | {address: ip.address, current: h.current}] AS addresses"""


def _verdict_reasons(row: dict, params: dict) -> list[str]:
    """The shouldExist verdict's reasons when it says UNEXPECTED (the same logic the host query shows)."""
    verdict = should_exist(row["props"], [], row["sightings"], row["addresses"], params["today"])
    return [r for r in verdict.reasons if not r.startswith("no longer in")] if verdict.verdict == UNEXPECTED else []


@rule("shadow-it", "Seen on the network but never procured", Severity.HIGH, "lifecycle", """
Discovery (nmap, osquery, a control console) sees this asset, but no inventory of record knows it
(Snipe-IT; for cloud instances, the cloud account is the record). Unknown machines are unpatched,
unowned and unmonitored. Find the owner, then enrol the asset in the inventory or take it off the
network.""", f"""
MATCH (a:Asset:Host)
WHERE NOT EXISTS {{ (a)-[:SEEN_BY]->(r:Source) WHERE r.role IN ['{INVENTORY}', '{CLOUD}'] }}
  AND EXISTS {{ (a)-[:SEEN_BY]->(d:Source) WHERE d.role = '{DISCOVERY}' }}
RETURN a.id AS asset_id, a.name AS name, a {{.lifecycle_stage, .decommissioned_on, .status_label}} AS props,
  {SIGHTINGS}
""", f"""
MATCH (a:Asset:Host) WHERE EXISTS {{ (a)-[:SEEN_BY]->(d:Source) WHERE d.role = '{DISCOVERY}' }}
RETURN null AS scope, count(a) AS total
""", ("asset_id",))
def _shadow_it(row: dict, params: dict) -> list[Draft]:
    reasons = _verdict_reasons(row, params)
    return [Draft((row["asset_id"],), row["name"] or row["asset_id"], reasons, [row["asset_id"]])] if reasons else []


@rule("decommissioned-but-seen", "Retired yet still alive", Severity.HIGH, "lifecycle", """
The inventory says this asset was decommissioned or disposed of, yet it was observed after that date:
answering on an IP, a control checking in, an agent reporting, a cloud instance running. A retired
machine nobody patches is an open door, and a disposed disk may still hold data. Find it and wipe
it, or correct the inventory.""", f"""
MATCH (a:Asset) WHERE a.lifecycle_stage IN $retired
RETURN a.id AS asset_id, a.name AS name, a.cloud_state AS cloud_state,
  a {{.lifecycle_stage, .decommissioned_on, .status_label, .cloud_state}} AS props, {SIGHTINGS},
  [(c:Control)-[r:{CONTROL_EDGES}]->(a) WHERE a.decommissioned_on IS NULL OR date(r.last_seen) > a.decommissioned_on
     | {{tool: c.name, last_seen: r.last_seen}}] AS check_ins
""", """
MATCH (a:Asset) WHERE a.lifecycle_stage IN $retired RETURN null AS scope, count(a) AS total
""", ("asset_id",), {"retired": RETIRED})
def _decommissioned_but_seen(row: dict, params: dict) -> list[Draft]:
    evidence = _verdict_reasons(row, params)
    evidence += [f"{c['tool']} checked in on {_day(c['last_seen'])}" for c in row["check_ins"] if c["last_seen"]]
    if row["cloud_state"] == "running":
        evidence.append("its cloud instance is running")
    return [Draft((row["asset_id"],), row["name"] or row["asset_id"], evidence, [row["asset_id"]])] if evidence else []


# ----------------------------------------------------------------- credentials

@rule("orphaned-credential", "Credential of a departed person or a retired asset", Severity.HIGH, "identity", """
A certificate, access key, password or SSH key issued to someone who has left, or stored on or
authenticating a decommissioned or disposed asset or a terminated instance. Nobody will rotate it and
nobody notices its use. Revoke it (or re-issue it to a current owner).""", """
MATCH (c:Credential)
CALL (c) {
  OPTIONAL MATCH (c)-[:ISSUED_TO]->(p:Person) WHERE p.active = false OR p.end_date <= $today
  RETURN collect(DISTINCT {email: p.email, end_date: p.end_date}) AS departed
}
CALL (c) {
  OPTIONAL MATCH (c)-[r:STORED_ON|GRANTS_ACCESS_TO]->(a:Asset)
  WHERE a.lifecycle_stage IN $retired OR a.cloud_state = 'terminated'
  RETURN collect(DISTINCT {id: a.id, name: a.name, via: type(r), stage: coalesce(a.lifecycle_stage, a.cloud_state)})
    AS held
}
CALL (c) {
  OPTIONAL MATCH (c)-[:NAMES]->(i:Identifier)-[:IDENTIFIES]->(a:Asset)
  WHERE (a.lifecycle_stage IN $retired OR a.cloud_state = 'terminated')
    AND NOT EXISTS { (i)-[:IDENTIFIES]->(b:Asset)
                     WHERE NOT coalesce(b.lifecycle_stage, '') IN $retired AND coalesce(b.cloud_state, '') <> 'terminated' }
  RETURN collect(DISTINCT {id: a.id, name: a.name, via: 'AUTHENTICATES', stage: coalesce(a.lifecycle_stage, a.cloud_state)})
    AS named
}
WITH c, [d IN departed WHERE d.email IS NOT NULL] AS departed, [h IN held + named WHERE h.id IS NOT NULL] AS retired
WHERE size(departed) > 0 OR size(retired) > 0
RETURN c.fingerprint AS fingerprint, c.kind AS kind, coalesce(c.name, c.subject, c.fingerprint) AS name,
  c.not_after AS not_after, c.active AS active, c.last_used AS last_used, departed, retired,
  [(c)-[r:STORED_ON|GRANTS_ACCESS_TO]->(a:Asset)
   WHERE NOT coalesce(a.lifecycle_stage, '') IN $retired AND coalesce(a.cloud_state, '') <> 'terminated'
   | {id: a.id, name: a.name, via: type(r)}] AS live
""", """
MATCH (c:Credential) RETURN null AS scope, count(c) AS total
""", ("fingerprint",), {"retired": RETIRED})
def _orphaned_credential(row: dict, params: dict) -> list[Draft]:
    today = params["today"]
    evidence = [f"issued to {d['email']}, who left" + (f" on {_day(d['end_date'])}" if d["end_date"] else "")
                for d in row["departed"]]
    verbs = {"STORED_ON": "stored on", "GRANTS_ACCESS_TO": "grants access to", "AUTHENTICATES": "authenticates"}
    evidence += [f"{verbs[h['via']]} {h['name'] or h['id']}, which is {h['stage']}"     # collect() has no order
                 for h in sorted(row["retired"], key=lambda h: (h["via"], h["name"] or h["id"]))]
    for via in ("GRANTS_ACCESS_TO", "STORED_ON"):    # what it still opens: the hosts a responder checks first
        names = sorted({h["name"] or h["id"] for h in row["live"] if h["via"] == via})
        if names:
            evidence.append(f"{verbs[via]} {', '.join(names)}, in service")
    expires = _as_date(row["not_after"])
    if row["active"] is False:
        evidence.append("inactive")
    elif expires is not None and expires < today:
        evidence.append(f"expired on {_day(expires)}")
    else:
        evidence.append("still valid" + (f" until {_day(expires)}" if expires else ""))
    if row["last_used"]:
        evidence.append(f"last used on {_day(row['last_used'])}")
    elif row["kind"] in ("aws_access_key", "aws_password"):
        evidence.append("never used")
    subject = f"{row['kind']} {row['name']}"
    return [Draft((row["fingerprint"],), subject, evidence, sorted({h["id"] for h in row["retired"] + row["live"]}))]


# ----------------------------------------------------------------- controls

MISSING_SCOPE = """
MATCH (a:Asset)
WHERE a.lifecycle_stage IN $stages AND a.host_type IN $host_types
  AND NOT any(w IN $exempt_words WHERE toLower(coalesce(a.category, '') + ' ' + coalesce(a.model, '')) CONTAINS w)
UNWIND $required[a.host_type] AS category
"""


@rule("missing-control", "Missing a required control", Severity.HIGH, "controls", """
Its kind and lifecycle stage say this asset must have a control of this category (servers, VMs and
laptops need EDR; see queries/control_policy.py), but no current control of that category covers
it. Printers, kiosks on a vendor image and network gear are not applicable. Install or re-enrol the
agent; if the console dropped it, find out why.""", MISSING_SCOPE + f"""
WITH a, category WHERE NOT EXISTS {{
  (c:Control)-[r:{CONTROL_EDGES}]->(a) WHERE c.category = category AND coalesce(r.current, true) }}
RETURN a.id AS asset_id, a.name AS name, a.host_type AS host_type, a.lifecycle_stage AS stage, category,
  [(c:Control)-[r:{CONTROL_EDGES}]->(a) WHERE c.category = category
     | {{tool: c.name, stale_since: r.stale_since}}] AS lapsed
""", MISSING_SCOPE + f"""
RETURN category AS scope, count(*) AS total,
  sum(CASE WHEN EXISTS {{ (c:Control)-[r:{CONTROL_EDGES}]->(a)
                          WHERE c.category = category AND coalesce(r.current, true) }} THEN 1 ELSE 0 END) AS covered
""", ("asset_id", "category"), policy_params())
def _missing_control(row: dict, params: dict) -> list[Draft]:
    evidence = [f"a {row['stage']} {row['host_type']} must have {row['category']}; no current {row['category']} "
                "control covers it"]
    evidence += [f"{c['tool']} stopped reporting it" + (f" on {_day(c['stale_since'])}" if c["stale_since"] else "")
                 for c in row["lapsed"]]
    return [Draft((row["asset_id"], row["category"]), f"{row['name'] or row['asset_id']}: no {row['category']}",
                  evidence, [row["asset_id"]])]


# ----------------------------------------------------------------- end of life

def _days_left(cycle: eol.Cycle | None, params: dict) -> int | None:
    """Days until the cycle's end of life (negative: past it) when that is within `warn_days`, else None."""
    if cycle is None or cycle.eol is None:
        return None
    left = (cycle.eol - params["today"]).days
    return left if left <= params["warn_days"] else None


def _eol_drafts(cycle: eol.Cycle | None, what: str, identity_tail: tuple[str, ...], assets: list[dict],
                params: dict) -> list[Draft]:
    left = _days_left(cycle, params)
    if cycle is None or cycle.eol is None or left is None:
        return []
    if cycle.eol == date.min:
        evidence = [f"{cycle.title} {cycle.label} is end of life (no date given)"]
    elif left <= 0:
        evidence = [f"{cycle.title} {cycle.label}: end of life on {_day(cycle.eol)}, {_days(-left)} ago"]
    else:
        evidence = [f"{cycle.title} {cycle.label}: end of life on {_day(cycle.eol)}, in {_days(left)}"]
    severity = Severity.LOW if left > 0 else None
    shared = [f"{what} is release cycle {cycle.label}", *evidence]     # one list for every asset's draft
    return [Draft((a["id"], *identity_tail), f"{a['name'] or a['id']}: {what}", shared, [a["id"]], severity)
            for a in assets]


def _eol_software_pairs(rows: list[dict], params: dict) -> dict[str, Any]:
    """The installed (software, version) pairs on a cycle past, or within `warn_days` of, its end of life."""
    pairs = []
    for row in rows:
        if _days_left(eol.match(row["name"], row["version"], row["purl"], row["cpe"]), params) is not None:
            pairs.append({"software": row["software"], "version": row["version"]})
    return {"pairs": pairs}


@rule("eol-software", "End-of-life software", Severity.MEDIUM, "vulnerability", """
Installed software (osquery packages and programs, SBOM components) on a release cycle that is past
its end of life per endoflife.date: no more security fixes. Within `warn_days` (90) of its end of
life it is a low-severity warning. Upgrade to a supported cycle.""", """
UNWIND $pairs AS pair
MATCH (s:Software {key: pair.software}) USING INDEX SEEK s:Software(key)
MATCH (a:Asset)-[i:INSTALLED]->(s) WHERE pair.version IN coalesce(i.versions, [i.version])
WITH s, pair.version AS version, collect({id: a.id, name: a.name}) AS assets
RETURN s.key AS software, s.name AS name, s.purl AS purl, s.cpe AS cpe, version, assets
""", """
MATCH ()-[i:INSTALLED]->() RETURN null AS scope, count(i) AS total
""", ("asset_id", "software"), {"warn_days": 90},
    # every installed product and version once, without its assets: most installs are on supported
    # cycles, and at 100k hosts reading each install's asset took longer than the rest of the rule
    candidates="""
MATCH (s:Software)
CALL (s) {
  MATCH ()-[i:INSTALLED]->(s)
  UNWIND coalesce(i.versions, [i.version]) AS version
  RETURN DISTINCT version
}
RETURN s.key AS software, s.name AS name, s.purl AS purl, s.cpe AS cpe, version
""", select=_eol_software_pairs)
def _eol_software(row: dict, params: dict) -> list[Draft]:
    cycle = eol.match(row["name"], row["version"], row["purl"], row["cpe"])
    return _eol_drafts(cycle, f"{row['name']} {row['version']}", (row["software"],), row["assets"], params)


@rule("eol-os", "End-of-life operating system", Severity.HIGH, "vulnerability", """
The operating system (osquery, AWS, or nmap's OS guess when it names a version) is on a release cycle
past its end of life per endoflife.date. Within `warn_days` (90) of its end of life it is a
low-severity warning. Upgrade or replace the machine.""", """
MATCH (a:Asset) WHERE a.os_name IS NOT NULL
WITH a.os_name AS os, a.os_version AS version, collect({id: a.id, name: a.name}) AS assets
RETURN os, version, assets
""", """
MATCH (a:Asset) WHERE a.os_name IS NOT NULL RETURN null AS scope, count(a) AS total
""", ("asset_id",), {"warn_days": 90})
def _eol_os(row: dict, params: dict) -> list[Draft]:
    version = row["version"] or row["os"]      # an nmap guess carries the version in its name
    cycle = eol.match(row["os"], version)
    shown = row["os"] if not row["version"] or row["version"] in row["os"] else f"{row['os']} {row['version']}"
    return _eol_drafts(cycle, shown, (), row["assets"], params)


# ----------------------------------------------------------------- dates

@rule("expiring-certificate", "Certificate expiring or expired", Severity.MEDIUM, "operations", """
An X.509 certificate whose validity ends within `days` (30), or has ended. An expired certificate
breaks TLS and VPN logins, or is a sign nobody owns the service. Renew it (or remove it).""", """
MATCH (c:Credential {kind: 'x509'})
WHERE c.not_after IS NOT NULL AND date(c.not_after) <= $today + duration({days: $days})
RETURN c.fingerprint AS fingerprint, coalesce(c.subject, c.name, c.fingerprint) AS name, c.not_after AS not_after,
  [(c)-[:STORED_ON]->(a:Asset) | {id: a.id, name: a.name}]
    + [(c)-[:NAMES]->(:Identifier)-[:IDENTIFIES]->(a:Asset) | {id: a.id, name: a.name}] AS assets
""", """
MATCH (c:Credential {kind: 'x509'}) RETURN null AS scope, count(c) AS total
""", ("fingerprint",), {"days": 30})
def _expiring_certificate(row: dict, params: dict) -> list[Draft]:
    ends = _known_date(row["not_after"])
    verb = "expired" if ends < params["today"] else "expires"
    where = sorted({a["name"] or a["id"] for a in row["assets"]})
    evidence = [f"{verb} on {_day(ends)} ({_when(ends, params['today'])})"]
    if where:
        evidence.append("on " + ", ".join(where[:10]) + (" ..." if len(where) > 10 else ""))
    return [Draft((row["fingerprint"],), f"certificate {row['name']}", evidence,
                  sorted({a["id"] for a in row["assets"]}), Severity.HIGH if ends < params["today"] else None)]


@rule("expiring-license", "Licence expiring or expired", Severity.MEDIUM, "contracts", """
A software licence that ends within `days` (30), or has ended while still assigned. Renew it, or
uninstall the software it covers.""", """
MATCH (l:License)
WHERE l.expires_on IS NOT NULL AND l.expires_on <= $today + duration({days: $days})
  AND (l.terminated_on IS NULL OR l.terminated_on > $today)
RETURN l.id AS license_id, coalesce(l.name, l.product) AS name, l.expires_on AS expires_on, l.seats AS seats,
  [(l)-[:ASSIGNED_TO]->(a:Asset) | {id: a.id, name: a.name}] AS assets
""", """
MATCH (l:License) RETURN null AS scope, count(l) AS total
""", ("license_id",), {"days": 30})
def _expiring_license(row: dict, params: dict) -> list[Draft]:
    ends, today = row["expires_on"], params["today"]
    evidence = [f"{'expired' if ends < today else 'expires'} on {_day(ends)} ({_when(ends, today)})"]
    if row["seats"] is not None:
        evidence.append(f"{row['seats']} seats, assigned to {len(row['assets'])} assets")
    return [Draft((row["license_id"],), f"licence {row['name']}", evidence, [a["id"] for a in row["assets"]],
                  Severity.HIGH if ends < today else None)]


@rule("expiring-contract", "Contract notice deadline near", Severity.MEDIUM, "contracts", """
A contract whose notice deadline (end date minus notice days) falls within `days` (30), or has passed
while the contract still runs: after it, the contract renews or lapses whatever you decide. Decide
now: renew, renegotiate or give notice.""", """
MATCH (c:Contract)
WHERE c.end IS NOT NULL AND c.end >= $today
  AND c.end - duration({days: coalesce(c.notice_days, 0)}) <= $today + duration({days: $days})
RETURN c.reference AS reference, c.vendor AS vendor, c.end AS ends, coalesce(c.notice_days, 0) AS notice_days,
  [(c)-[:COVERS]->(a:Asset) | {id: a.id, name: a.name}] AS assets
""", """
MATCH (c:Contract) RETURN null AS scope, count(c) AS total
""", ("reference",), {"days": 30})
def _expiring_contract(row: dict, params: dict) -> list[Draft]:
    today, ends = params["today"], row["ends"]
    deadline = date.fromordinal(ends.toordinal() - row["notice_days"])
    evidence = [f"notice deadline {_day(deadline)} ({_when(deadline, today)}; {_days(row['notice_days'])}' notice)",
                f"ends on {_day(ends)}"]
    if row["assets"]:
        evidence.append(f"covers {len(row['assets'])} assets")
    return [Draft((row["reference"],), f"contract {row['reference']} ({row['vendor']})", evidence,
                  [a["id"] for a in row["assets"]], Severity.HIGH if deadline < today else None)]


@rule("warranty-expired", "Deployed past its warranty", Severity.LOW, "lifecycle", """
An asset still deployed (or in maintenance) whose warranty has ended: repairs are now paid for and
hardware failures take longer to fix. Plan its replacement or extend the support.""", """
MATCH (a:Asset) WHERE a.lifecycle_stage IN $stages AND a.warranty_end < $today
RETURN a.id AS asset_id, a.name AS name, a.warranty_end AS warranty_end, a.model AS model
""", """
MATCH (a:Asset) WHERE a.lifecycle_stage IN $stages RETURN null AS scope, count(a) AS total
""", ("asset_id",), {"stages": ["deployment", "maintenance"]})
def _warranty_expired(row: dict, params: dict) -> list[Draft]:
    ended = row["warranty_end"]
    evidence = [f"warranty ended on {_day(ended)} ({_when(ended, params['today'])})"]
    if row["model"]:
        evidence.append(f"model {row['model']}")
    return [Draft((row["asset_id"],), row["name"] or row["asset_id"], evidence, [row["asset_id"]])]


# ----------------------------------------------------------------- exposure

# Rules whose open findings make an internet-exposed asset critical (evaluated before it).
AGGRAVATING = ("eol-os", "eol-software", "shadow-it", "decommissioned-but-seen")


@rule("internet-exposed", "Reachable from the Internet", Severity.MEDIUM, "exposure", """
The Internet reaches this asset: a public address with listening ports, or a security-group rule open
to 0.0.0.0/0. Critical when the asset is also end of life, unexpected (shadow IT, retired yet alive) or
missing EDR. Close what need not be open; put the rest behind a proxy or VPN.""", """
MATCH (inet:Internet {name: $internet})-[r:CAN_REACH]->(a:Asset) USING INDEX SEEK inet:Internet(name)
WITH a, collect({ports: r.ports, basis: r.basis}) AS paths
RETURN a.id AS asset_id, a.name AS name, paths,
  [(a)<-[:INVOLVES]-(f) WHERE f.status = 'OPEN' AND (f.rule IN $aggravating  // from the asset (queries/lifecycle.py)
     OR (f.rule = 'missing-control' AND f.identity[1] = 'edr')) | f.rule] AS aggravating
""", """
MATCH (a:Asset:Host) RETURN null AS scope, count(a) AS total
""", ("asset_id",), {"internet": INTERNET, "aggravating": list(AGGRAVATING)})
def _internet_exposed(row: dict, params: dict) -> list[Draft]:
    evidence = [f"reachable from the Internet on {', '.join(sorted(p['ports'] or ['all ports']))} "
                f"({p['basis'] or 'route'})" for p in sorted(row["paths"], key=lambda p: p["basis"] or "")]
    also = sorted(set(row["aggravating"]))
    if also:
        evidence.append("also " + ", ".join("missing EDR" if r == "missing-control" else r for r in also))
    return [Draft((row["asset_id"],), row["name"] or row["asset_id"], evidence, [row["asset_id"]],
                  Severity.CRITICAL if also else None)]


@rule("stale-asset", "Expected but not found", Severity.LOW, "lifecycle", """
The inventory of record lists this asset as deployed, but no discovery source has seen it for `days`
(30), or ever. It may be lost, stolen, switched off in a drawer, or retired without the inventory
knowing. Locate it, or update its status.""", f"""
MATCH (a:Asset:Host {{lifecycle_stage: 'deployment'}})
WHERE EXISTS {{ (a)-[s:SEEN_BY]->(r:Source) WHERE r.role = '{INVENTORY}' AND coalesce(s.current, true) }}
CALL (a) {{
  OPTIONAL MATCH (a)-[d:SEEN_BY]->(src:Source) WHERE src.role = '{DISCOVERY}'
  RETURN max(d.last_seen) AS last_seen
}}
WITH a, last_seen WHERE last_seen IS NULL OR date(last_seen) < $today - duration({{days: $days}})
RETURN a.id AS asset_id, a.name AS name, last_seen
""", f"""
MATCH (a:Asset:Host {{lifecycle_stage: 'deployment'}})
WHERE EXISTS {{ (a)-[s:SEEN_BY]->(r:Source) WHERE r.role = '{INVENTORY}' AND coalesce(s.current, true) }}
RETURN null AS scope, count(a) AS total
""", ("asset_id",), {"days": 30})
def _stale_asset(row: dict, params: dict) -> list[Draft]:
    seen = row["last_seen"]
    evidence = [f"deployed in the inventory; last seen by discovery on {_day(seen)} "
                f"({_when(_known_date(seen), params['today'])})" if seen else
                "deployed in the inventory; never seen by any discovery source"]
    return [Draft((row["asset_id"],), row["name"] or row["asset_id"], evidence, [row["asset_id"]])]


@rule("unresolved-conflict", "Identity conflict waiting for review", Severity.INFO, "reconciliation", """
A record identity resolution could not merge with confidence: its strong identifiers point at two
different assets, or contradict the asset they point at. It stands as its own asset (or joined one of
the candidates) until someone decides: `itam conflicts resolve ID --merge|--separate`, then correct
the source.""", """
MATCH (c:Conflict {status: 'open'})
RETURN c.id AS conflict_id, c.source AS source, c.record AS record, c.reason AS reason,
  [(c)-[:INVOLVES]->(a:Asset) | a.id] AS assets
""", """
MATCH (c:Conflict) RETURN null AS scope, count(c) AS total
""", ("conflict_id",))
def _unresolved_conflict(row: dict, params: dict) -> list[Draft]:
    return [Draft((row["conflict_id"],), f"{row['source']} {row['record']}", [row["reason"]], sorted(row["assets"]))]


# ----------------------------------------------------------------- IT asset management (queries/itam_rules.py)

class PolicyRule(Rule):
    """An ITAM rule: its thresholds come from the policy in force (ITAM_POLICY), read when it runs."""

    def parameters(self, today: date, **overrides: Any) -> dict[str, Any]:
        given = super().parameters(today, **overrides)    # refuses a parameter the rule does not have
        policy = itam_rules.rule_parameters(itam_rules.RULES[self.id], today, current_policy())
        return {**given, **{k: v for k, v in policy.items() if k not in overrides}}


def _itam_explain(identity: tuple[str, ...]) -> Callable[[dict, dict], list[Draft]]:
    def explain(row: dict, params: dict) -> list[Draft]:
        return [Draft(tuple([str(row[f]) for f in identity]), row["subject"], row["evidence"],
                      sorted(row["asset_ids"]))]
    return explain


for _itam in itam_rules.RULES.values():
    if _itam.id in RULES:
        raise ValueError(f"rule {_itam.id!r} declared twice")
    RULES[_itam.id] = PolicyRule(_itam.id, _itam.title, Severity(_itam.severity), _itam.category, _itam.description,
                                 _itam.query, _itam.count, _itam.identity, _itam_explain(_itam.identity),
                                 dict(_itam.params))


# Rules evaluate in this order: internet-exposed reads the findings of the rules before it.
ORDER = tuple(r for r in RULES if r != "internet-exposed") + ("internet-exposed",)
# Rules whose query reads other rules' findings (`INVOLVES` from an asset): an evaluation reads them only
# after the rules before them are written, never ahead (queries/findings.py evaluate).
READS_FINDINGS = frozenset({"internet-exposed", "lifecycle-standard"})


def get_rule(rule_id: str) -> Rule:
    """A rule by id; ValueError naming the known ids otherwise."""
    if rule_id not in RULES:
        raise ValueError(f"unknown rule {rule_id!r}; known: {', '.join(sorted(RULES))}")
    return RULES[rule_id]
