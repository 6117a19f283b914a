"""`itam changes [--since ...] [--asset ...] [--json]` and `itam changes prune`: the change log on the command line.

`itam host ID --as-of TIME` (in api/cli.py) shows a host as it was, through the same query as GraphQL."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from api.terminal import safe
from graph.config import Settings
from graph.store import Store
from ingest import changelog
from queries.filter_values import CHANGE_KIND, UnknownValue, Vocabulary
from queries.history import MAX_PAGE, changes

changes_app = typer.Typer(help="What changed: the change log of ingest runs and mutations. Without a command, "
                               "lists changes.", invoke_without_command=True)


def parse_moment(text: str) -> datetime:
    """ISO 8601 ('2026-11-21T03:12Z', '2026-11-21'); no zone means UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time such as 2026-11-21T03:12Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def refuse_unknown(vocabulary: Vocabulary):
    """An option callback: the option's value(s) in the vocabulary's spelling; an unknown one is a
    BadParameter naming the option and the accepted values (the check GraphQL's filters use)."""
    def callback(param: typer.CallbackParam, value: str | list[str] | None):
        try:
            if isinstance(value, list):
                return vocabulary.check_all(param.opts[0], value) or None
            return vocabulary.check(param.opts[0], value)
        except UnknownValue as exc:
            raise typer.BadParameter(exc.detail) from None
    return callback


def register(app: typer.Typer, console, fail, read) -> None:
    """Add `itam changes` to the `itam` app (console, error exit and query runner from api.cli)."""
    app.add_typer(changes_app, name="changes")

    @changes_app.callback()
    def changes_cmd(ctx: typer.Context,
                    since: Annotated[str | None, typer.Option(help="From this time (ISO 8601); default: a day ago")]
                    = None,
                    until: Annotated[str | None, typer.Option(help="Before this time")] = None,
                    asset: Annotated[str | None, typer.Option(help="Only this asset: any identifier or its id")]
                    = None,
                    kind: Annotated[list[str] | None, typer.Option(help="Only these kinds (repeatable; any case)",
                                                                   callback=refuse_unknown(CHANGE_KIND))] = None,
                    limit: Annotated[int, typer.Option(help="At most this many")] = 1000,
                    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False) -> None:
        if ctx.invoked_subcommand:
            return
        start = parse_moment(since) if since else datetime.now(UTC) - timedelta(days=1)
        end = parse_moment(until) if until else None

        async def work(reader):
            out: list[dict] = []
            after: str | None = None
            while len(out) < limit:
                page, more = await changes(reader, start, end, asset, kind or None, min(MAX_PAGE, limit - len(out)),
                                           after)
                out += page
                if not more or not page:
                    break
                from queries.history import encode_cursor
                after = encode_cursor(page[-1]["at"], page[-1]["id"], page[-1]["index"])
            return out
        try:
            found = read(work)
        except ValueError as exc:
            fail(str(exc))
        if as_json:
            console.print_json(json.dumps(found, default=str))
            return
        table = Table("at", "asset", "kind", "field", "subject", "before", "after", "source")
        for c in found:
            when = str(c["at"])[:19] + ("" if c.get("at_from") == "source" else " (run)")
            table.add_row(safe(when), safe(c.get("asset_name") or c.get("asset_id") or c.get("person")),
                          *(safe(c.get(k)) for k in ("kind", "field", "subject", "before", "after")),
                          safe(c.get("actor") or c.get("source")))
        console.print(table)

    @changes_app.command("prune")
    def prune_cmd(older_than_days: Annotated[int, typer.Option(help="Delete changes older than this many days "
                                                                    "(default: ITAM_CHANGE_RETENTION_DAYS)")] = 0
                  ) -> None:
        """Delete old changes; an asset's creation and latest change are always kept."""
        settings = Settings.from_env()
        days = older_than_days or settings.change_retention_days
        if days < 1:
            fail("say how many days to keep: --older-than-days N or ITAM_CHANGE_RETENTION_DAYS", 2)
        store = Store.from_settings(settings)
        try:
            pruned = changelog.prune(store, days)
        finally:
            store.close()
        console.print(f"pruned {pruned} changes older than {days} days")
