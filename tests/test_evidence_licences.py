"""The evidence report's licence column: per licensable product installed on a host, whether a seat covers
it (the host's own, or its owner's), a covering licence exists with no seat here, or no licence covers it;
built from a Snipe-IT export, an osquery log and a Snipe-IT licence export, against a real Neo4j."""
from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from api.cli import app
from queries.evidence import inventory_report
from queries.policy import Policy
from tests.itam_world import TODAY, agent, laptop, load, read

M365 = ("Microsoft 365 Apps for enterprise - en-us", "16.0.17029.20108", "Microsoft Corporation")
ACROBAT = ("Adobe Acrobat Pro", "24.1", "Adobe Inc.")
PHOTOSHOP = ("Adobe Photoshop 2026", "27.1", "Adobe Inc.")
ZOOM = ("Zoom Workplace (64-bit)", "6.2", "Zoom Video Communications")
VSCODE = ("Visual Studio Code", "1.95", "Microsoft Corporation")      # not licensable

# O365-E3 is per user (its seats go to people by e-mail); Acrobat Pro and Windows 11 per device (by asset tag);
# Zoom Business ended before TODAY.
LICENCES = ("name,product,seats,expiration_date,purchase_cost,assigned_to,asset_tag\n"
            "O365-E3,Microsoft 365 E3,10,2027-06-30,4320,bob@example.com,\n"
            "O365-E3,Microsoft 365 E3,10,2027-06-30,4320,cy@example.com,\n"
            "Acrobat Pro,Adobe Acrobat Pro,2,2027-03-31,480,,LT-1\n"
            "Zoom Business,Zoom Workplace Business,5,2026-10-31,1100,,LT-4\n"
            "Windows 11,Windows 11 Enterprise,5,,420,,LT-5\n")
HOSTS = [laptop(1, email="ada@example.com"), laptop(2, email="bob@example.com"), laptop(3, email="cy@example.com"),
         laptop(4), laptop(5), laptop(6, email="dee@example.com")]
AGENTS = [agent(1, [PHOTOSHOP, M365, ACROBAT]), agent(2, [M365]), agent(3, [VSCODE]), agent(4, [ZOOM]),
          agent(5, []), agent(6, [M365, ACROBAT])]
GENERATED = "2026-11-30T09:00:00+00:00"


@pytest.fixture
def estate(store, settings, tmp_path):
    load(store, settings, tmp_path, HOSTS, agents=AGENTS, licences=LICENCES)
    return store


def licence_column(settings) -> dict[str, str]:
    from datetime import datetime
    report = read(settings, lambda r: inventory_report(r, TODAY, datetime.fromisoformat(GENERATED), Policy()))
    return {a["asset_tag"]: a["licence_status"] for a in report.assets}


def test_a_per_user_licence_without_a_seat_for_the_owner_is_no_seat_not_none_needed(estate, settings):
    # ada runs Office; O365-E3 covers it, but its seats are bob's and cy's: before, "unlicensed: Adobe Photoshop"
    # hid it, and a host with Office alone read "none needed"
    column = licence_column(settings)
    assert column["LT-1"] == ("unlicensed: Adobe Photoshop; no seat: Microsoft 365 E3 (licence: O365-E3); "
                              "covered: Adobe Acrobat Pro DC (licence: Acrobat Pro)")
    assert column["LT-6"] == ("no seat: Adobe Acrobat Pro DC (licence: Acrobat Pro), "
                              "Microsoft 365 E3 (licence: O365-E3)")


def test_a_per_user_seat_held_by_the_owner_covers_the_host(estate, settings):
    assert licence_column(settings)["LT-2"] == "covered: Microsoft 365 E3 (licence: O365-E3 via bob@example.com)"


def test_an_owners_seat_covers_only_products_installed_on_the_host(estate, settings):
    # cy holds an O365-E3 seat but runs only VS Code (not licensable): nothing is needed
    assert licence_column(settings)["LT-3"] == "none needed"


def test_a_product_covered_only_by_an_ended_licence_is_lapsed_even_with_a_seat(estate, settings):
    assert licence_column(settings)["LT-4"] == "lapsed: Zoom (licence: Zoom Business)"


def test_seats_of_licences_covering_nothing_installed_are_listed_apart(estate, settings):
    assert licence_column(settings)["LT-5"] == "none needed; other seats: Windows 11"


def test_csv_and_json_renderings_carry_the_column_byte_identically(estate, cli_env):
    runner = CliRunner()
    args = ["report", "inventory", "--generated-at", GENERATED]
    first, second = runner.invoke(app, args + ["--format", "csv"]), runner.invoke(app, args + ["--format", "csv"])
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    table = first.stdout.split("\n\n")[0].splitlines()
    rows = list(csv.DictReader(io.StringIO("\n".join(line for line in table if not line.startswith("# ")))))
    from_csv = {r["asset_tag"]: r["licence_status"] for r in rows}
    assert from_csv["LT-2"] == "covered: Microsoft 365 E3 (licence: O365-E3 via bob@example.com)"
    report = json.loads(runner.invoke(app, args + ["--format", "json"]).stdout)
    assert {a["asset_tag"]: a["licence_status"] for a in report["assets"]} == from_csv
    assert from_csv["LT-1"].startswith("unlicensed: Adobe Photoshop; no seat: ")
