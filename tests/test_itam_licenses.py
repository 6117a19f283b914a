"""Licence compliance: precise matching through the normalisation table, the position per product, and the
rules behind it (shortfall, unlicensed install, reclaimable seats), against a real Neo4j."""
from __future__ import annotations

import pytest

from ingest.software_table import SoftwareTableError, load_table, normalise
from queries.licensing import license_compliance
from tests.itam_world import TODAY, agent, assert_refused, laptop, load, read, write

HR = ("email,name,start_date,end_date\n"
      "ada@example.com,Ada Lovelace,2020-01-01,\n"
      "bob@example.com,Bob Leaver,2020-01-01,2026-09-30\n")
LICENCES = ("name,product,seats,expiration_date,purchase_cost,assigned_to,asset_tag\n"
            "IntelliJ team,IntelliJ IDEA Ultimate,2,2027-03-31,1200,bob@example.com,LT-1\n"
            "Letters,l,5,,100,,\n")
IDEA = ("IntelliJ IDEA", "2026.2", "JetBrains s.r.o.")


def positions(settings, **kw):
    return {p.product: p for p in read(settings, lambda reader: license_compliance(reader, TODAY, **kw))}


@pytest.fixture
def world(store, settings, tmp_path):
    load(store, settings, tmp_path, [laptop(n) for n in (1, 2, 3)],
         agents=[agent(1, [IDEA, ("libreoffice", "7.6", "")]),
                 agent(2, [("intellij-idea-ultimate", "2026.2", "")]),
                 agent(3, [IDEA, ("Adobe Photoshop 2026", "27.1", "Adobe Inc.")])],
         licences=LICENCES, hr=HR)
    return store


def test_table_aliases_cover_installs_and_a_short_product_covers_nothing_by_prefix(world):
    covered = world.read("MATCH (l:License)-[:COVERS]->(s:Software) RETURN l.name AS licence, "
                         "collect(s.name) AS software ORDER BY licence")
    by_licence = {r["licence"]: sorted(r["software"]) for r in covered}
    assert by_licence["IntelliJ team"] == ["IntelliJ IDEA", "intellij-idea-ultimate"]
    assert by_licence["Letters"] == ["l"]          # a placeholder: 'libreoffice' is not covered by 'l'


def test_position_counts_entitled_assigned_installed_and_shortfall(world, settings):
    idea = positions(settings)["IntelliJ IDEA Ultimate"]
    assert (idea.entitled, idea.assigned, idea.installed, idea.shortfall) == (2, 2, 3, 1)
    assert idea.expires_on.isoformat() == "2027-03-31"
    assert sorted((i.asset, i.software, i.source) for i in idea.installs) == [
        ("lt-0001", "IntelliJ IDEA", "osquery"), ("lt-0002", "intellij-idea-ultimate", "osquery"),
        ("lt-0003", "IntelliJ IDEA", "osquery")]


def test_departed_holder_and_unassigned_seats_are_reclaimable_with_their_cost(world, settings):
    found = positions(settings)
    idea = found["IntelliJ IDEA Ultimate"]
    assert [(r.holder, r.reason) for r in idea.reclaimable] == [
        ("bob@example.com", "held by bob@example.com, who left on 2026-09-30")]
    assert idea.unused_cost == 600.0
    letters = found["l"]
    assert [(r.holder, r.seats, r.reason) for r in letters.reclaimable] == [
        ("(unassigned)", 5, "5 of 5 seats never assigned")]
    assert letters.unused_cost == 100.0


def test_licensable_product_without_any_licence_is_an_unlicensed_install(world, settings):
    found = positions(settings)
    photoshop = found["Adobe Photoshop"]
    assert (photoshop.entitled, photoshop.installed, photoshop.shortfall) == (0, 1, 1)
    assert [(i.asset, i.software, i.version) for i in photoshop.unlicensed_installs] == [
        ("lt-0003", "Adobe Photoshop 2026", "27.1")]
    assert "libreoffice" not in found        # not licensable, no licence: no position
    assert found["IntelliJ IDEA Ultimate"].unlicensed_installs == []


def test_one_product_by_any_of_its_names(world, settings):
    assert list(positions(settings, product="intellij-idea-ultimate")) == ["IntelliJ IDEA Ultimate"]


def test_installs_ingested_after_the_licence_are_covered(store, settings, tmp_path):
    load(store, settings, tmp_path, [laptop(1)], licences=LICENCES, hr=HR)
    assert positions(settings)["IntelliJ IDEA Ultimate"].installed == 0
    load(store, settings, tmp_path, [laptop(1)], agents=[agent(1, [IDEA])])
    assert positions(settings)["IntelliJ IDEA Ultimate"].installed == 1


def test_a_contract_quantity_adds_to_the_entitlement(world, settings, tmp_path):
    from ingest.pipeline import ingest_files
    ingest_files(world, "contracts", [write(tmp_path, "c.csv", (
        "vendor,reference,start_date,end_date,quantity,cost,covered_licenses\n"
        "JetBrains,JB-1,2026-01-01,2026-11-30,1,300,IntelliJ team\n"))], settings)
    assert positions(settings)["IntelliJ IDEA Ultimate"].entitled == 3        # live on its end date


def test_normalised_names_fold_case_and_punctuation():
    assert normalise("IntelliJ IDEA Ultimate") == normalise("intellij-idea-ultimate") == "intellij idea ultimate"
    assert normalise("  Adobe_Photoshop ") == "adobe photoshop"


@pytest.mark.parametrize("text, where", [
    ('[[product]]\nname = "A"\n\n[[product]]\nname = "B"\nlicensable = "yes"\n', "line 6, field 'licensable'"),
    ('[[product]]\nname = "A"\nnames = ["x"]\n[[product]]\nname = "B"\nnames = ["X"]\n',
     "line 6, field 'names': 'x' already belongs to 'A' (line 1)"),
    ('[[product]]\nname = "A"\npurls = ["npm/left-pad"]\n', "line 3, field 'purls'"),
    ('[[product]]\nname = "A"\ncolour = "red"\n', "line 3, field 'colour': unknown field"),
    ('[[product]]\nname = \n', "line 2: malformed TOML"),
    ('[[product]]\nvendor = "V"\n', "line 1, field 'name'"),
])
def test_a_malformed_table_is_refused_with_file_and_line(tmp_path, text, where):
    assert_refused(tmp_path, load_table, SoftwareTableError, text, where)


def test_cli_exports_are_formula_safe_csv_and_json(store, settings, tmp_path, cli_env):
    import json

    from typer.testing import CliRunner

    from api.cli import app
    load(store, settings, tmp_path, [laptop(1)], agents=[agent(1, [("=Photoshop", "27.1", "Adobe Inc.")])])
    runner = CliRunner()
    exported = runner.invoke(app, ["licenses", "--format", "csv"])
    assert exported.exit_code == 0, exported.output
    assert exported.stdout.splitlines() == [
        "product,entitled,assigned,installed,shortfall,reclaimable,unlicensed_installs,unused_cost,expires_on",
        'Adobe Photoshop,0,0,1,1,,"lt-0001 (=Photoshop 27.1, osquery)",0.00,']
    data = json.loads(runner.invoke(app, ["licenses", "--format", "json"]).stdout)
    assert [(p["product"], p["unlicensed_installs"][0]["software"]) for p in data] == [("Adobe Photoshop", "=Photoshop")]


@pytest.mark.parametrize("value, cell", [("=HYPERLINK(1)", "'=HYPERLINK(1)"), ("@SUM(A1)", "'@SUM(A1)"),
                                         ("-2+3", "'-2+3"), ("-5", "-5"), ("+1.50", "+1.50"), ("\tx", "'\tx"),
                                         ("Photoshop", "Photoshop"), (None, "")])
def test_csv_cells_a_spreadsheet_would_run_get_an_apostrophe(value, cell):
    from api.exports import formula_safe
    assert formula_safe(value) == cell


def test_cli_table_prints_stored_text_literally(store, settings, tmp_path, cli_env):
    from typer.testing import CliRunner

    from api.cli import app
    version = "27.1[bold]x[/bold]\x1b]8;;http://evil.example\x07[link=http://evil.example]y[/link]"
    load(store, settings, tmp_path, [laptop(1)], agents=[agent(1, [("Photoshop", version, "Adobe Inc.")])])
    table = CliRunner().invoke(app, ["licenses"])
    assert table.exit_code == 0, table.output
    flat = "".join(table.stdout.split())          # the table wraps long cells
    assert "[bold]x[/bold]" in flat and "[link=http://evil.example]y[/link]" in flat
    assert "\x1b" not in table.stdout and "\x07" not in table.stdout
