"""AWS CLI JSON: EC2 instances, network interfaces, security groups (and subnets/VPCs checked only),
and the IAM credential report. One file per call, recognised by its shape:

- `aws ec2 describe-instances` (`Reservations[].Instances[]`): one `Host` per instance, identified
  by its instance id (cloud_id), the MACs of its network interfaces, its private DNS name
  (fqdn + hostname) and every private and public address. Its security groups are the union of
  the instance's `SecurityGroups` and every interface's `Groups` (reachability is per interface).
  A file covers its account and region completely: scope `aws:<account>:<region>`, unless it is one
  page of several (a top-level `NextToken`, as `--max-items` or `--no-paginate` print it): a page
  claims no scope, so its instances are written and nothing goes stale (the pages after it hold the rest).
  An owner tag (`Owner`, `OwnerEmail`, `Contact` ...) links the person by e-mail; an instance whose owner
  tags hold no e-mail (a team name) gets no owner, and that owner is counted as skipped.
  A MAC that two instances of one file share (anonymised samples do this) identifies neither:
  it is dropped from both rather than merging two machines.
- `aws ec2 describe-network-interfaces`: the interfaces attached to an instance, gathered per
  instance into one observation (cloud_id, MACs, addresses, groups) so interface-level groups join
  the instance. Interfaces not attached to an instance are skipped and counted: unattached ones and
  those AWS services manage (load balancers, NAT gateways, VPC endpoints, Lambda, ECS tasks), whose
  attachment has no `InstanceId` and as `InstanceOwnerId` the service ('amazon-elb', 'amazon-aws') or its account.
- Interface and security-group files claim no scope, so a page of them (`NextToken`) is read as it is:
  each group listed replaces its own rules, groups not listed keep theirs.
- `aws ec2 describe-security-groups`: one `ReachRule` per ingress permission and source: CIDRs
  (IPv4 and IPv6; any CIDR holding a public address means the internet, see graph/networks.py), source groups (group-to-group), and
  managed prefix lists, which become a rule with no CIDR and the pseudo group
  `prefix-list:<pl-id>` as source (the prefix list's CIDRs are not in this file).
  Egress rules are not read: reachability is about who can get in.
- `aws ec2 describe-subnets`: each subnet's id and CIDR blocks (`CidrBlock`, and the associated blocks of
  `Ipv6CidrBlockAssociationSet`). Nothing becomes an asset: the run puts the private addresses of every
  instance whose record (or interface) names the subnet (`SubnetId`) in that subnet, whatever order the files
  come in (ingest/pipeline.py `CloudSubnets`). A subnet no subnets file of the run lists leaves its addresses in
  the subnet an earlier run stored for them, else in their /24 (IPv6: /64), counted as `unplaced`; a listed
  subnet whose CIDR does not hold an address placed in it fails the run. Public addresses are in no subnet
  (ingest/writer.py `_subnet_for`), and an address another source reports that no record places goes in the
  smallest listed subnet holding it.
- `aws ec2 describe-vpcs`: validated, nothing becomes an asset.
- `aws iam get-credential-report` (`Content` = base64 of the CSV report; an already decoded CSV,
  as some collectors store it, is accepted too): per user one `aws_password` credential and one
  `aws_access_key` per key slot in use. The report holds no secrets (no passwords, no secret
  access keys, not even access key ids), so none can be stored.

Every problem names the JSON path of the record and field, e.g.
`field 'Reservations[0].Instances[1].InstanceId'`, or `Content line N, field 'x'` in the report.
"""
from __future__ import annotations

import base64
import binascii
import csv
import io
import ipaddress
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from graph.identifiers import canonical_ip, canonical_mac
from graph.models import (AssetProperties, Batch, CloudSubnet, CredentialKind, CredentialObservation,
                          CredentialTime, HostObservation, HostType, Identifier, OwnerRef, ReachRule, SubnetPlacement,
                          check_email)
from graph.schema import IdentifierKind, LifecycleStage
from ingest.dates import file_observed_at
from ingest.errors import IngestError, ProblemList, load_json
from ingest.jsonfile import JsonFields, json_kind, parse_moment
from ingest.hostnames import host_name_identifiers

SOURCE = "aws"

WRONG_FORMAT = ("not an AWS CLI describe-instances/-network-interfaces/-security-groups/-subnets/-vpcs "
                "or IAM credential report JSON")

STATE_STAGES = {
    "pending": LifecycleStage.DEPLOYMENT, "running": LifecycleStage.DEPLOYMENT,
    "stopping": LifecycleStage.DEPLOYMENT, "stopped": LifecycleStage.DEPLOYMENT,
    "shutting-down": LifecycleStage.DECOMMISSIONED, "terminated": LifecycleStage.DECOMMISSIONED,
}
OWNER_TAGS = ("Owner", "owner", "OwnerEmail", "owner_email", "Contact")

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,32}$")
_GROUP_ID = re.compile(r"^sg-[0-9A-Za-z_-]{1,64}$")
_PREFIX_LIST_ID = re.compile(r"^pl-[0-9A-Za-z_-]{1,64}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9A-Za-z_-]{1,64}$")
_VPC_ID = re.compile(r"^vpc-[0-9A-Za-z_-]{1,64}$")
_ENI_ID = re.compile(r"^eni-[0-9A-Za-z_-]{1,64}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_SERVICE = re.compile(r"^amazon(?:-[a-z0-9]+)*$")     # an AWS service as owner: amazon-elb, amazon-aws, ...
# us-east-1a -> us-east-1; local and wavelength zones (us-west-2-lax-1a) belong to their parent region.
_REGION_OF_ZONE = re.compile(r"^([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+)(?:[a-z]|-.+)$")
_PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}

def _ip(reader: JsonFields, obj: dict, key: str, path: str) -> str | None:
    return reader.check(obj, key, path, canonical_ip)


def _cidr(reader: JsonFields, obj: dict, key: str, path: str, required: bool = False) -> str | None:
    return reader.check(obj, key, path, _network, required)


def _network(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError(f"{text[:80]!r} is not a CIDR block") from None


def parse_batch(path: Path, limit_bytes: int) -> Batch:
    """The registry's entry point: one AWS CLI JSON file, recognised by its shape."""
    document = load_json(path, limit_bytes)
    if not isinstance(document, dict):
        raise IngestError.one(path, WRONG_FORMAT)
    problems = ProblemList(path)
    reader = JsonFields(problems)
    # one page of several (--max-items, --no-paginate): the pages after it hold the rest
    more_pages = reader.text(document, "NextToken", "") is not None
    if "Reservations" in document:
        batch = _instances(path, document, reader, complete=not more_pages)
    elif "NetworkInterfaces" in document:
        batch = _interfaces(path, document, reader)
    elif "SecurityGroups" in document:
        batch = _security_groups(path, document, reader)
    elif "Subnets" in document:
        batch = _subnets(path, document, reader)
    elif "Vpcs" in document:
        batch = _vpcs(document, reader)
    elif "Content" in document and "ReportFormat" in document:
        batch = _credential_report(path, document, problems)
    else:
        raise IngestError.one(path, WRONG_FORMAT)
    problems.raise_if_any()
    return batch


# ---------------------------------------------------------------- EC2 instances and interfaces

def _zone_region(reader: JsonFields, zone: str | None, where: str) -> str | None:
    if zone is None:
        return None
    match = _REGION_OF_ZONE.match(zone)
    if not match:
        reader.add(f"{zone[:80]!r} is not an availability zone", where)
        return None
    return match.group(1)


def _tags(reader: JsonFields, obj: dict, key: str, path: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for where, tag in reader.objects(obj, key, path):
        name = reader.get(tag, "Key", where, str, required=True)
        value = reader.get(tag, "Value", where, str)
        if name is not None:
            tags[name] = value or ""
    return tags


def _owner(tags: dict[str, str]) -> tuple[OwnerRef | None, bool]:
    """The first owner tag holding an e-mail address, and whether owner tags were given but none held
    one (Owner=platform-team): no person can be linked, so the caller counts that owner as skipped."""
    unusable = False
    for name in OWNER_TAGS:
        value = tags.get(name, "").strip()
        if value:
            try:
                return OwnerRef(email=check_email(value)), False
            except ValueError:
                unusable = True
    return None, unusable


def _names(reader: JsonFields, obj: dict, path: str) -> list[Identifier]:
    """fqdn + hostname identifiers from an interface's or instance's PrivateDnsName."""
    name = reader.text(obj, "PrivateDnsName", path)
    if name is None:
        return []
    try:
        return host_name_identifiers(name)
    except ValueError as exc:
        reader.add(str(exc), f"{path}.PrivateDnsName")
        return []


class _Interface:
    """What one network interface says about its instance: MAC, addresses, groups."""

    def __init__(self, reader: JsonFields, eni: dict, path: str):
        self.mac: str | None = None
        mac = reader.text(eni, "MacAddress", path)
        if mac is not None:
            try:
                self.mac = canonical_mac(mac)
            except ValueError as exc:
                reader.add(str(exc), f"{path}.MacAddress")
        self.ips: list[str] = []
        private: list[str] = []          # the addresses in its subnet (public ones are not)
        if address := _ip(reader, eni, "PrivateIpAddress", path):
            self.ips.append(address)
            private.append(address)
        association = reader.get(eni, "Association", path, dict)
        if association is not None and (public := _ip(reader, association, "PublicIp", f"{path}.Association")):
            self.ips.append(public)
        for where, item in reader.objects(eni, "PrivateIpAddresses", path):
            if address := _ip(reader, item, "PrivateIpAddress", where):
                self.ips.append(address)
                private.append(address)
            association = reader.get(item, "Association", where, dict)
            if association is not None and (public := _ip(reader, association, "PublicIp", f"{where}.Association")):
                self.ips.append(public)
        for where, item in reader.objects(eni, "Ipv6Addresses", path):
            if address := _ip(reader, item, "Ipv6Address", where):
                self.ips.append(address)
                private.append(address)
        self.subnet = _in_subnet(reader, eni, path, private)
        self.groups = [g for where, item in reader.objects(eni, "Groups", path)
                       if (g := reader.text(item, "GroupId", where, required=True, pattern=_GROUP_ID))]


def _in_subnet(reader: JsonFields, obj: dict, path: str, addresses: list[str]) -> SubnetPlacement | None:
    """The record's (or interface's) private addresses in the subnet its SubnetId names."""
    subnet_id = reader.text(obj, "SubnetId", path, pattern=_SUBNET_ID)
    if subnet_id is None or not addresses:
        return None
    return SubnetPlacement(subnet_id=subnet_id, addresses=tuple(dict.fromkeys(addresses)), field=f"{path}.SubnetId")


def _placements(found: list[SubnetPlacement | None]) -> tuple[SubnetPlacement, ...]:
    """One placement per subnet (an instance names its primary interface's subnet, and so does the interface)."""
    merged: dict[str, SubnetPlacement] = {}
    for placement in filter(None, found):
        known = merged.setdefault(placement.subnet_id, placement)
        if known is not placement:
            addresses = tuple(dict.fromkeys(known.addresses + placement.addresses))
            merged[placement.subnet_id] = known.model_copy(update={"addresses": addresses})
    return tuple(merged.values())


def _scope(account: str | None, region: str | None) -> str | None:
    """What a describe-instances file covers completely: one account's instances in one region."""
    return f"aws:{account}:{region}" if account and region else None


def _instances(path: Path, document: dict, reader: JsonFields, complete: bool) -> Batch:
    """One host per instance. `complete`: the file is not one page of several, so it claims the scopes
    (account and region) of its instances; a page claims none, its hosts still carry their own."""
    at = file_observed_at(path)
    seen: dict[str, str] = {}
    drafts: list[dict] = []
    for rpath, reservation in reader.objects(document, "Reservations", "", required=True):
        account = reader.text(reservation, "OwnerId", rpath, required=True, pattern=_ACCOUNT)
        for ipath, instance in reader.objects(reservation, "Instances", rpath, required=True):
            draft = _instance(reader, instance, ipath, account)
            if draft is None:
                continue
            if draft["id"] in seen:
                reader.add(f"instance {draft['id']} already at {seen[draft['id']]}", f"{ipath}.InstanceId")
                continue
            seen[draft["id"]] = ipath
            drafts.append(draft)
    # A MAC on two instances of one file proves nothing (anonymised samples reuse one): drop it from both.
    mac_count: dict[str, int] = {}
    for draft in drafts:
        for mac in set(draft["macs"]):
            mac_count[mac] = mac_count.get(mac, 0) + 1
    hosts, scopes, skipped = [], [], 0
    for draft in drafts:
        macs = [m for m in draft["macs"] if mac_count[m] == 1]
        identifiers = [Identifier(kind=IdentifierKind.CLOUD_ID, value=draft["id"])]
        identifiers += [Identifier(kind=IdentifierKind.MAC, value=m) for m in macs]
        identifiers += draft["names"]
        identifiers += [Identifier(kind=IdentifierKind.IP, value=ip) for ip in draft["ips"]]
        props: AssetProperties = draft["properties"]
        scope = _scope(props.cloud_account, props.cloud_region)
        try:
            hosts.append(HostObservation(
                record=f"{path.name} {draft['path']} ({draft['id']})", observed_at=at,
                identifiers=tuple(dict.fromkeys(identifiers)), properties=props, owner=draft["owner"][0],
                ips=tuple(dict.fromkeys(draft["ips"])), security_groups=tuple(dict.fromkeys(draft["groups"])),
                subnets=draft["subnets"], scope=scope))
        except ValidationError as exc:
            reader.add(f"invalid instance: {exc.errors()[0]['msg']}", draft["path"])
            continue
        skipped += draft["owner"][1]
        if scope and complete:
            scopes.append(scope)
    return Batch(hosts=hosts, skipped=skipped, scopes=list(dict.fromkeys(scopes)))


def _instance(reader: JsonFields, instance: dict, path: str, account: str | None) -> dict | None:
    before = len(reader.problems.problems)
    instance_id = reader.text(instance, "InstanceId", path, required=True, pattern=_INSTANCE_ID)
    tags = _tags(reader, instance, "Tags", path)
    state = reader.get(instance, "State", path, dict)
    state_name = reader.text(state, "Name", f"{path}.State") if state is not None else None
    placement = reader.get(instance, "Placement", path, dict)
    zone = reader.text(placement, "AvailabilityZone", f"{path}.Placement") if placement is not None else None
    region = _zone_region(reader, zone, f"{path}.Placement.AvailabilityZone")
    metadata = reader.get(instance, "MetadataOptions", path, dict)
    tokens = reader.text(metadata, "HttpTokens", f"{path}.MetadataOptions") if metadata is not None else None
    private = _ip(reader, instance, "PrivateIpAddress", path)
    ips = [ip for ip in (private, _ip(reader, instance, "PublicIpAddress", path)) if ip]
    subnets = [_in_subnet(reader, instance, path, [private] if private else [])]
    macs, groups, names = [], [], _names(reader, instance, path)
    for epath, eni in reader.objects(instance, "NetworkInterfaces", path):
        interface = _Interface(reader, eni, epath)
        macs += [interface.mac] if interface.mac else []
        ips += interface.ips
        groups += interface.groups
        subnets.append(interface.subnet)
    groups += [g for gpath, item in reader.objects(instance, "SecurityGroups", path)
               if (g := reader.text(item, "GroupId", gpath, required=True, pattern=_GROUP_ID))]
    launched = reader.moment(instance, "LaunchTime", path)
    values: dict[str, Any] = dict(
        name=(tags.get("Name") or "").strip() or instance_id,
        host_type=HostType.VM, cloud_provider="aws", cloud_account=account, cloud_region=region,
        cloud_state=state_name, lifecycle_stage=STATE_STAGES.get(state_name) if state_name else None,
        instance_type=reader.text(instance, "InstanceType", path),
        vpc_id=reader.text(instance, "VpcId", path, pattern=_VPC_ID),
        imds_v2_required=None if tokens is None else tokens == "required",
        launched_at=launched,
        os_name=reader.text(instance, "PlatformDetails", path) or reader.text(instance, "Platform", path))
    if len(reader.problems.problems) > before or instance_id is None:
        return None
    try:
        properties = AssetProperties(**values)
    except ValidationError as exc:
        reader.add(f"invalid instance: {exc.errors()[0]['msg']}", path)
        return None
    return {"id": instance_id, "path": path, "macs": macs, "ips": ips, "groups": groups, "subnets": _placements(subnets),
            "names": names, "properties": properties, "owner": _owner(tags)}


def _instance_owner(text: str) -> str:
    """An attachment's InstanceOwnerId: an account id, or the AWS service that attached the interface."""
    if _ACCOUNT.match(text) or _SERVICE.match(text):
        return text
    raise ValueError(f"{text[:80]!r} is neither an account id (12 digits) nor an AWS service ('amazon-...')")


def _interfaces(path: Path, document: dict, reader: JsonFields) -> Batch:
    """Attached interfaces, gathered per instance: one observation carries all its interfaces' groups,
    so no interface's groups replace another's. The file covers no scope completely (it may be
    filtered, and interfaces come and go), so it marks nothing stale."""
    at = file_observed_at(path)
    per_instance: dict[str, dict] = {}
    skipped = 0
    for epath, eni in reader.objects(document, "NetworkInterfaces", "", required=True):
        before = len(reader.problems.problems)
        eni_id = reader.text(eni, "NetworkInterfaceId", epath, required=True, pattern=_ENI_ID)
        attachment = reader.get(eni, "Attachment", epath, dict)
        instance_id = (reader.text(attachment, "InstanceId", f"{epath}.Attachment", pattern=_INSTANCE_ID)
                       if attachment is not None else None)
        interface = _Interface(reader, eni, epath)
        index = reader.get(attachment, "DeviceIndex", f"{epath}.Attachment", int) if attachment is not None else None
        names = _names(reader, eni, epath) if index == 0 else []   # the primary interface's name is the host's
        zone = reader.text(eni, "AvailabilityZone", epath)
        region = _zone_region(reader, zone, f"{epath}.AvailabilityZone")
        vpc = reader.text(eni, "VpcId", epath, pattern=_VPC_ID)
        # only an instance's attachment is read: a service's names whatever it names (it is skipped below)
        owner = (reader.check(attachment, "InstanceOwnerId", f"{epath}.Attachment", _instance_owner)
                 if attachment is not None and instance_id is not None else None)
        # the instance's account; an interface a service attached names the service: the interface's account
        account = (owner if owner is not None and _ACCOUNT.match(owner)
                   else reader.text(eni, "OwnerId", epath, pattern=_ACCOUNT))
        if len(reader.problems.problems) > before:
            continue
        if instance_id is None:
            skipped += 1
            continue
        entry = per_instance.setdefault(instance_id, {
            "paths": [], "enis": [], "macs": [], "ips": [], "groups": [], "names": [], "subnets": [],
            "region": region, "vpc": vpc, "account": account})
        entry["paths"].append(epath)
        entry["enis"].append(eni_id)
        entry["macs"] += [interface.mac] if interface.mac else []
        entry["ips"] += interface.ips
        entry["groups"] += interface.groups
        entry["subnets"].append(interface.subnet)
        entry["names"] += [n for n in names if n not in entry["names"]]
    hosts = []
    for instance_id, entry in per_instance.items():
        identifiers = [Identifier(kind=IdentifierKind.CLOUD_ID, value=instance_id)]
        identifiers += [Identifier(kind=IdentifierKind.MAC, value=m) for m in entry["macs"]]
        identifiers += entry["names"]
        identifiers += [Identifier(kind=IdentifierKind.IP, value=ip) for ip in entry["ips"]]
        try:
            hosts.append(HostObservation(
                record=f"{path.name} {', '.join(entry['paths'])} ({', '.join(entry['enis'])} on {instance_id})",
                observed_at=at, identifiers=tuple(dict.fromkeys(identifiers)),
                properties=AssetProperties(cloud_provider="aws", cloud_account=entry["account"],
                                           cloud_region=entry["region"], vpc_id=entry["vpc"]),
                ips=tuple(dict.fromkeys(entry["ips"])), security_groups=tuple(dict.fromkeys(entry["groups"])),
                subnets=_placements(entry["subnets"]),
                # the scope the instance belongs to, so this sighting keeps it there; the file claims no scope
                scope=_scope(entry["account"], entry["region"])))
        except ValidationError as exc:
            reader.add(f"invalid interface: {exc.errors()[0]['msg']}", entry["paths"][0])
    return Batch(hosts=hosts, skipped=skipped)


# ---------------------------------------------------------------- security groups

def _ports(reader: JsonFields, permission: dict, path: str) -> tuple[str, ...] | None:
    protocol = reader.text(permission, "IpProtocol", path, required=True)
    if protocol is None:
        return None
    protocol = _PROTOCOL_NUMBERS.get(protocol.strip(), protocol.strip().lower())
    if protocol == "-1":
        return ("all",)
    if protocol in ("icmp", "icmpv6"):
        return (protocol,)
    if protocol in ("tcp", "udp"):
        low = reader.get(permission, "FromPort", path, int, required=True)
        high = reader.get(permission, "ToPort", path, int, required=True)
        if low is None or high is None:
            return None
        if low == -1 and high == -1:           # some tools print -1 for "every port"
            return (f"{protocol}/0-65535",)
        if not 0 <= low <= high <= 65535:
            reader.add(f"port range {low}-{high} is not within 0-65535", f"{path}.FromPort")
            return None
        return (f"{protocol}/{low}" if low == high else f"{protocol}/{low}-{high}",)
    if protocol.isdigit() and int(protocol) <= 255:
        return (f"proto/{int(protocol)}",)
    reader.add(f"{protocol[:40]!r} is not an IP protocol", f"{path}.IpProtocol")
    return None


def _security_groups(path: Path, document: dict, reader: JsonFields) -> Batch:
    rules: list[ReachRule] = []
    seen_groups: dict[str, str] = {}
    for gpath, group in reader.objects(document, "SecurityGroups", "", required=True):
        group_id = reader.text(group, "GroupId", gpath, required=True, pattern=_GROUP_ID)
        if group_id is not None:
            if group_id in seen_groups:
                reader.add(f"group {group_id} already at {seen_groups[group_id]}", f"{gpath}.GroupId")
            seen_groups.setdefault(group_id, gpath)
        for ppath, permission in reader.objects(group, "IpPermissions", gpath):
            ports = _ports(reader, permission, ppath)
            sources: list[tuple[str, str | None, str | None]] = []
            for where, item in reader.objects(permission, "IpRanges", ppath):
                if cidr := _cidr(reader, item, "CidrIp", where, required=True):
                    sources.append((where, cidr, None))
            for where, item in reader.objects(permission, "Ipv6Ranges", ppath):
                if cidr := _cidr(reader, item, "CidrIpv6", where, required=True):
                    sources.append((where, cidr, None))
            for where, item in reader.objects(permission, "UserIdGroupPairs", ppath):
                if source := reader.text(item, "GroupId", where, required=True, pattern=_GROUP_ID):
                    sources.append((where, None, source))
            for where, item in reader.objects(permission, "PrefixListIds", ppath):
                if prefix := reader.text(item, "PrefixListId", where, required=True, pattern=_PREFIX_LIST_ID):
                    sources.append((where, None, f"prefix-list:{prefix}"))
            if group_id is None or ports is None:
                continue
            for where, cidr, source in dict.fromkeys(sources):
                rules.append(ReachRule(record=f"{path.name} {where} ({group_id})", target_group=group_id,
                                       ports=ports, source_cidr=cidr, source_group=source))
    unique: dict[tuple, ReachRule] = {}
    for rule in rules:                           # the same permission listed twice is one rule
        unique.setdefault((rule.target_group, rule.ports, rule.source_cidr, rule.source_group), rule)
    return Batch(reach=list(unique.values()))


# ---------------------------------------------------------------- subnets (for the run's hosts) and VPCs (checked only)

def _subnets(path: Path, document: dict, reader: JsonFields) -> Batch:
    """Each subnet's id and CIDR blocks: IPv4, then the IPv6 blocks associated now (not those being removed)."""
    subnets: dict[str, CloudSubnet] = {}
    for spath, subnet in reader.objects(document, "Subnets", "", required=True):
        subnet_id = reader.text(subnet, "SubnetId", spath, required=True, pattern=_SUBNET_ID)
        cidrs = [_cidr(reader, subnet, "CidrBlock", spath, required=True)]
        for where, item in reader.objects(subnet, "Ipv6CidrBlockAssociationSet", spath):
            cidr = _cidr(reader, item, "Ipv6CidrBlock", where, required=True)
            state = reader.get(item, "Ipv6CidrBlockState", where, dict)
            if state is None or reader.text(state, "State", f"{where}.Ipv6CidrBlockState") == "associated":
                cidrs.append(cidr)
        reader.text(subnet, "VpcId", spath, pattern=_VPC_ID)
        if subnet_id is None or None in cidrs:
            continue
        if subnet_id in subnets:
            reader.add(f"subnet {subnet_id} already at {subnets[subnet_id].record}", f"{spath}.SubnetId")
            continue
        subnets[subnet_id] = CloudSubnet(id=subnet_id, cidrs=tuple(dict.fromkeys(filter(None, cidrs))),
                                         record=f"{path.name} {spath} ({subnet_id})")
    return Batch(subnets=list(subnets.values()))


def _vpcs(document: dict, reader: JsonFields) -> Batch:
    for vpath, vpc in reader.objects(document, "Vpcs", "", required=True):
        reader.text(vpc, "VpcId", vpath, required=True, pattern=_VPC_ID)
        _cidr(reader, vpc, "CidrBlock", vpath, required=True)
    return Batch()


# ---------------------------------------------------------------- IAM credential report

# The report gives every slot's times, N/A where there are none, so N/A clears a stored time: a rotated key
# keeps the slot's fingerprint but has not been used until a report says it has.
REPORT_TIMES: tuple[CredentialTime, ...] = ("last_used", "last_rotated")
REPORT_COLUMNS = ("user", "arn", "password_enabled", "password_last_used", "password_last_changed",
                  "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
                  "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date")
_NOTHING = frozenset({"", "n/a", "no_information", "not_supported"})
_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(?:root|user/\S+)$")


def _report_text(path: Path, document: dict, problems: ProblemList) -> str | None:
    content, report_format = document.get("Content"), document.get("ReportFormat")
    if report_format != "text/csv":
        problems.add(f"expected 'text/csv', found {str(report_format)[:40]!r}", None, "ReportFormat")
    generated = document.get("GeneratedTime")
    if generated is not None:
        try:
            parse_moment(generated if isinstance(generated, str) else "")
        except ValueError:
            problems.add(f"{str(generated)[:80]!r} is not an ISO 8601 date and time", None, "GeneratedTime")
    if not isinstance(content, str):
        problems.add(f"expected a string, found {json_kind(content)}", None, "Content")
        return None
    if content.startswith("user,arn,"):          # stored already decoded (boto3, some collectors)
        return content
    try:
        raw = base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        problems.add(f"not base64: {exc}", None, "Content")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add(f"decoded report is not UTF-8 text (byte {exc.start})", None, "Content")
        return None
    if not text.startswith("user,arn,"):
        problems.add("decoded report does not start with the header 'user,arn,...'", None, "Content")
        return None
    return text


def _credential_report(path: Path, document: dict, problems: ProblemList) -> Batch:
    text = _report_text(path, document, problems)
    if text is None:
        return Batch()
    rows = csv.reader(io.StringIO(text, newline=""), strict=True)

    def bad(line: int, field: str | None, message: str) -> None:
        where = f"Content line {line}" + (f", field '{field}'" if field else "")
        problems.add(f"{where}: {message}")

    try:
        header = [h.strip() for h in next(rows)]
    except (StopIteration, csv.Error) as exc:
        bad(1, None, f"malformed CSV header: {exc}")
        return Batch()
    missing = [c for c in REPORT_COLUMNS if c not in header]
    if missing:
        bad(1, None, f"header lacks column(s) {', '.join(missing)}")
        return Batch()
    credentials: list[CredentialObservation] = []
    seen: dict[str, int] = {}
    while True:
        try:
            values = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            bad(rows.line_num, None, f"malformed CSV: {exc}")
            break
        line = rows.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            bad(line, None, f"{len(values)} fields where the header has {len(header)}")
            continue
        row = dict(zip(header, (v.strip() for v in values)))
        credentials += _report_row(path, line, row, seen, bad)
    return Batch(credentials=credentials)


def _report_row(path: Path, line: int, row: dict[str, str], seen: dict[str, int], bad) -> list[CredentialObservation]:
    failed = False

    def flag(field: str) -> bool | None:
        nonlocal failed
        value = row[field].lower()
        if value in _NOTHING:
            return None
        if value in ("true", "false"):
            return value == "true"
        bad(line, field, f"{row[field][:40]!r} is not true or false")
        failed = True
        return None

    def moment(field: str) -> datetime | None:
        nonlocal failed
        value = row[field]
        if value.lower() in _NOTHING:
            return None
        try:
            return parse_moment(value)
        except ValueError:
            bad(line, field, f"{value[:40]!r} is not an ISO 8601 date and time")
            failed = True
            return None

    user, arn = row["user"], row["arn"]
    if not user:
        bad(line, "user", "is empty")
        failed = True
    if not _ARN.match(arn):
        bad(line, "arn", f"{arn[:80]!r} is not an IAM user or root ARN")
        failed = True
    elif arn in seen:
        bad(line, "arn", f"{arn} already on line {seen[arn]}")
        failed = True
    else:
        seen[arn] = line
    password = (flag("password_enabled"), moment("password_last_used"), moment("password_last_changed"))
    keys = [(n, flag(f"access_key_{n}_active"), moment(f"access_key_{n}_last_used_date"),
             moment(f"access_key_{n}_last_rotated"), row[f"access_key_{n}_last_rotated"].lower() not in _NOTHING)
            for n in (1, 2)]
    if failed:
        return []
    issued: dict[str, Any] = {}
    if user != "<root_account>":
        try:
            issued["issued_to_email"] = check_email(user)
        except ValueError:
            issued["issued_to_user"] = user
    record = f"{path.name} Content line {line}"
    try:
        found = [CredentialObservation(
            record=record, kind=CredentialKind.AWS_PASSWORD, fingerprint=f"aws:{arn}:password",
            name=f"{user} console password", active=password[0], last_used=password[1],
            last_rotated=password[2], stated_times=REPORT_TIMES, **issued)]
        for n, active, used, rotated, has_rotation in keys:
            if active or has_rotation:
                found.append(CredentialObservation(
                    record=record, kind=CredentialKind.AWS_ACCESS_KEY, fingerprint=f"aws:{arn}:access_key_{n}",
                    name=f"{user} access key {n}", active=active, last_used=used, last_rotated=rotated,
                    stated_times=REPORT_TIMES, **issued))
    except ValidationError as exc:
        error = exc.errors()[0]
        bad(line, "arn" if error["loc"] == ("fingerprint",) else None, error["msg"])
        return []
    return found
