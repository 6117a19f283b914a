"""Control coverage CSV: which hosts an EDR, MDM, log shipper, scanner or backup tool covers, and when
each last checked in. Any tool's device export fits once its columns are named (aliases below):

    tool,category,hostname,serial,mac,last_check_in
    CrowdStrike Falcon,edr,WS-0042,C02XK1ABJG5H,3c:22:fb:01:02:03,2026-08-20T09:14:00Z

- `tool` and `category` are required. Categories: edr, mdm, logging, vulnerability_scanner, monitoring,
  backup, endpoint_agent, or an alias ("antivirus" -> edr, "siem" -> logging, "scanner" ->
  vulnerability_scanner, ... see CATEGORY_ALIASES). One tool has one category throughout a file.
- Identifiers: `hostname` (an FQDN gives the short name too), `fqdn`, `serial`, `mac` (several MACs
  separated by ';', '|' or ','). A row needs at least one. Placeholder serials ("To be filled by O.E.M.",
  "0", ...) and MACs (all zeros, broadcast) are not identifiers and are dropped, since they would merge
  unrelated machines; a `hostname` that is not a host name (an MDM device name such as "Ada's MacBook")
  is ignored when the row has another identifier. Agent ids are deliberately not used: they are single
  valued per asset, and two tools' agent ids would read as two different machines.
- `last_check_in`: ISO date or date-time (no zone means UTC). It becomes the observation's moment and the
  control's `last_seen`; when it is empty the file's modification time is the moment and `last_seen` is
  left unset.
Each row is one host observation with one control and nothing else (no properties, ports or software),
in scope `coverage:<tool>`: a file is the complete export of each tool it names, so hosts a tool no
longer lists go stale for it. A host no other source knows becomes a new asset seen only by 'coverage'.
Text that looks like a spreadsheet formula is refused (see ingest/licenses.py).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from graph.identifiers import canonical_code, canonical_mac
from graph.identity_rules import is_placeholder_code, is_shared_mac
from graph.models import Batch, ControlCategory, ControlObservation, HostObservation, Identifier
from graph.schema import IdentifierKind
from ingest.csvfile import CsvRows, FieldReader, refuse_formula
from ingest.errors import ProblemList
from ingest.dates import file_observed_at
from ingest.hostnames import host_name_identifiers

SOURCE = "coverage"

ALIASES = {
    "tool_name": "tool", "product": "tool", "agent": "tool", "control": "tool",
    "control_category": "category", "control_type": "category", "type": "category",
    "host": "hostname", "host_name": "hostname", "computer_name": "hostname", "computername": "hostname",
    "device_name": "hostname", "devicename": "hostname", "endpoint": "hostname", "endpoint_name": "hostname",
    "dns_name": "fqdn", "dnsname": "fqdn", "fully_qualified_domain_name": "fqdn",
    "serial_number": "serial", "serialnumber": "serial", "device_serial": "serial",
    "mac_address": "mac", "macaddress": "mac", "mac_addresses": "mac", "wifi_mac": "mac", "wi_fi_mac": "mac", "ethernet_mac": "mac",
    "last_seen": "last_check_in", "lastseen": "last_check_in", "last_checkin": "last_check_in",
    "last_check_in_time": "last_check_in", "last_contact": "last_check_in", "last_contact_time": "last_check_in",
    "last_sync": "last_check_in", "last_sync_date_time": "last_check_in", "lastsyncdatetime": "last_check_in",
    "last_report": "last_check_in", "last_reported": "last_check_in", "last_inventory_update": "last_check_in",
}
REQUIRED = ("tool", "category")

CATEGORY_ALIASES = {
    "antivirus": "edr", "anti_virus": "edr", "av": "edr", "epp": "edr", "xdr": "edr",
    "endpoint_protection": "edr", "endpoint_detection_and_response": "edr", "endpoint_security": "edr",
    "device_management": "mdm", "uem": "mdm", "emm": "mdm", "mobile_device_management": "mdm",
    "siem": "logging", "log": "logging", "logs": "logging", "log_shipper": "logging", "log_forwarder": "logging",
    "log_collection": "logging", "log_management": "logging",
    "scanner": "vulnerability_scanner", "vulnerability": "vulnerability_scanner", "vuln": "vulnerability_scanner",
    "vuln_scanner": "vulnerability_scanner", "vulnerability_management": "vulnerability_scanner",
    "vulnerability_scanning": "vulnerability_scanner",
    "observability": "monitoring", "apm": "monitoring", "metrics": "monitoring",
    "backups": "backup",
    "agent": "endpoint_agent", "endpoint": "endpoint_agent",
}

def category_of(value: str) -> ControlCategory:
    key = re.sub(r"[^a-z0-9]+", "_", value.strip().lower()).strip("_")
    try:
        return ControlCategory(CATEGORY_ALIASES.get(key, key))
    except ValueError:
        known = ", ".join(c.value for c in ControlCategory)
        raise ValueError(f"unknown category {value!r}; known: {known} (or an alias such as antivirus, siem, "
                         "scanner)") from None


def check_in(value: str) -> datetime:
    """An ISO date or date-time as an aware UTC moment (no zone means UTC)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO date or date-time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _tool(value: str) -> str:
    return " ".join(refuse_formula(value).split())


def _serial(value: str) -> str | None:
    code = canonical_code(refuse_formula(value))
    return None if is_placeholder_code(code) else code


def _macs(value: str) -> list[str]:
    macs = [canonical_mac(item) for item in re.split(r"[;|,]", value) if item.strip()]
    return [m for m in dict.fromkeys(macs) if not is_shared_mac(m)]


def parse_coverage(path: Path, limit_bytes: int) -> Batch:
    """Every row as a host observation carrying one control; IngestError lists every bad field."""
    rows = CsvRows(path, limit_bytes, ALIASES, REQUIRED)
    problems = ProblemList(path)
    file_time = file_observed_at(path)
    categories: dict[str, tuple[ControlCategory, int]] = {}
    hosts: list[HostObservation] = []
    for line, row in rows:
        field = FieldReader(problems, line, row)
        before = len(problems.problems)
        tool = field.check("tool", _tool) if field.required("tool") else None
        category = field.check("category", category_of) if field.required("category") else None
        serial = field.check("serial", _serial)
        macs = field.check("mac", _macs) or []
        fqdn = field.check("fqdn", lambda v: host_name_identifiers(refuse_formula(v)))
        seen = field.check("last_check_in", check_in)
        hostname_text = field.check("hostname", refuse_formula)
        if tool and category:
            first = categories.setdefault(tool.casefold(), (category, line))
            if first[0] != category:
                problems.add(f"{tool!r} is {first[0].value!r} on line {first[1]}; a tool has one category",
                             line, "category")
        if len(problems.problems) > before or not tool or not category:
            continue
        identifiers: list[Identifier] = []
        if serial:
            identifiers.append(Identifier(kind=IdentifierKind.SERIAL, value=serial))
        identifiers += [Identifier(kind=IdentifierKind.MAC, value=mac) for mac in macs]
        identifiers += fqdn or []
        bad_hostname = None
        if hostname_text:
            try:
                identifiers += host_name_identifiers(hostname_text)
            except ValueError as exc:
                bad_hostname = str(exc)
        identifiers = list(dict.fromkeys(identifiers))
        if not identifiers:
            if bad_hostname:
                problems.add(f"{bad_hostname}, and the row has no serial, MAC or FQDN", line, "hostname")
            else:
                problems.add("no identifier: the row needs a hostname, fqdn, serial or mac "
                             "(placeholder serials and MACs do not count)", line)
            continue
        try:
            hosts.append(HostObservation(
                record=f"{path.name} line {line}", observed_at=seen or file_time, identifiers=tuple(identifiers),
                controls=(ControlObservation(tool=tool, category=category, last_seen=seen),),
                scope=f"coverage:{tool}"))
        except ValidationError as exc:
            error = exc.errors()[0]
            problems.add(error["msg"], line, str(error["loc"][-1]) if error.get("loc") else None)
    problems.raise_if_any()
    scopes = sorted({h.scope for h in hosts if h.scope})
    return Batch(hosts=hosts, scopes=scopes)


def parse_batch(path: Path, limit_bytes: int) -> Batch:
    """The registry's entry point for source 'coverage'."""
    return parse_coverage(path, limit_bytes)
