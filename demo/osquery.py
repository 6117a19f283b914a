"""osqueryd's result log (``osquery-results.log``): scheduled-query snapshots and a few events."""
from __future__ import annotations

import base64
import hashlib
import json
import random
from datetime import date, datetime, time, timezone
from functools import lru_cache
from pathlib import Path

from demo.certificates import Certificates, MintedCert
from demo.org import EMAIL_DOMAIN, SERVER, Asset, Person, stream
from demo.plan import Plan

OSQUERY_START = time(6, 0)
OSQUERY_SPREAD_SECONDS = 3 * 3600
OLD_OPENSSL_SHARE = 0.10    # Linux hosts still on an older OpenSSL build
TELNET_REMOVED_SHARE = 0.03  # Linux hosts where a removal event shows telnet going away

HARDWARE_VENDOR = {"Dell": "Dell Inc.", "HP": "HP", "Lenovo": "LENOVO", "Apple": "Apple Inc.",
                   "Supermicro": "Supermicro", "Cisco": "Cisco Systems Inc"}
OS_VERSION_ROWS = {
    "linux": {"name": "Ubuntu", "version": "22.04.3 LTS (Jammy Jellyfish)", "platform": "ubuntu"},
    "windows11": {"name": "Microsoft Windows 11 Enterprise", "version": "10.0.22631", "platform": "windows"},
    "windows10": {"name": "Microsoft Windows 10 Enterprise", "version": "10.0.19045", "platform": "windows"},
    "macos": {"name": "macOS", "version": "14.6.1", "platform": "darwin"},
}
DEB_BASE = (
    ("adduser", "3.118ubuntu5", "all"), ("apt", "2.4.11", "amd64"), ("bash", "5.1-6ubuntu1", "amd64"),
    ("ca-certificates", "20230311ubuntu0.22.04.1", "all"), ("coreutils", "8.32-4.1ubuntu1", "amd64"),
    ("curl", "7.81.0-1ubuntu1.14", "amd64"), ("libc6", "2.35-0ubuntu3.4", "amd64"),
    ("linux-image-5.15.0-88-generic", "5.15.0-88.98", "amd64"),
    ("openssh-client", "1:8.9p1-3ubuntu0.4", "amd64"), ("openssh-server", "1:8.9p1-3ubuntu0.4", "amd64"),
    ("osquery", "5.10.2-1.linux", "amd64"), ("python3", "3.10.6-1~22.04", "amd64"),
    ("rsyslog", "8.2112.0-2ubuntu2.2", "amd64"), ("sudo", "1.9.9-1ubuntu2.4", "amd64"),
    ("systemd", "249.11-0ubuntu3.11", "amd64"), ("tzdata", "2023c-0ubuntu0.22.04.2", "all"),
    ("vim", "2:8.2.3995-1ubuntu2.13", "amd64"), ("xz-utils", "5.2.5-2ubuntu1", "amd64"),
    ("zlib1g", "1:1.2.11.dfsg-2ubuntu9.2", "amd64"),
)
OPENSSL_CURRENT, OPENSSL_OLD = "3.0.2-0ubuntu1.12", "3.0.2-0ubuntu1.7"
TELNET = ("telnet", "0.17-44build1", "amd64")
OPENJDK = ("openjdk-17-jre-headless", "17.0.9+9-1~22.04", "amd64")
GIT_DEB = ("git", "1:2.34.1-1ubuntu1.10", "amd64")
DOCKER_DEB = ("docker-ce", "5:24.0.7-1~ubuntu.22.04~jammy", "amd64")
DEB_ROLE = {
    "web": (("nginx", "1.24.0-1~jammy", "amd64"),),
    "app": (OPENJDK, ("tomcat9", "9.0.83-1", "all")),
    "postgresql": (("postgresql-14", "14.9-0ubuntu0.22.04.1", "amd64"),
                   ("postgresql-client-14", "14.9-0ubuntu0.22.04.1", "amd64")),
    "mysql": (("mysql-server-8.0", "8.0.35-0ubuntu0.22.04.1", "amd64"),
              ("mysql-client-8.0", "8.0.35-0ubuntu0.22.04.1", "amd64")),
    "files": (("samba", "2:4.15.13+dfsg-0ubuntu1.5", "amd64"),),
    "ci": (("jenkins", "2.426.1", "all"), OPENJDK, GIT_DEB, DOCKER_DEB),
    "desktop": (("code", "1.84.2-1699528352", "amd64"), ("google-chrome-stable", "119.0.6045.159-1", "amd64"),
                GIT_DEB, DOCKER_DEB),
}
DEB_EDR = ("falcon-sensor", "7.10.0-16303", "amd64")
DEB_LOGGING = ("elastic-agent", "8.11.1", "amd64")

PROGRAMS_BASE = (
    ("7-Zip 23.01 (x64)", "23.01", "Igor Pavlov"),
    ("Microsoft 365 Apps for enterprise - en-us", "16.0.17029.20108", "Microsoft Corporation"),
    ("Microsoft Edge", "119.0.2151.72", "Microsoft Corporation"),
    ("Microsoft Teams", "23285.3604.2469.4152", "Microsoft"),
    ("osquery", "5.10.2", "osquery"),
    ("Zoom Workplace (64-bit)", "6.2.11", "Zoom Video Communications, Inc."),
)
CHROME_CURRENT = ("Google Chrome", "119.0.6045.160", "Google LLC")
CHROME_OLD = ("Google Chrome", "114.0.5735.199", "Google LLC")
ACROBAT_READER = ("Adobe Acrobat Reader (64-bit)", "23.006.20380", "Adobe")
PROGRAMS_EXTRA = {
    "acrobat": ("Adobe Acrobat Pro", "23.006.20380", "Adobe"),
    "intellij": ("JetBrains IntelliJ IDEA Ultimate", "2023.2.5", "JetBrains s.r.o."),
    "photoshop": ("Adobe Photoshop 2024", "25.2.0", "Adobe Inc."),
}
PROGRAMS_ENGINEERING = (
    ("Docker Desktop", "4.25.2", "Docker Inc."),
    ("Git", "2.43.0", "The Git Development Community"),
    ("Microsoft Visual Studio Code (User)", "1.84.2", "Microsoft Corporation"),
    ("Python 3.12.0 (64-bit)", "3.12.150.0", "Python Software Foundation"),
)
PROGRAM_EDR = ("CrowdStrike Windows Sensor", "7.10.17706.0", "CrowdStrike, Inc.")
ROLE_LISTEN = {
    "web": (80, 443), "app": (8080,), "postgresql": (5432,), "mysql": (3306,), "files": (139, 445),
    "ci": (8080,),
}
CA_FILE_LINUX = "/usr/local/share/ca-certificates/example-corp-internal-ca.crt"


def _js(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@lru_cache(maxsize=4096)
def _osquery_time(unix_time: int) -> str:
    return datetime.fromtimestamp(unix_time, tz=timezone.utc).strftime("%a %b %d %H:%M:%S %Y UTC")


@lru_cache(maxsize=None)
def _deb_snapshot(role: str, edr: bool, logging: bool, old_openssl: bool, telnet: bool) -> str:
    ssl = OPENSSL_OLD if old_openssl else OPENSSL_CURRENT
    rows = [*DEB_BASE, ("libssl3", ssl, "amd64"), ("openssl", ssl, "amd64"), *DEB_ROLE.get(role, ())]
    if edr:
        rows.append(DEB_EDR)
    if logging:
        rows.append(DEB_LOGGING)
    if telnet:
        rows.append(TELNET)
    rows = sorted(dict.fromkeys(rows))
    return _js([{"name": name, "version": version, "arch": arch} for name, version, arch in rows])


@lru_cache(maxsize=None)
def _program_snapshot(engineering: bool, extras: tuple[str, ...], edr: bool, old_chrome: bool) -> str:
    rows = [*PROGRAMS_BASE, CHROME_OLD if old_chrome else CHROME_CURRENT]
    rows += [PROGRAMS_EXTRA[name] for name in extras]
    if "acrobat" not in extras:
        rows.append(ACROBAT_READER)
    if engineering:
        rows += PROGRAMS_ENGINEERING
    if edr:
        rows.append(PROGRAM_EDR)
    rows.sort(key=lambda row: row[0].lower())
    return _js([{"name": name, "version": version, "publisher": publisher} for name, version, publisher in rows])


@lru_cache(maxsize=None)
def _ports_snapshot(os_key: str, role: str, address: str) -> str:
    rows: list[tuple[str, str, str]] = []
    if os_key == "linux":
        rows.append(("22", "6", "0.0.0.0"))
        rows += [(str(port), "6", "0.0.0.0") for port in ROLE_LISTEN.get(role, ())]
        rows += [("53", "6", "127.0.0.53"), ("53", "17", "127.0.0.53"), ("6791", "6", "127.0.0.1")]
    elif os_key.startswith("windows"):
        rows += [("135", "6", "0.0.0.0"), ("139", "6", address), ("445", "6", "0.0.0.0"),
                 ("3389", "6", "0.0.0.0"), ("5040", "6", "0.0.0.0"), ("49664", "6", "0.0.0.0"),
                 ("137", "17", address), ("5353", "17", "0.0.0.0")]
    else:  # macOS
        rows += [("22", "6", "0.0.0.0"), ("5000", "6", "0.0.0.0"), ("7000", "6", "0.0.0.0")]
    return _js([{"port": port, "protocol": proto, "address": addr} for port, proto, addr in rows])


def _ssh_key(seed: int, who: str) -> str:
    """A person's (deterministic) ed25519 public key, as it appears in authorized_keys."""
    public = hashlib.sha256(f"itam-demo/{seed}/ssh/{who}".encode()).digest()
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + public
    return base64.b64encode(blob).decode("ascii")


def write_osquery(
    path: Path, seed: int, scan_date: date, plan: Plan, certs: Certificates | None, counts: dict[str, int]
) -> Path:
    """osqueryd's filesystem logger output: one scheduled-query snapshot per line per host
    (system_info, os_version, packages/programs, interfaces, listening ports, certificates
    and authorized_keys where relevant), plus a few differential 'removed' events."""
    rng = stream(seed, "osquery")
    start = int(datetime.combine(scan_date, OSQUERY_START, tzinfo=timezone.utc).timestamp())
    technical = [p for p in plan.people if p.end_date is None and p.department == "IT"] or \
        [p for p in plan.people if p.end_date is None]
    host_certs = _certificate_rows(certs) if certs is not None else {}
    departed_hosts = {a.asset_tag for a in plan.departed_ssh_hosts}
    departed_user = plan.departed_vpn.email.split("@", 1)[0]
    first_linux = next((a for a in plan.assets if a.agent and a.os == "linux"), None)   # always one removal
    agents = lines = removals = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for asset in plan.assets:
            if not asset.agent:
                continue
            agents += 1
            host = asset.hostname
            unix = start + rng.randint(0, OSQUERY_SPREAD_SECONDS)
            decorations = _js({"host_uuid": asset.agent_uuid, "hostname": host})
            head_host = _js(host)

            def line(table: str, payload: str, at: int, action: str = "snapshot", counter: int = 0) -> str:
                body = '"snapshot":' + payload if action == "snapshot" else '"columns":' + payload
                return (
                    f'{{"name":"pack_inventory_{table}","hostIdentifier":{head_host},'
                    f'"calendarTime":"{_osquery_time(at)}","unixTime":{at},"epoch":0,"counter":{counter},'
                    f'"decorations":{decorations},"action":"{action}",{body}}}\n'
                )

            model = ("HP " + asset.model) if asset.manufacturer == "HP" else asset.model
            out = [line("system_info", _js([{
                "hostname": host, "uuid": asset.agent_uuid, "hardware_serial": asset.serial,
                "hardware_vendor": HARDWARE_VENDOR[asset.manufacturer], "hardware_model": model,
            }]), unix)]
            out.append(line("os_version", _js([OS_VERSION_ROWS[asset.os]]), unix + 1))
            telnet = False
            if asset.os == "linux":
                role = (asset.flavor or asset.role) if asset.kind == SERVER else "desktop"
                telnet = rng.random() < TELNET_REMOVED_SHARE or asset is first_linux
                payload = _deb_snapshot(role, asset.edr_seen is not None, asset.log_seen is not None,
                                        rng.random() < OLD_OPENSSL_SHARE, telnet)
                out.append(line("deb_packages", payload, unix + 2))
            elif asset.os.startswith("windows"):
                engineering = asset.owner is not None and asset.owner.department == "Engineering"
                payload = _program_snapshot(engineering, asset.extra_programs, asset.edr_seen is not None,
                                            rng.random() < 0.2)
                out.append(line("programs", payload, unix + 2))
            interface = {"linux": "eno1", "macos": "en0"}.get(asset.os, str(rng.choice((4, 7, 12, 13))))
            out.append(line("interface_addresses", _js([
                {"interface": "lo" if asset.os == "linux" else ("lo0" if asset.os == "macos" else "1"),
                 "address": "127.0.0.1", "mask": "255.0.0.0"},
                {"interface": interface, "address": asset.ip, "mask": "255.255.255.0"},
            ]), unix + 3))
            out.append(line("interface_details", _js([{"interface": interface, "mac": asset.mac}]), unix + 3))
            role = (asset.flavor or asset.role) if asset.kind == SERVER else ""
            out.append(line("listening_ports", _ports_snapshot(asset.os, role, asset.ip), unix + 4))
            found = host_certs.get(asset.asset_tag)
            if found:
                out.append(line("certificates", _js(found), unix + 5))
            if asset.kind == SERVER:
                out.append(line("authorized_keys", _js(_authorized_keys(
                    seed, rng, asset, technical, departed_user if asset.asset_tag in departed_hosts else None,
                    plan.user_numbers)), unix + 6))
            if telnet:
                removed = {"name": TELNET[0], "version": TELNET[1], "arch": TELNET[2]}
                out.append(line("deb_packages", _js(removed), unix + 3600, action="removed", counter=1))
                removals += 1
            handle.write("".join(out))
            lines += len(out)
    counts.update({"osquery_agents": agents, "osquery_lines": lines, "osquery_removed_events": removals})
    return path


def _certificate_rows(certs: Certificates) -> dict[str, list[dict[str, str]]]:
    """osquery certificates rows per asset tag: server certificates on their servers, VPN
    client certificates on their holders' Windows endpoints, with the CA beside them."""
    rows: dict[str, list[dict[str, str]]] = {}
    for cert in certs.servers:
        server = cert.holder
        assert isinstance(server, Asset)     # a TLS certificate's holder is its server
        rows[server.asset_tag] = [
            _osquery_cert(certs.ca, CA_FILE_LINUX),
            _osquery_cert(cert, f"/etc/ssl/certs/{server.hostname}.pem"),
        ]
    holders = {cert.holder.email: cert for cert in certs.clients if isinstance(cert.holder, Person)}
    for asset in certs.plan.assets:
        if (asset.agent and asset.os.startswith("windows") and asset.owner is not None
                and asset.owner.email in holders and asset.asset_tag not in rows):
            rows[asset.asset_tag] = [
                _osquery_cert(certs.ca, "LocalMachine\\Trusted Root Certification Authorities"),
                _osquery_cert(holders[asset.owner.email], "CurrentUser\\Personal"),
            ]
    return rows


def _osquery_cert(cert: MintedCert, where: str) -> dict[str, str]:
    return {"common_name": cert.common_name, "subject": cert.subject, "issuer": cert.issuer,
            "not_valid_before": str(int(cert.not_before.timestamp())),
            "not_valid_after": str(int(cert.not_after.timestamp())), "sha1": cert.sha1, "path": where}


def _authorized_keys(
    seed: int, rng: random.Random, server: Asset, technical: list[Person], departed_user: str | None,
    numbers: dict[str, int],
) -> list[dict[str, str]]:
    """The server owner's key, an IT admin's, a CI deploy key on app tiers, maybe a leaver's."""
    users: list[tuple[str, str, str]] = []   # (account, key owner, comment)
    people = [server.owner] if server.owner is not None else []
    admin = rng.choice(technical)
    if admin not in people:
        people.append(admin)
    for person in people:
        name = person.email.split("@", 1)[0]
        users.append((name, name, f"{name}@{EMAIL_DOMAIN}"))
    if departed_user:
        users.append((departed_user, departed_user, f"{departed_user}@{EMAIL_DOMAIN}"))
    if server.role in ("web", "app"):
        users.append(("deploy", "jenkins", "jenkins@ci-01"))
    rows = []
    for account, key_owner, comment in users:
        uid = "1500" if account == "deploy" else str(2000 + numbers.get(f"{account}@{EMAIL_DOMAIN}", 0))
        rows.append({"uid": uid, "algorithm": "ssh-ed25519", "key": _ssh_key(seed, key_owner),
                     "key_file": f"/home/{account}/.ssh/authorized_keys", "comment": comment})
    return rows


