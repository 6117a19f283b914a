"""The `itam` command: the local database, ingest, the responder's host query, the API, the demo."""
from __future__ import annotations

import asyncio
import getpass
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from neo4j.exceptions import ServiceUnavailable, SessionExpired
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

from api.terminal import safe
from graph.config import Settings
from graph.local import LauncherError, LocalNeo4j
from graph.store import Store, connect_async
from ingest.errors import IngestError, RunFailed
from ingest.pipeline import IngestSummary, ingest_files
from ingest.registry import CONNECTORS, Connector
from api.cli_itam import register as register_itam
from api.cli_history import parse_moment, refuse_unknown, register as register_history
from queries.catalog import CATALOG, DatabaseUnavailable, GraphReader, GraphWriter, ReadTimedOut
from queries.conflicts import ConflictAction, ConflictNotOpen, resolve_conflict
from queries.explore import MAX_PATH_HOPS, access_path
from queries.filter_values import RULE, SOURCE
from queries.history import asset_as_of
from queries.host import AmbiguousIdentifier, AssetContext, host_context, reachable
from queries.ops import ingest_runs, open_conflicts

app = typer.Typer(help="itam-graph: one honest record per IT asset, on Neo4j.", no_args_is_help=True)
db_app = typer.Typer(help="The local Neo4j (embedded Neo4j Community 5.26).", no_args_is_help=True)
ingest_app = typer.Typer(help="Load a source's files into the graph (one run, all or nothing).", no_args_is_help=True)
demo_app = typer.Typer(help="The demo organisation.", no_args_is_help=True)
findings_app = typer.Typer(help="Findings: the rules' answers, tracked across evaluations. Without a command, "
                                "lists open findings.", invoke_without_command=True)
eol_app = typer.Typer(help="The endoflife.date snapshot the EOL rules match against.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(findings_app, name="findings")
app.add_typer(eol_app, name="eol")
app.add_typer(ingest_app, name="ingest")
app.add_typer(demo_app, name="demo")
console = Console()
err = Console(stderr=True)

Files = Annotated[list[Path], typer.Argument(help="Files to ingest", show_default=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print what would change without writing")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
KEEP_ALIVE_S = 5
# Two workers: on the 2-core benchmark machine, beside Neo4j, one worker process is what limits the
# host query's throughput (docs/PERFORMANCE.md, "Concurrency").
DEFAULT_WORKERS = 2
MAX_CONNECTIONS = 64


def _settings() -> Settings:
    return Settings.from_env()


def _local(settings: Settings) -> LocalNeo4j:
    return LocalNeo4j(settings.home, port=settings.bolt_port,
                      heap_mb=int(os.environ.get("ITAM_NEO4J_HEAP_MB", "2048")),
                      pagecache_mb=int(os.environ.get("ITAM_NEO4J_PAGECACHE_MB", "512")))


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {safe(message, newlines=True)}", highlight=False)
    raise typer.Exit(code)


@db_app.command("build")
def db_build() -> None:
    """Compile the launcher and fetch Neo4j's jars from Maven Central (once; ~/.m2 keeps them)."""
    from graph.local import build
    try:
        target = build(quiet=False)
    except LauncherError as exc:
        _fail(str(exc))
    console.print(f"Neo4j launcher ready in {target}")


@db_app.command("start")
def db_start() -> None:
    """Fetch Neo4j's jars if needed, start the database and wait until Bolt answers."""
    settings = _settings()
    try:
        pid = _local(settings).start()
    except LauncherError as exc:
        _fail(str(exc))
    store = Store.from_settings(settings)
    try:
        store.apply_schema()
    finally:
        store.close()
    console.print(f"Neo4j running (pid {pid}) on {settings.neo4j_uri}, data in {settings.home / 'db'}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the local database cleanly (SIGTERM)."""
    try:
        stopped = _local(_settings()).stop()
    except LauncherError as exc:
        _fail(str(exc))
    console.print("Neo4j stopped" if stopped else "Neo4j was not running")


@db_app.command("status")
def db_status() -> None:
    """Is the local database running and answering?"""
    local = _local(_settings())
    pid = local.pid()
    if pid is None:
        console.print("Neo4j is not running")
        raise typer.Exit(3)
    console.print(f"Neo4j pid {pid} on {local.uri}: {'ready' if local.is_ready() else 'not answering'}")


@db_app.command("reset")
def db_reset(yes: Annotated[bool, typer.Option("--yes", help="Really delete everything")] = False) -> None:
    """Delete every node and relationship (the schema stays)."""
    if not yes:
        _fail("this deletes the whole graph; pass --yes")
    store = Store.from_settings(_settings())
    try:
        store.wipe()
    finally:
        store.close()
    console.print("graph emptied")


@db_app.command("backup")
def db_backup(file: Annotated[Path, typer.Argument(help="Where to write the backup (gzip JSON lines)")]) -> None:
    """Back up the whole graph while the database runs (one read transaction); see graph/backup.py."""
    from graph.backup import backup
    _db_file_command(lambda store: backup(store.driver, store.database, file), "backed up to")


@db_app.command("restore")
def db_restore(file: Annotated[Path, typer.Argument(help="A file written by itam db backup")],
               force: Annotated[bool, typer.Option("--force", help="Empty a non-empty database first")] = False) -> None:
    """Restore a backup into an empty database (--force empties it first); schema included."""
    from graph.backup import restore
    _db_file_command(lambda store: restore(store.driver, store.database, file, force), "restored from")


def _db_file_command(work, done: str) -> None:
    """Run a backup or restore against the configured database; errors as one line, no traceback."""
    from graph.backup import BackupError
    settings = _settings()
    store = Store.from_settings(settings)
    try:
        summary = work(store)
    except BackupError as exc:
        _fail(str(exc), code=2)
    except (ServiceUnavailable, SessionExpired):
        _fail(settings.unreachable(), code=3)
    finally:
        store.close()
    console.print(f"{summary.nodes} nodes and {summary.relationships} relationships {done} {summary.path}")


def _print_summary(summary: IngestSummary, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(summary.as_dict()))
        return
    table = Table(title=f"{summary.source}: {summary.status}" + (" (nothing written)" if summary.dry_run else ""))
    columns = ("records", "created", "updated", "unchanged", "conflicts", "skipped", "unmatched", "retired", "dropped")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row(*(str(getattr(summary, c)) for c in columns))
    console.print(table)
    if summary.unplaced:
        console.print(f"{summary.unplaced} addresses in subnets no describe-subnets file of the run lists: kept in the "
                      "subnet stored before, else in their /24 (IPv6 /64)", style="yellow")
    if summary.findings:
        f = summary.findings
        console.print(f"findings: {f['opened']} opened, {f['reopened']} re-opened, {f['resolved']} resolved, "
                      f"{f['matched']} matching", style="dim")
    for line in summary.conflict_details[:20]:
        console.print(f"  [yellow]conflict[/] {safe(line)}", highlight=False)
    if not summary.dry_run:
        console.print(f"run {summary.run_id}", style="dim")


def run_ingest(source: str, files: list[Path], dry_run: bool = False, as_json: bool = False,
               settings: Settings | None = None, partial: bool = False) -> IngestSummary:
    """Ingest files of one source with a progress bar; exits non-zero with the problems on bad input."""
    settings = settings or _settings()
    store = Store.from_settings(settings)
    try:
        store.apply_schema()
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      console=err, transient=True, disable=as_json) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(f"{source} {stage}", total=total)
                bar.update(tasks[stage], completed=done)
            summary = ingest_files(store, source, files, settings, dry_run=dry_run, partial=partial,
                                   progress=progress)
    except IngestError as exc:
        _fail(f"nothing was written\n{exc}", code=2)
    except RunFailed as exc:
        _fail(exc.explain(), code=4)
    except (ServiceUnavailable, SessionExpired):
        _fail(f"{settings.unreachable()}; nothing was written", code=3)
    finally:
        store.close()
    _print_summary(summary, as_json)
    if summary.findings_error:
        err.print(f"[yellow]warning:[/] findings not evaluated after the run: {summary.findings_error}",
                  highlight=False)
    return summary


Partial = Annotated[bool, typer.Option("--partial", help="The files are not the whole of their scope: "
                                                           "mark nothing as no longer observed")]


def _ingest_command(connector: Connector):
    def command(files: Files, dry_run: DryRun = False, partial: Partial = False, as_json: AsJson = False) -> None:
        run_ingest(connector.source, files, dry_run, as_json, partial=partial)
    command.__doc__ = f"{connector.help}\n\nExample: {connector.example}"
    return command


for _connector in CONNECTORS.values():
    ingest_app.command(_connector.command)(_ingest_command(_connector))


def _read(work):
    """Run an async query function against the configured database."""
    settings = _settings()

    async def main():
        driver = connect_async(settings)
        try:
            return await work(GraphReader.from_settings(driver, settings))
        finally:
            await driver.close()
    return asyncio.run(main())


@ingest_app.command("runs")
def ingest_runs_cmd(source: Annotated[Optional[str], typer.Option(help="Only this source (any case)",
                                                                   callback=refuse_unknown(SOURCE))] = None,
                    as_json: AsJson = False) -> None:
    """Recent ingest runs with status and counts."""
    runs = _read(lambda reader: ingest_runs(reader, source))
    if as_json:
        console.print_json(json.dumps(runs, default=str))
        return
    table = Table("started", "source", "status", "records", "created", "updated", "unchanged", "conflicts")
    for run in runs:
        table.add_row(str(run["started"])[:19], safe(run["source"]), safe(run["status"]),
                      *(str(run.get(k)) for k in ("records", "created", "updated", "unchanged", "conflicts")))
    console.print(table)


@app.command("host")
def host(identifier: Annotated[str, typer.Argument(help="hostname, FQDN, IP, MAC, serial, asset tag, "
                                                        "cloud id or agent id; 'kind:value' picks a kind; "
                                                        "else an asset id or exact name")],
         as_json: AsJson = False,
         max_hops: Annotated[int, typer.Option(help="Reachability depth (1-3)")] = 2,
         as_of: Annotated[Optional[str], typer.Option(help="Who held the identifier at this time (ISO 8601, "
                                                           "e.g. 2026-11-21T03:12Z), as it was then")] = None) -> None:
    """What is this host, who owns it, should it exist, what can it reach?"""
    moment, notes = (parse_moment(as_of) if as_of else None), []

    async def work(reader):
        past = await asset_as_of(reader, identifier, moment) if moment else None
        notes.extend(past.notes if past else [])
        ctx = past.context if past else None if moment else await host_context(reader, identifier)
        return ctx, (await reachable(reader, ctx.id, max_hops) if ctx else [])
    try:
        ctx, reach = _read(work)
    except (AmbiguousIdentifier, DatabaseUnavailable, ReadTimedOut, ValueError) as exc:
        _fail(str(exc))
    if ctx is None:
        _fail(f"no asset has an identifier {identifier!r}", code=4)
    if as_json:
        data = ctx.as_dict()
        data["reachable"] = [{"id": r.asset_id, "name": r.name, "hops": r.hops, "ports": list(r.ports)} for r in reach]
        if moment:
            data["as_of"], data["history_notes"] = moment.isoformat(), notes
        console.print_json(json.dumps(data, default=str))
        return
    console.print(_host_panel(ctx, reach))
    for note in notes:
        console.print(f"[dim]note: {safe(note)}[/]")


def _host_panel(ctx: AssetContext, reach) -> Panel:
    """The responder's panel; every stored value goes through `safe` (it may come from a hostile host)."""
    p = ctx.props
    colour = {"EXPECTED": "green", "REVIEW": "yellow", "UNEXPECTED": "red"}[ctx.verdict.verdict]
    lines = [f"[bold]{safe(p.get('name'))}[/]  {safe(p.get('kind', 'Host'))}/{safe(p.get('host_type') or '?')}  "
             f"stage: {safe(p.get('lifecycle_stage') or 'unknown')}  [{colour}]{ctx.verdict.verdict}[/]"]
    lines += [f"  [{colour}]•[/] {safe(reason)}" for reason in ctx.verdict.reasons]
    lines.append("identifiers: " + ", ".join(f"{safe(i['kind'])}={safe(i['value'])}" for i in ctx.identifiers))
    owner = ctx.owner
    if owner:
        state = "active" if owner["active"] else f"departed {owner.get('end_date') or ''}".strip()
        lines.append(f"owner: {safe(owner.get('name') or '')} <{safe(owner['email'])}> ({state}), team: "
                     f"{safe(', '.join(owner['teams']) or '-')}")
    else:
        lines.append("owner: none")
    for key, label in (("model", "model"), ("os_name", "os"), ("location", "location")):
        if p.get(key):
            lines.append(f"{label}: {safe(p[key])}")
    if ctx.ports:
        lines.append("open ports: " + ", ".join(
            safe(f"{x['number']}/{x['protocol']} {x.get('service') or ''} {x.get('product') or ''}".strip())
            for x in ctx.ports))
    lines.append("sightings: " + "; ".join(
        safe(f"{s['source']} {str(s['first_seen'])[:10]}..{str(s['last_seen'])[:10]}") for s in ctx.sightings))
    if reach:
        shown = ", ".join(safe(f"{r.name} ({r.hops} hop{'s' if r.hops > 1 else ''}: {' '.join(r.ports)})")
                          for r in reach[:10])
        lines.append(f"reaches {len(reach)} hosts: {shown}{' ...' if len(reach) > 10 else ''}")
    return Panel("\n".join(lines), title=safe(ctx.id), expand=False)


@app.command("path")
def path(source: Annotated[str, typer.Argument(help="Where access starts: 'Internet', an e-mail, any identifier "
                                                    "or node id")],
         target: Annotated[str, typer.Argument(help="Where it ends")],
         max_hops: Annotated[int, typer.Option(help=f"At most this many relationships (1-{MAX_PATH_HOPS})")] = 6,
         as_json: AsJson = False) -> None:
    """The shortest path along which access flows from one thing to another (reach, groups, credentials)."""
    try:
        graph = _read(lambda reader: access_path(reader, source, target, max_hops))
    except (AmbiguousIdentifier, ValueError, LookupError) as exc:
        _fail(str(exc))
    if as_json:
        console.print_json(json.dumps(graph.as_dict(), default=str))
        return
    if not graph.edges:
        _fail(f"no access path from {source!r} to {target!r} within {max_hops} relationships", code=4)
    names = {node.id: safe(f"{node.name} ({node.label})") for node in graph.nodes.values()}
    for edge in graph.edges.values():
        ports = " " + safe(",".join(edge.properties["ports"])) if edge.properties.get("ports") else ""
        console.print(f"{names[edge.source]} -\\[{edge.type}{ports}]-> {names[edge.target]}", highlight=False)


conflicts_app = typer.Typer(help="Records identity resolution could not merge with confidence, and their answers.",
                            invoke_without_command=True)
app.add_typer(conflicts_app, name="conflicts")


@conflicts_app.callback()
def conflicts(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Open conflicts: the record, and each asset involved with its sources and identifiers."""
    if ctx.invoked_subcommand:
        return
    rows = _read(open_conflicts)
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table("conflict", "record", "reason", "assets (role: sources; identifiers)")
    for row in rows:
        parties = "\n".join(safe(f"{a['role']}: {a['name'] or a['id']} ({', '.join(sorted(a['sources']))}; "
                                  f"{', '.join(sorted(a['identifiers']))})") for a in row["assets"])
        table.add_row(safe(row["id"]), safe(f"{row['source']}: {row['record']}"), safe(row["reason"]), parties)
    console.print(table if rows else "no open conflicts")


@conflicts_app.command("resolve")
def conflicts_resolve(conflict_id: Annotated[str, typer.Argument(help="The conflict's id (itam conflicts)")],
                      merge: Annotated[bool, typer.Option("--merge", help="One machine: fold the assets into "
                                                                          "the oldest")] = False,
                      separate: Annotated[bool, typer.Option("--separate", help="Different machines: keep "
                                                                                "them apart")] = False) -> None:
    """Answer a conflict; recorded with who and when, never reopened by a later run."""
    if merge == separate:
        _fail("say --merge or --separate")
    action = ConflictAction.MERGE if merge else ConflictAction.SEPARATE
    settings = _settings()

    async def main():
        driver = connect_async(settings)
        try:
            writer = GraphWriter(driver, settings.neo4j_database)
            return await resolve_conflict(writer, conflict_id, action, f"cli:{getpass.getuser()}")
        finally:
            await driver.close()
    try:
        done = asyncio.run(main())
    except ConflictNotOpen as exc:
        _fail(str(exc))
    into = f" into asset {done['merged_into']}" if done["merged_into"] else ""
    console.print(f"{done['id']}: {done['status']}{into} by {done['resolved_by']}", highlight=False)


@app.command("queries")
def queries_cmd() -> None:
    """The catalogue: every named read query, then every write statement of the ingest."""
    from ingest.catalog import all_writes
    table = Table("name", "category", "description")
    for query in sorted(CATALOG.values(), key=lambda q: (q.category, q.name)):
        table.add_row(query.name, query.category, query.description)
    for entry in sorted(all_writes().values(), key=lambda w: (w.module, w.name)):
        table.add_row(entry.name, f"write ({entry.module})", entry.description)
    console.print(table)


# ----------------------------------------------------------------- findings and rules

RuleOpt = Annotated[Optional[str], typer.Option("--rule", help="Only this rule id (see `itam rules`; any case)",
                                                callback=refuse_unknown(RULE))]
SeverityOpt = Annotated[Optional[str], typer.Option("--severity", help="critical, high, medium, low, info; any case")]
StatusOpt = Annotated[str, typer.Option("--status", help="OPEN, RESOLVED, SUPPRESSED or ALL")]


@app.command("rules")
def rules_cmd(as_json: AsJson = False) -> None:
    """The rules findings come from: id, severity, category, title and parameters."""
    from queries.rules import RULES
    if as_json:
        console.print_json(json.dumps([{"id": r.id, "title": r.title, "severity": r.severity.value,
                                        "category": r.category, "description": r.description,
                                        "identity": list(r.identity), "params": r.params} for r in RULES.values()],
                                      default=str))
        return
    table = Table("id", "severity", "category", "title", "parameters")
    for r in RULES.values():
        shown = {k: v for k, v in r.params.items() if isinstance(v, (int, float))}
        table.add_row(r.id, r.severity.value, r.category, r.title, ", ".join(f"{k}={v}" for k, v in shown.items()))
    console.print(table)


def _findings(rule: str | None, severity: str | None, status: str) -> list[dict]:
    from queries.findings import all_findings, check_filters
    wanted = None if status.upper() == "ALL" else status.upper()
    severity = severity.lower() if severity else None      # GraphQL spells them CRITICAL, rules critical
    try:
        check_filters(rule, severity, wanted)
    except ValueError as exc:
        _fail(str(exc))
    return _read(lambda reader: all_findings(reader, rule, severity, wanted))


@findings_app.callback()
def findings_cmd(ctx: typer.Context, rule: RuleOpt = None, severity: SeverityOpt = None, status: StatusOpt = "OPEN",
                 as_json: AsJson = False) -> None:
    """Open findings (or --status), most severe first, with their evidence."""
    if ctx.invoked_subcommand is not None:
        return
    from queries.rules import Severity
    found = _findings(rule, severity, status)
    rank = [s.value for s in Severity]
    found.sort(key=lambda f: (rank.index(f["severity"]), f["rule"], f["subject"]))
    if as_json:
        console.print_json(json.dumps(found, default=str))
        return
    table = Table("severity", "rule", "subject", "evidence", "since", "status")
    for f in found:
        table.add_row(f["severity"], f["rule"], safe(f["subject"]), safe("; ".join(f["evidence"])),
                      safe(f["first_seen"]), f["status"])
    console.print(table if found else "no findings")


@findings_app.command("evaluate")
def findings_evaluate(as_json: AsJson = False) -> None:
    """Evaluate every rule now and track its findings (also runs after each successful ingest)."""
    from queries.findings import evaluate
    from queries.webhook import env_notifier
    store = Store.from_settings(_settings())
    try:
        store.apply_schema()
        evaluation = evaluate(store, notify=env_notifier())
    finally:
        store.close()
    if as_json:
        console.print_json(json.dumps(evaluation.as_dict()))
        return
    table = Table("rule", "matching", "opened", "re-opened", "resolved", "seconds")
    for o in evaluation.outcomes:
        table.add_row(o.rule, str(o.matched), str(o.opened), str(o.reopened), str(o.resolved), f"{o.seconds:.2f}")
    console.print(table)


@findings_app.command("summary")
def findings_summary(as_json: AsJson = False) -> None:
    """Open findings per rule, with the rule's denominator."""
    from queries.findings import rule_summaries, rule_total

    async def work(reader):
        rows = await rule_summaries(reader)
        return [{"rule": r["rule"].id, "severity": r["rule"].severity.value, "title": r["rule"].title,
                 "open": r["open"], "total": sum(c["total"] for c in await rule_total(reader, r["rule"]))}
                for r in rows]
    rows = _read(work)
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table("rule", "severity", "open", "of", "title", title="Findings")
    for r in rows:
        table.add_row(r["rule"], r["severity"], str(r["open"]), str(r["total"]), r["title"])
    console.print(table)


@findings_app.command("export")
def findings_export(path: Annotated[Path, typer.Argument(help="File to write")],
                    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
                    rule: RuleOpt = None, severity: SeverityOpt = None, status: StatusOpt = "OPEN") -> None:
    """Write findings to a CSV (safe to open in a spreadsheet: no formula cells) or JSON file."""
    from queries.findings import export
    if fmt not in ("csv", "json"):
        _fail(f"unknown format {fmt!r}; use csv or json")
    count = export(_findings(rule, severity, status), path, fmt)
    console.print(f"wrote {count} findings to {path}")


@eol_app.command("refresh")
def eol_refresh(folder: Annotated[Path, typer.Argument(help="A local copy of endoflife.date's products/ folder")]
                ) -> None:
    """Rebuild the EOL snapshot from endoflife.date product files (all or nothing)."""
    from queries.eol import EolDataError, refresh
    try:
        count = refresh(folder)
    except EolDataError as exc:
        _fail(str(exc))
    console.print(f"EOL snapshot rebuilt: {count} products")


@eol_app.command("coverage")
def eol_coverage(as_json: AsJson = False) -> None:
    """How many installed products and operating systems the EOL matcher recognised."""
    from queries.eol import INSTALLED_PRODUCTS, coverage
    counts = coverage(_read(lambda reader: reader.rows(INSTALLED_PRODUCTS)))
    if as_json:
        console.print_json(json.dumps(counts))
        return
    table = Table("kind", "distinct installed", "recognised", "on a known cycle")
    for kind, c in sorted(counts.items()):
        table.add_row(kind, str(c["installed"]), str(c["recognised"]), str(c["cycle_known"]))
    console.print(table)


@app.command("serve")
def serve(host: Annotated[str, typer.Option(help="Bind address (loopback unless told otherwise)")] = "127.0.0.1",
          port: Annotated[int, typer.Option()] = 8000,
          graphiql: Annotated[bool, typer.Option(help="Serve GraphiQL at /graphql (a page without data; queries need a token when tokens are set)")] = True,
          workers: Annotated[int, typer.Option(min=1, help="Worker processes, each with its own Neo4j connection pool "
                                               "and its share of the rate limit (docs/PERFORMANCE.md, Concurrency)")] = DEFAULT_WORKERS
          ) -> None:
    """Serve GraphQL at /graphql."""
    from api.auth import TokenAuth, TokenConfigError
    from api.server import serve as run_server
    try:    # checked here too, so a bad token setting is one line before any worker starts
        TokenAuth.from_env(host)
    except TokenConfigError as exc:
        _fail(str(exc))
    # Idle keep-alive connections close after 5 s; beyond 64 requests in flight per worker uvicorn answers
    # 503; each request is bounded by ITAM_REQUEST_TIMEOUT_S inside the app.
    run_server(host, port, workers, graphiql, KEEP_ALIVE_S, MAX_CONNECTIONS)


@demo_app.command("generate")
def demo_generate(out: Annotated[Path, typer.Argument(help="Folder for the files")],
                  hosts: Annotated[int, typer.Option(help="How many hosts")] = 300,
                  seed: Annotated[int, typer.Option()] = 7) -> None:
    """Write the demo organisation as real-format files (Snipe-IT CSV, HR CSV, nmap XML)."""
    from demo import generate_org
    manifest = generate_org(out, hosts=hosts, seed=seed)
    console.print(f"wrote {len(manifest.files)} files to {out}")


@demo_app.command("load")
def demo_load(out: Annotated[Path, typer.Option("--dir", help="Folder for the generated files")] = Path("demo-data"),
              hosts: Annotated[int, typer.Option(help="How many hosts")] = 300,
              seed: Annotated[int, typer.Option()] = 7) -> None:
    """Generate the demo organisation and ingest it through the real connectors."""
    from demo import generate_org
    manifest = generate_org(out, hosts=hosts, seed=seed)
    settings = _settings()
    runs = list(manifest.files_by_source.items())
    for done, (source, files) in enumerate(runs, 1):
        # the findings are evaluated (and alerted on) once the whole company is in, not after each of its
        # sources: half-loaded, every laptop would briefly be stale or missing its EDR
        run_ingest(source, files, settings=settings if done == len(runs) else
                   replace(settings, evaluate_findings=False))
    console.print("\n[bold]Try these[/] (CLI: itam host <identifier>, or GraphQL at http://127.0.0.1:8000/graphql):")
    for name, host in manifest.highlights.items():
        ids = ", ".join(f"{k}={host[k]}" for k in ("hostname", "ip", "mac", "serial", "cloud_id", "email")
                        if host.get(k))
        console.print(f"  {name}: {ids}\n    {host.get('story', '')}", highlight=False)
    console.print('\n  query { asset(identifier: "<any of the above>") { name lifecycleStage owner { email active } '
                  'openPorts { number service } sightings { source lastSeen } shouldExist { verdict reasons } '
                  'reachable(maxHops: 2) { asset { name } hops ports } } }', highlight=False)


# The asset manager's commands (licences, audits, renewals, evidence reports) live in api/cli_itam.py.
register_itam(app, console, _fail, _read)
register_history(app, console, _fail, _read)        # itam changes (api/cli_history.py)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
