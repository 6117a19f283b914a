"""Nothing lost: every well-formed record of every connector lands on a node (hosts on an asset, even
when they conflict), the counts add up to the records read, and file order does not change the assets."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from graph.models import Batch
from demo import SOURCE_ORDER, generate_org
from ingest.pipeline import IngestSummary, ingest_files, read_batch
from ingest.reconcile import trusted

MESSY = Path(__file__).parent / "fixtures" / "identity"
MESSY_RUNS = [("snipeit", [MESSY / "snipeit-whitebox.csv"]), ("osquery", [MESSY / "osquery-messy-fleet.log"]),
              ("nmap", [MESSY / "nmap-vlan10.xml"]), ("nmap", [MESSY / "nmap-vlan20.xml"])]

LANDED_HOSTS = """
UNWIND $keys AS key
MATCH (:Identifier {key: key})-[:IDENTIFIES]->(:Asset)-[s:SEEN_BY]->(:Source {name: $source})
WHERE s.run_id = $run
RETURN DISTINCT key
"""
LANDED = {  # record kind -> (its key, the query that finds the keys the run wrote)
    "people": (lambda p: p.email, "UNWIND $keys AS key MATCH (p:Person {email: key})-[s:SEEN_BY]->"
                                  "(:Source {name: $source}) WHERE s.run_id = $run RETURN DISTINCT key"),
    "credentials": (lambda c: c.fingerprint, "UNWIND $keys AS key MATCH (c:Credential) "
                                             "WHERE c.fingerprint = key OR key IN coalesce(c.aliases, []) "
                                             "RETURN DISTINCT key"),
    "licenses": (lambda lic: lic.id, "UNWIND $keys AS key MATCH (:License {id: key}) RETURN DISTINCT key"),
    "contracts": (lambda c: c.reference, "UNWIND $keys AS key MATCH (:Contract {reference: key}) RETURN DISTINCT key"),
    "reach": (lambda r: r.target_group, "UNWIND $keys AS key MATCH (:SecurityGroup {id: key}) RETURN DISTINCT key"),
}


def landed_records(store, summary: IngestSummary, batch: Batch) -> int:
    """How many of the batch's records the graph holds after the run, each found by its own key."""
    params = {"source": summary.source, "run": summary.run_id}
    host_keys = [[i.key for i in trusted(h).identifiers] for h in batch.hosts]
    found = {r["key"] for r in store.read(LANDED_HOSTS, keys=sorted({k for ks in host_keys for k in ks}), **params)}
    count = sum(1 for keys in host_keys if found & set(keys))
    for kind, (key_of, query) in LANDED.items():
        records = getattr(batch, kind)
        found = {r["key"] for r in store.read(query, keys=sorted({key_of(x) for x in records}), **params)}
        count += sum(1 for x in records if key_of(x) in found)
    return count


def ingest_and_account(store, settings, source: str, paths: list[Path]) -> IngestSummary:
    batch = read_batch(source, paths, settings.max_file_bytes, lambda *_: None)
    summary = ingest_files(store, source, paths, settings)
    assert summary.status == "succeeded"
    assert summary.records == len(batch.hosts) + sum(len(getattr(batch, kind)) for kind in LANDED)
    assert landed_records(store, summary, batch) == summary.records, source
    # every conflict this run found is listed, and its record is on an asset like any other
    listed = store.read("MATCH (c:Conflict {run_id: $run})-[:INVOLVES {role: 'record'}]->(a:Asset) "
                        "RETURN c.record AS record", run=summary.run_id)
    assert sorted(r["record"] for r in listed) == sorted(d.split(": ", 1)[0] for d in summary.conflict_details)
    assert len(listed) == summary.conflicts
    return summary


def test_every_connector_lands_every_record(store, settings, tmp_path):
    org = generate_org(tmp_path / "org", hosts=60, seed=11)
    assert set(org.files_by_source) == set(SOURCE_ORDER)
    seen = {}
    for source in SOURCE_ORDER:
        seen[source] = ingest_and_account(store, settings, source, org.files_by_source[source])
    assert all(summary.records > 0 for summary in seen.values()), {s: x.records for s, x in seen.items()}
    assert sum(summary.unmatched for summary in seen.values()) > 0    # links to nothing are counted, not lost


def test_messy_inventories_land_every_record_and_list_every_conflict(store, settings):
    conflicts = [ingest_and_account(store, settings, source, paths).conflicts for source, paths in MESSY_RUNS]
    assert conflicts == [1, 2, 0, 0]


def asset_set(store) -> set[frozenset[str]]:
    """The assets as the sets of identifiers they hold (ids differ between runs; machines do not)."""
    rows = store.read("MATCH (a:Asset) RETURN [(i:Identifier)-[:IDENTIFIES]->(a) | i.key] AS keys, a.name AS name")
    return {frozenset(r["keys"]) | {f"name:{r['name']}"} for r in rows}


@pytest.fixture(scope="module")
def reference_assets(settings, _schema):
    from graph.store import Store
    store = Store.from_settings(settings)
    store.wipe()
    for source, paths in MESSY_RUNS:
        ingest_files(store, source, paths, settings)
    assets = asset_set(store)
    store.close()
    return assets


@hypothesis_settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(MESSY_RUNS))
def test_file_order_does_not_change_the_assets(store, settings, reference_assets, order):
    store.wipe()
    for source, paths in order:
        ingest_files(store, source, paths, settings)
    assert len(reference_assets) == 23
    assert asset_set(store) == reference_assets
