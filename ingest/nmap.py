"""nmap XML (`-sV -O -oX`): discovery of hosts, addresses, names, open ports and OS guesses.

Parsed as a stream with defusedxml's SAX parser, which refuses entity declarations
and external references (XXE, billion laughs) and gives line numbers for errors.
masscan's XML (`<nmaprun scanner="masscan">`, one `<host>` per port found, no `<status>`) is read too.
"""
from __future__ import annotations

import io
import re
import xml.sax
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import defusedxml.sax
from defusedxml import DefusedXmlException
from pydantic import ValidationError

from graph.identifiers import canonical_ip, canonical_mac
from graph.models import (AssetProperties, Batch, HostObservation, Identifier, PortObservation,
                          ScannedPorts)
from graph.schema import IdentifierKind
from ingest.errors import IngestError, ProblemList, read_limited
from ingest.hostnames import host_name_identifiers

SOURCE = "nmap"
PROTOCOLS = ("tcp", "udp", "sctp")
# A port in one of these states answered a probe: the host is there even if nmap was told it is (-Pn).
ANSWERED = frozenset({"open", "closed", "unfiltered"})


@dataclass
class _Host:
    line: int
    ordinal: int
    state: str | None = None
    reason: str | None = None
    started: int | None = None
    ended: int | None = None
    ips: list[str] = field(default_factory=list)
    macs: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    ports: list[PortObservation] = field(default_factory=list)
    ports_scanned: bool = False       # a <ports> element: a ping scan (-sn) has none
    answered: bool = False            # a port open, closed or unfiltered: something replied
    os_name: str | None = None
    os_accuracy: int = -1
    os_family: str | None = None
    bad_address: bool = False


class _NmapHandler(xml.sax.ContentHandler):
    """Collects <host> elements; every problem names the line of the element at fault."""

    def __init__(self, problems: ProblemList):
        super().__init__()
        self.problems = problems
        self.scan_start: int | None = None
        self.saw_root = False
        self.finished = False
        self.masscan = False
        self.hosts: list[_Host] = []
        self.skipped = 0                  # down, or up only because -Pn said so
        self.scanned: dict[str, list[tuple[int, int]]] | None = None   # None: no <scaninfo>
        self._by_address: dict[tuple[str, ...], _Host] = {}            # masscan: one <host> per port
        self._host: _Host | None = None
        self._port: dict | None = None
        self._in_osmatch = False
        self._locator = None
        self.targets: tuple[str, ...] = ()

    def setDocumentLocator(self, locator):  # noqa: N802 - SAX API
        self._locator = locator

    @property
    def line(self) -> int:
        return self._locator.getLineNumber() if self._locator else 0

    def _int(self, attrs, name: str, element: str) -> int | None:
        raw = attrs.get(name)
        if raw is None:
            self.problems.add(f"<{element}> without {name}", self.line, name)
            return None
        try:
            return int(raw)
        except ValueError:
            self.problems.add(f"<{element} {name}={raw!r}> is not a whole number", self.line, name)
            return None

    def startElement(self, name, attrs):  # noqa: N802 - SAX API
        if not self.saw_root:
            if name != "nmaprun":
                raise IngestError.one(self.problems.file, f"not nmap XML: root element is <{name}>, expected <nmaprun>", self.line)
            self.saw_root = True
            self.masscan = attrs.get("scanner") == "masscan"
            self.scan_start = int(attrs["start"]) if attrs.get("start", "").isdigit() else None
            self.targets = _targets(attrs.get("args", ""))
            return
        host = self._host
        if name == "host":
            self._host = _Host(self.line, len(self.hosts) + 1,
                               started=int(attrs["starttime"]) if attrs.get("starttime", "").isdigit() else None,
                               ended=int(attrs["endtime"]) if attrs.get("endtime", "").isdigit() else None)
        elif name == "scaninfo":
            self._scaninfo(attrs)
        elif name == "finished":
            self.finished = True
        elif host is None:
            return
        elif name == "status":
            host.state, host.reason = attrs.get("state"), attrs.get("reason")
        elif name == "address":
            self._address(host, attrs)
        elif name == "hostname":
            if attrs.get("name"):
                host.names.append(attrs["name"])
        elif name == "ports":
            host.ports_scanned = True
        elif name == "extraports":
            host.answered |= attrs.get("state") in ANSWERED and attrs.get("count", "0") != "0"
        elif name == "port":
            number = self._int(attrs, "portid", "port")
            if number is not None and not 0 <= number <= 65535:
                self.problems.add(f"<port portid={number}> is not a port number (0-65535)", self.line, "portid")
                number = None
            protocol = attrs.get("protocol")
            if protocol not in PROTOCOLS:
                self.problems.add(f"<port protocol={protocol!r}> is not tcp, udp or sctp", self.line, "protocol")
            self._port = {"protocol": protocol, "number": number, "open": False}
        elif name == "state" and self._port is not None:
            self._port["open"] = attrs.get("state") == "open"
            host.answered |= attrs.get("state") in ANSWERED
        elif name == "service" and self._port is not None:
            self._port.update(service=attrs.get("name"), product=attrs.get("product"), version=attrs.get("version"))
        elif name == "osmatch":
            self._in_osmatch = True
            accuracy = self._int(attrs, "accuracy", "osmatch") if attrs.get("accuracy") else 0
            if accuracy is not None and accuracy > host.os_accuracy and attrs.get("name"):
                host.os_name, host.os_accuracy, host.os_family = attrs["name"], accuracy, None
        elif name == "osclass" and host.os_family is None:
            host.os_family = attrs.get("osfamily")
            if host.os_name is None and attrs.get("osfamily"):  # older nmap: <osclass> directly under <os>
                host.os_name = " ".join(filter(None, (attrs.get("vendor"), attrs.get("osfamily"), attrs.get("osgen"))))

    def _scaninfo(self, attrs) -> None:
        """<scaninfo protocol="tcp" services="1,3-4,...">: the ports probed (masscan names none: no range)."""
        scanned = self.scanned if self.scanned is not None else {}
        self.scanned = scanned
        protocol = attrs.get("protocol")
        if protocol not in PROTOCOLS:      # -sO probes IP protocols, not ports
            return
        ranges = scanned.setdefault(protocol, [])
        for part in filter(None, (attrs.get("services") or "").split(",")):
            low, _, high = part.partition("-")
            if not low.isdigit() or not (high or low).isdigit() or not int(low) <= int(high or low) <= 65535:
                self.problems.add(f"<scaninfo services=...{part!r}...> is not a port or port range (0-65535)",
                                  self.line, "services")
                continue
            ranges.append((int(low), int(high or low)))

    def _address(self, host: _Host, attrs) -> None:
        addr, kind = attrs.get("addr"), attrs.get("addrtype")
        if not addr:
            self.problems.add("<address> without addr", self.line, "addr")
            host.bad_address = True
            return
        try:
            if kind == "mac":
                host.macs.append(canonical_mac(addr))
            elif kind in ("ipv4", "ipv6"):
                host.ips.append(canonical_ip(addr))
            else:
                self.problems.add(f"<address addrtype={kind!r}> is not ipv4, ipv6 or mac", self.line, "addrtype")
        except ValueError as exc:
            self.problems.add(str(exc), self.line, "addr")

    def endElement(self, name):  # noqa: N802 - SAX API
        if name == "port" and self._port is not None and self._host is not None:
            port = self._port
            self._port = None
            if port["open"] and port["number"] is not None and port["protocol"] in PROTOCOLS:
                self._host.ports.append(PortObservation(
                    protocol=port["protocol"], number=port["number"], service=port.get("service"),
                    product=port.get("product"), version=port.get("version")))
        elif name == "osmatch":
            self._in_osmatch = False
        elif name == "host" and self._host is not None:
            host, self._host = self._host, None
            if not self._answered(host):
                self.skipped += 1
            elif not host.ips and not host.macs and not host.bad_address:
                self.problems.add("<host> that is up has no <address>", host.line, "address")
            elif self.masscan:
                self._merge(host)
            elif host.ips or host.macs:
                self.hosts.append(host)

    def _answered(self, host: _Host) -> bool:
        """Up, and not only on the scanner's word: -Pn marks every target up (reason="user-set"); such a
        host counts only if a port answered or its MAC shows an ARP reply. masscan writes no <status>:
        a port that answered is its only sign of a host."""
        if self.masscan:
            return host.answered
        if host.state != "up":
            return False
        return host.reason != "user-set" or host.answered or bool(host.macs)

    def _merge(self, host: _Host) -> None:
        """masscan writes one <host> per port found: one host per address, its ports together, its last time."""
        key = tuple(sorted(host.ips + host.macs))
        known = self._by_address.get(key)
        if known is None:
            self._by_address[key] = host
            self.hosts.append(host)
            return
        found = {(port.protocol, port.number) for port in known.ports}   # masscan --banners: one <host> per banner
        known.ports += [port for port in host.ports if (port.protocol, port.number) not in found]
        known.ended = max(filter(None, (known.ended, host.ended)), default=None)


def _observation(path: Path, host: _Host, scan_start: int | None, scanned: ScannedPorts | None,
                 problems: ProblemList) -> HostObservation | None:
    moment = host.ended or host.started or scan_start
    if moment is None:
        problems.add("no endtime on <host> and no start on <nmaprun>: cannot date the sighting", host.line, "endtime")
        return None
    identifiers = [Identifier(kind=IdentifierKind.MAC, value=m) for m in host.macs]
    identifiers += [Identifier(kind=IdentifierKind.IP, value=ip) for ip in host.ips]
    short_name = None
    for name in host.names:
        try:
            names = host_name_identifiers(name)
        except ValueError:
            problems.add(f"{name!r} is not a host name", host.line, "hostname")
            continue
        short_name = short_name or names[0].value
        identifiers += names
    try:
        observed_at = datetime.fromtimestamp(moment, timezone.utc)
    except (OverflowError, OSError, ValueError):
        problems.add(f"time {moment} is out of range", host.line, "endtime")
        return None
    try:
        return HostObservation(
            record=f"{path.name} line {host.line} (host #{host.ordinal})",
            observed_at=observed_at, time_from_source=True,  # the scan's own times
            identifiers=tuple(dict.fromkeys(identifiers)),
            properties=AssetProperties(name=short_name or host.ips[0] if host.ips else short_name,
                                       os_name=host.os_name, os_family=host.os_family),
            ips=tuple(dict.fromkeys(host.ips)),
            # no <ports>: a ping scan, which says nothing of ports (not that none is open)
            ports=tuple(dict.fromkeys(host.ports)) if host.ports_scanned else None,
            scanned_ports=scanned)
    except ValidationError as exc:
        problems.add(f"invalid host: {exc.errors()[0]['msg']}", host.line)
        return None


@dataclass
class NmapScan:
    observations: list[HostObservation]
    skipped: int                      # down, or up only on -Pn's word
    targets: tuple[str, ...] = ()


def parse_nmap(path: Path, limit_bytes: int) -> NmapScan:
    """Every host of an nmap XML file that answered; IngestError for hostile, truncated or malformed files."""
    data = read_limited(path, limit_bytes)
    problems = ProblemList(path)
    handler = _NmapHandler(problems)
    parser = defusedxml.sax.make_parser()
    parser.setContentHandler(handler)
    parser.setFeature(xml.sax.handler.feature_external_ges, False)
    parser.setFeature(xml.sax.handler.feature_external_pes, False)
    source = xml.sax.xmlreader.InputSource(str(path))
    source.setByteStream(io.BytesIO(data))
    try:
        parser.parse(source)
    except DefusedXmlException as exc:
        raise IngestError.one(path, f"refused: {exc} (entity declarations and external references are not allowed)") from None
    except xml.sax.SAXParseException as exc:
        raise IngestError.one(path, f"malformed or truncated XML: {exc.getMessage()} (column {exc.getColumnNumber()})",
                              exc.getLineNumber()) from None
    except LookupError as exc:          # <?xml encoding="..."?> naming no encoding Python knows
        raise IngestError.one(path, f"malformed XML: {exc}", 1) from None
    if not handler.finished:
        problems.add("no <runstats><finished>: the scan was interrupted or the file is truncated", handler.line)
    # no <scaninfo>: the file does not say which ports were probed, and its list replaces the host's
    scanned = None if handler.scanned is None else ScannedPorts.of(handler.scanned)
    observations = [o for h in handler.hosts if (o := _observation(path, h, handler.scan_start, scanned, problems))]
    problems.raise_if_any()
    return NmapScan(observations, handler.skipped, handler.targets)


# nmap's options that take a value (nmap.cc, 7.95: `long_options` with required_argument and the
# getopt string "46Ab:D:d::e:Ffg:hIi:M:m:nO::o:P::p:qRrS:s::T:Vv::"): their values are not targets.
_LONG_WITH_VALUE = frozenset("""
    datadir servicedb versiondb max-os-tries max-parallelism min-parallelism timing max-rtt-timeout
    min-rtt-timeout initial-rtt-timeout excludefile exclude max-hostgroup min-hostgroup scanflags host-timeout
    scan-delay max-scan-delay max-retries oA oN oM oG oS oH oX iL iR sI source-port nsock-engine proxies proxy
    data data-string data-length stylesheet mtu spoof-mac ttl version-intensity dns-servers port-ratio
    exclude-ports top-ports script script-args script-args-file script-help script-timeout ip-options min-rate
    max-rate stats-every route-dst resume""".split())
_SHORT_WITH_VALUE = frozenset("bDegiMmopST")      # -p 22 or -p22
_SHORT_ATTACHED = frozenset("dOPsv")              # -T4 style only: -sV, -Pn, -O2, -vv
_TARGET = re.compile(r"^[A-Za-z0-9_:*][A-Za-z0-9_.:,*%/-]*$")


def _targets(args: str) -> tuple[str, ...]:
    """The targets on nmap's command line (addresses, ranges, CIDRs, host names): what a complete scan
    vouches for. Option values are not targets (-p 22, --top-ports 1000, --exclude ..., -S ...), and
    an input list (-iL FILE, -iR N) is not read: a scan of a list alone has no targets."""
    words, targets = args.split()[1:], []
    values_left = 0
    for word in words:
        if values_left:
            values_left -= 1
        elif word.startswith("-") and len(word) > 1:
            values_left = _takes_value(word)
        elif _TARGET.match(word):
            targets.append(word)
    return tuple(sorted(set(targets)))


def _takes_value(option: str) -> int:
    """1 if the option's value is the next word, else 0 (getopt_long_only: a long name first, for -oX too)."""
    name = option.lstrip("-")
    if "=" in name:
        return 0
    if name.replace("_", "-") in _LONG_WITH_VALUE:
        return 1
    for index, letter in enumerate(name):            # a cluster of short options: -nF -p 22
        if letter in _SHORT_WITH_VALUE:
            return 0 if name[index + 1:] else 1
        if letter in _SHORT_ATTACHED:
            return 0
    return 0


def parse_batch(path: Path, limit_bytes: int) -> Batch:
    """The registry's entry point: a finished scan is complete for the targets on its command line."""
    scan = parse_nmap(path, limit_bytes)
    scopes = [f"nmap:{' '.join(scan.targets)}"] if scan.targets else []
    return Batch(hosts=scan.observations, skipped=scan.skipped, scopes=scopes)
