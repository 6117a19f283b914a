"""osquery ingest: result logs (snapshot, event, batch) and osqueryi --json arrays; broken and wrong input."""
from __future__ import annotations

import base64
import hashlib
import json
import ssl
from datetime import datetime, timezone
from pathlib import Path

import pytest

from graph.models import CredentialKind
from graph.schema import IdentifierKind
from ingest.errors import IngestError
from ingest.osquery import NOT_OSQUERY, parse_batch
from ingest.pipeline import ingest_files
from tests.builders import nmap_xml

FIXTURES = Path(__file__).parent / "fixtures" / "osquery"
LIMIT = 8 * 1024 * 1024
WEB01 = "4C4C4544-0042-3510-8052-B4C04F4B4E32"
DB02 = "9E1C5A2F-7B44-4C1D-A0E3-5F2B8D6C7A19"
BUILD03 = "2F8D9C31-5E6A-4B7F-8C2D-1A3E5F7B9D04"
MAIL01 = "564D9A3C-1B2E-4F70-8A9B-0C1D2E3F4A5B"
KIOSK07 = "8B2E4C6A-0D1F-4E3A-9B5C-7D8E9F0A1B2C"


def fixture(name: str) -> Path:
    return FIXTURES / name


def hosts_by_agent(name: str) -> dict:
    batch = parse_batch(fixture(name), LIMIT)
    return {next(i.value for i in h.identifiers if i.kind == IdentifierKind.AGENT_ID): h for h in batch.hosts}


def keys(host, kind: IdentifierKind) -> list[str]:
    return [i.value for i in host.identifiers if i.kind == kind]


def packages(items) -> dict[str, str]:
    return {sw.name: sw.version for sw in items}


def log_rows(name: str, query: str) -> list[dict]:
    """The rows of every snapshot of one query in a fixture, read here without the connector."""
    rows = []
    for line in fixture(name).read_text().splitlines():
        obj = json.loads(line)
        if obj["name"] == query:
            rows += obj["snapshot"]
    return rows


def asset_graph(store) -> dict[str, int]:
    """Counts of everything but the run log."""
    return {k: v for k, v in store.counts().items() if k != "IngestRun"}


# --------------------------------------------------------------------------------------------- parser


def test_snapshot_log_gives_one_host_per_agent_with_identity_os_and_hardware():
    batch = parse_batch(fixture("snapshot.log"), LIMIT)
    assert len(batch.hosts) == 2
    assert batch.skipped == 1                       # the osquery_info health query
    assert batch.scopes == [f"osquery:host:{WEB01}", f"osquery:host:{DB02}"]
    hosts = hosts_by_agent("snapshot.log")
    web, db = hosts[WEB01], hosts[DB02]
    assert keys(web, IdentifierKind.SERIAL) == ["7XK2Q53"]
    assert keys(web, IdentifierKind.HOSTNAME) == ["web01"]
    assert keys(web, IdentifierKind.FQDN) == ["web01.corp.example.com"]
    assert web.properties.os_name == "Ubuntu 22.04.4 LTS (Jammy Jellyfish)"
    assert web.properties.os_version == "22.04.4 LTS (Jammy Jellyfish)"
    assert (web.properties.manufacturer, web.properties.model) == ("Dell Inc.", "PowerEdge R640")
    # db02 logs with --logger_numerics and --host_identifier=uuid; its firmware serial is a placeholder
    assert keys(db, IdentifierKind.SERIAL) == []
    assert keys(db, IdentifierKind.HOSTNAME) == ["db02"]
    assert db.properties.os_name == "Rocky Linux 9.3 (Blue Onyx)"
    assert db.properties.manufacturer == "QEMU"
    for host in (web, db):
        assert host.scope == f"osquery:host:{keys(host, IdentifierKind.AGENT_ID)[0]}"
        assert [(c.tool, c.category.value, c.last_seen) for c in host.controls] == [
            ("osquery", "endpoint_agent", host.observed_at)]


def test_observed_at_is_the_newest_result_time_of_the_host():
    hosts = hosts_by_agent("snapshot.log")
    newest = {}
    for line in fixture("snapshot.log").read_text().splitlines():
        obj = json.loads(line)
        uuid = obj["decorations"]["host_uuid"]
        newest[uuid] = max(newest.get(uuid, 0), int(obj["unixTime"]))
    for uuid, host in hosts.items():
        assert host.observed_at == datetime.fromtimestamp(newest[uuid], timezone.utc)


def test_interfaces_skip_loopback_link_local_and_container_bridges():
    web = hosts_by_agent("snapshot.log")[WEB01]
    assert web.ips == ("10.20.1.15", "2001:db8:20:1::15")        # not 127.0.0.1, ::1, fe80::, docker0's 172.17.0.1
    assert keys(web, IdentifierKind.MAC) == ["b0:26:28:4d:3e:10"]   # not lo's 00:00:.. nor docker0's 02:42:..
    assert keys(web, IdentifierKind.IP) == ["10.20.1.15", "2001:db8:20:1::15"]


def test_listening_ports_skip_loopback_only_and_unix_sockets():
    hosts = hosts_by_agent("snapshot.log")
    assert [(p.protocol, p.number) for p in hosts[WEB01].ports] == [
        ("tcp", 22), ("tcp", 80), ("tcp", 443), ("udp", 123)]      # not 5432 on 127.0.0.1, 53 on 127.0.0.53
    assert [(p.protocol, p.number) for p in hosts[DB02].ports] == [("tcp", 22), ("tcp", 5432)]


def test_packages_are_the_full_set_with_purls():
    hosts = hosts_by_agent("snapshot.log")
    web, db = hosts[WEB01], hosts[DB02]
    assert (web.software_added, web.software_removed) == ((), ())
    purls = {sw.purl for sw in web.software}
    assert "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.15?arch=amd64" in purls
    assert "pkg:deb/ubuntu/g%2B%2B@4:11.2.0-1ubuntu1?arch=amd64" in purls
    assert "pkg:deb/ubuntu/libc6@2.35-0ubuntu3.6?arch=i386" in purls
    assert {sw.package_type for sw in web.software} == {"deb"}
    assert {sw.name for sw in web.software} == {"openssh-server", "openssl", "nginx", "libc6", "ca-certificates", "g++"}
    assert packages(db.software)["postgresql-server"] == "13.11-1.el9"         # rpm: version-release
    openssl = next(sw for sw in db.software if sw.name == "openssl")
    assert openssl.purl == "pkg:rpm/rocky/openssl@3.0.7-24.el9?arch=x86_64&epoch=1"
    assert openssl.vendor == "Rocky Enterprise Software Foundation"
    assert [sw.version for sw in db.software if sw.name == "kernel-core"] == [
        "5.14.0-362.8.1.el9_3", "5.14.0-362.13.1.el9_3"]


def test_certificate_fingerprint_is_the_sha1_of_the_der():
    web = hosts_by_agent("snapshot.log")[WEB01]
    certs = [c for c in web.credentials if c.kind == CredentialKind.X509]
    der = ssl.PEM_cert_to_DER_cert(fixture("web01.pem").read_text())
    expected = "sha1:" + hashlib.sha1(der).hexdigest()
    web01 = next(c for c in certs if c.name == "web01.corp.example.com")
    assert web01.fingerprint == expected
    assert web01.issuer == web01.subject == "/C=US/O=Example Corp/CN=web01.corp.example.com"
    row = next(r for r in log_rows("snapshot.log", "pack_inventory_certificates") if r["common_name"] == web01.name)
    assert web01.not_after == datetime.fromtimestamp(int(row["not_valid_after"]), timezone.utc)
    assert web01.key_usage == ("Digital Signature", "Key Encipherment")
    # the internal root CA is in two places on disk: one credential
    assert sorted(c.name for c in certs) == ["Example Corp Internal Root CA", "web01.corp.example.com"]


def test_ssh_keys_are_fingerprinted_as_ssh_keygen_prints_and_the_key_is_not_kept():
    hosts = hosts_by_agent("snapshot.log")
    rows = log_rows("snapshot.log", "pack_inventory_authorized_keys")
    expected = {}
    for row in rows:
        digest = hashlib.sha256(base64.b64decode(row["key"])).digest()
        expected[row["comment"]] = "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    # what `ssh-keygen -l -f key.pub` printed for these keys when they were made
    assert expected == {"alice@laptop": "SHA256:0uOgzHeE4dwv2+P0J8ofAIH+vpDZTTLEX7kTCchfvY0",
                        "deploy@ci": "SHA256:0UQy7V5WN7YNLWdL7gGKsoR51vS6m87qNXVwcT3USLI",
                        "backup@db02": "SHA256:ulVHySayLNfV/vjVvYf2HW6l0HKLOMRGDDSZ+47B4Lw"}
    found = {c.name: c for h in hosts.values() for c in h.credentials if c.kind == CredentialKind.SSH_KEY}
    assert {name: c.fingerprint for name, c in found.items()} == expected
    assert [i.key for i in found["backup@db02"].grants_access_to] == [f"agent_id:{DB02}"]
    # the CI deploy key is authorized on both servers: each host's observation grants access to itself
    deploy = {h.scope: [i.key for c in h.credentials if c.name == "deploy@ci" for i in c.grants_access_to]
              for h in hosts.values()}
    assert deploy == {f"osquery:host:{WEB01}": [f"agent_id:{WEB01}"], f"osquery:host:{DB02}": [f"agent_id:{DB02}"]}
    dumped = json.dumps([c.model_dump(mode="json") for c in found.values()])
    for row in rows:
        assert row["key"] not in dumped and row["key"][20:60] not in dumped
        assert row["options"] == "" or row["options"] not in dumped


def test_event_log_is_replayed_in_counter_order_into_the_full_set():
    batch = parse_batch(fixture("events.log"), LIMIT)
    assert batch.skipped == 1                     # the processes query
    [host] = batch.hosts
    assert keys(host, IdentifierKind.AGENT_ID) == [BUILD03]
    assert keys(host, IdentifierKind.SERIAL) == ["PC2XK9LM"]
    # counter 0 is the whole table: telnet removed, openssl upgraded, htop added (counter 1) then removed (2)
    assert packages(host.software) == {"curl": "8.5.0-2ubuntu10.4", "git": "1:2.43.0-1ubuntu7.1",
                                       "openssl": "3.0.13-0ubuntu3.4", "vim": "2:9.1.0016-1ubuntu7.2"}
    assert (host.software_added, host.software_removed) == ((), ())
    assert [(p.protocol, p.number) for p in host.ports] == [("tcp", 22)]      # 8080 closed at counter 1
    assert host.observed_at == datetime.fromtimestamp(1795392000 + 7200, timezone.utc)


def test_a_log_starting_mid_stream_gives_changes_not_a_full_set():
    [host] = parse_batch(fixture("events-rotated.log"), LIMIT).hosts
    assert keys(host, IdentifierKind.AGENT_ID) == [BUILD03]          # from the decorations
    assert keys(host, IdentifierKind.HOSTNAME) == ["build03"]         # from the older 'hostname' key
    assert host.software is None and host.ports is None
    assert packages(host.software_added) == {"curl": "8.5.0-2ubuntu10.5", "jq": "1.7.1-3build1"}
    # curl was upgraded: its old version is gone (a product can have several versions installed)
    assert packages(host.software_removed) == {"vim": "2:9.1.0016-1ubuntu7.2", "curl": "8.5.0-2ubuntu10.4"}


def test_batch_log_epoch_change_starts_afresh():
    [host] = parse_batch(fixture("batch.log"), LIMIT).hosts
    assert keys(host, IdentifierKind.AGENT_ID) == [MAIL01]
    assert keys(host, IdentifierKind.FQDN) == ["mail01.corp.example.com"]
    assert host.properties.os_name == "CentOS Stream 9"
    # epoch 1000 had httpd (then removed it); epoch 1001 restarted with the whole table, then removed clamav
    assert packages(host.software) == {"postfix": "3.5.25-1.el9", "dovecot": "2.3.16-8.el9", "bash": "5.1.8-9.el9",
                                       "spamassassin": "3.4.6-5.el9"}
    assert next(sw for sw in host.software if sw.name == "postfix").purl == \
        "pkg:rpm/centos/postfix@3.5.25-1.el9?arch=x86_64&epoch=2"
    assert [(p.protocol, p.number) for p in host.ports] == [("tcp", 25), ("tcp", 993)]


def test_osqueryi_arrays_are_one_host_named_by_its_system_info():
    path = fixture("osqueryi-deb_packages.json")
    batch = parse_batch(path, LIMIT)
    [host] = batch.hosts
    assert keys(host, IdentifierKind.AGENT_ID) == [KIOSK07]
    assert keys(host, IdentifierKind.SERIAL) == ["CZC1234XYZ"]
    assert keys(host, IdentifierKind.HOSTNAME) == ["kiosk07"]
    assert host.properties.os_name == "Debian GNU/Linux 12 (bookworm)"
    assert {sw.purl for sw in host.software} == {
        "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64", "pkg:deb/debian/coreutils@9.1-1?arch=amd64",
        "pkg:deb/debian/firefox-esr@128.5.0esr-1~deb12u1?arch=amd64"}
    assert host.ports is None                                   # no listening_ports in the file
    assert host.observed_at == datetime.fromtimestamp(int(path.stat().st_mtime), timezone.utc)
    assert batch.scopes == [f"osquery:host:{KIOSK07}"]


def test_the_documentation_examples_parse(tmp_path):
    """The event and batch examples of osquery's logging docs, pretty-printed as shown there."""
    event = {"action": "added", "columns": {"name": "osqueryd", "path": "/usr/local/bin/osqueryd", "pid": "97830"},
             "name": "processes", "hostname": "hostname.local", "calendarTime": "Tue Sep 30 17:37:30 2014",
             "unixTime": "1412123850", "epoch": "314159265", "counter": "1"}
    batch_line = {"diffResults": {"added": [event["columns"]], "removed": [{**event["columns"], "pid": "97650"}]},
                  **{k: v for k, v in event.items() if k not in ("action", "columns")}}
    path = tmp_path / "docs.log"
    path.write_text(json.dumps(event, indent=2) + "\n" + json.dumps(batch_line, indent=2) + "\n")
    batch = parse_batch(path, LIMIT)
    [host] = batch.hosts
    assert [i.key for i in host.identifiers] == ["hostname:hostname", "fqdn:hostname.local"]
    assert host.software is None and host.ports is None and host.controls
    assert host.observed_at == datetime.fromtimestamp(1412123850, timezone.utc)   # unixTime over calendarTime
    assert batch.skipped == 2


def test_calendar_time_alone_dates_a_result(tmp_path):
    line = {"name": "system_info", "hostIdentifier": "ws-17", "calendarTime": "Mon May  2 22:27:32 2016 UTC",
            "action": "snapshot", "snapshot": [{"hostname": "ws-17", "uuid": "", "hardware_serial": "0"}]}
    path = tmp_path / "old.log"
    path.write_text(json.dumps(line) + "\n")
    [host] = parse_batch(path, LIMIT).hosts
    assert host.observed_at == datetime(2016, 5, 2, 22, 27, 32, tzinfo=timezone.utc)
    assert [i.key for i in host.identifiers] == ["hostname:ws-17"]
    assert host.scope == "osquery:host:ws-17"


def test_windows_programs_and_an_ec2_instance_decoration(tmp_path):
    deco = {"host_uuid": "EC2A1B2C-3D4E-5F60-7182-93A4B5C6D7E8", "instance_id": "i-0a1b2c3d4e5f60718"}
    results = [
        ("pack_windows_system_info", [{
            "hostname": "WIN-FS01", "uuid": deco["host_uuid"], "hardware_vendor": "Amazon EC2",
            "hardware_model": "m5.large", "hardware_serial": "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8",
            "computer_name": "WIN-FS01", "cpu_brand": "Intel(R) Xeon(R) Platinum 8259CL"}]),
        ("pack_windows_os_version", [{"name": "Microsoft Windows Server 2022 Datacenter", "version": "10.0.20348",
                                      "major": "10", "minor": "0", "build": "20348", "platform": "windows",
                                      "platform_like": "windows", "codename": "", "arch": "64-bit"}]),
        ("pack_windows_programs", [
            {"name": "7-Zip 23.01 (x64)", "version": "23.01", "install_location": "C:\\Program Files\\7-Zip\\",
             "install_source": "", "language": "", "publisher": "Igor Pavlov", "uninstall_string": "",
             "install_date": "", "identifying_number": "7-Zip"},
            {"name": "Amazon SSM Agent", "version": "3.3.40.0", "install_location": "", "install_source": "",
             "language": "1033", "publisher": "Amazon Web Services", "uninstall_string": "",
             "install_date": "20241105", "identifying_number": "{B1A3E5C1-2F0D-4E1B-9C2A-5D7F3B1E9A00}"}]),
        ("pack_windows_interface_details", [{
            "interface": "6", "mac": "0A:1B:2C:3D:4E:5F", "type": "6", "mtu": "9001", "physical_adapter": "1",
            "description": "Amazon Elastic Network Adapter"}]),
        ("pack_windows_listening_ports", [{"pid": "4", "port": "445", "protocol": "6", "family": "2",
                                           "address": "0.0.0.0", "path": ""},
                                          {"pid": "920", "port": "3389", "protocol": "6", "family": "2",
                                           "address": "0.0.0.0", "path": ""}]),
    ]
    path = tmp_path / "osqueryd.results.log"
    path.write_text("".join(json.dumps({"name": name, "hostIdentifier": "WIN-FS01", "unixTime": 1795478400 + i,
                                        "epoch": 0, "counter": 3, "decorations": deco, "action": "snapshot",
                                        "snapshot": rows}) + "\n" for i, (name, rows) in enumerate(results)))
    [host] = parse_batch(path, LIMIT).hosts
    assert keys(host, IdentifierKind.CLOUD_ID) == ["i-0a1b2c3d4e5f60718"]           # the AWS connector's id
    assert keys(host, IdentifierKind.MAC) == ["0a:1b:2c:3d:4e:5f"]
    assert keys(host, IdentifierKind.HOSTNAME) == ["win-fs01"]
    assert (host.properties.os_family, host.properties.os_version) == ("Windows", "10.0.20348")
    assert [(sw.name, sw.version, sw.vendor, sw.package_type, sw.purl) for sw in host.software] == [
        ("7-Zip 23.01 (x64)", "23.01", "Igor Pavlov", "program", None),
        ("Amazon SSM Agent", "3.3.40.0", "Amazon Web Services", "program", None)]
    assert host.software[0].key == "igor pavlov/7-zip 23.01 (x64)"
    assert [p.number for p in host.ports] == [445, 3389]


def test_a_changes_only_log_takes_the_distribution_from_its_packages(tmp_path):
    def event(action, name, version):
        return json.dumps({"name": "deb_packages", "hostIdentifier": "nas01", "unixTime": "1795478400", "epoch": "0",
                           "counter": "9", "action": action, "columns": {
                               "name": name, "version": version, "arch": "amd64", "revision": version.rsplit("-")[-1],
                               "maintainer": "Debian Samba Maintainers <pkg-samba-maint@lists.alioth.debian.org>",
                               "section": "net", "priority": "optional", "source": "", "size": "1"}})
    path = tmp_path / "nas.log"
    path.write_text("\n".join([event("removed", "samba", "2:4.17.12+dfsg-0+deb12u1"),
                               event("added", "samba", "2:4.17.12+dfsg-0+deb12u2")]) + "\n")
    [host] = parse_batch(path, LIMIT).hosts
    assert [sw.purl for sw in host.software_added] == ["pkg:deb/debian/samba@2:4.17.12%2Bdfsg-0%2Bdeb12u2?arch=amd64"]
    # an upgrade: the old version goes, the product stays installed (tests/test_software_versions.py)
    assert [sw.version for sw in host.software_removed] == ["2:4.17.12+dfsg-0+deb12u1"]


def test_a_host_with_nothing_to_identify_it_is_refused(tmp_path):
    line = {"name": "processes", "hostIdentifier": "localhost", "unixTime": 1795478400, "action": "snapshot",
            "snapshot": [{"name": "sshd", "pid": 1}]}
    path = tmp_path / "anon.log"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(IngestError, match=r"anon.log line 1, field 'hostIdentifier': host 'localhost' has no usable"):
        parse_batch(path, LIMIT)


def test_osqueryi_output_without_system_info_is_refused(tmp_path):
    path = tmp_path / "packages.json"
    text = fixture("osqueryi-deb_packages.json").read_text()
    path.write_text(text[text.index("[\n  {\"admindir\""):])            # only the deb_packages array
    with pytest.raises(IngestError, match="does not say which host it is from: add system_info rows"):
        parse_batch(path, LIMIT)


# --------------------------------------------------------------------------------------------- bad input


def _lines(name: str) -> list[str]:
    return fixture(name).read_text().splitlines()


def _edit(name: str, index: int, change) -> str:
    lines = _lines(name)
    obj = json.loads(lines[index])
    change(obj)
    lines[index] = json.dumps(obj)
    return "\n".join(lines) + "\n"


def _bad_port_snapshot(obj):
    obj["snapshot"][3]["port"] = "abc"


def _no_host(obj):
    for key in ("hostIdentifier", "decorations"):
        obj.pop(key)


BAD_INPUT = {
    "malformed.log": ("\n".join(_lines("snapshot.log")[:3] + ['{"name": "pack_inventory_os_version",, }']
                                + _lines("snapshot.log")[3:]) + "\n",
                      r"malformed.log line 4: malformed JSON"),
    "nohost.log": (_edit("events.log", 4, _no_host), r"nohost.log line 5, field 'hostIdentifier': missing"),
    "badport-event.log": (_edit("events.log", 8, lambda o: o["columns"].update(port="abc")),
                          r"badport-event.log line 9, field 'columns.port': \"abc\" is not a whole number"),
    "badport-snapshot.log": (_edit("snapshot.log", 10, _bad_port_snapshot),
                             r"badport-snapshot.log line 11, field 'snapshot\[3\].port': \"abc\" is not a whole "),
    "badport-batch.log": (_edit("batch.log", 3, lambda o: o["diffResults"]["added"][1].update(protocol=[6])),
                          r"field 'diffResults.added\[1\].protocol'"),
    "truncated.log": ("\n".join(_lines("snapshot.log"))[:-45],
                      r"truncated.log line 17: malformed JSON: .*the last line is cut short"),
    "badkey.log": (_edit("snapshot.log", 14, lambda o: o["snapshot"][1].update(key="not-a-key")),
                   r"badkey.log line 15, field 'snapshot\[1\].key': is not a base64 SSH public key"),
    "badsha1.log": (_edit("snapshot.log", 12, lambda o: o["snapshot"][0].update(sha1="xyz")),
                    r"badsha1.log line 13, field 'snapshot\[0\].sha1'"),
    "badtime.log": (_edit("batch.log", 0, lambda o: o.update(unixTime="yesterday")),
                    r"badtime.log line 1, field 'unixTime': \"yesterday\" is not a whole number"),
    "scan.xml": ("<?xml version='1.0'?>\n<nmaprun scanner='nmap'></nmaprun>\n", NOT_OSQUERY + r" \(an XML file\)"),
    "assets.csv": ("hostname,uuid,hardware_serial\nweb01,4C4C4544-0042,7XK2Q53\n", NOT_OSQUERY),
    "users.json": (json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Resources": []},
                              indent=2), NOT_OSQUERY),
    "status.log": (json.dumps({"hostIdentifier": "web01", "calendarTime": "Tue Nov 24 00:00:10 2026 UTC",
                               "unixTime": "1795478410", "severity": "0", "filename": "scheduler.cpp", "line": "83",
                               "message": "Executing scheduled query pack_inventory_system_info"}) + "\n",
                   NOT_OSQUERY + ": only status lines"),
    "nested.log": (_lines("events.log")[0] + "\n" + "[" * 200_000 + "]" * 200_000 + "\n",
                   r"nested.log line 2: refused: JSON nested more than \d+ levels deep"),
    "nested.json": ("[" * 200_000 + "]" * 200_000, r"nested.json line 1: refused: JSON nested"),
    "long-line.log": (_lines("snapshot.log")[0][:-2] + ', "pad": "' + "x" * (1024 * 1024) + '"}]}\n'
                      + _lines("snapshot.log")[1] + "\n",
                      r"long-line.log line 1: line is \d+ bytes, longer than the limit of 1048576 bytes \(1 MiB\)"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUT))
def test_bad_input_names_the_line_and_field_and_writes_nothing(store, settings, tmp_path, name):
    text, message = BAD_INPUT[name]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(IngestError, match=message):
        parse_batch(path, LIMIT)
    before = store.counts()
    with pytest.raises(IngestError, match=message):   # a good file first: still nothing written
        ingest_files(store, "osquery", [fixture("snapshot.log"), path], settings)
    assert store.counts() == before


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    lines = _lines("snapshot.log")
    lines[2] = lines[2][:40]
    bad = json.loads(lines[10])
    bad["snapshot"][0]["port"] = "ssh"
    lines[10] = json.dumps(bad)
    path = tmp_path / "two.log"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(IngestError) as caught:
        parse_batch(path, LIMIT)
    assert [(p.line, p.field) for p in caught.value.problems] == [(3, None), (11, "snapshot[0].port")]


def test_oversized_file_is_refused_before_reading(store, settings, tmp_path):
    big = tmp_path / "big.log"
    lines = fixture("snapshot.log").read_bytes()
    big.write_bytes(lines * (settings.max_file_bytes // len(lines) + 1))
    before = store.counts()
    with pytest.raises(IngestError, match=rf"big.log: file is \d+ bytes, over the limit of {settings.max_file_bytes} "):
        ingest_files(store, "osquery", [big], settings)
    assert store.counts() == before


# --------------------------------------------------------------------------------------------- graph


def test_snapshot_log_in_the_graph(store, settings):
    summary = ingest_files(store, "osquery", [fixture("snapshot.log")], settings)
    assert (summary.created, summary.skipped) == (2 + 2 + 3, 1)    # 2 hosts, 2 certificates, 3 SSH keys
    rows = store.read("""
        MATCH (i:Identifier {key: $agent})-[:IDENTIFIES]->(a:Asset:Host)
        RETURN a.os_name AS os, a.manufacturer AS maker, a.model AS model, a.name AS name,
               [(a)-[:HAS_IP]->(ip) | ip.address] AS ips,
               [(a)-[:LISTENS_ON]->(p:Port) | p.protocol + '/' + toString(p.number)] AS ports,
               [(a)-[r:INSTALLED]->(s:Software) | s.name + '=' + r.version] AS software,
               [(c:Credential)-[:STORED_ON]->(a) | c.fingerprint] AS credentials,
               [(c:Control {name: 'osquery'})-[:MONITORS]->(a) | c.category] AS controls""", agent=f"agent_id:{WEB01}")
    [web] = rows
    assert (web["os"], web["maker"], web["model"], web["name"]) == (
        "Ubuntu 22.04.4 LTS (Jammy Jellyfish)", "Dell Inc.", "PowerEdge R640", "web01")
    assert sorted(web["ips"]) == ["10.20.1.15", "2001:db8:20:1::15"]
    assert sorted(web["ports"]) == ["tcp/22", "tcp/443", "tcp/80", "udp/123"]
    assert "openssl=3.0.2-0ubuntu1.15" in web["software"]
    assert len(web["software"]) == 6                 # libc6 for amd64 and i386 is one product
    der = ssl.PEM_cert_to_DER_cert(fixture("web01.pem").read_text())
    assert "sha1:" + hashlib.sha1(der).hexdigest() in web["credentials"]
    assert "SHA256:0uOgzHeE4dwv2+P0J8ofAIH+vpDZTTLEX7kTCchfvY0" in web["credentials"]
    assert web["controls"] == ["endpoint_agent"]
    assert store.read("MATCH (:Control {name: 'osquery'})-[:MONITORS]->(a:Asset) RETURN count(a) AS n") == [{"n": 2}]
    grants = store.read("""MATCH (c:Credential {kind: 'ssh_key'})-[:GRANTS_ACCESS_TO]->(a:Asset)
                           WHERE c.name <> 'deploy@ci' RETURN c.name AS key, a.name AS host ORDER BY key, host""")
    assert grants == [{"key": "alice@laptop", "host": "web01"}, {"key": "backup@db02", "host": "db02"}]
    stored = store.read("""MATCH (c:Credential {name: 'deploy@ci'})-[:STORED_ON]->(a:Asset)
                           RETURN a.name AS host ORDER BY host""")
    assert stored == [{"host": "db02"}, {"host": "web01"}]
    keys_in_graph = store.read("MATCH (c:Credential) RETURN collect(properties(c)) AS all")[0]["all"]
    for row in log_rows("snapshot.log", "pack_inventory_authorized_keys"):
        assert row["key"] not in json.dumps(keys_in_graph, default=str)


def test_a_key_authorized_on_two_hosts_grants_access_to_both(store, settings):
    ingest_files(store, "osquery", [fixture("snapshot.log")], settings)
    grants = store.read("""MATCH (c:Credential {name: 'deploy@ci'})-[:GRANTS_ACCESS_TO]->(a:Asset)
                           RETURN a.name AS host ORDER BY host""")
    assert grants == [{"host": "db02"}, {"host": "web01"}]


def test_reingesting_changes_nothing(store, settings):
    paths = [fixture(name) for name in ("snapshot.log", "events.log", "batch.log", "osqueryi-deb_packages.json")]
    ingest_files(store, "osquery", paths, settings)
    before = asset_graph(store)
    again = ingest_files(store, "osquery", paths, settings)
    assert asset_graph(store) == before
    assert (again.created, again.updated) == (0, 0)


def test_event_logs_keep_installed_software_current(store, settings):
    def installed() -> dict[str, str]:
        rows = store.read("""MATCH (:Identifier {key: $agent})-[:IDENTIFIES]->(a:Asset)-[r:INSTALLED]->(s:Software)
                             RETURN s.name AS name, r.version AS version""", agent=f"agent_id:{BUILD03}")
        return {row["name"]: row["version"] for row in rows}

    ingest_files(store, "osquery", [fixture("events.log")], settings)
    assert installed() == {"curl": "8.5.0-2ubuntu10.4", "git": "1:2.43.0-1ubuntu7.1",
                           "openssl": "3.0.13-0ubuntu3.4", "vim": "2:9.1.0016-1ubuntu7.2"}   # no telnet, no htop
    assert store.read("MATCH (s:Software) WHERE s.name IN ['telnet', 'htop'] "
                      "RETURN count{ (s)<-[:INSTALLED]-() } AS n") in ([], [{"n": 0}], [{"n": 0}, {"n": 0}])
    ingest_files(store, "osquery", [fixture("events-rotated.log")], settings)
    assert installed() == {"curl": "8.5.0-2ubuntu10.5", "git": "1:2.43.0-1ubuntu7.1",
                           "openssl": "3.0.13-0ubuntu3.4", "jq": "1.7.1-3build1"}               # vim removed
    assert store.read("MATCH (a:Asset:Host) RETURN a.os_name AS os") == [{"os": "Ubuntu 24.04.1 LTS (Noble Numbat)"}]


def test_full_log_and_later_changes_in_one_run(store, settings):
    ingest_files(store, "osquery", [fixture("events.log"), fixture("events-rotated.log")], settings)
    rows = store.read("MATCH (a:Asset)-[r:INSTALLED]->(s:Software) RETURN s.name AS name, r.version AS version")
    assert {r["name"]: r["version"] for r in rows} == {
        "curl": "8.5.0-2ubuntu10.5", "git": "1:2.43.0-1ubuntu7.1", "openssl": "3.0.13-0ubuntu3.4",
        "jq": "1.7.1-3build1"}


def test_batch_log_in_the_graph(store, settings):
    ingest_files(store, "osquery", [fixture("batch.log")], settings)
    rows = store.read("""MATCH (:Identifier {key: $agent})-[:IDENTIFIES]->(a:Asset)
                         RETURN [(a)-[r:INSTALLED]->(s) | s.name] AS software,
                                [(a)-[:LISTENS_ON]->(p) | p.number] AS ports""", agent=f"agent_id:{MAIL01}")
    assert sorted(rows[0]["software"]) == ["bash", "dovecot", "postfix", "spamassassin"]
    assert sorted(rows[0]["ports"]) == [25, 993]


def test_osquery_and_nmap_see_the_same_host(store, settings, tmp_path):
    scan = nmap_xml(tmp_path / "scan.xml", [{"ip": "10.20.1.15", "mac": "b0:26:28:4d:3e:10", "name": "web01",
                                             "ports": [("tcp", 22, "ssh"), ("tcp", 443, "https")]}])
    ingest_files(store, "nmap", [scan], settings)
    ingest_files(store, "osquery", [fixture("snapshot.log")], settings)
    rows = store.read("""MATCH (a:Asset)-[:SEEN_BY]->(s:Source) RETURN a.id AS id, collect(s.name) AS sources""")
    assert sorted(sorted(r["sources"]) for r in rows) == [["nmap", "osquery"], ["osquery"]]
    os_name = store.read("MATCH (:Identifier {key: 'mac:b0:26:28:4d:3e:10'})-[:IDENTIFIES]->(a) RETURN a.os_name AS os")
    assert os_name == [{"os": "Ubuntu 22.04.4 LTS (Jammy Jellyfish)"}]      # osquery's claim beats nmap's guess

