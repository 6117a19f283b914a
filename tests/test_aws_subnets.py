"""AWS instances go in the subnets `aws ec2 describe-subnets` lists (a /20, a /28), not in a made-up /24:
same-subnet reach then links every host of a /20 and keeps two /28s of one /24 apart. The acme account's
instances (tests/fixtures/aws/acme) are moved into such subnets; the subnets file takes its records from
cloudmapper's real `describe-subnets` output."""
from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
from pathlib import Path

import pytest

from api.cli import _print_summary

from graph.store import connect_async
from ingest.aws import parse_batch
from ingest.errors import IngestError
from ingest.pipeline import IngestSummary, ingest_files
from queries.catalog import GraphReader
from queries.host import reachable
from tests.builders import nmap_xml
from tests.conftest import FIXTURES

AWS = FIXTURES / "aws"
ACME = AWS / "acme"
LIMIT = 8 * 1024 * 1024
BASTION, APP, DB = "i-0b5e7d1f3a2c49e01", "i-0b5e7d1f3a2c49e02", "i-0b5e7d1f3a2c49e03"
PUBLIC, WIDE, LOW, HIGH = ("subnet-0aa1bb2cc3dd4ee50", "subnet-0aa1bb2cc3dd4ee51", "subnet-0aa1bb2cc3dd4ee52",
                           "subnet-0aa1bb2cc3dd4ee53")
VPC = "vpc-0a1b2c3d4e5f60718"


def write_json(path: Path, document) -> Path:
    path.write_text(json.dumps(document, indent=2))
    return path


def instances(path: Path, placed: dict[str, tuple[str, str]], ipv6: dict[str, str] | None = None) -> Path:
    """acme's describe-instances with each instance's private address and subnet (top level and its
    interface) as `placed` says: {instance id: (address, subnet id)}; `ipv6` adds an address to an interface."""
    document = json.loads((ACME / "ec2-describe-instances.json").read_text())
    for reservation in document["Reservations"]:
        for instance in reservation["Instances"]:
            address, subnet = placed[instance["InstanceId"]]
            name = f"ip-{address.replace('.', '-')}.eu-west-1.compute.internal"
            instance.update(PrivateIpAddress=address, SubnetId=subnet, PrivateDnsName=name)
            for eni in instance["NetworkInterfaces"]:
                eni.update(PrivateIpAddress=address, SubnetId=subnet, PrivateDnsName=name,
                           PrivateIpAddresses=[{"PrivateDnsName": name, "PrivateIpAddress": address, "Primary": True}])
                if ipv6 and instance["InstanceId"] in ipv6:
                    eni["Ipv6Addresses"] = [{"Ipv6Address": ipv6[instance["InstanceId"]], "IsPrimaryIpv6": False}]
    return write_json(path, document)


def subnets(path: Path, listed: dict[str, str], ipv6: dict[str, list[tuple[str, str]]] | None = None) -> Path:
    """A describe-subnets file listing {subnet id: CIDR}, each record shaped like cloudmapper's first subnet;
    `ipv6` gives a subnet IPv6 blocks as (CIDR, association state)."""
    template = json.loads((AWS / "ec2-describe-subnets.json").read_text())["Subnets"][0]
    records = []
    for subnet_id, cidr in listed.items():
        record = copy.deepcopy(template)
        record.update(SubnetId=subnet_id, CidrBlock=cidr, VpcId=VPC, AvailabilityZone="eu-west-1a")
        record["Ipv6CidrBlockAssociationSet"] = [
            {"AssociationId": f"subnet-cidr-assoc-{n}", "Ipv6CidrBlock": block, "Ipv6CidrBlockState": {"State": state}}
            for n, (block, state) in enumerate((ipv6 or {}).get(subnet_id, []))]
        records.append(record)
    return write_json(path, {"Subnets": records})


def scan(path: Path, ports: dict[str, tuple[str, int, str]]) -> Path:
    """An nmap scan finding one open port on each address: what makes a host reachable at all."""
    return nmap_xml(path, [{"ip": address, "ports": [port]} for address, port in ports.items()])


def asset_id(store, cloud_id: str) -> str:
    rows = store.read("MATCH (:Identifier {key: $key})-[:IDENTIFIES]->(a:Asset) RETURN a.id AS id",
                      key=f"cloud_id:{cloud_id}")
    assert len(rows) == 1, rows
    return rows[0]["id"]


def subnet_of(store, address: str) -> list[str]:
    return [row["cidr"] for row in store.read(
        "MATCH (:IPAddress {address: $address})-[:IN]->(net:Subnet) RETURN net.cidr AS cidr ORDER BY cidr",
        address=address)]


def reached_from(settings, origin: str) -> dict[str, tuple[str, ...]]:
    """{host name: ports} the product's reachability answer gives within one hop."""
    async def ask():
        driver = connect_async(settings)
        try:
            return await reachable(GraphReader(driver), origin, 1)
        finally:
            await driver.close()
    return {r.name: r.ports for r in asyncio.run(ask())}


# ------------------------------------------------------------------ where the addresses go

def test_instances_of_one_20_in_two_24s_reach_each_other(store, settings, tmp_path):
    described = instances(tmp_path / "instances.json", {
        BASTION: ("10.20.16.10", PUBLIC), APP: ("10.20.1.20", WIDE), DB: ("10.20.2.30", WIDE)})
    listed = subnets(tmp_path / "subnets.json", {PUBLIC: "10.20.16.0/28", WIDE: "10.20.0.0/20"})
    summary = ingest_files(store, "aws", [described, listed], settings)
    assert (summary.created, summary.unplaced) == (3, 0)
    assert subnet_of(store, "10.20.1.20") == subnet_of(store, "10.20.2.30") == ["10.20.0.0/20"]
    assert subnet_of(store, "10.20.16.10") == ["10.20.16.0/28"]
    assert subnet_of(store, "203.0.113.10") == []       # a public address: the cloud maps it onto the private one
    assert store.read("MATCH (net:Subnet {cidr: '10.20.0.0/20'}) RETURN net.cloud_id AS id, net.listed AS listed"
                      ) == [{"id": WIDE, "listed": True}]
    ingest_files(store, "nmap", [scan(tmp_path / "scan.xml", {
        "10.20.1.20": ("tcp", 8080, "http"), "10.20.2.30": ("tcp", 5432, "postgresql"),
        "10.20.16.10": ("tcp", 22, "ssh")})], settings)
    # the scan joins the instances by address and, placing no address itself, moves none back to a /24
    assert subnet_of(store, "10.20.1.20") == ["10.20.0.0/20"]
    app, db, bastion = (asset_id(store, i) for i in (APP, DB, BASTION))
    assert reached_from(settings, app) == {"db-01": ("tcp/5432",)}
    assert reached_from(settings, db) == {"app-01": ("tcp/8080",)}
    assert reached_from(settings, bastion) == {}


@pytest.mark.parametrize("scan_first", [False, True])
def test_two_28s_inside_one_24_do_not_reach_each_other(store, settings, tmp_path, scan_first):
    described = instances(tmp_path / "instances.json", {
        BASTION: ("10.20.16.10", PUBLIC), APP: ("10.20.1.20", LOW), DB: ("10.20.1.40", HIGH)})
    listed = subnets(tmp_path / "subnets.json", {
        PUBLIC: "10.20.16.0/28", LOW: "10.20.1.16/28", HIGH: "10.20.1.32/28"})
    scanned = scan(tmp_path / "scan.xml", {"10.20.1.20": ("tcp", 8080, "http"),
                                           "10.20.1.40": ("tcp", 5432, "postgresql")})
    if scan_first:      # the scan puts both in 10.20.1.0/24 (it knows no subnets); AWS then says where they are
        ingest_files(store, "nmap", [scanned], settings)
        assert subnet_of(store, "10.20.1.20") == subnet_of(store, "10.20.1.40") == ["10.20.1.0/24"]
    ingest_files(store, "aws", [described, listed], settings)
    if not scan_first:
        ingest_files(store, "nmap", [scanned], settings)
    assert subnet_of(store, "10.20.1.20") == ["10.20.1.16/28"]
    assert subnet_of(store, "10.20.1.40") == ["10.20.1.32/28"]
    assert reached_from(settings, asset_id(store, APP)) == {}
    assert reached_from(settings, asset_id(store, DB)) == {}


def test_an_ipv6_address_goes_in_the_subnets_associated_ipv6_block(store, settings, tmp_path):
    described = instances(tmp_path / "instances.json", {
        BASTION: ("10.20.16.10", PUBLIC), APP: ("10.20.1.20", WIDE), DB: ("10.20.2.30", WIDE)},
        ipv6={APP: "2a05:d018:abc:120::20", DB: "2a05:d018:abc:1f0::30"})
    listed = subnets(tmp_path / "subnets.json", {PUBLIC: "10.20.16.0/28", WIDE: "10.20.0.0/20"},
                     ipv6={WIDE: [("2a05:d018:abc:100::/56", "associated"), ("2a05:d018:def::/56", "disassociated")]})
    ingest_files(store, "aws", [listed, described], settings)
    assert subnet_of(store, "2a05:d018:abc:120::20") == subnet_of(store, "2a05:d018:abc:1f0::30") == [
        "2a05:d018:abc:100::/56"]


def test_an_instance_in_a_subnet_no_file_lists_keeps_its_24_and_is_counted(store, settings, tmp_path):
    described = instances(tmp_path / "instances.json", {
        BASTION: ("10.20.16.10", PUBLIC), APP: ("10.20.1.20", WIDE), DB: ("10.20.2.30", LOW)})
    listed = subnets(tmp_path / "subnets.json", {PUBLIC: "10.20.16.0/28", WIDE: "10.20.0.0/20"})
    summary = ingest_files(store, "aws", [described, listed], settings)
    assert summary.unplaced == 1                     # db-01's 10.20.2.30: describe-subnets does not list LOW
    assert subnet_of(store, "10.20.2.30") == ["10.20.2.0/24"]
    assert subnet_of(store, "10.20.1.20") == ["10.20.0.0/20"]
    assert store.read("MATCH (r:IngestRun {id: $id}) RETURN r.unplaced AS unplaced", id=summary.run_id) == [
        {"unplaced": 1}]


def test_a_later_run_without_the_subnets_file_keeps_the_stored_subnet(store, settings, tmp_path):
    placed = {BASTION: ("10.20.16.10", PUBLIC), APP: ("10.20.1.20", WIDE), DB: ("10.20.2.30", WIDE)}
    described = instances(tmp_path / "instances.json", placed)
    ingest_files(store, "aws", [described, subnets(tmp_path / "subnets.json", {
        PUBLIC: "10.20.16.0/28", WIDE: "10.20.0.0/20"})], settings)
    again = ingest_files(store, "aws", [described], settings)
    assert again.unplaced == 3                       # counted: this run's files did not say where they are
    assert subnet_of(store, "10.20.1.20") == subnet_of(store, "10.20.2.30") == ["10.20.0.0/20"]
    assert subnet_of(store, "10.20.16.10") == ["10.20.16.0/28"]
    # an address whose record names another subnet than the stored one leaves it, for its /24
    moved = instances(tmp_path / "moved.json", {**placed, DB: ("10.20.2.30", LOW)})
    ingest_files(store, "aws", [moved], settings)
    assert subnet_of(store, "10.20.2.30") == ["10.20.2.0/24"]
    assert subnet_of(store, "10.20.1.20") == ["10.20.0.0/20"]


@pytest.mark.parametrize("batch_rows", [None, 2])       # 2: streamed, placed as the hosts are read again
def test_a_scanned_address_goes_in_the_smallest_listed_subnet_holding_it(store, settings, tmp_path, batch_rows):
    settings = dataclasses.replace(settings, ingest_batch_rows=batch_rows or settings.ingest_batch_rows)
    described = instances(tmp_path / "instances.json", {     # a /28 inside the /20 (another VPC's, say)
        BASTION: ("10.20.1.10", PUBLIC), APP: ("10.20.1.20", WIDE), DB: ("10.20.2.30", WIDE)})
    ingest_files(store, "aws", [described, subnets(tmp_path / "subnets.json", {
        PUBLIC: "10.20.1.0/28", WIDE: "10.20.0.0/20"})], settings)
    # addresses no instance record holds (a database's interface, a container): the scan finds them
    summary = ingest_files(store, "nmap", [scan(tmp_path / "scan.xml", {
        "10.20.1.20": ("tcp", 8080, "http"), "10.20.9.9": ("tcp", 5432, "postgresql"),
        "10.20.1.5": ("tcp", 22, "ssh"), "10.20.1.16": ("tcp", 22, "ssh"), "10.20.16.1": ("tcp", 22, "ssh"),
        "10.99.0.1": ("tcp", 22, "ssh")})], settings)
    assert (summary.batches_total > 1) == bool(batch_rows)
    assert subnet_of(store, "10.20.9.9") == ["10.20.0.0/20"]
    assert subnet_of(store, "10.20.1.5") == ["10.20.1.0/28"]       # the /20 holds it too: the smaller wins
    assert subnet_of(store, "10.20.1.16") == ["10.20.0.0/20"]      # just past the /28
    assert subnet_of(store, "10.20.16.1") == ["10.20.16.0/24"]     # just past the /20: in no listed subnet
    assert subnet_of(store, "10.99.0.1") == ["10.99.0.0/24"]
    assert reached_from(settings, asset_id(store, APP)) == {"10.20.9.9": ("tcp/5432",), "10.20.1.16": ("tcp/22",)}


def test_a_public_address_scanned_before_or_after_stays_in_no_subnet(store, settings, tmp_path):
    outside = scan(tmp_path / "outside.xml", {"203.0.113.10": ("tcp", 22, "ssh"), "203.0.113.99": ("tcp", 443, "https")})
    ingest_files(store, "nmap", [outside], settings)
    assert subnet_of(store, "203.0.113.10") == ["203.0.113.0/24"]   # a scan alone cannot know: its /24
    described = instances(tmp_path / "instances.json", {
        BASTION: ("10.20.16.10", PUBLIC), APP: ("10.20.1.20", WIDE), DB: ("10.20.2.30", WIDE)})
    ingest_files(store, "aws", [described, subnets(tmp_path / "subnets.json", {
        PUBLIC: "10.20.16.0/28", WIDE: "10.20.0.0/20"})], settings)
    assert subnet_of(store, "203.0.113.10") == []                   # the bastion's public address
    ingest_files(store, "nmap", [outside], settings)                 # the next external scan does not undo it
    assert subnet_of(store, "203.0.113.10") == []
    assert subnet_of(store, "203.0.113.99") == ["203.0.113.0/24"]
    assert "203.0.113.99" not in reached_from(settings, asset_id(store, BASTION))


@pytest.mark.parametrize("batch_rows", [None, 6])       # 6: streamed, the hosts read again as they are written
def test_file_order_does_not_matter(store, settings, tmp_path, batch_rows):
    if batch_rows:
        settings = dataclasses.replace(settings, ingest_batch_rows=batch_rows, evaluate_findings=False)
    described = instances(tmp_path / "instances.json", {
        BASTION: ("10.20.16.10", PUBLIC), APP: ("10.20.1.20", LOW), DB: ("10.20.1.40", HIGH)})
    listed = subnets(tmp_path / "subnets.json", {
        PUBLIC: "10.20.16.0/28", LOW: "10.20.1.16/28", HIGH: "10.20.1.32/28"})
    placements = []
    for files in ([described, listed], [listed, described]):
        store.wipe()
        summary = ingest_files(store, "aws", files, settings)
        assert (summary.batches_total > 1) == bool(batch_rows)
        placements.append([subnet_of(store, a) for a in ("10.20.16.10", "10.20.1.20", "10.20.1.40")])
    assert placements[0] == placements[1] == [["10.20.16.0/28"], ["10.20.1.16/28"], ["10.20.1.32/28"]]


def test_interfaces_files_place_their_instances_too(store, settings, tmp_path):
    listed = subnets(tmp_path / "subnets.json", {PUBLIC: "10.20.0.0/22"})
    summary = ingest_files(store, "aws", [ACME / "ec2-describe-network-interfaces.json", listed], settings)
    assert summary.unplaced == 0
    assert subnet_of(store, "10.20.0.10") == ["10.20.0.0/22"]     # the bastion's attached interface
    assert subnet_of(store, "203.0.113.10") == []


# ------------------------------------------------------------------ input that cannot be right

@pytest.mark.parametrize("subnets_first", [False, True])
def test_a_subnet_that_does_not_hold_the_address_names_file_instance_and_field(store, settings, tmp_path,
                                                                               subnets_first):
    described = instances(tmp_path / "instances.json", {
        BASTION: ("10.20.16.10", PUBLIC), APP: ("10.20.1.20", LOW), DB: ("10.20.1.40", LOW)})
    listed = subnets(tmp_path / "subnets.json", {PUBLIC: "10.20.16.0/28", LOW: "10.20.1.16/28"})
    files = [listed, described] if subnets_first else [described, listed]
    with pytest.raises(IngestError) as caught:
        ingest_files(store, "aws", files, settings)
    assert str(caught.value).splitlines() == [
        f"instances.json Reservations[1].Instances[1] ({DB}), field 'Reservations[1].Instances[1].SubnetId': "
        f"10.20.1.40 is not in {LOW}, which subnets.json Subnets[1] ({LOW}) lists as 10.20.1.16/28"]
    assert store.read("MATCH (n) WHERE NOT n:Internet RETURN count(n) AS n") == [{"n": 0}]


def test_an_ipv6_address_in_a_subnet_listed_without_an_ipv6_block_is_refused(store, settings, tmp_path):
    described = instances(tmp_path / "instances.json", {
        BASTION: ("10.20.16.10", PUBLIC), APP: ("10.20.1.20", WIDE), DB: ("10.20.2.30", WIDE)},
        ipv6={APP: "2a05:d018:abc:120::20"})
    listed = subnets(tmp_path / "subnets.json", {PUBLIC: "10.20.16.0/28", WIDE: "10.20.0.0/20"},
                     ipv6={WIDE: [("2a05:d018:abc:100::/56", "disassociated")]})
    with pytest.raises(IngestError) as caught:
        ingest_files(store, "aws", [described, listed], settings)
    assert str(caught.value).splitlines() == [
        f"instances.json Reservations[1].Instances[0] ({APP}), field 'Reservations[1].Instances[0].SubnetId': "
        f"2a05:d018:abc:120::20 is not in {WIDE}, which subnets.json Subnets[1] ({WIDE}) lists as no IPv6 block"]


def test_one_subnet_listed_with_two_cidrs_is_refused(store, settings, tmp_path):
    first = subnets(tmp_path / "a.json", {WIDE: "10.20.0.0/20"})
    second = subnets(tmp_path / "b.json", {WIDE: "10.20.0.0/24"})
    with pytest.raises(IngestError) as caught:
        ingest_files(store, "aws", [first, second], settings)
    assert str(caught.value).splitlines() == [
        f"b.json Subnets[0] ({WIDE}), field 'CidrBlock': {WIDE} is 10.20.0.0/24 here but 10.20.0.0/20 at "
        f"a.json Subnets[0] ({WIDE})"]
    document = json.loads(first.read_text())
    document["Subnets"].append(document["Subnets"][0])
    with pytest.raises(IngestError) as caught:
        parse_batch(write_json(tmp_path / "twice.json", document), LIMIT)
    assert str(caught.value).splitlines() == [
        f"{tmp_path / 'twice.json'}, field 'Subnets[1].SubnetId': subnet {WIDE} already at twice.json Subnets[0] "
        f"({WIDE})"]


def test_each_interface_places_its_own_addresses_and_public_ones_in_none(tmp_path):
    document = json.loads((ACME / "ec2-describe-instances.json").read_text())
    bastion = document["Reservations"][0]["Instances"][0]
    second = copy.deepcopy(bastion["NetworkInterfaces"][0])
    second.update(NetworkInterfaceId="eni-0b5e7d1f3a2c49e09", MacAddress="06:1a:2b:3c:4d:09", SubnetId=LOW,
                  PrivateIpAddress="10.20.1.21", Association={"PublicIp": "203.0.113.11"},
                  PrivateIpAddresses=[{"PrivateIpAddress": "10.20.1.21", "Primary": True},
                                      {"PrivateIpAddress": "10.20.1.22", "Primary": False}],
                  Ipv6Addresses=[{"Ipv6Address": "2a05:d018:abc:120::21"}])
    second["Attachment"]["DeviceIndex"] = 1
    bastion["NetworkInterfaces"].append(second)
    host = parse_batch(write_json(tmp_path / "instances.json", document), LIMIT).hosts[0]
    assert [(p.subnet_id, p.addresses, p.field) for p in host.subnets] == [
        (PUBLIC, ("10.20.0.10",), "Reservations[0].Instances[0].SubnetId"),
        (LOW, ("10.20.1.21", "10.20.1.22", "2a05:d018:abc:120::21"),
         "Reservations[0].Instances[0].NetworkInterfaces[1].SubnetId")]


@pytest.mark.parametrize("unplaced, shown", [(0, False), (1, True)])
def test_the_cli_summary_says_how_many_addresses_no_subnet_listing_placed(capsys, unplaced, shown):
    summary = IngestSummary(source="aws", files=["instances.json"], unplaced=unplaced)
    _print_summary(summary, as_json=False)
    out = " ".join(capsys.readouterr().out.split())
    assert ("1 addresses in subnets no describe-subnets file of the run lists" in out) == shown
