"""Hostile callers and hostile data: the local database's login and file access, what the CLI prints,
Host headers, internet exposure, secrets in input, hostile files, and reads that run too long."""
from __future__ import annotations

import asyncio
import hashlib
import json
import stat
import time
from xml.sax.saxutils import quoteattr

import pytest
from fastapi.testclient import TestClient
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, ClientError
from typer.testing import CliRunner

from api.app import create_app
from api.auth import Role, TokenAuth
from api.cli import app
from graph.local_secrets import FINGERPRINT_KEY_FILE, NEO4J_PASSWORD_FILE
from graph.store import connect_async
from ingest.certificates import parse_batch as certificates_parse
from ingest.errors import IngestError
from ingest.licenses import parse_licenses
from ingest.nmap import parse_batch as nmap_parse
from ingest.pipeline import ingest_files
from queries.catalog import GraphReader, NamedQuery, ReadTimedOut
from tests.builders import nmap_xml, osquery_log
from tests.conftest import FIXTURES
from tests.test_certificates import PKI


def test_local_neo4j_refuses_a_connection_without_its_password(neo4j_server):
    for auth in (None, ("neo4j", "neo4j"), ("neo4j", "not-the-password-at-all")):
        with GraphDatabase.driver(neo4j_server.uri, auth=auth) as driver:
            with pytest.raises(AuthError):
                driver.execute_query("RETURN 1")


def test_the_password_is_random_and_readable_by_its_owner_only(neo4j_server, settings):
    path = settings.home / NEO4J_PASSWORD_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 32
    assert settings.auth == ("neo4j", path.read_text().strip())
    with GraphDatabase.driver(neo4j_server.uri, auth=settings.auth) as driver:
        assert driver.execute_query("RETURN 1 AS one").records[0]["one"] == 1


def test_load_csv_cannot_read_local_files(store):
    with pytest.raises(ClientError, match="allow_csv_import_from_file_urls"):
        store.read("LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line LIMIT 1")


HOSTILE_OS = "\x1b]8;;https://evil.example/\x1b\\Windows 11\x1b]8;;\x1b\\\x1b[2J\x9b31m\x07"


@pytest.fixture
def hostile_hosts(store, settings, tmp_path):
    """Three hosts whose scanned or reported text is built to attack the responder's terminal."""
    scan = nmap_xml(tmp_path / "scan.xml", [
        {"ip": "10.9.0.1", "mac": "00:14:22:09:00:01", "name": "bracket-01", "ports": [("tcp", 80, "http")]},
        {"ip": "10.9.0.2", "mac": "00:14:22:09:00:02", "name": "link-01", "ports": [("tcp", 443, "https")]},
    ])
    text = scan.read_text()
    text = text.replace('<service name="http"', f'<service name="http" product={quoteattr("nginx [/]")}')
    text = text.replace('<service name="https"',
                        f'<service name="https" product={quoteattr("[link=https://evil.example/]IIS[/link]")}')
    scan.write_text(text)
    ingest_files(store, "nmap", [scan], settings)
    log = osquery_log(tmp_path / "osquery.log", [{"hostname": "ansi-01", "uuid": "4C4C4544-0000-0000-0000-000000000001",
                                                 "serial": "ANSI1", "mac": "00:14:22:09:00:03", "ip": "10.9.0.3",
                                                 "os": (HOSTILE_OS, "10.0")}])
    ingest_files(store, "osquery", [log], settings)


def test_itam_host_prints_a_bracketed_banner_literally(cli_env, hostile_hosts):
    result = CliRunner().invoke(app, ["host", "bracket-01"])
    assert result.exit_code == 0, result.output
    assert "nginx [/]" in result.output


def test_itam_host_does_not_turn_a_banner_into_a_hidden_link(cli_env, hostile_hosts):
    result = CliRunner().invoke(app, ["host", "link-01"])
    assert result.exit_code == 0, result.output
    assert "[link=https://evil.example/]IIS[/link]" in result.output


def test_itam_host_strips_escape_sequences_from_osquery_fields(cli_env, hostile_hosts):
    result = CliRunner().invoke(app, ["host", "ansi-01"])
    assert result.exit_code == 0, result.output
    assert "os: Windows 11" in result.output
    assert not any(c in result.output for c in "\x1b\x07\x9b")
    assert "evil.example" not in result.output


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "localhost", "LOCALHOST:1"])
def test_anonymous_api_answers_loopback_host_names(settings, store, host):
    with TestClient(create_app(settings, TokenAuth({}, allow_anonymous=True))) as client:
        assert client.get("/healthz", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "127.0.0.1.attacker.example",
                                  "localhost.attacker.example", "[::2]:8000", ""])
def test_anonymous_api_refuses_other_host_names_dns_rebinding(settings, store, host):
    with TestClient(create_app(settings, TokenAuth({}, allow_anonymous=True))) as client:
        response = client.post("/graphql", json={"query": "{ conflicts { id } }"}, headers={"Host": host})
        assert response.status_code == 400
        assert "data" not in response.text


def test_with_tokens_any_host_name_may_carry_a_token(settings, store):
    token = "t" * 20
    with TestClient(create_app(settings, TokenAuth({token: Role.READER}, allow_anonymous=False))) as client:
        response = client.post("/graphql", json={"query": "{ conflicts { id } }"},
                               headers={"Host": "itam.example.com", "Authorization": f"Bearer {token}"})
        assert response.status_code == 200 and response.json()["data"] == {"conflicts": []}


ACME = FIXTURES / "aws" / "acme"
EXPOSED_QUERY = '{ asset(identifier: "i-0b5e7d1f3a2c49e01") { internetExposed } }'  # bastion-01


@pytest.mark.parametrize("cidrs, exposed", [
    (["0.0.0.0/0"], True),
    (["0.0.0.0/1", "128.0.0.0/1"], True),       # the two halves of the Internet
    (["128.0.0.0/1"], True),
    (["8.0.0.0/7"], True),
    (["198.51.100.7/32", "10.0.0.0/8"], False),  # documentation range and private space only
    (["203.0.114.7/32"], True),                  # one public address: the edge of TEST-NET-3, outside it
    (["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"], False),
])
def test_a_rule_from_any_public_address_makes_the_host_internet_exposed(api, store, settings, tmp_path,
                                                                        cidrs, exposed):
    groups = json.loads((ACME / "ec2-describe-security-groups.json").read_text())
    bastion = next(g for g in groups["SecurityGroups"] if g["GroupId"] == "sg-bastion")
    bastion["IpPermissions"][0]["IpRanges"] = [{"CidrIp": cidr} for cidr in cidrs]
    (tmp_path / "groups.json").write_text(json.dumps(groups))
    ingest_files(store, "aws", [ACME / "ec2-describe-instances.json", tmp_path / "groups.json"], settings)
    assert api(EXPOSED_QUERY)["data"]["asset"]["internetExposed"] is exposed
    if exposed and cidrs != ["0.0.0.0/0"]:  # the range stays an origin too: hosts inside it reach through it
        origins = store.read("MATCH (s:Subnet)-[:CAN_REACH]->(:Asset {name: 'bastion-01'}) RETURN s.cidr AS cidr")
        assert sorted(o["cidr"] for o in origins) == sorted(cidrs)


def test_ipv6_public_space_is_the_internet_too(api, store, settings, tmp_path):
    groups = json.loads((ACME / "ec2-describe-security-groups.json").read_text())
    bastion = next(g for g in groups["SecurityGroups"] if g["GroupId"] == "sg-bastion")
    bastion["IpPermissions"][0]["IpRanges"] = []
    bastion["IpPermissions"][0]["Ipv6Ranges"] = [{"CidrIpv6": "2000::/3"}]
    (tmp_path / "groups.json").write_text(json.dumps(groups))
    ingest_files(store, "aws", [ACME / "ec2-describe-instances.json", tmp_path / "groups.json"], settings)
    assert api(EXPOSED_QUERY)["data"]["asset"]["internetExposed"] is True


LIMIT = 8 * 1024 * 1024
LICENCE_HEADER = "Name,Product Key,Seats,Expiration Date,Assigned To\n"


def test_a_licence_key_starting_with_a_dash_is_never_quoted_back(tmp_path):
    key = "-SECRET-KEY-7Q2J9PA"
    path = tmp_path / "licences.csv"
    path.write_text(LICENCE_HEADER + f"Acrobat,{key},5,2027-01-01,=HYPERLINK(1)\n")
    with pytest.raises(IngestError) as refused:
        parse_licenses(path, LIMIT)
    assert "line 2, field 'assigned_to'" in str(refused.value)
    assert "SECRET" not in str(refused.value)
    path.write_text(LICENCE_HEADER + f"Acrobat,{key},5,2027-01-01,\n")   # alone, the key is fine: never exported
    (licence,) = parse_licenses(path, LIMIT).licenses
    assert "SECRET" not in json.dumps(licence.model_dump(mode="json"))


def test_key_fingerprints_are_keyed_hmacs(tmp_path, monkeypatch, itam_home):
    path = tmp_path / "licences.csv"
    path.write_text(LICENCE_HEADER + "Acrobat,4XK8-77Q2-J9PA-1MZC,5,,\n")
    ours = parse_licenses(path, LIMIT).licenses[0].key_fingerprint
    assert ours == parse_licenses(path, LIMIT).licenses[0].key_fingerprint     # stable between runs
    assert stat.S_IMODE((itam_home / FINGERPRINT_KEY_FILE).stat().st_mode) == 0o600
    plain_hash = hashlib.sha256(b"4XK8-77Q2-J9PA-1MZC").hexdigest()
    assert ours not in plain_hash      # a guessed key's plain hash does not confirm it
    monkeypatch.setenv("ITAM_FINGERPRINT_KEY", "another installation's key")
    theirs = parse_licenses(path, LIMIT).licenses[0].key_fingerprint
    assert theirs != ours and len(theirs) == len(ours) == 32


@pytest.mark.parametrize("seats", ["inf", "nan", "1e400", "Infinity", "NaN"])
def test_licence_seats_that_are_no_number_are_a_clean_error(tmp_path, seats):
    path = tmp_path / "licences.csv"
    path.write_text(LICENCE_HEADER + f"Acrobat,K-1,{seats},,\n")
    with pytest.raises(IngestError, match=f"line 2, field 'seats': '{seats}' is not a number"):
        parse_licenses(path, LIMIT)


@pytest.mark.parametrize("seats, count", [("0", 0), ("5", 5), ("1e3", 1000)])
def test_licence_seats_that_are_whole_numbers_pass(tmp_path, seats, count):
    path = tmp_path / "licences.csv"
    path.write_text(LICENCE_HEADER + f"Acrobat,K-1,{seats},,\n")
    assert parse_licenses(path, LIMIT).licenses[0].seats == count


def test_nmap_os_accuracy_that_is_no_number_is_a_clean_error(tmp_path):
    scan = nmap_xml(tmp_path / "scan.xml", [{"ip": "10.9.0.1", "name": "web-01"}])
    scan.write_text(scan.read_text().replace(
        "</ports>", '</ports><os><osmatch name="Linux 5.X" accuracy="high" line="1"/></os>'))
    with pytest.raises(IngestError, match=r"scan.xml line \d+, field 'accuracy': <osmatch accuracy='high'> "
                                          r"is not a whole number"):
        nmap_parse(scan, LIMIT)
    scan.write_text(scan.read_text().replace('accuracy="high"', 'accuracy="97"'))
    assert nmap_parse(scan, LIMIT).hosts[0].properties.os_name == "Linux 5.X"


def test_certificates_in_a_folder_nested_1100_deep_are_read(tmp_path):
    pki = PKI(tmp_path / "pki")
    deep = tmp_path / "deep"
    levels = [deep]
    for _ in range(1100):                       # one level at a time: Path.mkdir(parents=True) recurses
        levels.append(levels[-1] / "d")
        levels[-1].mkdir(parents=True)
    (levels[-1] / "ca.crt").write_bytes((pki.folder / "ca.crt").read_bytes())
    try:
        (credential,) = certificates_parse(deep, LIMIT).credentials
        assert credential.name == "Example Root CA"
    finally:                                    # bottom up: pytest's own clean-up would recurse too
        (levels[-1] / "ca.crt").unlink()
        for level in reversed(levels):
            level.rmdir()


def test_certificates_follow_symlinks_only_inside_the_folder(tmp_path):
    pki = PKI(tmp_path / "pki")
    given = tmp_path / "given"
    given.mkdir()
    (given / "inside.pem").write_bytes((pki.folder / "ca.crt").read_bytes())
    (given / "link-inside.pem").symlink_to(given / "inside.pem")
    (given / "link-out.pem").symlink_to(pki.folder / "web-chain.pem")        # a file outside
    (given / "folder-out").symlink_to(pki.folder / "vpn", target_is_directory=True)
    (given / "passwd.pem").symlink_to("/etc/passwd")
    batch = certificates_parse(given, LIMIT)
    assert [c.name for c in batch.credentials] == ["Example Root CA"]
    assert batch.skipped == 2                                               # the two links out, unread


SLOW = NamedQuery("slow_count", "test", "A read that takes seconds.",
                  "UNWIND range(1, 200000000) AS x WITH x WHERE x < 0 RETURN count(x) AS n")
QUICK = NamedQuery("quick", "test", "A read that takes a moment.", "UNWIND range(1, 20000) AS x RETURN sum(x) AS n")


async def _with_reader(settings, work, **options):
    driver = connect_async(settings)
    try:
        return await work(GraphReader(driver, settings.neo4j_database, **options))
    finally:
        await driver.close()


def test_a_read_past_its_timeout_is_stopped_with_a_clear_error(settings, store):
    started = time.monotonic()
    with pytest.raises(ReadTimedOut, match="query 'slow_count' ran longer than 0.5 s and was stopped"):
        asyncio.run(_with_reader(settings, lambda reader: reader.rows(SLOW), timeout_s=0.5))
    assert time.monotonic() - started < 5
    assert asyncio.run(_with_reader(settings, lambda reader: reader.rows(QUICK), timeout_s=0.5)) == \
        [{"n": 20000 * 20001 // 2}]


def test_a_whole_estate_report_gets_the_report_timeout_and_a_question_the_short_one(settings, store):
    report = NamedQuery("estate_report", "audits", "A whole-estate report.", SLOW.cypher)
    question = NamedQuery("question", "responder", "An interactive read.", SLOW.cypher)
    assert report.is_report and not question.is_report
    options = {"timeout_s": 0.05, "report_timeout_s": 60}
    assert asyncio.run(_with_reader(settings, lambda reader: reader.rows(report), **options)) == [{"n": 0}]
    with pytest.raises(ReadTimedOut, match="ran longer than 0.05 s and was stopped \\(ITAM_READ_TIMEOUT_S\\)"):
        asyncio.run(_with_reader(settings, lambda reader: reader.rows(question), **options))
    with pytest.raises(ReadTimedOut, match="ran longer than 0.05 s and was stopped \\(ITAM_REPORT_TIMEOUT_S\\)"):
        asyncio.run(_with_reader(settings, lambda reader: reader.rows(report), timeout_s=60,
                                 report_timeout_s=0.05))


@pytest.mark.parametrize("cap", [1, 3])
def test_one_request_runs_at_most_its_share_of_reads_at_once(settings, store, cap):
    async def burst(reader: GraphReader):
        request = reader.for_request()
        results = await asyncio.gather(*(request.rows(QUICK) for _ in range(8)))
        return request.peak, len(results)
    assert asyncio.run(_with_reader(settings, burst, reads_per_request=cap)) == (cap, 8)
