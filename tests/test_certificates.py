"""X.509 certificates from a folder: minted here with `cryptography` in the real PEM and DER formats (what
OpenSSL writes is read from tests/fixtures/certificates, so no test needs the openssl command)."""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import struct
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from graph.identifiers import canonical_dn, x509_identity
from ingest import sbom
from ingest.certificates import parse_batch
from ingest.errors import IngestError
from tests.builders import nmap_xml, osquery_log
from tests.conftest import stored_times

LIMIT = 8 * 1024 * 1024
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _name(cn: str, email: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if email:
        attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    return x509.Name(attributes)


def _mint(subject: x509.Name, key, issuer: x509.Name, issuer_key, serial: int, extensions) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(serial).not_valid_before(NOW).not_valid_after(NOW + timedelta(days=397)))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _key_usage(**on) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


class PKI:
    """A CA, a server certificate with DNS and IP SANs, a VPN client certificate, and a private key file."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
        ca_name = _name("Example Root CA")
        self.ca = _mint(ca_name, ca_key, ca_name, ca_key, 0x1001, [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (_key_usage(key_cert_sign=True, crl_sign=True), True)])
        self.server = _mint(_name("web.example.com"), server_key, ca_name, ca_key, 0xABCDEF0123, [
            (x509.SubjectAlternativeName([x509.DNSName("web.example.com"), x509.DNSName("web"),
                                          x509.IPAddress(ipaddress.ip_address("10.20.0.5"))]), False),
            (_key_usage(digital_signature=True, key_encipherment=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)])
        self.client = _mint(_name("Ada Lovelace VPN", "ada.vpn@example.com"), client_key, ca_name, ca_key, 0x2002, [
            (x509.SubjectAlternativeName([x509.RFC822Name("Ada@Example.com")]), False),
            (_key_usage(digital_signature=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.4")]),
             False)])
        pem = serialization.Encoding.PEM
        # a chain file: the server certificate then its CA
        (folder / "web-chain.pem").write_bytes(self.server.public_bytes(pem) + self.ca.public_bytes(pem))
        (folder / "ca.crt").write_bytes(self.ca.public_bytes(pem))                       # the CA again: one node
        (folder / "vpn").mkdir(exist_ok=True)
        (folder / "vpn" / "ada.der").write_bytes(self.client.public_bytes(serialization.Encoding.DER))
        self.key_pem = server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())
        (folder / "web.key").write_bytes(self.key_pem)
        # a combined file as haproxy wants it: certificate and private key together
        (folder / "vpn" / "ada-bundle.pem").write_bytes(
            self.client.public_bytes(pem) + client_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                                                     serialization.NoEncryption()))
        # a DER private key with an innocent name
        (folder / "vpn" / "ada-key.der").write_bytes(client_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    @staticmethod
    def fingerprint(certificate: x509.Certificate) -> str:
        import hashlib
        return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


@pytest.fixture
def pki(tmp_path) -> PKI:
    return PKI(tmp_path / "exported")


def by_name(batch):
    return {c.name: c for c in batch.credentials}


# --- the parser ----------------------------------------------------------------------------------

def test_folder_gives_each_certificate_once_and_skips_private_keys(pki):
    batch = parse_batch(pki.folder, LIMIT)
    certs = by_name(batch)
    assert sorted(certs) == ["Ada Lovelace VPN", "Example Root CA", "web.example.com"]
    assert batch.skipped == 3             # web.key (by name), the key block in ada-bundle.pem, ada-key.der (by shape)
    server = certs["web.example.com"]
    assert server.fingerprint == PKI.fingerprint(pki.server)
    assert server.kind == "x509"
    assert server.subject == "CN=web.example.com,O=Example Corp"
    assert server.issuer == "CN=Example Root CA,O=Example Corp"
    assert server.serial_number == "abcdef0123"
    assert (server.not_before, server.not_after) == (NOW, NOW + timedelta(days=397))
    assert server.dns_names == ("web.example.com", "web")
    assert server.ip_addresses == ("10.20.0.5",)
    assert server.key_usage == ("digital_signature", "key_encipherment")
    assert server.extended_key_usage == ("serverAuth",)
    assert (server.client_auth, server.issued_to_email) == (False, None)
    assert server.record == f"{pki.folder / 'web-chain.pem'} certificate #1"
    ca = certs["Example Root CA"]
    assert ca.record == f"{pki.folder / 'ca.crt'} certificate #1"     # first file in name order
    assert ca.key_usage == ("key_cert_sign", "crl_sign")


def test_client_certificate_is_issued_to_its_email(pki):
    client = by_name(parse_batch(pki.folder, LIMIT))["Ada Lovelace VPN"]
    assert client.fingerprint == PKI.fingerprint(pki.client)
    assert client.client_auth is True
    assert client.extended_key_usage == ("clientAuth", "1.3.6.1.4.1.311.10.3.4")
    assert client.emails == ("Ada@Example.com",)
    assert client.issued_to_email == "ada@example.com"          # the SAN, before the subject's emailAddress
    assert client.subject.startswith("1.2.840.113549.1.9.1=ada.vpn@example.com,CN=Ada Lovelace VPN")


def test_subject_email_when_no_san_email(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("Bob", "Bob@Example.com")
    cert = _mint(name, key, name, key, 7, [])
    (tmp_path / "bob.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    [bob] = parse_batch(tmp_path / "bob.pem", LIMIT).credentials
    assert (bob.issued_to_email, bob.emails, bob.dns_names) == ("bob@example.com", (), ())


def test_private_keys_never_reach_the_batch(pki):
    batch = parse_batch(pki.folder, LIMIT)
    text = batch.model_dump_json()
    assert "PRIVATE KEY" not in text
    assert pki.key_pem.decode().splitlines()[1][:40] not in text


def test_a_single_file_with_only_a_key_is_skipped(pki):
    batch = parse_batch(pki.folder / "web.key", LIMIT)
    assert (batch.credentials, batch.skipped) == ([], 1)
    renamed = pki.folder / "innocent.pem"
    renamed.write_bytes(pki.key_pem)
    assert parse_batch(renamed, LIMIT).skipped == 1


def test_not_a_certificate_names_the_file(pki):
    readme = pki.folder / "README.txt"
    readme.write_text("These certificates were exported on Monday.\n")
    with pytest.raises(IngestError) as caught:
        parse_batch(pki.folder, LIMIT)
    assert str(caught.value) == f"{readme}: not a PEM or DER X.509 certificate or PKCS#7 bundle"


def test_corrupt_pem_block_names_file_and_block(pki):
    chain = pki.folder / "web-chain.pem"
    lines = chain.read_text().splitlines()
    second_body = [i for i, line in enumerate(lines) if line.startswith("-----BEGIN")][1] + 2
    lines[second_body] = "!!!!" + lines[second_body][4:]
    chain.write_text("\n".join(lines) + "\n")
    with pytest.raises(IngestError) as caught:
        parse_batch(pki.folder, LIMIT)
    assert str(caught.value) == f"{chain}: PEM block #2 (CERTIFICATE) is not a valid X.509 certificate"


def test_truncated_pem_and_truncated_der(pki, tmp_path):
    text = (pki.folder / "web-chain.pem").read_bytes()
    cut = tmp_path / "cut.pem"
    cut.write_bytes(text[: len(text) - 100])
    with pytest.raises(IngestError, match=r"cut.pem: PEM block #2 \(CERTIFICATE\): no END line \(truncated\?\)"):
        parse_batch(cut, LIMIT)
    der = (pki.folder / "vpn" / "ada.der").read_bytes()
    short = tmp_path / "short.der"
    short.write_bytes(der[:-20])
    with pytest.raises(IngestError, match="short.der: not a PEM or DER X.509 certificate"):
        parse_batch(short, LIMIT)


def test_all_bad_files_are_reported_together(tmp_path):
    (tmp_path / "a.crt").write_bytes(b"\x00\x01garbage")
    (tmp_path / "b.crt").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(IngestError) as caught:
        parse_batch(tmp_path, LIMIT)
    assert [p.file for p in caught.value.problems] == [str(tmp_path / "a.crt"), str(tmp_path / "b.crt")]


def test_size_limits_per_file_and_per_folder(pki):
    total = sum(f.stat().st_size for f in pki.folder.rglob("*") if f.is_file() and f.suffix != ".key")
    biggest = max(f.stat().st_size for f in pki.folder.rglob("*") if f.is_file())
    with pytest.raises(IngestError, match="add up to .* over the limit"):
        parse_batch(pki.folder, total - 1)
    with pytest.raises(IngestError, match="over the limit"):
        parse_batch(pki.folder / "web-chain.pem", (pki.folder / "web-chain.pem").stat().st_size - 1)
    assert biggest <= total
    assert parse_batch(pki.folder, total).credentials


def test_missing_path(tmp_path):
    with pytest.raises(IngestError, match="no such file or folder"):
        parse_batch(tmp_path / "nowhere", LIMIT)


def test_hash_links_and_other_pem_blocks(pki):
    (pki.folder / "5f1e2d3c.0").symlink_to(pki.folder / "ca.crt")     # like /etc/ssl/certs
    (pki.folder / "dangling.pem").symlink_to(pki.folder / "gone.pem")
    request = x509.CertificateSigningRequestBuilder().subject_name(_name("csr")).sign(
        ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    (pki.folder / "web.csr").write_bytes(request.public_bytes(serialization.Encoding.PEM))
    batch = parse_batch(pki.folder, LIMIT)
    assert len(batch.credentials) == 3
    assert batch.skipped == 4                                           # three keys and the request


# --- into the graph --------------------------------------------------------------------------------

def graph_dump(store) -> dict:
    return {
        "counts": {k: v for k, v in store.counts().items() if k != "IngestRun"},
        "credentials": store.read("MATCH (c:Credential) RETURN c.fingerprint AS f, properties(c) AS p ORDER BY f"),
        "edges": store.read("MATCH (c:Credential)-[r]->(x) RETURN c.fingerprint AS f, type(r) AS t, "
                            "coalesce(x.email, x.name) AS to ORDER BY f, t, to"),
    }


def _strip_times(dump: dict) -> dict:
    volatile = ("last_seen", "run_id")
    return {**dump, "credentials": [{"f": c["f"], "p": {k: v for k, v in c["p"].items() if k not in volatile}}
                                    for c in dump["credentials"]]}


@pytest.fixture
def org(store, settings, tmp_path):
    """A person from HR and two hosts from nmap: one named like the server certificate's SAN."""
    from ingest.pipeline import ingest_files
    hr = tmp_path / "hr.csv"
    hr.write_text("email,name,employee_id,department\nada@example.com,Ada Lovelace,E2,Engineering\n")
    ingest_files(store, "hr", [hr], settings)
    scan = nmap_xml(tmp_path / "scan.xml", [
        {"ip": "10.20.0.5", "mac": "00:14:22:00:00:05", "name": "web.example.com", "ports": [("tcp", 443, "https")]},
        {"ip": "10.20.0.6", "mac": "00:14:22:00:00:06", "name": "db.example.com", "ports": [("tcp", 5432, "pg")]},
    ])
    ingest_files(store, "nmap", [scan], settings)
    return ingest_files


def test_certificates_link_to_people_and_hosts(store, settings, pki, org):
    ingest_files = org
    summary = ingest_files(store, "certificates", [pki.folder], settings)
    assert summary.skipped == 3
    fingerprints = {PKI.fingerprint(c): n for c, n in ((pki.ca, "ca"), (pki.server, "server"), (pki.client, "client"))}
    nodes = store.read("MATCH (c:Credential) RETURN c.fingerprint AS f, c.kind AS kind, c.name AS name ORDER BY f")
    assert {r["f"]: r["kind"] for r in nodes} == {f: "x509" for f in fingerprints}
    issued = store.read("MATCH (c:Credential)-[:ISSUED_TO]->(p:Person) RETURN c.fingerprint AS f, p.email AS email")
    assert issued == [{"f": PKI.fingerprint(pki.client), "email": "ada@example.com"}]
    authenticates = store.read("MATCH (c:Credential)-[:NAMES]->(:Identifier)-[:IDENTIFIES]->(a:Asset) "
                               "RETURN DISTINCT c.fingerprint AS f, a.name AS host ORDER BY host")
    assert authenticates == [{"f": PKI.fingerprint(pki.server), "host": "web"}]
    assert store.read("MATCH (a:Asset) RETURN count(a) AS n") == [{"n": 2}]   # certificates create no hosts


def test_a_certificates_validity_is_stored_as_the_file_gives_it(store, settings, pki, org):
    ingest_files = org
    ingest_files(store, "certificates", [pki.folder], settings)
    names = ("not_before", "not_after")
    parsed = {c.fingerprint: {name: getattr(c, name) for name in names} for c in parse_batch(pki.folder, LIMIT).credentials}
    assert len(parsed) == 3 and all(t["not_after"] for t in parsed.values())
    assert stored_times(store, names) == parsed


def test_reingesting_certificates_changes_nothing(store, settings, pki, org):
    ingest_files = org
    ingest_files(store, "certificates", [pki.folder], settings)
    before = _strip_times(graph_dump(store))
    ingest_files(store, "certificates", [pki.folder], settings)
    assert _strip_times(graph_dump(store)) == before


def test_private_keys_never_reach_the_graph(store, settings, pki, org):
    ingest_files = org
    ingest_files(store, "certificates", [pki.folder], settings)
    values = [str(v) for row in store.read("MATCH (n) RETURN properties(n) AS p UNION ALL "
                                           "MATCH ()-[r]->() RETURN properties(r) AS p")
              for v in row["p"].values()]
    assert any(PKI.fingerprint(pki.server) in v for v in values)          # the search does see the graph
    body = pki.key_pem.decode().splitlines()[1][:40]
    assert [v for v in values if "PRIVATE KEY" in v or body in v] == []


def test_bad_folder_leaves_the_graph_unchanged(store, settings, pki, org):
    ingest_files = org
    before = graph_dump(store)
    (pki.folder / "notes.txt").write_text("not a certificate\n")
    with pytest.raises(IngestError, match="notes.txt: not a PEM or DER X.509 certificate"):
        ingest_files(store, "certificates", [pki.folder], settings)
    assert graph_dump(store) == before


# --- one certificate, however a tool spells its names -------------------------------------------------

CERTIFICATES = Path(__file__).parent / "fixtures" / "certificates"     # its README.md: the openssl commands
SPECIAL_OID = x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")      # an attribute no tool has a name for


def openssl_names() -> dict[str, dict[str, str]]:
    """vpn-ada.pem's subject and issuer as `openssl x509 -nameopt OPTION` printed them, by option: 'compat'
    is X509_NAME_oneline, the form osquery's certificates table reports; 'oneline' the CBOM style 'C = US, O = ...'."""
    names: dict[str, dict[str, str]] = {}
    option: dict[str, str] = {}
    for line in (CERTIFICATES / "vpn-ada.openssl-names.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("-nameopt "):
            option = names.setdefault(line.removeprefix("-nameopt "), {})
        else:
            which, _, name = line.partition("=")
            option[which] = name.strip()
    return names


OPENSSL_NAMES = openssl_names()


def _awkward_name(cn: str) -> x509.Name:
    """Everything that trips a naive parser: non-ASCII, a comma, a slash and a plus in values, a
    multi-valued RDN, an e-mail address and an OID without a short name."""
    rdn, attribute = x509.RelativeDistinguishedName, x509.NameAttribute
    return x509.Name([
        rdn([attribute(NameOID.COUNTRY_NAME, "FR")]),
        rdn([attribute(NameOID.ORGANIZATION_NAME, "Société Générale, S.A.")]),
        rdn([attribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "R/D + Ops")]),
        rdn([attribute(NameOID.COMMON_NAME, cn), attribute(NameOID.USER_ID, "ada")]),
        rdn([attribute(SPECIAL_OID, "lab")]),
        rdn([attribute(NameOID.EMAIL_ADDRESS, "ada@example.com")])])


@pytest.fixture
def awkward(tmp_path) -> tuple[x509.Certificate, Path]:
    """A VPN certificate with awkward names, issued by a CA with awkward names: vpn-ada.pem, whose names
    OpenSSL printed, in a folder of its own."""
    path = tmp_path / "files" / "vpn-ada.pem"
    path.parent.mkdir()
    path.write_bytes((CERTIFICATES / "vpn-ada.pem").read_bytes())
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    assert (cert.subject, cert.issuer) == (_awkward_name("vpn-ada"), _awkward_name("Issuing CA"))
    return cert, path


@pytest.mark.parametrize("nameopt", ["compat", "oneline", "RFC2253", "oneline,lname"])
def test_a_name_as_openssl_writes_it_is_the_name_the_file_gives(awkward, nameopt):
    cert, path = awkward
    [parsed] = parse_batch(path, LIMIT).credentials
    other = (OPENSSL_NAMES[nameopt]["subject"], OPENSSL_NAMES[nameopt]["issuer"])
    assert other != (parsed.subject, parsed.issuer)                  # the spellings do differ
    assert x509_identity(*other, parsed.not_before, parsed.not_after) == \
        x509_identity(parsed.subject, parsed.issuer, parsed.not_before, parsed.not_after)


def test_unescaped_separators_inside_values_stay_in_the_value():
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AC/DC, Inc."),
                      x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    rfc4514 = name.rfc4514_string()                                   # CN=x,O=AC/DC\, Inc.,C=US
    # OpenSSL 1.1's one-line form did not escape '/', and a CBOM writer may not quote
    assert canonical_dn("/C=US/O=AC/DC, Inc./CN=x") == canonical_dn(rfc4514)
    assert canonical_dn("C = US, O = AC/DC, Inc., CN = x") == canonical_dn(rfc4514)


@pytest.mark.parametrize("one, other", [
    ("CN=x,O=a\\,o=b", "CN=x,O=a,O=b"),                 # an escaped comma is not a second attribute
    ("Payroll signing key", "Billing signing key"),     # free text (a CBOM's subjectName) is kept whole
    ("CN=x,OU=R/D", "CN=x,OU=R"),
])
def test_names_that_differ_stay_apart(one, other):
    assert canonical_dn(one) != canonical_dn(other)


def _osquery_certificate(cert: x509.Certificate) -> dict:
    """vpn-ada.pem as osquery's certificates table reports it: one-line names, SHA-1, validity in seconds."""
    return {"common_name": "vpn-ada", "subject": OPENSSL_NAMES["compat"]["subject"],
            "issuer": OPENSSL_NAMES["compat"]["issuer"],
            "not_valid_before": str(int(cert.not_valid_before_utc.timestamp())),
            "not_valid_after": str(int(cert.not_valid_after_utc.timestamp())),
            "sha1": cert.fingerprint(hashes.SHA1()).hex(), "serial": format(cert.serial_number, "X"),
            "path": "/home/ada/.vpn/vpn-ada.crt"}


def _google_certificate(folder: Path) -> x509.Certificate:
    """The certificate tests/fixtures/sbom/certificate.cbom.json describes (its names and validity)."""
    props = json.loads(CBOM.read_text())["components"][0]["cryptoProperties"]["certificateProperties"]
    issuer = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Google Trust Services LLC"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "GTS CA 1C3")])
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.google.com")]))
            .issuer_name(issuer).public_key(key.public_key()).serial_number(0x4004)
            .not_valid_before(datetime.fromisoformat(props["notValidBefore"]))
            .not_valid_after(datetime.fromisoformat(props["notValidAfter"])).sign(key, hashes.SHA256()))
    (folder / "google.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert


CBOM = Path(__file__).parent / "fixtures" / "sbom" / "certificate.cbom.json"
LAPTOP = {"hostname": "ada-laptop", "uuid": "5B1C6F8E-2D4A-4F0B-9C3E-7A8D9E0F1A2B", "serial": "PF3ADA01",
          "mac": "00:14:22:0a:da:01", "ip": "10.20.0.41"}


@pytest.mark.parametrize("first", ["files", "osquery and cbom"])
def test_one_certificate_from_a_file_osquery_and_a_cbom_is_one_node(store, settings, tmp_path, awkward, first):
    from ingest.pipeline import ingest_files
    vpn, path = awkward
    google = _google_certificate(path.parent)
    log = osquery_log(tmp_path / "osqueryd.results.log", [{**LAPTOP, "certificates": [_osquery_certificate(vpn)]}])
    assert [c.fingerprint[:5] for c in sbom.parse_batch(CBOM, LIMIT).credentials] == ["cbom:"]   # no SHA-256
    runs = [("certificates", path.parent), ("osquery", log), ("sbom", CBOM)]
    for source, file in runs if first == "files" else runs[1:] + runs[:1]:
        ingest_files(store, source, [file], settings)
    rows = store.read("MATCH (c:Credential {kind: 'x509'}) RETURN c.fingerprint AS f, c.aliases AS aliases, "
                      "[(c)-[:STORED_ON]->(a) | a.name] AS stored_on ORDER BY f")
    assert sorted((r["f"], r["stored_on"]) for r in rows) == sorted([
        (PKI.fingerprint(vpn), ["ada-laptop"]), (PKI.fingerprint(google), ["my application"])])
    if first != "files":                       # the weaker keys seen first stay as aliases
        aliases = {r["f"]: [a.split(":")[0] for a in r["aliases"]] for r in rows}
        assert aliases == {PKI.fingerprint(vpn): ["sha1"], PKI.fingerprint(google): ["cbom"]}


# --- PKCS#7 bundles ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, encoding", [("chain.p7b", serialization.Encoding.PEM),
                                            ("chain.p7c", serialization.Encoding.DER)])
def test_a_pkcs7_bundle_loads_each_certificate_in_it(pki, tmp_path, name, encoding):
    bundle = tmp_path / name
    bundle.write_bytes(pkcs7.serialize_certificates([pki.server, pki.ca], encoding))
    batch = parse_batch(bundle, LIMIT)
    assert {c.fingerprint for c in batch.credentials} == {PKI.fingerprint(pki.server), PKI.fingerprint(pki.ca)}
    assert sorted(c.record for c in batch.credentials) == [f"{bundle} certificate #1", f"{bundle} certificate #2"]
    assert batch.skipped == 0


def test_a_pkcs7_without_certificates_is_skipped_and_counted(pki, tmp_path):
    empty = (CERTIFICATES / "empty.p7b").read_bytes()                 # as openssl crl2pkcs7 -nocrl writes it
    assert b"-----BEGIN PKCS7-----" in empty
    (pki.folder / "empty.p7b").write_bytes(empty)
    batch = parse_batch(pki.folder, LIMIT)
    assert (len(batch.credentials), batch.skipped) == (3, 3 + 1)


@pytest.mark.parametrize("damage, detail", [("A", r" \(.+\)"), ("!", "")])     # broken DER; not base64 at all
def test_a_corrupt_pkcs7_names_the_file_and_the_block(pki, tmp_path, damage, detail):
    lines = pkcs7.serialize_certificates([pki.ca], serialization.Encoding.PEM).decode().splitlines()
    lines[3] = damage * len(lines[3])
    bundle = tmp_path / "broken.p7b"
    bundle.write_text("\n".join(lines) + "\n")
    with pytest.raises(IngestError, match=rf"broken.p7b: PEM block #1 \(PKCS7\) is not a valid PKCS#7 certificate "
                                          rf"bundle{detail}$"):
        parse_batch(bundle, LIMIT)


def _bundle_in_issue_order(chain: list[x509.Certificate]) -> bytes:
    """A PEM PKCS#7 bundle with the certificates in the order given, as `openssl crl2pkcs7 -nocrl -certfile`
    writes it: cryptography writes DER's sorted SET order, so its certificates are put back in the given order."""
    der = pkcs7.serialize_certificates(chain, serialization.Encoding.DER)
    each = [c.public_bytes(serialization.Encoding.DER) for c in chain]
    [written] = [b"".join(order) for order in (each, each[::-1]) if b"".join(order) in der]
    text = base64.b64encode(der.replace(written, b"".join(each)))
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return b"\n".join([b"-----BEGIN PKCS7-----", *lines, b"-----END PKCS7-----", b""])


@pytest.mark.parametrize("order", ["server first", "CA first"])
def test_a_bundle_in_issue_order_loads_without_a_warning(pki, tmp_path, order):
    """openssl crl2pkcs7 and Windows keep the certificates in the order given, which is not always
    DER's sorted SET order: cryptography then falls back to BER with a warning nobody can act on."""
    chain = [pki.server, pki.ca] if order == "server first" else [pki.ca, pki.server]
    bundle = tmp_path / "chain.p7b"
    bundle.write_bytes(_bundle_in_issue_order(chain))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batch = parse_batch(bundle, LIMIT)
    assert len(batch.credentials) == 2
    assert [str(w.message) for w in caught if "PKCS#7" in str(w.message)] == []


# --- key stores beside the certificates -----------------------------------------------------------------

def java_key_store(entries: list[tuple[str, x509.Certificate]], magic: bytes = b"\xfe\xed\xfe\xed",
                   password: str = "changeit") -> bytes:
    """A JKS trust store of trusted-certificate entries as keytool writes it (version 2)."""
    body = magic + struct.pack(">II", 2, len(entries))
    for alias, cert in entries:
        der = cert.public_bytes(serialization.Encoding.DER)
        body += struct.pack(">IH", 2, len(alias)) + alias.encode() + struct.pack(">QH", 1700000000000, 5) + b"X.509"
        body += struct.pack(">I", len(der)) + der
    return body + hashlib.sha1(password.encode("utf-16-be") + b"Mighty Aphrodite" + body).digest()


def _pkcs12(pki: PKI) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return pkcs12.serialize_key_and_certificates(b"ada", key, None, [pki.client, pki.ca],
                                                 serialization.BestAvailableEncryption(b"secret"))


def test_key_stores_in_a_folder_are_skipped_and_counted(pki):
    """Like Debian's /etc/ssl/certs: java/cacerts is a JKS store without a .jks suffix."""
    (pki.folder / "java").mkdir()
    (pki.folder / "java" / "cacerts").write_bytes(java_key_store([("debian:example-root.pem", pki.ca)]))
    (pki.folder / "java" / "legacy-store").write_bytes(java_key_store([("root", pki.ca)], b"\xce\xce\xce\xce"))
    (pki.folder / "vpn" / "ada-identity").write_bytes(_pkcs12(pki))
    (pki.folder / "vpn" / "ada.pfx").write_bytes(_pkcs12(pki))
    batch = parse_batch(pki.folder, LIMIT)
    assert sorted(by_name(batch)) == ["Ada Lovelace VPN", "Example Root CA", "web.example.com"]
    assert batch.skipped == 3 + 4


@pytest.mark.parametrize("name, kind", [("cacerts", "a Java key store (JKS)"), ("truststore.jks", "a Java key store (JKS)"),
                                        ("ada-identity", "a PKCS#12 key store"), ("ada.p12", "a PKCS#12 key store")])
def test_a_key_store_named_by_itself_is_refused_with_how_to_export_it(pki, tmp_path, name, kind):
    store = tmp_path / name
    store.write_bytes(_pkcs12(pki) if "PKCS#12" in kind else java_key_store([("root", pki.ca)]))
    with pytest.raises(IngestError) as caught:
        parse_batch(store, LIMIT)
    tool = "openssl pkcs12 -in" if "PKCS#12" in kind else "keytool -list -rfc -keystore"
    assert str(caught.value) == (f"{store}: {kind}, not a certificate file (key stores are never opened: they may "
                                 f"hold private keys); export its certificates ({tool} {name} "
                                 f"{'-nokeys -out certs.pem' if 'PKCS#12' in kind else '> certs.pem'}) and ingest that")
