"""Every connector in one table: source name, CLI command, parser. Parsers turn one file (or a
folder, for certificates) into a validated Batch and raise IngestError; they never touch the graph.
A connector whose format can be read record by record (a CSV export) also names a streamer, which
yields its hosts one at a time: a run larger than one batch then never holds them all."""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from graph.models import Batch, HostObservation
from graph.schema import SOURCES, SourceRole


@dataclass(frozen=True)
class Connector:
    source: str
    command: str
    parser: str            # 'module:function', imported on use
    help: str
    example: str
    streamer: str | None = None     # 'module:function' -> (batch without hosts, hosts one at a time)

    @property
    def role(self) -> SourceRole:
        return SOURCES[self.source]

    def parse(self, path: Path, limit_bytes: int) -> Batch:
        module, _, name = self.parser.partition(":")
        function: Callable[[Path, int], Batch] = getattr(importlib.import_module(module), name)
        return function(path, limit_bytes)

    def stream(self, path: Path, limit_bytes: int) -> tuple[Batch, Iterator[HostObservation]]:
        """One file's batch without its hosts, and its hosts: read one at a time where the format
        allows it (IngestError, if any, once they are all read), else from the parsed file (IngestError
        at once)."""
        if self.streamer is None:
            batch = self.parse(path, limit_bytes)
            hosts, batch.hosts = batch.hosts, []
            return batch, iter(hosts)
        module, _, name = self.streamer.partition(":")
        function: Callable[[Path, int], tuple[Batch, Iterator[HostObservation]]] = getattr(
            importlib.import_module(module), name)
        return function(path, limit_bytes)


CONNECTORS: dict[str, Connector] = {c.command: c for c in (
    Connector("snipeit", "snipeit-assets", "ingest.snipeit:parse_batch",
              "Snipe-IT hardware export CSV: the inventory of record, owners, lifecycle.",
              "itam ingest snipeit-assets exports/assets.csv", "ingest.snipeit:stream_batch"),
    Connector("nmap", "nmap", "ingest.nmap:parse_batch",
              "nmap XML (-sV -O -oX): hosts, addresses, names, open ports, OS guesses.",
              "itam ingest nmap scans/*.xml"),
    Connector("hr", "hr", "ingest.hr:parse_batch",
              "HR directory CSV: people, teams, managers, departure dates.",
              "itam ingest hr hr.csv"),
    Connector("scim", "scim", "ingest.scim:parse_batch",
              "SCIM 2.0 ListResponse of Users (JSON): people, departments, managers, active flag.",
              "itam ingest scim users.json"),
    Connector("osquery", "osquery", "ingest.osquery:parse_batch",
              "osquery result logs (snapshot, event, batch) or osqueryi --json: OS, packages, "
              "interfaces, ports, certificates, SSH keys.",
              "itam ingest osquery osqueryd.results.log"),
    Connector("aws", "aws", "ingest.aws:parse_batch",
              "AWS CLI JSON: ec2 describe-instances/-network-interfaces/-security-groups/-subnets/-vpcs, "
              "IAM credential report.",
              "itam ingest aws aws/*.json"),
    Connector("sbom", "sbom", "ingest.sbom:parse_batch",
              "CycloneDX (1.2-1.6) or SPDX 2.3 JSON SBOM; CycloneDX crypto BOM certificates.",
              "itam ingest sbom app.cdx.json"),
    Connector("licenses", "licenses", "ingest.licenses:parse_licenses",
              "Snipe-IT licence export CSV: seats, expiry, assignments (keys are never stored).",
              "itam ingest licenses licenses.csv"),
    Connector("contracts", "contracts", "ingest.licenses:parse_contracts",
              "Contracts CSV: vendor, reference, term, notice period, covered assets and licences.",
              "itam ingest contracts contracts.csv"),
    Connector("certificates", "certificates", "ingest.certificates:parse_batch",
              "A folder (or files) of PEM/DER X.509 certificates; private keys beside them are skipped.",
              "itam ingest certificates /etc/ssl/exported/"),
    Connector("coverage", "coverage", "ingest.coverage:parse_batch",
              "Control coverage CSV from an EDR, MDM, log shipper or scanner: tool, category, host, check-in.",
              "itam ingest coverage edr-export.csv"),
)}

BY_SOURCE: dict[str, Connector] = {c.source: c for c in CONNECTORS.values()}
