"""The write side as a catalogue: every write statement is named and documented, uses only the
vocabulary of graph/schema.py, and finds its nodes by index even when planned against an empty
graph (the statistics a freshly reset database plans with)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ingest
from api.cli import app as itam
from graph.schema import ASSET_KINDS, NODES, RELS
from ingest.catalog import all_writes

WRITES = all_writes()
SCANS = {"NodeByLabelScan", "AllNodesScan", "DirectedRelationshipTypeScan", "UndirectedRelationshipTypeScan",
         "NodeIndexScan"}


def operators(plan: dict) -> set[str]:
    found = {plan["operatorType"].split("@")[0]}
    for child in plan.get("children", []):
        found |= operators(child)
    return found


def params_of(cypher: str) -> dict:
    """A value for every parameter: the plan is what is checked, not the result."""
    return {name: None for name in re.findall(r"\$(\w+)", cypher)}


def test_every_write_is_named_and_documented():
    assert len(WRITES) >= 45
    for entry in WRITES.values():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", entry.name), entry.name
        assert entry.description.endswith(".") and len(entry.description) > 20, entry.name
        assert entry.module.startswith("ingest."), entry.name


def test_writes_use_only_labels_and_relationship_types_of_the_schema():
    for entry in WRITES.values():
        for statement in entry.statements():
            rel_types = {t for group in re.findall(r"\[\w*:([A-Z_|]+)", statement) for t in group.split("|")}
            labels = set(re.findall(r"[(:]\w*:([A-Z][A-Za-z]+)", statement)) | set(
                re.findall(r"\w:([A-Z][A-Za-z]+)\b", statement))
            assert rel_types <= set(RELS), (entry.name, rel_types - set(RELS))
            assert labels - set(RELS) <= set(NODES) | set(ASSET_KINDS), (entry.name, labels)


@pytest.mark.parametrize("name", sorted(WRITES))
def test_each_write_seeks_by_index_when_planned_on_an_empty_graph(store, name):
    store.wipe()
    entry = WRITES[name]
    for statement in entry.statements():
        with store.driver.session(database=store.database) as session:
            plan = session.run("EXPLAIN " + statement, params_of(statement)).consume().plan
        scans = operators(plan) & SCANS
        if entry.scans:
            assert scans, f"{name} says it scans ({entry.scans}) but its plan does not"
        else:
            assert not scans, f"{name} plans {sorted(scans)} on an empty graph"


def test_every_index_hint_demands_a_seek():
    """A plain `USING INDEX` is also fulfilled by an index scan, and a first load planned one per row
    (8 s for one read of 4000 rows on a fresh database): every hint says SEEK."""
    from queries.catalog import CATALOG
    import queries.findings, queries.rules  # noqa: F401 - register their reads
    statements = [s for entry in WRITES.values() for s in entry.statements()] + [q.cypher for q in CATALOG.values()]
    hinted = [s for s in statements if "USING INDEX" in s]
    assert len(hinted) >= 8
    for statement in hinted:
        assert re.findall(r"USING INDEX (\w+)", statement) == ["SEEK"] * statement.count("USING INDEX"), statement


def unhinted_key_matches(statements: list[str]) -> tuple[int, list[str]]:
    """(how many nodes the statements MATCH by their key, the clauses among them that do not name the seek)."""
    keys = {(node.label, node.key) for node in NODES.values()}
    anchored, missing = 0, []
    for statement in statements:
        for clause in re.findall(r"MATCH [^\n]*", statement):
            if "EXISTS {" in clause or "COUNT {" in clause:
                continue
            for var, label, key in re.findall(r"\((\w*):(\w+) \{(\w+): ", clause):
                if (label, key) in keys:
                    anchored += 1
                    if f"USING INDEX SEEK {var}:{label}({key})" not in statement:
                        missing.append(clause)
    return anchored, missing


def test_every_write_that_matches_a_node_by_its_key_names_the_seek():
    """Plan-stable whatever the statistics: a node found by its key in a MATCH is sought by that key's index,
    named or not: an unnamed `(:Identifier {key: ...})` cannot be hinted, and such a credential link took
    20 s in an osquery run of 10k agents after a reset, 0.2 s with the hint. The neighbour of a node already
    in hand is filtered in WHERE instead: the planner starts from the node in hand."""
    anchored, missing = unhinted_key_matches([s for entry in WRITES.values() for s in entry.statements()])
    assert anchored >= 40 and missing == []


def test_every_read_that_matches_a_node_by_its_key_names_the_seek():
    """The same for the named reads: the responders' queries, the findings rules, history and audits."""
    from queries.catalog import CATALOG
    import queries.findings, queries.rules  # noqa: F401 - register their reads
    anchored, missing = unhinted_key_matches([q.cypher for q in CATALOG.values()])
    assert anchored >= 10 and missing == []


def test_itam_queries_lists_reads_and_writes():
    result = CliRunner().invoke(itam, ["queries"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert any("inventory_host_count" in line for line in lines)
    assert any("upsert-assets" in line and "write (ingest.writer)" in line for line in lines)


HOT_READS = ("responder",)   # the incident responder's queries: answered in milliseconds at any size


def test_the_responders_reads_seek_by_index_when_planned_on_an_empty_graph(store):
    from queries.catalog import CATALOG
    import queries.host  # noqa: F401 - registers the responder's queries
    store.wipe()
    hot = [q for q in CATALOG.values() if q.category in HOT_READS]
    assert len(hot) >= 3
    for query in hot:
        with store.driver.session(database=store.database) as session:
            plan = session.run("EXPLAIN " + query.cypher, params_of(query.cypher)).consume().plan
        assert not operators(plan) & SCANS, f"{query.name} plans {sorted(operators(plan) & SCANS)}"


def test_the_ingest_code_runs_no_cypher_outside_the_catalogue():
    """Every statement ingest/ runs is a catalogue entry (a name), never a string written at the call."""
    inline = []
    for path in sorted(Path(ingest.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "run"
            if not (called and node.args):
                continue
            statement = node.args[0]            # an entry filled from the vocabulary (ENTRY % verbs) is fine
            if isinstance(statement, ast.BinOp):
                statement = statement.left
            if isinstance(statement, (ast.Constant, ast.JoinedStr)):
                inline.append(f"{path.name}:{node.lineno}")
    assert inline == []
