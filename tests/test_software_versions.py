"""Several versions of one product on one asset (kernels, side-by-side runtimes, shaded jars): each is kept,
answered, checked for end of life and logged; a full inventory replaces them and an event log changes only
the versions it names. Real Neo4j, osquery logs and a CycloneDX SBOM."""
from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.changelog import _software_changes
from ingest.pipeline import ingest_files
from ingest.writer import version_order
from queries.eol import INSTALLED_PRODUCTS
from queries.findings import run_rule
from queries.licensing import license_compliance
from queries.rules import RULES
from tests.builders import osquery_log
from tests.conftest import FIXTURES
from tests.itam_world import TODAY, agent, laptop, load, read

T0 = 1795478400                         # osquery_log's report time, 2026-11-24
HOUR, DAY = 3600, 86_400
UUID = "11111111-1111-1111-1111-111111111111"
HOST = {"hostname": "pc-1", "uuid": UUID, "serial": "PC1", "mac": "00:11:22:33:44:01", "ip": "10.0.0.1"}
OLD, NEW, NEWER = ("OpenSSL", "1.1.1n", "OpenSSL"), ("OpenSSL", "3.5.1", "OpenSSL"), ("OpenSSL", "3.6.0", "OpenSSL")
SOFTWARE = """query($id: String!, $at: DateTime) {
  asset(identifier: $id, asOf: $at) { software { name version source } } }"""
CHANGES = """query($since: DateTime!) {
  changes(since: $since, kinds: ["software_installed", "software_removed", "software_upgraded"]) {
    edges { node { at kind subject before after } } } }"""
INSTALLS = "MATCH (:Asset)-[i:INSTALLED]->(s:Software {key: $key}) RETURN i.version AS version, i.versions AS versions"


@pytest.fixture
def quiet(settings):
    return dataclasses.replace(settings, evaluate_findings=False)


def iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()


def versions(api, name: str = "OpenSSL", at: int | None = None) -> list[str]:
    software = api(SOFTWARE, id="pc-1", at=at and iso(at))["data"]["asset"]["software"]
    return sorted(s["version"] for s in software if s["name"] == name)


def snapshot(tmp_path: Path, name: str, programs: list[tuple[str, str, str]], when: int = T0) -> Path:
    return osquery_log(tmp_path / name, [{**HOST, "programs": programs}], unix_time=when)


def events(tmp_path: Path, name: str, when: int, *changes: tuple[str, tuple[str, str, str]]) -> Path:
    """A differential osquery log of the programs table: (action, program) rows, as osqueryd writes them."""
    lines = [json.dumps({"name": "pack_inventory_programs", "hostIdentifier": "pc-1", "unixTime": str(when),
                         "epoch": "0", "counter": "1", "numerics": False, "decorations": {"host_uuid": UUID},
                         "columns": {"name": n, "version": v, "publisher": p}, "action": action})
             for action, (n, v, p) in changes]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_every_version_of_a_product_on_a_host_is_kept_answered_and_checked(store, quiet, api, tmp_path):
    log = snapshot(tmp_path, "o.log", [NEW, OLD])
    ingest_files(store, "osquery", [log], quiet)
    assert versions(api) == ["1.1.1n", "3.5.1"]
    # the old one is past its end of life; the newer one beside it does not hide it
    assert [d.subject for d in run_rule(store, RULES["eol-software"], TODAY)] == ["pc-1: OpenSSL 1.1.1n"]
    assert sorted(r["version"] for r in store.read(INSTALLED_PRODUCTS.cypher) if r["name"] == "OpenSSL") == [
        "1.1.1n", "3.5.1"]
    stored = store.read(INSTALLS, key="openssl/openssl")
    assert stored == [{"version": "3.5.1", "versions": ["1.1.1n", "3.5.1"]}]      # one install, oldest first
    ingest_files(store, "osquery", [log], quiet)                                  # a rerun changes nothing
    assert store.read(INSTALLS, key="openssl/openssl") == stored


def test_one_version_is_stored_as_before(store, quiet, tmp_path):
    ingest_files(store, "osquery", [snapshot(tmp_path, "o.log", [NEW])], quiet)
    assert store.read(INSTALLS, key="openssl/openssl") == [{"version": "3.5.1", "versions": None}]


def test_a_full_inventory_replaces_the_versions_and_history_keeps_each(store, quiet, api, tmp_path):
    ingest_files(store, "osquery", [snapshot(tmp_path, "1.log", [OLD, NEW])], quiet)
    ingest_files(store, "osquery", [snapshot(tmp_path, "2.log", [NEW], when=T0 + DAY)], quiet)
    ingest_files(store, "osquery", [snapshot(tmp_path, "3.log", [NEWER], when=T0 + 2 * DAY)], quiet)
    assert versions(api) == ["3.6.0"]
    assert versions(api, at=T0 + HOUR) == ["1.1.1n", "3.5.1"]
    assert versions(api, at=T0 + DAY + HOUR) == ["3.5.1"]
    logged = [(c["node"]["at"], c["node"]["kind"], c["node"]["before"], c["node"]["after"])
              for c in api(CHANGES, since=iso(T0))["data"]["changes"]["edges"] if c["node"]["subject"] == "OpenSSL"]
    assert sorted(logged) == [            # (what an asset came with is its creation, not a change)
        (iso(T0 + DAY), "software_removed", "1.1.1n", None),
        (iso(T0 + 2 * DAY), "software_upgraded", "3.5.1", "3.6.0")]


def test_an_event_log_adds_and_removes_only_the_versions_it_names(store, quiet, api, tmp_path):
    ingest_files(store, "osquery", [snapshot(tmp_path, "full.log", [OLD])], quiet)
    ingest_files(store, "osquery", [events(tmp_path, "added.log", T0 + HOUR, ("added", NEW))], quiet)
    assert versions(api) == ["1.1.1n", "3.5.1"]                  # a second version beside the first
    ingest_files(store, "osquery", [events(tmp_path, "gone.log", T0 + 2 * HOUR, ("removed", OLD))], quiet)
    assert versions(api) == ["3.5.1"]                            # the other one stays
    ingest_files(store, "osquery", [events(tmp_path, "up.log", T0 + 3 * HOUR, ("removed", NEW),
                                           ("added", NEWER))], quiet)
    assert versions(api) == ["3.6.0"]
    assert store.read(INSTALLS, key="openssl/openssl") == [{"version": "3.6.0", "versions": None}]
    ingest_files(store, "osquery", [events(tmp_path, "again.log", T0 + 4 * HOUR, ("removed", NEWER),
                                           ("added", NEWER))], quiet)
    assert versions(api) == ["3.6.0"]                            # removed, then installed again: still there
    ingest_files(store, "osquery", [events(tmp_path, "last.log", T0 + 5 * HOUR, ("removed", NEWER))], quiet)
    assert store.read(INSTALLS, key="openssl/openssl") == []     # the last version gone: not installed


def test_a_package_swapped_for_another_architecture_at_one_version_stays_installed(store, quiet, tmp_path):
    def event(action: str, arch: str) -> str:
        return json.dumps({"name": "deb_packages", "hostIdentifier": "nas01", "unixTime": str(T0), "epoch": "0",
                           "counter": "9", "action": action, "columns": {
                               "name": "samba", "version": "2:4.17.12+dfsg-0+deb12u1", "arch": arch,
                               "revision": "0+deb12u1", "source": "", "size": "1"}})
    path = tmp_path / "nas.log"
    path.write_text(event("removed", "i386") + "\n" + event("added", "amd64") + "\n")
    ingest_files(store, "osquery", [path], quiet)
    assert store.read("MATCH (:Asset)-[i:INSTALLED]->(s:Software {name: 'samba'}) RETURN i.version AS version") == [
        {"version": "2:4.17.12+dfsg-0+deb12u1"}]


def test_a_rotated_log_upgrades_a_package_from_the_full_set(store, quiet, api):
    # osquery's own event logs: the full set (counter 0 on), then a log starting mid-stream where curl is
    # removed at one version and added at the next
    ingest_files(store, "osquery", [FIXTURES / "osquery" / "events.log"], quiet)
    ingest_files(store, "osquery", [FIXTURES / "osquery" / "events-rotated.log"], quiet)
    rows = store.read("MATCH (a:Asset)-[i:INSTALLED]->(s:Software) WHERE s.name IN ['curl', 'vim', 'jq'] "
                      "RETURN s.name AS name, i.version AS version, i.versions AS versions ORDER BY name")
    assert rows == [{"name": "curl", "version": "8.5.0-2ubuntu10.5", "versions": None},
                    {"name": "jq", "version": "1.7.1-3build1", "versions": None}]


def test_an_sbom_with_two_versions_of_a_library_keeps_both(store, quiet, api, tmp_path):
    def component(version: str) -> dict:
        return {"type": "library", "bom-ref": f"log4j-core-{version}", "group": "org.apache.logging.log4j",
                "name": "log4j-core", "version": version,
                "purl": f"pkg:maven/org.apache.logging.log4j/log4j-core@{version}"}
    bom = tmp_path / "app.cdx.json"
    bom.write_text(json.dumps({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"timestamp": "2026-11-24T00:00:00Z", "component": {
            "type": "application", "bom-ref": "app", "name": "pc-1", "version": "1.0"}},
        "components": [component("2.17.1"), component("2.14.1")]}))
    ingest_files(store, "sbom", [bom], quiet)
    rows = store.read(INSTALLS, key="pkg:maven/org.apache.logging.log4j/log4j-core")
    assert rows == [{"version": "2.17.1", "versions": ["2.14.1", "2.17.1"]}]


def test_a_licence_counts_a_product_once_per_host_whatever_its_versions(store, settings, tmp_path):
    idea, idea_old = ("IntelliJ IDEA", "2026.2", "JetBrains s.r.o."), ("IntelliJ IDEA", "2025.3", "JetBrains s.r.o.")
    load(store, settings, tmp_path, [laptop(1)], agents=[agent(1, [idea, idea_old])],
         licences="name,product,seats,expiration_date,purchase_cost,assigned_to,asset_tag\n"
                  "IntelliJ team,IntelliJ IDEA Ultimate,1,2027-03-31,600,,LT-1\n")
    [position] = [p for p in read(settings, lambda reader: license_compliance(reader, TODAY))
                  if p.product == "IntelliJ IDEA Ultimate"]
    assert (position.installed, position.shortfall) == (1, 0)
    assert [(i.asset, i.version) for i in position.installs] == [("lt-0001", "2025.3, 2026.2")]


def test_versions_sort_as_people_read_them():
    assert sorted(["5.14.0-427", "5.14.0-70", "5.9.1"], key=version_order) == ["5.9.1", "5.14.0-70", "5.14.0-427"]


@pytest.mark.parametrize("before, after, expected", [
    (None, ("1", "2"), [("software_installed", None, "1"), ("software_installed", None, "2")]),
    (("1",), ("2",), [("software_upgraded", "1", "2")]),
    (("1",), ("1", "2"), [("software_installed", None, "2")]),
    (("1", "2"), ("3",), [("software_removed", "1", None), ("software_removed", "2", None),
                          ("software_installed", None, "3")]),
    (("1", "2"), None, [("software_removed", "1", None), ("software_removed", "2", None)]),
    (("2", "1"), ("1", "2"), []),
    ((None,), ("1",), [("software_upgraded", None, "1")]),
])
def test_the_log_names_each_version_that_came_or_went(before, after, expected):
    def install(versions):
        return None if versions is None else ("OpenSSL", versions, None)
    changes = _software_changes(("openssl/openssl", "osquery"), install(before), install(after))
    assert [(c["kind"], c["before"], c["after"]) for c in changes] == expected
