"""One ingest run: read and validate every file, then write in bounded batches and record the run.

- Bad input: every file is validated before anything is written, so nothing is written.
- A run that fits in one batch (`Settings.ingest_batch_rows` rows) is one transaction: all or nothing.
- A larger run is recorded as running, then writes batch by batch, each batch its own transaction and
  each a true observation. Its hosts are not kept from the validating read: the files are read again,
  file by file (record by record where the connector streams, as the Snipe-IT CSV does), as the batches
  are written, so the run's Python memory is one batch and one file, not the whole input. A file that
  changed between the two reads fails the run. Only once every batch has landed does it mark what the source no longer
  reports as stale and record the run as succeeded. A failure part-way leaves what was written, marks
  nothing stale and records the run as failed (or, if the database itself died, the next run does):
  running the same files again converges to the graph a clean run gives.
- Identity is resolved inside each batch's write transaction, behind one lock, so overlapping runs
  (of different sources) never both decide a machine is new.
"""
from __future__ import annotations

import gc
import ipaddress
import os
import queue
import socket
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial as bind
from pathlib import Path
from typing import TypeVar

from neo4j import Transaction
from neo4j.exceptions import TransientError

from graph.config import Settings
from graph.models import (Batch, CloudSubnet, ContractObservation, CredentialObservation, HostObservation,
                          LicenseObservation, PersonObservation, SubnetPlacement)
from graph.schema import SOURCES
from graph.store import Store
from ingest import changelog, links
from ingest.errors import IngestError, Problem, RunFailed
from ingest.license_matching import relink_licences
from ingest.reconcile import Resolver
from ingest.registry import BY_SOURCE
from ingest.software_table import current_table
from ingest.writer import PERSON_DIGESTS, UPSERT_SOURCE, HostRows, sighting_digests, write_hosts, write_people
from ingest.catalog import write

Progress = Callable[[str, int, int], None]
Step = Callable[[Transaction], object]
T = TypeVar("T")

MAX_PORTS_PER_HOST = 4096       # open ports a real host has are far fewer; a tarpit answers on all
MAX_SOFTWARE_PER_HOST = 50_000  # a large monorepo SBOM has tens of thousands of components
ABANDONED_AFTER = timedelta(minutes=30)  # a running run with no batch committed for this long is dead
DEADLOCK_ATTEMPTS = 3                    # a run's (or batch's) transaction that deadlocks is written again

RECORD_RUN = write(
    'record-run',
    "The run's record: status (running, succeeded, failed), counts, batches, who runs it and its last heartbeat.",
    """
MERGE (r:IngestRun {id: $run.run_id})
SET r.source = $run.source, r.started = $run.started, r.finished = $run.finished, r.status = $run.status,
    r.files = $run.files, r.records = $run.records, r.created = $run.created, r.updated = $run.updated,
    r.unchanged = $run.unchanged, r.conflicts = $run.conflicts, r.skipped = $run.skipped, r.error = $run.error,
    r.unmatched = $run.unmatched, r.retired = $run.retired, r.dropped = $run.dropped,
    r.batches = $run.batches, r.batches_total = $run.batches_total, r.scopes = $run.scopes, r.unplaced = $run.unplaced,
    r.pid = $run.pid, r.host = $run.host, r.heartbeat = $run.heartbeat
""")
# Each committed batch says so, in its own transaction: a run whose process died is told apart by it.
HEARTBEAT = write(
    'run-heartbeat',
    'A committed batch says so, in the same transaction: batches done and counts so far.',
    """
MATCH (r:IngestRun {id: $id}) USING INDEX SEEK r:IngestRun(id)
SET r.heartbeat = $now, r.batches = $done, r.created = $created, r.updated = $updated, r.unchanged = $unchanged
""")
RUNNING = write(
    'read-running-runs',
    'Read: runs still marked running, to find those whose process died.',
    """
MATCH (r:IngestRun {status: 'running'})
RETURN r.id AS id, r.pid AS pid, r.host AS host, r.heartbeat AS heartbeat
""")
ABANDON = write(
    'abandon-dead-runs',
    'Runs left running by a dead process are recorded as failed.',
    """
UNWIND $ids AS id
MATCH (r:IngestRun {id: id}) USING INDEX SEEK r:IngestRun(id)  // the status index would be scanned
WHERE r.status = 'running'
SET r.status = 'failed', r.finished = $now,
    r.error = 'the run stopped before it finished (its process or the database died); what it wrote is true, '
              + 'nothing was marked stale; run it again'
""")
# Setting and removing a property takes the node's write lock until the transaction ends (the way
# the Neo4j manual takes explicit locks): batches that resolve identity run one at a time.
IDENTITY_LOCK = write('identity-lock', 'Takes the identity lock: concurrent runs resolve identity one batch at a time.',
    "MERGE (l:WriteLock {name: 'identity'}) SET l._lock = true REMOVE l._lock")

_ACTIVE_RUNS: set[str] = set()   # runs this process is writing now


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
    unplaced: int = 0         # addresses whose cloud subnet no subnets file of the run listed (CloudSubnets)
    batches: int = 0          # write transactions committed
    batches_total: int = 0    # write transactions the run needs (1: the run is all or nothing)
    scopes: list[str] = field(default_factory=list)
    error: str | None = None
    conflict_details: list[str] = field(default_factory=list)
    findings: dict | None = None              # the findings evaluation after the run (opened, resolved, ...)
    findings_error: str | None = None         # why that evaluation failed (the run still succeeded)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["started"] = self.started.isoformat()
        data["finished"] = self.finished.isoformat() if self.finished else None
        return data


LISTED_SUBNETS = write(
    'read-listed-subnets', 'Read: the cloud subnets earlier runs listed (cloud id and CIDR), which hold the '
    'addresses no record places.',
    "MATCH (net:Subnet) WHERE net.listed AND net.cloud_id IS NOT NULL RETURN net.cloud_id AS cloud_id, net.cidr AS cidr",
    scans='every subnet, once per run with addresses: containment is computed in Python')


class CloudSubnets:
    """The cloud subnets of one run (`Batch.subnets`: describe-subnets) and the hosts whose records name them
    (`HostObservation.subnets`), whatever order the files come in. The first read notes each host as it meets
    it; once every file is read (before anything is written) `check` holds each subnet's listed CIDR against
    the addresses placed in it; `place` gives a host its subnets' CIDRs as it is written. A CIDR block is one
    range, so the lowest and highest address placed in a subnet (per IP version) are all that is kept: a
    streamed run holds one entry per subnet, not one per host. Addresses in a subnet no file lists are
    counted (`unplaced`) and go where ingest/writer.py puts an address no source places."""

    def __init__(self) -> None:
        self.listed: dict[str, CloudSubnet] = {}
        self.unplaced = 0
        self._ends: dict[tuple[str, int], list[tuple[int, str, str, str]]] = {}   # [lowest, highest] placed
        self._placed: dict[str, int] = {}       # addresses placed, per subnet id
        # every listed block (this run's and the stored ones): {(IP version, prefix): {network: (id, CIDR)}},
        # longest prefix first (kept in that order as blocks are learned, not sorted per address)
        self._blocks: dict[tuple[int, int], dict[int, tuple[str, str]]] = {}

    def note(self, host: HostObservation) -> None:
        for placement in host.subnets:
            self._placed[placement.subnet_id] = self._placed.get(placement.subnet_id, 0) + len(placement.addresses)
            for address in placement.addresses:
                ip = ipaddress.ip_address(address)
                entry = (int(ip), address, host.record, placement.field)
                ends = self._ends.setdefault((placement.subnet_id, ip.version), [entry, entry])
                ends[0], ends[1] = min(ends[0], entry), max(ends[1], entry)

    def check(self, subnets: list[CloudSubnet]) -> None:
        """Learn the run's subnets and check every address noted against them; IngestError names each
        record and field whose subnet does not hold its address, and a subnet two files list differently."""
        problems = []
        for subnet in subnets:
            known = self.listed.setdefault(subnet.id, subnet)
            if known.cidrs != subnet.cidrs:
                problems.append(Problem(subnet.record, f"{subnet.id} is {', '.join(subnet.cidrs)} here but "
                                                       f"{', '.join(known.cidrs)} at {known.record}", field="CidrBlock"))
        for (subnet_id, version), ends in sorted(self._ends.items()):
            if (listed := self.listed.get(subnet_id)) is None:
                continue
            blocks = [net for net in map(ipaddress.ip_network, listed.cidrs) if net.version == version]
            for _, address, record, field_path in dict.fromkeys(ends):
                if not any(ipaddress.ip_address(address) in net for net in blocks):
                    held = ", ".join(str(net) for net in blocks) or f"no IPv{version} block"
                    problems.append(Problem(record, f"{address} is not in {subnet_id}, which {listed.record} lists "
                                                    f"as {held}", field=field_path))
        if problems:
            raise IngestError(problems)
        self.unplaced = sum(n for subnet_id, n in self._placed.items() if subnet_id not in self.listed)
        for subnet in self.listed.values():
            for cidr in subnet.cidrs:
                self._block(subnet.id, cidr)

    def learn_stored(self, rows: Iterable[dict]) -> bool:
        """The cloud subnets earlier runs listed ({cloud_id, cidr}); the run's own listing wins for an id.
        True when that adds a block the run did not list."""
        learned = [self._block(row["cloud_id"], row["cidr"]) for row in rows if row["cloud_id"] not in self.listed]
        return any(learned)

    def _block(self, subnet_id: str, cidr: str) -> bool:
        net = ipaddress.ip_network(cidr)
        key = (net.version, net.prefixlen)
        if key not in self._blocks:
            self._blocks = dict(sorted({**self._blocks, key: {}}.items(), key=lambda item: -item[0][1]))
        blocks = self._blocks[key]
        if int(net.network_address) in blocks:      # the run's own listing (learned first) wins
            return False
        blocks[int(net.network_address)] = (subnet_id, cidr)
        return True

    def _holding(self, address: str) -> tuple[str, str] | None:
        """(subnet id, CIDR) of the smallest listed block holding the address, if any."""
        ip = ipaddress.ip_address(address)
        bits = ip.max_prefixlen
        for (version, prefix), blocks in self._blocks.items():
            if version == ip.version and (found := blocks.get(int(ip) >> (bits - prefix) << (bits - prefix))):
                return found
        return None

    def place(self, host: HostObservation) -> HostObservation:
        """The host with the CIDRs of each of its subnets the run lists; an address its record places in no
        cloud subnet (a scan, an agent, an inventory) goes in the smallest listed block holding it."""
        placements = [p.model_copy(update={"cidrs": self.listed[p.subnet_id].cidrs}) if p.subnet_id in self.listed
                      else p for p in host.subnets]
        if self._blocks:
            named = {address for p in host.subnets for address in p.addresses}
            found: dict[tuple[str, str], list[str]] = {}
            for address in host.ips:
                if address not in named and (held := self._holding(address)):
                    found.setdefault(held, []).append(address)
            placements += [SubnetPlacement(subnet_id=subnet_id, addresses=tuple(addresses), cidrs=(cidr,))
                           for (subnet_id, cidr), addresses in found.items()]
        if placements == list(host.subnets):
            return host
        return host.model_copy(update={"subnets": tuple(placements)})


@dataclass
class Reading:
    """What the validating read of a run's files found. `batch` holds every record, except that a run
    larger than `keep_rows` leaves its hosts out (`streamed`): the write reads them again, file by file."""

    batch: Batch = field(default_factory=Batch)
    files: list[tuple[Path, tuple[int, int] | None]] = field(default_factory=list)  # (path, size and mtime)
    host_costs: list[int] = field(default_factory=list)   # each host's rows, in order: the write cuts the same batches
    host_credentials: list[CredentialObservation] = field(default_factory=list)   # keys found on hosts
    # a streamed run's last file, when its format is parsed whole (not record by record): its hosts were
    # all in memory once parsed anyway, so they are kept instead of being parsed a second time
    last_file_hosts: list[HostObservation] | None = None
    software: bool = False      # some host reports packages: licence links are rebuilt
    ips: bool = False           # some host has addresses: subnet containment is rebuilt
    streamed: bool = False
    subnets: CloudSubnets = field(default_factory=CloudSubnets)

    @property
    def hosts(self) -> int:
        return len(self.host_costs)

    @property
    def rows(self) -> int:
        """What the whole run costs, in rows: a run within one batch's worth is written all or nothing."""
        return sum(self.host_costs) + _other_rows(self.batch)


def read_run(source: str, paths: Sequence[Path], limit: int, progress: Progress,
             keep_rows: int | None = None) -> Reading:
    """Parse and validate every file of a run before anything is written. Hosts are kept while they cost
    at most `keep_rows` rows (None: always); past that the run is `streamed`."""
    connector = BY_SOURCE[source]
    reading = Reading()
    kept: list[HostObservation] | None = []
    host_rows_so_far = 0
    whole_files = connector.streamer is None
    for done, path in enumerate(paths, 1):
        reading.files.append((path, _stamp(path)))
        part, hosts = connector.stream(path, limit)
        file_hosts: list[HostObservation] = []
        for host in _prepared(hosts, part.scopes, reading.batch):
            reading.subnets.note(host)
            if whole_files:
                file_hosts.append(host)
            cost = host_rows(host)
            reading.host_costs.append(cost)
            host_rows_so_far += cost
            reading.software = reading.software or host.software is not None or bool(host.software_added)
            reading.ips = reading.ips or bool(host.ips)
            reading.host_credentials += host.credentials
            if kept is not None:
                kept.append(host)
                if keep_rows is not None and host_rows_so_far > keep_rows:
                    kept, reading.streamed = None, True     # more than one batch: read again when written
        reading.batch.extend(part)
        progress("read", done, len(paths))
    reading.subnets.check(reading.batch.subnets)       # every file is read: the run's subnets are all known
    reading.batch.hosts = [reading.subnets.place(host) for host in kept or []]
    if reading.streamed and whole_files and paths:
        reading.last_file_hosts = file_hosts
    _duplicates_across_files(reading.batch.people)
    return reading


def read_batch(source: str, paths: Sequence[Path], limit: int, progress: Progress) -> Batch:
    """Parse and validate every file of a run, keeping every record."""
    return read_run(source, paths, limit, progress).batch


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _prepared(hosts: Iterable[HostObservation], scopes: list[str], batch: Batch) -> Iterator[HostObservation]:
    """A file's hosts in the file's one scope unless they say otherwise, cut to the per-host caps."""
    for host in hosts:
        if len(scopes) == 1 and not host.scope:
            host = host.model_copy(update={"scope": scopes[0]})
        yield cap_host(host, batch)


def _hosts_again(source: str, reading: Reading, limit: int) -> Iterator[HostObservation]:
    """A streamed run's hosts, read again file by file as they are written, in the same order. Each host
    must cost what the first read counted, and each file must end as it was (size and modification time,
    before and after): anything else is input that changed under the run, which then fails. The last file's
    hosts come from the first read where it kept them (`Reading.last_file_hosts`): they are what was validated."""
    connector, scratch = BY_SOURCE[source], Batch()    # caps were counted by the first read
    costs = iter(reading.host_costs)
    for index, (path, stamp) in enumerate(reading.files):
        if index == len(reading.files) - 1 and reading.last_file_hosts is not None:
            kept, reading.last_file_hosts = reading.last_file_hosts[::-1], None
            while kept:                 # each let go once handed over
                next(costs, None)
                yield reading.subnets.place(kept.pop())
            continue
        _unchanged(path, stamp)
        part, hosts = connector.stream(path, limit)
        for host in _prepared(hosts, part.scopes, scratch):
            if next(costs, None) != host_rows(host):
                raise _changed(path)
            yield reading.subnets.place(host)
        _unchanged(path, stamp)
    if next(costs, None) is not None:
        raise _changed(reading.files[-1][0])


def _read_ahead(chunks: Iterator[list[T]]) -> Iterator[list[T]]:
    """`chunks`, each read in a thread while the one before is written: the second read of a streamed run
    runs while the database works on the last batch. One batch ahead at most; an error while reading is
    raised where its batch was due; a consumer that stops early stops the thread."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item: tuple) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not hand_over(("chunk", chunk)):
                    return
            hand_over(("end", None))
        except BaseException as exc:  # noqa: BLE001 - raised again in the writing thread
            hand_over(("error", exc))

    thread = threading.Thread(target=produce, name="ingest-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = ready.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()


def _unchanged(path: Path, stamp: tuple[int, int] | None) -> None:
    if _stamp(path) != stamp:
        raise _changed(path)


def _changed(path: Path) -> IngestError:
    return IngestError.one(path, "input changed: the file changed while the run was writing it (it differs from "
                                 "what was validated); what was written is true; run it again")


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


# What one record costs a write transaction, in rows: its node plus everything hung off it.
def host_rows(host: HostObservation) -> int:
    return (1 + len(host.identifiers) + len(host.ips) + len(host.ports or ()) + len(host.software or ())
            + len(host.software_added) + len(host.software_removed) + len(host.controls) + len(host.credentials)
            + len(host.security_groups))


def credential_rows(credential: CredentialObservation) -> int:
    return 2 + len(credential.dns_names) + len(credential.ip_addresses) + len(credential.grants_access_to)


def licence_rows(licence: LicenseObservation) -> int:
    return 1 + len(licence.assigned_asset_tags) + len(licence.assigned_emails)


def contract_rows(contract: ContractObservation) -> int:
    return 1 + len(contract.asset_tags) + len(contract.license_names)


def batch_rows(batch: Batch) -> int:
    """What a batch's records cost, in rows."""
    return sum(map(host_rows, batch.hosts)) + _other_rows(batch)


def _other_rows(batch: Batch) -> int:
    """What a batch's records other than hosts cost, in rows."""
    return (3 * len(batch.people) + sum(map(credential_rows, batch.credentials))
            + sum(map(licence_rows, batch.licenses)) + sum(map(contract_rows, batch.contracts)) + len(batch.reach))


def chunked(items: Iterable[T], rows: Callable[[T], int], limit: int) -> Iterator[list[T]]:
    """Consecutive slices of `items` of at most `limit` rows each (a record larger than that goes alone)."""
    chunk: list[T] = []
    weight = 0
    for item in items:
        cost = rows(item)
        if chunk and weight + cost > limit:
            yield chunk
            chunk, weight = [], 0
        chunk.append(item)
        weight += cost
    if chunk:
        yield chunk


@dataclass
class _Run:
    """What the batches of one run share: the summary they count into and what later batches need."""

    summary: IngestSummary
    resolver: Resolver
    change_log: bool = True                             # record what each batch changed (ingest/changelog.py)
    log_parts: int = 0                                  # change-log parts so far (one per batch)
    conflicts: set[str] = field(default_factory=set)
    stored: list[dict] = field(default_factory=list)    # credentials found on assets: STORED_ON rows

    def checkpoint(self) -> Callable[[], None]:
        """What the run has counted and learned so far; calling the result forgets everything since (a batch
        that rolled back counted what it did not commit, and may have kept records apart)."""
        summary = self.summary
        counts = {name: getattr(summary, name) for name in _COUNTS}
        details, kept_apart = len(summary.conflict_details), set(self.resolver.kept_apart)
        log_parts, conflicts, stored = self.log_parts, set(self.conflicts), len(self.stored)

        def back() -> None:
            for name, value in counts.items():
                setattr(summary, name, value)
            del summary.conflict_details[details:]
            del self.stored[stored:]
            self.resolver.kept_apart, self.log_parts, self.conflicts = set(kept_apart), log_parts, set(conflicts)
        return back


class CollectorThreshold:
    """Python's cyclic collector, told to start a young collection every `young` allocations while runs
    are under way. A run holds a batch's records, rows and snapshots (several hundred thousand objects
    at 4,000 hosts a batch) until the batch is written, and at the default threshold of 700 the
    collector walked them again and again (docs/PERFORMANCE.md, "Ingest"). Cycles are
    still collected, only later. Runs may overlap (API ingest jobs share a process): the first one in
    raises the threshold, the last one out puts back what the first found."""

    def __init__(self, young: int):
        self.young = young
        self.lock = threading.Lock()
        self.runs = 0
        self.saved = gc.get_threshold()

    @contextmanager
    def raised(self) -> Iterator[None]:
        with self.lock:
            if self.runs == 0:
                self.saved = gc.get_threshold()
                gc.set_threshold(max(self.young, self.saved[0]), *self.saved[1:])
            self.runs += 1
        try:
            yield
        finally:
            with self.lock:
                self.runs -= 1
                if self.runs == 0:
                    gc.set_threshold(*self.saved)


RUN_COLLECTOR = CollectorThreshold(young=50_000)


def ingest_files(store: Store, source: str, paths: Sequence[Path | str], settings: Settings,
                 dry_run: bool = False, partial: bool = False, progress: Progress | None = None,
                 run_id: str | None = None) -> IngestSummary:
    """Ingest files of one source as one run; raises IngestError (nothing written) on bad input and
    RunFailed when a valid run could not be written (the run is then recorded as failed).

    `partial` says the files are not the whole of their scope: nothing is then marked stale.
    `dry_run` does every write in one transaction and rolls it back, so its counts are exact."""
    with RUN_COLLECTOR.raised():
        return _ingest_files(store, source, paths, settings, dry_run, partial, progress, run_id)


def _ingest_files(store: Store, source: str, paths: Sequence[Path | str], settings: Settings, dry_run: bool,
                  partial: bool, progress: Progress | None, run_id: str | None) -> IngestSummary:
    if source not in BY_SOURCE:
        raise IngestError.one(source, f"unknown source; known: {', '.join(sorted(BY_SOURCE))}")
    progress = progress or (lambda stage, done, total: None)
    files = [Path(p) for p in paths]
    summary = IngestSummary(source=source, files=[str(p) for p in files], dry_run=dry_run)
    if run_id:
        summary.run_id = run_id
    limit = settings.ingest_batch_rows
    reading = read_run(source, files, settings.max_file_bytes, progress, keep_rows=None if dry_run else limit)
    batch = reading.batch
    # the subnets stored before also hold addresses: kept hosts are placed again if they add a block (a
    # streamed run's hosts are placed as they are read again)
    if reading.ips and reading.subnets.learn_stored(store.read(LISTED_SUBNETS)):
        batch.hosts = [reading.subnets.place(host) for host in batch.hosts]
    summary.skipped, summary.dropped, summary.scopes = batch.skipped, batch.dropped, sorted(set(batch.scopes))
    summary.unplaced = reading.subnets.unplaced
    summary.records = reading.hosts + sum(len(getattr(batch, name)) for name in
                                          ("people", "credentials", "licenses", "contracts", "reach"))
    run = _Run(summary, Resolver(source), change_log=settings.change_log)
    if reading.streamed:
        host_chunks = _read_ahead(chunked(_hosts_again(source, reading, settings.max_file_bytes), host_rows, limit))
    else:
        host_chunks = chunked(batch.hosts, host_rows, limit)
    steps = _steps(run, reading, host_chunks, limit)
    stale = None if partial else bind(_mark_stale, run, batch.scopes)
    single = dry_run or reading.rows <= limit
    # counted without reading the hosts again: the same cut of the same costs
    summary.batches_total = 1 if single else (
        sum(1 for _ in _steps(run, reading, chunked(reading.host_costs, int, limit), limit)) + (stale is not None))
    reap_abandoned_runs(store)     # a run another process left running when it died is marked failed
    _ACTIVE_RUNS.add(summary.run_id)
    try:
        if single:
            _write_at_once(store, run, list(steps), stale, dry_run)
        else:
            _write_in_batches(store, run, steps, stale, progress)
    finally:
        _ACTIVE_RUNS.discard(summary.run_id)
    progress("write", summary.batches_total, summary.batches_total)
    if not dry_run and settings.evaluate_findings:
        _evaluate_findings(store, summary)
    if not dry_run and settings.change_retention_days > 0:
        changelog.prune_after_run(store, settings.change_retention_days)
    return summary


def _steps(run: _Run, reading: Reading, host_chunks: Iterable[list], limit: int) -> Iterator[Step]:
    """The run's writes in order, each small enough for one transaction: the batches of records, then
    what is rebuilt from them once they are all in (licence links, firewall reach, subnet containment).
    Host batches come from `host_chunks` as they are needed (a streamed run reads them as it goes)."""
    batch = reading.batch
    for hosts in host_chunks:
        yield bind(_write_hosts, run, hosts)
    for people in chunked(batch.people, lambda _: 3, limit):
        yield bind(_write_people, run, people)
    credentials = batch.credentials + reading.host_credentials
    for chunk in chunked(credentials, credential_rows, limit):
        yield bind(_write_credentials, run, chunk)
    if not reading.hosts:   # the source is on record even when a run brings no assets
        yield lambda tx: tx.run(UPSERT_SOURCE, source=run.summary.source,
                                        role=SOURCES[run.summary.source].value).consume()
    for licences in chunked(batch.licenses, licence_rows, limit):
        yield bind(_write_counted, run, "License", {lic.id for lic in licences},
                           lambda tx, chunk=licences: links.write_licenses(tx, chunk, run.summary.started))
    for contracts in chunked(batch.contracts, contract_rows, limit):
        yield bind(_write_counted, run, "Contract", {c.reference for c in contracts},
                           lambda tx, chunk=contracts: links.write_contracts(tx, chunk, run.summary.started))
    if batch.licenses or reading.software:
        yield lambda tx: relink_licences(tx, current_table(), run.summary.started)
    if batch.reach:
        yield lambda tx: links.write_reach(tx, batch.reach)
    if batch.reach or reading.ips:
        yield links.link_subnet_containment


def _write_hosts(run: _Run, hosts: list[HostObservation], tx: Transaction) -> None:
    summary = run.summary
    tx.run(IDENTITY_LOCK).consume()
    resolutions = run.resolver.resolve(tx, hosts)
    conflicts = [r.conflict for r in resolutions if r.conflict]
    run.conflicts.update(c.id for c in conflicts)
    summary.conflicts = len(run.conflicts)
    summary.conflict_details += [f"{c.record}: {c.reason}" for c in conflicts]
    known = {r.asset_id: r.observation.scope or "" for r in resolutions if r.asset_id and not r.is_new}
    sightings = sighting_digests(tx, summary.source, known)
    before = {aid: digest for aid, (digest, _) in sightings.items()}
    new_ids = {r.asset_id for r in resolutions if r.is_new}
    rows = HostRows.of(summary.source, SOURCES[summary.source], summary.run_id, resolutions)
    # reported exactly as last time, and still current: nothing to log on them
    unchanged = {aid for aid, d in rows.combined().items() if sightings.get(aid) == (d, True)}
    log = _change_log(run, tx, resolutions=resolutions, unchanged=unchanged, new=new_ids, facets=rows.facets())
    after, stored = write_hosts(tx, summary.source, rows.role, summary.run_id, resolutions, rows)
    if log:
        log.finish()
    run.stored += stored
    _count(summary, after, before, new_ids)


def _write_people(run: _Run, people: list[PersonObservation], tx: Transaction) -> None:
    summary = run.summary
    emails = sorted(p.email for p in people)
    before = {row["email"]: row["digest"] for row in tx.run(PERSON_DIGESTS, emails=emails, source=summary.source)}
    known = set(links.existing_digests(tx, "Person", emails))
    log = _change_log(run, tx, people=people)
    after = write_people(tx, summary.source, summary.run_id, people, summary.started)
    if log:
        log.finish()
    _count(summary, after, before, set(after) - known)


def _write_credentials(run: _Run, credentials: list[CredentialObservation], tx: Transaction) -> None:
    fingerprints = {c.fingerprint for c in credentials}
    stored = [row for row in run.stored if row["fingerprint"] in fingerprints]
    _write_counted(run, "Credential", fingerprints,
                   lambda tx: links.write_credentials(tx, run.summary.source, credentials, stored,
                                                      run.summary.started), tx)


def _write_counted(run: _Run, label: str, keys: set[str], write, tx: Transaction) -> None:
    """Write one kind of keyed node and count it as created, updated or unchanged."""
    old = links.existing_digests(tx, label, sorted(keys))
    new, unmatched = write(tx)
    _count(run.summary, new, old, keys - set(old))
    run.summary.unmatched += unmatched


def _mark_stale(run: _Run, scopes: list[str], tx: Transaction) -> None:
    summary = run.summary
    log = _change_log(run, tx)
    summary.retired = links.mark_stale(tx, summary.source, summary.run_id, scopes, summary.started,
                                       marked=log.marked if log else None)
    if log:
        log.finish()


def _change_log(run: _Run, tx: Transaction, resolutions: Sequence = (), people: Sequence = (),
                unchanged: Collection[str] = frozenset(), new: Collection[str] = frozenset(),
                facets: frozenset[str] = changelog.FACETS) -> changelog.RunLog | None:
    """The change log of one batch: it captures what the batch may touch before the write, and
    `finish()` records the difference in the same transaction (a rolled-back batch logs nothing)."""
    summary = run.summary
    run.log_parts += 1
    return changelog.start(tx, run.change_log, summary.source, summary.run_id, summary.started,
                           list(resolutions), list(people), part=run.log_parts, unchanged=unchanged, new=new,
                           facets=facets)


def _count(summary: IngestSummary, after: dict, before: dict, new_ids: set) -> None:
    for key, digest in after.items():
        if key in new_ids:
            summary.created += 1
        elif digest is not None and before.get(key) == digest:
            summary.unchanged += 1
        else:
            summary.updated += 1


_COUNTS = ("created", "updated", "unchanged", "unmatched", "conflicts", "retired")


def _write_at_once(store: Store, run: _Run, steps: list[Step], stale: Step | None, dry_run: bool) -> None:
    """A run that fits in one batch: one transaction with its run record, all or nothing (`_retried`)."""
    summary = run.summary

    def write_all() -> None:
        with store.transaction() as tx:
            for step in steps + ([stale] if stale else []):
                step(tx)
            summary.finished = datetime.now(timezone.utc)
            summary.status = "dry-run" if dry_run else "succeeded"
            if dry_run:
                tx.rollback()
                return
            summary.batches = 1
            tx.run(RECORD_RUN, run=_run_params(summary)).consume()
    try:
        _retried(run, write_all)
    except Exception as exc:
        summary.batches = 0
        _fail(store, summary, exc, recorded_running=False)


def _retried(run: _Run, write: Callable[[], None]) -> None:
    """`write`, one transaction. A deadlock with a concurrent writer (another run, a findings evaluation)
    rolled it back whole: it runs again, up to DEADLOCK_ATTEMPTS times. What the run counted and learned in
    an attempt that rolled back is set back; the last error is raised."""
    back = run.checkpoint()
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            return write()
        except Exception as exc:
            back()
            if not (_deadlock(exc) and attempt < DEADLOCK_ATTEMPTS):
                raise


def _deadlock(exc: BaseException) -> bool:
    return isinstance(exc, TransientError) and (exc.code or "").endswith(".DeadlockDetected")


def _write_in_batches(store: Store, run: _Run, steps: Iterator[Step], stale: Step | None,
                      progress: Progress) -> None:
    """A larger run: recorded as running, one transaction per batch (`_retried`), stale marking only at the
    end."""
    summary = run.summary
    store.execute(RECORD_RUN, run=_run_params(summary))     # a dead database fails here: nothing written
    while True:
        try:
            step = next(steps, None)    # a streamed run reads its next hosts here
        except Exception as exc:
            _fail(store, summary, exc, recorded_running=True)
        if step is None:
            break
        def write_batch(step: Step = step) -> None:
            with store.transaction() as tx:
                step(tx)
                tx.run(HEARTBEAT, id=summary.run_id, now=datetime.now(timezone.utc), done=summary.batches + 1,
                       created=summary.created, updated=summary.updated, unchanged=summary.unchanged).consume()
        try:
            _retried(run, write_batch)
        except Exception as exc:
            _fail(store, summary, exc, recorded_running=True)
        summary.batches += 1
        progress("write", summary.batches, summary.batches_total)
    try:
        with store.transaction() as tx:     # the sweep and the verdict land together
            if stale:
                stale(tx)
            summary.finished = datetime.now(timezone.utc)
            summary.status = "succeeded"
            summary.batches = summary.batches_total
            tx.run(RECORD_RUN, run=_run_params(summary)).consume()
    except Exception as exc:
        summary.retired = 0
        summary.batches = summary.batches_total - 1
        _fail(store, summary, exc, recorded_running=True)


def _fail(store: Store, summary: IngestSummary, exc: Exception, recorded_running: bool) -> None:
    """Record the run as failed (when the database still answers) and raise RunFailed."""
    summary.status, summary.error = "failed", f"{type(exc).__name__}: {exc}"
    summary.finished = datetime.now(timezone.utc)
    try:
        store.execute(RECORD_RUN, run=_run_params(summary))
        recorded = True
    except Exception:  # noqa: BLE001 - the database is gone; the next run records this one as failed
        if not recorded_running and summary.batches == 0:
            raise exc from None        # nothing was written and nothing recorded: the plain cause says it
        recorded = False
    raise RunFailed(summary.source, summary.run_id, summary.batches, summary.batches_total, exc,
                    recorded=recorded) from exc


def reap_abandoned_runs(store: Store, now: datetime | None = None) -> list[str]:
    """Record as failed every run left 'running' by a process that is gone: one of this machine whose
    pid is dead (or is this process, which is no longer writing it), or any whose last batch is older
    than ABANDONED_AFTER. Returns their ids."""
    now = now or datetime.now(timezone.utc)
    here = socket.gethostname()
    dead = []
    for row in store.read(RUNNING):
        if row["id"] in _ACTIVE_RUNS:
            continue
        beat = row["heartbeat"].to_native() if hasattr(row["heartbeat"], "to_native") else row["heartbeat"]
        if row["host"] == here and row["pid"] is not None and not _alive(row["pid"]):
            dead.append(row["id"])
        elif row["host"] == here and row["pid"] == os.getpid():
            dead.append(row["id"])
        elif beat is None or now - beat > ABANDONED_AFTER:
            dead.append(row["id"])
    if dead:
        store.execute(ABANDON, ids=sorted(dead), now=now)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # alive, and another user's
        pass
    return True


def _evaluate_findings(store: Store, summary: IngestSummary) -> None:
    """Re-evaluate the findings rules after a successful run; a failure here (or at the webhook) is
    reported on the summary and never fails the ingest, whose data is already committed."""
    from queries.findings import evaluate       # the read side: imported only when a run succeeded
    from queries.webhook import env_notifier
    try:
        summary.findings = evaluate(store, notify=env_notifier()).totals()
    except Exception as exc:  # noqa: BLE001 - the run is committed; say what went wrong, do not undo it
        summary.findings_error = f"{type(exc).__name__}: {exc}"


def _run_params(summary: IngestSummary) -> dict:
    data = summary.as_dict()
    for key in ("conflict_details", "findings", "findings_error", "dry_run"):
        data.pop(key)
    data["started"], data["finished"] = summary.started, summary.finished
    data.update(pid=os.getpid(), host=socket.gethostname(), heartbeat=datetime.now(timezone.utc))
    return data


def _duplicates_across_files(people: list[PersonObservation]) -> None:
    seen: dict[str, str] = {}
    for person in people:
        if person.email in seen:
            raise IngestError.one(person.record, f"{person.email} also at {seen[person.email]}", field="email")
        seen[person.email] = person.record
