"""The load test, short: a real `itam serve` process (its default two workers, real HTTP) under 8 concurrent
clients sending the load bench's mixed queries, against the test Neo4j. No request may fail, and the
API's memory must not keep growing. The full run (32 clients, 10 minutes, 100k hosts) is
`python -m bench.load_bench` (docs/PERFORMANCE.md)."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest
from strawberry.extensions.validation_cache import _get_validate_cache

from bench.live import LeanClient, ServedApi, child_pids, lean_graphql
from bench.load_bench import OPS, load
from bench.query_bench import PLAIN_QUERY, pick_probes
from demo import generate_org
from ingest.pipeline import ingest_files
from queries.findings import evaluate

CLIENTS = 8
WARMUP_S = 12.0      # until each worker's caches and connection pool are full (measured: ~150 requests)
HALF_S = 8.0
# Growth allowed from the end of the first half to the end of the second, for the whole process tree.
# After the warm-up the caches (parsed and validated queries, plans, pooled connections) are full and a
# healthy server stays flat: +0.3 MiB over 68 requests here, and +2.4 MiB over 1,600 requests in a
# 2-minute bench.load_bench run (the warm-up itself adds ~30 MiB). Keeping each request's context alive
# (its DataLoaders and the rows they read), a one-line mutation of api/app.py, grew it by 22.8 MiB over
# 84 requests and failed this test; a second half on a busy machine still serves 50 or more.
MAX_GROWTH_MB = 8.0


@pytest.fixture
def loaded(store, settings, tmp_path):
    """The demo company (80 hosts, every source) with its findings evaluated once."""
    manifest = generate_org(tmp_path / "org", hosts=80, seed=5)
    quiet = replace(settings, evaluate_findings=False)
    for source, files in manifest.files_by_source.items():
        assert ingest_files(store, source, files, quiet).status == "succeeded", source
    assert evaluate(store).totals()["matched"] > 0
    return manifest


def test_eight_clients_of_mixed_queries_get_answers_and_the_api_memory_stays_flat(loaded, settings, tmp_path):
    identifiers = [p.text for p in pick_probes(loaded.files_by_source, 40, 5, settings.max_file_bytes)]
    # every client comes from 127.0.0.1, one anonymous caller: lift the per-caller rate limit
    env = {"ITAM_RATE_PER_MINUTE": str(10**9), "ITAM_ACCESS_LOG": str(tmp_path / "access.log")}
    with ServedApi(settings, tmp_path / "serve.log", env=env) as api:
        result = asyncio.run(load(api, identifiers, CLIENTS, 2 * HALF_S, HALF_S, warmup_s=WARMUP_S))
        assert api.process.poll() is None, "the server died under load"
    run = result.run
    assert [s.error for s in run.errors] == []
    first, second = result.windows()
    assert {s.op for s in first} == {s.op for s in second} == set(OPS)     # every question asked in both halves
    assert len(second) >= 50, f"only {len(second)} requests in {HALF_S:.0f} s: too few to judge memory"
    assert len((tmp_path / "access.log").read_text().splitlines()) >= len(run.samples)   # the server did the work
    _, after_first, after_second = result.rss_mb
    growth = after_second - after_first
    assert growth < MAX_GROWTH_MB, (f"API memory grew {growth:.1f} MiB over {len(second)} requests "
                                    f"({after_first:.1f} -> {after_second:.1f} MiB; rows: {result.rss_mb})")


def test_serve_starts_two_workers_by_default_and_both_answer(store, settings, tmp_path):
    """The default: a supervisor and two workers, each building the app from the environment."""
    env = {"ITAM_RATE_PER_MINUTE": str(10**9), "ITAM_ACCESS_LOG": "off"}
    with ServedApi(settings, tmp_path / "serve.log", env=env) as api:
        assert len(child_pids(api.process.pid)) >= 2
        answer = httpx.post(api.url + "/graphql", json={"query": PLAIN_QUERY, "variables": {"id": "web-01"}},
                            timeout=30)
        assert (answer.status_code, answer.json()) == (200, {"data": {"asset": None}})
        assert asyncio.run(_twice_lean(api.url)) == [{"asset": None}] * 2     # the concurrency bench's client
        refused = httpx.get(api.url + "/healthz", headers={"Host": "attacker.example"}, timeout=30)
        assert refused.status_code == 400           # the workers' app has the loopback Host check too


async def _twice_lean(url: str) -> list[dict]:
    client = LeanClient(url)
    try:
        return [await lean_graphql(client, PLAIN_QUERY, {"id": "web-01"}) for _ in range(2)]
    finally:
        await client.aclose()


def test_each_of_two_workers_allows_its_share_of_the_rate(store, settings, tmp_path):
    """ITAM_RATE_PER_MINUTE=2 over two workers: one keep-alive connection stays with one worker, which
    allows one request a minute, so the workers together never allow more than the rate."""
    env = {"ITAM_RATE_PER_MINUTE": "2", "ITAM_ACCESS_LOG": "off"}
    with ServedApi(settings, tmp_path / "serve.log", ["--workers", "2"], env=env) as api:
        with httpx.Client(base_url=api.url, timeout=30) as client:       # one connection, reused
            codes = [client.post("/graphql", json={"query": PLAIN_QUERY, "variables": {"id": "web-01"}}).status_code
                     for _ in range(2)]
    assert codes == [200, 429]


def test_a_repeated_query_is_validated_once(api):
    """Validation is most of a small query's CPU: the cache must hit when only the variables change."""
    cache = _get_validate_cache(256)
    api(PLAIN_QUERY, id="warm-up")
    before = cache.cache_info()
    api(PLAIN_QUERY, id="web-01")
    api(PLAIN_QUERY, id="web-02")
    after = cache.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (2, 0)
