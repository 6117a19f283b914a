"""Real-format input files written by tests: Snipe-IT and HR CSV exports, nmap XML scans, osquery logs."""
from __future__ import annotations

import csv
from pathlib import Path
from xml.sax.saxutils import quoteattr

from demo.hr import HR_COLUMNS

SNIPEIT_COLUMNS = ["asset_tag", "item_name", "asset_model", "category", "manufacturer", "serial", "mac_address",
                   "status", "location", "purchase_date", "purchase_cost", "warranty_months", "asset_eol_date",
                   "decommissioned_date", "full_name", "email", "department", "last_audit_date", "order_number",
                   "supplier"]


def snipeit_csv(path: Path, rows: list[dict]) -> Path:
    """A Snipe-IT hardware export with the given rows (missing columns empty)."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, SNIPEIT_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({"status": "Deployed", "category": "Servers", **row})
    return path


def hr_csv(path: Path, *rows: str) -> Path:
    """An HR directory export with every column ingest/hr.py reads (the demo's header) and the given CSV rows."""
    path.write_text("".join(f"{line}\n" for line in (",".join(HR_COLUMNS), *rows)))
    return path


def nmap_xml(path: Path, hosts: list[dict], start: int = 1763625600, targets: str = "") -> Path:
    """An nmap -sV -O XML scan: hosts as {ip, mac, name, ports: [(proto, number, service)], time, os, family}."""
    args = " ".join(filter(None, ("nmap -sV -O -oX", path.name, targets)))
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', "<!DOCTYPE nmaprun>",
             f'<nmaprun scanner="nmap" args="{args}" start="{start}" version="7.94" '
             'xmloutputversion="1.05">']
    for host in hosts:
        moment = host.get("time", start)
        parts.append(f'<host starttime="{moment}" endtime="{moment}"><status state="{host.get("state", "up")}" '
                     'reason="arp-response"/>')
        parts.append(f'<address addr={quoteattr(host["ip"])} addrtype="ipv4"/>')
        if host.get("mac"):
            parts.append(f'<address addr={quoteattr(host["mac"].upper())} addrtype="mac" vendor="Dell"/>')
        parts.append("<hostnames>")
        if host.get("name"):
            parts.append(f'<hostname name={quoteattr(host["name"])} type="PTR"/>')
        parts.append("</hostnames><ports>")
        for proto, number, service in host.get("ports", []):
            parts.append(f'<port protocol="{proto}" portid="{number}"><state state="open" reason="syn-ack"/>'
                         f'<service name="{service}" method="probed" conf="10"/></port>')
        parts.append("</ports>")
        if host.get("os"):
            family = (f'<osclass type="general purpose" osfamily={quoteattr(host["family"])} accuracy="96"/>'
                      if host.get("family") else "")
            parts.append(f'<os><osmatch name={quoteattr(host["os"])} accuracy="96">{family}</osmatch></os>')
        parts.append("</host>")
    parts.append(f'<runstats><finished time="{start + 60}" exit="success"/><hosts up="{len(hosts)}" down="0" '
                 f'total="{len(hosts)}"/></runstats></nmaprun>')
    path.write_text("\n".join(parts) + "\n")
    return path


def osquery_log(path: Path, hosts: list[dict], unix_time: int = 1795478400) -> Path:
    """An osquery result log in the documented snapshot shape: hosts as {hostname, uuid, serial, mac, ip,
    os: (name, version), programs: [(name, version, publisher)], keys: [authorized_keys rows],
    certificates: [certificates rows]}."""
    import json

    lines = []
    for host in hosts:
        def snapshot(table: str, rows: list[dict]) -> None:
            lines.append(json.dumps({
                "name": f"pack_inventory_{table}", "hostIdentifier": host["hostname"],
                "calendarTime": "Tue Nov 24 00:00:00 2026 UTC", "unixTime": str(unix_time), "epoch": "0",
                "counter": "0", "numerics": False, "decorations": {"host_uuid": host["uuid"]},
                "action": "snapshot", "snapshot": rows}))
        snapshot("system_info", [{"hostname": host["hostname"], "uuid": host["uuid"],
                                  "hardware_serial": host["serial"], "hardware_vendor": "Dell Inc.",
                                  "hardware_model": "Latitude 7440", "computer_name": host["hostname"]}])
        name, version = host.get("os", ("Microsoft Windows 11 Enterprise", "10.0.22631"))
        snapshot("os_version", [{"name": name, "version": version, "platform": "windows"}])
        snapshot("interface_details", [{"interface": "Ethernet", "mac": host["mac"]}])
        snapshot("interface_addresses", [{"interface": "Ethernet", "address": host["ip"]}])
        snapshot("programs", [{"name": n, "version": v, "publisher": p} for n, v, p in host.get("programs", [])])
        if host.get("keys"):
            snapshot("authorized_keys", host["keys"])
        if host.get("certificates"):
            snapshot("certificates", host["certificates"])
    path.write_text("\n".join(lines) + "\n")
    return path
