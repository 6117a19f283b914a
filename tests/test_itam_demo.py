"""The demo organisation exercises every part of IT asset management, through the real connectors into a
real Neo4j: a shortfall, reclaimable seats of departed people, an unlicensed install, never-audited assets,
a missing laptop, a decommissioned host whose credential is still valid and a contract inside its notice
period."""
from __future__ import annotations

from datetime import timedelta

import pytest

from demo import DEFAULT_SCAN_DATE, generate_org
from ingest.pipeline import ingest_files
from queries.audits import audit_report
from queries.itam_rules import RULES, rule_parameters
from queries.licensing import license_compliance
from queries.policy import Policy
from queries.renewals import renewals
from tests.itam_world import read

TODAY = DEFAULT_SCAN_DATE + timedelta(days=2)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate_org(tmp_path_factory.mktemp("itam-demo"), hosts=120, seed=7)


@pytest.fixture
def loaded(store, settings, demo):
    for source, files in demo.files_by_source.items():
        ingest_files(store, source, files, settings)
    return demo


def test_licences_show_a_shortfall_departed_seats_and_an_unlicensed_install(loaded, settings):
    positions = {p.product: p for p in read(settings, lambda r: license_compliance(r, TODAY))}
    acrobat = positions["Adobe Acrobat Pro DC"]
    assert acrobat.installed > acrobat.entitled and acrobat.shortfall == acrobat.installed - acrobat.entitled
    m365 = positions["Microsoft 365 E3"]
    assert any("who left" in r.reason for r in m365.reclaimable) and m365.unused_cost > 0
    photoshop = positions["Adobe Photoshop"]
    assert photoshop.entitled == 0 and photoshop.unlicensed_installs
    assert all(i.software == "Adobe Photoshop 2024" and i.source == "osquery" for i in photoshop.unlicensed_installs)
    assert positions["IntelliJ IDEA Ultimate"].entitled == 0  # expired


def test_audits_find_never_audited_assets_and_the_missing_laptop(loaded, settings, store):
    rows = {r["asset_tag"]: r for r in read(settings, lambda r: audit_report(r, TODAY, Policy()))}
    missing = loaded.highlights["unseen_laptop"]["asset_tag"]
    assert (rows[missing]["status"], rows[missing]["due"]) == ("missing", "never audited")
    assert sum(r["due"] == "never audited" for r in rows.values()) > 1
    overdue = RULES["audit-overdue"]
    fired = store.read(overdue.query.cypher, **rule_parameters(overdue, TODAY, Policy()))
    assert {"subject": missing, "evidence": ["never audited (interval 12 months)"]}.items() <= \
        next(r for r in fired if r["subject"] == missing).items()


def test_decommissioned_host_with_a_valid_credential_fails_its_standard(loaded, store):
    retired = loaded.highlights["decommissioned_alive"]["asset_tag"]
    rule = RULES["lifecycle-standard"]
    failed = {r["subject"]: r["evidence"][0] for r in store.read(rule.query.cypher,
                                                                 **rule_parameters(rule, TODAY, Policy()))}
    assert failed[f"{retired}: credentials-revoked"].startswith("decommissioning standard (decommissioned "
                                                                  "recorded, deployment in fact): still valid:")
    assert f"{retired}: no-activity-after-decommission" in failed


def test_a_contract_inside_its_notice_period_is_a_renewal(loaded, settings):
    rows = read(settings, lambda r: renewals(r, TODAY, 90))
    smartnet = [r for r in rows if r["vendor"] == "Cisco Systems"]
    assert smartnet and all(r["in_notice"] and r["cost"] > 0 and r["covers"] for r in smartnet)


def test_each_demo_certificate_is_one_node_whichever_tools_saw_it(loaded, store):
    """The certificate files and the laptops' osquery certificate stores name the same certificates (SHA-256
    and SHA-1): one node each (README rule 7), so the expiring-certificate finding lists each once."""
    minted = {path.name for path in loaded.files_by_source["certificates"][0].glob("*.pem")}
    rows = store.read("MATCH (c:Credential {kind: 'x509'}) RETURN c.fingerprint AS fingerprint, c.name AS name")
    assert len(rows) == len({row["name"] for row in rows})
    assert len(rows) >= len(minted)
