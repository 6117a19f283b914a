"""Two runs of different sources that overlap in time and both see new serials must make one asset per serial.

Both uploads are validated, then both runs start together (a barrier in front of the pipeline), so each
resolves identity while the other has not committed yet: the case the issue names ("two overlapping
runs can both decide 'new'")."""
from __future__ import annotations

import threading

from api import ingest_http
from tests.builders import osquery_log, snipeit_csv
from tests.http_ingest_helpers import ingest_client, post_files, wait_for_run

MACHINES = 150


def test_two_concurrent_http_ingests_of_overlapping_sources_give_one_asset_per_serial(store, settings, tmp_path,
                                                                                       monkeypatch):
    serials = [f"5CG{n:07d}" for n in range(MACHINES)]
    inventory = snipeit_csv(tmp_path / "assets.csv", [
        {"asset_tag": f"ITAM-{n:06d}", "item_name": f"lt-{n:04d}", "serial": s, "category": "Laptops"}
        for n, s in enumerate(serials)])
    agents = osquery_log(tmp_path / "osqueryd.results.log", [
        {"hostname": f"lt-{n:04d}", "uuid": f"4c4c4544-0000-4000-8000-{n:012d}", "serial": s,
         "mac": f"00:1b:a9:20:{n // 256:02x}:{n % 256:02x}", "ip": f"10.2.{n // 250}.{n % 250 + 1}"}
        for n, s in enumerate(serials)])
    together = threading.Barrier(2, timeout=120)
    real = ingest_http.pipeline.ingest_files

    def start_together(*args, **kwargs):
        together.wait()
        return real(*args, **kwargs)
    monkeypatch.setattr(ingest_http.pipeline, "ingest_files", start_together)
    with ingest_client(settings) as client:
        first = post_files(client, "snipeit", inventory)
        second = post_files(client, "osquery", agents)
        assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
        done = [wait_for_run(client, answer.json()["id"]) for answer in (first, second)]
    assert [run["status"] for run in done] == ["succeeded", "succeeded"], [run.get("error") for run in done]
    per_serial = store.read("""
        MATCH (i:Identifier {kind: 'serial'})-[:IDENTIFIES]->(a:Asset)
        RETURN i.value AS serial, count(DISTINCT a) AS assets""")
    assert {row["serial"]: row["assets"] for row in per_serial} == dict.fromkeys(serials, 1)
    assert store.read("MATCH (a:Asset) RETURN count(a) AS n") == [{"n": MACHINES}]
