"""X.509 certificates from a folder: minted here with `cryptography` in the real PEM and DER formats."""
from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ingest.certificates import parse_batch
from ingest.errors import IngestError
from tests.builders import nmap_xml
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
    assert str(caught.value) == f"{readme}: not a PEM or DER X.509 certificate"


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
