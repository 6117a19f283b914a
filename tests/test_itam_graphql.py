"""GraphQL for ITAM: licenceCompliance, auditReport, renewals, inventoryReport, Asset.lifecycle and the
recordAudit mutation (ingester role or above; 403 for a reader; an unknown tag writes nothing)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import api.graphql_itam
from api.app import create_app
from api.auth import Role, TokenAuth
from tests.itam_world import TODAY, agent, laptop, load, write

READER, INGESTER = "r" * 20, "i" * 20
HR = "email,name,start_date,end_date\nbob@example.com,Bob Leaver,2020-01-01,2026-09-30\n"
LICENCES = ("name,product,seats,expiration_date,purchase_cost,assigned_to,asset_tag\n"
            "IntelliJ team,IntelliJ IDEA Ultimate,1,2027-03-31,1200,bob@example.com,\n")


@pytest.fixture(autouse=True)
def fixed_day(monkeypatch):
    monkeypatch.setattr(api.graphql_itam, "today", lambda: TODAY)


@pytest.fixture
def org(store, settings, tmp_path):
    load(store, settings, tmp_path, [laptop(1, email="bob@example.com", full_name="Bob Leaver"),
                                     laptop(2, status="Ready to Deploy", email="ada@example.com")],
         agents=[agent(1, [("IntelliJ IDEA", "2026.2", ""), ("Adobe Photoshop 2026", "27.1", "Adobe Inc.")]),
                 agent(2, [("IntelliJ IDEA", "2026.2", "")])],
         licences=LICENCES, hr=HR)
    return store


def test_license_compliance_in_the_contract_shape(api, org):
    data = api("""{ licenseCompliance { product entitled assigned installed shortfall reclaimable { holder reason }
                    unlicensedInstalls { asset { name } software version source } unusedCost expiresOn } }""")
    positions = {p["product"]: p for p in data["data"]["licenseCompliance"]}
    idea = positions["IntelliJ IDEA Ultimate"]
    assert (idea["entitled"], idea["assigned"], idea["installed"], idea["shortfall"], idea["expiresOn"]) == (
        1, 1, 2, 1, "2027-03-31")
    assert idea["reclaimable"] == [{"holder": "bob@example.com", "reason": "held by bob@example.com, who left on 2026-09-30"}]
    assert idea["unusedCost"] == 1200.0
    assert positions["Adobe Photoshop"]["unlicensedInstalls"] == [
        {"asset": {"name": "lt-0001"}, "software": "Adobe Photoshop 2026", "version": "27.1", "source": "osquery"}]
    one = api('{ licenseCompliance(product: "Photoshop") { product } }')["data"]["licenseCompliance"]
    assert one == [{"product": "Adobe Photoshop"}]


def test_lifecycle_shows_recorded_and_effective_stage_with_checks(api, org):
    data = api("""{ asset(identifier: "LT-2") { lifecycle { recorded effective since mismatch
                    checks { name passed evidence } } } }""")
    life = data["data"]["asset"]["lifecycle"]
    # Ready to Deploy, yet checked out to an active person and reporting in: deployed in fact.
    assert (life["recorded"], life["effective"], life["mismatch"], life["since"]) == (
        "procurement", "deployment", True, "2026-11-24")
    checks = {c["name"]: c for c in life["checks"]}
    assert checks["required-controls"] == {"name": "required-controls", "passed": False, "evidence": "no current edr, mdm"}
    assert checks["in-inventory"]["passed"] and checks["in-inventory"]["evidence"] == "listed by snipeit"
    assert checks["order-number-recorded"]["evidence"] == "order PO-2"


def test_audit_report_renewals_and_inventory_report(api, org):
    audits = api("{ auditReport { assetTag status due nextAuditDue asset { name } } }")["data"]["auditReport"]
    assert audits == [{"assetTag": "LT-1", "status": "verified", "due": "never audited", "nextAuditDue": None,
                       "asset": {"name": "lt-0001"}},
                      {"assetTag": "LT-2", "status": "verified", "due": "never audited", "nextAuditDue": None,
                       "asset": {"name": "lt-0002"}}]
    assert api("{ renewals(withinDays: 200) { kind reference noticeDeadline } }")["data"]["renewals"] == [
        {"kind": "licence", "reference": "IntelliJ team", "noticeDeadline": "2027-03-31"}]
    assert api("{ renewals(withinDays: 120) { kind } }")["data"]["renewals"] == []
    report = api('{ inventoryReport(generatedAt: "2026-11-30T12:00:00+00:00") { generatedAt csv '
                 'completeness { figure meeting total query } } }')["data"]["inventoryReport"]
    assert report["csv"].startswith("# itam-graph inventory evidence report, generated 2026-11-30T12:00:00+00:00")
    assert {f["figure"]: (f["meeting"], f["total"]) for f in report["completeness"]} == {
        "active owner": (1, 2), "EDR": (0, 2), "current audit": (0, 2), "known location": (0, 2)}


def _client(settings):
    return TestClient(create_app(settings, TokenAuth({READER: Role.READER, INGESTER: Role.INGESTER}, allow_anonymous=False)))


RECORD = 'mutation { recordAudit(assetTag: "%s", location: "HQ", note: "desk 4") { asset { name } auditedBy location } }'


def test_record_audit_needs_the_ingester_role(settings, org):
    with _client(settings) as client:
        denied = client.post("/graphql", json={"query": RECORD % "LT-1"}, headers={"Authorization": f"Bearer {READER}"})
        assert denied.status_code == 403 and "needs role ingester" in denied.text
        assert org.read("MATCH (a:Asset) WHERE a.audited_at IS NOT NULL RETURN count(a) AS n") == [{"n": 0}]
        done = client.post("/graphql", json={"query": RECORD % "lt-1"}, headers={"Authorization": f"Bearer {INGESTER}"})
    assert done.json()["data"]["recordAudit"] == {"asset": {"name": "lt-0001"}, "auditedBy": "token-ingester",
                                                  "location": "HQ"}
    assert org.read("MATCH (a:Asset {asset_tag: 'LT-1'}) RETURN a.audited_by AS by, a.audit_note AS note") == [
        {"by": "token-ingester", "note": "desk 4"}]


def test_record_audit_of_an_unknown_tag_is_an_error_and_writes_nothing(settings, org):
    before = org.read("MATCH (a:Asset) RETURN properties(a) AS p ORDER BY a.id")
    with _client(settings) as client:
        answer = client.post("/graphql", json={"query": RECORD % "NOPE-1"},
                             headers={"Authorization": f"Bearer {INGESTER}"}).json()
    assert answer["data"] is None
    assert answer["errors"][0]["message"] == "no asset has the asset tag 'NOPE-1'; nothing was recorded"
    assert org.read("MATCH (a:Asset) RETURN properties(a) AS p ORDER BY a.id") == before


@pytest.mark.parametrize("variable, text", [
    ("ITAM_POLICY", "[audit]\ninterval_months = 0\n"),
    ("ITAM_SOFTWARE_TABLE", '[[product]]\nname = "A"\nlicensable = 1\n'),
])
def test_the_api_refuses_to_start_with_a_malformed_policy_or_table(settings, tmp_path, monkeypatch, variable, text):
    path = write(tmp_path, "bad.toml", text)
    monkeypatch.setenv(variable, str(path))
    with pytest.raises(SystemExit, match=f"refusing to start: {path} line"):
        create_app(settings, TokenAuth({}, allow_anonymous=True))
