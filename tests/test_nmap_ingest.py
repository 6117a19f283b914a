"""nmap XML ingest: real scans from python-libnmap's test files, hostile and broken input."""
from __future__ import annotations

import pytest

from ingest.errors import IngestError
from ingest.pipeline import ingest_files, read_batch
from tests.builders import nmap_xml
from tests.conftest import nmap_fixture

LIMIT = 8 * 1024 * 1024     # bytes per file, for tests that only read


def asset_graph(store) -> dict[str, int]:
    """Counts of everything but the run log."""
    return {k: v for k, v in store.counts().items() if k != "IngestRun"}


def test_os_scan_becomes_hosts_with_macs_ports_and_os(store, settings):
    summary = ingest_files(store, "nmap", [nmap_fixture("os_scan6.xml")], settings)
    assert (summary.records, summary.created, summary.skipped) == (3, 3, 253)
    rows = store.read("""
        MATCH (a:Asset)-[:HAS_IP]->(ip:IPAddress {address: '192.168.1.1'})
        RETURN a.os_name AS os, [(i:Identifier {kind: 'mac'})-[:IDENTIFIES]->(a) | i.value] AS macs,
               [(a)-[:LISTENS_ON]->(p:Port) | p.number] AS ports""")
    assert rows[0]["macs"] == ["6c:2e:85:19:af:00"]
    assert rows[0]["os"]
    assert 80 in rows[0]["ports"]


def test_every_fact_has_provenance(store, settings):
    summary = ingest_files(store, "nmap", [nmap_fixture("fullscan.xml")], settings)
    rows = store.read("""
        MATCH (a:Asset)-[s:SEEN_BY]->(:Source {name: 'nmap'})
        RETURN count(a) AS seen, collect(DISTINCT s.run_id) AS runs,
               all(x IN collect(a.first_seen IS NOT NULL AND a.last_seen IS NOT NULL) WHERE x) AS stamped""")
    assert rows[0] == {"seen": summary.records, "runs": [summary.run_id], "stamped": True}
    run = store.read("MATCH (r:IngestRun {id: $id}) RETURN r.status AS status, r.created AS created", id=summary.run_id)
    assert run == [{"status": "succeeded", "created": summary.created}]


def test_reingesting_the_same_scan_changes_nothing(store, settings):
    first = ingest_files(store, "nmap", [nmap_fixture("os_scan6.xml"), nmap_fixture("2_hosts.xml")], settings)
    before = asset_graph(store)
    again = ingest_files(store, "nmap", [nmap_fixture("os_scan6.xml"), nmap_fixture("2_hosts.xml")], settings)
    assert asset_graph(store) == before
    assert (again.created, again.updated, again.unchanged) == (0, 0, first.created)


def test_xxe_sample_is_refused_and_nothing_written(store, settings):
    before = store.counts()
    with pytest.raises(IngestError, match="defused_et_local_includer.xml: refused"):
        ingest_files(store, "nmap", [nmap_fixture("defused_et_local_includer.xml")], settings)
    assert store.counts() == before


def test_billion_laughs_is_refused(store, settings, tmp_path):
    bomb = tmp_path / "laughs.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]><nmaprun>&lol2;</nmaprun>')
    with pytest.raises(IngestError, match="refused"):
        ingest_files(store, "nmap", [bomb], settings)


def test_truncated_scan_names_the_line_and_writes_nothing(store, settings, tmp_path):
    text = nmap_fixture("os_scan6.xml").read_text()
    cut = tmp_path / "interrupted.xml"
    cut.write_text(text[: len(text) // 2])
    good = nmap_fixture("2_hosts.xml")
    with pytest.raises(IngestError) as caught:
        ingest_files(store, "nmap", [good, cut], settings)  # a good file before the bad one: still nothing
    assert "interrupted.xml line" in str(caught.value)
    assert asset_graph(store) == {"Internet": 1}


def test_malformed_element_names_file_line_and_field(store, settings, tmp_path):
    scan = nmap_xml(tmp_path / "scan.xml", [{"ip": "10.9.0.1", "name": "a"}, {"ip": "10.9.0.2", "name": "b"}])
    lines = scan.read_text().splitlines()
    broken = [ln.replace('addr="10.9.0.2" ', "") for ln in lines]
    scan.write_text("\n".join(broken))
    bad_line = next(i for i, ln in enumerate(broken, 1) if 'addrtype="ipv4"' in ln and "addr=" not in ln)
    with pytest.raises(IngestError) as caught:
        ingest_files(store, "nmap", [scan], settings)
    assert str(caught.value) == f"{scan} line {bad_line}, field 'addr': <address> without addr"
    assert asset_graph(store) == {"Internet": 1}


def test_wrong_format_and_oversized_files_are_refused(store, settings, tmp_path):
    not_xml = tmp_path / "assets.csv"
    not_xml.write_text("asset_tag,status\nA-1,Deployed\n")
    with pytest.raises(IngestError, match="assets.csv line 1: malformed or truncated XML"):
        ingest_files(store, "nmap", [not_xml], settings)
    other_xml = tmp_path / "other.xml"
    other_xml.write_text("<?xml version='1.0'?><report/>")
    with pytest.raises(IngestError, match="root element is <report>, expected <nmaprun>"):
        ingest_files(store, "nmap", [other_xml], settings)
    big = tmp_path / "big.xml"
    big.write_bytes(b" " * (settings.max_file_bytes + 1))
    with pytest.raises(IngestError, match="over the limit"):
        ingest_files(store, "nmap", [big], settings)


def test_same_subnet_hosts_reach_each_others_open_ports(store, settings, tmp_path):
    scan = nmap_xml(tmp_path / "scan.xml", [
        {"ip": "10.9.0.1", "mac": "00:14:22:00:00:01", "name": "web", "ports": [("tcp", 443, "https")]},
        {"ip": "10.9.0.2", "mac": "00:14:22:00:00:02", "name": "db", "ports": [("tcp", 5432, "postgresql")]},
        {"ip": "10.9.1.2", "mac": "00:14:22:00:00:03", "name": "elsewhere", "ports": [("tcp", 22, "ssh")]},
        {"ip": "8.8.4.4", "mac": "00:14:22:00:00:04", "name": "edge", "ports": [("tcp", 25, "smtp")]},
    ])
    ingest_files(store, "nmap", [scan], settings)
    rows = store.read("MATCH (s)-[r:CAN_REACH]->(h:Asset) RETURN coalesce(s.cidr, s.name) AS origin, "
                      "h.name AS host, r.ports AS ports ORDER BY origin, host")
    assert rows == [
        {"origin": "10.9.0.0/24", "host": "db", "ports": ["tcp/5432"]},
        {"origin": "10.9.0.0/24", "host": "web", "ports": ["tcp/443"]},
        {"origin": "10.9.1.0/24", "host": "elsewhere", "ports": ["tcp/22"]},
        {"origin": "8.8.4.0/24", "host": "edge", "ports": ["tcp/25"]},
        {"origin": "internet", "host": "edge", "ports": ["tcp/25"]},
    ]


def test_a_new_host_in_two_scans_of_one_run_shows_the_newer_scans_os(store, settings, tmp_path):
    """One new asset from two records (two scopes): its OS is the newer claim, not the last one written."""
    mac = "00:14:22:00:00:09"
    newer = nmap_xml(tmp_path / "newer.xml", [{"ip": "10.9.0.9", "mac": mac, "os": "Linux 6.1", "time": 1763629200}],
                     start=1763629200, targets="10.9.0.0/24")
    older = nmap_xml(tmp_path / "older.xml", [{"ip": "10.9.5.9", "mac": mac, "os": "Linux 4.4", "time": 1763625600}],
                     targets="10.9.5.0/24")
    summary = ingest_files(store, "nmap", [newer, older], settings)
    assert summary.created == 1
    rows = store.read("MATCH (a:Asset)-[s:SEEN_BY]->() RETURN a.os_name AS os, count(s) AS sightings")
    assert rows == [{"os": "Linux 6.1", "sightings": 2}]


def _scans_of_one_subnet(tmp_path, mac: str):
    newer = nmap_xml(tmp_path / "newer.xml", [{"ip": "10.9.0.9", "mac": mac, "name": "box", "os": "Linux 6.1",
                                               "family": "Linux", "time": 1763629200}],
                     start=1763629200, targets="10.9.0.0/24")
    older = nmap_xml(tmp_path / "older.xml", [{"ip": "10.9.0.9", "mac": mac, "name": "box", "os": "Windows 7",
                                               "family": "Windows", "time": 1763625600}],
                     start=1763625600, targets="10.9.0.0/24")
    return newer, older


def _shown(store) -> list[dict]:
    return store.read("MATCH (a:Asset)-[s:SEEN_BY]->() RETURN a.os_name AS os, a.os_family AS family, "
                      "s.claim_os_name AS claim, toString(s.last_seen) AS last_seen")


def test_an_older_scan_of_the_same_subnet_written_later_in_one_run_changes_nothing_it_said(store, settings,
                                                                                            tmp_path):
    """Two scans of one subnet in one run, the newer file first: the sighting keeps the newer claims."""
    newer, older = _scans_of_one_subnet(tmp_path, "00:14:22:00:00:0a")
    assert ingest_files(store, "nmap", [newer, older], settings).status == "succeeded"
    assert _shown(store) == [{"os": "Linux 6.1", "family": "Linux", "claim": "Linux 6.1",
                              "last_seen": "2025-11-20T09:00:00Z"}]


def test_an_older_scan_ingested_in_a_later_run_changes_nothing_it_said(store, settings, tmp_path):
    """A late-arriving older scan still counts as seen, but does not take back what the newer one said."""
    newer, older = _scans_of_one_subnet(tmp_path, "00:14:22:00:00:0b")
    assert ingest_files(store, "nmap", [newer], settings).status == "succeeded"
    assert ingest_files(store, "nmap", [older], settings).status == "succeeded"
    assert _shown(store) == [{"os": "Linux 6.1", "family": "Linux", "claim": "Linux 6.1",
                              "last_seen": "2025-11-20T09:00:00Z"}]
    again = ingest_files(store, "nmap", [newer], settings)      # the sighting still holds the newer digest
    assert (again.unchanged, again.updated) == (1, 0)


def test_an_address_taken_over_by_another_host_takes_its_same_subnet_reach_along(store, settings, tmp_path):
    """The host that lost the address is no longer reached through it; the host that holds it now is."""
    def reach() -> list[dict]:
        return store.read("MATCH (s:Subnet)-[r:CAN_REACH]->(h:Asset) RETURN s.cidr AS net, h.name AS host, "
                          "r.ports AS ports ORDER BY host")
    first = nmap_xml(tmp_path / "first.xml", [
        {"ip": "10.9.0.5", "mac": "00:14:22:00:00:05", "name": "old-holder", "ports": [("tcp", 22, "ssh")]},
        {"ip": "10.9.0.6", "mac": "00:14:22:00:00:06", "name": "neighbour", "ports": [("tcp", 25, "smtp")]}])
    ingest_files(store, "nmap", [first], settings)
    assert [r["host"] for r in reach()] == ["neighbour", "old-holder"]
    later = nmap_xml(tmp_path / "later.xml", [
        {"ip": "10.9.0.5", "mac": "00:14:22:00:00:07", "name": "new-holder", "ports": [("tcp", 80, "http")]}],
        start=1763625600 + 3600)
    ingest_files(store, "nmap", [later], settings, partial=True)
    assert reach() == [{"net": "10.9.0.0/24", "host": "neighbour", "ports": ["tcp/25"]},
                       {"net": "10.9.0.0/24", "host": "new-holder", "ports": ["tcp/80"]}]


def ports_of(store, address: str) -> set[str]:
    """The open ports of the host holding an address, as 'tcp/22'."""
    rows = store.read("MATCH (:IPAddress {address: $address})<-[:HAS_IP]-(:Asset)-[:LISTENS_ON]->(p:Port) "
                      "RETURN p.protocol + '/' + toString(p.number) AS port", address=address)
    return {row["port"] for row in rows}


def test_a_ping_scan_sees_the_host_and_keeps_its_open_ports(store, settings):
    """`nmap -sP` writes no <ports>: it did not look at ports, which is not 'none is open'."""
    ingest_files(store, "nmap", [nmap_fixture("dionaea_scan.xml")], settings)      # -p 1-65535, Nov 22 2020
    known = ports_of(store, "172.28.1.3")
    assert len(known) == 16
    ping = ingest_files(store, "nmap", [nmap_fixture("1_host_ping.xml")], settings)  # -sP, Dec 6 2020
    assert (ping.records, ping.created) == (1, 0)
    assert ports_of(store, "172.28.1.3") == known
    assert store.read("MATCH (a:Asset)-[:HAS_IP]->(:IPAddress {address: '172.28.1.3'}) "
                      "RETURN toString(a.last_seen) AS seen") == [{"seen": "2020-12-06T19:15:35Z"}]


def test_a_scan_replaces_a_hosts_ports_only_within_the_ports_it_probed(store, settings):
    """<scaninfo services=...> says what a scan probed: a known port outside it, or of another protocol, stays."""
    ingest_files(store, "nmap", [nmap_fixture("ports_full.xml")], settings)          # tcp 1-1000, udp 161
    assert ports_of(store, "10.30.0.5") == {"tcp/22", "tcp/80", "tcp/443", "udp/161"}
    ingest_files(store, "nmap", [nmap_fixture("ports_p22_closed.xml")], settings)    # -p 22: closed now
    assert ports_of(store, "10.30.0.5") == {"tcp/80", "tcp/443", "udp/161"}
    ingest_files(store, "nmap", [nmap_fixture("ports_1-200.xml")], settings)         # tcp 1-200: 22 open, 80 not
    assert ports_of(store, "10.30.0.5") == {"tcp/22", "tcp/443", "udp/161"}


def test_a_scan_that_names_no_ports_probed_replaces_the_whole_list(store, settings, tmp_path):
    """Without <scaninfo> the file does not say what it probed: its open ports are the host's list."""
    host = {"ip": "10.9.0.20", "mac": "00:14:22:00:00:20", "name": "files"}
    first = nmap_xml(tmp_path / "first.xml", [{**host, "ports": [("tcp", 22, "ssh"), ("udp", 161, "snmp")]}])
    later = nmap_xml(tmp_path / "later.xml", [{**host, "ports": [("tcp", 22, "ssh")], "time": 1763629200}],
                     start=1763629200)
    ingest_files(store, "nmap", [first], settings)
    ingest_files(store, "nmap", [later], settings)
    assert ports_of(store, "10.9.0.20") == {"tcp/22"}


@pytest.mark.parametrize("bad", ["80-x", "1000-80", "65536"])
def test_a_port_range_nmap_could_not_have_written_names_file_line_and_field(tmp_path, bad):
    text = nmap_fixture("ports_full.xml").read_text().replace('services="1-1000"', f'services="1-1000,{bad}"')
    scan = tmp_path / "ranges.xml"
    scan.write_text(text)
    with pytest.raises(IngestError) as caught:
        read_batch("nmap", [scan], LIMIT, lambda *a: None)
    assert str(caught.value) == (f"{scan} line 6, field 'services': "
                                 f"<scaninfo services=...{bad!r}...> is not a port or port range (0-65535)")


def test_pn_hosts_that_never_answered_are_skipped_and_counted(store, settings):
    """-Pn marks every target up (reason="user-set"): a host counts only if a port answered (open or
    closed) or its MAC shows an ARP reply."""
    summary = ingest_files(store, "nmap", [nmap_fixture("pn_allfiltered.xml"), nmap_fixture("pn_answered.xml")],
                           settings)
    assert (summary.records, summary.skipped) == (3, 3)
    rows = store.read("MATCH (:Asset)-[:HAS_IP]->(ip:IPAddress) RETURN ip.address AS ip ORDER BY ip")
    assert [row["ip"] for row in rows] == ["10.20.0.1",     # 22 open
                                           "10.20.1.1",     # every port closed: it sent resets
                                           "10.20.1.2"]     # every port filtered, but its MAC answered ARP


def test_masscan_xml_adds_the_hosts_that_answered_and_removes_no_port(store, settings):
    """masscan writes one <host> per port found (with --banners, one more per banner on that port) and no
    <status>, and does not say which ports it probed."""
    [web, _] = read_batch("nmap", [nmap_fixture("masscan_web.xml")], LIMIT, lambda *a: None).hosts
    assert [(p.protocol, p.number) for p in web.ports] == [("tcp", 80), ("tcp", 8080)]   # a banner is no port
    ingest_files(store, "nmap", [nmap_fixture("ports_full.xml")], settings)
    summary = ingest_files(store, "nmap", [nmap_fixture("masscan_web.xml")], settings)
    assert (summary.status, summary.records, summary.created, summary.skipped) == ("succeeded", 2, 1, 0)
    assert ports_of(store, "10.30.0.5") == {"tcp/22", "tcp/80", "tcp/443", "tcp/8080", "udp/161"}
    assert ports_of(store, "10.30.0.7") == {"tcp/443"}


@pytest.mark.parametrize("command, scopes", [
    ("10.0.0.0/16", ["nmap:10.0.0.0/16"]),
    ("--top-ports 1000 10.0.0.0/16", ["nmap:10.0.0.0/16"]),
    ("-p 22 10.0.0.0/16", ["nmap:10.0.0.0/16"]),
    ("-p443 10.0.0.0/16", ["nmap:10.0.0.0/16"]),
    ("-Pn -sS 10.0.0.0/16", ["nmap:10.0.0.0/16"]),         # -sS is -s with S, not -S (spoof) wanting a value
    ("--exclude 10.0.0.1 -S 10.0.0.9 -e eth0 10.0.0.0/16", ["nmap:10.0.0.0/16"]),
    ("-T4 -Pn -PS22,80 --max-retries 1 -top-ports 100 --script-args=unsafe=1 -g 53 10.0.0.0/16",
     ["nmap:10.0.0.0/16"]),
    ("10.0.0.0/16 db01.corp.example 10.1.0.1-20", ["nmap:10.0.0.0/16 10.1.0.1-20 db01.corp.example"]),
    ("-iL lan.txt", []),                                    # the list is not read: no targets, no scope
    ("-iL lan.txt 10.0.0.0/16", ["nmap:10.0.0.0/16"]),      # only the targets on the command line
])
def test_the_scope_is_the_targets_of_the_command_line_not_its_option_values(tmp_path, command, scopes):
    scan = nmap_xml(tmp_path / "scan.xml", [{"ip": "10.0.0.5"}], targets=command)
    assert read_batch("nmap", [scan], LIMIT, lambda *a: None).scopes == scopes
