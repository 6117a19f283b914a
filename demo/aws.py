"""An AWS account as the AWS CLI prints it: ``ec2 describe-*`` JSON and the IAM credential report."""
from __future__ import annotations

import base64
import csv
import io
import ipaddress
import json
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from demo.org import Person, must, stream, weighted
from demo.plan import Plan

CLOUD_SHARE = 0.10
MIN_CLOUD_HOSTS = 5
MAX_CLOUD_HOSTS = 60_000

# =========================================================================== AWS

AWS_ACCOUNT = "123456789012"
AWS_REGION = "us-east-1"
AWS_ZONES = (("us-east-1a", "use1-az1"), ("us-east-1b", "use1-az2"), ("us-east-1c", "use1-az4"))
AWS_VPC_CIDR = "172.31.0.0/16"        # the cloud never overlaps the offices' 10.x subnets
AWS_PRIVATE_SUBNETS_MAX = 15          # 172.31.16.0/20 ... 172.31.240.0/20
AWS_SUBNET_USABLE = 4091              # a /20 less the five addresses AWS reserves
AWS_OTHER_ROLES = (("worker", 30), ("batch", 15), ("cache", 15), ("search", 10), ("etl", 15),
                   ("analytics", 10), ("jump-win", 5))
AWS_INSTANCE_TYPES = {
    "bastion": ("t3.micro",), "app": ("m6i.large", "m6i.xlarge"), "db": ("r6i.xlarge", "r6i.2xlarge"),
    "worker": ("c6i.large", "c6i.xlarge"), "batch": ("c6i.2xlarge",), "cache": ("r6g.large",),
    "search": ("r6i.large",), "etl": ("m6i.2xlarge",), "analytics": ("r6i.4xlarge",),
    "jump-win": ("t3.large",),
}
AWS_SERVICE_USERS = ("ci-deployer", "terraform")
CREDENTIAL_REPORT_COLUMNS = (
    "user", "arn", "user_creation_time", "password_enabled", "password_last_used",
    "password_last_changed", "password_next_rotation", "mfa_active",
    "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
    "access_key_1_last_used_region", "access_key_1_last_used_service",
    "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
    "access_key_2_last_used_region", "access_key_2_last_used_service",
    "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated",
)
IAM_USER_SHARE = 0.5   # technical staff with an IAM user


@dataclass(slots=True)
class Instance:
    instance_id: str
    role: str
    name: str
    instance_type: str
    state: str
    zone: int
    subnet_id: str
    private_ip: str
    public_ip: str | None
    mac: str
    eni_id: str
    reservation_id: str
    group: str               # key into Cloud.groups
    launched: datetime
    imds_v2: bool
    windows: bool
    owner: Person


@dataclass(slots=True)
class Cloud:
    vpc_id: str
    public_subnets: list[tuple[str, str, int]]    # (subnet id, cidr, zone index)
    private_subnets: list[tuple[str, str, int]]
    groups: dict[str, tuple[str, str]]             # key -> (group id, group name)
    instances: list[Instance]
    iam_rows: list[tuple[str, ...]]
    departed_owner: Person


def _aws_id(rng: random.Random, prefix: str, taken: set[str]) -> str:
    while True:
        value = f"{prefix}-0{rng.getrandbits(64):016x}"
        if value not in taken:
            taken.add(value)
            return value


def plan_cloud(seed: int, scan_date: date, people: list[Person], plan: Plan, count: int) -> Cloud:
    """One VPC in us-east-1: a bastion open to the internet, app servers behind it, databases
    behind them, and ``count`` instances in all; IAM users for part of the technical staff."""
    rng = stream(seed, "aws")
    taken: set[str] = set()
    vpc_id = _aws_id(rng, "vpc", taken)
    groups = {key: (_aws_id(rng, "sg", taken), name) for key, name in (
        ("default", "default"), ("bastion", "bastion"), ("app", "app"), ("db", "db"), ("internal", "internal"))}

    db_count = max(1, round(count * 0.08))
    app_count = max(2, round(count * 0.25))
    other_count = count - 1 - db_count - app_count
    if other_count < 1:
        app_count += other_count - 1
        other_count = 1
    roles = ["bastion"] + ["app"] * app_count + ["db"] * db_count + [
        weighted(rng, AWS_OTHER_ROLES) for _ in range(other_count)]

    private_count = count - 1
    subnet_count = min(AWS_PRIVATE_SUBNETS_MAX,
                       max(3, 3 * math.ceil(private_count / (3 * AWS_SUBNET_USABLE // 2))))
    public_subnets = [(_aws_id(rng, "subnet", taken), f"172.31.{zone}.0/24", zone) for zone in range(3)]
    private_subnets = [(_aws_id(rng, "subnet", taken), f"172.31.{16 * (index + 1)}.0/20", index % 3)
                       for index in range(subnet_count)]
    per_subnet = math.ceil(private_count / subnet_count)
    max_gap = max(1, min(3, (AWS_SUBNET_USABLE - 1) // max(1, per_subnet)))
    next_offset = [4 + rng.randint(0, 20) for _ in private_subnets]

    technical = [p for p in people if p.end_date is None and p.department in ("Engineering", "IT")]
    technical = technical or [p for p in people if p.end_date is None]
    leavers = [p for p in people if p.end_date is not None and p is not plan.departed_vpn]
    departed_owner = rng.choice(leavers) if leavers else plan.departed_vpn
    macs: set[str] = set()
    numbers: dict[str, int] = {}
    instances: list[Instance] = []
    for index, role in enumerate(roles):
        if role == "bastion":
            subnet_id, cidr, zone = public_subnets[0]
            private_ip = f"172.31.0.{rng.randint(10, 250)}"
            public_ip = f"54.{rng.randint(160, 175)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        else:
            slot = (index - 1) % subnet_count
            subnet_id, cidr, zone = private_subnets[slot]
            offset = next_offset[slot]
            next_offset[slot] += rng.randint(1, max_gap)
            network = ipaddress.IPv4Network(cidr)
            private_ip = str(network.network_address + offset)
            public_ip = None
        number = numbers.get(role, 0) + 1
        numbers[role] = number
        while True:
            mac = "0e:" + ":".join(f"{b:02x}" for b in rng.getrandbits(40).to_bytes(5, "big"))
            if mac not in macs:
                macs.add(mac)
                break
        state = "running" if role in ("bastion", "app", "db") or rng.random() > 0.05 else "stopped"
        launched = datetime.combine(scan_date, time(0, 0), tzinfo=timezone.utc) - timedelta(
            days=rng.randint(5, 900), seconds=rng.randint(0, 86399))
        instances.append(Instance(
            instance_id=_aws_id(rng, "i", taken),
            role=role,
            name=f"prod-{role}-{number:02d}",
            instance_type=rng.choice(AWS_INSTANCE_TYPES[role]),
            state=state,
            zone=zone,
            subnet_id=subnet_id,
            private_ip=private_ip,
            public_ip=public_ip,
            mac=mac,
            eni_id=_aws_id(rng, "eni", taken),
            reservation_id=_aws_id(rng, "r", taken),
            group=role if role in ("bastion", "app", "db") else "internal",
            launched=launched,
            imds_v2=role != "bastion" and rng.random() > 0.15,   # the bastion still allows IMDSv1
            windows=role == "jump-win",
            owner=rng.choice(technical),
        ))
    others = [i for i in instances if i.group == "internal"]
    rng.choice(others).owner = departed_owner     # an instance tagged with a leaver's e-mail
    return Cloud(vpc_id=vpc_id, public_subnets=public_subnets, private_subnets=private_subnets,
                  groups=groups, instances=instances,
                  iam_rows=_credential_report_rows(rng, scan_date, people, plan.departed_vpn),
                  departed_owner=departed_owner)


def _aws_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _credential_report_rows(
    rng: random.Random, scan_date: date, people: list[Person], departed: Person
) -> list[tuple[str, ...]]:
    """IAM users named by e-mail local part: half the technical staff, a few properly offboarded
    leavers, two service users, and the departed_vpn_user with an access key still active."""
    now = datetime.combine(scan_date, time(6, 0), tzinfo=timezone.utc)
    na = "N/A"

    def ago(low: int, high: int) -> datetime:
        return now - timedelta(days=rng.randint(low, high), seconds=rng.randint(0, 86399))

    def key_columns(active: bool, rotated: datetime, used: datetime | None, service: str) -> list[str]:
        if used is None:
            return ["true" if active else "false", _aws_time(rotated), na, na, na]
        return ["true" if active else "false", _aws_time(rotated), _aws_time(used), AWS_REGION, service]

    no_key = ["false", na, na, na, na]
    rows = [("<root_account>", f"arn:aws:iam::{AWS_ACCOUNT}:root", _aws_time(ago(1800, 2200)), "not_supported",
             _aws_time(ago(60, 200)), "not_supported", "not_supported", "true", *no_key, *no_key,
             "false", na, "false", na)]
    users: list[tuple[Person | None, str]] = []
    for staff in people:
        technical = staff.department in ("Engineering", "IT")
        if staff is departed:
            users.append((staff, "departed"))
        elif staff.end_date is None and technical and rng.random() < IAM_USER_SHARE:
            users.append((staff, "active"))
        elif staff.end_date is not None and technical and rng.random() < 0.3:
            users.append((staff, "offboarded"))
    users += [(None, name) for name in AWS_SERVICE_USERS]
    for person, status in users:
        name = person.email.split("@", 1)[0] if person else status
        created = ago(200, 1800) if person is None else max(
            datetime.combine(person.start_date, time(10, 0), tzinfo=timezone.utc), ago(1500, 1800))
        rotated = created + (now - created) * rng.uniform(0.1, 0.9)
        if person is None:          # a service user: keys only, no console
            password = ["false", na, na, na, "false"]
            key1 = key_columns(True, rotated, ago(0, 2), rng.choice(("s3", "ecr", "sts")))
        elif status == "departed":   # console removed, the access key forgotten and still in use
            end = datetime.combine(must(person.end_date), time(18, 0), tzinfo=timezone.utc)
            rotated = min(rotated, end - timedelta(days=30))
            password = ["false", _aws_time(end - timedelta(days=2)), _aws_time(rotated), na, "false"]
            key1 = key_columns(True, rotated, now - timedelta(days=rng.randint(1, 5), hours=3), "s3")
        elif status == "offboarded":
            end = datetime.combine(must(person.end_date), time(18, 0), tzinfo=timezone.utc)
            rotated = min(rotated, end - timedelta(days=30))
            password = ["false", _aws_time(end - timedelta(days=3)), _aws_time(rotated), na, "true"]
            key1 = key_columns(False, rotated, end - timedelta(days=4), "ec2")
        else:
            used = ago(0, 30) if rng.random() < 0.9 else None
            password = ["true", _aws_time(used) if used else "no_information", _aws_time(rotated), na,
                        "true" if rng.random() < 0.85 else "false"]
            key1 = (key_columns(True, rotated, ago(0, 60) if rng.random() < 0.8 else None,
                                rng.choice(("s3", "ec2", "sts", "cloudformation")))
                    if rng.random() < 0.6 else no_key)
        rows.append((name, f"arn:aws:iam::{AWS_ACCOUNT}:user/{name}", _aws_time(created), *password,
                     *key1, *no_key, "false", na, "false", na))
    return rows


def write_aws(out_dir: Path, seed: int, scan_date: date, cloud: Cloud, counts: dict[str, int]) -> list[Path]:
    """The AWS CLI's JSON for describe-instances/-security-groups/-subnets/-vpcs and the IAM
    credential report, each as ``aws ... --output json`` prints it (four-space indents)."""
    paths = [
        _write_aws_instances(out_dir / "aws-ec2-describe-instances.json", cloud),
        _write_aws_json(out_dir / "aws-ec2-describe-security-groups.json", {"SecurityGroups": _aws_groups(cloud)}),
        _write_aws_json(out_dir / "aws-ec2-describe-subnets.json", {"Subnets": _aws_subnets(cloud)}),
        _write_aws_json(out_dir / "aws-ec2-describe-vpcs.json", {"Vpcs": [_aws_vpc(cloud)]}),
        _write_credential_report(out_dir / "aws-iam-credential-report.json", scan_date, cloud),
    ]
    counts.update({"cloud_instances": len(cloud.instances),
                   "iam_users": len(cloud.iam_rows) - 1})
    return paths


def _write_aws_json(path: Path, document: dict) -> Path:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps(document, indent=4) + "\n")
    return path


def _write_aws_instances(path: Path, cloud: Cloud) -> Path:
    """Streamed: one reservation per instance, written as it is rendered."""
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write('{\n    "Reservations": [\n')
        last = len(cloud.instances) - 1
        for index, instance in enumerate(cloud.instances):
            reservation = {
                "Groups": [],
                "Instances": [_aws_instance(cloud, instance)],
                "OwnerId": AWS_ACCOUNT,
                "ReservationId": instance.reservation_id,
            }
            text = json.dumps(reservation, indent=4).replace("\n", "\n        ")
            handle.write("        " + text + (",\n" if index < last else "\n"))
        handle.write("    ]\n}\n")
    return path


def _aws_instance(cloud: Cloud, i: Instance) -> dict:
    group_id, group_name = cloud.groups[i.group]
    groups = [{"GroupId": group_id, "GroupName": group_name}]
    zone = AWS_ZONES[i.zone][0]
    dns = "ip-" + i.private_ip.replace(".", "-") + ".ec2.internal"
    launched = _aws_time(i.launched)
    running = i.state == "running"
    address = {"Primary": True, "PrivateDnsName": dns, "PrivateIpAddress": i.private_ip}
    eni = {
        "Attachment": {
            "AttachTime": launched, "AttachmentId": "eni-attach-" + i.eni_id[4:],
            "DeleteOnTermination": True, "DeviceIndex": 0, "Status": "attached", "NetworkCardIndex": 0,
        },
        "Description": "", "Groups": groups, "Ipv6Addresses": [], "MacAddress": i.mac,
        "NetworkInterfaceId": i.eni_id, "OwnerId": AWS_ACCOUNT, "PrivateDnsName": dns,
        "PrivateIpAddress": i.private_ip, "PrivateIpAddresses": [address], "SourceDestCheck": True,
        "Status": "in-use", "SubnetId": i.subnet_id, "VpcId": cloud.vpc_id, "InterfaceType": "interface",
    }
    public = i.public_ip if running else None
    if public:
        association = {"IpOwnerId": "amazon", "PublicDnsName": f"ec2-{public.replace('.', '-')}.compute-1.amazonaws.com",
                       "PublicIp": public}
        eni = {"Association": association, **eni}
        address["Association"] = association
    tags = [{"Key": "Name", "Value": i.name}, {"Key": "Owner", "Value": i.owner.email},
            {"Key": "Environment", "Value": "production"}]
    instance: dict[str, object] = {
        "AmiLaunchIndex": 0,
        "ImageId": "ami-0c7217cdde317cfec" if not i.windows else "ami-0f9c44e98edf38a2b",
        "InstanceId": i.instance_id,
        "InstanceType": i.instance_type,
        "KeyName": "prod-ops",
        "LaunchTime": launched,
        "Monitoring": {"State": "disabled"},
        "Placement": {"AvailabilityZone": zone, "GroupName": "", "Tenancy": "default"},
        "PrivateDnsName": dns,
        "PrivateIpAddress": i.private_ip,
        "ProductCodes": [],
        "PublicDnsName": (f"ec2-{public.replace('.', '-')}.compute-1.amazonaws.com" if public else ""),
    }
    if public:
        instance["PublicIpAddress"] = public
    if i.windows:
        instance["Platform"] = "windows"
    instance.update({
        "State": {"Code": 16, "Name": "running"} if running else {"Code": 80, "Name": "stopped"},
        "StateTransitionReason": "" if running else "User initiated",
        "SubnetId": i.subnet_id,
        "VpcId": cloud.vpc_id,
        "Architecture": "x86_64",
        "BlockDeviceMappings": [{"DeviceName": "/dev/sda1" if i.windows else "/dev/xvda",
                                 "Ebs": {"AttachTime": launched, "DeleteOnTermination": True,
                                         "Status": "attached", "VolumeId": "vol-" + i.eni_id[4:]}}],
        "ClientToken": "terraform-" + i.reservation_id[2:],
        "EbsOptimized": True,
        "EnaSupport": True,
        "Hypervisor": "xen",
        "NetworkInterfaces": [eni],
        "RootDeviceName": "/dev/sda1" if i.windows else "/dev/xvda",
        "RootDeviceType": "ebs",
        "SecurityGroups": groups,
        "SourceDestCheck": True,
        "Tags": tags,
        "VirtualizationType": "hvm",
        "MetadataOptions": {"State": "applied", "HttpTokens": "required" if i.imds_v2 else "optional",
                            "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled",
                            "HttpProtocolIpv6": "disabled", "InstanceMetadataTags": "disabled"},
        "PlatformDetails": "Windows" if i.windows else "Linux/UNIX",
        "UsageOperation": "RunInstances:0002" if i.windows else "RunInstances",
    })
    return instance


def _permission(protocol: str, low: int, high: int, cidrs: tuple[tuple[str, str], ...] = (),
                groups: tuple[tuple[str, str], ...] = ()) -> dict:
    permission: dict[str, object] = {"IpProtocol": protocol}
    if protocol != "-1":
        permission["FromPort"], permission["ToPort"] = low, high
    permission.update({
        "IpRanges": [{"CidrIp": cidr, "Description": note} for cidr, note in cidrs],
        "Ipv6Ranges": [],
        "PrefixListIds": [],
        "UserIdGroupPairs": [{"Description": note, "GroupId": group, "UserId": AWS_ACCOUNT}
                             for group, note in groups],
    })
    return permission


def _aws_groups(cloud: Cloud) -> list[dict]:
    """sg bastion: tcp/22 from anywhere; app: tcp/8080 (and 22) from the bastion; db: tcp/5432
    from app; internal: tcp/22 from the bastion and tcp/443 from the VPC."""
    ids = {key: value[0] for key, value in cloud.groups.items()}
    ingress = {
        "default": [_permission("-1", 0, 0, groups=((ids["default"], ""),))],
        "bastion": [_permission("tcp", 22, 22, cidrs=(("0.0.0.0/0", "SSH from anywhere"),))],
        "app": [_permission("tcp", 8080, 8080, groups=((ids["bastion"], "app from bastion"),)),
                _permission("tcp", 22, 22, groups=((ids["bastion"], "SSH from bastion"),))],
        "db": [_permission("tcp", 5432, 5432, groups=((ids["app"], "PostgreSQL from app"),))],
        "internal": [_permission("tcp", 22, 22, groups=((ids["bastion"], "SSH from bastion"),)),
                     _permission("tcp", 443, 443, cidrs=((AWS_VPC_CIDR, "HTTPS inside the VPC"),)),
                     _permission("tcp", 3389, 3389, groups=((ids["bastion"], "RDP from bastion"),))],
    }
    descriptions = {"default": "default VPC security group", "bastion": "SSH bastion",
                    "app": "application servers", "db": "PostgreSQL databases", "internal": "internal services"}
    return [{
        "Description": descriptions[key],
        "GroupName": name,
        "IpPermissions": ingress[key],
        "OwnerId": AWS_ACCOUNT,
        "GroupId": group_id,
        "IpPermissionsEgress": [_permission("-1", 0, 0, cidrs=(("0.0.0.0/0", ""),))],
        "Tags": [] if key == "default" else [{"Key": "Name", "Value": f"prod-{name}"}],
        "VpcId": cloud.vpc_id,
    } for key, (group_id, name) in cloud.groups.items()]


def _aws_subnets(cloud: Cloud) -> list[dict]:
    used: dict[str, int] = {}
    for instance in cloud.instances:
        used[instance.subnet_id] = used.get(instance.subnet_id, 0) + 1
    subnets = []
    for public, entries in ((True, cloud.public_subnets), (False, cloud.private_subnets)):
        for subnet_id, cidr, zone in entries:
            size = ipaddress.IPv4Network(cidr).num_addresses - 5
            subnets.append({
                "AvailabilityZone": AWS_ZONES[zone][0],
                "AvailabilityZoneId": AWS_ZONES[zone][1],
                "AvailableIpAddressCount": size - used.get(subnet_id, 0),
                "CidrBlock": cidr,
                "DefaultForAz": False,
                "MapPublicIpOnLaunch": public,
                "State": "available",
                "SubnetId": subnet_id,
                "VpcId": cloud.vpc_id,
                "OwnerId": AWS_ACCOUNT,
                "AssignIpv6AddressOnCreation": False,
                "Ipv6CidrBlockAssociationSet": [],
                "Tags": [{"Key": "Name", "Value": f"prod-{'public' if public else 'private'}-{AWS_ZONES[zone][0][-1]}"
                                                  f"{'' if public else '-' + cidr.split('.')[2]}"}],
                "SubnetArn": f"arn:aws:ec2:{AWS_REGION}:{AWS_ACCOUNT}:subnet/{subnet_id}",
            })
    return subnets


def _aws_vpc(cloud: Cloud) -> dict:
    return {
        "CidrBlock": AWS_VPC_CIDR,
        "DhcpOptionsId": "dopt-0" + cloud.vpc_id[5:],
        "State": "available",
        "VpcId": cloud.vpc_id,
        "OwnerId": AWS_ACCOUNT,
        "InstanceTenancy": "default",
        "CidrBlockAssociationSet": [{"AssociationId": "vpc-cidr-assoc-0" + cloud.vpc_id[5:],
                                     "CidrBlock": AWS_VPC_CIDR, "CidrBlockState": {"State": "associated"}}],
        "IsDefault": False,
        "Tags": [{"Key": "Name", "Value": "prod"}],
    }


def _write_credential_report(path: Path, scan_date: date, cloud: Cloud) -> Path:
    """``aws iam get-credential-report``: the report CSV, base64-encoded in ``Content``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CREDENTIAL_REPORT_COLUMNS)
    writer.writerows(cloud.iam_rows)
    content = base64.b64encode(buffer.getvalue().rstrip("\n").encode("utf-8")).decode("ascii")
    generated = datetime.combine(scan_date, time(5, 58, 12), tzinfo=timezone.utc)
    return _write_aws_json(path, {"Content": content, "ReportFormat": "text/csv",
                                  "GeneratedTime": _aws_time(generated)})


