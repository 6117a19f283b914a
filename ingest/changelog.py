"""The change log: what each ingest run changed, found by snapshot and diff inside its write transaction.

A writer captures the assets (and people) it may touch before it writes and again after, then records
the difference as `Change` nodes: created, a field changed, an identifier added, removed or moved
between assets, an owner changed, a port opened or closed, software installed, removed or upgraded, a
control gained or lost, a sighting gone stale or seen again. Each change names its run, its source,
the asset (or person) and when it happened: the source's own observation time where it carries one,
else the run's time (`at_from: 'run'`).

    before = capture(tx, ids, emails)
    ... write ...
    record(tx, run_id, source, before, capture(tx, ids, emails), run_time, observed_at)

Everything runs in the caller's transaction, so a rolled-back write logs nothing.
"""
from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import cache
from datetime import UTC, datetime, timedelta
from typing import Any

from neo4j import Transaction

from graph.schema import TIME_BOUND_KINDS, installed_versions
from graph.store import write_batches
from ingest.catalog import control_verbs, write

# Bookkeeping that moves on every sighting: never a change of the asset itself.
VOLATILE = frozenset({"id", "first_seen", "last_seen", "ports_observed_at", "kind", "stated_end_date",
                      "audited_at", "audited_by", "audit_location", "audit_note"})
_TIME_BOUND = frozenset(k.value for k in TIME_BOUND_KINDS)



def _props(var: str) -> str:
    """The node's compared properties as [name, value] pairs: bookkeeping (VOLATILE) left on the server,
    dates and times sent as ISO text (the log keeps text; decoding temporals in the driver cost more
    than the rest of the snapshot)."""
    volatile = ", ".join(f"'{name}'" for name in sorted(VOLATILE))
    return (f"[k IN keys({var}) WHERE NOT k IN [{volatile}] | [k, CASE WHEN {var}[k] IS :: DATE OR {var}[k] IS :: "
            f"ZONED DATETIME OR {var}[k] IS :: LOCAL DATETIME THEN toString({var}[k]) ELSE {var}[k] END]]")


# What the log compares of an asset besides its properties: one list per facet.
_FACETS = {
    "identifiers": "[(i:Identifier)-[:IDENTIFIES]->(a) | i.key]",
    "owners": "[(p:Person)-[o:OWNS]->(a) | [coalesce(o.source, ''), p.email]]",
    "ports": "[(a)-[:LISTENS_ON]->(p:Port) | p {.protocol, .number, .service, .product, .version}]",
    "software": f"[(a)-[r:INSTALLED]->(s:Software) | [s.key, s.name, r.source, {installed_versions('r')}, s.purl]]",
    "controls": "[(c:Control)-[r:%s]->(a) | [c.name, c.category, type(r), coalesce(r.current, true)]]"
                % control_verbs(),
    "sightings": "[(a)-[s:SEEN_BY]->(src:Source) | [src.name, coalesce(s.scope, ''), coalesce(s.current, true)]]",
}
FACETS = frozenset(_FACETS)


@cache
def _capture_assets(facets: frozenset[str]) -> str:
    """The snapshot read for these facets (the others come back empty: a write that cannot change them
    compares them as equal, and reading them was a third of the log's cost on a Snipe-IT load)."""
    lists = ",\n  ".join(f"{_FACETS[f] if f in facets else '[]'} AS {f}" for f in _FACETS)
    return (f"UNWIND $ids AS id\nMATCH (a:Asset {{id: id}}) USING INDEX SEEK a:Asset(id)\n"
            f"RETURN a.id AS id, {_props('a')} AS props,\n  {lists}\n")


CAPTURE_ASSETS = write(
    'read-change-snapshot-assets',
    'Read: what the change log compares for each asset a batch may touch (fields, identifiers, owners, ports, '
    'software, controls, sightings; a batch reads only the facets it can change).',
    _capture_assets(FACETS))
CAPTURE_PEOPLE = write(
    'read-change-snapshot-people',
    'Read: what the change log compares for each person a batch may touch (fields, teams, managers).',
    """
UNWIND $emails AS email
MATCH (p:Person {email: email}) USING INDEX SEEK p:Person(email)
RETURN p.email AS email, PROPS AS props,
  [(p)-[:MEMBER_OF]->(t:Team) | t.name] AS teams, [(p)-[:REPORTS_TO]->(m:Person) | m.email] AS managers
""".replace("PROPS", _props("p")))
# Other holders of identifiers a run brings: a time-bound one may move away from them.
HOLDERS = write(
    'read-identifier-current-holders',
    'Read: the other assets now holding the time-bound identifiers a batch brings (they may lose them).',
    """
UNWIND $rows AS row
MATCH (i:Identifier {key: row.key})-[:IDENTIFIES]->(a:Asset)
USING INDEX SEEK i:Identifier(key)  // a hint without SEEK let a first load plan an index scan per row
WHERE a.id <> row.asset
RETURN row.asset AS asset, a.id AS id
""")
RECORD_CHANGES = write(
    'record-changes',
    "The batch's changes, one Change node per asset or person and run (identifier changes apart).",
    """
UNWIND $rows AS row
CREATE (c:Change)
SET c += row
""")
MARK_UNLOGGED = write(
    'mark-unlogged-run',
    "With the change log off, the run's time is noted so as-of answers can say the log has a gap.",
    """
MERGE (l:ChangeLog {name: 'log'})
SET l.last_unlogged_at = $at, l.last_unlogged_run = $run_id
""")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) or "" for v in value)
    iso = getattr(value, "iso_format", None) or getattr(value, "isoformat", None)
    return iso() if iso else str(value)


def port_text(port: dict) -> str:
    """'ssh OpenSSH 8.9p1', or 'open' when nothing is known about the service."""
    return " ".join(str(port[k]) for k in ("service", "product", "version") if port.get(k)) or "open"


@dataclass
class Snapshot:
    """Facets of assets and people as one transaction sees them, compared as plain values."""

    assets: dict[str, dict] = field(default_factory=dict)
    people: dict[str, dict] = field(default_factory=dict)


def capture(tx: Transaction, asset_ids: Iterable[str], emails: Iterable[str] = (),
            facets: frozenset[str] = FACETS) -> Snapshot:
    """What the change log compares (properties and the given facets), for the given assets and people
    (missing ones are absent)."""
    snap = Snapshot()
    ids = sorted(set(asset_ids))
    statement = _capture_assets(facets & FACETS)
    for start in range(0, len(ids), 5000):
        for row in tx.run(statement, ids=ids[start:start + 5000]):
            snap.assets[row["id"]] = {
                "props": {k: _text(v) for k, v in row["props"]},
                "identifiers": set(row["identifiers"]),
                "owners": dict(row["owners"]),
                "ports": {f"{p['protocol']}/{p['number']}": p for p in row["ports"]},
                "software": {(key, src): (name, tuple(versions), purl) for key, name, src, versions, purl in row["software"]},
                "controls": {(tool, verb): (category, current) for tool, category, verb, current in row["controls"]},
                "sightings": {(src, scope): current for src, scope, current in row["sightings"]},
            }
    mails = sorted(set(emails))
    for start in range(0, len(mails), 5000):
        for row in tx.run(CAPTURE_PEOPLE, emails=mails[start:start + 5000]):
            props = {k: _text(v) for k, v in row["props"] if k != "email"}
            props["team"] = _text(sorted(row["teams"])) or None
            props["manager"] = _text(sorted(row["managers"])) or None
            snap.people[row["email"]] = props
    return snap


CAPTURE_NEW = write(
    'read-change-snapshot-new-assets',
    'Read: the name and identifiers of assets new in a batch (creation and moves are all the log needs).',
    """
UNWIND $ids AS id
MATCH (a:Asset {id: id}) USING INDEX SEEK a:Asset(id)
RETURN a.id AS id, a.name AS name, [(i:Identifier)-[:IDENTIFIES]->(a) | i.key] AS identifiers
""")


def capture_new(tx: Transaction, asset_ids: Iterable[str]) -> dict[str, dict]:
    """Just created assets, as much as the log needs (created, and identifiers they took from others)."""
    ids, out = sorted(set(asset_ids)), {}
    for start in range(0, len(ids), 5000):
        for row in tx.run(CAPTURE_NEW, ids=ids[start:start + 5000]):
            out[row["id"]] = {"props": {"name": row["name"]}, "identifiers": set(row["identifiers"]), "owners": {},
                              "ports": {}, "software": {}, "controls": {}, "sightings": {}}
    return out


def other_holders(tx: Transaction, claims: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """For (identifier key, asset reporting it) pairs: (asset, other asset now holding that key)."""
    rows = [{"key": key, "asset": asset} for key, asset in sorted(set(claims))]
    return {(row["asset"], row["id"]) for start in range(0, len(rows), 5000)
            for row in tx.run(HOLDERS, rows=rows[start:start + 5000])}


Install = tuple[str, tuple[str | None, ...], str | None]     # a product's name, versions and purl on an asset


def _software_changes(key: tuple[str, str], before: Install | None, after: Install | None) -> list[dict]:
    """One product's changes from one source, per version: one version for another is an upgrade; else each
    version gone is removed and each new one installed (several versions of one product can be installed)."""
    old_versions: tuple[str | None, ...] = before[1] if before else ()
    new_versions: tuple[str | None, ...] = after[1] if after else ()
    if before is not None and after is not None and set(old_versions) == set(new_versions):
        return []
    name, _, purl = after or before or ("", (), None)
    data = json.dumps({"key": key[0], "source": key[1], "purl": purl})
    if len(old_versions) == 1 and len(new_versions) == 1 and before and after:
        return [{"kind": "software_upgraded", "field": "software", "subject": name, "before": old_versions[0],
                 "after": new_versions[0], "data": data}]
    gone = [v for v in old_versions if after is None or v not in new_versions]
    came = [v for v in new_versions if before is None or v not in old_versions]
    return ([{"kind": "software_removed", "field": "software", "subject": name, "before": v, "after": None,
              "data": data} for v in gone]
            + [{"kind": "software_installed", "field": "software", "subject": name, "before": None, "after": v,
                "data": data} for v in came])


def _diff_asset(old: dict | None, new: dict) -> list[dict]:
    """Changes of one asset, each {kind, field, subject, before, after, data?}; moves are found later."""
    out = []
    if old is None:     # created: the time-bound identifiers it came with are logged too (who held them when)
        out.append({"kind": "created", "field": None, "subject": None, "before": None,
                    "after": new["props"].get("name")})
        old = {"props": new["props"], "owners": new["owners"], "ports": new["ports"], "software": new["software"],
               "controls": new["controls"], "sightings": new["sightings"],
               "identifiers": {k for k in new["identifiers"] if k.split(":", 1)[0] not in _TIME_BOUND}}
        out += [{"kind": "identifier_added", "field": key.split(":", 1)[0], "subject": key, "before": None,
                 "after": key.split(":", 1)[1], "creation": True} for key in sorted(new["identifiers"] - old["identifiers"])]
        return out
    for name in sorted(set(old["props"]) | set(new["props"])):
        before, after = old["props"].get(name), new["props"].get(name)
        if before != after:
            out.append({"kind": "field_changed", "field": name, "subject": None, "before": before, "after": after})
    for key in sorted(new["identifiers"] - old["identifiers"]):
        out.append({"kind": "identifier_added", "field": key.split(":", 1)[0], "subject": key, "before": None,
                    "after": key.split(":", 1)[1]})
    for key in sorted(old["identifiers"] - new["identifiers"]):
        out.append({"kind": "identifier_removed", "field": key.split(":", 1)[0], "subject": key,
                    "before": key.split(":", 1)[1], "after": None})
    for src in sorted(set(old["owners"]) | set(new["owners"])):
        before, after = old["owners"].get(src), new["owners"].get(src)
        if before != after:
            out.append({"kind": "owner_changed", "field": "owner", "subject": src or None, "before": before,
                        "after": after})
    for port in sorted(set(old["ports"]) | set(new["ports"])):
        before, after = old["ports"].get(port), new["ports"].get(port)
        if before == after:
            continue
        kind = "port_opened" if before is None else "port_closed" if after is None else "port_changed"
        out.append({"kind": kind, "field": "port", "subject": port, "before": before and port_text(before),
                    "after": after and port_text(after), "data": json.dumps(after or before)})
    for key in sorted(set(old["software"]) | set(new["software"])):
        out += _software_changes(key, old["software"].get(key), new["software"].get(key))
    for key in sorted(set(old["controls"]) | set(new["controls"])):
        before, after = old["controls"].get(key, (None, False)), new["controls"].get(key, (None, False))
        if before[1] != after[1]:
            category = (after[0] or before[0])
            out.append({"kind": "control_gained" if after[1] else "control_lost", "field": "control",
                        "subject": key[0], "before": category if before[1] else None,
                        "after": category if after[1] else None, "data": json.dumps({"verb": key[1]})})
    for key in sorted(set(old["sightings"]) | set(new["sightings"])):
        before, after = old["sightings"].get(key), new["sightings"].get(key)
        if before is False and after is True:
            out.append(_sighting("seen_again", key))
        elif before is True and after is False:
            out.append(_sighting("stale", key))
    return out


def _sighting(kind: str, key: tuple[str, str]) -> dict:
    source, scope = key
    current = {"before": "stale", "after": "current"} if kind == "seen_again" else {"before": "current",
                                                                                    "after": "stale"}
    return {"kind": kind, "field": "sighting", "subject": f"{source} {scope}".strip(), **current}


def _moves(changes: dict[str, list[dict]]) -> None:
    """A time-bound identifier one asset lost and another gained in the same write moved between them:
    both assets get one `identifier_moved` (before: the former holder, after: the new one)."""
    lost = {c["subject"]: aid for aid, cs in changes.items() for c in cs if c["kind"] == "identifier_removed"}
    gained = {c["subject"]: aid for aid, cs in changes.items() for c in cs if c["kind"] == "identifier_added"}
    for key in sorted(set(lost) & set(gained)):
        if key.split(":", 1)[0] not in _TIME_BOUND:
            continue
        old, new = lost[key], gained[key]
        for aid in (old, new):
            changes[aid] = [c for c in changes[aid] if c.get("subject") != key or not c["kind"].startswith("identifier")]
            changes[aid].append({"kind": "identifier_moved", "field": key.split(":", 1)[0], "subject": key,
                                 "before": old, "after": new, "holder": new, "prior": old})


def diff(before: Snapshot, after: Snapshot) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """({asset id: changes}, {email: changes}) between two snapshots."""
    assets = {aid: _diff_asset(before.assets.get(aid), snap) for aid, snap in after.assets.items()}
    for aid, changes in assets.items():
        for change in changes:
            if change["kind"] == "identifier_added":
                change["holder"] = aid
            elif change["kind"] == "identifier_removed":
                change["prior"] = aid
    _moves(assets)
    for aid in assets:      # a new asset's own identifiers are its first state; only moves are logged
        assets[aid] = [c for c in assets[aid] if not c.pop("creation", False)]
    people = {}
    for email, props in after.people.items():
        old = before.people.get(email)
        if old is None:
            people[email] = [{"kind": "created", "field": None, "subject": None, "before": None,
                              "after": props.get("name")}]
            continue
        people[email] = [{"kind": "field_changed", "field": name, "subject": None, "before": old.get(name),
                          "after": props.get(name)}
                         for name in sorted(set(old) | set(props)) if old.get(name) != props.get(name)]
    return assets, people


def record(tx: Transaction, run_id: str, source: str, before: Snapshot, after: Snapshot, at: datetime,
           observed_at: dict[str, datetime] | None = None, actor: str | None = None,
           extra: Iterable[dict] = (), part: int = 0) -> int:
    """Write the changes between two snapshots (plus `extra` rows: stale sightings of assets outside
    them); returns how many. `observed_at` gives, per asset id, the source's own time for what it saw;
    other changes carry the run's time `at`, marked `at_from: 'run'`. `part` numbers the batches of one
    run, so change ids stay unique across them.

    One Change node holds one asset's (or person's) changes in one run (`items`, JSON, in order;
    `kinds` lists their kinds): a run that sets a dozen fields on 10k assets writes 10k nodes, not
    120k. An identifier's change that as-of lookups need (see `_keyed`) is a node of its own, keyed by
    `subject` (the identifier key) with `holder` (who holds it after) and `prior` (who held it before,
    where known)."""
    observed_at = observed_at or {}
    assets, people = diff(before, after)
    for change in extra:
        assets.setdefault(change["asset"], []).append({k: v for k, v in change.items() if k != "asset"})
    nodes: list[dict] = []
    count = 0

    def add(items: list[dict], asset: str | None, person: str | None, key: dict) -> None:
        when = observed_at.get(asset or "") or observed_at.get(items[0].get("holder") or "")
        nodes.append({"id": f"{run_id}/{part:05d}-{len(nodes):07d}", "at": when or at, "at_from": "source" if when else "run",
                      "recorded_at": at, "source": source, "run_id": run_id, "actor": actor, "asset_id": asset,
                      "person": person, "kinds": sorted({c["kind"] for c in items}), "items": json.dumps(items),
                      **key})
    for aid in sorted(assets):
        own = [c for c in assets[aid] if not _keyed(c)]
        if own:
            add(own, aid, None, {})
        for c in assets[aid]:
            if _keyed(c):
                add([c], aid, None, {"subject": c["subject"], "holder": c.get("holder"), "prior": c.get("prior")})
        count += len(assets[aid])
    for email in sorted(people):
        if people[email]:
            add(people[email], None, email, {})
            count += len(people[email])
    write_batches(tx, RECORD_CHANGES, nodes)
    return count


def _keyed(change: dict) -> bool:
    """Whether a change gets a Change node of its own, keyed by the identifier, for as-of lookups: every
    identifier change except a serial, tag, MAC or cloud id being added. Such an identifier never moves;
    who held it at a moment is its IDENTIFIES edge (since `first_seen`), so its addition is an item of the
    asset's own Change node (a Snipe-IT load adds two or three per asset: a node each tripled the log)."""
    return change["kind"].startswith("identifier_") and (
        change["kind"] != "identifier_added" or change["field"] in _TIME_BOUND)


def stale_rows(marked: dict[str, list[dict]], source: str, captured: set[str]) -> list[dict]:
    """Changes for what `links.mark_stale` marked on assets outside the snapshots (those inside are diffed)."""
    out = [{"asset": m["asset"], **_sighting("stale", (source, m["scope"] or ""))}
           for m in marked.get("sightings", ()) if m["asset"] not in captured]
    out += [{"asset": m["asset"], "kind": "control_lost", "field": "control", "subject": m["tool"],
             "before": m["category"], "after": None, "data": json.dumps({"verb": m["verb"]})}
            for m in marked.get("controls", ()) if m["asset"] not in captured]
    return sorted(out, key=lambda r: (r["asset"], r["kind"], r["subject"]))


class RunLog:
    """The change log of one ingest write: `start` before writing, `finish` after (same transaction).

    Takes the run's resolutions (each with its asset id and observation) and people, which of the
    assets the source reports exactly as last time (`unchanged`: same digest, still current) or are new
    in this run, and the facets the write can change (`facets`, see `_FACETS`). Captured: the run's assets except the unchanged (the new ones after the write only),
    plus the other current holders of the time-bound identifiers the run brings (they may lose them)."""

    def __init__(self, tx: Transaction, source: str, run_id: str, run_time: datetime, resolutions, people,
                 part: int = 0, unchanged: Collection[str] = frozenset(), new: Collection[str] = frozenset(),
                 facets: frozenset[str] = FACETS):
        self.tx, self.source, self.run_id, self.run_time, self.part = tx, source, run_id, run_time, part
        self.facets = facets
        self.marked: dict[str, list[dict]] = {}
        self.observed_at: dict[str, datetime] = {}
        observed: dict[str, list] = {}
        for res in resolutions:
            if res.asset_id:
                observed.setdefault(res.asset_id, []).append(res.observation)
        for aid, observations in observed.items():
            times = [o.observed_at for o in observations if o.time_from_source]
            if times:
                self.observed_at[aid] = max(times)
        # an identifier held by another asset than the one reporting it may move: capture both
        others = other_holders(tx, {(i.key, aid) for aid, observations in observed.items() for o in observations
                                    for i in o.identifiers if i.kind in TIME_BOUND_KINDS})
        self.ids = (set(observed) - set(unchanged)) | {a for pair in others for a in pair}
        self.emails = {p.email for p in people} | {p.manager_email for p in people if p.manager_email}
        self.emails |= {o.owner.email for os_ in observed.values() for o in os_ if o.owner}
        self.before = capture(tx, self.ids - set(new), self.emails, facets)

    def finish(self) -> int:
        after = capture(self.tx, set(self.before.assets), self.emails, self.facets)
        # assets new in this run: their name and identifiers (moves) are all the log needs of them
        after.assets.update(capture_new(self.tx, self.ids - set(self.before.assets)))
        extra = stale_rows(self.marked, self.source, set(self.ids))
        return record(self.tx, self.run_id, self.source, self.before, after, self.run_time, self.observed_at,
                      extra=extra, part=self.part)


def start(tx: Transaction, enabled: bool, source: str, run_id: str, run_time: datetime, resolutions,
          people, part: int = 0, unchanged: Collection[str] = frozenset(), new: Collection[str] = frozenset(),
          facets: frozenset[str] = FACETS) -> RunLog | None:
    """A RunLog, or None when the change log is off (ITAM_CHANGE_LOG=0): then the run's time is noted,
    so as-of answers can say the log has a gap."""
    if not enabled:
        tx.run(MARK_UNLOGGED, at=run_time, run_id=run_id).consume()
        return None
    return RunLog(tx, source, run_id, run_time, resolutions, people, part, unchanged, new, facets)


# Retention: an asset's (or person's) creation and its latest change are never pruned, so every asset
# keeps when it appeared and what last happened to it.
PRUNE = write(
    'prune-changes',
    "Retention: changes older than the cutoff, except an asset's creation and its latest change.",
    """
MATCH (c:Change) WHERE c.at < $cutoff AND NOT 'created' IN c.kinds
WITH c, CASE
  WHEN c.asset_id IS NOT NULL THEN EXISTS {
    MATCH (d:Change {asset_id: c.asset_id}) WHERE d.at > c.at OR (d.at = c.at AND d.id > c.id) }
  WHEN c.person IS NOT NULL THEN EXISTS {
    MATCH (d:Change {person: c.person}) WHERE d.at > c.at OR (d.at = c.at AND d.id > c.id) }
  ELSE true END AS superseded
WHERE superseded
CALL (c) { DELETE c } IN TRANSACTIONS OF 10000 ROWS
RETURN count(c) AS pruned
""")
NOTE_PRUNED = write(
    'note-pruned-horizon',
    'The retention horizon, so as-of answers before it say their history was pruned.',
    """
MERGE (l:ChangeLog {name: 'log'})
SET l.pruned_before = CASE WHEN l.pruned_before > $cutoff THEN l.pruned_before ELSE $cutoff END
""")


def prune(store, older_than_days: int, now: datetime | None = None) -> int:
    """Delete changes older than `older_than_days` (but never a creation or anything's latest change)
    and note the horizon, so as-of answers before it say their history was pruned. Returns how many."""
    if older_than_days < 1:
        raise ValueError("retention must be at least 1 day")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    with store.driver.session(database=store.database) as session:    # IN TRANSACTIONS needs auto-commit
        pruned = session.run(PRUNE, cutoff=cutoff).single()["pruned"]
        session.run(NOTE_PRUNED, cutoff=cutoff).consume()
    return pruned


def prune_after_run(store, older_than_days: int) -> int | None:
    """Retention after a successful run; a failure here never fails the run (its data is committed)."""
    try:
        return prune(store, older_than_days)
    except Exception:  # noqa: BLE001 - the next run or `itam changes prune` tries again
        return None
