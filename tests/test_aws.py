"""AWS CLI JSON ingest: cloudmapper's demo account (real CLI output), a small account written for these
tests (an internet-exposed bastion in front of an app server and a database), the IAM credential
report, and broken, hostile and wrong-format input."""
from __future__ import annotations

import asyncio
import base64
import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from graph.models import CredentialKind
from graph.schema import LifecycleStage
from graph.store import connect_async
from ingest.aws import WRONG_FORMAT, parse_batch
from ingest.errors import IngestError
from ingest.pipeline import ingest_files
from queries.catalog import GraphReader
from queries.findings import run_rule
from queries.host import reachable
from queries.rules import RULES
from tests.builders import hr_csv
from tests.conftest import FIXTURES, stored_times

AWS = FIXTURES / "aws"
ACME = AWS / "acme"
LIMIT = 8 * 1024 * 1024
CLOUDMAPPER = [AWS / f"{name}.json" for name in (
    "ec2-describe-instances", "ec2-describe-network-interfaces", "ec2-describe-security-groups",
    "ec2-describe-subnets", "ec2-describe-vpcs", "iam-get-credential-report")]
BASTION, APP, DB = "i-0b5e7d1f3a2c49e01", "i-0b5e7d1f3a2c49e02", "i-0b5e7d1f3a2c49e03"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def write_json(path: Path, document) -> Path:
    path.write_text(json.dumps(document, indent=2))
    return path


def asset_graph(store) -> dict[str, int]:
    """Counts of everything but the run log."""
    return {k: v for k, v in store.counts().items() if k != "IngestRun"}


def asset_id(store, cloud_id: str) -> str:
    rows = store.read("MATCH (:Identifier {key: $key})-[:IDENTIFIES]->(a:Asset) RETURN a.id AS id",
                      key=f"cloud_id:{cloud_id}")
    assert len(rows) == 1, rows
    return rows[0]["id"]


def ids(host) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ident in host.identifiers:
        out.setdefault(ident.kind.value, []).append(ident.value)
    return out


# ------------------------------------------------------------------ parser: cloudmapper samples

def test_describe_instances_become_hosts_with_cloud_facts():
    batch = parse_batch(AWS / "ec2-describe-instances.json", LIMIT)
    assert [ids(h)["cloud_id"] for h in batch.hosts] == [
        ["i-00000000000000000"], ["i-00000000000000001"], ["i-00000000000000002"]]
    assert batch.scopes == ["aws:123456789012:us-east-1"]
    assert all(h.scope == "aws:123456789012:us-east-1" for h in batch.hosts)
    bastion, web1, web2 = batch.hosts
    assert bastion.ips == ("10.0.0.1", "1.2.3.4")
    assert ids(bastion)["fqdn"] == ["ip-10-0-0-1.ec2.internal"] and ids(bastion)["hostname"] == ["ip-10-0-0-1"]
    assert ids(bastion)["ip"] == ["10.0.0.1", "1.2.3.4"]
    # The anonymised sample gives all three instances the same MAC: it identifies none of them.
    assert not any("mac" in ids(h) for h in batch.hosts)
    assert [h.security_groups for h in batch.hosts] == [("sg-00000002",), ("sg-00000004",), ("sg-00000004",)]
    props = bastion.properties
    assert (props.name, props.host_type, props.cloud_provider, props.cloud_account, props.cloud_region) == (
        "Bastion", "vm", "aws", "123456789012", "us-east-1")
    assert (props.cloud_state, props.lifecycle_stage, props.instance_type, props.vpc_id) == (
        "running", LifecycleStage.DEPLOYMENT, "t2.micro", "vpc-12345678")
    assert props.launched_at.isoformat() == "2017-12-01T00:00:00+00:00"
    assert props.imds_v2_required is None                       # no MetadataOptions in this record
    assert web1.properties.imds_v2_required is False            # HttpTokens "optional"
    assert web2.properties.cloud_region == "us-east-1"          # from us-east-1b
    assert bastion.owner is None and bastion.subnet is None
    assert bastion.record == "ec2-describe-instances.json Reservations[0].Instances[0] (i-00000000000000000)"


def test_security_groups_become_reach_rules():
    batch = parse_batch(AWS / "ec2-describe-security-groups.json", LIMIT)
    rules = {(r.target_group, r.ports, r.source_cidr, r.source_group) for r in batch.reach}
    assert len(batch.reach) == 11
    # group to group: Internal web takes 8000 from Public web and from Bastion
    assert ("sg-00000004", ("tcp/8000",), None, "sg-00000003") in rules
    assert ("sg-00000004", ("tcp/8000",), None, "sg-00000002") in rules
    # the internet
    assert ("sg-00000008", ("tcp/443",), "0.0.0.0/0", None) in rules
    assert ("sg-00000003", ("tcp/443",), "0.0.0.0/0", None) in rules
    # office CIDRs, canonicalised (2.2.2.2/28 is the network 2.2.2.0/28)
    assert ("sg-00000002", ("tcp/22",), "1.1.1.1/32", None) in rules
    assert ("sg-00000002", ("tcp/22",), "2.2.2.0/28", None) in rules
    # the default group: every protocol from itself
    assert ("sg-00000001", ("all",), None, "sg-00000001") in rules
    # egress rules are not reach
    assert not any(r.target_group == "sg-00000008" and r.ports == ("all",) for r in batch.reach)
    assert batch.reach[0].record == (
        "ec2-describe-security-groups.json SecurityGroups[0].IpPermissions[0].UserIdGroupPairs[0] (sg-00000008)")


def test_network_interfaces_not_attached_to_an_instance_are_skipped():
    batch = parse_batch(AWS / "ec2-describe-network-interfaces.json", LIMIT)   # an ECS task's interface
    assert (batch.hosts, batch.skipped, batch.scopes) == ([], 1, [])


def test_attached_interfaces_join_their_instance_with_every_group(tmp_path):
    document = load(AWS / "ec2-describe-network-interfaces.json")
    first = document["NetworkInterfaces"][0]
    first["Attachment"].update(InstanceId="i-00000000000000000", DeviceIndex=0, InstanceOwnerId="123456789012")
    second = json.loads(json.dumps(first))
    second.update(NetworkInterfaceId="eni-00000002", MacAddress="16:2f:d0:d6:ed:29", PrivateIpAddress="172.31.48.169",
                  PrivateIpAddresses=[{"Primary": True, "PrivateIpAddress": "172.31.48.169",
                                       "PrivateDnsName": "ip-172-31-48-169.ec2.internal"}],
                  Groups=[{"GroupId": "sg-00000005", "GroupName": "Database"}])
    second.pop("Association")
    second["Attachment"]["DeviceIndex"] = 1
    unattached = json.loads(json.dumps(second))
    unattached.update(NetworkInterfaceId="eni-00000003", Status="available")
    unattached.pop("Attachment")
    document["NetworkInterfaces"] += [second, unattached]
    batch = parse_batch(write_json(tmp_path / "enis.json", document), LIMIT)
    assert batch.skipped == 1 and batch.scopes == []
    [host] = batch.hosts
    assert ids(host)["cloud_id"] == ["i-00000000000000000"]
    assert ids(host)["mac"] == ["16:2f:d0:d6:ed:28", "16:2f:d0:d6:ed:29"]
    assert ids(host)["fqdn"] == ["ip-172-31-48-168.ec2.internal"]      # the primary interface's name only
    assert host.ips == ("172.31.48.168", "3.80.3.41", "172.31.48.169")
    assert host.security_groups == ("sg-00000008", "sg-00000005")
    assert host.properties.cloud_region == "us-east-1" and host.scope == "aws:123456789012:us-east-1"


def test_instance_groups_are_the_union_of_instance_and_interface_groups(tmp_path):
    document = load(AWS / "ec2-describe-instances.json")
    instance = document["Reservations"][0]["Instances"][0]
    extra = json.loads(json.dumps(instance["NetworkInterfaces"][0]))
    extra.update(NetworkInterfaceId="eni-00000009", MacAddress="0e:d7:00:00:00:09", PrivateIpAddress="10.0.0.9",
                 Groups=[{"GroupId": "sg-00000007", "GroupName": "Bastion access"}],
                 PrivateIpAddresses=[{"PrivateIpAddress": "10.0.0.9", "Primary": True}])
    extra.pop("Association")
    instance["NetworkInterfaces"].append(extra)
    instance["SecurityGroups"].append({"GroupId": "sg-00000006", "GroupName": "Endpoint"})
    batch = parse_batch(write_json(tmp_path / "instances.json", document), LIMIT)
    host = batch.hosts[0]
    assert host.security_groups == ("sg-00000002", "sg-00000007", "sg-00000006")
    assert ids(host)["mac"] == ["0e:d7:00:00:00:09"]        # the shared sample MAC is still dropped
    assert "10.0.0.9" in host.ips


def test_interfaces_aws_services_attached_are_skipped_and_counted(tmp_path):
    # load balancers, a NAT gateway, a VPC endpoint and Lambda: attached, but by a service, to no instance
    batch = parse_batch(ACME / "ec2-describe-network-interfaces.json", LIMIT)
    assert batch.skipped == 6 and batch.scopes == []                       # five services and a spare
    [bastion] = batch.hosts
    assert ids(bastion)["cloud_id"] == [BASTION] and bastion.security_groups == ("sg-bastion",)
    assert (bastion.properties.cloud_account, bastion.scope) == ("210987654321", "aws:210987654321:eu-west-1")
    # an instance's interface a service attached names the service: the account is the interface's owner
    document = load(ACME / "ec2-describe-network-interfaces.json")
    document["NetworkInterfaces"][0]["Attachment"]["InstanceOwnerId"] = "amazon-aws"
    [host] = parse_batch(write_json(tmp_path / "enis.json", document), LIMIT).hosts
    assert (host.properties.cloud_account, host.scope) == ("210987654321", "aws:210987654321:eu-west-1")


@pytest.mark.parametrize("owner, expected", [
    ("amazon elb", "'amazon elb' is neither an account id (12 digits) nor an AWS service ('amazon-...')"),
    ("21098765432", "'21098765432' is neither an account id (12 digits) nor an AWS service ('amazon-...')"),
    (210987654321, "expected a string, found a number"),
])
def test_a_malformed_instance_owner_is_still_refused(tmp_path, owner, expected):
    document = load(ACME / "ec2-describe-network-interfaces.json")
    document["NetworkInterfaces"][0]["Attachment"]["InstanceOwnerId"] = owner
    path = write_json(tmp_path / "enis.json", document)
    with pytest.raises(IngestError) as caught:
        parse_batch(path, LIMIT)
    assert str(caught.value).splitlines() == [
        f"{path}, field 'NetworkInterfaces[0].Attachment.InstanceOwnerId': {expected}"]
    # an interface no instance holds is skipped whatever service attached it
    document["NetworkInterfaces"][0]["Attachment"]["InstanceOwnerId"] = "210987654321"
    document["NetworkInterfaces"][2]["Attachment"]["InstanceOwnerId"] = owner
    batch = parse_batch(write_json(tmp_path / "service.json", document), LIMIT)
    assert (len(batch.hosts), batch.skipped) == (1, 6)


def test_a_page_of_instances_claims_no_scope(tmp_path):
    page = parse_batch(AWS / "ec2-describe-instances-page1.json", LIMIT)      # --max-items 3: NextToken
    assert page.scopes == []
    assert [h.scope for h in page.hosts] == ["aws:123456789012:us-east-1"] * 3   # each still in its scope
    document = load(AWS / "ec2-describe-instances-page1.json")
    for token in (None, ""):                       # no further page: the file is the whole region
        last = write_json(tmp_path / "last.json", {**document, "NextToken": token})
        assert parse_batch(last, LIMIT).scopes == ["aws:123456789012:us-east-1"]
    # interface and security-group files claim no scope anyway: a page of them reads as the whole file does
    for fixture in (ACME / "ec2-describe-network-interfaces.json", AWS / "ec2-describe-security-groups.json"):
        paged = parse_batch(write_json(tmp_path / fixture.name, {**load(fixture), "NextToken": "eyJ0b2tlbiI6IDF9"}),
                            LIMIT)
        whole = parse_batch(fixture, LIMIT)
        assert (paged.scopes, paged.skipped, [ids(h) for h in paged.hosts], [h.scope for h in paged.hosts]) == (
            [], whole.skipped, [ids(h) for h in whole.hosts], [h.scope for h in whole.hosts])
        assert [r.model_copy(update={"record": ""}) for r in paged.reach] == [
            r.model_copy(update={"record": ""}) for r in whole.reach]
    bad = write_json(tmp_path / "bad.json", {**document, "NextToken": 3})
    with pytest.raises(IngestError) as caught:
        parse_batch(bad, LIMIT)
    assert str(caught.value).splitlines() == [f"{bad}, field 'NextToken': expected a string, found a number"]


def test_subnets_and_vpcs_are_checked_but_make_no_assets(tmp_path):
    for name in ("ec2-describe-subnets.json", "ec2-describe-vpcs.json"):
        batch = parse_batch(AWS / name, LIMIT)
        assert (batch.hosts, batch.reach, batch.credentials, batch.skipped) == ([], [], [], 0)
    subnets = load(AWS / "ec2-describe-subnets.json")
    del subnets["Subnets"][1]["CidrBlock"]
    subnets["Subnets"][2]["CidrBlock"] = "10.0.2.0/33"
    with pytest.raises(IngestError) as caught:
        parse_batch(write_json(tmp_path / "subnets.json", subnets), LIMIT)
    assert str(caught.value).splitlines() == [
        f"{tmp_path / 'subnets.json'}, field 'Subnets[1].CidrBlock': missing",
        f"{tmp_path / 'subnets.json'}, field 'Subnets[2].CidrBlock': '10.0.2.0/33' is not a CIDR block"]


def test_credential_report_rows_become_password_and_access_key_credentials():
    batch = parse_batch(AWS / "iam-get-credential-report.json", LIMIT)   # Content stored decoded here
    found = {c.fingerprint: c for c in batch.credentials}
    assert sorted(found) == [
        "aws:arn:aws:iam::123456789012:root:access_key_1",
        "aws:arn:aws:iam::123456789012:root:password",
        "aws:arn:aws:iam::123456789012:user/auditor_tmp:access_key_1",
        "aws:arn:aws:iam::123456789012:user/auditor_tmp:password",
        "aws:arn:aws:iam::123456789012:user/user:access_key_1",
        "aws:arn:aws:iam::123456789012:user/user:access_key_2",
        "aws:arn:aws:iam::123456789012:user/user:password",
    ]
    root_key = found["aws:arn:aws:iam::123456789012:root:access_key_1"]
    assert (root_key.kind, root_key.active, root_key.issued_to_user, root_key.issued_to_email) == (
        CredentialKind.AWS_ACCESS_KEY, True, None, None)
    assert root_key.last_used.isoformat() == "2018-11-27T00:02:00+00:00"
    root_password = found["aws:arn:aws:iam::123456789012:root:password"]
    assert (root_password.kind, root_password.active, root_password.last_rotated) == (
        CredentialKind.AWS_PASSWORD, None, None)                               # not_supported
    auditor = found["aws:arn:aws:iam::123456789012:user/auditor_tmp:access_key_1"]
    assert (auditor.active, auditor.last_used, auditor.issued_to_user) == (True, None, "auditor_tmp")
    assert auditor.last_rotated.isoformat() == "2019-05-07T15:35:55+00:00"
    assert found["aws:arn:aws:iam::123456789012:user/auditor_tmp:password"].active is False
    assert found["aws:arn:aws:iam::123456789012:user/user:password"].active is True
    assert auditor.record == "iam-get-credential-report.json Content line 3"
    # nothing secret is in the report and nothing of that kind is carried
    assert not any(c.subject or c.serial_number for c in batch.credentials)


def test_base64_credential_report_links_by_email_or_user_name():
    batch = parse_batch(ACME / "iam-get-credential-report.json", LIMIT)
    rows = [(c.fingerprint.rsplit(":", 1)[1], c.issued_to_email, c.issued_to_user, c.active)
            for c in batch.credentials]
    assert rows == [
        ("password", None, None, None),                       # <root_account>: issued to nobody
        ("password", "ada@example.com", None, True),
        ("access_key_1", "ada@example.com", None, True),
        ("password", None, "grace", False),
        ("access_key_1", None, "grace", True),
        ("access_key_2", None, "grace", False),               # inactive but rotated once: it exists
    ]


def test_acme_account_parses():
    batch = parse_batch(ACME / "ec2-describe-instances.json", LIMIT)
    hosts = batch.hosts
    by_id = {ids(h)["cloud_id"][0]: h for h in hosts}
    assert by_id[BASTION].owner.email == "ada@example.com"          # tag Owner
    assert by_id[APP].owner.email == "grace@example.com"            # tag OwnerEmail
    assert by_id[DB].owner is None                                  # "Data Platform team" is no e-mail
    assert batch.skipped == 1                                       # ... so that owner is counted as skipped
    assert by_id[BASTION].ips == ("10.20.0.10", "203.0.113.10")
    assert ids(by_id[BASTION])["mac"] == ["06:1a:2b:3c:4d:01"]
    assert (by_id[BASTION].properties.imds_v2_required, by_id[DB].properties.imds_v2_required) == (True, False)
    assert by_id[DB].properties.os_name == "Linux/UNIX"
    rules = [(r.target_group, r.ports, r.source_cidr, r.source_group)
             for r in parse_batch(ACME / "ec2-describe-security-groups.json", LIMIT).reach]
    assert rules == [("sg-bastion", ("tcp/22",), "0.0.0.0/0", None),
                     ("sg-app", ("tcp/8080",), None, "sg-bastion"),
                     ("sg-db", ("tcp/5432",), None, "sg-app")]


def test_state_platform_and_zone_variants(tmp_path):
    document = load(ACME / "ec2-describe-instances.json")
    first, second = document["Reservations"][1]["Instances"]
    first["State"] = {"Code": 48, "Name": "terminated"}
    first["Placement"]["AvailabilityZone"] = "us-west-2-lax-1a"             # a local zone
    first.pop("MetadataOptions")
    first.pop("PlatformDetails")
    first["Platform"] = "windows"
    first["Tags"] = [{"Key": "Contact", "Value": "Ops@Example.com"}]
    second["State"] = {"Code": 80, "Name": "stopped"}
    batch = parse_batch(write_json(tmp_path / "instances.json", document), LIMIT)
    terminated, stopped = batch.hosts[1], batch.hosts[2]
    assert (terminated.properties.lifecycle_stage, terminated.properties.cloud_state) == (
        LifecycleStage.DECOMMISSIONED, "terminated")
    assert terminated.properties.decommissioned_on is None
    assert terminated.properties.cloud_region == "us-west-2"
    assert terminated.properties.imds_v2_required is None
    assert terminated.properties.os_name == "windows"
    assert terminated.properties.name == APP                               # no Name tag: the instance id
    assert terminated.owner.email == "ops@example.com"
    assert stopped.properties.lifecycle_stage == LifecycleStage.DEPLOYMENT
    assert batch.scopes == ["aws:210987654321:eu-west-1", "aws:210987654321:us-west-2"]


def test_an_owner_tag_that_is_no_email_is_counted_unless_another_gives_one(tmp_path):
    document = load(ACME / "ec2-describe-instances.json")
    bastion = document["Reservations"][0]["Instances"][0]
    bastion["Tags"] = [{"Key": "Owner", "Value": "platform-team"}, {"Key": "OwnerEmail", "Value": "ada@example.com"}]
    batch = parse_batch(write_json(tmp_path / "instances.json", document), LIMIT)
    assert batch.hosts[0].owner.email == "ada@example.com"
    assert batch.skipped == 1                                       # db-01's "Data Platform team" only
    bastion["Tags"] = [{"Key": "Owner", "Value": "platform-team"}]
    batch = parse_batch(write_json(tmp_path / "instances.json", document), LIMIT)
    assert (batch.hosts[0].owner, batch.skipped, len(batch.hosts)) == (None, 2, 3)   # no host is dropped


def test_rule_protocols_ports_and_sources(tmp_path):
    def perm(**extra):
        return {"IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": [], **extra}
    document = {"SecurityGroups": [{"GroupId": "sg-0123456789abcdef0", "GroupName": "edge", "IpPermissions": [
        perm(IpProtocol="tcp", FromPort=8000, ToPort=8080, IpRanges=[{"CidrIp": "10.1.0.0/16"}]),
        perm(IpProtocol="udp", FromPort=53, ToPort=53, Ipv6Ranges=[{"CidrIpv6": "::/0"}]),
        perm(IpProtocol="icmp", FromPort=8, ToPort=0, IpRanges=[{"CidrIp": "0.0.0.0/0"}]),
        perm(IpProtocol="tcp", FromPort=443, ToPort=443, PrefixListIds=[{"PrefixListId": "pl-6ea54007"}]),
        perm(IpProtocol="50", PrefixListIds=[], IpRanges=[{"CidrIp": "192.0.2.0/24"}]),
    ], "IpPermissionsEgress": []}]}
    batch = parse_batch(write_json(tmp_path / "groups.json", document), LIMIT)
    assert [(r.ports, r.source_cidr, r.source_group) for r in batch.reach] == [
        (("tcp/8000-8080",), "10.1.0.0/16", None),
        (("udp/53",), "::/0", None),
        (("icmp",), "0.0.0.0/0", None),
        (("tcp/443",), None, "prefix-list:pl-6ea54007"),
        (("proto/50",), "192.0.2.0/24", None),
    ]


# ------------------------------------------------------------------ parser: bad input

@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["Reservations"][0]["Instances"][1].pop("InstanceId"),
     "field 'Reservations[0].Instances[1].InstanceId': missing"),
    (lambda d: d["Reservations"][0]["Instances"][1].update(InstanceId=42),
     "field 'Reservations[0].Instances[1].InstanceId': expected a string, found a number"),
    (lambda d: d["Reservations"][0]["Instances"][2].update(InstanceId="'; MATCH (n) DETACH DELETE n //"),
     "field 'Reservations[0].Instances[2].InstanceId': \"'; MATCH (n) DETACH DELETE n //\" is not a valid InstanceId"),
    (lambda d: d["Reservations"][0]["Instances"][2].update(InstanceId="i-00000000000000000"),
     "field 'Reservations[0].Instances[2].InstanceId': "
     "instance i-00000000000000000 already at Reservations[0].Instances[0]"),
    (lambda d: d["Reservations"][0].update(Instances={}),
     "field 'Reservations[0].Instances': expected a list, found an object"),
    (lambda d: d["Reservations"][0].pop("OwnerId"), "field 'Reservations[0].OwnerId': missing"),
    (lambda d: d["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0].update(MacAddress="0e:d7"),
     "field 'Reservations[0].Instances[0].NetworkInterfaces[0].MacAddress': '0e:d7' is not a MAC address"),
    (lambda d: d["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]["PrivateIpAddresses"][0]
     ["Association"].update(PublicIp="1.2.3"),
     "field 'Reservations[0].Instances[0].NetworkInterfaces[0].PrivateIpAddresses[0].Association.PublicIp': "
     "'1.2.3' is not an IP address"),
    (lambda d: d["Reservations"][0]["Instances"][1].update(LaunchTime="yesterday"),
     "field 'Reservations[0].Instances[1].LaunchTime': 'yesterday' is not an ISO 8601 date and time"),
    (lambda d: d["Reservations"][0]["Instances"][1]["Placement"].update(AvailabilityZone="moon"),
     "field 'Reservations[0].Instances[1].Placement.AvailabilityZone': 'moon' is not an availability zone"),
    (lambda d: d["Reservations"][0]["Instances"][1]["SecurityGroups"][0].pop("GroupId"),
     "field 'Reservations[0].Instances[1].SecurityGroups[0].GroupId': missing"),
])
def test_bad_instance_names_the_json_path(tmp_path, mutate, expected):
    document = load(AWS / "ec2-describe-instances.json")
    mutate(document)
    path = write_json(tmp_path / "instances.json", document)
    with pytest.raises(IngestError) as caught:
        parse_batch(path, LIMIT)
    assert f"{path}, {expected}" in str(caught.value).splitlines()


def test_every_problem_is_reported_at_once(tmp_path):
    document = load(AWS / "ec2-describe-security-groups.json")
    document["SecurityGroups"][0]["IpPermissions"][0]["FromPort"] = "22"
    document["SecurityGroups"][3]["IpPermissions"][0]["IpRanges"] = [{"CidrIp": "everywhere"}]
    document["SecurityGroups"][5]["IpPermissions"][0]["IpProtocol"] = "carrier-pigeon"
    document["SecurityGroups"][6]["IpPermissions"][0]["ToPort"] = 70000
    path = write_json(tmp_path / "groups.json", document)
    with pytest.raises(IngestError) as caught:
        parse_batch(path, LIMIT)
    assert str(caught.value).splitlines() == [
        f"{path}, field 'SecurityGroups[0].IpPermissions[0].FromPort': expected a whole number, found a string",
        f"{path}, field 'SecurityGroups[3].IpPermissions[0].IpRanges[0].CidrIp': 'everywhere' is not a CIDR block",
        f"{path}, field 'SecurityGroups[5].IpPermissions[0].IpProtocol': 'carrier-pigeon' is not an IP protocol",
        f"{path}, field 'SecurityGroups[6].IpPermissions[0].FromPort': port range 22-70000 is not within 0-65535",
    ]


def test_bad_credential_reports(tmp_path):
    report = load(ACME / "iam-get-credential-report.json")
    bad_base64 = write_json(tmp_path / "b64.json", {**report, "Content": "not base64 at all!"})
    with pytest.raises(IngestError, match=r"b64.json, field 'Content': not base64"):
        parse_batch(bad_base64, LIMIT)
    text = base64.b64decode(report["Content"]).decode()
    lines = text.splitlines()
    lines[2] = lines[2].replace(",true,2025-11-20", ",maybe,2025-11-20")
    lines[3] = lines[3].replace("2024-03-01T09:10:00+00:00", "last spring")
    broken = write_json(tmp_path / "report.json",
                        {**report, "Content": base64.b64encode("\n".join(lines).encode()).decode()})
    with pytest.raises(IngestError) as caught:
        parse_batch(broken, LIMIT)
    assert str(caught.value).splitlines() == [
        f"{broken}: Content line 3, field 'password_enabled': 'maybe' is not true or false",
        f"{broken}: Content line 4, field 'access_key_1_last_rotated': 'last spring' is not an ISO 8601 date and time",
    ]
    ragged = write_json(tmp_path / "ragged.json", {**report, "Content": base64.b64encode(
        (lines[0] + "\n" + "someone,arn:aws:iam::210987654321:user/someone,true").encode()).decode()})
    with pytest.raises(IngestError, match=r"Content line 2: 3 fields where the header has 22"):
        parse_batch(ragged, LIMIT)
    other = write_json(tmp_path / "other.json", {**report, "ReportFormat": "text/html"})
    with pytest.raises(IngestError, match=r"field 'ReportFormat': expected 'text/csv'"):
        parse_batch(other, LIMIT)
    not_a_report = write_json(tmp_path / "notcsv.json", {**report, "Content": base64.b64encode(b"hello").decode()})
    with pytest.raises(IngestError, match=r"field 'Content': decoded report does not start with the header"):
        parse_batch(not_a_report, LIMIT)


def test_malformed_wrong_format_oversized_and_hostile_files(tmp_path):
    text = (AWS / "ec2-describe-instances.json").read_text()
    cut = tmp_path / "cut.json"
    cut.write_text(text[: len(text) // 2])
    with pytest.raises(IngestError) as caught:
        parse_batch(cut, LIMIT)
    assert str(caught.value).startswith(f"{cut} line ") and "malformed JSON: " in str(caught.value)
    for name, document in (("users.json", {"Users": []}), ("list.json", [1, 2]), ("null.json", None),
                           ("sbom.json", {"bomFormat": "CycloneDX", "specVersion": "1.4", "components": []})):
        with pytest.raises(IngestError) as caught:
            parse_batch(write_json(tmp_path / name, document), LIMIT)
        assert str(caught.value) == f"{tmp_path / name}: {WRONG_FORMAT}"
    xml = tmp_path / "scan.json"
    xml.write_text("<?xml version='1.0'?><nmaprun/>")
    with pytest.raises(IngestError, match="scan.json line 1: malformed JSON: Expecting value"):
        parse_batch(xml, LIMIT)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (LIMIT + 1))
    with pytest.raises(IngestError, match="over the limit"):
        parse_batch(big, LIMIT)
    deep = tmp_path / "deep.json"
    deep.write_text('{"Reservations": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(IngestError, match="nested too deeply"):
        parse_batch(deep, LIMIT)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b'{"Reservations": ["\xff\xfe"]}')
    with pytest.raises(IngestError, match="binary.json line 1: not UTF-8"):
        parse_batch(binary, LIMIT)
    with pytest.raises(IngestError, match="no such file"):
        parse_batch(tmp_path / "missing.json", LIMIT)


# ------------------------------------------------------------------ into the graph

def test_bastion_app_database_reachability(store, settings):
    summary = ingest_files(store, "aws", [ACME / "ec2-describe-instances.json",
                                          ACME / "ec2-describe-security-groups.json"], settings)
    assert (summary.created, summary.conflicts, summary.skipped) == (3, 0, 1)   # db-01's owner is no e-mail
    bastion, app, db = (asset_id(store, i) for i in (BASTION, APP, DB))
    rows = store.read("""
        MATCH (o)-[r:CAN_REACH]->(a:Asset)
        RETURN coalesce(o.id, o.cidr, o.name) AS origin, labels(o)[0] AS kind, a.name AS host, r.ports AS ports,
               r.basis AS basis ORDER BY host""")
    assert rows == [
        {"origin": "sg-bastion", "kind": "SecurityGroup", "host": "app-01", "ports": ["tcp/8080"],
         "basis": "security group sg-app"},
        {"origin": "internet", "kind": "Internet", "host": "bastion-01", "ports": ["tcp/22"],
         "basis": "security group sg-bastion"},
        {"origin": "sg-app", "kind": "SecurityGroup", "host": "db-01", "ports": ["tcp/5432"],
         "basis": "security group sg-db"},
    ]
    assert store.read("MATCH (:Internet)-[r:CAN_REACH]->(a:Asset {id: $id}) RETURN r.ports AS ports",
                      id=bastion) == [{"ports": ["tcp/22"]}]
    assert store.read("MATCH (:SecurityGroup {id: 'sg-bastion'})-[r:CAN_REACH {ports: ['tcp/8080']}]->(a:Asset) "
                      "RETURN a.id AS id", ) == [{"id": app}]
    facts = store.read("""
        MATCH (a:Asset {id: $id}) OPTIONAL MATCH (p:Person)-[:OWNS]->(a)
        RETURN a.cloud_region AS region, a.cloud_account AS account, a.instance_type AS type,
               a.imds_v2_required AS imds, a.lifecycle_stage AS stage, p.email AS owner,
               [(a)-[:IN]->(g:SecurityGroup) | g.id] AS groups""", id=bastion)
    assert facts == [{"region": "eu-west-1", "account": "210987654321", "type": "t3.micro", "imds": True,
                      "stage": "deployment", "owner": "ada@example.com", "groups": ["sg-bastion"]}]

    async def reach():
        driver = connect_async(settings)
        try:
            return await reachable(GraphReader(driver), bastion, 2)
        finally:
            await driver.close()
    found = {r.asset_id: (r.name, r.hops, r.ports) for r in asyncio.run(reach())}
    assert found[app] == ("app-01", 1, ("tcp/8080",))
    assert found[db] == ("db-01", 2, ("tcp/5432",))


@pytest.mark.parametrize("state, reached", [("running", True), ("stopped", True), ("shutting-down", False),
                                             ("terminated", False)])
def test_a_terminated_instance_reaches_nothing_and_is_reached_by_nothing(store, settings, tmp_path, state, reached):
    described = load(ACME / "ec2-describe-instances.json")
    for reservation in described["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["InstanceId"] == APP:
                instance["State"] = {"Code": 48, "Name": state}
    ingest_files(store, "aws", [write_json(tmp_path / "instances.json", described),
                                ACME / "ec2-describe-security-groups.json"], settings)
    bastion, app, db = (asset_id(store, i) for i in (BASTION, APP, DB))

    async def reach(origin):
        driver = connect_async(settings)
        try:
            return {r.asset_id for r in await reachable(GraphReader(driver), origin, 2)}
        finally:
            await driver.close()
    assert asyncio.run(reach(bastion)) == ({app, db} if reached else set())  # db only through the app
    assert asyncio.run(reach(app)) == ({db} if reached else set())


def test_reingesting_changes_nothing_and_a_missing_instance_goes_stale(store, settings, tmp_path):
    files = [ACME / "ec2-describe-instances.json", ACME / "ec2-describe-security-groups.json"]
    ingest_files(store, "aws", files, settings)
    before = asset_graph(store)
    again = ingest_files(store, "aws", files, settings)
    assert asset_graph(store) == before
    assert (again.created, again.updated, again.unchanged, again.retired) == (0, 0, 3, 0)
    document = load(ACME / "ec2-describe-instances.json")
    document["Reservations"][1]["Instances"].pop()                        # the database is gone
    later = ingest_files(store, "aws", [write_json(tmp_path / "instances.json", document)], settings)
    assert later.retired == 1
    rows = store.read("MATCH (a:Asset)-[s:SEEN_BY]->(:Source {name: 'aws'}) "
                      "RETURN a.name AS name, s.current AS current, s.scope AS scope ORDER BY name")
    assert rows == [{"name": "app-01", "current": True, "scope": "aws:210987654321:eu-west-1"},
                    {"name": "bastion-01", "current": True, "scope": "aws:210987654321:eu-west-1"},
                    {"name": "db-01", "current": False, "scope": "aws:210987654321:eu-west-1"}]


def test_interfaces_of_load_balancers_and_gateways_make_no_assets(store, settings):
    summary = ingest_files(store, "aws", [ACME / "ec2-describe-instances.json",
                                          ACME / "ec2-describe-network-interfaces.json"], settings)
    assert (summary.created, summary.conflicts, summary.skipped) == (3, 0, 1 + 6)   # db-01's owner, 6 interfaces
    assert store.counts()["Host"] == 3
    assert store.read("MATCH (i:Identifier) WHERE i.key IN $keys RETURN i.key AS key",
                      keys=["ip:10.20.0.40", "ip:203.0.113.40", "mac:0a:5c:11:22:33:01"]) == []


def test_a_page_of_instances_marks_nothing_stale(store, settings, tmp_path):
    ingest_files(store, "aws", [ACME / "ec2-describe-instances.json", ACME / "ec2-describe-security-groups.json"],
                 settings)
    before = asset_graph(store)
    reach = store.read("MATCH ()-[r:CAN_REACH]->(a:Asset) RETURN count(r) AS n")
    instances = load(ACME / "ec2-describe-instances.json")
    instances["Reservations"][1]["Instances"].pop()                       # db-01 is on the next page
    groups = load(ACME / "ec2-describe-security-groups.json")
    groups["SecurityGroups"] = groups["SecurityGroups"][:1]               # sg-bastion only
    token = {"NextToken": "eyJOZXh0VG9rZW4iOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAyfQ=="}
    page = ingest_files(store, "aws", [write_json(tmp_path / "instances.json", {**instances, **token}),
                                       write_json(tmp_path / "groups.json", {**groups, **token})], settings)
    assert (page.retired, page.scopes, page.unchanged) == (0, [], 2)
    assert asset_graph(store) == before
    assert store.read("MATCH ()-[r:CAN_REACH]->(a:Asset) RETURN count(r) AS n") == reach
    rows = store.read("MATCH (a:Asset)-[s:SEEN_BY]->(:Source {name: 'aws'}) "
                      "RETURN a.name AS name, s.current AS current, s.scope AS scope ORDER BY name")
    assert rows == [{"name": n, "current": True, "scope": "aws:210987654321:eu-west-1"}
                    for n in ("app-01", "bastion-01", "db-01")]
    # the same file without NextToken is the whole region: db-01 is gone
    whole = ingest_files(store, "aws", [write_json(tmp_path / "instances.json", instances)], settings)
    assert (whole.retired, whole.scopes) == (1, ["aws:210987654321:eu-west-1"])


def test_cloudmapper_account_in_one_run(store, settings):
    summary = ingest_files(store, "aws", CLOUDMAPPER, settings)
    assert (summary.created, summary.conflicts, summary.skipped) == (3 + 7, 0, 1)   # hosts + credentials
    counts = store.counts()
    assert (counts["Host"], counts["Credential"]) == (3, 7)
    rows = store.read("""
        MATCH (g:SecurityGroup {id: 'sg-00000002'})-[r:CAN_REACH]->(a:Asset)
        RETURN a.name AS host, r.ports AS ports ORDER BY host""")
    assert rows == [{"host": "Web1", "ports": ["tcp/8000"]}, {"host": "Web2", "ports": ["tcp/8000"]}]
    assert store.read("MATCH (n:Subnet)-[r:CAN_REACH]->(a:Asset) RETURN n.cidr AS cidr, a.name AS host, "
                      "r.ports AS ports ORDER BY cidr") == [
        {"cidr": "1.1.1.1/32", "host": "Bastion", "ports": ["tcp/22"]},
        {"cidr": "2.2.2.0/28", "host": "Bastion", "ports": ["tcp/22"]}]


def test_a_credentials_times_are_stored_as_the_report_gives_them(store, settings):
    report = AWS / "iam-get-credential-report.json"
    ingest_files(store, "aws", [report], settings)
    names = ("last_used", "last_rotated")
    parsed = {c.fingerprint: {name: getattr(c, name) for name in names}
              for c in parse_batch(report, LIMIT).credentials}
    assert any(t["last_used"] for t in parsed.values()) and any(t["last_rotated"] for t in parsed.values())
    assert stored_times(store, names) == parsed


def test_credential_report_is_issued_to_people(store, settings, tmp_path):
    hr = hr_csv(tmp_path / "hr.csv", "ada@example.com,Ada Lovelace,E1,Engineering,,2020-01-01,",
                "grace@example.com,Grace Hopper,E2,Engineering,ada@example.com,2021-01-01,")
    ingest_files(store, "hr", [hr], settings)
    report = ACME / "iam-get-credential-report.json"
    first = ingest_files(store, "aws", [report], settings)
    assert (first.created, first.unmatched) == (6, 0)
    rows = store.read("""
        MATCH (c:Credential) OPTIONAL MATCH (c)-[:ISSUED_TO]->(p:Person)
        RETURN c.fingerprint AS fingerprint, c.kind AS kind, c.active AS active, p.email AS person
        ORDER BY fingerprint""")
    assert rows == [
        {"fingerprint": "aws:arn:aws:iam::210987654321:root:password", "kind": "aws_password", "active": None,
         "person": None},
        {"fingerprint": "aws:arn:aws:iam::210987654321:user/ada@example.com:access_key_1",
         "kind": "aws_access_key", "active": True, "person": "ada@example.com"},
        {"fingerprint": "aws:arn:aws:iam::210987654321:user/ada@example.com:password",
         "kind": "aws_password", "active": True, "person": "ada@example.com"},
        {"fingerprint": "aws:arn:aws:iam::210987654321:user/grace:access_key_1",
         "kind": "aws_access_key", "active": True, "person": "grace@example.com"},
        {"fingerprint": "aws:arn:aws:iam::210987654321:user/grace:access_key_2",
         "kind": "aws_access_key", "active": False, "person": "grace@example.com"},
        {"fingerprint": "aws:arn:aws:iam::210987654321:user/grace:password",
         "kind": "aws_password", "active": False, "person": "grace@example.com"},
    ]
    assert store.read("MATCH (p:Person) RETURN count(p) AS n") == [{"n": 2}]     # nobody made up
    before = asset_graph(store)
    again = ingest_files(store, "aws", [report], settings)
    assert asset_graph(store) == before
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)


def test_bad_input_leaves_the_graph_unchanged(store, settings, tmp_path):
    ingest_files(store, "aws", [ACME / "ec2-describe-instances.json"], settings)
    before = asset_graph(store)
    groups = load(ACME / "ec2-describe-security-groups.json")
    groups["SecurityGroups"][2]["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] = 7
    bad_groups = write_json(tmp_path / "groups.json", groups)
    report = load(ACME / "iam-get-credential-report.json")
    bad_report = write_json(tmp_path / "report.json", {**report, "Content": report["Content"][:-7] + "!"})
    cut = tmp_path / "cut.json"
    cut.write_text((ACME / "ec2-describe-instances.json").read_text()[:5000])
    cases = [
        ([ACME / "ec2-describe-security-groups.json", bad_groups],
         "field 'SecurityGroups[2].IpPermissions[0].UserIdGroupPairs[0].GroupId': expected a string, found a number"),
        ([bad_report], "field 'Content': not base64"),
        ([ACME / "ec2-describe-security-groups.json", cut], "cut.json line"),
        ([write_json(tmp_path / "other.json", {"Buckets": []})], WRONG_FORMAT),
    ]
    for files, message in cases:
        with pytest.raises(IngestError) as caught:
            ingest_files(store, "aws", files, settings)
        assert message in str(caught.value)
        assert asset_graph(store) == before


def test_a_rotated_key_the_report_calls_unused_loses_its_predecessors_last_use(store, settings, tmp_path):
    hr = hr_csv(tmp_path / "hr.csv", "grace@example.com,Grace Hopper,E2,Engineering,,2021-01-01,2025-11-30")
    ingest_files(store, "aws", [ACME / "iam-get-credential-report.json"], settings)
    ingest_files(store, "hr", [hr], settings)
    key = "aws:arn:aws:iam::210987654321:user/grace:access_key_1"
    names = ("last_used", "last_rotated")
    assert stored_times(store, names)[key] == {"last_used": datetime(2025, 11, 18, 11, 45, tzinfo=timezone.utc),
                                               "last_rotated": datetime(2024, 3, 1, 9, 10, tzinfo=timezone.utc)}
    report = load(ACME / "iam-get-credential-report.json")
    text = base64.b64decode(report["Content"]).decode()
    used = "true,2024-03-01T09:10:00+00:00,2025-11-18T11:45:00+00:00,eu-west-1,s3,"
    assert text.count(used) == 1
    rotated = write_json(tmp_path / "rotated.json", {**report, "Content": base64.b64encode(
        text.replace(used, "true,2025-12-01T08:00:00+00:00,N/A,N/A,N/A,").encode()).decode()})
    ingest_files(store, "aws", [rotated], settings)
    times = stored_times(store, names)
    assert times[key] == {"last_used": None, "last_rotated": datetime(2025, 12, 1, 8, tzinfo=timezone.utc)}
    # the slots the report did not change keep their times
    assert times["aws:arn:aws:iam::210987654321:user/grace:access_key_2"]["last_used"] == datetime(
        2024, 10, 1, 9, tzinfo=timezone.utc)
    orphaned = {f.identity[0]: f.evidence for f in run_rule(store, RULES["orphaned-credential"], date(2025, 12, 2))}
    assert orphaned[key][-1] == "never used"
