"""The named demo hosts and people, and the one-line story each illustrates."""
from __future__ import annotations

import ipaddress
from datetime import date

from demo.aws import Cloud
from demo.certificates import Certificates
from demo.nmap import asset_profile
from demo.org import Asset, Picks, UnknownDevice, must
from demo.plan import Plan

def _instance_card(instance, ip: str | None) -> dict[str, str | None]:
    """A cloud instance's identifiers as a highlight shows them (its name is the one EC2 gives it)."""
    return {"hostname": "ip-" + instance.private_ip.replace(".", "-"), "ip": ip, "mac": instance.mac,
            "serial": None, "asset_tag": None, "cloud_id": instance.instance_id}


def describe_new_highlights(
    plan: Plan, certs: Certificates | None, cloud: Cloud | None, wanted: set[str], scan_date: date
) -> dict[str, dict[str, str | None]]:
    highlights: dict[str, dict[str, str | None]] = {}
    laptop = plan.demo_laptop
    if laptop is not None and wanted & {"osquery", "coverage", "certificates"}:
        controls = ["CrowdStrike Falcon (EDR)"] + ([f"{laptop.mdm_tool} (MDM)"] if laptop.mdm_tool else [])
        installed = ("; it runs Adobe Acrobat Pro without a licence seat"
                     if "acrobat" in laptop.extra_programs else "")
        card = _asset_card(
            laptop,
            f"{laptop.hostname} ({laptop.manufacturer} {laptop.model}) is Deployed to {must(laptop.owner).name} "
            f"({must(laptop.owner).email}, {must(laptop.owner).department}); osquery reports it as {laptop.agent_uuid}, "
            f"{', '.join(controls)} cover it, and its owner holds a VPN client certificate{installed}.",
        )
        card["email"] = must(laptop.owner).email
        highlights["demo_laptop"] = card
    if cloud is not None:
        bastion = next(i for i in cloud.instances if i.role == "bastion")
        app = next(i for i in cloud.instances if i.role == "app")
        database = next(i for i in cloud.instances if i.role == "db")
        groups = {key: value[0] for key, value in cloud.groups.items()}
        highlights["internet_bastion"] = {
            **_instance_card(bastion, bastion.public_ip),
            "public_ip": bastion.public_ip,
            "private_ip": bastion.private_ip,
            "story": f"{bastion.name} ({bastion.instance_id}) is open to the internet on tcp/22 at "
                     f"{bastion.public_ip} via {groups['bastion']} (bastion), and still allows IMDSv1.",
        }
        highlights["aws_database"] = {
            **_instance_card(database, database.private_ip),
            "story": f"{database.name} ({database.instance_id}, {database.private_ip}) takes tcp/5432 only from "
                     f"{groups['app']} (app), which takes tcp/8080 from {groups['bastion']} (bastion), which is "
                     f"open to 0.0.0.0/0: two hops from the internet (e.g. via {app.name}).",
        }
    if wanted & {"certificates", "aws"}:
        person = plan.departed_vpn
        local = person.email.split("@", 1)[0]
        holds = []
        if "certificates" in wanted:
            holds.append(f"a VPN client certificate (certs/vpn-{local}.pem)")
        if "aws" in wanted:
            holds.append(f"IAM user {local} with an access key still active and used after they left")
        if "osquery" in wanted and plan.departed_ssh_hosts:
            holds.append("an SSH key on " + ", ".join(a.hostname for a in plan.departed_ssh_hosts))
        highlights["departed_vpn_user"] = {
            "hostname": None, "ip": None, "mac": None, "serial": None, "asset_tag": None,
            "email": person.email,
            "story": f"{person.name} ({person.email}, {person.department}) left on {must(person.end_date).isoformat()} "
                     f"but still holds {'; '.join(holds)}.",
        }
    return highlights


def describe_highlights(
    picks: Picks,
    unknown: UnknownDevice,
    networks: list[ipaddress.IPv4Network],
    scan_date: date,
) -> dict[str, dict[str, str | None]]:
    """The named demo hosts and the one-line story each illustrates."""
    server = picks.deployed_server
    retired = picks.decommissioned_alive
    orphaned = picks.departed_owner
    highlights = {
        "deployed_server": _asset_card(
            server,
            f"{server.hostname} ({server.manufacturer} {server.model}) is Deployed to "
            f"{must(server.owner).name} ({must(server.owner).department}) and answers on {server.ip} "
            f"with {asset_profile(server).port_summary()} open.",
        ),
        "decommissioned_alive": _asset_card(
            retired,
            f"{retired.hostname} was Archived in Snipe-IT on {must(retired.decommissioned_date).isoformat()} "
            f"yet still answers on {retired.ip} ({asset_profile(retired).port_summary()}) "
            f"in the {scan_date.isoformat()} scan, and its TLS certificate is still valid.",
        ),
        "departed_owner": _asset_card(
            orphaned,
            f"{orphaned.hostname} is still assigned to {must(orphaned.owner).name}, who left on "
            f"{must(must(orphaned.owner).end_date).isoformat()}, and is still online at {orphaned.ip}.",
        ),
        "unknown_device": {
            "hostname": unknown.hostname,
            "ip": unknown.ip,
            "mac": unknown.mac,
            "serial": None,
            "asset_tag": None,
            "story": f"{unknown.hostname} ({unknown.vendor} MAC {unknown.mac}) answers on {unknown.ip} "
                     f"in {networks[unknown.subnet]} but has no Snipe-IT record.",
        },
    }
    unseen = picks.unseen_laptop
    if unseen is not None:
        highlights["unseen_laptop"] = _asset_card(
            unseen,
            f"{unseen.hostname} is Deployed to {must(unseen.owner).name} but no scan, agent, EDR or MDM saw it and it "
            f"was never audited: the audit report calls it missing.",
        )
    return highlights


def _asset_card(asset: Asset, story: str) -> dict[str, str | None]:
    return {
        "hostname": asset.hostname,
        "ip": asset.ip if asset.seen else None,
        "mac": asset.mac,
        "serial": asset.serial,
        "asset_tag": asset.asset_tag,
        "story": story,
    }


