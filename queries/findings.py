"""Findings: rules evaluated against the graph, tracked across evaluations, listed, suppressed, exported.

A finding's identity is its rule id plus the rule's identity fields, so the same problem is the same
finding every time. Each evaluation runs every rule's query once (set-based), upserts what matched in
batched UNWIND statements and resolves what no longer matches:

- new match: OPEN (first_seen = today); RESOLVED and matching again: OPEN again;
- SUPPRESSED stays suppressed through its `until` date and re-opens the day after;
- OPEN or SUPPRESSED and no longer matching: RESOLVED.

Evaluating twice with no change in the graph changes nothing (dates are days, not instants).
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

from graph.store import BATCH_SIZE, Store
from ingest.csvfile import FORMULA_STARTS
from queries.catalog import PLAIN_TYPES, GraphReader, named, native
from queries.history import record_mutation
from queries.rules import ORDER, READS_FINDINGS, RULES, Draft, Rule, Severity, get_rule, query_parameters

class FindingStatus(StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"
    SUPPRESSED = "SUPPRESSED"


OPEN, RESOLVED, SUPPRESSED = (s.value for s in FindingStatus)
STATUSES = (OPEN, RESOLVED, SUPPRESSED)
MAX_PAGE = 100
# Assets listed per finding on a page; `asset_count` says how many in all. A page of 40 contract findings
# covering 250 assets each took 50-100 ms at 100 assets a finding, most of it building the asset lists.
FINDING_ASSETS = 25
ALL_ASSETS = 2**31 - 1      # exports list every asset
# Up to $asset_limit of a finding's assets, and how many it involves (from the relationship count: a
# finding INVOLVES only assets). A licence shortfall involves every install of its product: sorting
# 60,000 of them by name to keep 100 took 400 ms a page; taking 100 as stored, 10-15 ms.
_ASSETS = """CALL (f) {
  MATCH (f)-[:INVOLVES]->(a:Asset)
  WITH a LIMIT $asset_limit
  RETURN collect({id: a.id, name: a.name}) AS assets
}
WITH *, COUNT { (f)-[:INVOLVES]->() } AS asset_count"""

UPSERT_FINDINGS = """
UNWIND $rows AS row
MERGE (f:Finding {id: row.id})
ON CREATE SET f.rule = row.rule, f.identity = row.identity, f.first_seen = row.today, f.status = 'NEW'
WITH f, row, f.status AS before
SET f.status = CASE WHEN before = 'SUPPRESSED' AND f.suppressed_until >= row.today THEN 'SUPPRESSED' ELSE 'OPEN' END,
    f.severity = row.severity, f.subject = row.subject, f.evidence = row.evidence, f.last_seen = row.today,
    f.digest = row.digest, f.resolved_on = null
WITH f, row, before
CALL (f, row) {
  MATCH (f)-[old:INVOLVES]->(x:Asset) WHERE NOT x.id IN row.assets
  DELETE old
}
CALL (f, row) {
  UNWIND row.assets AS asset_id
  MATCH (a:Asset {id: asset_id}) USING INDEX SEEK a:Asset(id)
  MERGE (f)-[:INVOLVES]->(a)
}
WITH f, before WHERE before <> f.status
RETURN f.id AS id, before
"""
# What the graph holds for one rule, so an evaluation writes only what changed.
# Dates are compared here, not sent: decoding a date in the driver cost more than the rest of the row.
# One record for all of them: the driver spends about 15 µs on each record it receives, more than on
# what a finding's row holds (50,000 findings: 0.85 s as records, 0.13 s as one list).
KNOWN_FINDINGS = """
MATCH (f:Finding {rule: $rule}) USING INDEX SEEK f:Finding(rule)
RETURN collect([f.id, f.status, f.digest, coalesce(f.last_seen = $today, false),
                coalesce(f.suppressed_until < $today, false)]) AS known
"""
KNOWN_FIELDS = ("id", "status", "digest", "seen_today", "suppression_over")
_RULE_COLUMNS: dict[str, tuple[str, ...]] = {}
# Open or suppressed findings this evaluation no longer matched. The statements of an evaluation name
# their index: a replan part-way through a load, with statistics moving fast, turned the change log's
# identifier read (ingest/changelog.py HOLDERS) into an index scan per row; these must not risk it.
RESOLVE_FINDINGS = """
UNWIND $ids AS id
MATCH (f:Finding {id: id}) USING INDEX SEEK f:Finding(id)
SET f.status = 'RESOLVED', f.resolved_on = $today
RETURN f.id AS id
"""
FINDINGS_BY_ID = named(
    "findings_by_id", "findings", "Findings by id, with the assets they are about.",
    """
UNWIND $ids AS id
MATCH (f:Finding {id: id}) USING INDEX SEEK f:Finding(id)
ASSETS
RETURN f {.*} AS finding, assets, asset_count
""".replace("ASSETS", _ASSETS))

LIST_FINDINGS = named(
    "findings", "findings",
    "A page of findings in id order between two keys (after the cursor; a rule's ids share its prefix, so one "
    "index range), by severity and status.",
    """
MATCH (f:Finding) USING INDEX SEEK f:Finding(id)
WHERE f.id > $after AND f.id < $before
  AND ($severity IS NULL OR f.severity = $severity) AND ($status IS NULL OR f.status = $status)
WITH f ORDER BY f.id LIMIT $limit
ASSETS
RETURN f {.*} AS finding, assets, asset_count
""".replace("ASSETS", _ASSETS))

FINDINGS_OF_ASSETS = named(
    "asset_findings", "findings",
    "The findings about each given asset (any status unless one is given), most severe first.",
    """
UNWIND $ids AS id
MATCH (a:Asset {id: id})<-[:INVOLVES]-(f:Finding) USING INDEX SEEK a:Asset(id)
WHERE $status IS NULL OR f.status = $status
ASSETS
RETURN id, f {.*} AS finding, assets, asset_count
""".replace("ASSETS", _ASSETS))

OPEN_COUNTS = named(
    "open_findings_per_rule", "findings",
    "How many findings of each rule are open.",
    """
UNWIND $rules AS rule
MATCH (f:Finding {rule: rule}) USING INDEX SEEK f:Finding(rule)
WHERE f.status = 'OPEN'
RETURN rule, count(f) AS open
""")

SUPPRESS_FINDING = named(
    "suppress_finding", "findings",
    "Suppress one finding until a date, recording the reason and who did it (admin only).",
    """
MATCH (f:Finding {id: $id}) USING INDEX SEEK f:Finding(id)
SET f.status = 'SUPPRESSED', f.suppressed_reason = $reason, f.suppressed_until = $until,
    f.suppressed_by = $by, f.suppressed_on = $today
WITH f
ASSETS
RETURN f {.*} AS finding, assets, asset_count
""".replace("ASSETS", _ASSETS))


# Characters json.dumps writes as they are (printable ASCII but the quote and the backslash).
_JSON_AS_IS = re.compile(r'[ !#-\[\]-~]*')


def finding_id(rule_id: str, identity: tuple[str, ...]) -> str:
    """Stable: the rule id, then a digest of the identity fields (ids stay short and index-ordered by rule).
    The digest is of the JSON list [rule id, *identity]; for strings JSON writes as they are (ids, keys,
    tags), that text is built directly, which is the same bytes at a fifth of the cost."""
    parts = (rule_id, *identity)
    if all(type(p) is str and _JSON_AS_IS.fullmatch(p) for p in parts):
        text = '["' + '", "'.join(parts) + '"]'
    else:
        text = json.dumps(list(parts))
    return f"{rule_id}:{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def today_utc() -> date:
    return datetime.now(timezone.utc).date()


# ----------------------------------------------------------------- evaluation

@dataclass
class RuleOutcome:
    rule: str
    matched: int = 0
    opened: int = 0
    reopened: int = 0
    resolved: int = 0
    seconds: float = 0.0


@dataclass
class Evaluation:
    today: date
    outcomes: list[RuleOutcome] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)       # newly opened and newly resolved findings

    def totals(self) -> dict[str, int]:
        return {k: sum(getattr(o, k) for o in self.outcomes) for k in ("matched", "opened", "reopened", "resolved")}

    def as_dict(self) -> dict:
        return {"today": self.today.isoformat(), **self.totals(),
                "rules": [o.__dict__ for o in self.outcomes]}


def run_rule(store: Store, rule: Rule, today: date, **overrides: Any) -> list[Draft]:
    """A rule's drafts: its query once, then `explain` per row (no writes)."""
    params = query_parameters(rule, lambda cypher, p: store.read(cypher, **p), today, **overrides)
    rows = [native(row) for row in store.read(rule.query.cypher, **params)]
    return list(_drafts(rule, rows, today, overrides).values())


def _drafts(rule: Rule, rows: list[dict], today: date, overrides: dict | None = None) -> dict[str, Draft]:
    """{finding id: draft} (one finding per identity)."""
    params = rule.parameters(today, **(overrides or {}))
    drafts = [d for row in rows for d in rule.explain(row, params)]
    return {finding_id(rule.id, d.identity): d for d in drafts}


def collected(cypher: str, columns: tuple[str, ...]) -> str:
    """The query's rows as one record (`rows`: a list of [column values]), for the reason above."""
    values = ", ".join(f"`{c}`" for c in columns)      # the query's own RETURN columns
    return f"CALL () {{\n{cypher}\n}}\nRETURN collect([{values}]) AS rows"


def _read_rule(store: Store, rule: Rule, today: date) -> tuple[list[dict], dict[str, dict], float]:
    """The rule's rows, the findings it already has, and the seconds the read took, in one read transaction
    (one round trip set). Rule queries return values, maps and lists, never nodes; both come back as one
    record each."""
    started = time.perf_counter()

    def work(tx):
        params = query_parameters(rule, lambda cypher, p: [r.data() for r in tx.run(cypher, p)], today)
        if rule.id not in _RULE_COLUMNS:
            _RULE_COLUMNS[rule.id] = tuple(tx.run("EXPLAIN " + rule.query.cypher, params).keys())
        columns = _RULE_COLUMNS[rule.id]
        found = tx.run(collected(rule.query.cypher, columns), params).single(strict=True)["rows"]
        known = tx.run(KNOWN_FINDINGS, rule=rule.id, today=today).single(strict=True)["known"]
        return ([{c: v if type(v) in PLAIN_TYPES else native(v) for c, v in zip(columns, row)} for row in found],
                {k[0]: dict(zip(KNOWN_FIELDS, k)) for k in known})
    with store.driver.session(database=store.database) as session:
        found, known = session.execute_read(work)
    return found, known, time.perf_counter() - started


def _rows(rule: Rule, drafts: dict[str, Draft], today: date) -> list[dict]:
    """Per finding: its id and the digest of its facts (what an evaluation compares to decide whether it
    needs a write), and the draft to write it from (`_upsert_row`)."""
    rows = []
    default = rule.severity.value
    for fid, d in drafts.items():
        severity = default if d.severity is None else d.severity.value
        assets = d.assets if len(d.assets) == 1 else sorted(set(d.assets))
        evidence = d.evidence if type(d.evidence) is list else list(d.evidence)
        # repr of str and lists of str is exact and several times cheaper than JSON (an evaluation at
        # 100k hosts digests half a million findings); the digest is compared only with itself
        facts = repr((severity, d.subject, evidence, assets))
        rows.append({"id": fid, "digest": hashlib.sha256(facts.encode()).hexdigest()[:24],
                     "draft": d, "severity": severity, "assets": assets, "rule": rule.id, "today": today})
    return rows


def _upsert_row(row: dict) -> dict:
    """What UPSERT_FINDINGS takes for one finding."""
    d = row["draft"]
    return {"id": row["id"], "rule": row["rule"], "identity": list(d.identity), "severity": row["severity"],
            "subject": d.subject, "evidence": list(d.evidence), "assets": row["assets"], "today": row["today"],
            "digest": row["digest"]}


def _differs(row: dict, known: dict | None) -> bool:
    """Whether a matched finding needs a write: new, re-opening, or its facts or last_seen changed."""
    if known is None or known["status"] == RESOLVED:
        return True
    if known["status"] == SUPPRESSED and known["suppression_over"]:
        return True
    return not known["seen_today"] or known["digest"] != row["digest"]


def evaluate(store: Store, today: date | None = None, rule_ids: list[str] | None = None,
             notify: Callable[[list[dict]], None] | None = None) -> Evaluation:
    """Evaluate rules (all, in dependency order) and track their findings; `notify` gets the events."""
    today = today or today_utc()
    chosen = [get_rule(r) for r in (rule_ids or ORDER)]
    evaluation = Evaluation(today)
    # While one rule's rows become findings (Python), the next rule's query runs on the server: the read
    # waits on the socket, so the two overlap. A rule that reads other rules' findings is read only after
    # those are written (READS_FINDINGS).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="findings-read") as reads:
        ahead: tuple[Rule, Future] | None = None
        for index, rule in enumerate(chosen):
            read = ahead[1] if ahead and ahead[0] is rule else reads.submit(_read_rule, store, rule, today)
            found, known, read_seconds = read.result()
            following = chosen[index + 1] if index + 1 < len(chosen) else None
            ahead = ((following, reads.submit(_read_rule, store, following, today))
                     if following is not None and following.id not in READS_FINDINGS else None)
            _evaluate_rule(store, rule, today, found, known, read_seconds, evaluation, notify)
    if notify and evaluation.events:
        notify(evaluation.events)
    return evaluation


def _evaluate_rule(store: Store, rule: Rule, today: date, found: list[dict], known: dict[str, dict],
                   read_seconds: float, evaluation: Evaluation, notify: Callable[[list[dict]], None] | None) -> None:
    """One rule's rows as findings: drafts, what changed, the writes, the events. Its seconds are its own
    read and its own work (a read made ahead overlaps the rule before it, so they add up to more than the
    evaluation's wall time)."""
    started = time.perf_counter()
    rows = _rows(rule, _drafts(rule, found, today), today)
    outcome = RuleOutcome(rule.id, matched=len(rows))
    changed, resolved = _track(store, rows, known, today)
    outcome.opened = sum(1 for _, before in changed if before == "NEW")
    outcome.reopened = len(changed) - outcome.opened
    outcome.resolved = len(resolved)
    outcome.seconds = read_seconds + time.perf_counter() - started
    evaluation.outcomes.append(outcome)
    if notify:      # events are read back only for someone to tell
        evaluation.events += (_events(store, [i for i, _ in changed], "opened")
                              + _events(store, resolved, "resolved"))


def _track(store: Store, rows: list[dict], known: dict[str, dict], today: date
           ) -> tuple[list[tuple[str, str]], list[str]]:
    """Write what changed for one rule in one transaction: ([(id, status before)], [resolved ids])."""
    stale = [_upsert_row(r) for r in rows if _differs(r, known.get(r["id"]))]
    matched = {r["id"] for r in rows}
    gone = sorted(i for i, f in known.items() if f["status"] in (OPEN, SUPPRESSED) and i not in matched)
    if not stale and not gone:
        return [], []
    changed: list[tuple[str, str]] = []
    with store.transaction() as tx:
        for start in range(0, len(stale), BATCH_SIZE):
            changed += [(r["id"], r["before"]) for r in tx.run(UPSERT_FINDINGS, rows=stale[start:start + BATCH_SIZE])]
        resolved = [r["id"] for r in tx.run(RESOLVE_FINDINGS, ids=gone, today=today)] if gone else []
    return changed, resolved


def _events(store: Store, ids: list[str], kind: str) -> list[dict]:
    if not ids:
        return []
    rows = store.read(FINDINGS_BY_ID.cypher, ids=ids, asset_limit=FINDING_ASSETS)
    return [{"event": kind, "finding": finding_dict(native(r["finding"]), r["assets"], r["asset_count"])}
            for r in rows]


def finding_dict(props: dict, assets: list[dict], asset_count: int | None = None) -> dict:
    """A finding as the API, the CLI, exports and the webhook show it."""
    rule = RULES.get(props["rule"])
    data = {k: props.get(k) for k in ("id", "rule", "severity", "status", "subject", "evidence",
                                      "first_seen", "last_seen", "resolved_on", "suppressed_reason",
                                      "suppressed_until", "suppressed_by")}
    data["title"] = rule.title if rule else None
    data["assets"] = sorted(assets, key=lambda a: (a["name"] or "", a["id"]))
    data["asset_count"] = len(assets) if asset_count is None else asset_count
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in data.items()}


# ----------------------------------------------------------------- reading

def check_filters(rule: str | None, severity: str | None, status: str | None) -> None:
    """ValueError with the allowed values for an unknown rule, severity or status."""
    if rule is not None:
        get_rule(rule)
    if severity is not None and severity not in {s.value for s in Severity}:
        raise ValueError(f"unknown severity {severity!r}; known: {', '.join(s.value for s in Severity)}")
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; known: {', '.join(STATUSES)}")


async def list_findings(reader: GraphReader, rule: str | None = None, severity: str | None = None,
                        status: str | None = OPEN, first: int = 50, after: str | None = None,
                        asset_limit: int = FINDING_ASSETS) -> tuple[list[dict], bool]:
    """A page of findings (id order) and whether more follow; each lists its first `asset_limit`
    assets by name and `asset_count`."""
    check_filters(rule, severity, status)
    if not 1 <= first <= MAX_PAGE:
        raise ValueError(f"first must be between 1 and {MAX_PAGE}")
    # ids are '<rule>:<digest>': a rule's findings are the range ('<rule>:', '<rule>;')
    low, high = (f"{rule}:", f"{rule};") if rule else ("", "\uffff")
    rows = await reader.rows(LIST_FINDINGS, after=max(after or "", low), before=high, severity=severity,
                             status=status, limit=first + 1, asset_limit=asset_limit)
    # in id order (the cursor's): the assets subquery after ORDER BY ... LIMIT does not promise to keep it
    found = sorted((finding_dict(r["finding"], r["assets"], r["asset_count"]) for r in rows), key=lambda f: f["id"])
    return found[:first], len(found) > first


async def findings_of_assets(reader: GraphReader, ids: list[str], status: str | None = None) -> list[list[dict]]:
    """Per asset id (in order), its findings, most severe first: a DataLoader batch function."""
    rows = await reader.rows(FINDINGS_OF_ASSETS, ids=list(dict.fromkeys(ids)), status=status,
                             asset_limit=FINDING_ASSETS)
    by_asset: dict[str, list[dict]] = {}
    for row in rows:
        by_asset.setdefault(row["id"], []).append(finding_dict(row["finding"], row["assets"], row["asset_count"]))
    rank = [s.value for s in Severity]
    return [sorted(by_asset.get(i, []), key=lambda f: (rank.index(f["severity"]), f["rule"], f["id"])) for i in ids]


async def rule_summaries(reader: GraphReader, rule_ids: list[str] | None = None) -> list[dict]:
    """Rules (all unless given) with their open findings; the denominator comes from `rule_total`."""
    rules = [get_rule(r) for r in rule_ids] if rule_ids else list(RULES.values())
    counts = {r["rule"]: r["open"] for r in await reader.rows(OPEN_COUNTS, rules=[r.id for r in rules])}
    return [{"rule": rule, "open": counts.get(rule.id, 0)} for rule in rules]


async def rule_total(reader: GraphReader, rule: Rule, today: date | None = None) -> list[dict]:
    """The count query's rows: (scope, total[, covered]) — e.g. coverage per control category."""
    return await reader.rows(rule.count, **rule.parameters(today or today_utc()))


# ----------------------------------------------------------------- suppression

class FindingNotFound(ValueError):
    pass


async def suppress(reader: GraphReader, finding: str, reason: str, until: date, by: str,
                   today: date | None = None) -> dict:
    """Suppress an open finding until a date (inclusive); it re-opens the day after if it still matches."""
    today = today or today_utc()
    if not reason.strip():
        raise ValueError("a suppression needs a reason")
    if until < today:
        raise ValueError(f"until {until.isoformat()} is in the past")
    current = await reader.rows(FINDINGS_BY_ID, ids=[finding], asset_limit=0)
    if not current:
        raise FindingNotFound(f"no finding {finding!r}")
    if current[0]["finding"]["status"] == RESOLVED:
        raise ValueError(f"finding {finding!r} is resolved; nothing to suppress")

    async def work(tx):
        result = await tx.run(SUPPRESS_FINDING.cypher, id=finding, reason=reason.strip(), until=until, by=by,
                              today=today, asset_limit=ALL_ASSETS)     # every asset's log notes it
        rows = [native(record.data()) async for record in result]
        await record_mutation(tx, "finding_suppressed", by, datetime.now(timezone.utc),  # who, in the change log
                              [a["id"] for a in rows[0]["assets"]], field="finding", subject=finding,
                              after=f"until {until.isoformat()}: {reason.strip()}")
        return rows
    async with reader.driver.session(database=reader.database) as session:
        rows = await session.execute_write(work)
    return finding_dict(rows[0]["finding"], rows[0]["assets"][:FINDING_ASSETS], rows[0]["asset_count"])


# ----------------------------------------------------------------- export

EXPORT_COLUMNS = ("id", "rule", "severity", "status", "subject", "assets", "evidence", "first_seen", "last_seen",
                  "suppressed_until", "suppressed_reason")


def spreadsheet_safe(value: Any) -> str:
    """Text a spreadsheet shows as text: a leading formula character gets an apostrophe in front."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def export(findings: list[dict], path: Path, fmt: str) -> int:
    """Write findings as CSV (formula-safe) or JSON; returns how many."""
    if fmt == "json":
        path.write_text(json.dumps(findings, indent=2, default=str) + "\n")
        return len(findings)
    if fmt != "csv":
        raise ValueError(f"unknown format {fmt!r}; use csv or json")
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        for f in findings:
            values = {**f, "assets": "; ".join(a["name"] or a["id"] for a in f["assets"]),
                      "evidence": " | ".join(f["evidence"] or [])}
            writer.writerow([spreadsheet_safe(values.get(c)) for c in EXPORT_COLUMNS])
    return len(findings)


async def all_findings(reader: GraphReader, rule: str | None = None, severity: str | None = None,
                       status: str | None = OPEN) -> list[dict]:
    """Every finding matching the filters, page by page."""
    found, after = [], None
    while True:
        page, more = await list_findings(reader, rule, severity, status, MAX_PAGE, after, ALL_ASSETS)
        found += page
        if not more:
            return found
        after = page[-1]["id"]
