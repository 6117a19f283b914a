"""The database is killed (SIGKILL) in the middle of a large run, then restarted: the run is recorded
as failed, nothing was marked stale, and running the same files again gives exactly the graph a
clean run gives. This test runs its own Neo4j (the session's one is shared)."""
from __future__ import annotations

import pytest

from graph.config import Settings
from graph.local import LocalNeo4j, free_port
from graph.store import Store
from ingest.errors import RunFailed
from ingest.pipeline import ingest_files
from tests.graph_compare import picture
from tests.test_batched_ingest import scan, stage_of


@pytest.fixture
def own_neo4j(tmp_path):
    server = LocalNeo4j(tmp_path / "neo4j", port=free_port(), heap_mb=512, pagecache_mb=64)
    server.start()
    yield server
    server.stop()


def test_killing_the_database_mid_run_then_running_again_converges_to_a_clean_run(own_neo4j, tmp_path):
    settings = Settings(neo4j_uri=own_neo4j.uri, home=own_neo4j.home, evaluate_findings=False,
                        ingest_batch_rows=21)
    store = Store.from_settings(settings)
    try:
        store.apply_schema()
        first = scan(tmp_path / "a.xml", 40)
        second = scan(tmp_path / "b.xml", 40, start=1763712000, skip=39)
        ingest_files(store, "nmap", [first], settings)

        def kill_after_the_fourth_batch(stage: str, done: int, total: int) -> None:
            if stage == "write" and done == 4:
                own_neo4j.kill()

        with pytest.raises(RunFailed, match="4 of .* batches were written") as failed:
            ingest_files(store, "nmap", [second], settings, progress=kill_after_the_fourth_batch)
        assert not failed.value.recorded
        own_neo4j.start()
        left = store.read("MATCH (r:IngestRun {id: $id}) RETURN r.status AS status, r.batches AS batches",
                          id=failed.value.run_id)
        assert left == [{"status": "running", "batches": 4}]         # what the dead database last heard
        assert stage_of(store, "batch-39") == [{"current": True}]     # nothing was marked stale

        again = ingest_files(store, "nmap", [second], settings)
        assert again.status == "succeeded" and again.retired == 1
        assert store.read("MATCH (r:IngestRun {id: $id}) RETURN r.status AS status",
                          id=failed.value.run_id) == [{"status": "failed"}]   # the next run recorded it
        after_recovery = picture(store)
        store.wipe()
        ingest_files(store, "nmap", [first], settings)
        ingest_files(store, "nmap", [second], settings)
        assert picture(store) == after_recovery
    finally:
        store.close()
