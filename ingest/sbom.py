"""SBOMs: CycloneDX JSON (1.2 to 1.7, crypto BOM certificates too) and SPDX 2.3 JSON.

The component an SBOM describes becomes an Application asset (a Host for a CycloneDX `device`)
with every listed package as installed software. An application is identified by what stays the same
from one build to the next, as the asset tag `APP:<identity>`: its purl without version, qualifiers and
subpath (an OCI image keeps its repository_url), else its group/name (a container's name without its
tag or digest). A bom-ref is never an identity: it is unique only inside its own BOM (syft writes a
content hash, trivy a UUID). A name that is a path (`trivy fs .` writes ".") names nothing, and an SBOM
with nothing else naming its application is refused. CycloneDX 1.7 external components (provided by the
environment, not bundled) are skipped and counted. Certificates become x509 credentials on the application.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from graph.models import (AssetProperties, Batch, CredentialKind, CredentialObservation, HostObservation,
                          Identifier, SoftwareObservation)
from graph.schema import IdentifierKind
from ingest.errors import IngestError, ProblemList, read_limited
from ingest.jsonfile import JsonFields, json_kind
from ingest.purls import purl_type, read_purl, stable_purl
from ingest.hostnames import host_name_identifiers

SOURCE = "sbom"
CYCLONEDX_VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6", "1.7")
SPDX_VERSIONS = ("SPDX-2.2", "SPDX-2.3")
NOT_AN_SBOM = "not a CycloneDX or SPDX 2.3 JSON SBOM"
SPDX3 = "SPDX 3 (JSON-LD) is not supported; export SPDX 2.3 JSON"
MAX_DEPTH = 32                       # nesting of CycloneDX components
HOST_TYPES = ("device",)             # CycloneDX metadata.component types that are hosts, not applications
NO_VALUE = ("NOASSERTION", "NONE")   # SPDX placeholders
# '.', '..', './x', '../x', '/x', '~/x', 'C:\\x', or any backslash: where a scan ran, not what it scanned
_PATH = re.compile(r"^(\.{1,2}|~)([/\\]|$)|^[/\\]|^[A-Za-z]:[/\\]|\\")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def _load(path: Path, data: bytes) -> dict:
    """The JSON object in the file, or a clear error for anything that is not a JSON SBOM."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise IngestError.one(path, f"{NOT_AN_SBOM}: not UTF-8 text (byte {exc.start})", line) from None
    start = text.lstrip()[:1]
    if not start:
        raise IngestError.one(path, f"{NOT_AN_SBOM}: the file is empty")
    if start == "<":
        raise IngestError.one(path, f"{NOT_AN_SBOM}: this is XML (CycloneDX XML is not supported; export CycloneDX JSON)")
    if start not in "{[":
        raise IngestError.one(path, f"{NOT_AN_SBOM}: not JSON")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError.one(path, f"malformed JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise IngestError.one(path, "malformed JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise IngestError.one(path, f"{NOT_AN_SBOM}: the top level is {json_kind(doc)}, expected an object")
    if "@context" in doc or "@graph" in doc:
        if "spdx" in json.dumps(doc.get("@context", "")).lower() or "spdx" in text[:4096].lower():
            raise IngestError.one(path, SPDX3, field="@context")
        raise IngestError.one(path, f"{NOT_AN_SBOM}: JSON-LD document", field="@context")
    return doc


def _observed_at(path: Path, stated: datetime | None) -> datetime:
    """When the SBOM was made; without a timestamp, when the file was last written."""
    if stated is not None:
        return stated
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)


def _image_repository(reference: str) -> str:
    """'bitnami/elasticsearch:8.7.1-debian-11-r7' -> 'bitnami/elasticsearch': tags and digests change per build."""
    head, _, last = reference.split("@", 1)[0].rpartition("/")
    last = last.split(":", 1)[0]
    return (f"{head}/{last}" if head else last) or reference


def _identity(fields: JsonFields, field: str, name: str | None, purl: str | None, purl_field: str,
              group: str | None = None, container: bool = False) -> tuple[str, str] | None:
    """(identity, display name) of the described application, or None (and a problem) if nothing names it."""
    if purl:
        parsed = read_purl(purl)
        if parsed is None:
            fields.add(f"{purl!r} is not a package URL (pkg:type/name@version)", f"{field}.purl")
            return None
        usable = name if name and not _PATH.search(name) else None
        return stable_purl(parsed), usable or "/".join(p for p in (parsed.namespace, parsed.name) if p)
    if name is None:
        return None                                         # already a problem: name is required
    if _PATH.search(name):
        fields.add(f"{name!r} is the scanned path (`trivy fs .` writes '.'), not the application's name, and nothing "
                   f"else names it: set {field}.name to the application's name or give it {purl_field}", f"{field}.name")
        return None
    base = _image_repository(name) if container else name
    return (f"{group}/{base}" if group else base), name


def _asset(path: Path, fields: JsonFields, record: str, field: str, component_type: str | None, name: str | None,
           ref: str | None, observed_at: datetime, software: list[SoftwareObservation],
           credentials: list[CredentialObservation]) -> HostObservation | None:
    """The described application (or device) as a host observation."""
    if name is None or ref is None:
        return None
    if component_type in HOST_TYPES:
        try:
            identifiers = tuple(host_name_identifiers(name))
        except ValueError:
            fields.add(f"{name!r} is not a host name (a device SBOM must name its device by host name)", f"{field}.name")
            return None
        kind: Literal["Host", "Application"] = "Host"
    else:
        try:
            identifiers = (Identifier.of(IdentifierKind.ASSET_TAG, f"app:{ref}"),)
        except ValueError as exc:
            fields.add(str(exc), field)
            return None
        kind = "Application"
    try:
        return HostObservation(
            record=record, observed_at=observed_at, identifiers=identifiers, kind=kind,
            properties=AssetProperties(name=name), software=tuple(dict.fromkeys(software)),
            credentials=tuple(credentials))
    except ValidationError as exc:
        fields.add(f"invalid: {exc.errors()[0]['msg']}", field)
        return None


# --- CycloneDX ---------------------------------------------------------------------------------

class _CycloneDX:
    def __init__(self, path: Path, doc: dict):
        self.path = path
        self.doc = doc
        self.problems = ProblemList(path)
        self.fields = JsonFields(self.problems)
        self.software: list[SoftwareObservation] = []
        self.certificates: list[tuple[str, dict]] = []      # (JSON path, component)
        self.skipped = 0

    def parse(self) -> Batch:
        fields, doc = self.fields, self.doc
        version = doc.get("specVersion")
        if not isinstance(version, str) or version not in CYCLONEDX_VERSIONS:
            raise IngestError.one(self.path, f"CycloneDX specVersion {version!r} is not supported "
                                             f"({', '.join(CYCLONEDX_VERSIONS)})", field="specVersion")
        metadata = fields.object(doc, "metadata", "", required=True) or {}
        app = fields.object(metadata, "component", "metadata", required=True)
        stated = fields.moment(metadata, "timestamp", "metadata")
        if app is None and not self.problems.problems:
            fields.add("missing", "metadata.component")
        app_type = name = ref = None
        if app is not None:
            where = "metadata.component"
            app_type = fields.text(app, "type", where, required=True)
            name = fields.text(app, "name", where, required=True)
            if app_type in HOST_TYPES:
                ref = name                                  # a device is named by its host name
            else:
                found = _identity(fields, where, name, fields.text(app, "purl", where), f"a {where}.purl",
                                  fields.text(app, "group", where), container=app_type == "container")
                ref, name = found if found else (None, name)
        for index, component in enumerate(fields.array(doc, "components", "")):
            self._component(component, f"components[{index}]", 1)
        credentials = self._credentials(ref or "")
        observation = _asset(self.path, fields, f"{self.path.name} metadata.component", "metadata.component",
                             app_type, name, ref, _observed_at(self.path, stated), self.software, credentials)
        self.problems.raise_if_any()
        if observation is None:
            raise IngestError.one(self.path, "no described component", field="metadata.component")
        return Batch(hosts=[observation], credentials=list(credentials), skipped=self.skipped,
                     scopes=[f"sbom:{ref}"])

    def _component(self, component: Any, path: str, depth: int) -> None:
        fields = self.fields
        if not isinstance(component, dict):
            fields.add(f"expected an object, found {json_kind(component)}", path)
            return
        if depth > MAX_DEPTH:
            fields.add(f"components nested more than {MAX_DEPTH} deep", path)
            return
        component_type = fields.text(component, "type", path, required=True)
        if fields.get(component, "isExternal", path, bool):
            self.skipped += 1                               # CycloneDX 1.7: provided by the environment, not bundled
        elif component_type == "cryptographic-asset":
            crypto = fields.object(component, "cryptoProperties", path) or {}
            if crypto.get("assetType") == "certificate":
                self.certificates.append((path, component))
            else:
                self.skipped += 1                           # algorithms, keys' metadata, protocols
        else:
            self._software(component, path)
        for index, child in enumerate(fields.array(component, "components", path)):
            self._component(child, f"{path}.components[{index}]", depth + 1)

    def _software(self, component: dict, path: str) -> None:
        fields = self.fields
        before = len(self.problems.problems)
        name = fields.text(component, "name", path, required=True)
        version = fields.text(component, "version", path)
        purl = fields.text(component, "purl", path)
        if purl and not purl_type(purl):
            fields.add(f"{purl!r} is not a package URL (pkg:type/name@version)", f"{path}.purl")
        cpe = fields.text(component, "cpe", path)
        supplier = fields.object(component, "supplier", path)
        vendor = (fields.text(component, "publisher", path)
                  or (fields.text(supplier, "name", f"{path}.supplier") if supplier else None)
                  or fields.text(component, "group", path))
        licenses = self._licenses(component, path)
        if name is None or len(self.problems.problems) > before:
            return
        try:
            self.software.append(SoftwareObservation(
                name=name, version=version, vendor=vendor, purl=purl, cpe=cpe,
                package_type=purl_type(purl) if purl else None, licenses=licenses))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "name"
            fields.add(error["msg"], f"{path}.{where}")

    def _licenses(self, component: dict, path: str) -> tuple[str, ...]:
        fields = self.fields
        found = []
        for index, choice in enumerate(fields.array(component, "licenses", path)):
            where = f"{path}.licenses[{index}]"
            if not isinstance(choice, dict):
                fields.add(f"expected an object, found {json_kind(choice)}", where)
                continue
            if "expression" in choice:
                value = fields.text(choice, "expression", where)
            else:
                license_ = fields.object(choice, "license", where, required=True)
                value = None if not license_ else (fields.text(license_, "id", f"{where}.license")
                                                   or fields.text(license_, "name", f"{where}.license"))
            if value:
                found.append(value)
        return tuple(dict.fromkeys(found))

    def _credentials(self, app_ref: str) -> list[CredentialObservation]:
        fields = self.fields
        credentials: dict[str, CredentialObservation] = {}
        for path, component in self.certificates:
            before = len(self.problems.problems)
            props = fields.object(component["cryptoProperties"], "certificateProperties", f"{path}.cryptoProperties") or {}
            where = f"{path}.cryptoProperties.certificateProperties"
            form = fields.text(props, "certificateFormat", where)
            if form and form.upper().replace(".", "").replace(" ", "") != "X509":
                self.skipped += 1                           # PGP and other non-X.509 certificates
                continue
            name = fields.text(component, "name", path, required=True)
            fingerprint = self._fingerprint(component, path, app_ref, name)
            values: dict[str, Any] = dict(subject=fields.text(props, "subjectName", where),
                          issuer=fields.text(props, "issuerName", where),
                          serial_number=fields.text(props, "serialNumber", where),     # CycloneDX 1.7
                          not_before=fields.moment(props, "notValidBefore", where),
                          not_after=fields.moment(props, "notValidAfter", where))
            if len(self.problems.problems) > before or fingerprint is None:
                continue
            try:
                credential = CredentialObservation(record=f"{self.path.name} {path}", kind=CredentialKind.X509,
                                                   fingerprint=fingerprint, name=name, **values)
            except ValidationError as exc:
                fields.add(f"invalid certificate: {exc.errors()[0]['msg']}", path)
                continue
            credentials.setdefault(fingerprint, credential)
        return list(credentials.values())

    def _fingerprint(self, component: dict, path: str, app_ref: str, name: str | None) -> str | None:
        """The SHA-256 of the certificate if the CBOM gives it, else an id that is only good inside SBOMs."""
        fields = self.fields
        for index, entry in enumerate(fields.array(component, "hashes", path)):
            where = f"{path}.hashes[{index}]"
            if not isinstance(entry, dict):
                fields.add(f"expected an object, found {json_kind(entry)}", where)
                return None
            if fields.text(entry, "alg", where) == "SHA-256":
                content = fields.text(entry, "content", where, required=True)
                if content and not _SHA256.match(content):
                    fields.add("is not a SHA-256 (64 hexadecimal digits)", f"{where}.content")
                    return None
                return content.lower() if content else None
        ref = fields.text(component, "bom-ref", path)
        fingerprint = f"cbom:{ref}" if ref else f"cbom:{app_ref}/{name}"
        if len(fingerprint) > 256:
            fields.add("longer than 250 characters", f"{path}.bom-ref")
            return None
        return fingerprint


# --- SPDX 2.x ----------------------------------------------------------------------------------

def _spdx_party(value: str | None) -> str | None:
    """'Organization: Acme (ops@acme.example)' -> 'Acme'; NOASSERTION -> None."""
    if not value or value.upper() in NO_VALUE:
        return None
    rest = re.sub(r"^(Organization|Person|Tool)\s*:\s*", "", value)
    rest = re.sub(r"\s*\([^)]*\)\s*$", "", rest).strip()       # the contact e-mail
    return rest or None


class _SPDX:
    def __init__(self, path: Path, doc: dict):
        self.path = path
        self.doc = doc
        self.problems = ProblemList(path)
        self.fields = JsonFields(self.problems)

    def parse(self) -> Batch:
        fields, doc = self.fields, self.doc
        version = doc.get("spdxVersion")
        if version not in SPDX_VERSIONS:
            if isinstance(version, str) and version.startswith("SPDX-3"):
                raise IngestError.one(self.path, SPDX3, field="spdxVersion")
            raise IngestError.one(self.path, f"{NOT_AN_SBOM}: spdxVersion {version!r} is not SPDX-2.3",
                                  field="spdxVersion")
        document_id = fields.text(doc, "SPDXID", "") or "SPDXRef-DOCUMENT"
        creation = fields.object(doc, "creationInfo", "") or {}
        stated = fields.moment(creation, "created", "creationInfo")
        packages = fields.array(doc, "packages", "")
        ids: dict[str, int] = {}
        for index, package in enumerate(packages):
            if not isinstance(package, dict):
                fields.add(f"expected an object, found {json_kind(package)}", f"packages[{index}]")
                continue
            spdx_id = fields.text(package, "SPDXID", f"packages[{index}]", required=True)
            if spdx_id:
                ids.setdefault(spdx_id, index)
        described = self._described(document_id, ids)
        software, app = [], None
        for index, package in enumerate(packages):
            if not isinstance(package, dict):
                continue
            parsed = self._package(package, f"packages[{index}]")
            if parsed is None:
                continue
            if described is not None and index == described:
                app = parsed
            else:
                software.append(parsed)
        observation, ref = None, None
        where = f"packages[{described}]"
        found = _identity(fields, where, app.name, app.purl, f"a purl in {where}.externalRefs") if app else None
        if found is not None:
            ref, name = found
            observation = _asset(self.path, fields, f"{self.path.name} {where}", where, None, name, ref,
                                 _observed_at(self.path, stated), software, [])
        self.problems.raise_if_any()
        if observation is None:
            raise IngestError.one(self.path, "no described package", field="documentDescribes")
        return Batch(hosts=[observation], scopes=[f"sbom:{ref}"])

    def _described(self, document_id: str, ids: dict[str, int]) -> int | None:
        """The index in packages[] of the one package the document describes."""
        fields, doc = self.fields, self.doc
        targets = []
        for index, value in enumerate(fields.array(doc, "documentDescribes", "")):
            if isinstance(value, str):
                targets.append(value)
            else:
                fields.add(f"expected a string, found {json_kind(value)}", f"documentDescribes[{index}]")
        for index, rel in enumerate(fields.array(doc, "relationships", "")):
            where = f"relationships[{index}]"
            if not isinstance(rel, dict):
                fields.add(f"expected an object, found {json_kind(rel)}", where)
                continue
            kind = fields.text(rel, "relationshipType", where)
            element, related = fields.text(rel, "spdxElementId", where), fields.text(rel, "relatedSpdxElement", where)
            if kind == "DESCRIBES" and element == document_id and related:
                targets.append(related)
            elif kind == "DESCRIBED_BY" and related == document_id and element:
                targets.append(element)
        packages = list(dict.fromkeys(t for t in targets if t in ids))
        if not packages:
            fields.add("the document names no package it describes "
                       "(documentDescribes or a DESCRIBES relationship to a package)", "documentDescribes")
            return None
        if len(packages) > 1:
            fields.add(f"describes {len(packages)} packages ({', '.join(packages)}); "
                       "expected one application per SBOM", "documentDescribes")
            return None
        return ids[packages[0]]

    def _package(self, package: dict, path: str) -> SoftwareObservation | None:
        fields = self.fields
        before = len(self.problems.problems)
        name = fields.text(package, "name", path, required=True)
        version = fields.text(package, "versionInfo", path)
        vendor = _spdx_party(fields.text(package, "supplier", path)) or _spdx_party(fields.text(package, "originator", path))
        licenses = [fields.text(package, key, path) for key in ("licenseConcluded", "licenseDeclared")]
        purl = cpe = None
        for index, ref in enumerate(fields.array(package, "externalRefs", path)):
            where = f"{path}.externalRefs[{index}]"
            if not isinstance(ref, dict):
                fields.add(f"expected an object, found {json_kind(ref)}", where)
                continue
            kind = fields.text(ref, "referenceType", where, required=True)
            locator = fields.text(ref, "referenceLocator", where, required=True)
            if kind == "purl" and locator and purl is None:
                if not purl_type(locator):
                    fields.add(f"{locator!r} is not a package URL (pkg:type/name@version)", f"{where}.referenceLocator")
                purl = locator
            elif kind in ("cpe23Type", "cpe22Type") and locator and cpe is None:
                cpe = locator
        if name is None or len(self.problems.problems) > before:
            return None
        try:
            return SoftwareObservation(
                name=name, version=version if version and version.upper() not in NO_VALUE else None,
                vendor=vendor, purl=purl, cpe=cpe, package_type=purl_type(purl) if purl else None,
                licenses=tuple(dict.fromkeys(v for v in licenses if v and v.upper() not in NO_VALUE)))
        except ValidationError as exc:
            error = exc.errors()[0]
            fields.add(error["msg"], f"{path}.{'.'.join(str(p) for p in error['loc']) or 'name'}")
            return None


def parse_batch(path: Path, limit_bytes: int) -> Batch:
    """The registry's entry point: one SBOM file, one described application and its packages."""
    doc = _load(path, read_limited(path, limit_bytes))
    if doc.get("bomFormat") == "CycloneDX":
        return _CycloneDX(path, doc).parse()
    if "spdxVersion" in doc:
        return _SPDX(path, doc).parse()
    raise IngestError.one(path, f"{NOT_AN_SBOM}: no bomFormat \"CycloneDX\" and no spdxVersion")
