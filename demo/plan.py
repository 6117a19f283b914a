"""The decisions every source after the first three shares: which hosts run an agent, which controls cover
them, what is installed, who holds certificates, and the stories the demo tells about them."""
from __future__ import annotations

import random
import uuid as uuid_module
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from demo.org import DEPLOYED, LAPTOP, NETWORK, SERVER, Asset, Person, Picks, must, stream

AGENT_SHARE = 0.85          # deployed servers, workstations and laptops running osquery
EDR_SHARE = 0.90            # ... covered by the EDR
MDM_SHARE = 0.93            # deployed endpoints enrolled in MDM
LOGGING_SHARE = 0.95        # deployed servers shipping logs
STALE_CHECK_IN_SHARE = 0.06  # covered hosts whose last check-in is days old
ACROBAT_SHARE = 0.30        # Windows endpoints of paperwork-heavy teams with Acrobat Pro
INTELLIJ_SHARE = 0.40       # Windows endpoints of engineers with IntelliJ IDEA Ultimate
ACROBAT_TEAMS = ("Finance", "Sales", "HR", "Operations")
VPN_EXTRA_HOLDERS = 5
TLS_SERVER_CERTS = 4        # besides the deployed_server highlight's
DEPARTED_SSH_HOSTS = 3

@dataclass(slots=True)
class Plan:
    """Decisions the new sources share, so every file tells the same story."""

    people: list[Person]
    assets: list[Asset]
    picks: Picks
    demo_laptop: Asset | None
    departed_vpn: Person
    vpn_holders: list[Person]                     # VPN client certificates, in issue order
    tls_hosts: list[tuple[Asset, str]]            # (server, 'valid' | 'expiring' | 'expired')
    extra_expiry: list[str]                       # 'expiring'/'expired' no server could take: a VPN cert
    departed_ssh_hosts: list[Asset]               # servers still holding the departed user's SSH key
    user_numbers: dict[str, int] = field(default_factory=dict)   # e-mail -> uid offset


def plan_extras(
    seed: int, scan_date: date, people: list[Person], assets: list[Asset], picks: Picks
) -> Plan:
    """Agents, controls, installed products, certificate holders and the new highlights."""
    rng = stream(seed, "plan")
    demo_laptop = _pick_demo_laptop(rng, assets)
    for asset in assets:
        if asset.status != DEPLOYED or asset.kind == NETWORK:
            continue
        asset.agent_uuid = _smbios_uuid(rng)
        asset.agent = rng.random() < AGENT_SHARE
        if rng.random() < EDR_SHARE:
            asset.edr_seen = _check_in(rng, scan_date)
        if asset.kind == SERVER:
            if rng.random() < LOGGING_SHARE:
                asset.log_seen = _check_in(rng, scan_date)
            continue
        if rng.random() < MDM_SHARE:
            asset.mdm_tool = "Jamf Pro" if asset.os == "macos" else "Intune"
            asset.mdm_seen = _check_in(rng, scan_date)
        if asset.os.startswith("windows") and asset.owner is not None:
            programs = []
            if asset.owner.department in ACROBAT_TEAMS and rng.random() < ACROBAT_SHARE:
                programs.append("acrobat")
            if asset.owner.department == "Engineering" and rng.random() < INTELLIJ_SHARE:
                programs.append("intellij")
            asset.extra_programs = tuple(programs)
    if demo_laptop is not None:
        demo_laptop.pinned = True
        demo_laptop.agent = True
        demo_laptop.edr_seen = demo_laptop.edr_seen or _check_in(rng, scan_date, fresh=True)
        demo_laptop.mdm_tool = demo_laptop.mdm_tool or ("Jamf Pro" if demo_laptop.os == "macos" else "Intune")
        demo_laptop.mdm_seen = demo_laptop.mdm_seen or _check_in(rng, scan_date, fresh=True)
        if demo_laptop.os.startswith("windows") and "acrobat" not in demo_laptop.extra_programs:
            demo_laptop.extra_programs += ("acrobat",)   # its owner installed Acrobat Pro without a seat
    unseen = picks.unseen_laptop
    if unseen is not None:   # off-network for weeks: no agent, EDR or MDM has heard from it either
        unseen.agent, unseen.edr_seen, unseen.mdm_seen, unseen.mdm_tool = False, None, None, ""
    _plan_itam_stories(seed, assets, picks, demo_laptop)
    retired = picks.decommissioned_alive
    retired_seen = datetime.combine(must(retired.decommissioned_date), time(17, 42, 9), tzinfo=timezone.utc)
    retired.edr_seen = retired_seen  # stopped checking in when it was archived: a stale record

    departed_vpn = _pick_departed_vpn(rng, people, picks)
    vpn_holders = _pick_vpn_holders(rng, people, demo_laptop, departed_vpn)
    tls_hosts, extra_expiry = _pick_tls_hosts(rng, assets, picks)
    for server, _ in tls_hosts:
        if server.status == DEPLOYED:
            server.agent = True   # the certificate shows in its osquery certificates table
    servers_with_agent = [a for a in assets if a.kind == SERVER and a.agent]
    departed_ssh = rng.sample(servers_with_agent, min(DEPARTED_SSH_HOSTS, len(servers_with_agent)))
    departed_ssh.sort(key=lambda a: a.asset_tag)
    return Plan(
        people=people, assets=assets, picks=picks, demo_laptop=demo_laptop, departed_vpn=departed_vpn,
        vpn_holders=vpn_holders, tls_hosts=tls_hosts, extra_expiry=extra_expiry,
        departed_ssh_hosts=departed_ssh,
        user_numbers={p.email: n for n, p in enumerate(people)},
    )


PHOTOSHOP_SHARE = 0.25      # Windows endpoints of Sales with Photoshop, for which no licence exists
NEVER_AUDITED_SHARE = 0.06  # assets Snipe-IT has no audit date for


def _plan_itam_stories(seed: int, assets: list[Asset], picks: Picks,
                       demo_laptop: Asset | None) -> None:
    """The asset manager's stories, each on its own random stream (the rest of the company stays as it was):
    Photoshop installed with no licence at all, assets never audited, and the off-network laptop that no
    agent, EDR or MDM reports either: missing, and never audited."""
    rng = stream(seed, "itam-stories")
    eligible = [a for a in assets if a.status == DEPLOYED and a.os.startswith("windows") and a.owner is not None
                and a is not demo_laptop and a.kind != NETWORK and a.kind != SERVER]
    photoshop = [a for a in eligible if must(a.owner).department == "Sales" and rng.random() < PHOTOSHOP_SHARE]
    for asset in photoshop or eligible[:1]:
        asset.extra_programs += ("photoshop",)
    for asset in assets:
        if rng.random() < NEVER_AUDITED_SHARE and not asset.pinned:
            asset.last_audit_date = None
    missing = picks.unseen_laptop
    if missing is not None:
        missing.agent, missing.edr_seen, missing.mdm_tool, missing.mdm_seen = False, None, "", None
        missing.last_audit_date = None


def _smbios_uuid(rng: random.Random) -> str:
    value = uuid_module.UUID(int=rng.getrandbits(128), version=4)
    return str(value).upper()


def _check_in(rng: random.Random, scan_date: date, fresh: bool = False) -> datetime:
    """A last check-in: mostly in the hours before the scan, sometimes days or weeks old."""
    midnight = datetime.combine(scan_date, time(6, 0), tzinfo=timezone.utc)
    if not fresh and rng.random() < STALE_CHECK_IN_SHARE:
        return midnight - timedelta(days=rng.randint(3, 40), seconds=rng.randint(0, 86399))
    return midnight - timedelta(seconds=rng.randint(60, 20 * 3600))


def _pick_demo_laptop(rng: random.Random, assets: list[Asset]) -> Asset | None:
    """A Deployed Windows laptop nmap saw by name, owned by a current employee (relaxed if none)."""
    def base(a: Asset) -> bool:
        return (a.kind == LAPTOP and a.status == DEPLOYED and not a.pinned
                and a.owner is not None and a.owner.end_date is None)

    for strict in (
        lambda a: a.seen and a.has_ptr and a.os.startswith("windows"),
        lambda a: a.seen and a.os.startswith("windows"),
        lambda a: a.seen,
        lambda a: True,
    ):
        candidates = [a for a in assets if base(a) and strict(a)]
        if candidates:
            return rng.choice(candidates)
    return None


def _pick_departed_vpn(rng: random.Random, people: list[Person], picks: Picks) -> Person:
    """A leaver, preferably technical and not the departed_owner highlight's owner."""
    leavers = [p for p in people if p.end_date is not None]
    other = picks.departed_owner.owner
    for pool in (
        [p for p in leavers if p.department in ("Engineering", "IT") and p is not other],
        [p for p in leavers if p is not other],
        leavers,
    ):
        if pool:
            return rng.choice(pool)
    raise AssertionError("the organisation has no leavers")  # _mark_leavers always makes one


def _pick_vpn_holders(
    rng: random.Random, people: list[Person], demo_laptop: Asset | None, departed: Person
) -> list[Person]:
    active = [p for p in people if p.end_date is None]
    holders = [departed]
    if demo_laptop is not None:
        holders.append(must(demo_laptop.owner))
    others = [p for p in active if p not in holders]
    holders += rng.sample(others, min(VPN_EXTRA_HOLDERS, len(others)))
    return holders


def _pick_tls_hosts(
    rng: random.Random, assets: list[Asset], picks: Picks
) -> tuple[list[tuple[Asset, str]], list[str]]:
    """Web servers with internal-CA certificates: one about to expire, one expired, the rest valid."""
    highlight = picks.deployed_server
    deployed = [a for a in assets if a.kind == SERVER and a.status == DEPLOYED and a is not highlight]
    web = [a for a in deployed if a.role == "web"]
    rng.shuffle(web)
    rest = [a for a in deployed if a.role != "web"]
    rng.shuffle(rest)
    candidates = (web + rest + [picks.decommissioned_alive])[:TLS_SERVER_CERTS]
    validity = ["expiring", "expired"] + ["valid"] * TLS_SERVER_CERTS
    chosen = [(server, validity[index]) for index, server in enumerate(candidates)]
    missing = validity[len(candidates):2]   # a tiny company: VPN certificates take what is left
    chosen.append((highlight, "valid"))
    retired = picks.decommissioned_alive
    if all(server is not retired for server, _ in chosen):   # decommissioned, its certificate never revoked
        chosen.append((retired, "valid"))
    chosen.sort(key=lambda pair: pair[0].asset_tag)
    return chosen, missing

