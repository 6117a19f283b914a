"""Audits: intervals (default and per category), next due, presence from discovery, the audit report's
statuses, the audit-overdue rule at its date boundary, and recording an audit (CLI and GraphQL)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from queries.audits import AUDIT_OVERDUE, audit_report
from queries.policy import Policy, PolicyError, load_policy
from tests.itam_world import TODAY, agent, assert_refused, laptop, load, read


def report(settings, policy=Policy()):
    return {r["asset_tag"]: r for r in read(settings, lambda reader: audit_report(reader, TODAY, policy))}


def overdue(settings, policy=Policy()):
    rows = read(settings, lambda reader: reader.rows(AUDIT_OVERDUE, today=TODAY, **policy.audit_params()))
    return {r["subject"]: r["evidence"] for r in rows}


def test_next_due_is_the_interval_after_the_last_audit_and_overdue_starts_the_day_after(store, settings, tmp_path):
    load(store, settings, tmp_path, [laptop(1, last_audit_date="2025-11-30"), laptop(2, last_audit_date="2025-11-29"),
                                     laptop(3)])
    rows = report(settings)
    assert rows["LT-1"]["next_due"].isoformat() == "2026-11-30" and rows["LT-1"]["due"] == "due"
    assert rows["LT-2"]["due"] == "overdue" and rows["LT-3"]["due"] == "never audited"
    assert overdue(settings) == {"LT-2": ["last audited 2025-11-29, due 2026-11-29 (interval 12 months)"],
                                 "LT-3": ["never audited (interval 12 months)"]}


def test_a_category_interval_overrides_the_default(store, settings, tmp_path):
    load(store, settings, tmp_path, [laptop(1, last_audit_date="2026-05-30"), laptop(2, last_audit_date="2026-05-29")])
    policy = Policy(category_months={"Laptops": 6})
    assert sorted(overdue(settings, policy)) == ["LT-2"]
    assert report(settings, policy)["LT-1"]["interval_months"] == 6


def test_statuses_verified_by_audit_or_discovery_missing_when_in_use_and_unseen(store, settings, tmp_path):
    load(store, settings, tmp_path, [laptop(1, last_audit_date="2026-06-01"), laptop(2), laptop(3),
                                     laptop(4, status="Ready to Deploy")],
         agents=[agent(2, [])])
    rows = report(settings)
    assert {tag: r["status"] for tag, r in rows.items()} == {
        "LT-1": "verified", "LT-2": "verified", "LT-3": "missing", "LT-4": "unverified"}
    assert (rows["LT-2"]["discovered_by"], rows["LT-2"]["last_discovery"].date().isoformat()) == ("osquery", "2026-11-24")


@pytest.mark.parametrize("days, status", [(6, "verified"), (5, "missing")])
def test_discovery_counts_as_presence_within_presence_days(store, settings, tmp_path, days, status):
    load(store, settings, tmp_path, [laptop(2)], agents=[agent(2, [])])      # seen 2026-11-24, six days ago
    assert report(settings, Policy(presence_days=days))["LT-2"]["status"] == status


def test_recording_an_audit_through_the_cli_makes_it_current(store, settings, tmp_path, cli_env):
    from typer.testing import CliRunner

    from api.cli import app
    load(store, settings, tmp_path, [laptop(1)])
    result = CliRunner().invoke(app, ["audit", "record", "lt-1", "--location", "HQ floor 2", "--note", "desk 14"])
    assert result.exit_code == 0, result.output
    row = report(settings)["LT-1"]
    assert (row["last_audit"], row["due"], row["audit_location"], row["audit_note"]) == (
        datetime.now(timezone.utc).date(), "current", "HQ floor 2", "desk 14")
    assert row["audited_by"].startswith("cli:")


def test_recording_an_audit_of_an_unknown_tag_writes_nothing(store, settings, tmp_path, cli_env):
    from typer.testing import CliRunner

    from api.cli import app
    load(store, settings, tmp_path, [laptop(1)])
    before = store.read("MATCH (a:Asset) RETURN properties(a) AS p")
    result = CliRunner().invoke(app, ["audit", "record", "NOPE-9"])
    assert result.exit_code == 4
    assert "no asset has the asset tag 'NOPE-9'" in result.output
    assert store.read("MATCH (a:Asset) RETURN properties(a) AS p") == before


@pytest.mark.parametrize("text, where", [
    ("[audit]\ninterval_months = 0\n", "line 2, field 'audit.interval_months'"),
    ("[audit]\ninterval_months = 12\n\n[audit.category_months]\nLaptops = \"six\"\n",
     "line 5, field 'audit.category_months.Laptops'"),
    ("[audit]\ninterval = 12\n", "line 2, field 'audit.interval': unknown setting"),
    ("[audits]\ninterval_months = 12\n", "line 1: unknown section [audits]"),
    ("[audit]\ninterval_months = = 3\n", "line 2: malformed TOML"),
])
def test_a_malformed_policy_is_refused_with_file_and_line(tmp_path, text, where):
    assert_refused(tmp_path, load_policy, PolicyError, text, where)


@pytest.mark.parametrize("command", [["licenses"], ["audit", "report"], ["renewals"], ["report", "inventory"],
                                     ["audit", "record", "LT-1"]])
def test_itam_commands_refuse_a_malformed_policy_before_doing_anything(tmp_path, cli_env, monkeypatch, command):
    from typer.testing import CliRunner

    from api.cli import app
    path = tmp_path / "policy.toml"
    path.write_text("[audit]\ninterval_months = 12\npresence_days = -1\n")
    monkeypatch.setenv("ITAM_POLICY", str(path))
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2
    assert f"{path} line 3, field 'audit.presence_days'" in result.output
