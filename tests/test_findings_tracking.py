"""Findings are tracked: opened, resolved, re-opened, suppressed by an admin until a date; served over
GraphQL and the CLI, exported safely, and alerted to a webhook that never holds up an ingest."""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import hmac
import json
import queue
import threading
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.auth import Role, TokenAuth
from api.cli import app as cli_app
from ingest.pipeline import ingest_files
from queries import eol
from queries.findings import FINDING_ASSETS, evaluate, export, finding_id
from queries.rules import RULES
from queries.webhook import SIGNATURE_HEADER, WebhookSender
from tests.builders import nmap_xml, osquery_log, snipeit_csv

SEEN = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
DAY = SEEN.date()
STALE = "stale-asset"


@pytest.fixture
def quiet(settings):
    return dataclasses.replace(settings, evaluate_findings=False)


def _inventory(store, quiet, tmp_path, seen: datetime = SEEN) -> None:
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "A1", "item_name": "pc-01", "mac_address": "00:11:22:33:44:01", "category": "Desktops"}])],
        quiet)
    _scan(store, quiet, tmp_path, seen)


def _scan(store, settings, tmp_path: Path, seen: datetime, ip: str = "10.0.0.1"):
    path = nmap_xml(tmp_path / f"scan-{seen:%Y%m%d}.xml", [{"ip": ip, "mac": "00:11:22:33:44:01", "name": "pc-01"}],
                    start=int(seen.timestamp()))
    return ingest_files(store, "nmap", [path], settings)


def _findings(store, rule: str | None = None) -> dict[str, dict]:
    rows = store.read("MATCH (f:Finding) WHERE $rule IS NULL OR f.rule = $rule RETURN f {.*} AS f", rule=rule)
    return {r["f"]["id"]: r["f"] for r in rows}


def test_a_finding_opens_resolves_and_reopens_and_twice_changes_nothing(store, quiet, tmp_path):
    _inventory(store, quiet, tmp_path)
    told: list[dict] = []                                        # what a webhook would be sent
    day31 = DAY + timedelta(days=31)
    first = evaluate(store, day31, [STALE], notify=told.extend)
    assert (first.totals()["opened"], first.totals()["resolved"]) == (1, 0)
    [(fid, finding)] = _findings(store, STALE).items()
    assert fid == finding_id(STALE, (finding["identity"][0],)) and finding["status"] == "OPEN"
    before = _findings(store)
    again = evaluate(store, day31, [STALE], notify=told.extend)
    assert again.totals() == {"matched": 1, "opened": 0, "reopened": 0, "resolved": 0} and not again.events
    assert _findings(store) == before                            # nothing changed at all

    _scan(store, quiet, tmp_path, SEEN + timedelta(days=31))     # found again: resolved
    resolved = evaluate(store, day31, [STALE], notify=told.extend)
    assert resolved.totals()["resolved"] == 1 and resolved.events[0]["event"] == "resolved"
    assert _findings(store)[fid]["status"] == "RESOLVED"

    reopened = evaluate(store, day31 + timedelta(days=31), [STALE], notify=told.extend)   # lost again
    assert reopened.totals()["reopened"] == 1 and reopened.events[0]["event"] == "opened"
    assert [e["event"] for e in told] == ["opened", "resolved", "opened"]
    now = _findings(store)[fid]
    assert now["status"] == "OPEN" and now["first_seen"].to_native() == day31
    assert now["last_seen"].to_native() == day31 + timedelta(days=31)


ADMIN, READER = "a" * 24, "r" * 24
SUPPRESS = """mutation($id: ID!, $until: Date!) { suppressFinding(id: $id, reason: "spare in a drawer", until: $until)
  { id status suppressedUntil suppressedBy } }"""


@pytest.fixture
def tokens_api(settings, store):
    auth = TokenAuth({ADMIN: Role.ADMIN, READER: Role.READER}, allow_anonymous=False)
    with TestClient(create_app(settings, auth)) as client:
        def gql(query: str, token: str = READER, **variables):
            return client.post("/graphql", json={"query": query, "variables": variables},
                               headers={"Authorization": f"Bearer {token}"})
        yield gql


def test_suppression_needs_admin_and_expires_the_day_after_until(store, quiet, tmp_path, tokens_api):
    _inventory(store, quiet, tmp_path)
    today = date.today()          # the API stamps suppressions with the real date
    stale_from = max(today, DAY + timedelta(days=31))     # the asset is stale from here on
    evaluate(store, stale_from, [STALE])
    [fid] = _findings(store, STALE)
    until = stale_from + timedelta(days=10)

    refused = tokens_api(SUPPRESS, READER, id=fid, until=until.isoformat())
    assert refused.status_code == 403 and "needs role admin" in refused.text
    assert _findings(store)[fid]["status"] == "OPEN" and "suppressed_reason" not in _findings(store)[fid]

    done = tokens_api(SUPPRESS, ADMIN, id=fid, until=until.isoformat())
    assert done.status_code == 200, done.text
    assert done.json()["data"]["suppressFinding"]["status"] == "SUPPRESSED"
    assert done.json()["data"]["suppressFinding"]["suppressedBy"]
    assert evaluate(store, until, [STALE]).totals()["reopened"] == 0
    assert _findings(store)[fid]["status"] == "SUPPRESSED"
    expired = evaluate(store, until + timedelta(days=1), [STALE])
    assert expired.totals()["reopened"] == 1 and _findings(store)[fid]["status"] == "OPEN"

    past = tokens_api(SUPPRESS, ADMIN, id=fid, until=(today - timedelta(days=1)).isoformat())
    assert "is in the past" in past.json()["errors"][0]["message"]
    unknown = tokens_api(SUPPRESS, ADMIN, id="nope", until=until.isoformat())
    assert "no finding 'nope'" in unknown.json()["errors"][0]["message"]


FINDINGS = """query($rule: String, $severity: Severity, $first: Int, $after: String) {
  findings(rule: $rule, severity: $severity, first: $first, after: $after) {
    edges { cursor node { id rule { id title severity } severity assets { id name } subject evidence
                          firstSeen lastSeen status } }
    pageInfo { hasNextPage endCursor } } }"""


CAPPED = """query { findings(rule: "warranty-expired", first: 5) { edges { node { id assetCount assets { name } } } } }"""


@pytest.mark.parametrize("involved", [FINDING_ASSETS, FINDING_ASSETS + 1])
def test_a_page_lists_at_most_finding_assets_of_a_findings_assets_and_counts_them_all(store, api, cli_env, tmp_path, involved):
    store.execute("""
CREATE (f:Finding {id: 'warranty-expired:wide', rule: 'warranty-expired', identity: ['wide'], severity: 'low',
                   status: 'OPEN', subject: 'a wide one', evidence: ['e'], first_seen: date(), last_seen: date()})
WITH f UNWIND range(1, $n) AS i
CREATE (f)-[:INVOLVES]->(:Asset:Host {id: 'wide-' + toString(i), name: 'host-' + right('00' + toString(i), 3)})
""", n=involved)
    [finding] = [e["node"] for e in api(CAPPED)["data"]["findings"]["edges"]]
    shown = min(involved, FINDING_ASSETS)
    assert finding["assetCount"] == involved
    names = [a["name"] for a in finding["assets"]]
    assert len(names) == shown and names == sorted(names)
    assert set(names) <= {f"host-{i:03}" for i in range(1, involved + 1)}
    target = tmp_path / "findings.json"
    out = CliRunner().invoke(cli_app, ["findings", "export", str(target), "--format", "json", "--rule",
                                       "warranty-expired"])
    assert out.exit_code == 0, out.output
    assert len(json.loads(target.read_text())[0]["assets"]) == involved      # an export names every one


def test_graphql_rules_findings_pages_and_asset_findings(store, quiet, tmp_path, api):
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": f"A{i}", "item_name": f"pc-{i:02}", "category": "Desktops"} for i in range(3)])], quiet)
    evaluate(store, DAY, [STALE])
    rules = {r["id"]: r for r in api("{ rules { id title severity category description openCount total } }")
             ["data"]["rules"]}
    assert set(rules) == set(RULES) and rules[STALE]["openCount"] == 3 and rules[STALE]["total"] == 3
    assert rules[STALE]["severity"] == "LOW"
    page1 = api(FINDINGS, rule=STALE, first=2)["data"]["findings"]
    assert len(page1["edges"]) == 2 and page1["pageInfo"]["hasNextPage"]
    page2 = api(FINDINGS, rule=STALE, first=2, after=page1["pageInfo"]["endCursor"])["data"]["findings"]
    assert len(page2["edges"]) == 1 and not page2["pageInfo"]["hasNextPage"]
    node = page2["edges"][0]["node"]
    assert node["rule"]["id"] == STALE and node["evidence"] and node["status"] == "OPEN"
    assert api(FINDINGS, severity="CRITICAL")["data"]["findings"]["edges"] == []
    asset = api('query($i: String!) { asset(identifier: $i) { findings { rule { id } subject } } }',
                i=node["assets"][0]["name"])
    assert asset["data"]["asset"]["findings"] == [{"rule": {"id": STALE}, "subject": node["subject"]}]
    unknown_rule = api(FINDINGS, rule="no-such-rule")
    assert "unknown rule 'no-such-rule'" in unknown_rule["errors"][0]["message"]
    response = api.client.post("/graphql", json={"query": FINDINGS, "variables": {"severity": "URGENT"}})
    assert "URGENT" in response.text and "Severity" in response.text


def test_cli_lists_and_exports_findings_without_formula_cells(store, quiet, tmp_path, cli_env):
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "A1", "item_name": "pc-01", "category": "Desktops"}])], quiet)
    runner = CliRunner()
    assert runner.invoke(cli_app, ["findings", "evaluate"]).exit_code == 0
    listed = runner.invoke(cli_app, ["findings", "--rule", STALE, "--json"])
    assert [f["subject"] for f in json.loads(listed.output)] == ["pc-01"]
    bad = runner.invoke(cli_app, ["findings", "--severity", "urgent"])
    assert bad.exit_code == 1 and "unknown severity 'urgent'" in bad.output
    out = tmp_path / "findings.csv"
    assert runner.invoke(cli_app, ["findings", "export", "--format", "csv", str(out)]).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["rule"] for r in rows} >= {STALE} and all(r["status"] == "OPEN" for r in rows)
    rules = runner.invoke(cli_app, ["rules"])
    assert rules.exit_code == 0 and "unresolved-conflict" in rules.output and "days=30" in rules.output


def test_cli_prints_finding_subjects_literally(store, quiet, tmp_path, cli_env):
    program = "OpenSSL [bold]x[/bold]\x1b]8;;http://evil.example\x07[link=http://evil.example]y[/link]"
    ingest_files(store, "osquery", [osquery_log(tmp_path / "o.log", [
        {"hostname": "pc-old", "uuid": "11111111-1111-1111-1111-111111111111", "serial": "PC1",
         "mac": "00:11:22:33:44:01", "ip": "10.0.0.1", "programs": [(program, "1.1.1n", "OpenSSL")]}])], quiet)
    runner = CliRunner()
    assert runner.invoke(cli_app, ["findings", "evaluate"]).exit_code == 0
    listed = runner.invoke(cli_app, ["findings", "--rule", "eol-software"])
    assert listed.exit_code == 0, listed.output
    flat = "".join(listed.stdout.split())          # the table wraps long cells
    assert "[bold]x[/bold]" in flat and "[link=http://evil.example]y[/link]" in flat
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout


def test_export_quotes_what_a_spreadsheet_would_run(tmp_path):
    finding = {"id": "x:1", "rule": "shadow-it", "severity": "high", "status": "OPEN", "subject": "=HYPERLINK(1)",
               "assets": [{"id": "a", "name": "+cmd"}], "evidence": ["-2+3", "@SUM(A1)"], "first_seen": "2026-11-30",
               "last_seen": "2026-11-30", "suppressed_until": None, "suppressed_reason": None}
    export([finding], tmp_path / "f.csv", "csv")
    row = next(csv.DictReader((tmp_path / "f.csv").open()))
    assert row["subject"] == "'=HYPERLINK(1)" and row["assets"] == "'+cmd" and row["evidence"] == "'-2+3 | @SUM(A1)"
    export([finding], tmp_path / "f.json", "json")
    assert json.loads((tmp_path / "f.json").read_text())[0]["subject"] == "=HYPERLINK(1)"


# ----------------------------------------------------------------- EOL matching

@pytest.mark.parametrize("name, version, product, cycle, ends", [
    ("postgresql-13", "13.4", "postgresql", "13", date(2025, 11, 13)),
    ("openssl", "1.1.1n", "openssl", "1.1.1", date(2023, 9, 11)),
    ("openssl", "3.0.2-0ubuntu1.12", "openssl", "3.0", date(2026, 9, 7)),
    ("python3.11", "3.11.2-6", "python", "3.11", None),
    ("Ubuntu", "22.04.3 LTS (Jammy Jellyfish)", "ubuntu", "22.04", None),
    ("Microsoft Windows 10 Enterprise 10.0.19045", "10.0.19045", "windows", "10-22h2", date(2025, 10, 14)),
])
def test_eol_matcher_debian_rpm_and_os_names(name, version, product, cycle, ends):
    found = eol.match(name, version)
    assert (found.product, found.cycle) == (product, cycle)
    if ends:
        assert found.eol == ends


def test_eol_matcher_prefers_purl_and_cpe_and_longest_cycle():
    by_purl = eol.match("something-else", "2.14.1", purl="pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
    assert by_purl.product == "log4j"
    by_cpe = eol.match("libcrypto", "1.0.2u", cpe="cpe:2.3:a:openssl:openssl:1.0.2u:*:*:*:*:*:*:*")
    assert (by_cpe.product, by_cpe.cycle) == ("openssl", "1.0.2")
    assert eol.match("curl", "7.81.0") is None and eol.match("openssl", "99.1") is None


def test_eol_refresh_rebuilds_the_snapshot_all_or_nothing(tmp_path, monkeypatch):
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps({"products": {"openssl": {}}}))
    products = tmp_path / "products"
    products.mkdir()
    bad = products / "openssl.md"
    bad.write_text("---\ntitle: OpenSSL\nreleases:\n  - releaseCycle: '1.1.1'\n    eol: someday\n---\n")
    monkeypatch.setattr(eol, "name_table", lambda: ())
    with pytest.raises(eol.EolDataError, match=r"openssl.md: releases\[0\].eol: 'someday'"):
        eol.refresh(products, snapshot)
    assert json.loads(snapshot.read_text()) == {"products": {"openssl": {}}}
    bad.write_text("---\ntitle: OpenSSL\nidentifiers:\n  - cpe: cpe:/a:openssl:openssl\nreleases:\n"
                   "  - releaseCycle: '1.1.1'\n    eol: 2023-09-11\n---\n")
    assert eol.refresh(products, snapshot) == 1
    assert json.loads(snapshot.read_text())["products"]["openssl"]["releases"][0]["eol"] == "2023-09-11"


# ----------------------------------------------------------------- webhook

class Receiver:
    """A real HTTP receiver on 127.0.0.1: records each POST; answers the statuses it is given, in turn;
    holds a request while `hold` is clear."""

    def __init__(self, statuses=(200,)):
        self.requests: queue.Queue = queue.Queue()
        self.statuses = list(statuses)
        self.hold = threading.Event()
        self.hold.set()
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.arrived.set()
                outer.hold.wait(30)
                outer.requests.put((dict(self.headers), body))
                self.send_response(outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0])
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_ingest_posts_new_findings_signed_and_a_slow_receiver_does_not_hold_it(store, settings, tmp_path,
                                                                              receiver, monkeypatch):
    monkeypatch.setenv("ITAM_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("ITAM_WEBHOOK_SECRET", "s3cret")
    receiver.hold.clear()                               # the receiver hangs until released
    summary = ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "A1", "item_name": "pc-01", "category": "Desktops"}])], settings)
    assert summary.status == "succeeded" and summary.findings["opened"] >= 1
    assert receiver.arrived.wait(10)                    # delivery started, and the ingest returned anyway
    assert receiver.requests.empty()
    receiver.hold.set()
    headers, body = receiver.requests.get(timeout=10)
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    events = json.loads(body)["events"]
    assert {"opened"} == {e["event"] for e in events}
    assert any(e["finding"]["rule"] == STALE and e["finding"]["subject"] == "pc-01" for e in events)


def test_webhook_retries_until_the_receiver_accepts():
    receiver = Receiver(statuses=(500, 503, 200))
    try:
        sender = WebhookSender(receiver.url, attempts=4, backoff_seconds=0.01)
        sender.submit([{"event": "opened", "finding": {"id": "x"}}])
        assert sender.flush(10)
        assert receiver.requests.qsize() == 3 and (sender.delivered, sender.failed) == (1, 0)
    finally:
        receiver.close()


def test_a_dead_receiver_never_fails_an_ingest(store, settings, tmp_path, monkeypatch):
    dead = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{dead.server_address[1]}/hook"
    dead.server_close()                                 # nothing listens there now
    monkeypatch.setenv("ITAM_WEBHOOK_URL", url)
    monkeypatch.setenv("ITAM_WEBHOOK_EXIT_SECONDS", "0")
    summary = ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "A1", "item_name": "pc-01", "category": "Desktops"}])], settings)
    assert summary.status == "succeeded" and summary.findings["opened"] >= 1 and summary.findings_error is None
    sender = WebhookSender(url, attempts=2, backoff_seconds=0.01)
    sender.submit([{"event": "opened"}])
    assert sender.flush(10) and (sender.delivered, sender.failed) == (0, 1)


def test_a_failing_evaluation_never_fails_an_ingest(store, settings, tmp_path, monkeypatch):
    import queries.findings

    def broken(*args, **kwargs):
        raise RuntimeError("rule engine down")
    monkeypatch.setattr(queries.findings, "evaluate", broken)
    summary = ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "a.csv", [
        {"asset_tag": "A1", "item_name": "pc-01"}])], settings)
    assert summary.status == "succeeded" and summary.findings_error == "RuntimeError: rule engine down"
    assert store.read("MATCH (a:Asset {name: 'pc-01'}) RETURN count(a) AS n")[0]["n"] == 1


@pytest.mark.parametrize("identity, pinned", [
    (("asset-1", "pkg:deb/debian/openssl"), "eol-software:ef514358db6c6730b495"),
    (('Ærø "quoted" \\ back',), "eol-software:36a0f016af10d77fea48"),
    (("tab\there",), "eol-software:eefb6b2d327fc12ea22f"),
])
def test_a_finding_id_is_the_same_in_every_version(identity, pinned):
    # ids are stored: a different id for the same identity would resolve every finding and open it again
    assert finding_id("eol-software", identity) == pinned
