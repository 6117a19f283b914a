"""SBOM ingest: real CycloneDX 1.4 SBOMs and a 1.6 crypto BOM (CycloneDX/bom-examples), trivy's and syft's
CycloneDX 1.5-1.7 output (aquasecurity/trivy testdata), SPDX 2.3 JSON, and wrong-format, malformed and hostile input."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ingest.errors import IngestError
from ingest.pipeline import ingest_files
from ingest.sbom import parse_batch
from tests.conftest import FIXTURES, stored_times

SBOM = FIXTURES / "sbom"
JUICE_SHOP, LARAVEL, CBOM = SBOM / "juice-shop.cdx.json", SBOM / "laravel.cdx.json", SBOM / "certificate.cbom.json"
SPDX23, SPDX3 = SBOM / "spdx23.spdx.json", SBOM / "spdx3.jsonld"
TRIVY_IMAGE, TRIVY_FS = SBOM / "trivy-image.cdx17.json", SBOM / "trivy-fs-npm.cdx17.json"     # CycloneDX 1.7
TRIVY_OCI, SYFT_FILE = SBOM / "trivy-oci-digest.cdx.json", SBOM / "syft-file-hash-ref.cdx.json"
LIMIT = 8 * 1024 * 1024
CBOM_REF = ("crypto/certificate/google.com@sha256:1e15e0fbd3ce95bde5945633ae96add551341b11e5bae7bba12e98ad84a5beb4")


def write_json(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc, indent=1))
    return path


def cyclonedx(**changes) -> dict:
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
           "metadata": {"timestamp": "2026-02-01T10:00:00Z",
                        "component": {"type": "application", "name": "shop", "version": "3.1", "bom-ref": "shop@3.1"}},
           "components": [{"type": "library", "name": "lodash", "version": "4.17.21",
                           "purl": "pkg:npm/lodash@4.17.21"}]}
    doc.update(changes)
    return doc


# --- the parser ----------------------------------------------------------------------------------

def test_juice_shop_is_an_application_with_its_npm_packages():
    batch = parse_batch(JUICE_SHOP, LIMIT)
    [app] = batch.hosts
    assert app.kind == "Application"
    assert [i.key for i in app.identifiers] == ["asset_tag:APP:PKG:NPM/JUICE-SHOP"]     # the purl, not this build
    assert app.properties.name == "juice-shop"
    assert batch.scopes == ["sbom:pkg:npm/juice-shop"]
    doc = json.loads(JUICE_SHOP.read_text())
    assert len(doc["components"]) == 1115
    assert len(app.software) == len({c["purl"] for c in doc["components"]}) == 978    # repeated entries once
    helper = next(s for s in app.software if s.name == "helper-string-parser")
    assert (helper.version, helper.vendor, helper.package_type, helper.licenses) == ("7.19.4", "@babel", "npm", ("MIT",))
    assert helper.purl == "pkg:npm/%40babel/helper-string-parser@7.19.4#packages/babel-helper-string-parser"
    assert helper.key == "pkg:npm/%40babel/helper-string-parser"
    assert any(s.licenses == ("(MIT OR Apache-2.0)",) for s in app.software)     # a licence expression
    assert (batch.credentials, batch.skipped) == ([], 0)


def test_laravel_composer_packages_with_vendor_from_group():
    [app] = parse_batch(LARAVEL, LIMIT).hosts
    assert [i.value for i in app.identifiers] == ["APP:PKG:COMPOSER/CYCLONEDX/CYCLONEDX-PHP-COMPOSER-DEMO"]
    assert len(app.software) == 62
    framework = next(s for s in app.software if s.name == "framework" and s.vendor == "laravel")
    assert (framework.package_type, framework.version) == ("composer", framework.purl.rsplit("@", 1)[1])


def test_crypto_bom_certificate_is_a_credential_on_the_application():
    batch = parse_batch(CBOM, LIMIT)
    [app] = batch.hosts
    assert (app.kind, app.properties.name, app.software) == ("Application", "my application", ())
    assert [i.value for i in app.identifiers] == ["APP:MY APPLICATION"]
    [cert] = batch.credentials
    assert app.credentials == (cert,)
    assert cert.kind == "x509"
    assert cert.fingerprint == f"cbom:{CBOM_REF}"          # no SHA-256 in the CBOM: only an SBOM-local id
    assert (cert.name, cert.subject) == ("google.com", "CN = www.google.com")
    assert cert.issuer == "C = US, O = Google Trust Services LLC, CN = GTS CA 1C3"
    assert (cert.not_before.isoformat(), cert.not_after.isoformat()) == (
        "2016-11-21T08:00:00+00:00", "2017-11-22T07:59:59+00:00")
    assert batch.skipped == 3                                # two algorithms and a key's metadata


def test_crypto_bom_certificate_with_a_sha256_uses_it(tmp_path):
    doc = json.loads(CBOM.read_text())
    digest = "AB" * 32
    doc["components"][0]["hashes"] = [{"alg": "SHA-1", "content": "00" * 20}, {"alg": "SHA-256", "content": digest}]
    [cert] = parse_batch(write_json(tmp_path / "cbom.json", doc), LIMIT).credentials
    assert cert.fingerprint == digest.lower()


def test_nested_components_and_uuid_bom_ref(tmp_path):
    doc = cyclonedx()
    doc["metadata"]["component"].update({"bom-ref": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
                                         "purl": "pkg:docker/shop@3.1"})
    doc["components"][0]["components"] = [{"type": "library", "name": "inner", "version": "1",
                                           "supplier": {"name": "Inner Ltd"}, "publisher": "Inner Publishing",
                                           "licenses": [{"license": {"name": "Custom"}}], "cpe": "cpe:2.3:a:x:inner:1"}]
    batch = parse_batch(write_json(tmp_path / "bom.json", doc), LIMIT)
    [app] = batch.hosts
    assert [i.value for i in app.identifiers] == ["APP:PKG:DOCKER/SHOP"]    # random bom-refs are no identity
    inner = app.software[1]
    assert (inner.name, inner.vendor, inner.licenses, inner.cpe, inner.purl) == (
        "inner", "Inner Publishing", ("Custom",), "cpe:2.3:a:x:inner:1", None)
    assert app.observed_at.isoformat() == "2026-02-01T10:00:00+00:00"


def test_device_sbom_is_a_host_named_by_host_name(tmp_path):
    doc = cyclonedx()
    doc["metadata"]["component"] = {"type": "device", "name": "edge-fw-01", "version": "7.2"}
    [host] = parse_batch(write_json(tmp_path / "fw.json", doc), LIMIT).hosts
    assert (host.kind, [i.key for i in host.identifiers]) == ("Host", ["hostname:edge-fw-01"])
    doc["metadata"]["component"]["name"] = "Edge-FW-01.Corp.Example.com."     # named as DNS knows it
    [host] = parse_batch(write_json(tmp_path / "fw.json", doc), LIMIT).hosts
    assert [i.key for i in host.identifiers] == ["hostname:edge-fw-01", "fqdn:edge-fw-01.corp.example.com"]
    doc["metadata"]["component"]["name"] = "Edge Firewall 01"
    with pytest.raises(IngestError, match="field 'metadata.component.name': 'Edge Firewall 01' is not a host name"):
        parse_batch(write_json(tmp_path / "fw.json", doc), LIMIT)


@pytest.mark.parametrize("version", ["1.2", "1.3", "1.4", "1.5", "1.6", "1.7"])
def test_every_supported_cyclonedx_version(tmp_path, version):
    batch = parse_batch(write_json(tmp_path / "bom.json", cyclonedx(specVersion=version)), LIMIT)
    assert batch.hosts[0].software[0].name == "lodash"


def test_trivy_cyclonedx_17_image_sbom_loads_its_components():
    """trivy's default output is CycloneDX 1.7; its own golden image SBOM loads like any other."""
    batch = parse_batch(TRIVY_IMAGE, LIMIT)
    [app] = batch.hosts
    assert json.loads(TRIVY_IMAGE.read_text())["specVersion"] == "1.7"
    assert (app.kind, app.properties.name, [i.value for i in app.identifiers]) == (
        "Application", "maven-test-project", ["APP:MAVEN-TEST-PROJECT"])      # its bom-ref is a UUID: no identity
    software = {s.name: s for s in app.software}
    assert len(app.software) == 11
    assert (software["musl"].key, software["musl"].version, software["musl"].licenses) == (
        "pkg:apk/alpine/musl", "1.2.3-r0", ("MIT",))
    assert (software["child-project"].vendor, software["child-project"].package_type) == ("org.codehaus.mojo", "maven")
    assert software["github.com/package-url/packageurl-go"].key == "pkg:golang/github.com/package-url/packageurl-go"
    assert (batch.skipped, batch.scopes) == (0, ["sbom:maven-test-project"])


def test_cyclonedx_17_external_components_are_skipped_and_counted(tmp_path):
    """1.7's isExternal: provided by the environment, not bundled, so not installed with the application."""
    doc = cyclonedx(specVersion="1.7")
    doc["components"] += [{"type": "library", "name": "glibc", "isExternal": True, "versionRange": "vers:deb/>=2.31"},
                          {"type": "library", "name": "zlib", "version": "1.3", "isExternal": False,
                           "licenses": [{"expression": "Zlib"}, {"expression": "MIT OR Apache-2.0"},
                                        {"license": {"id": "BSD-3-Clause"}}]}]      # 1.7: several expressions
    batch = parse_batch(write_json(tmp_path / "bom.json", doc), LIMIT)
    assert [(s.name, s.licenses) for s in batch.hosts[0].software] == [
        ("lodash", ()), ("zlib", ("Zlib", "MIT OR Apache-2.0", "BSD-3-Clause"))]
    assert batch.skipped == 1
    doc["components"][1]["isExternal"] = "yes"
    with pytest.raises(IngestError, match=r"field 'components\[1\].isExternal': expected a boolean, found a string"):
        parse_batch(write_json(tmp_path / "bom.json", doc), LIMIT)


def test_cyclonedx_17_certificate_serial_number(tmp_path):
    doc = json.loads(CBOM.read_text())
    doc["specVersion"] = "1.7"
    doc["components"][0]["cryptoProperties"]["certificateProperties"]["serialNumber"] = "0a:1b:2c"
    [cert] = parse_batch(write_json(tmp_path / "cbom.json", doc), LIMIT).credentials
    assert cert.serial_number == "0a:1b:2c"


# --- an application is the same application in its next build ---------------------------------------

def test_an_image_pinned_by_digest_is_identified_by_its_repository_not_the_digest(tmp_path):
    batch = parse_batch(TRIVY_OCI, LIMIT)
    [app] = batch.hosts
    assert [i.value for i in app.identifiers] == [
        "APP:PKG:OCI/ELASTICSEARCH?REPOSITORY_URL=INDEX.DOCKER.IO/BITNAMI/ELASTICSEARCH"]   # no digest, no arch
    assert batch.scopes == ["sbom:pkg:oci/elasticsearch?repository_url=index.docker.io/bitnami/elasticsearch"]
    assert app.properties.name == "bitnami/elasticsearch:8.7.1-debian-11-r7"
    doc = json.loads(TRIVY_OCI.read_text())
    rebuilt = doc["metadata"]["component"]
    rebuilt["purl"] = rebuilt["bom-ref"] = ("pkg:oci/elasticsearch@sha256:" + "0" * 64 +
                                            "?repository_url=index.docker.io%2Fbitnami%2Felasticsearch&arch=amd64")
    assert parse_batch(write_json(tmp_path / "next.json", doc), LIMIT).hosts[0].identifiers == app.identifiers
    rebuilt["purl"] = "pkg:oci/elasticsearch@sha256:" + "0" * 64 + "?repository_url=index.docker.io%2Flibrary%2Felasticsearch"
    other = parse_batch(write_json(tmp_path / "other.json", doc), LIMIT).hosts[0]
    assert other.identifiers != app.identifiers                   # someone else's elasticsearch image


def test_an_image_without_a_purl_is_identified_by_its_name_without_tag_or_digest(tmp_path):
    doc = json.loads(TRIVY_OCI.read_text())
    component = doc["metadata"]["component"]
    del component["purl"], component["bom-ref"]
    for reference in ("bitnami/elasticsearch:8.7.1-debian-11-r7", "bitnami/elasticsearch:8.8.0",
                      "bitnami/elasticsearch@sha256:" + "d4" * 32):
        component["name"] = reference
        [app] = parse_batch(write_json(tmp_path / "image.json", doc), LIMIT).hosts
        assert ([i.value for i in app.identifiers], app.properties.name) == (["APP:BITNAMI/ELASTICSEARCH"], reference)
    component["name"] = "registry.example:5000/team/api:2.1"              # a registry port is not a tag
    assert parse_batch(write_json(tmp_path / "image.json", doc), LIMIT).hosts[0].identifiers[0].value == (
        "APP:REGISTRY.EXAMPLE:5000/TEAM/API")


def test_a_name_is_identified_with_its_group_and_without_the_version(tmp_path):
    doc = cyclonedx()
    doc["metadata"]["component"] = {"type": "application", "group": "com.acme", "name": "billing",
                                    "version": "3.1", "bom-ref": "billing@3.1"}
    [app] = parse_batch(write_json(tmp_path / "bom.json", doc), LIMIT).hosts
    assert ([i.value for i in app.identifiers], app.properties.name) == (["APP:COM.ACME/BILLING"], "billing")


def test_a_syft_content_hash_bom_ref_is_no_identity_and_a_scanned_path_is_no_name(tmp_path):
    doc = json.loads(SYFT_FILE.read_text())
    component = doc["metadata"]["component"]
    assert (component["bom-ref"], component["name"]) == (
        "64c458de142e8a93", r"C:\dev\IdeaProjects\sample-spring-boot\target\demo-0.0.1-SNAPSHOT.jar")
    with pytest.raises(IngestError) as caught:
        parse_batch(SYFT_FILE, LIMIT)
    assert str(caught.value) == (
        f"{SYFT_FILE}, field 'metadata.component.name': {component['name']!r} is the scanned path "
        "(`trivy fs .` writes '.'), not the application's name, and nothing else names it: "
        "set metadata.component.name to the application's name or give it a metadata.component.purl")
    component["name"] = "sample-spring-boot"
    batch = parse_batch(write_json(tmp_path / "named.json", doc), LIMIT)
    assert ([i.value for i in batch.hosts[0].identifiers], batch.scopes) == (
        ["APP:SAMPLE-SPRING-BOOT"], ["sbom:sample-spring-boot"])


@pytest.mark.parametrize("path", [".", "..", "./services/billing", "../billing", "/builds/4711/billing", "~",
                                  "C:/Users/dev/billing", "target\\billing.jar"])
def test_trivy_fs_of_a_path_without_a_purl_is_refused_naming_the_field(tmp_path, path):
    doc = json.loads(TRIVY_FS.read_text())
    doc["metadata"]["component"]["name"] = path                  # `trivy fs .` writes "."
    with pytest.raises(IngestError, match=r"field 'metadata.component.name': .* is the scanned path .*"
                                          r"set metadata.component.name to the application's name"):
        parse_batch(write_json(tmp_path / "fs.json", doc), LIMIT)
    doc["metadata"]["component"]["purl"] = "pkg:npm/billing@1.4.0"   # ...unless something else names it
    [app] = parse_batch(write_json(tmp_path / "fs.json", doc), LIMIT).hosts
    assert ([i.value for i in app.identifiers], app.properties.name) == (["APP:PKG:NPM/BILLING"], "billing")


def test_trivy_fs_of_a_relative_directory_is_named_by_it():
    """A bare relative name ('services/billing') cannot be told from a Go module or image name: it is kept."""
    [app] = parse_batch(TRIVY_FS, LIMIT).hosts
    assert [i.value for i in app.identifiers] == ["APP:TESTDATA/FIXTURES/REPO/NPM"]
    assert len(app.software) == 13


def test_spdx_described_package_named_by_a_path_without_a_purl_is_refused(tmp_path):
    doc = json.loads(SPDX23.read_text())
    described = next(i for i, p in enumerate(doc["packages"]) if p["name"] == "billing-api")
    doc["packages"][described]["name"] = "."
    assert parse_batch(write_json(tmp_path / "dot.spdx.json", doc), LIMIT).hosts[0].properties.name == "billing-api"
    doc["packages"][described]["externalRefs"] = []
    with pytest.raises(IngestError, match=rf"field 'packages\[{described}\].name': '.' is the scanned path .* "
                                          rf"or give it a purl in packages\[{described}\].externalRefs"):
        parse_batch(write_json(tmp_path / "dot.spdx.json", doc), LIMIT)


def test_every_version_of_a_package_in_one_sbom_is_parsed():
    """juice-shop bundles ansi-regex 2.1.1, 4.1.1 and 5.0.1: the parser keeps all three (one product, three
    versions); storing them as three installs is the writer's part."""
    [app] = parse_batch(JUICE_SHOP, LIMIT).hosts
    versions = sorted(s.version for s in app.software if s.name == "ansi-regex")
    assert versions == ["2.1.1", "4.1.1", "5.0.1"]
    assert {s.key for s in app.software if s.name == "ansi-regex"} == {"pkg:npm/ansi-regex"}


def test_spdx_23_described_package_is_the_application():
    batch = parse_batch(SPDX23, LIMIT)
    [app] = batch.hosts
    assert (app.kind, app.properties.name) == ("Application", "billing-api")
    assert [i.value for i in app.identifiers] == ["APP:PKG:PYPI/BILLING-API"]
    assert app.observed_at.isoformat() == "2026-03-02T09:30:00+00:00"
    software = {s.name: s for s in app.software}
    assert sorted(software) == ["internal-utils", "openssl", "requests"]
    requests = software["requests"]
    assert (requests.version, requests.vendor, requests.purl, requests.package_type, requests.licenses) == (
        "2.32.3", "Kenneth Reitz", "pkg:pypi/requests@2.32.3", "pypi", ("Apache-2.0",))
    assert requests.cpe == "cpe:2.3:a:python:requests:2.32.3:*:*:*:*:*:*:*"
    assert (software["openssl"].vendor, software["openssl"].key) == ("Debian", "pkg:deb/debian/openssl")
    assert software["internal-utils"].model_dump(exclude={"name"}) == {
        "version": None, "vendor": None, "purl": None, "cpe": None, "package_type": None, "licenses": ()}


def test_spdx_describes_by_relationship_only_and_ambiguity(tmp_path):
    doc = json.loads(SPDX23.read_text())
    del doc["documentDescribes"]
    assert parse_batch(write_json(tmp_path / "rel.spdx.json", doc), LIMIT).hosts[0].properties.name == "billing-api"
    two = copy.deepcopy(doc)
    two["documentDescribes"] = ["SPDXRef-Package-billing-api", "SPDXRef-Package-internal-utils"]
    with pytest.raises(IngestError, match="field 'documentDescribes': describes 2 packages"):
        parse_batch(write_json(tmp_path / "two.spdx.json", two), LIMIT)
    none = copy.deepcopy(doc)
    none["relationships"] = []
    with pytest.raises(IngestError, match="field 'documentDescribes': the document names no package it describes"):
        parse_batch(write_json(tmp_path / "none.spdx.json", none), LIMIT)


def test_spdx_bad_package_fields_are_all_named(tmp_path):
    doc = json.loads(SPDX23.read_text())
    doc["packages"][1]["versionInfo"] = 2.32
    doc["packages"][2]["externalRefs"][1]["referenceLocator"] = "openssl"
    with pytest.raises(IngestError) as caught:
        parse_batch(write_json(tmp_path / "bad.spdx.json", doc), LIMIT)
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'bad.spdx.json'}, field 'packages[1].versionInfo': expected a string, found a number",
        f"{tmp_path / 'bad.spdx.json'}, field 'packages[2].externalRefs[1].referenceLocator': "
        "'openssl' is not a package URL (pkg:type/name@version)"]


# --- refused input -------------------------------------------------------------------------------

def test_spdx_3_json_ld_is_refused():
    with pytest.raises(IngestError) as caught:
        parse_batch(SPDX3, LIMIT)
    assert str(caught.value) == f"{SPDX3}, field '@context': SPDX 3 (JSON-LD) is not supported; export SPDX 2.3 JSON"


def test_cyclonedx_xml_and_other_files_are_not_sboms(tmp_path):
    xml = tmp_path / "bom.xml"
    xml.write_text('<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.4" version="1"></bom>')
    with pytest.raises(IngestError, match="bom.xml: not a CycloneDX or SPDX 2.3 JSON SBOM: this is XML"):
        parse_batch(xml, LIMIT)
    csv = tmp_path / "assets.csv"
    csv.write_text("asset_tag,status\nA-1,Deployed\n")
    with pytest.raises(IngestError, match="assets.csv: not a CycloneDX or SPDX 2.3 JSON SBOM: not JSON"):
        parse_batch(csv, LIMIT)
    other = write_json(tmp_path / "package.json", {"name": "shop", "dependencies": {}})
    with pytest.raises(IngestError, match="package.json: not a CycloneDX or SPDX 2.3 JSON SBOM"):
        parse_batch(other, LIMIT)
    array = write_json(tmp_path / "array.json", [cyclonedx()])
    with pytest.raises(IngestError, match="the top level is a list, expected an object"):
        parse_batch(array, LIMIT)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(IngestError, match="empty.json: not a CycloneDX or SPDX 2.3 JSON SBOM: the file is empty"):
        parse_batch(empty, LIMIT)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b'{"bomFormat": "\xff\xfe"}')
    with pytest.raises(IngestError, match="not UTF-8 text"):
        parse_batch(binary, LIMIT)


@pytest.mark.parametrize("version", ["1.1", "1.8", "2.0", 1.4, None])
def test_unsupported_cyclonedx_versions(tmp_path, version):
    with pytest.raises(IngestError, match="field 'specVersion': CycloneDX specVersion .* is not supported"):
        parse_batch(write_json(tmp_path / "bom.json", cyclonedx(specVersion=version)), LIMIT)


def test_truncated_json_names_the_line(tmp_path):
    text = LARAVEL.read_text()
    cut = tmp_path / "cut.json"
    cut.write_text(text[: len(text) // 2])
    with pytest.raises(IngestError, match=r"cut.json line \d+: malformed JSON: "):
        parse_batch(cut, LIMIT)


def test_bad_components_are_all_named_by_json_path(tmp_path):
    doc = json.loads(LARAVEL.read_text())
    doc["components"][12]["version"] = 7
    doc["components"][20]["purl"] = "laravel/framework"
    del doc["components"][30]["name"]
    doc["components"][40]["licenses"] = [{"license": {"id": ["MIT"]}}]
    doc["components"][41] = "symfony/console"
    with pytest.raises(IngestError) as caught:
        parse_batch(write_json(tmp_path / "bad.json", doc), LIMIT)
    lines = str(caught.value).splitlines()
    assert lines == [f"{tmp_path / 'bad.json'}, field '{f}': {m}" for f, m in [
        ("components[12].version", "expected a string, found a number"),
        ("components[20].purl", "'laravel/framework' is not a package URL (pkg:type/name@version)"),
        ("components[30].name", "missing"),
        ("components[40].licenses[0].license.id", "expected a string, found a list"),
        ("components[41]", "expected an object, found a string"),
    ]]


def test_missing_described_component_and_bad_timestamp(tmp_path):
    doc = cyclonedx()
    del doc["metadata"]["component"]
    with pytest.raises(IngestError, match="field 'metadata.component': missing"):
        parse_batch(write_json(tmp_path / "bom.json", doc), LIMIT)
    doc = cyclonedx()
    doc["metadata"]["timestamp"] = "yesterday"
    with pytest.raises(IngestError, match="field 'metadata.timestamp': 'yesterday' is not an ISO 8601 date and time"):
        parse_batch(write_json(tmp_path / "bom.json", doc), LIMIT)


def test_hostile_input(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"bomFormat": "CycloneDX", "x": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(IngestError, match="deep.json: malformed JSON: nested too deeply"):
        parse_batch(deep, LIMIT)
    nested: dict = {"type": "library", "name": "leaf"}
    for _ in range(40):
        nested = {"type": "library", "name": "wrapper", "components": [nested]}
    with pytest.raises(IngestError, match="components nested more than 32 deep"):
        parse_batch(write_json(tmp_path / "nested.json", cyclonedx(components=[nested])), LIMIT)
    huge = cyclonedx()
    huge["components"][0]["name"] = "x" * 600
    with pytest.raises(IngestError, match=r"field 'components\[0\].name': String should have at most 512 characters"):
        parse_batch(write_json(tmp_path / "long.json", huge), LIMIT)


def test_oversized_file_is_refused_before_reading(tmp_path):
    with pytest.raises(IngestError, match="over the limit"):
        parse_batch(JUICE_SHOP, 1024 * 1024)


# --- into the graph --------------------------------------------------------------------------------

def asset_graph(store) -> dict:
    return {k: v for k, v in store.counts().items() if k != "IngestRun"}


def test_sbom_becomes_an_application_with_installed_software(store, settings):
    from ingest.pipeline import ingest_files
    summary = ingest_files(store, "sbom", [JUICE_SHOP, LARAVEL], settings)
    assert (summary.records, summary.created, summary.status) == (2, 2, "succeeded")
    apps = store.read("""
        MATCH (a:Asset:Application)<-[:IDENTIFIES]-(i:Identifier {kind: 'asset_tag'})
        RETURN a.name AS name, a.kind AS kind, i.value AS tag, COUNT { (a)-[:INSTALLED]->(:Software) } AS installed
        ORDER BY name""")
    juice = parse_batch(JUICE_SHOP, LIMIT).hosts[0]
    assert apps == [
        {"name": "cyclonedx-php-composer-demo", "kind": "Application",
         "tag": "APP:PKG:COMPOSER/CYCLONEDX/CYCLONEDX-PHP-COMPOSER-DEMO", "installed": 62},
        {"name": "juice-shop", "kind": "Application", "tag": "APP:PKG:NPM/JUICE-SHOP",
         "installed": len({s.key for s in juice.software})},
    ]
    express = store.read("""
        MATCH (:Asset {name: 'juice-shop'})-[i:INSTALLED]->(s:Software {key: 'pkg:npm/express'})
        RETURN s.name AS name, s.package_type AS type, i.version AS version, i.licenses AS licenses, i.source AS source""")
    assert express == [{"name": "express", "type": "npm", "version": "4.18.2", "licenses": ["MIT"], "source": "sbom"}]


def test_the_next_build_of_an_application_updates_it_and_drops_what_it_no_longer_bundles(store, settings, tmp_path):
    doc = json.loads(TRIVY_OCI.read_text())
    first = ingest_files(store, "sbom", [TRIVY_OCI], settings)
    component = doc["metadata"]["component"]
    component["name"] = "bitnami/elasticsearch:8.8.0-debian-11-r0"
    component["purl"] = component["bom-ref"] = ("pkg:oci/elasticsearch@sha256:" + "e5" * 32 +
                                                "?repository_url=index.docker.io%2Fbitnami%2Felasticsearch&arch=arm64")
    doc["metadata"]["timestamp"] = "2023-07-01T10:00:00+00:00"
    del doc["components"][1]
    ingest_files(store, "sbom", [write_json(tmp_path / "next.cdx.json", doc)], settings)
    rows = store.read("""
        MATCH (a:Asset:Application)
        RETURN a.name AS name, [(a)-[:INSTALLED]->(s:Software) | s.key] AS installed""")
    assert first.created == 1
    assert rows == [{"name": "bitnami/elasticsearch:8.8.0-debian-11-r0", "installed": ["pkg:maven/co.elastic.apm/apm-agent"]}]


def test_crypto_bom_certificate_is_stored_on_the_application(store, settings):
    from ingest.pipeline import ingest_files
    ingest_files(store, "sbom", [CBOM], settings)
    rows = store.read("""
        MATCH (c:Credential)-[:STORED_ON]->(a:Asset:Application)
        RETURN c.fingerprint AS fingerprint, c.kind AS kind, c.name AS name, a.name AS app""")
    assert rows == [{"fingerprint": f"cbom:{CBOM_REF}", "kind": "x509", "name": "google.com", "app": "my application"}]


def test_a_later_bom_without_the_validity_keeps_the_stored_one(store, settings, tmp_path):
    ingest_files(store, "sbom", [CBOM], settings)
    doc = json.loads(CBOM.read_text())
    validity = doc["components"][0]["cryptoProperties"]["certificateProperties"]
    del validity["notValidBefore"], validity["notValidAfter"]
    [cert] = parse_batch(write_json(tmp_path / "later.cbom.json", doc), LIMIT).credentials
    assert (cert.fingerprint, cert.not_before, cert.not_after) == (f"cbom:{CBOM_REF}", None, None)
    ingest_files(store, "sbom", [tmp_path / "later.cbom.json"], settings)
    stored = stored_times(store, ("not_before", "not_after"))[f"cbom:{CBOM_REF}"]
    assert [t.isoformat() for t in stored.values()] == ["2016-11-21T08:00:00+00:00", "2017-11-22T07:59:59+00:00"]


def test_spdx_sbom_into_the_graph(store, settings):
    from ingest.pipeline import ingest_files
    ingest_files(store, "sbom", [SPDX23], settings)
    rows = store.read("""
        MATCH (a:Asset {name: 'billing-api'})-[i:INSTALLED]->(s:Software)
        RETURN s.key AS key, i.version AS version ORDER BY key""")
    assert rows == [{"key": "/internal-utils", "version": None},
                    {"key": "pkg:deb/debian/openssl", "version": "3.0.15-1~deb12u1"},
                    {"key": "pkg:pypi/requests", "version": "2.32.3"}]


def test_reingesting_an_sbom_changes_nothing(store, settings):
    from ingest.pipeline import ingest_files
    first = ingest_files(store, "sbom", [JUICE_SHOP, CBOM], settings)
    before = asset_graph(store)
    edges = store.read("MATCH (a:Asset)-[i:INSTALLED]->(s) RETURN a.name AS a, s.key AS s, i.version AS v ORDER BY a, s")
    again = ingest_files(store, "sbom", [JUICE_SHOP, CBOM], settings)
    assert asset_graph(store) == before
    assert store.read("MATCH (a:Asset)-[i:INSTALLED]->(s) RETURN a.name AS a, s.key AS s, i.version AS v "
                      "ORDER BY a, s") == edges
    assert (again.created, again.updated) == (0, 0)
    assert again.unchanged == first.created


def test_bad_sbom_leaves_the_graph_unchanged(store, settings, tmp_path):
    from ingest.pipeline import ingest_files
    ingest_files(store, "sbom", [LARAVEL], settings)
    before = asset_graph(store)
    doc = json.loads(JUICE_SHOP.read_text())
    doc["components"][12]["version"] = None
    doc["components"][13]["version"] = {"major": 1}
    bad = write_json(tmp_path / "juice.json", doc)
    with pytest.raises(IngestError, match=r"field 'components\[13\].version': expected a string, found an object"):
        ingest_files(store, "sbom", [JUICE_SHOP, bad], settings)   # a good file first: still nothing written
    with pytest.raises(IngestError, match="SPDX 3"):
        ingest_files(store, "sbom", [SPDX3], settings)
    assert asset_graph(store) == before


def test_a_product_in_many_sboms_of_a_run_keeps_its_first_known_fields_and_the_span_they_saw_it(
        store, settings, tmp_path):
    """One Software node per product however many assets of a batch report it: what one SBOM leaves out
    (vendor, CPE) comes from another, and first/last seen span the documents' own times."""
    def app(name: str, timestamp: str, **component) -> Path:
        return write_json(tmp_path / f"{name}.json", cyclonedx(
            metadata={"timestamp": timestamp, "component": {"type": "application", "name": name, "version": "1"}},
            components=[{"type": "library", "name": "lodash", "version": "4.17.21", "purl": "pkg:npm/lodash@4.17.21",
                         **component}]))
    later = app("shop", "2026-02-02T10:00:00Z", publisher="OpenJS")
    earlier = app("cart", "2026-02-01T10:00:00Z", cpe="cpe:2.3:a:lodash:lodash:4.17.21:*:*:*:*:*:*:*")
    ingest_files(store, "sbom", [later, earlier], settings)
    rows = store.read("""MATCH (s:Software)<-[:INSTALLED]-(a:Asset)
                         RETURN s.vendor AS vendor, s.cpe AS cpe, toString(s.first_seen) AS first,
                                toString(s.last_seen) AS last, count(a) AS assets""")
    assert rows == [{"vendor": "OpenJS", "cpe": "cpe:2.3:a:lodash:lodash:4.17.21:*:*:*:*:*:*:*",
                     "first": "2026-02-01T10:00:00Z", "last": "2026-02-02T10:00:00Z", "assets": 2}]
