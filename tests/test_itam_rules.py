"""The ITAM rule catalogue (queries/itam_rules.py): every rule is complete, read-only, returns one row per
subject with subject, asset_ids and evidence, has a denominator; each fires and stays quiet at its
threshold (N and N+1)."""
from __future__ import annotations

from pathlib import Path

import pytest

import api.graphql_schema  # noqa: F401 - loads every catalogue entry
from queries.catalog import CATALOG
from queries.itam_rules import RULES, rule_parameters
from queries.licensing import EVIDENCE_LINES
from queries.policy import Policy
from tests.conftest import plan_details
from tests.itam_world import TODAY, agent, laptop, load

IDS = {"lifecycle-standard", "license-shortfall", "unlicensed-install", "license-seat-reclaimable", "audit-overdue"}


def fire(store, rule_id: str, **overrides):
    rule = RULES[rule_id]
    params = {**rule_parameters(rule, TODAY, Policy()), **overrides}
    rows = store.read(rule.query.cypher, **params)
    assert all(set(r) >= {"subject", "asset_ids", "evidence"} for r in rows)
    assert all(isinstance(r["asset_ids"], list) and all(isinstance(e, str) for e in r["evidence"]) for r in rows)
    assert len({r["subject"] for r in rows}) == len(rows)          # one row per subject
    return {r["subject"]: r for r in rows}


def denominator(store, rule_id: str) -> int:
    rule = RULES[rule_id]
    return store.read(rule.count.cypher, **rule_parameters(rule, TODAY, Policy()))[0]["total"]


def test_every_rule_is_declared_completely():
    assert set(RULES) == IDS
    for rule in RULES.values():
        assert rule.title and rule.description and rule.category and rule.identity == ("subject",)
        assert rule.severity in ("info", "low", "medium", "high")
        assert rule.query.name in CATALOG and rule.count.name in CATALOG
        with pytest.raises(ValueError, match="has no parameter"):
            rule.parameters(TODAY, threshold_that_does_not_exist=1)


def test_every_catalogue_query_compiles_and_rules_only_read(store):
    for query in CATALOG.values():
        store.read("EXPLAIN " + query.cypher)
    for rule in RULES.values():
        for text in (rule.query.cypher, rule.count.cypher):
            assert not any(word in text.upper().split() for word in ("CREATE", "MERGE", "SET", "DELETE", "REMOVE"))


LICENCE = "name,product,seats,purchase_cost,assigned_to,asset_tag\nIdea,IntelliJ IDEA Ultimate,{seats},100,,{tag}\n"
IDEA = ("IntelliJ IDEA", "2026.2", "")


@pytest.mark.parametrize("seats, fires", [(2, False), (1, True)])
def test_license_shortfall_fires_only_beyond_the_entitlement(store, settings, tmp_path, seats, fires):
    load(store, settings, tmp_path, [laptop(1), laptop(2)], agents=[agent(1, [IDEA]), agent(2, [IDEA])],
         licences=LICENCE.format(seats=seats, tag=""))
    found = fire(store, "license-shortfall")
    assert ("IntelliJ IDEA Ultimate" in found) is fires
    if fires:
        assert sorted(found["IntelliJ IDEA Ultimate"]["asset_ids"]) == sorted(
            r["id"] for r in store.read("MATCH (a:Asset) RETURN a.id AS id"))
        assert found["IntelliJ IDEA Ultimate"]["evidence"][0] == "entitled 1, installed on 2 assets: shortfall 1"
    assert denominator(store, "license-shortfall") == 1


@pytest.mark.parametrize("n", [EVIDENCE_LINES, EVIDENCE_LINES + 1])
def test_a_shortfall_quotes_its_first_installs_and_counts_the_rest(store, settings, tmp_path, n):
    load(store, settings, tmp_path, [laptop(i) for i in range(1, n + 1)],
         agents=[agent(i, [IDEA]) for i in range(1, n + 1)], licences=LICENCE.format(seats=1, tag=""))
    finding = fire(store, "license-shortfall")["IntelliJ IDEA Ultimate"]
    assert len(finding["asset_ids"]) == n
    # the summary, then EVIDENCE_LINES installs, then what is left, counted
    quoted = finding["evidence"][1:1 + EVIDENCE_LINES]
    assert len(quoted) == EVIDENCE_LINES and all(": IntelliJ IDEA 2026.2 (osquery)" in line for line in quoted)
    assert finding["evidence"][1 + EVIDENCE_LINES:] == (
        [] if n == EVIDENCE_LINES else [f"and {n - EVIDENCE_LINES} more installs (the finding lists every asset)"])


@pytest.mark.parametrize("licensed, fires", [(True, False), (False, True)])
def test_unlicensed_install_fires_only_without_any_licence(store, settings, tmp_path, licensed, fires):
    load(store, settings, tmp_path, [laptop(1)], agents=[agent(1, [("Photoshop", "27.1", "Adobe Inc.")])],
         licences="name,product,seats\nPS,Adobe Photoshop,1\n" if licensed else "")
    assert ("Adobe Photoshop" in fire(store, "unlicensed-install")) is fires
    assert denominator(store, "unlicensed-install") == 1


@pytest.mark.parametrize("days, fires", [(6, False), (5, True)])
def test_seat_on_an_asset_not_seen_for_n_days_is_reclaimable(store, settings, tmp_path, days, fires):
    load(store, settings, tmp_path, [laptop(1)], agents=[agent(1, [IDEA])],      # seen 2026-11-24
         licences=LICENCE.format(seats=1, tag="LT-1"))
    found = fire(store, "license-seat-reclaimable", not_seen_days=days)
    assert ("Idea: lt-0001" in found) is fires
    if fires:
        assert found["Idea: lt-0001"]["evidence"] == ["on an asset not seen since 2026-11-24"]
    assert denominator(store, "license-seat-reclaimable") == 1


def test_audit_overdue_and_lifecycle_standard_fire_with_their_denominators(store, settings, tmp_path):
    load(store, settings, tmp_path, [laptop(1, last_audit_date="2025-11-30"), laptop(2, last_audit_date="2025-11-29")])
    assert list(fire(store, "audit-overdue")) == ["LT-2"]
    assert denominator(store, "audit-overdue") == 2
    failed = fire(store, "lifecycle-standard")
    assert "LT-2: audited-within-interval" in failed and "LT-1: audited-within-interval" not in failed
    assert failed["LT-1: required-controls"]["evidence"] == [
        "deployment standard (deployment recorded, deployment in fact): no current edr, mdm"]
    assert denominator(store, "lifecycle-standard") == 2


def test_licence_positions_seek_products_by_index(store):
    from queries.licensing import LICENSE_POSITIONS
    with store.driver.session(database=store.database) as session:
        plan = session.run("EXPLAIN " + LICENSE_POSITIONS.cypher, today=TODAY, product_key=None).consume().plan
    details = plan_details(plan)
    for seek in ("License(product_key)", "Software(product_key)"):
        assert any(d.startswith("NodeIndexSeek") and seek in d for d in details), (seek, details)


def test_the_findings_engine_tracks_itam_rules_with_the_policy_in_force(store, settings, tmp_path):
    from queries.findings import evaluate
    load(store, settings, tmp_path, [laptop(1, last_audit_date="2026-11-01"), laptop(2)])
    evaluate(store, today=TODAY, rule_ids=["audit-overdue"])
    found = store.read("MATCH (f:Finding {rule: 'audit-overdue'})-[:INVOLVES]->(a:Asset) "
                       "RETURN f.subject AS subject, f.status AS status, f.evidence AS evidence, a.asset_tag AS tag")
    assert [(f["subject"], f["status"], f["tag"]) for f in found] == [("LT-2", "OPEN", "LT-2")]
    assert found[0]["evidence"] and all(isinstance(e, str) for e in found[0]["evidence"])
    # the audit is recorded in the next export: the finding resolves
    load(store, settings, tmp_path, [laptop(1, last_audit_date="2026-11-01"), laptop(2, last_audit_date="2026-11-20")])
    evaluate(store, today=TODAY, rule_ids=["audit-overdue"])
    assert store.read("MATCH (f:Finding {rule: 'audit-overdue'}) RETURN f.status AS status") == [{"status": "RESOLVED"}]


def test_itam_rules_take_their_thresholds_from_the_policy_file(tmp_path, monkeypatch):
    from queries.rules import RULES as ENGINE
    policy = tmp_path / "policy.toml"
    policy.write_text((Path(__file__).parents[1] / "queries/data/itam_policy.toml").read_text())
    monkeypatch.setenv("ITAM_POLICY", str(policy))
    before = ENGINE["license-seat-reclaimable"].parameters(TODAY)["not_seen_days"]
    text = policy.read_text()
    assert f"not_seen_days = {before}" in text
    policy.write_text(text.replace(f"not_seen_days = {before}", f"not_seen_days = {before + 1}"))
    assert ENGINE["license-seat-reclaimable"].parameters(TODAY)["not_seen_days"] == before + 1
    assert ENGINE["license-seat-reclaimable"].parameters(TODAY, not_seen_days=3)["not_seen_days"] == 3
    with pytest.raises(ValueError, match="no parameter"):
        ENGINE["audit-overdue"].parameters(TODAY, not_seen_days=3)
