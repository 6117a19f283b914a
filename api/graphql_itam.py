"""GraphQL for IT asset management: licence compliance, audits, renewals, the evidence report, lifecycle,
and the recordAudit mutation. Thin: every answer comes from queries/."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from api.permissions import actor, requires
from api.auth import Role
from queries.audits import UnknownAsset, audit_report, record_audit
from queries.evidence import inventory_report
from queries.licensing import license_compliance
from queries.lifecycle import lifecycles
from queries.policy import current_policy
from queries.renewals import renewals

if TYPE_CHECKING:
    from api.graphql_schema import Asset

AssetRef = Annotated["Asset", strawberry.lazy("api.graphql_schema")]


def today() -> dt.date:
    """The day the answers are for (UTC)."""
    return dt.datetime.now(dt.timezone.utc).date()


def _asset(asset_id: str, name: str | None = None):
    from api.graphql_schema import Asset
    return Asset(id=strawberry.ID(asset_id), known_name=name)


def _user_error(message: str):
    from api.graphql_schema import UserError
    return UserError(message)


@strawberry.type
class LifecycleCheck:
    name: str
    stage: str = strawberry.field(description="The standard the check belongs to")
    passed: bool
    evidence: str


@strawberry.type
class Lifecycle:
    recorded: str | None = strawberry.field(description="The stage the inventory's status label records")
    effective: str | None = strawberry.field(description="The stage the evidence shows")
    since: dt.date | None
    mismatch: bool
    checks: list[LifecycleCheck]


async def load_lifecycles(reader, ids: list[str]) -> list[Lifecycle | None]:
    """The DataLoader batch function behind Asset.lifecycle."""
    found = await lifecycles(reader, ids, today(), current_policy())
    out = []
    for asset_id in ids:
        life = found.get(asset_id)
        out.append(None if life is None else Lifecycle(
            recorded=life.recorded, effective=life.effective, since=life.since, mismatch=life.mismatch,
            checks=[LifecycleCheck(**c.__dict__) for c in life.checks]))
    return out


@strawberry.type
class ReclaimableSeat:
    holder: str
    reason: str
    seats: int
    license: str


@strawberry.type
class InstalledSoftware:
    asset: AssetRef
    software: str
    version: str | None
    source: str | None


@strawberry.type
class LicensePosition:
    product: str
    entitled: int
    assigned: int
    installed: int
    shortfall: int
    reclaimable: list[ReclaimableSeat]
    unlicensed_installs: list[InstalledSoftware]
    unused_cost: float
    expires_on: dt.date | None


@strawberry.type
class AuditEntry:
    asset: AssetRef
    asset_tag: str | None
    last_audit: dt.date | None
    next_audit_due: dt.date | None
    due: str = strawberry.field(description="current, due (within the policy's window), overdue or never audited")
    last_discovery: dt.datetime | None
    discovered_by: str | None
    status: str = strawberry.field(description="verified, unverified or missing")


@strawberry.type
class Renewal:
    kind: str = strawberry.field(description="contract, licence or warranty")
    reference: str
    vendor: str | None
    notice_deadline: dt.date
    ends: dt.date
    cost: float | None
    covers: list[str]
    lapsing_assets: list[str] = strawberry.field(description="Deployed assets whose only support lapses with it")
    in_notice: bool = strawberry.field(description="The notice deadline has come")


@strawberry.type
class ReportRun:
    source: str
    id: str
    finished: dt.datetime | None


@strawberry.type
class ReportAsset:
    asset_tag: str | None
    name: str | None
    recorded_stage: str | None
    effective_stage: str | None
    owner: str
    controls: str
    last_seen: str
    last_audit: dt.date | None
    next_audit_due: dt.date | None
    audit_status: str
    licence_status: str


@strawberry.type
class CompletenessFigure:
    figure: str
    meeting: int
    total: int
    percent: float
    query: str
    cypher: str


@strawberry.type
class InventoryReport:
    generated_at: dt.datetime
    as_of: dt.date
    ingest_runs: list[ReportRun]
    assets: list[ReportAsset]
    completeness: list[CompletenessFigure]
    csv: str = strawberry.field(description="The same report as `itam report inventory --format csv`")


@strawberry.type
class RecordedAudit:
    asset: AssetRef
    audited_at: dt.datetime
    audited_by: str
    location: str | None
    note: str | None


def _install(i) -> InstalledSoftware:
    return InstalledSoftware(asset=_asset(i.asset_id, i.asset), software=i.software, version=i.version,
                             source=i.source)


@strawberry.type
class ItamQuery:
    @strawberry.field(description="Licence compliance position per product (or one product, by any of its names).")
    async def license_compliance(self, info: Info, product: str | None = None) -> list[LicensePosition]:
        found = await license_compliance(info.context.reader, today(), product, current_policy().not_seen_days)
        return [LicensePosition(
            product=p.product, entitled=p.entitled, assigned=p.assigned, installed=p.installed, shortfall=p.shortfall,
            reclaimable=[ReclaimableSeat(**r.__dict__) for r in p.reclaimable],
            unlicensed_installs=[_install(i) for i in p.unlicensed_installs], unused_cost=p.unused_cost,
            expires_on=p.expires_on) for p in found]

    @strawberry.field(description="The audit report: every inventory host with last audit, next due, last "
                                  "discovery evidence and status (verified, unverified, missing).")
    async def audit_report(self, info: Info) -> list[AuditEntry]:
        rows = await audit_report(info.context.reader, today(), current_policy())
        return [AuditEntry(asset=_asset(r["id"], r["name"]), asset_tag=r["asset_tag"], last_audit=r["last_audit"],
                           next_audit_due=r["next_due"], due=r["due"], last_discovery=r["last_discovery"],
                           discovered_by=r["discovered_by"], status=r["status"]) for r in rows]

    @strawberry.field(description="Contracts, licences and warranties by notice deadline within withinDays days.")
    async def renewals(self, info: Info, within_days: int = 90) -> list[Renewal]:
        try:
            rows = await renewals(info.context.reader, today(), within_days)
        except ValueError as exc:
            raise _user_error(str(exc)) from None
        return [Renewal(kind=r["kind"], reference=r["reference"], vendor=r["vendor"], notice_deadline=r["deadline"],
                        ends=r["ends"], cost=r["cost"], covers=r["covers"], lapsing_assets=r["lapsing"],
                        in_notice=r["in_notice"]) for r in rows]

    @strawberry.field(description="The inventory evidence report (generatedAt defaults to now).")
    async def inventory_report(self, info: Info, generated_at: dt.datetime | None = None) -> InventoryReport:
        from api.exports import report_csv
        moment = generated_at or dt.datetime.now(dt.timezone.utc)
        report = await inventory_report(info.context.reader, today(), moment, current_policy())
        return InventoryReport(
            generated_at=report.generated_at, as_of=report.today,
            ingest_runs=[ReportRun(**r) for r in report.runs], assets=[ReportAsset(**a) for a in report.assets],
            completeness=[CompletenessFigure(**f) for f in report.completeness], csv=report_csv(report))


@strawberry.type
class ItamMutation:
    @strawberry.mutation(permission_classes=[requires(Role.INGESTER)],
                         description="Record a physical audit of the asset with this tag, now, by the caller.")
    async def record_audit(self, info: Info, asset_tag: str, location: str | None = None,
                           note: str | None = None) -> RecordedAudit:
        reader = info.context.reader
        try:
            done = await record_audit(reader.driver, reader.database, asset_tag, actor(info), location, note)
        except UnknownAsset as exc:
            raise _user_error(str(exc)) from None
        return RecordedAudit(asset=_asset(done.id, done.name), audited_at=done.audited_at, audited_by=done.audited_by,
                             location=done.location, note=done.note)
