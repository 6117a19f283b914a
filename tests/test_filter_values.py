"""A filter given a value outside its vocabulary says so (an empty list would read as "there are none"):
GraphQL answers an error naming the argument, the value and the accepted values, and no data; the CLI
refuses the option. A valid value that matches nothing is still an empty answer; case does not matter."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app as cli_app
from ingest.pipeline import ingest_files
from queries.filter_values import CHANGE_KINDS, RUN_STATUSES
from queries.rules import RULES
from tests.builders import nmap_xml, snipeit_csv

SCAN_TIME = 1795000000      # 2026-11-18, after the laptop's decommissioning
SINCE = "2020-01-01T00:00:00Z"
ASSETS = """query($kind: String, $hostType: String, $stage: String) {
  assets(kind: $kind, hostType: $hostType, lifecycleStage: $stage) { edges { node { name } } } }"""
FINDINGS = """query($rule: String) { findings(rule: $rule) { edges { node { rule { id } subject } } } }"""
RUNS = """query($source: String, $status: String) { ingestRuns(source: $source, status: $status) {
  edges { node { source status } } } }"""
CHANGES = """query($kinds: [String!]) { changes(since: "2020-01-01T00:00:00Z", kinds: $kinds) {
  edges { node { kind asset { name } } } } }"""
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def estate(store, settings, tmp_path):
    """A deployed server and a decommissioned laptop in Snipe-IT; a scan sees the server and the laptop."""
    snipeit_csv(tmp_path / "assets.csv", [
        {"asset_tag": "ITAM-1", "item_name": "web-01", "serial": "SRV1", "mac_address": "00:14:22:00:00:01"},
        {"asset_tag": "ITAM-2", "item_name": "lt-02", "serial": "LT2", "mac_address": "00:14:22:00:00:02",
         "category": "Laptops", "status": "Archived", "decommissioned_date": "2026-06-30"}])
    ingest_files(store, "snipeit", [tmp_path / "assets.csv"], settings)
    ingest_files(store, "nmap", [nmap_xml(tmp_path / "scan.xml", [
        {"ip": "10.0.3.5", "mac": "00:14:22:00:00:01", "name": "web-01.corp", "ports": [("tcp", 443, "https")]},
        {"ip": "10.0.3.7", "mac": "00:14:22:00:00:02", "name": "lt-02.corp", "ports": [("tcp", 22, "ssh")]},
    ], start=SCAN_TIME)], settings)


def refused(answer: dict, argument: str, unknown: str, accepted: list[str]) -> None:
    """The answer is one unmasked error naming the argument, the value and the accepted values, sorted."""
    assert answer.get("data") is None, answer
    [error] = answer["errors"]
    message = error["message"]
    assert message.startswith(f"argument {argument}: unknown "), message
    assert f"{unknown!r}; accepted: {', '.join(accepted)}" in message, message
    assert accepted == sorted(accepted)


def names(answer: dict, field: str = "assets") -> list[str]:
    assert "errors" not in answer, answer
    return sorted(e["node"]["name"] for e in answer["data"][field]["edges"])


def test_assets_filters_refuse_unknown_kinds_host_types_and_stages(api, estate):
    refused(api(ASSETS, kind="server"), "kind", "server", ["Application", "DataStore", "Host"])
    refused(api(ASSETS, hostType="srv"), "hostType", "srv",
            ["laptop", "network", "other", "server", "vm", "workstation"])
    refused(api(ASSETS, stage="retired"), "lifecycleStage", "retired",
            ["decommissioned", "deployment", "disposed", "maintenance", "procurement"])
    # the argument named is the one that was wrong, whichever of several is given
    refused(api(ASSETS, kind="Host", hostType="laptops"), "hostType", "laptops",
            ["laptop", "network", "other", "server", "vm", "workstation"])
    # valid values that match nothing: an empty page, no error
    assert names(api(ASSETS, kind="Application")) == []
    assert names(api(ASSETS, hostType="vm")) == []
    assert names(api(ASSETS, stage="disposed")) == []
    # valid values that match, in any case
    assert names(api(ASSETS, kind="host")) == ["lt-02", "web-01"]
    assert names(api(ASSETS, hostType="SERVER")) == ["web-01"]
    assert names(api(ASSETS, kind="Host", stage="Decommissioned")) == ["lt-02"]


def test_findings_rule_must_be_a_rule_id(api, estate):
    refused(api(FINDINGS, rule="no-edrr"), "rule", "no-edrr", sorted(RULES))
    assert api(FINDINGS, rule="expiring-certificate")["data"]["findings"]["edges"] == []
    found = api(FINDINGS, rule="Decommissioned-But-Seen")["data"]["findings"]["edges"]
    assert [(f["node"]["rule"]["id"], f["node"]["subject"]) for f in found] == [("decommissioned-but-seen", "lt-02")]


def test_ingest_runs_refuse_unknown_sources_and_statuses(api, estate):
    refused(api(RUNS, source="nmapp"), "source", "nmapp",
            ["aws", "certificates", "contracts", "coverage", "hr", "licenses", "nmap", "osquery", "sbom", "scim",
             "snipeit"])
    refused(api(RUNS, status="ok"), "status", "ok", ["dry-run", "failed", "running", "succeeded"])
    runs = lambda **filters: sorted((e["node"]["source"], e["node"]["status"])  # noqa: E731
                                    for e in api(RUNS, **filters)["data"]["ingestRuns"]["edges"])
    assert runs(source="aws") == [] and runs(status="failed") == []
    assert runs(source="NMAP") == [("nmap", "succeeded")]
    assert runs(status="Succeeded") == [("nmap", "succeeded"), ("snipeit", "succeeded")]


def test_changes_kinds_refuse_unknown_kinds(api, estate):
    answer = api(CHANGES, kinds=["port_opened", "ownr", "stail"])
    assert answer["data"] is None
    assert answer["errors"][0]["message"] == (
        f"argument kinds: unknown change kinds 'ownr', 'stail'; accepted: {', '.join(sorted(CHANGE_KINDS))}")
    assert api(CHANGES, kinds=["owner_changed"])["data"]["changes"]["edges"] == []
    opened = api(CHANGES, kinds=["PORT_OPENED"])["data"]["changes"]["edges"]
    assert sorted((c["node"]["kind"], c["node"]["asset"]["name"]) for c in opened) == [
        ("port_opened", "lt-02"), ("port_opened", "web-01")]


def _cli(*args: str):
    result = CliRunner().invoke(cli_app, list(args))
    return result.exit_code, " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())


def test_cli_refuses_unknown_rules_sources_and_change_kinds(estate, cli_env):
    code, out = _cli("findings", "--rule", "no-edrr")
    assert code == 2 and f"Invalid value for '--rule': unknown rule 'no-edrr'; accepted: {', '.join(sorted(RULES))}" in out
    code, out = _cli("findings", "export", "unused.csv", "--rule", "no-edrr")
    assert code == 2 and "Invalid value for '--rule': unknown rule 'no-edrr'" in out
    code, out = _cli("ingest", "runs", "--source", "nmapp")
    assert code == 2 and ("Invalid value for '--source': unknown source 'nmapp'; accepted: aws, certificates, "
                          "contracts, coverage, hr, licenses, nmap, osquery, sbom, scim, snipeit") in out
    code, out = _cli("changes", "--since", SINCE, "--kind", "port_opened", "--kind", "ownr")
    assert code == 2 and "Invalid value for '--kind': unknown change kind 'ownr'; accepted: audit_recorded," in out
    # valid values, in any case: what matches, or nothing
    code, out = _cli("findings", "--rule", "DECOMMISSIONED-but-seen", "--json")
    assert code == 0 and [f["subject"] for f in json.loads(out)] == ["lt-02"]
    code, out = _cli("findings", "--rule", "expiring-certificate")
    assert code == 0 and out == "no findings"
    code, out = _cli("ingest", "runs", "--source", "Nmap", "--json")
    assert code == 0 and [r["source"] for r in json.loads(out)] == ["nmap"]
    code, out = _cli("ingest", "runs", "--source", "aws", "--json")
    assert code == 0 and json.loads(out) == []
    code, out = _cli("changes", "--since", SINCE, "--kind", "Port_Opened", "--json")
    assert code == 0 and sorted(c["kind"] for c in json.loads(out)) == ["port_opened", "port_opened"]
    code, out = _cli("changes", "--since", SINCE, "--kind", "owner_changed", "--json")
    assert code == 0 and json.loads(out) == []


def _literals(node: ast.AST | None) -> set[str]:
    """The string constants a kind or status expression can take (a constant, or either arm of an if)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _literals(node.body) | _literals(node.orelse)
    return set()


def _written(path: Path, key: str, calls: tuple[str, ...]) -> set[str]:
    """Every value a module writes as `key`: in a dict, assigned to a name or attribute, or passed first to
    one of `calls` (after a transaction)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Dict):
            found |= {v for k, value in zip(node.keys, node.values) if _literals(k) == {key}
                      for v in _literals(value)}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            elts = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value] * len(elts)
            found |= {v for t, value in zip(elts, values)
                      if getattr(t, "id", getattr(t, "attr", None)) == key for v in _literals(value)}
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in calls:
            found |= {v for a in node.args[:2] for v in _literals(a)}
    return found


def test_the_vocabularies_without_another_home_cover_what_is_written():
    """Run statuses and change kinds are listed in queries/filter_values.py only: every one the code
    writes must be there, or filtering by it would be refused."""
    kinds = set().union(*(_written(ROOT / p, "kind", ("_sighting", "record_mutation"))
                          for p in ("ingest/changelog.py", "queries/audits.py", "queries/findings.py")))
    assert kinds >= {"created", "identifier_moved", "port_changed", "software_upgraded", "seen_again",
                     "audit_recorded", "finding_suppressed"}          # the scan finds each way a kind is written
    assert kinds <= set(CHANGE_KINDS), kinds - set(CHANGE_KINDS)
    pipeline = ROOT / "ingest/pipeline.py"
    statuses = _written(pipeline, "status", ()) | set(re.findall(r"status = '([\w-]+)'", pipeline.read_text()))
    assert statuses == set(RUN_STATUSES)
