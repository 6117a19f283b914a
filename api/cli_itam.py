"""`itam licenses`, `itam audit ...`, `itam renewals`, `itam report inventory`: the asset manager's commands.

Each reads the ITAM policy and the software table first, so a malformed one stops the command with its
file and line before anything else happens.
"""
from __future__ import annotations

import asyncio
import getpass
from datetime import date, datetime, timezone
from enum import Enum
from typing import Annotated, Optional

import typer
from rich.table import Table

from api.terminal import safe
from graph.config import Settings
from graph.store import connect_async
from ingest.software_table import SoftwareTableError, current_table
from queries.audits import UnknownAsset, audit_report, record_audit
from queries import itam_rules  # noqa: F401 - its rules and denominators appear in `itam queries`
from queries.evidence import inventory_report
from queries.licensing import license_compliance
from queries.renewals import renewals
from queries.policy import Policy, PolicyError, current_policy

audit_app = typer.Typer(help="Inventory audits: the report, and recording a physical audit.", no_args_is_help=True)
report_app = typer.Typer(help="Evidence reports.", no_args_is_help=True)


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="table, csv or json")]


def _policy(fail) -> Policy:
    """The policy in force, after checking it and the software table (start-up validation)."""
    try:
        current_table()
        return current_policy()
    except (PolicyError, SoftwareTableError) as exc:
        fail(str(exc), 2)
        raise   # fail() exits; this only keeps the function from falling through


def _today() -> date:
    return datetime.now(timezone.utc).date()


def register(app: typer.Typer, console, fail, read) -> None:
    """Add the ITAM commands to the `itam` app (console, error exit and query runner from api.cli)."""
    app.add_typer(audit_app, name="audit")
    app.add_typer(report_app, name="report")

    @app.command("licenses")
    def licenses(product: Annotated[Optional[str], typer.Option(help="Only this product (any of its names)")] = None,
                 fmt: FormatOption = Format.table) -> None:
        """The licence compliance position of every product: entitled, assigned, installed, shortfall,
        reclaimable seats, unlicensed installs, unused cost, expiry."""
        policy = _policy(fail)
        found = read(lambda reader: license_compliance(reader, _today(), product, policy.not_seen_days))
        from api.exports import csv_text, json_text
        if fmt is Format.json:
            console.out(json_text([p.as_dict() for p in found]), end="")
            return
        header = ["product", "entitled", "assigned", "installed", "shortfall", "reclaimable", "unlicensed_installs",
                  "unused_cost", "expires_on"]
        rows = [[p.product, p.entitled, p.assigned, p.installed, p.shortfall,
                 "; ".join(f"{r.holder}: {r.reason}" for r in p.reclaimable),
                 "; ".join(f"{i.asset} ({i.software} {i.version or ''}, {i.source})".replace(" ,", ",")
                           for i in p.unlicensed_installs),
                 f"{p.unused_cost:.2f}", p.expires_on] for p in found]
        if fmt is Format.csv:
            console.out(csv_text(header, rows), end="")
            return
        table = Table(*header)
        for row in rows:
            table.add_row(*("" if v is None else safe(v) for v in row))
        console.print(table if rows else "no licensed or licensable products")

    @audit_app.command("record")
    def audit_record(tag: Annotated[str, typer.Argument(help="The asset tag")],
                     location: Annotated[Optional[str], typer.Option(help="Where it was found")] = None,
                     note: Annotated[Optional[str], typer.Option(help="A note for the record")] = None) -> None:
        """Record a physical audit of an asset now, by you (an unknown tag writes nothing)."""
        _policy(fail)
        settings = Settings.from_env()

        async def work():
            driver = connect_async(settings)
            try:
                return await record_audit(driver, settings.neo4j_database, tag, f"cli:{getpass.getuser()}",
                                          location, note)
            finally:
                await driver.close()
        try:
            done = asyncio.run(work())
        except UnknownAsset as exc:
            fail(str(exc), 4)
        console.print(safe(f"audit of {done.asset_tag} ({done.name}) recorded {done.audited_at:%Y-%m-%d %H:%M} UTC "
                           f"by {done.audited_by}"), highlight=False)

    @app.command("renewals")
    def renewals_cmd(within_days: Annotated[int, typer.Option("--within-days", help="Notice deadlines this close")] = 90,
                     fmt: FormatOption = Format.table) -> None:
        """Contracts, licences and warranties by notice deadline, with cost, cover and lapsing assets."""
        _policy(fail)
        try:
            rows = read(lambda reader: renewals(reader, _today(), within_days))
        except ValueError as exc:
            fail(str(exc))
        header = ["kind", "reference", "vendor", "deadline", "ends", "cost", "covers", "lapsing", "in_notice"]
        _emit(console, fmt, header, [[("; ".join(r[k]) if isinstance(r[k], list) else r[k]) for k in header]
                                     for r in rows], rows)

    @report_app.command("inventory")
    def report_inventory(fmt: Annotated[Format, typer.Option("--format", help="csv or json")] = Format.csv,
                         generated_at: Annotated[Optional[datetime], typer.Option(
                             "--generated-at", help="The generation time to print (default now; fix it to "
                                                    "compare reports byte for byte)")] = None) -> None:
        """The inventory evidence report: per asset stage, owner, controls, last seen, audit and licence
        status; then the completeness summary with the query behind each figure."""
        policy = _policy(fail)
        moment = generated_at or datetime.now(timezone.utc)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        report = read(lambda reader: inventory_report(reader, _today(), moment, policy))
        from api.exports import json_text, report_csv
        console.out(json_text(report.as_dict()) if fmt is Format.json else report_csv(report), end="")

    @audit_app.command("report")
    def audit_report_cmd(fmt: FormatOption = Format.table) -> None:
        """Every host in the inventory: last physical audit, next due, last discovery, status."""
        policy = _policy(fail)
        rows = read(lambda reader: audit_report(reader, _today(), policy))
        header = ["asset_tag", "name", "stage", "last_audit", "next_due", "due", "last_discovery", "discovered_by",
                  "status"]
        _emit(console, fmt, header, [[r[k] for k in header] for r in rows], rows)


def _emit(console, fmt: Format, header: list[str], values: list[list], rows: list[dict]) -> None:
    """Rows as a table, formula-safe CSV or stable JSON."""
    from api.exports import csv_text, json_text
    if fmt is Format.json:
        console.out(json_text([{k: r[k] for k in header} for r in rows]), end="")
    elif fmt is Format.csv:
        console.out(csv_text(header, values), end="")
    else:
        table = Table(*header)
        for row in values:
            table.add_row(*("" if v is None else safe(str(v)[:60]) for v in row))
        console.print(table if values else "nothing")
