"""One ingest run: read and validate every file, resolve identity, write in one transaction, record the run.

A file that fails validation writes nothing at all; a write that fails rolls back and is
recorded as a failed run; running the same files again changes nothing but the run log.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from graph.config import Settings
from graph.models import Batch, HostObservation, PersonObservation
from graph.schema import SOURCES
from graph.store import Store
from ingest import changelog, links
from ingest.license_matching import relink_licences
from ingest.software_table import current_table
from ingest.errors import IngestError
from ingest.reconcile import Resolver
from ingest.registry import BY_SOURCE
from ingest.writer import existing_digests, write_hosts, write_people

Progress = Callable[[str, int, int], None]

MAX_PORTS_PER_HOST = 4096       # open ports a real host has are far fewer; a tarpit answers on all
MAX_SOFTWARE_PER_HOST = 50_000  # a large monorepo SBOM has tens of thousands of components

RECORD_RUN = """
MERGE (r:IngestRun {id: $run.run_id})
SET r.source = $run.source, r.started = $run.started, r.finished = $run.finished, r.status = $run.status,
    r.files = $run.files, r.records = $run.records, r.created = $run.created, r.updated = $run.updated,
    r.unchanged = $run.unchanged, r.conflicts = $run.conflicts, r.skipped = $run.skipped, r.error = $run.error,
    r.unmatched = $run.unmatched, r.retired = $run.retired, r.dropped = $run.dropped
"""


@dataclass
class IngestSummary:
    source: str
    files: list[str]
    run_id: str = field(default_factory=lambda: f"run-{uuid.uuid4()}")
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    finished: datetime | None = None
    status: str = "running"
    dry_run: bool = False
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    skipped: int = 0
    unmatched: int = 0
    retired: int = 0
    dropped: int = 0          # ports and packages beyond the per-host caps
    error: str | None = None
    conflict_details: list[str] = field(default_factory=list)
    findings: dict | None = None              # the findings evaluation after the run (opened, resolved, ...)
    findings_error: str | None = None         # why that evaluation failed (the run still succeeded)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["started"] = self.started.isoformat()
        data["finished"] = self.finished.isoformat() if self.finished else None
        return data


def read_batch(source: str, paths: Sequence[Path], limit: int, progress: Progress) -> Batch:
    """Parse and validate every file of a run before anything is written."""
    connector = BY_SOURCE[source]
    batch = Batch()
    for done, path in enumerate(paths, 1):
        part = connector.parse(path, limit)
        if len(part.scopes) == 1:  # a file's hosts belong to its one scope unless they say otherwise
            part.hosts = [h if h.scope else h.model_copy(update={"scope": part.scopes[0]}) for h in part.hosts]
        batch.extend(part)
        progress("read", done, len(paths))
    batch.hosts = [cap_host(h, batch) for h in batch.hosts]
    _duplicates_across_files(batch.people)
    return batch


def cap_host(host: HostObservation, batch: Batch) -> HostObservation:
    """A host's ports and packages cut to the per-host caps (lowest ports, first packages by key), the
    rest counted in `batch.dropped`: a tarpit answering on every port cannot make one write run for hours."""
    update = {}
    if host.ports is not None and len(host.ports) > MAX_PORTS_PER_HOST:
        update["ports"] = tuple(sorted(host.ports, key=lambda p: (p.number, p.protocol))[:MAX_PORTS_PER_HOST])
    for name in ("software", "software_added", "software_removed"):
        items = getattr(host, name)
        if items is not None and len(items) > MAX_SOFTWARE_PER_HOST:
            update[name] = tuple(sorted(items, key=lambda sw: sw.key)[:MAX_SOFTWARE_PER_HOST])
    if not update:
        return host
    batch.dropped += sum(len(getattr(host, name)) - len(kept) for name, kept in update.items())
    return host.model_copy(update=update)


def ingest_files(store: Store, source: str, paths: Sequence[Path | str], settings: Settings,
                 dry_run: bool = False, partial: bool = False, progress: Progress | None = None,
                 run_id: str | None = None) -> IngestSummary:
    """Ingest files of one source as one run; raises IngestError (nothing written) on bad input.

    `partial` says the files are not the whole of their scope: nothing is then marked stale.
    `dry_run` does every write and rolls the transaction back, so its counts are exact.
    `run_id` names the run up front (the HTTP ingest answers with it before the run ends)."""
    if source not in BY_SOURCE:
        raise IngestError.one(source, f"unknown source; known: {', '.join(sorted(BY_SOURCE))}")
    progress = progress or (lambda stage, done, total: None)
    paths = [Path(p) for p in paths]
    summary = IngestSummary(source=source, files=[str(p) for p in paths], dry_run=dry_run)
    summary.run_id = run_id or summary.run_id
    role = SOURCES[source]
    batch = read_batch(source, paths, settings.max_file_bytes, progress)
    summary.skipped, summary.dropped = batch.skipped, batch.dropped
    resolutions = Resolver(store, source).resolve(batch.hosts) if batch.hosts else []
    progress("resolve", 1, 1)
    summary.records = sum(len(getattr(batch, name)) for name in
                          ("hosts", "people", "credentials", "licenses", "contracts", "reach"))

    def write(tx) -> None:
        log = changelog.start(tx, settings.change_log, source, summary.run_id, summary.started,  # change log hook
                              resolutions, batch.people)
        conflicts = [r.conflict for r in resolutions if r.conflict]
        summary.conflicts = len({c.id for c in conflicts})
        summary.conflict_details = [f"{c.record}: {c.reason}" for c in conflicts]
        known = {r.asset_id: r.observation.scope or "" for r in resolutions if r.asset_id and not r.is_new}
        before = existing_digests(tx, source, known)
        new_ids = {r.asset_id for r in resolutions if r.is_new}
        after, found_credentials, stored = write_hosts(tx, source, role, summary.run_id, resolutions, summary.started)
        _count(summary, after, before, new_ids)
        if batch.people:
            _write_people(tx, summary, batch.people)
        credentials = batch.credentials + found_credentials
        if credentials:
            _write_counted(tx, summary, "Credential.fingerprint", {c.fingerprint for c in credentials},
                           lambda: links.write_credentials(tx, source, credentials, stored, summary.started))
        if batch.licenses:
            _write_counted(tx, summary, "License.id", {lic.id for lic in batch.licenses},
                           lambda: links.write_licenses(tx, batch.licenses, summary.started))
        if batch.contracts:
            _write_counted(tx, summary, "Contract.reference", {c.reference for c in batch.contracts},
                           lambda: links.write_contracts(tx, batch.contracts, summary.started))
        if batch.licenses or any(h.software is not None or h.software_added for h in batch.hosts):
            relink_licences(tx, current_table(), summary.started)
        if batch.reach:
            links.write_reach(tx, batch.reach)
        if batch.reach or any(h.ips for h in batch.hosts):
            links.link_subnet_containment(tx)
        if not partial:
            summary.retired = links.mark_stale(tx, source, summary.run_id, batch.scopes, summary.started,
                                               marked=log.marked if log else None)
        if log:
            log.finish()                                                    # change log hook: diff and record
    _run(store, summary, dry_run, progress, write)
    if not dry_run and settings.evaluate_findings:
        _evaluate_findings(store, summary)
    if not dry_run and settings.change_retention_days > 0:
        changelog.prune_after_run(store, settings.change_retention_days)     # change log retention
    return summary


def _evaluate_findings(store: Store, summary: IngestSummary) -> None:
    """Re-evaluate the findings rules after a successful run; a failure here (or at the webhook) is
    reported on the summary and never fails the ingest, whose data is already committed."""
    from queries.findings import evaluate       # the read side: imported only when a run succeeded
    from queries.webhook import notify_from_env
    try:
        summary.findings = evaluate(store, notify=notify_from_env).totals()
    except Exception as exc:  # noqa: BLE001 - the run is committed; say what went wrong, do not undo it
        summary.findings_error = f"{type(exc).__name__}: {exc}"


def _write_people(tx, summary: IngestSummary, people: list[PersonObservation]) -> None:
    emails = sorted(p.email for p in people)
    before = {row["email"]: row["digest"] for row in tx.run(
        "UNWIND $emails AS email MATCH (p:Person {email: email})-[s:SEEN_BY]->(:Source {name: $source}) "
        "RETURN email, s.digest AS digest", emails=emails, source=summary.source)}
    known = {row["email"] for row in tx.run("UNWIND $emails AS email MATCH (p:Person {email: email}) RETURN email",
                                            emails=emails)}
    after = write_people(tx, summary.source, summary.run_id, people, summary.started)
    _count(summary, after, before, set(after) - known)


def _write_counted(tx, summary: IngestSummary, label_key: str, keys: set[str], write) -> None:
    """Write one kind of keyed node and count it as created, updated or unchanged."""
    old = links.existing_digests(tx, label_key, sorted(keys))
    new, unmatched = write()
    _count(summary, new, old, keys - set(old))
    summary.unmatched += unmatched


def _count(summary: IngestSummary, after: dict, before: dict, new_ids: set) -> None:
    for key, digest in after.items():
        if key in new_ids:
            summary.created += 1
        elif digest is not None and before.get(key) == digest:
            summary.unchanged += 1
        else:
            summary.updated += 1


def _run(store: Store, summary: IngestSummary, dry_run: bool, progress: Progress, write) -> IngestSummary:
    try:
        with store.transaction() as tx:
            write(tx)
            summary.finished = datetime.now(timezone.utc)
            summary.status = "dry-run" if dry_run else "succeeded"
            if dry_run:
                tx.rollback()
                return summary
            tx.run(RECORD_RUN, run=_run_params(summary)).consume()
    except IngestError:
        raise
    except Exception as exc:
        summary.status, summary.error = "failed", f"{type(exc).__name__}: {exc}"
        summary.finished = datetime.now(timezone.utc)
        summary.created = summary.updated = summary.unchanged = 0
        store.execute(RECORD_RUN, run=_run_params(summary))
        raise
    progress("write", 1, 1)
    return summary


def _run_params(summary: IngestSummary) -> dict:
    data = summary.as_dict()
    for key in ("conflict_details", "findings", "findings_error"):
        data.pop(key)
    data["started"], data["finished"] = summary.started, summary.finished
    return data


def _duplicates_across_files(people: list[PersonObservation]) -> None:
    seen: dict[str, str] = {}
    for person in people:
        if person.email in seen:
            raise IngestError.one(person.record, f"{person.email} also at {seen[person.email]}", field="email")
        seen[person.email] = person.record
