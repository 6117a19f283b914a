"""A run larger than one batch writes batch by batch: bounded transactions, recorded as running, stale
marking only after the last batch, and a failure part-way that leaves only true facts and converges
when the same files are run again."""
from __future__ import annotations

import dataclasses
import gc
import os
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from neo4j.exceptions import Neo4jError, TransientError

from ingest import pipeline
from ingest.errors import IngestError, RunFailed
from ingest.pipeline import batch_rows, ingest_files, read_batch, reap_abandoned_runs
from ingest.reconcile import Resolver
from graph.models import HostObservation, Identifier
from graph.schema import IdentifierKind
from graph.store import write_batches
from tests.builders import nmap_xml, snipeit_csv
from tests.graph_compare import picture


def scan(path, count: int, start: int = 1763625600, skip: int | None = None, subnet: int = 0):
    """A scan of 10.9.<subnet>.0/24 (its scope) with `count` hosts, `skip` left out."""
    hosts = [{"ip": f"10.9.{subnet}.{i + 1}", "mac": f"00:14:22:09:{subnet:02x}:{i + 1:02x}",
              "name": f"batch-{i:02d}" if subnet == 0 else f"batch-{subnet}-{i:02d}",
              "ports": [("tcp", 22, "ssh"), ("tcp", 443, "https")]}
             for i in range(count) if i != skip]
    nmap_xml(path, hosts, start=start)
    path.write_text(path.read_text().replace(f'-oX {path.name}"', f'-oX {path.name} 10.9.{subnet}.0/24"'))
    return path


@pytest.fixture
def small_batches(settings):
    """Settings whose batches hold about three hosts (a host of this scan is 7 rows)."""
    return dataclasses.replace(settings, ingest_batch_rows=21, evaluate_findings=False)


def stage_of(store, name: str) -> list[dict]:
    return store.read("MATCH (:Identifier {key: $key})-[:IDENTIFIES]->(a:Asset)-[s:SEEN_BY]->(:Source) "
                      "RETURN s.current AS current", key=f"hostname:{name}")


def test_a_run_of_exactly_one_batch_is_one_transaction_and_one_row_more_is_two(store, settings, tmp_path):
    file = scan(tmp_path / "s.xml", 4)
    rows = batch_rows(read_batch("nmap", [file], settings.max_file_bytes, lambda *a: None))
    at_limit = ingest_files(store, "nmap", [file], dataclasses.replace(settings, ingest_batch_rows=rows))
    assert (at_limit.status, at_limit.batches, at_limit.batches_total) == ("succeeded", 1, 1)
    store.wipe()
    over = ingest_files(store, "nmap", [file], dataclasses.replace(settings, ingest_batch_rows=rows - 1))
    assert over.status == "succeeded" and over.batches_total > 1 and over.batches == over.batches_total


def test_a_large_run_commits_batch_by_batch_and_marks_stale_only_at_the_end(store, small_batches, tmp_path):
    ingest_files(store, "nmap", [scan(tmp_path / "a.xml", 12)], small_batches)
    summary = ingest_files(store, "nmap", [scan(tmp_path / "b.xml", 12, start=1763712000, skip=11)], small_batches)
    assert summary.batches_total >= 5 and summary.batches == summary.batches_total
    assert (summary.status, summary.unchanged, summary.retired) == ("succeeded", 11, 1)
    assert stage_of(store, "batch-11") == [{"current": False}]
    runs = store.read("MATCH (r:IngestRun {id: $id}) RETURN r.status AS status, r.batches AS batches",
                      id=summary.run_id)
    assert runs == [{"status": "succeeded", "batches": summary.batches_total}]


def test_a_failure_part_way_keeps_true_facts_marks_nothing_stale_and_a_rerun_converges(
        store, small_batches, tmp_path, monkeypatch):
    first, second = scan(tmp_path / "a.xml", 12), scan(tmp_path / "b.xml", 12, start=1763712000, skip=11)
    ingest_files(store, "nmap", [first], small_batches)
    write_hosts, calls = pipeline._write_hosts, []

    def third_batch_fails(run, hosts, tx):
        calls.append(len(hosts))
        if len(calls) == 3:
            tx.run("UNWIND [1, 0] AS x RETURN 1 / x AS boom").consume()
        write_hosts(run, hosts, tx)

    monkeypatch.setattr(pipeline, "_write_hosts", third_batch_fails)
    with pytest.raises(RunFailed, match="2 of .* batches were written") as failed:
        ingest_files(store, "nmap", [second], small_batches)
    assert failed.value.recorded and not failed.value.out_of_memory
    run = store.read("MATCH (r:IngestRun {id: $id}) RETURN r.status AS status, r.batches AS batches, "
                     "r.retired AS retired", id=failed.value.run_id)
    assert run == [{"status": "failed", "batches": 2, "retired": 0}]
    assert stage_of(store, "batch-11") == [{"current": True}]       # a failed run never marks stale
    seen = store.read("MATCH (a:Asset)-[s:SEEN_BY]->() WHERE s.last_seen = datetime({epochSeconds: 1763712000}) "
                      "RETURN count(a) AS n")[0]["n"]
    assert seen == sum(calls[:2])                                   # exactly the committed batches' hosts
    monkeypatch.setattr(pipeline, "_write_hosts", write_hosts)
    assert ingest_files(store, "nmap", [second], small_batches).status == "succeeded"
    after_retry = picture(store)
    store.wipe()
    ingest_files(store, "nmap", [first], small_batches)
    ingest_files(store, "nmap", [second], small_batches)
    clean = picture(store)
    assert clean == after_retry


def test_a_run_left_running_by_a_dead_process_is_recorded_failed_by_the_next(store, settings):
    store.execute("CREATE (:IngestRun {id: 'run-dead', source: 'nmap', status: 'running', pid: 2147483646, "
                  "host: $host, heartbeat: datetime()})", host=pipeline.socket.gethostname())
    store.execute("CREATE (:IngestRun {id: 'run-elsewhere', source: 'nmap', status: 'running', pid: 1, "
                  "host: 'another-machine', heartbeat: datetime()})")
    assert reap_abandoned_runs(store) == ["run-dead"]                # another machine's fresh run may be alive
    later = pipeline.datetime.now(pipeline.timezone.utc) + pipeline.ABANDONED_AFTER + pipeline.timedelta(seconds=1)
    assert reap_abandoned_runs(store, now=later) == ["run-elsewhere"]  # ... until it stops beating
    rows = store.read("MATCH (r:IngestRun) RETURN r.id AS id, r.status AS status ORDER BY id")
    assert rows == [{"id": "run-dead", "status": "failed"}, {"id": "run-elsewhere", "status": "failed"}]


def test_a_run_whose_heartbeat_is_exactly_at_the_limit_is_still_running(store):
    store.execute("CREATE (:IngestRun {id: 'run-slow', source: 'nmap', status: 'running', pid: 1, "
                  "host: 'another-machine', heartbeat: datetime('2026-11-30T10:00:00Z')})")
    beat = pipeline.datetime(2026, 11, 30, 10, 0, tzinfo=pipeline.timezone.utc)
    assert reap_abandoned_runs(store, now=beat + pipeline.ABANDONED_AFTER) == []


def test_a_run_that_runs_out_of_memory_says_so_in_one_line_with_what_to_do(store, small_batches, tmp_path,
                                                                           monkeypatch):
    def out_of_memory(run, hosts, tx):
        raise TransientError("There is not enough memory to perform the current task: Java heap space")

    ingest_files(store, "nmap", [scan(tmp_path / "before.xml", 6)], small_batches)
    before = picture(store)
    monkeypatch.setattr(pipeline, "_write_hosts", out_of_memory)
    with pytest.raises(RunFailed) as failed:
        ingest_files(store, "nmap", [scan(tmp_path / "a.xml", 12, start=1763712000)], small_batches)
    assert picture(store) == before            # "nothing was written": the estate is as it was
    message = str(failed.value)
    assert "\n" not in message and failed.value.out_of_memory
    assert "ran out of memory" in message and "ITAM_NEO4J_HEAP_MB" in message and "nothing was written" in message
    assert "run it again" in message


def inventory(path, count: int, changed: bool = False):
    return snipeit_csv(path, [{"asset_tag": f"TAG-{i:04d}", "item_name": f"inv-{i:04d}", "serial": f"SN{i:06d}",
                               "email": f"owner{i % 7}@example.com", "location": "Lyon" if changed else "Paris"}
                              for i in range(count)])


def observations_alive() -> int:
    return sum(isinstance(o, HostObservation) for o in gc.get_objects())


@pytest.mark.parametrize("source", ["snipeit", "nmap"])
def test_a_run_larger_than_a_batch_holds_one_batch_of_hosts_in_memory_not_the_whole_input(store, settings,
                                                                                          tmp_path, source):
    # Snipe-IT streams its one CSV record by record; nmap's eight files are read again one at a time
    files = ([inventory(tmp_path / "assets.csv", 400)] if source == "snipeit" else
             [scan(tmp_path / f"s{n}.xml", 50, subnet=n + 1) for n in range(8)])
    host_rows = pipeline.host_rows(read_batch(source, files, settings.max_file_bytes, lambda *a: None).hosts[0])
    per_batch = 10
    alive: list[int] = []

    def count_at_each_batch(stage, done, total):
        if stage == "write":
            gc.collect()
            alive.append(observations_alive())

    gc.collect()
    baseline = observations_alive()
    summary = ingest_files(store, source, files, dataclasses.replace(
        settings, ingest_batch_rows=per_batch * host_rows, evaluate_findings=False), progress=count_at_each_batch)
    assert summary.status == "succeeded" and summary.records == 400 and summary.batches_total > 40
    assert store.read("MATCH (a:Asset) RETURN count(a) AS n")[0]["n"] == 400
    # a non-streaming connector parses a file whole, and keeps the last file's hosts from the first read
    whole_files = 1 if source == "snipeit" else 2 * 50
    held = max(alive) - baseline
    # the batch being written, the next one read ahead, the one being read (and the files above)
    assert held <= 3 * per_batch + whole_files + 5, held     # not 400


def test_a_streamed_run_writes_the_same_graph_as_one_transaction(store, settings, tmp_path):
    files = [inventory(tmp_path / "assets.csv", 120)]
    whole = ingest_files(store, "snipeit", files, dataclasses.replace(settings, evaluate_findings=False))
    assert whole.batches_total == 1
    at_once = picture(store)
    store.wipe()
    streamed = ingest_files(store, "snipeit", files, dataclasses.replace(
        settings, ingest_batch_rows=30, evaluate_findings=False))
    assert streamed.batches_total > 5 and (streamed.created, streamed.records) == (120, 120)
    assert picture(store) == at_once


def test_a_file_that_changes_between_validation_and_writing_fails_the_run_naming_it(store, settings, tmp_path):
    file = inventory(tmp_path / "assets.csv", 60)

    def rewrite_after_reading(stage, done, total):
        if stage == "read" and done == total:
            inventory(file, 61, changed=True)       # someone replaces the export mid-run

    with pytest.raises(RunFailed, match="assets.csv: input changed: the file changed while the run was writing it") as failed:
        ingest_files(store, "snipeit", [file], dataclasses.replace(settings, ingest_batch_rows=30,
                                                                   evaluate_findings=False),
                     progress=rewrite_after_reading)
    run = store.read("MATCH (r:IngestRun {id: $id}) RETURN r.status AS status", id=failed.value.run_id)
    assert run == [{"status": "failed"}]
    assert store.read("MATCH (a:Asset) WHERE a.location = 'Lyon' RETURN count(a) AS n")[0]["n"] == 0


def test_a_file_rewritten_to_the_same_size_and_time_between_the_reads_still_fails_the_run(store, settings,
                                                                                           tmp_path):
    file = inventory(tmp_path / "assets.csv", 60)
    text = file.read_bytes()
    # row 5 loses its serial (8 characters) and its name gains 8: same size, one identifier fewer
    edited = text.replace(b",SN000005,", b",,", 1).replace(b",inv-0005,", b",inv-0005-renamed,", 1)
    assert len(edited) == len(text) and edited != text

    def rewrite_in_place(stage, done, total):
        if stage == "read" and done == total:
            stat = file.stat()
            file.write_bytes(edited)
            os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    with pytest.raises(RunFailed, match="assets.csv: input changed") as failed:
        ingest_files(store, "snipeit", [file], dataclasses.replace(settings, ingest_batch_rows=30,
                                                                   evaluate_findings=False),
                     progress=rewrite_in_place)
    assert failed.value.committed < failed.value.total
    assert "the write failed" not in str(failed.value)         # the input changed, not the database


def test_a_record_kept_apart_in_one_batch_is_not_new_again_in_the_next(store):
    # a record whose two addresses are held by two different assets fits both: it is kept apart
    store.execute("UNWIND [['a1', '10.7.0.1'], ['a2', '10.7.0.2']] AS pair "
                  "CREATE (a:Asset:Host {id: pair[0]}) "
                  "CREATE (:Identifier {key: 'ip:' + pair[1], kind: 'ip', value: pair[1]})-[:IDENTIFIES]->(a)")
    record = HostObservation(record="scan.xml host 1", observed_at=datetime(2026, 11, 1, tzinfo=UTC),
                             identifiers=(Identifier.of(IdentifierKind.IP, "10.7.0.1"),
                                          Identifier.of(IdentifierKind.IP, "10.7.0.2")))
    resolver = Resolver("nmap")
    with store.transaction() as tx:
        first = resolver.resolve(tx, [record])[0]
        again = resolver.resolve(tx, [record])[0]   # the next batch: an older record's addresses stayed put
    assert first.asset_id == again.asset_id not in ("a1", "a2") and first.conflict is not None
    assert (first.is_new, again.is_new) == (True, False)


def deadlock() -> Neo4jError:
    return Neo4jError._hydrate_neo4j(code="Neo.TransientError.Transaction.DeadlockDetected",
                                     message="ForsetiClient can't acquire ExclusiveLock: deadlock")


def deadlock_hosts(monkeypatch, deadlocks: int, which=lambda hosts: True) -> list[int]:
    """The first `deadlocks` host writes that `which` picks deadlock after writing (so they were written and
    counted, then rolled back); returns the sizes of every picked write attempt."""
    write_hosts, attempts = pipeline._write_hosts, []

    def deadlocking(run, hosts, tx):
        write_hosts(run, hosts, tx)
        if which(hosts):
            attempts.append(len(hosts))
            if len(attempts) <= deadlocks:
                raise deadlock()

    monkeypatch.setattr(pipeline, "_write_hosts", deadlocking)
    return attempts


@pytest.mark.parametrize("deadlocks", [pipeline.DEADLOCK_ATTEMPTS - 1, pipeline.DEADLOCK_ATTEMPTS])
def test_a_one_transaction_run_that_deadlocks_starts_over_a_bounded_number_of_times(store, settings, tmp_path,
                                                                                   monkeypatch, deadlocks):
    file = inventory(tmp_path / "assets.csv", 40)
    ingest_files(store, "snipeit", [file], dataclasses.replace(settings, evaluate_findings=False))
    clean = picture(store)
    store.wipe()
    attempts = deadlock_hosts(monkeypatch, deadlocks)
    settings = dataclasses.replace(settings, evaluate_findings=False)
    if deadlocks < pipeline.DEADLOCK_ATTEMPTS:
        summary = ingest_files(store, "snipeit", [file], settings)
        assert (summary.status, summary.created, summary.updated, summary.batches) == ("succeeded", 40, 0, 1)
        assert picture(store) == clean
    else:
        with pytest.raises(RunFailed, match="DeadlockDetected"):
            ingest_files(store, "snipeit", [file], settings)
        assert store.read("MATCH (a:Asset) RETURN count(a) AS n")[0]["n"] == 0
    assert len(attempts) == min(deadlocks + 1, pipeline.DEADLOCK_ATTEMPTS)


@pytest.mark.parametrize("deadlocks", [pipeline.DEADLOCK_ATTEMPTS - 1, pipeline.DEADLOCK_ATTEMPTS])
def test_a_batch_that_deadlocks_is_written_again_a_bounded_number_of_times(store, small_batches, tmp_path,
                                                                          monkeypatch, deadlocks):
    """The last batch holds a record whose serial and tag name two assets: kept apart, new, a conflict."""
    rows = [{"asset_tag": f"TAG-{i:04d}", "item_name": f"inv-{i:04d}", "serial": f"SN{i:06d}"} for i in range(12)]
    files = [snipeit_csv(tmp_path / "assets.csv", rows),
             snipeit_csv(tmp_path / "odd.csv", [{"asset_tag": "TAG-0005", "item_name": "odd", "serial": "SN000000"}])]
    clean_run = ingest_files(store, "snipeit", files, small_batches)
    clean = picture(store)
    store.wipe()
    attempts = deadlock_hosts(monkeypatch, deadlocks, lambda hosts: any(h.record.startswith("odd.csv") for h in hosts))
    counts = ("status", "created", "updated", "conflicts", "conflict_details", "batches")
    if deadlocks < pipeline.DEADLOCK_ATTEMPTS:
        summary = ingest_files(store, "snipeit", files, small_batches)
        assert clean_run.batches_total > 2 and clean_run.conflicts == 1 and clean_run.created == 13
        assert [getattr(summary, c) for c in counts] == [getattr(clean_run, c) for c in counts]
        assert picture(store) == clean
    else:
        with pytest.raises(RunFailed, match="DeadlockDetected"):
            ingest_files(store, "snipeit", files, small_batches)
        assert store.read("MATCH (r:IngestRun) RETURN r.status AS status") == [{"status": "failed"}]
        written = 13 - attempts[0]      # every batch before the one that deadlocked
        assert store.read("MATCH (a:Asset) RETURN count(a) AS n")[0]["n"] == written < 13
    assert len(attempts) == min(deadlocks + 1, pipeline.DEADLOCK_ATTEMPTS)


def test_a_run_raises_the_collectors_young_threshold_while_it_runs_and_puts_it_back(store, settings, tmp_path):
    before = gc.get_threshold()
    during = []
    progress = lambda stage, done, total: during.append(gc.get_threshold()[0])     # noqa: E731
    ingest_files(store, "nmap", [scan(tmp_path / "a.xml", 3)], settings, progress=progress)
    assert set(during) == {pipeline.RUN_COLLECTOR.young} and gc.get_threshold() == before
    bad = tmp_path / "bad.xml"
    bad.write_text("<nmaprun><host>")
    with pytest.raises(IngestError):
        ingest_files(store, "nmap", [bad], settings)
    assert gc.get_threshold() == before                     # a failed run puts it back too


def test_overlapping_runs_put_the_threshold_back_when_the_last_one_ends():
    before = gc.get_threshold()
    collector = pipeline.CollectorThreshold(young=before[0] + 1)
    with collector.raised():
        with collector.raised():
            assert gc.get_threshold()[0] == before[0] + 1
        assert gc.get_threshold()[0] == before[0] + 1      # the other run is still under way
    assert gc.get_threshold() == before


def test_a_run_in_many_batches_derives_the_same_reach_as_one_transaction(store, settings, small_batches, tmp_path):
    """Every batch derives reach into its own hosts and leaves the earlier batches' hosts their reach."""
    files = [scan(tmp_path / "a.xml", 12), scan(tmp_path / "b.xml", 5, subnet=1)]
    reach = "MATCH (o)-[r:CAN_REACH]->(h:Asset) RETURN coalesce(o.cidr, o.name) AS origin, h.name AS host, r.ports AS ports"
    whole = ingest_files(store, "nmap", files, dataclasses.replace(settings, evaluate_findings=False))
    assert whole.batches_total == 1
    at_once = sorted(store.read(reach), key=str)
    assert len(at_once) == 17
    store.wipe()
    batched = ingest_files(store, "nmap", files, small_batches)
    assert batched.batches_total > 5
    assert sorted(store.read(reach), key=str) == at_once


def test_a_streamed_run_of_whole_files_parses_its_last_file_once(store, small_batches, tmp_path, monkeypatch):
    """The last file's hosts are kept from the validating read (they were all in memory once parsed):
    only the files before it are parsed a second time, and the graph is the one a single transaction gives."""
    from ingest import nmap
    files = [scan(tmp_path / f"s{n}.xml", 6, subnet=n + 1) for n in range(3)]
    whole = ingest_files(store, "nmap", files, dataclasses.replace(small_batches, ingest_batch_rows=10_000))
    assert whole.batches_total == 1
    at_once = picture(store)
    store.wipe()
    parsed: list[str] = []
    real = nmap.parse_batch
    monkeypatch.setattr(nmap, "parse_batch", lambda path, limit: parsed.append(path.name) or real(path, limit))
    streamed = ingest_files(store, "nmap", files, small_batches)
    assert streamed.batches_total > 5
    assert parsed == ["s0.xml", "s1.xml", "s2.xml", "s0.xml", "s1.xml"]
    assert picture(store) == at_once


@pytest.fixture
def new_york_clock(monkeypatch):
    """The process's local time zone is not UTC for the test (this machine's is)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_datetimes_go_as_instants_to_the_millisecond_and_a_naive_one_is_utc(store, new_york_clock):
    aware = datetime(2026, 11, 30, 12, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2026, 11, 30, 12, 0, 0)
    with store.transaction() as tx:
        write_batches(tx, "UNWIND $rows AS row CREATE (:Source {name: row.name, at: row.at})",
                      [{"name": "aware", "at": aware}, {"name": "naive", "at": naive}])
    stored = {row["name"]: row["at"].to_native() for row in store.read(
        "MATCH (s:Source) WHERE s.name IN ['aware', 'naive'] RETURN s.name AS name, s.at AS at")}
    assert stored == {"aware": aware, "naive": naive.replace(tzinfo=UTC)}
