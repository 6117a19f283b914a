"""Time as a question: what changed (the change log), and what an asset was at a past moment.

`asset_as_of` finds who held an identifier at that moment (the change log's identifier changes, else
the time-bound edges: `HAS_IP {first_seen, until}`, `IDENTIFIES {first_seen}`), then rewinds the
asset's present state by undoing, newest first, every logged change after the moment. Where the log
does not reach back that far (the asset predates it, it was pruned, or a run wrote with it off) the
answer says so in `notes`.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from graph.identifiers import lookup_keys
from queries.catalog import GraphReader, named, run
from queries.host import ASSET_CONTEXT, GONE_STATES, AmbiguousIdentifier, AssetContext

MAX_PAGE = 100
IDENTIFIER_CHANGES = ["identifier_added", "identifier_removed", "identifier_moved"]
# What an as-of answer rewinds; everything else on an asset is the present.
AS_OF_FACETS = "identifiers, addresses, owner, lifecycle stage and other fields, open ports, software, controls, " \
               "sightings"

CHANGES = named(
    "changes", "history",
    "Changes ingest runs and mutations made, oldest first from `since` (to `until`), optionally of one asset "
    "and of some kinds; keyset-paged on (at, id).",
    """
MATCH (c:Change)
WHERE c.at >= $since AND ($until IS NULL OR c.at < $until)
  AND ($asset IS NULL OR c.asset_id = $asset)
  AND ($kinds IS NULL OR any(k IN c.kinds WHERE k IN $kinds))
  AND ($after_at IS NULL OR c.at > $after_at OR (c.at = $after_at AND c.id >= $after_id))
WITH c ORDER BY c.at, c.id LIMIT $limit
OPTIONAL MATCH (a:Asset {id: c.asset_id}) USING INDEX SEEK a:Asset(id)
RETURN c {.*} AS change, a.name AS asset_name
ORDER BY c.at, c.id
""")

HOLDERS_AT = named(
    "identifier_holders_at", "history",
    "Who held each identifier key at a moment: the newest logged identifier change at or before it (its "
    "holder, possibly nobody), else the holder before the first change after it, and the time-bound edges "
    "(HAS_IP intervals, IDENTIFIES since first_seen).",
    """
UNWIND $keys AS key
CALL (key) {
  OPTIONAL MATCH (c:Change {subject: key}) WHERE c.at <= $at
  WITH c ORDER BY c.at DESC, c.id DESC LIMIT 1
  RETURN c IS NOT NULL AS logged, c.holder AS logged_holder
}
CALL (key) {
  OPTIONAL MATCH (c:Change {subject: key}) WHERE c.at > $at
  WITH c ORDER BY c.at, c.id LIMIT 1
  RETURN c.prior AS prior_holder
}
CALL (key) {
  OPTIONAL MATCH (i:Identifier {key: key})-[r:IDENTIFIES]->(a:Asset) USING INDEX SEEK i:Identifier(key)
  WHERE r.first_seen <= $at
  RETURN collect(a.id) AS linked
}
CALL (key) {
  OPTIONAL MATCH (a:Asset)-[h:HAS_IP]->(ip:IPAddress {address: substring(key, 3)}) USING INDEX SEEK ip:IPAddress(address)
  WHERE key STARTS WITH 'ip:' AND h.first_seen <= $at AND (h.until IS NULL OR h.until > $at)
  RETURN collect(a.id) AS addressed
}
RETURN key, logged, logged_holder, prior_holder, linked + addressed AS edge_holders
""")

ASSET_HISTORY = named(
    "asset_changes_after", "history",
    "One asset's logged changes after a moment, newest first (to undo them), the asset's first logged "
    "change, and the change log's own state (pruning horizon, newest run written with the log off).",
    """
OPTIONAL MATCH (l:ChangeLog {name: 'log'}) USING INDEX SEEK l:ChangeLog(name)
CALL {
  MATCH (c:Change {asset_id: $asset}) WHERE c.at > $at
  WITH c ORDER BY c.at DESC, c.id DESC
  RETURN collect(c {.*}) AS later
}
CALL {
  OPTIONAL MATCH (c:Change {asset_id: $asset})
  WITH c ORDER BY c.at LIMIT 1
  RETURN c.at AS first_logged, 'created' IN coalesce(c.kinds, []) AS first_created
}
RETURN later, first_logged, first_created, l.pruned_before AS pruned_before, l.last_unlogged_at AS unlogged_at
""")

PEOPLE = named(
    "people_by_email", "history",
    "People by e-mail with their teams (an as-of owner).",
    """
UNWIND $emails AS email
MATCH (p:Person {email: email}) USING INDEX SEEK p:Person(email)
RETURN p.email AS email, p.name AS name, p.active AS active, p.end_date AS end_date,
       [(p)-[:MEMBER_OF]->(t:Team) | t.name] AS teams
""")

# Mutations record who made them; the asset's change log lists them beside the runs' changes.
RECORD_MUTATION = named(
    "record_mutation_change", "history (write)",
    "Log a change a person made through the API or CLI (an audit recorded, a finding suppressed).",
    """
UNWIND $rows AS row
CREATE (c:Change)
SET c += row, c.at = $at, c.recorded_at = $at, c.at_from = 'run', c.actor = $actor, c.source = 'api'
""")


def items(node: dict) -> list[dict]:
    """The changes one Change node holds, in the order they were made."""
    return json.loads(node.get("items") or "[]")


async def record_mutation(tx, kind: str, actor: str, at: datetime, assets: list[str], field: str | None = None,
                          subject: str | None = None, before: str | None = None, after: str | None = None) -> None:
    """Inside the mutation's own transaction: one change per asset it touched, recorded with who made it."""
    stamp = at.strftime("%Y%m%dT%H%M%S%f")
    item = {"kind": kind, "field": field, "subject": subject, "before": before, "after": after}
    rows = [{"id": f"mutation-{stamp}-{kind}-{n}-{asset}", "kinds": [kind], "items": json.dumps([item]),
             "asset_id": asset} for n, asset in enumerate(assets)]
    await run(tx, RECORD_MUTATION, rows=rows, at=at, actor=actor)


def encode_cursor(at: datetime, change_id: str, index: int = 0) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), change_id, index]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str, int]:
    try:
        at, change_id, index = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(at), str(change_id), int(index)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ValueError("malformed cursor") from None


def aware(moment: datetime) -> datetime:
    """A moment without a zone is UTC (`2026-11-21T03:12` as a responder types it)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def changes(reader: GraphReader, since: datetime, until: datetime | None = None, asset: str | None = None,
                  kinds: list[str] | None = None, first: int = 50,
                  after: str | None = None) -> tuple[list[dict], bool]:
    """A page of changes (oldest first) and whether more follow. `asset` is any identifier or an asset id."""
    if not 1 <= first <= MAX_PAGE:
        raise ValueError(f"first must be between 1 and {MAX_PAGE}")
    after_at, after_id, after_index = decode_cursor(after) if after else (None, None, -1)
    asset_id = await resolve_asset(reader, asset) if asset else None
    if asset and asset_id is None:
        raise ValueError(f"no asset has an identifier {asset!r}")
    out: list[dict] = []
    while True:     # a node holds one or more changes: read nodes until the page (and one more) is full
        # the cursor's own node is read again (>= on its id), since items after the cursor's may be left
        rows = await reader.rows(CHANGES, since=aware(since), until=aware(until) if until else None,
                                 asset=asset_id, kinds=kinds, after_at=after_at, after_id=after_id,
                                 limit=first + 2)
        for row in rows:
            node = row["change"]
            start = after_index + 1 if node["id"] == after_id else 0
            meta = {k: v for k, v in node.items() if k not in ("items", "kinds", "subject", "holder", "prior")}
            for index, item in enumerate(items(node)):
                if index >= start and (kinds is None or item["kind"] in kinds):
                    out.append({**meta, **item, "index": index, "asset_name": row["asset_name"]})
        if len(out) > first:
            return out[:first], True
        if len(rows) < first + 2:
            return out, False
        after_at, after_id, after_index = rows[-1]["change"]["at"], rows[-1]["change"]["id"], 10**9


async def resolve_asset(reader: GraphReader, text: str) -> str | None:
    """The asset an identifier, an asset id or a name means now (find_asset_id)."""
    from queries.host import find_asset_id
    return await find_asset_id(reader, text)


async def holder_at(reader: GraphReader, text: str, at: datetime) -> str | None:
    """The asset an identifier meant at `at`; AmbiguousIdentifier if several held it then."""
    keys = lookup_keys(text)
    if not keys:
        return None
    held: dict[str, list[str]] = {}
    for row in await reader.rows(HOLDERS_AT, keys=keys, at=at, kinds=IDENTIFIER_CHANGES):
        if row["logged"]:
            holders = [row["logged_holder"]] if row["logged_holder"] else []
        else:
            holders = [row["prior_holder"]] if row["prior_holder"] else row["edge_holders"]
        for asset in dict.fromkeys(holders):
            held.setdefault(asset, []).append(row["key"])
    if len(held) > 1:
        names = {r["asset"]["id"]: r["asset"].get("name")
                 for r in await reader.rows(ASSET_CONTEXT, ids=sorted(held), gone=GONE_STATES)}
        raise AmbiguousIdentifier(text, [{"id": a, "name": names.get(a), "matched": k} for a, k in sorted(held.items())])
    return next(iter(held), None)


@dataclass
class PastAsset:
    """An asset as it was at `as_of`, with what the answer cannot vouch for."""

    context: AssetContext
    as_of: datetime
    notes: list[str] = field(default_factory=list)
    reaches_back: datetime | None = None       # the log covers this asset from here on (None: from creation)


async def asset_as_of(reader: GraphReader, text: str, at: datetime) -> PastAsset | None:
    """The asset an identifier meant at `at`, as it was then; None if nothing held it."""
    at = aware(at)
    asset_id = await holder_at(reader, text, at)
    if asset_id is None:
        return None
    rows = await reader.rows(ASSET_CONTEXT, ids=[asset_id], gone=GONE_STATES)
    if not rows:
        return None
    row = rows[0]
    history = (await reader.rows(ASSET_HISTORY, asset=asset_id, at=at))[0]
    if any("created" in (c.get("kinds") or []) for c in history["later"]):
        return None                     # a later run created it: it did not exist yet
    notes: list[str] = []
    later = [item for node in history["later"] for item in reversed(items(node))]    # newest first
    row = await _rewind(reader, row, later, at)
    reaches_back = None if history["first_created"] else history["first_logged"]
    if reaches_back is None and history["first_logged"] is None:
        reaches_back = datetime.now(UTC)
    if reaches_back is not None and at < _py(reaches_back):
        notes.append(f"the change log reaches back to {_py(reaches_back).isoformat()} for this asset; changes "
                     "before then were not logged, so facts are shown as they were then")
    if history["pruned_before"] is not None and at < _py(history["pruned_before"]):
        notes.append(f"changes before {_py(history['pruned_before']).isoformat()} were pruned "
                     "(ITAM_CHANGE_RETENTION_DAYS); facts may show later values")
    if history["unlogged_at"] is not None and at < _py(history["unlogged_at"]):
        notes.append(f"a run at {_py(history['unlogged_at']).isoformat()} wrote with the change log off "
                     "(ITAM_CHANGE_LOG=0); what it changed is shown as now")
    if row["asset"].get("first_seen") and at < _py(row["asset"]["first_seen"]):
        notes.append(f"first seen {_py(row['asset']['first_seen']).isoformat()}, after the moment asked")
    notes.append(f"as of {at.isoformat()}: {AS_OF_FACETS}; everything else (credentials, licences, findings, "
                 "reach) is the present")
    ctx = AssetContext.from_row(row, today=at.date())
    return PastAsset(ctx, at, notes, _py(reaches_back) if reaches_back else None)


def _py(value: Any) -> Any:
    to_native = getattr(value, "to_native", None)
    return to_native() if to_native else value


def _revive(text: str | None, like: Any) -> Any:
    """A logged value (text) back in the type the present value has (a date stays a date)."""
    if text is None or like is None or isinstance(like, str):
        return text
    try:
        if isinstance(like, datetime):
            return datetime.fromisoformat(text)
        if isinstance(like, date):
            return date.fromisoformat(text)
        if isinstance(like, bool):
            return text == "True"
        if isinstance(like, (int, float)):
            return type(like)(text)
    except ValueError:
        return text
    return text


async def _rewind(reader: GraphReader, row: dict, later: list[dict], at: datetime) -> dict:
    """Undo `later` (newest first) on a present asset-context row; time-bound edges give addresses and
    sightings their state at `at`."""
    props = dict(row["asset"])
    idents = {f"{i['kind']}:{i['value']}": i for i in row["identifiers"]}
    owners = {o["source"] or "": o for o in row["owners"]}
    ports = {f"{p['protocol']}/{p['number']}": p for p in row["ports"]}
    software = {(s["name"], s["source"], s["version"]): s for s in row["software"]}
    controls = {c["tool"]: c for c in row["controls"]}
    sightings = {f"{s['source']} {s['scope'] or ''}".strip(): s for s in row["sightings"]}
    owner_emails: dict[str, str | None] = {}
    for c in later:
        kind, subject = c["kind"], c.get("subject")
        if kind == "field_changed":
            if c.get("before") is None:
                props.pop(c["field"], None)
            else:
                props[c["field"]] = _revive(c.get("before"), props.get(c["field"]))
        elif kind == "identifier_added" or (kind == "identifier_moved" and c.get("after") == props["id"]):
            assert subject is not None      # identifier changes name the identifier ("kind:value")
            idents.pop(subject, None)
        elif kind == "identifier_removed" or (kind == "identifier_moved" and c.get("before") == props["id"]):
            assert subject is not None
            kind_, _, value = subject.partition(":")
            idents[subject] = {"kind": kind_, "value": value}
        elif kind == "owner_changed":
            owner_emails[subject or ""] = c.get("before")
        elif kind in ("port_opened", "port_closed", "port_changed"):
            assert subject is not None      # port changes name the port ("protocol/number") and carry its data
            if c.get("before") is None:
                ports.pop(subject, None)
            else:
                ports[subject] = json.loads(c["data"])
        elif kind.startswith("software_"):     # per version: installed, removed, or one for another
            data = json.loads(c["data"])
            if kind != "software_removed":
                software.pop((subject, data["source"], c.get("after")), None)
            if kind != "software_installed":
                software[(subject, data["source"], c.get("before"))] = {
                    "name": subject, "version": c.get("before"), "source": data["source"], "purl": data["purl"]}
        elif kind in ("control_gained", "control_lost"):
            if c.get("before") is None:
                controls.pop(subject, None)
            else:
                controls[subject] = {**controls.get(subject, {"tool": subject, "last_seen": None}),
                                     "category": c.get("before"), "verb": json.loads(c["data"])["verb"], "current": True}
        elif kind in ("stale", "seen_again") and subject in sightings:
            sightings[subject] = {**sightings[subject], "current": kind == "stale",
                                  "stale_since": None if kind == "stale" else sightings[subject]["stale_since"]}
    if owner_emails:
        people = {p["email"]: p for p in await reader.rows(PEOPLE, emails=sorted(e for e in owner_emails.values() if e))}
        for src, email in owner_emails.items():
            if email is None:
                owners.pop(src, None)
            else:
                person = people.get(email, {"email": email, "name": None, "active": None, "end_date": None, "teams": []})
                owners[src] = {**person, "source": src or None}
    addresses = [{"address": a["address"], "last_seen": min(a["last_seen"], at),
                  "current": a["until"] is None or a["until"] > at}
                 for a in await reader.rows(ADDRESSES_AT, asset=props["id"]) if a["first_seen"] <= at]
    past_sightings = [{**s, "last_seen": min(s["last_seen"], at),
                       "current": s["current"] or (s["stale_since"] is not None and s["stale_since"] > at)}
                      for s in sightings.values() if s["first_seen"] <= at]
    return {**row, "asset": props, "identifiers": list(idents.values()), "owners": list(owners.values()),
            "ports": list(ports.values()), "software": list(software.values()), "controls": list(controls.values()),
            "addresses": addresses, "sightings": past_sightings}


ADDRESSES_AT = named(
    "addresses_of_asset", "history",
    "One asset's addresses with the interval it held each (first_seen, until).",
    """
MATCH (a:Asset {id: $asset})-[h:HAS_IP]->(ip:IPAddress) USING INDEX SEEK a:Asset(id)
RETURN ip.address AS address, h.first_seen AS first_seen, h.until AS until, h.last_seen AS last_seen
""")
