"""GraphQL for time: `asset(identifier, asOf)`, `changes(...)` and `ingestRuns(...)`, composed into Query."""
from __future__ import annotations

import base64
import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from queries import history
from queries.filter_values import CHANGE_KIND, RUN_STATUS, SOURCE
from queries.host import AmbiguousIdentifier, find_asset_id
from queries.ops import ingest_runs_page

if TYPE_CHECKING:
    from api.graphql_schema import Asset, PageInfo

AssetRef = Annotated["Asset", strawberry.lazy("api.graphql_schema")]
PageInfoRef = Annotated["PageInfo", strawberry.lazy("api.graphql_schema")]


def _user_error(message: str):
    from api.graphql_schema import UserError
    return UserError(message)


@strawberry.type
class AssetHistory:
    as_of: dt.datetime = strawberry.field(description="The moment the asset is shown at")
    notes: list[str] = strawberry.field(description="Where history does not reach back that far, and which "
                                                    "facts are the present")
    reaches_back: dt.datetime | None = strawberry.field(
        description="The change log covers this asset from here on; null: from its creation")


def asset_history(past) -> AssetHistory | None:
    """The `history` field of an asset shown as of a past moment (None for the present)."""
    if past is None:
        return None
    return AssetHistory(as_of=past.as_of, notes=past.notes, reaches_back=past.reaches_back)


@strawberry.type
class ChangeRun:
    id: strawberry.ID


@strawberry.type
class Change:
    id: strawberry.ID
    at: dt.datetime = strawberry.field(description="When it happened: the source's observation time, or the "
                                                   "run's time where the source carries none (atFrom)")
    at_from: str = strawberry.field(description="'source' or 'run'")
    recorded_at: dt.datetime
    kind: str = strawberry.field(description="created, field_changed, identifier_added/removed/moved, "
                                             "owner_changed, port_opened/closed/changed, software_installed/"
                                             "removed/upgraded, control_gained/lost, stale, seen_again, "
                                             "audit_recorded, finding_suppressed")
    field: str | None
    subject: str | None = strawberry.field(description="What inside the asset: identifier key, port, software, "
                                                       "control, sighting, the OWNS source, a finding id")
    before: str | None
    after: str | None
    source: str
    actor: str | None = strawberry.field(description="Who made a mutation")
    run: ChangeRun | None
    asset: AssetRef | None
    person: str | None


@strawberry.type
class ChangeEdge:
    cursor: str
    node: Change


@strawberry.type
class ChangeConnection:
    edges: list[ChangeEdge]
    page_info: PageInfoRef


@strawberry.type
class IngestRun:
    id: strawberry.ID
    source: str
    status: str
    started: dt.datetime
    finished: dt.datetime | None
    files: list[str]
    records: int
    created: int
    updated: int
    unchanged: int
    conflicts: int
    skipped: int
    unmatched: int
    retired: int
    dropped: int
    error: str | None


@strawberry.type
class IngestRunEdge:
    cursor: str
    node: IngestRun


@strawberry.type
class IngestRunConnection:
    edges: list[IngestRunEdge]
    page_info: PageInfoRef


def _change(row: dict) -> Change:
    from api.graphql_schema import Asset
    asset = Asset(id=strawberry.ID(row["asset_id"]), known_name=row["asset_name"]) if row.get("asset_id") else None
    return Change(id=strawberry.ID(f"{row['id']}#{row['index']}"), at=row["at"], at_from=row.get("at_from") or "run",
                  recorded_at=row.get("recorded_at") or row["at"], kind=row["kind"], field=row.get("field"),
                  subject=row.get("subject"), before=row.get("before"), after=row.get("after"),
                  source=row.get("source") or "", actor=row.get("actor"),
                  run=ChangeRun(id=strawberry.ID(row["run_id"])) if row.get("run_id") else None,
                  asset=asset, person=row.get("person"))


_RUN_COUNTS = ("records", "created", "updated", "unchanged", "conflicts", "skipped", "unmatched", "retired", "dropped")


def ingest_run_of(run: dict) -> IngestRun:
    return IngestRun(id=strawberry.ID(run["id"]), source=run["source"], status=run["status"], started=run["started"],
                     finished=run.get("finished"), files=list(run.get("files") or []), error=run.get("error"),
                     **{k: int(run.get(k) or 0) for k in _RUN_COUNTS})


def _run_cursor(run: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps([run["started"].isoformat(), run["id"]]).encode()).decode()


def _decode_run_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        started, run_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return dt.datetime.fromisoformat(started), str(run_id)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise _user_error("malformed cursor") from None


@strawberry.type
class HistoryQuery:
    @strawberry.field(description="The asset any identifier means: hostname, FQDN, IP, MAC, serial, asset tag, "
                                  "cloud id or agent id; 'kind:value' picks a kind; else an asset id, else an "
                                  "exact name (not with asOf). Ambiguous: an error listing the candidates.")
    async def asset(self, info: Info, identifier: str, as_of: Annotated[dt.datetime | None, strawberry.argument(
            description="The asset that held the identifier at this moment, as it was then (Asset.history says "
                        "what history cannot vouch for)")] = None) -> AssetRef | None:
        from api.graphql_schema import Asset
        try:
            if as_of is None:
                asset_id = await find_asset_id(info.context.reader, identifier)
                return Asset(id=strawberry.ID(asset_id)) if asset_id else None
            past = await history.asset_as_of(info.context.reader, identifier, as_of)
        except AmbiguousIdentifier as exc:
            raise _user_error(str(exc)) from None
        return Asset(id=strawberry.ID(past.context.id), past=past) if past else None

    @strawberry.field(description=f"What changed from `since` (to `until`), oldest first; `asset` is any "
                                  f"identifier or an asset id; at most {history.MAX_PAGE} a page.")
    async def changes(self, info: Info, since: dt.datetime, until: dt.datetime | None = None,
                      asset: str | None = None, kinds: list[str] | None = None, first: int = 50,
                      after: str | None = None) -> ChangeConnection:
        from api.graphql_schema import PageInfo
        try:
            rows, more = await history.changes(info.context.reader, since, until, asset,
                                               CHANGE_KIND.check_all("kinds", kinds), first, after)
        except (ValueError, AmbiguousIdentifier) as exc:
            raise _user_error(str(exc)) from None
        edges = [ChangeEdge(cursor=history.encode_cursor(r["at"], r["id"], r["index"]), node=_change(r)) for r in rows]
        return ChangeConnection(edges=edges, page_info=PageInfo(has_next_page=more,
                                                                end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description=f"Ingest runs, newest first, by source and status (running, succeeded, failed, "
                                  f"dry-run); at most {history.MAX_PAGE} a page.")
    async def ingest_runs(self, info: Info, source: str | None = None, status: str | None = None, first: int = 50,
                          after: str | None = None) -> IngestRunConnection:
        from api.graphql_schema import PageInfo
        if not 1 <= first <= history.MAX_PAGE:
            raise _user_error(f"first must be between 1 and {history.MAX_PAGE}")
        try:
            source, status = SOURCE.check("source", source), RUN_STATUS.check("status", status)
        except ValueError as exc:
            raise _user_error(str(exc)) from None
        runs = await ingest_runs_page(info.context.reader, source, status, first + 1,
                                      _decode_run_cursor(after) if after else None)
        edges = [IngestRunEdge(cursor=_run_cursor(r), node=ingest_run_of(r)) for r in runs[:first]]
        return IngestRunConnection(edges=edges, page_info=PageInfo(has_next_page=len(runs) > first,
                                                                   end_cursor=edges[-1].cursor if edges else None))
