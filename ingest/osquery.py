"""osquery results: osqueryd result logs (snapshot, event and batch formats) and `osqueryi --json` arrays.

A result log has one JSON object per line (osquery's docs, deployment/logging.md): `name` (the
scheduled query), `hostIdentifier` (older logs: `hostname`), `calendarTime`, `unixTime`, `epoch`,
`counter`, `decorations`, and either `snapshot: [rows]` (action "snapshot"), `columns: {row}` with
action "added"/"removed" (event format) or `diffResults: {added: [...], removed: [...]}` (batch
format). Values are strings unless osqueryd ran with --logger_numerics.

Differential logs are replayed per host and query, in epoch then counter order: a new epoch starts
afresh, and an execution with counter 0 (or a snapshot) is the whole table, so the current state is
complete; otherwise only the changes are known and reported as such (`software_added`/`_removed`).

`osqueryi --json` prints a plain array of rows for one query on one host; several may be
concatenated in one file. It has no host identifier, so the file must include system_info rows.

Each line is a record: problems name the line and the field (`columns.port`, `snapshot[3].port`,
`diffResults.added[0].port`; for osqueryi arrays `[3].port`).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from graph.identifiers import canonical_mac
from graph.identity_rules import is_placeholder_code, is_shared_mac, is_virtual_interface
from graph.models import (AssetProperties, check_email, Batch, ControlCategory, ControlObservation, CredentialKind,
                          CredentialObservation, HostObservation, Identifier, PortObservation, SoftwareObservation)
from graph.schema import IdentifierKind
from ingest.errors import IngestError, ProblemList, read_limited
from ingest.jsonfile import JsonFields, json_kind, member, shown
from ingest.purls import package_purl
from ingest.hostnames import host_name_identifiers

SOURCE = "osquery"
MAX_LINE_BYTES = 1024 * 1024
NOT_OSQUERY = "not an osquery result log or osqueryi --json array"

# Tables this connector reads, tried in this order against a query's name.
TABLES = ("system_info", "os_version", "deb_packages", "rpm_packages", "programs", "interface_addresses",
          "interface_details", "listening_ports", "certificates", "authorized_keys")
PACKAGE_TABLES = {"deb_packages": "deb", "rpm_packages": "rpm", "programs": "program"}
# The column a row of each table must have when only the query's name says which table it is.
KEY_COLUMN = {"system_info": ("uuid", "hostname", "hardware_serial", "computer_name"), "os_version": ("name",),
              "deb_packages": ("name",), "rpm_packages": ("name",), "programs": ("name",),
              "interface_addresses": ("address",), "interface_details": ("mac",), "listening_ports": ("port",),
              "certificates": ("sha1",), "authorized_keys": ("key",)}

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_EC2_INSTANCE = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_LOCALHOST = {"localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6", "localhost.local"}
_HEX = re.compile(r"^[0-9a-f]+$", re.I)
_RPM_NAMESPACE = {"rhel": "redhat", "amzn": "amzn", "ol": "oracle", "sles": "suse", "opensuse-leap": "opensuse",
                  "opensuse-tumbleweed": "opensuse"}


class _Skip(Exception):
    """A row that is valid but says nothing for the graph."""


# ---------------------------------------------------------------------------------------------
# Reading a row's values


class _Where:
    """One row of a result: its line and JSON path prefix ('columns', 'snapshot[3]', 'diffResults.added[0]',
    '[3]'). Values are strings unless osqueryd ran with --logger_numerics, so both are read."""

    def __init__(self, problems: ProblemList, line: int | None, prefix: str):
        self.fields = JsonFields(problems, line)
        self.line, self.prefix = line, prefix

    @property
    def bad(self) -> bool:
        return self.fields.found > 0

    @property
    def record(self) -> str:
        name = Path(self.fields.problems.file).name
        return f"{name} line {self.line}, {self.prefix}" if self.line else f"{name} {self.prefix}"

    def add(self, message: str, column: str) -> None:
        self.fields.add(message, member(self.prefix, column))

    def text(self, row: dict, column: str) -> str | None:
        return self.fields.text(row, column, self.prefix, numbers=True)

    def integer(self, row: dict, column: str) -> int | None:
        return self.fields.whole(row, column, self.prefix, strings=True)


def _row_key(row: dict) -> tuple:
    """A row's identity for differential replay: every column, numbers and strings alike."""
    return tuple(sorted((k, v if isinstance(v, str) else json.dumps(v)) for k, v in row.items()))


_HOME = re.compile(r"^/(?:home|Users)/([^/]+)/")


def _key_holder(key: dict) -> dict:
    """Who an authorized key belongs to: an e-mail in its comment, else the home folder it sits in."""
    comment = (key.get("comment") or "").strip()
    if "@" in comment and "." in comment.rsplit("@", 1)[-1]:
        try:
            return {"issued_to_email": check_email(comment)}
        except ValueError:
            pass
    home = _HOME.match(key.get("key_file") or "")
    return {"issued_to_user": home.group(1)} if home else {}


def _meaningful(text: str | None) -> str | None:
    """A hardware string unless it is a firmware placeholder ('To Be Filled By O.E.M.', '0', ...)."""
    if text is None:
        return None
    value = text.strip()
    if is_placeholder_code(value):
        return None
    return value


# ---------------------------------------------------------------------------------------------
# One parser per table: a row becomes a small fact, None (nothing to say) or a problem.


def _system_info(row: dict, where: _Where) -> dict:
    return {key: where.text(row, column) for key, column in (
        ("hostname", "hostname"), ("uuid", "uuid"), ("serial", "hardware_serial"), ("vendor", "hardware_vendor"),
        ("model", "hardware_model"), ("computer_name", "computer_name"), ("local_hostname", "local_hostname"))}


def _os_version(row: dict, where: _Where) -> dict:
    return {key: where.text(row, key) for key in ("name", "version", "platform", "platform_like", "codename")}


def _package(table: str):
    def parse(row: dict, where: _Where) -> dict:
        if "name" not in row:
            where.add("missing: every package row needs a name", "name")
            return {}
        fact: dict[str, Any] = {key: where.text(row, key)
                                for key in ("name", "version", "arch", "release", "vendor", "publisher")}
        fact["epoch"] = where.integer(row, "epoch") if table == "rpm_packages" else None
        if not fact["name"]:
            raise _Skip
        if len(fact["name"]) > 512:
            where.add("is longer than 512 characters", "name")
        return fact
    return parse


def _address(row: dict, where: _Where) -> str | None:
    interface = where.text(row, "interface") or ""
    text = where.text(row, "address")
    if not text:
        raise _Skip
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        where.add(f"{text!r} is not an IP address", "address")
        return None
    if is_virtual_interface(interface) or ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        raise _Skip
    return str(ip)


def _mac(row: dict, where: _Where) -> str | None:
    interface = where.text(row, "interface") or ""
    text = where.text(row, "mac")
    if not text or is_virtual_interface(interface):
        raise _Skip
    try:
        mac = canonical_mac(text)
    except ValueError:
        if all(_HEX.match(part) for part in text.split(":")):
            raise _Skip from None       # a longer hardware address (InfiniBand, FireWire): not a MAC
        where.add(f"{text!r} is not a MAC address", "mac")
        return None
    if is_shared_mac(mac):
        raise _Skip
    return mac


_PROTOCOLS: dict[int, Literal["tcp", "udp", "sctp"]] = {6: "tcp", 17: "udp", 132: "sctp"}


def _listening_port(row: dict, where: _Where) -> tuple[Literal["tcp", "udp", "sctp"], int, bool] | None:
    number = where.integer(row, "port")
    protocol = where.integer(row, "protocol")
    address = where.text(row, "address") or ""
    if "port" not in row:
        where.add("missing: a listening_ports row needs its port", "port")
    if number is not None and number > 65535:
        where.add(f"{number} is not a port number (0-65535)", "port")
    if where.bad or number is None or number <= 0 or protocol not in _PROTOCOLS:
        raise _Skip                    # unix sockets (port 0, protocol 0) and raw sockets say nothing
    try:
        loopback = ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        loopback = False
    return _PROTOCOLS[protocol], number, loopback


def _timestamp(where: _Where, row: dict, column: str) -> datetime | None:
    seconds = where.integer(row, column)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        where.add(f"{seconds} is not a time (seconds since 1970)", column)
        return None


def _certificate(row: dict, where: _Where) -> CredentialObservation | None:
    sha1 = where.text(row, "sha1")
    if not sha1:
        where.add("missing: a certificate row needs its sha1", "sha1")
        return None
    if not (len(sha1) == 40 and _HEX.match(sha1)):
        where.add(f"{sha1!r} is not a SHA-1 fingerprint (40 hex digits)", "sha1")
    common_name = where.text(row, "common_name") or None
    subject, issuer = where.text(row, "subject") or None, where.text(row, "issuer") or None
    not_before = _timestamp(where, row, "not_valid_before")
    not_after = _timestamp(where, row, "not_valid_after")
    usage = where.text(row, "key_usage") or ""
    serial = where.text(row, "serial") or None
    if where.bad:
        return None
    return CredentialObservation(
        record=where.record, kind=CredentialKind.X509, fingerprint=f"sha1:{sha1.lower()}", name=common_name or subject,
        subject=subject, issuer=issuer, serial_number=serial, not_before=not_before, not_after=not_after,
        key_usage=tuple(u.strip() for u in usage.split(",") if u.strip()))


def ssh_fingerprint(blob: bytes) -> str:
    """What `ssh-keygen -l` prints: SHA256 of the key blob, base64 without padding."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _ssh_key(row: dict, where: _Where) -> dict | None:
    text = where.text(row, "key")
    if not text:
        where.add("missing: an authorized_keys row needs its key", "key")
        return None
    # osquery gives the base64 blob alone; tolerate a whole 'type blob comment' line too.
    token = next((t for t in text.split() if t.startswith("AAAA")), text.split()[0])
    try:
        blob = base64.b64decode(token, validate=True)
        length = int.from_bytes(blob[:4], "big")
        algorithm = blob[4:4 + length].decode("ascii")
        if not 0 < length < 64 or len(blob) < 4 + length or not algorithm.isprintable():
            raise ValueError
    except (binascii.Error, ValueError, UnicodeDecodeError):
        where.add("is not a base64 SSH public key", "key")
        return None
    fact = {"fingerprint": ssh_fingerprint(blob), "algorithm": where.text(row, "algorithm") or algorithm,
            "comment": where.text(row, "comment") or None, "key_file": where.text(row, "key_file") or None,
            "uid": where.integer(row, "uid"), "record": where.record}
    return None if where.bad else fact


PARSERS = {"system_info": _system_info, "os_version": _os_version, "deb_packages": _package("deb_packages"),
           "rpm_packages": _package("rpm_packages"), "programs": _package("programs"),
           "interface_addresses": _address, "interface_details": _mac, "listening_ports": _listening_port,
           "certificates": _certificate, "authorized_keys": _ssh_key}


def _tables_by_columns(columns: set[str]) -> list[str]:
    """Which tables rows with these columns come from (a join of system_info with another: both)."""
    found = []
    if columns & {"uuid", "hostname"} and columns & {"hardware_serial", "hardware_model", "hardware_vendor",
                                                     "computer_name", "cpu_brand"}:
        found.append("system_info")
    if {"name", "version"} <= columns:
        if columns & {"platform", "platform_like", "codename", "major"}:
            found.append("os_version")
        elif columns & {"maintainer", "revision", "priority", "section", "admindir"}:
            found.append("deb_packages")
        elif columns & {"release", "package_group", "install_time"}:
            found.append("rpm_packages")
        elif columns & {"publisher", "install_location", "identifying_number", "install_source"}:
            found.append("programs")
    if {"interface", "mac"} <= columns:
        found.append("interface_details")
    if {"interface", "address"} <= columns:
        found.append("interface_addresses")
    if {"port", "protocol"} <= columns:
        found.append("listening_ports")
    if "sha1" in columns and columns & {"common_name", "not_valid_after", "issuer", "subject"}:
        found.append("certificates")
    if "key" in columns and columns & {"key_file", "algorithm"}:
        found.append("authorized_keys")
    return found


def tables_of(name: str | None, rows: list[dict]) -> list[str]:
    """The tables a query's rows come from: its name if it names one (pack_inventory_deb_packages), else its columns."""
    columns = {c for row in rows for c in row}
    lowered = (name or "").lower()
    for table in TABLES:
        if table in lowered and (not rows or columns & set(KEY_COLUMN[table])):
            return [table]
    return _tables_by_columns(columns)


# ---------------------------------------------------------------------------------------------
# Records: one result-log line, or one osqueryi array


@dataclass
class _Change:
    action: str                 # 'added' or 'removed' (a snapshot's rows are 'added' to an empty state)
    key: tuple
    fact: Any


@dataclass
class _Record:
    line: int | None
    name: str
    time: datetime | None
    snapshot: bool
    epoch: int | None = None
    counter: int | None = None
    ident: str | None = None          # hostIdentifier (or hostname)
    deco_uuid: str | None = None
    deco_host: str | None = None
    changes: dict[str, list[_Change]] = field(default_factory=dict)   # by table
    deco_instance: str | None = None  # decorations.instance_id (SELECT instance_id FROM ec2_instance_metadata)


def _rows_of(obj: dict, where: ProblemList, line: int) -> tuple[bool, list[tuple[str, str, Any]]] | None:
    """(is a snapshot, [(action, field prefix, row)]) of a result-log object, or None after a problem."""
    if "snapshot" in obj or obj.get("action") == "snapshot":
        rows = obj.get("snapshot")
        if not isinstance(rows, list):
            where.add("a snapshot result needs a list of rows", line, "snapshot")
            return None
        return True, [("added", f"snapshot[{i}]", row) for i, row in enumerate(rows)]
    if "diffResults" in obj:
        diff = obj["diffResults"]
        if not isinstance(diff, dict):
            where.add("is not an object of added and removed rows", line, "diffResults")
            return None
        out = []
        for action in ("removed", "added"):
            rows = diff.get(action, [])
            if rows is None:
                rows = []
            if not isinstance(rows, list):
                where.add("is not a list of rows", line, f"diffResults.{action}")
                return None
            out += [(action, f"diffResults.{action}[{i}]", row) for i, row in enumerate(rows)]
        return False, out
    event = obj.get("action")
    if event in ("added", "removed"):
        if "columns" not in obj:
            where.add(f"an {event!r} event needs its columns", line, "columns")
            return None
        return False, [(event, "columns", obj["columns"])]
    if event is not None:
        where.add(f"{shown(event)} is not snapshot, added or removed", line, "action")
    else:
        where.add("no snapshot, columns or diffResults: not a query result", line, "action")
    return None


_CALENDAR = re.compile(r"\s+")


def _parse_time(obj: dict, problems: ProblemList, line: int | None) -> datetime | None:
    raw = obj.get("unixTime")
    if raw is not None:
        where = _Where(problems, line, "")
        seconds = where.integer(obj, "unixTime")
        if seconds is not None:
            try:
                return datetime.fromtimestamp(seconds, timezone.utc)
            except (OverflowError, OSError, ValueError):
                problems.add(f"{seconds} is not a time (seconds since 1970)", line, "unixTime")
        return None
    text = obj.get("calendarTime")
    if text is None:
        problems.add("missing: no unixTime or calendarTime to date the result", line, "unixTime")
        return None
    if isinstance(text, str):
        cleaned = _CALENDAR.sub(" ", text.strip())
        cleaned = cleaned[:-4] if cleaned.endswith(" UTC") else cleaned
        try:
            return datetime.strptime(cleaned, "%a %b %d %H:%M:%S %Y").replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    problems.add(f"{shown(text)} is not a time like 'Tue Sep 30 17:37:30 2014 UTC'", line, "calendarTime")
    return None


def _optional_text(obj: dict, key: str, problems: ProblemList, line: int | None, path: str = "") -> str | None:
    return JsonFields(problems, line).text(obj, key, path, numbers=True)


def _table_changes(problems: ProblemList, line: int | None, name: str | None,
                   rows: list[tuple[str, str, Any]], skipped: list[int]) -> dict[str, list[_Change]]:
    """Parse every row of one result for each table it comes from."""
    good = []
    for action, prefix, row in rows:
        if not isinstance(row, dict):
            problems.add(f"{shown(row)} is not a row (a JSON object of columns)", line, prefix)
            continue
        for column, value in row.items():
            if isinstance(value, (dict, list)):
                problems.add(f"{shown(value)} is not a column value", line, f"{prefix}.{column}")
        good.append((action, prefix, row))
    tables = tables_of(name, [row for _, _, row in good])
    if not tables:
        skipped[0] += 1
        return {}
    changes: dict[str, list[_Change]] = {table: [] for table in tables}
    for action, prefix, row in good:
        for table in tables:
            where = _Where(problems, line, prefix)
            try:
                fact = PARSERS[table](row, where)
            except _Skip:
                continue
            if not where.bad and fact is not None:
                changes[table].append(_Change(action, _row_key(row), fact))
    return changes


def _log_record(obj: Any, line: int, problems: ProblemList, skipped: list[int], status: list[int]) -> _Record | None:
    if not isinstance(obj, dict):
        problems.add(f"expected one JSON object per line, found {json_kind(obj)}", line)
        return None
    if "severity" in obj and "message" in obj and not ({"snapshot", "columns", "diffResults"} & obj.keys()):
        skipped[0] += 1                  # an osquery status log line mixed in: not a result
        status[0] += 1
        return None
    before = len(problems.problems)
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add("missing: every result names its query" if name is None else f"{shown(name)} is not a query name",
                     line, "name")
    ident = _optional_text(obj, "hostIdentifier", problems, line) or _optional_text(obj, "hostname", problems, line)
    decorations = obj.get("decorations") or {}
    if not isinstance(decorations, dict):
        problems.add(f"{shown(decorations)} is not an object", line, "decorations")
        decorations = {}
    deco_uuid = (_optional_text(decorations, "host_uuid", problems, line, "decorations")
                 or _optional_text(decorations, "uuid", problems, line, "decorations")
                 or _optional_text(obj, "host_uuid", problems, line))       # --decorations_top_level
    deco_host = _optional_text(decorations, "hostname", problems, line, "decorations")
    deco_instance = _optional_text(decorations, "instance_id", problems, line, "decorations")
    if not (ident or deco_uuid or deco_host):
        problems.add("missing: no hostIdentifier, hostname or decorations say which host this is from",
                     line, "hostIdentifier")
    time = _parse_time(obj, problems, line)
    where = _Where(problems, line, "")
    epoch, counter = where.integer(obj, "epoch"), where.integer(obj, "counter")
    shape = _rows_of(obj, problems, line)
    if shape is None or len(problems.problems) > before:
        if shape is not None:
            _table_changes(problems, line, name if isinstance(name, str) else None, shape[1], [0])
        return None
    snapshot, rows = shape
    changes = _table_changes(problems, line, name, rows, skipped)
    if len(problems.problems) > before:
        return None
    assert isinstance(name, str)         # anything else was a problem above
    return _Record(line, name, time, snapshot, epoch, counter, ident, deco_uuid, deco_host, changes, deco_instance)


# ---------------------------------------------------------------------------------------------
# Reading the file


def _check_lines(data: bytes, problems: ProblemList) -> None:
    for number, raw in enumerate(data.split(b"\n"), 1):
        if len(raw) > MAX_LINE_BYTES:
            problems.add(f"line is {len(raw)} bytes, longer than the limit of {MAX_LINE_BYTES} bytes (1 MiB) "
                         "for one line", number)
    problems.raise_if_any()


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError.one(path, f"not UTF-8 text ({exc.reason})", data[:exc.start].count(b"\n") + 1) from None


def _json_values(path: Path, text: str):
    """Concatenated JSON values (pretty-printed objects, osqueryi arrays), each with the line it starts on."""
    decoder = json.JSONDecoder()
    position, line, counted = 0, 1, 0
    end_of_text = len(text.rstrip())
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position >= len(text):
            return
        line += text.count("\n", counted, position)
        counted = position
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            if exc.pos >= end_of_text:
                raise IngestError.one(path, f"malformed JSON: {exc.msg}: the file ends inside this record "
                                            "(truncated?)", line) from None
            raise IngestError.one(path, f"malformed JSON: {exc.msg}", exc.lineno) from None
        except RecursionError:
            raise IngestError.one(path, f"refused: JSON nested more than {sys.getrecursionlimit()} levels deep",
                                  line) from None
        yield value, line


def _log_lines(path: Path, data: bytes, problems: ProblemList):
    """A result log's objects, one a line; every malformed line is reported."""
    lines = data.split(b"\n")
    last = len(lines) if lines[-1].strip() else len(lines) - 1
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.add(f"not UTF-8 text ({exc.reason})", number)
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            truncated = number == last and not data.endswith(b"\n") and not text.rstrip().endswith("}")
            problems.add(f"malformed JSON: {exc.msg}" + (": the last line is cut short (truncated file?)"
                                                         if truncated else ""), number)
            continue
        except RecursionError:
            problems.add(f"refused: JSON nested more than {sys.getrecursionlimit()} levels deep", number)
            continue
        yield value, number


def _looks_like_result(obj: Any) -> bool:
    return isinstance(obj, dict) and bool({"snapshot", "columns", "diffResults", "action", "hostIdentifier",
                                           "unixTime", "calendarTime", "severity"} & obj.keys())


# ---------------------------------------------------------------------------------------------
# Replaying a host's results


@dataclass
class _State:
    present: dict = field(default_factory=dict)
    absent: dict = field(default_factory=dict)
    complete: bool = False


def _replay(records: list[_Record], table: str) -> _State:
    """One query's rows of a table after applying its results in epoch, then counter, order."""
    epochs: dict[int | None, list[_Record]] = defaultdict(list)
    for record in records:
        epochs[record.epoch].append(record)
    ordered = sorted(epochs.values(), key=lambda rs: min((r.time or datetime.min.replace(tzinfo=timezone.utc),
                                                          r.line or 0) for r in rs))
    state = _State()
    for group in ordered:
        state = _State()                               # a new epoch starts afresh
        group.sort(key=lambda r: (r.counter if r.counter is not None else -1,
                                  r.time or datetime.min.replace(tzinfo=timezone.utc), r.line or 0))
        state.complete = group[0].snapshot or group[0].counter == 0
        for record in group:
            if record.snapshot:
                state.present, state.absent, state.complete = {}, {}, True
            for change in record.changes.get(table, ()):
                if change.action == "added":
                    state.present[change.key] = change.fact
                    state.absent.pop(change.key, None)
                else:
                    state.present.pop(change.key, None)
                    state.absent[change.key] = change.fact
    return state


@dataclass
class _Table:
    """A table's rows on one host, over every query that reads it."""
    present: list = field(default_factory=list)
    absent: list = field(default_factory=list)
    complete: bool = False
    seen: bool = False


def _tables(records: list[_Record]) -> dict[str, _Table]:
    by_query: dict[tuple[str, str], list[_Record]] = defaultdict(list)
    for record in records:
        for table in record.changes:
            by_query[(table, record.name)].append(record)
    out: dict[str, _Table] = defaultdict(_Table)
    for (table, _name), query_records in sorted(by_query.items()):
        state = _replay(query_records, table)
        merged = out[table]
        merged.seen = True
        merged.complete = merged.complete or state.complete
        merged.present += list(state.present.values())
        merged.absent += list(state.absent.values())
    return out


_UBUNTU_VERSION = re.compile(r"ubuntu|build\d")
_RPM_VENDORS = {"red hat, inc.": "redhat", "centos": "centos", "fedora project": "fedora", "almalinux": "almalinux",
                "rocky enterprise software foundation": "rocky", "amazon linux": "amzn", "amazon.com": "amzn",
                "oracle america": "oracle", "opensuse": "opensuse", "suse llc": "suse"}


def _namespaces(platform: str | None, facts: list[tuple[str, dict]]) -> dict[str, str | None]:
    """The purl namespace (the distribution) of deb and rpm packages on a host: os_version's platform,
    else, when only changes were logged and os_version was not, what the packages themselves show."""
    if platform:
        return {"deb": platform, "rpm": _RPM_NAMESPACE.get(platform, platform)}
    debs = [f.get("version") or "" for kind, f in facts if kind == "deb"]
    vendors = [_RPM_VENDORS.get((f.get("vendor") or "").split("<")[0].strip().lower()) for kind, f in facts
               if kind == "rpm"]
    known = [v for v in vendors if v]
    return {"deb": "ubuntu" if any(_UBUNTU_VERSION.search(v) for v in debs) else "debian",
            "rpm": max(sorted(set(known)), key=known.count) if known else None}


def _purl(kind: str, fact: dict, namespaces: dict[str, str | None]) -> tuple[str | None, str | None]:
    """(purl, installed version) of a deb or rpm package row."""
    name, version = fact["name"], fact.get("version") or None
    if kind == "rpm" and version and fact.get("release"):
        version = f"{version}-{fact['release']}"
    if kind not in ("deb", "rpm"):
        return None, version
    namespace = namespaces.get(kind)
    if not namespace:
        return None, version
    qualifiers: list[tuple[str, str]] = []
    if fact.get("arch"):
        qualifiers.append(("arch", fact["arch"]))
    if kind == "rpm" and fact.get("epoch"):
        qualifiers.append(("epoch", str(fact["epoch"])))
    return package_purl(kind, namespace.lower(), name, version, tuple(qualifiers)), version


def _software(facts: list[tuple[str, dict]], namespaces: dict[str, str | None]) -> list[SoftwareObservation]:
    out: dict[tuple[str, str, str], SoftwareObservation] = {}
    for kind, fact in facts:
        purl, version = _purl(kind, fact, namespaces)
        vendor = fact.get("publisher") if kind == "program" else fact.get("vendor") if kind == "rpm" else None
        sw = SoftwareObservation(name=fact["name"], version=version, vendor=vendor or None, purl=purl,
                                 package_type=kind)
        out.setdefault((sw.key, sw.version or "", sw.purl or ""), sw)
    # In the order osquery listed them; a product with several versions (kernels) keeps every one.
    return list(out.values())


def _host_names(*candidates: str | None) -> tuple[list[Identifier], str | None]:
    identifiers, short_name = [], None
    for text in candidates:
        if not text or _UUID.match(text) or text.strip().lower().rstrip(".") in _LOCALHOST:
            continue
        try:
            names = host_name_identifiers(text)
        except ValueError:
            continue                      # a custom host identifier that is not a host name
        short_name = short_name or names[0].value
        identifiers += names
    return identifiers, short_name


def _agent_id(*candidates: str | None) -> str | None:
    for text in candidates:
        if text and _UUID.match(text.strip()) and not is_placeholder_code(text):
            return text.strip().upper()
    return None


_OS_FAMILY = {"windows": "Windows", "darwin": "macOS", "freebsd": "FreeBSD"}


def _observation(path: Path, label: str, records: list[_Record], observed_at: datetime | None,
                 problems: ProblemList) -> HostObservation | None:
    tables = _tables(records)
    first_line = min((r.line for r in records if r.line), default=None)
    times = [r.time for r in records if r.time]
    from_source = observed_at is None       # result logs carry unixTime; osqueryi --json output does not
    observed_at = observed_at or max(times)
    system = tables["system_info"].present[-1] if tables["system_info"].present else {}
    os_row = tables["os_version"].present[-1] if tables["os_version"].present else {}
    ident = next((r.ident for r in records if r.ident), None)
    deco_uuid = next((r.deco_uuid for r in records if r.deco_uuid), None)
    deco_host = next((r.deco_host for r in records if r.deco_host), None)
    instance = next((text for text in [r.deco_instance for r in records] + [ident]
                     if text and _EC2_INSTANCE.match(text)), None)

    identifiers: list[Identifier] = []
    agent = _agent_id(system.get("uuid"), deco_uuid, ident)
    if agent:
        identifiers.append(Identifier(kind=IdentifierKind.AGENT_ID, value=agent))
    serial = _meaningful(system.get("serial"))
    if serial:
        identifiers.append(Identifier.of(IdentifierKind.SERIAL, serial))
    if instance:          # an EC2 instance: the AWS connector's cloud_id
        identifiers.append(Identifier(kind=IdentifierKind.CLOUD_ID, value=instance))
    names, short_name = _host_names(system.get("hostname"), system.get("local_hostname"), deco_host,
                                    None if ident == instance else ident)
    identifiers += names
    macs = sorted(set(tables["interface_details"].present))
    identifiers += [Identifier(kind=IdentifierKind.MAC, value=m) for m in macs]
    ips = sorted(set(tables["interface_addresses"].present), key=lambda a: (":" in a, a))
    identifiers += [Identifier(kind=IdentifierKind.IP, value=ip) for ip in ips]
    if not identifiers:
        problems.add(f"host {label!r} has no usable identifier: no system_info uuid, serial or host name, "
                     "and the host identifier is not a host name or UUID", first_line, "hostIdentifier")
        return None

    platform = (os_row.get("platform") or "").lower() or None
    os_name = " ".join(p for p in (os_row.get("name"), os_row.get("version")) if p) or None
    family = None
    if platform:
        family = _OS_FAMILY.get(platform, "Linux")

    ports = None
    listening = tables["listening_ports"]
    if listening.complete:
        loopback_only: dict[tuple[Literal["tcp", "udp", "sctp"], int], bool] = {}
        for protocol, number, loopback in listening.present:
            loopback_only[(protocol, number)] = loopback_only.get((protocol, number), True) and loopback
        ports = tuple(PortObservation(protocol=p, number=n)
                      for (p, n), only_local in sorted(loopback_only.items()) if not only_local)

    package_facts: dict[str, list[tuple[str, dict]]] = {kind: [] for kind in ("present", "absent")}
    complete = False
    for table, kind in PACKAGE_TABLES.items():
        state = tables[table]
        complete = complete or state.complete
        package_facts["present"] += [(kind, f) for f in state.present]
        package_facts["absent"] += [(kind, f) for f in state.absent]
    namespaces = _namespaces(platform, package_facts["present"] + package_facts["absent"])
    present = _software(package_facts["present"], namespaces)
    software: tuple[SoftwareObservation, ...] | None = None
    added: tuple[SoftwareObservation, ...] = ()
    removed: tuple[SoftwareObservation, ...] = ()
    if complete:
        software = tuple(present)
    elif any(tables[t].seen for t in PACKAGE_TABLES):
        still = {(sw.key, sw.version) for sw in present}      # removed, then added again: still there
        added = tuple(present)
        removed = tuple(sw for sw in _software(package_facts["absent"], namespaces) if (sw.key, sw.version) not in still)

    credentials: dict[str, CredentialObservation] = {}
    for cert in tables["certificates"].present:
        credentials.setdefault(cert.fingerprint, cert)
    strong = [i for i in identifiers if i.kind in (IdentifierKind.AGENT_ID, IdentifierKind.SERIAL)]
    grants = tuple(strong[:1] or names[:1])
    for key in tables["authorized_keys"].present:
        owner = f"uid {key['uid']}" if key["uid"] is not None else "a user"
        credentials.setdefault(key["fingerprint"], CredentialObservation(
            record=key["record"],
            kind=CredentialKind.SSH_KEY, fingerprint=key["fingerprint"],
            name=key["comment"] or f"{key['algorithm']} key of {owner} in {key['key_file'] or 'authorized_keys'}",
            grants_access_to=grants, **_key_holder(key)))

    scope_id = agent or short_name or identifiers[0].value
    try:
        return HostObservation(
            record=f"{path.name} line {first_line} (host {label})" if first_line else f"{path.name} (host {label})",
            observed_at=observed_at, time_from_source=from_source,
            identifiers=tuple(dict.fromkeys(identifiers)),
            properties=AssetProperties(
                name=short_name, os_name=os_name, os_version=os_row.get("version") or None, os_family=family,
                manufacturer=_meaningful(system.get("vendor")), model=_meaningful(system.get("model"))),
            ips=tuple(ips), ports=ports, software=software, software_added=added, software_removed=removed,
            credentials=tuple(credentials[k] for k in sorted(credentials)),
            controls=(ControlObservation(tool="osquery", category=ControlCategory.ENDPOINT_AGENT,
                                         last_seen=observed_at),),
            scope=f"osquery:host:{scope_id}")
    except ValidationError as exc:
        problems.add(f"invalid host: {exc.errors()[0]['msg']}", first_line)
        return None


def _group(records: list[_Record]) -> dict[str, list[_Record]]:
    """Records by host: the decorations' host UUID when there is one, else the host identifier
    (joined to the UUID other lines of the same identifier carry). A placeholder UUID groups
    nothing, and a UUID several host identifiers report (VMs cloned without a new one) is one
    host per identifier: identity resolution decides whether they are one machine."""
    uuids_of: dict[str, set[str]] = defaultdict(set)
    idents_of: dict[str, set[str]] = defaultdict(set)
    for record in records:
        uuid = _host_uuid(record)
        if uuid and record.ident:
            uuids_of[record.ident.lower()].add(uuid)
            idents_of[uuid].add(record.ident.lower())
    hosts: dict[str, list[_Record]] = defaultdict(list)
    for record in records:
        ident = (record.ident or record.deco_host or "").lower()
        uuid = _host_uuid(record)
        if not uuid and record.ident and len(uuids_of.get(ident, ())) == 1:
            uuid = next(iter(uuids_of[ident]))
        hosts[uuid if uuid and len(idents_of[uuid]) <= 1 else ident].append(record)
    return hosts


def _host_uuid(record: _Record) -> str | None:
    uuid = (record.deco_uuid or "").upper()
    return uuid if uuid and not is_placeholder_code(uuid) else None


def _parse_log(path: Path, data: bytes, problems: ProblemList) -> Batch:
    skipped, status = [0], [0]
    records: list[_Record] = []
    if data.lstrip().split(b"\n", 1)[0].strip() == b"{":
        values = _json_values(path, _decode(path, data))          # pretty-printed results, as in the docs
    else:
        values = _log_lines(path, data, problems)
    first = True
    for obj, line in values:
        if first and not _looks_like_result(obj):
            raise IngestError.one(path, f"{NOT_OSQUERY}: a JSON object with no query result fields "
                                        "(snapshot, columns, diffResults, hostIdentifier, unixTime)", line)
        first = False
        record = _log_record(obj, line, problems, skipped, status)
        if record is not None:
            records.append(record)
    problems.raise_if_any()
    if first:
        raise IngestError.one(path, f"{NOT_OSQUERY}: no results in the file")
    if not records and status[0]:
        raise IngestError.one(path, f"{NOT_OSQUERY}: only status lines (severity, message), no query results")
    hosts = []
    for label, host_records in _group(records).items():
        obs = _observation(path, label, host_records, None, problems)
        if obs:
            hosts.append(obs)
    problems.raise_if_any()
    return Batch(hosts=hosts, skipped=skipped[0], scopes=sorted({h.scope for h in hosts if h.scope}))


def _parse_arrays(path: Path, data: bytes, problems: ProblemList) -> Batch:
    """osqueryi --json: one array of rows per query, one host, no host identifier: system_info says who."""
    arrays = list(_json_values(path, _decode(path, data)))
    skipped = [0]
    records = []
    for number, (value, line) in enumerate(arrays):
        if not isinstance(value, list):
            raise IngestError.one(path, f"{NOT_OSQUERY}: expected only JSON arrays of rows, "
                                        f"found {json_kind(value)}", line)
        if value and not all(isinstance(row, dict) for row in value) and number == 0:
            raise IngestError.one(path, f"{NOT_OSQUERY}: the array holds no rows (JSON objects)", line)
        at = None if len(arrays) == 1 else line
        changes = _table_changes(problems, at, None, [("added", f"[{i}]", row) for i, row in enumerate(value)],
                                 skipped)
        records.append(_Record(at, f"osqueryi array {number + 1}", None, True, changes=changes))
    problems.raise_if_any()
    systems = [fact for r in records for c in r.changes.get("system_info", ()) for fact in [c.fact]
               if fact.get("uuid") or fact.get("hostname") or fact.get("serial")]
    if not systems:
        raise IngestError.one(path, "osqueryi --json output does not say which host it is from: add system_info "
                                    "rows to the file (e.g. osqueryi --json 'SELECT * FROM system_info' >> file)")
    if len({(s.get("uuid"), s.get("hostname")) for s in systems}) > 1:
        raise IngestError.one(path, "system_info rows of more than one host: osqueryi output is from one host",
                              field="system_info")
    observed_at = datetime.fromtimestamp(int(path.stat().st_mtime), timezone.utc)
    label = systems[0].get("hostname") or systems[0].get("uuid") or "osqueryi"
    obs = _observation(path, label, records, observed_at, problems)
    problems.raise_if_any()
    assert obs is not None               # no observation only when there were problems, raised above
    return Batch(hosts=[obs], skipped=skipped[0], scopes=[obs.scope] if obs.scope else [])


def parse_batch(path: Path, limit_bytes: int) -> Batch:
    """Hosts (identifiers, OS, hardware, interfaces, ports, packages, certificates, SSH keys) of a result
    log or osqueryi --json output; IngestError (naming line and field) for anything malformed."""
    data = read_limited(path, limit_bytes)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    problems = ProblemList(path)
    start = data.lstrip()[:1]
    if start not in (b"{", b"["):
        what = "an XML file" if start == b"<" else "an empty file" if not start else "not JSON"
        raise IngestError.one(path, f"{NOT_OSQUERY} ({what})", 1 if start else None)
    _check_lines(data, problems)
    if start == b"[":
        return _parse_arrays(path, data, problems)
    return _parse_log(path, data, problems)
