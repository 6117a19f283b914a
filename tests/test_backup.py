"""`itam db backup FILE` and `itam db restore FILE`: the restored graph equals the original (every node
with its labels and properties, every relationship with its type, properties and endpoints), the
schema comes back, and bad files or a non-empty database are refused before anything is written."""
from __future__ import annotations

import gzip
import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from api.cli import app
from graph.schema import schema_statements
from ingest.pipeline import ingest_files
from queries.findings import evaluate
from tests.conftest import FIXTURES
from tests.graph_digest import graph_content

itam = CliRunner()


@pytest.fixture
def estate(store, settings):
    """Real files of several sources (conflicts, findings, credentials, reach, datetimes, lists)."""
    quiet = replace(settings, evaluate_findings=False)
    for source, path in (("snipeit", FIXTURES / "identity" / "snipeit-whitebox.csv"),
                         ("nmap", FIXTURES / "identity" / "nmap-vlan10.xml"),
                         ("osquery", FIXTURES / "identity" / "osquery-messy-fleet.log"),
                         ("aws", FIXTURES / "aws" / "ec2-describe-instances.json"),
                         ("aws", FIXTURES / "aws" / "ec2-describe-security-groups.json"),
                         ("licenses", FIXTURES / "licenses" / "snipeit-licenses.csv"),
                         ("contracts", FIXTURES / "licenses" / "contracts.csv")):
        ingest_files(store, source, [path], quiet)
    evaluate(store)
    return store


def _schema(store) -> set[str]:
    return ({row["name"] for row in store.read("SHOW CONSTRAINTS YIELD name")}
            | {row["name"] for row in store.read("SHOW INDEXES YIELD name")})


def test_backup_then_restore_gives_back_the_same_graph(estate, cli_env, tmp_path):
    original = graph_content(estate)
    nodes, rels = original
    assert len(nodes) > 50 and len(rels) > 100
    kinds = {json.loads(n)[0][0] for n in nodes}
    assert {"Asset", "Conflict", "Finding", "License", "Contract", "IngestRun", "Internet"} <= kinds
    file = tmp_path / "graph.backup.gz"
    result = itam.invoke(app, ["db", "backup", str(file)])
    assert result.exit_code == 0, result.output
    assert f"{len(nodes)} nodes and {len(rels)} relationships backed up to" in result.output
    estate.wipe()
    estate.execute("DROP CONSTRAINT asset_id")              # the restore puts the schema back too
    result = itam.invoke(app, ["db", "restore", str(file)])
    assert result.exit_code == 0, result.output
    assert f"{len(nodes)} nodes and {len(rels)} relationships restored from" in result.output
    assert graph_content(estate) == original
    assert {statement.split()[2] for statement in schema_statements()} <= _schema(estate)


def test_restore_refuses_a_database_that_is_not_empty_unless_forced(estate, cli_env, tmp_path):
    file = tmp_path / "graph.backup.gz"
    assert itam.invoke(app, ["db", "backup", str(file)]).exit_code == 0
    original = graph_content(estate)
    estate.execute("CREATE (:Team {name: 'added after the backup'})")
    refused = itam.invoke(app, ["db", "restore", str(file)])
    assert refused.exit_code == 2
    assert "restore refuses to mix graphs (pass --force to empty it first)" in " ".join(refused.output.split())
    assert len(graph_content(estate)[0]) == len(original[0]) + 1
    forced = itam.invoke(app, ["db", "restore", "--force", str(file)])
    assert forced.exit_code == 0, forced.output
    assert graph_content(estate) == original


def _lines(file) -> list[str]:
    return gzip.decompress(file.read_bytes()).decode().splitlines(keepends=True)


@pytest.mark.parametrize("damage, message", [
    (lambda lines: lines[:-1], "no end line: the backup is truncated"),
    (lambda lines: lines[:-2] + lines[-1:], "the end line counts"),      # a relationship lost
    (lambda lines: [line.replace('["Internet"]', '["Shadow`) DETACH DELETE n //"]') for line in lines],
     "is not a label of the graph model"),
    (lambda lines: [line.replace('"IDENTIFIES"', '"OWNED_BY_ATTACKER"') for line in lines],
     "is not a relationship type of the graph model"),
    (lambda lines: ['{"format": "something-else"}\n', *lines[1:]], "not an itam-graph backup"),
])
def test_a_damaged_backup_is_refused_before_anything_is_written(store, settings, cli_env, tmp_path, damage,
                                                               message):
    ingest_files(store, "nmap", [FIXTURES / "identity" / "nmap-vlan10.xml"], replace(settings, evaluate_findings=False))
    file = tmp_path / "graph.backup.gz"
    assert itam.invoke(app, ["db", "backup", str(file)]).exit_code == 0
    original = graph_content(store)
    lines = _lines(file)
    assert lines[1].startswith('{"node": ') and '["Internet"]' in "".join(lines) and '"IDENTIFIES"' in "".join(lines)
    file.write_bytes(gzip.compress("".join(damage(lines)).encode()))
    result = itam.invoke(app, ["db", "restore", "--force", str(file)])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert graph_content(store) == original


def test_a_file_that_is_no_backup_is_refused_clearly(store, cli_env, tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("not gzip")
    result = itam.invoke(app, ["db", "restore", str(file)])
    assert result.exit_code == 2 and "not a gzip backup file or cut short" in result.output
    missing = itam.invoke(app, ["db", "restore", str(tmp_path / "nothing.gz")])
    assert missing.exit_code == 2 and "no such file" in missing.output
