"""The write path's promises, each pinned by a test that fails when the promise breaks:
a failed write leaves the graph as it was and is recorded as failed; an older scan never replaces
newer ports; identity precedence and ambiguity; the CSV field limit at N and N+1."""
from __future__ import annotations

import json

import pytest

from ingest import links
from ingest.csvfile import MAX_FIELD_CHARS
from ingest.errors import IngestError
from ingest.pipeline import ingest_files
from tests.builders import nmap_xml, snipeit_csv

GRAPH = """
MATCH (n) WHERE NOT n:IngestRun
OPTIONAL MATCH (n)-[r]->(m)
RETURN elementId(n) AS node, labels(n) AS labels, properties(n) AS props,
       collect([type(r), properties(r), elementId(m)]) AS out ORDER BY node
"""


def snapshot(store) -> list[dict]:
    return store.read(GRAPH)


def holder_tag(store, key: str) -> list[str]:
    return [r["tag"] for r in store.read(
        "MATCH (:Identifier {key: $key})-[:IDENTIFIES]->(a:Asset)<-[:IDENTIFIES]-(t:Identifier {kind: 'asset_tag'}) "
        "RETURN t.value AS tag ORDER BY tag", key=key)]


def test_a_write_that_fails_midway_leaves_the_graph_as_it_was_and_is_recorded_failed(store, settings, tmp_path,
                                                                                     monkeypatch):
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "T-1", "item_name": "db-01", "serial": "S1"}])], settings)
    before = snapshot(store)

    def fail_after_hosts_were_written(tx):
        tx.run("UNWIND [1, 0] AS x RETURN 1 / x AS boom").consume()  # the database refuses mid-transaction

    monkeypatch.setattr(links, "link_subnet_containment", fail_after_hosts_were_written)
    scan = nmap_xml(tmp_path / "s.xml", [{"ip": "10.0.0.5", "mac": "00:14:22:00:00:05", "name": "db-01",
                                          "ports": [("tcp", 5432, "postgresql")]}])
    with pytest.raises(Exception, match="ArithmeticError"):
        ingest_files(store, "nmap", [scan], settings)
    assert snapshot(store) == before
    runs = store.read("MATCH (r:IngestRun {source: 'nmap'}) RETURN r.status AS status, r.error AS error")
    assert [r["status"] for r in runs] == ["failed"]
    assert "ArithmeticError" in runs[0]["error"]


def test_a_transaction_that_raises_commits_nothing(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            tx.run("CREATE (:Probe {n: 1})").consume()
            raise RuntimeError("the caller gave up")
    assert store.read("MATCH (p:Probe) RETURN count(p) AS n") == [{"n": 0}]


def test_an_older_scan_uploaded_late_does_not_replace_newer_ports(store, settings, tmp_path):
    host = {"ip": "10.0.0.9", "mac": "00:14:22:00:00:09", "name": "app-09"}
    newer = nmap_xml(tmp_path / "new.xml", [{**host, "ports": [("tcp", 22, "ssh")], "time": 1764000000}],
                     start=1764000000)
    older = nmap_xml(tmp_path / "old.xml", [{**host, "ports": [("tcp", 22, "ssh"), ("tcp", 80, "http")],
                                             "time": 1763000000}], start=1763000000)
    ingest_files(store, "nmap", [newer], settings)
    ingest_files(store, "nmap", [older], settings)
    ports = store.read("MATCH (:Asset)-[:LISTENS_ON]->(p:Port) RETURN p.number AS n ORDER BY n")
    assert ports == [{"n": 22}]


def test_fqdn_wins_over_a_short_hostname_held_by_another_machine(store, settings, tmp_path):
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "T-1", "item_name": "app.corp.example", "serial": "S1"}])], settings)
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "b.csv", [
        {"asset_tag": "T-2", "item_name": "app", "serial": "S2"}])], settings, partial=True)
    assert holder_tag(store, "hostname:app") == ["T-2"]  # the short name moved to the newer machine
    ingest_files(store, "nmap", [nmap_xml(tmp_path / "s.xml", [{"ip": "10.0.0.7", "name": "app.corp.example"}])],
                 settings)
    assert holder_tag(store, "ip:10.0.0.7") == ["T-1"]


def test_a_record_whose_weak_names_point_at_two_machines_joins_neither(store, settings, tmp_path):
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "T-1", "item_name": "alpha", "serial": "S1"},
        {"asset_tag": "T-2", "item_name": "beta", "serial": "S2"}])], settings)
    scan = tmp_path / "two-names.xml"
    nmap_xml(scan, [{"ip": "10.0.0.8", "name": "alpha"}])
    scan.write_text(scan.read_text().replace('<hostname name="alpha" type="PTR"/>',
                                             '<hostname name="alpha" type="user"/><hostname name="beta" type="PTR"/>'))
    summary = ingest_files(store, "nmap", [scan], settings)
    assert summary.conflicts == 1
    assert holder_tag(store, "ip:10.0.0.8") == []


@pytest.mark.parametrize("length, refused", [(MAX_FIELD_CHARS, False), (MAX_FIELD_CHARS + 1, True)])
def test_csv_field_limit_at_n_and_n_plus_one(store, settings, tmp_path, length, refused):
    export = snipeit_csv(tmp_path / "a.csv", [{"asset_tag": "T-1", "serial": "S1", "location": "x" * length}])
    if refused:
        with pytest.raises(IngestError, match=f"longer than {MAX_FIELD_CHARS}"):
            ingest_files(store, "snipeit", [export], settings)
        assert store.read("MATCH (a:Asset) RETURN count(a) AS n") == [{"n": 0}]
    else:
        ingest_files(store, "snipeit", [export], settings)
        assert store.read("MATCH (a:Asset) RETURN a.location AS loc") == [{"loc": "x" * length}]


@pytest.mark.parametrize("extra", [0, 1])
def test_ports_per_host_are_capped_at_n_and_the_rest_counted(store, settings, tmp_path, extra):
    from ingest.pipeline import MAX_PORTS_PER_HOST
    ports = [("tcp", n, "tarpit") for n in range(MAX_PORTS_PER_HOST + extra, 0, -1)]
    scan = nmap_xml(tmp_path / "tarpit.xml", [{"ip": "10.0.0.66", "name": "tarpit", "ports": ports}])
    summary = ingest_files(store, "nmap", [scan], settings)
    assert summary.dropped == extra
    stored = store.read("MATCH (:Asset)-[:LISTENS_ON]->(p:Port) RETURN count(p) AS n, max(p.number) AS top")
    assert stored == [{"n": MAX_PORTS_PER_HOST, "top": MAX_PORTS_PER_HOST}]  # the lowest ports are kept
    runs = store.read("MATCH (r:IngestRun {source: 'nmap'}) RETURN r.dropped AS dropped")
    assert runs == [{"dropped": extra}]


def test_a_newer_scan_closes_the_ports_it_no_longer_finds(store, settings, tmp_path):
    host = {"ip": "10.0.0.10", "mac": "00:14:22:00:00:10", "name": "app-10"}
    ingest_files(store, "nmap", [nmap_xml(tmp_path / "a.xml", [
        {**host, "ports": [("tcp", 22, "ssh"), ("tcp", 80, "http"), ("tcp", 443, "https")], "time": 1763000000}],
        start=1763000000)], settings)
    ingest_files(store, "nmap", [nmap_xml(tmp_path / "b.xml", [
        {**host, "ports": [("tcp", 443, "https")], "time": 1764000000}], start=1764000000)], settings)
    ports = store.read("MATCH (:Asset)-[:LISTENS_ON]->(p:Port) RETURN p.number AS n ORDER BY n")
    assert ports == [{"n": 443}]


def test_a_new_sbom_of_the_same_application_drops_the_components_it_no_longer_lists(store, settings, tmp_path):
    def sbom(path, names):
        path.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
                                    "metadata": {"component": {"type": "application", "name": "payroll"}},
                                    "components": [{"type": "library", "name": n, "version": "1.0",
                                                    "purl": f"pkg:pypi/{n}@1.0"} for n in names]}))
        return path

    ingest_files(store, "sbom", [sbom(tmp_path / "v1.cdx.json", ["flask", "jinja2", "requests"])], settings)
    ingest_files(store, "sbom", [sbom(tmp_path / "v2.cdx.json", ["requests"])], settings)
    installed = store.read("MATCH (:Asset)-[:INSTALLED]->(s:Software) RETURN s.name AS name")
    assert installed == [{"name": "requests"}]
