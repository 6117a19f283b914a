"""One certificate, one node, on a graph an older version wrote: the DN normalisation changed (ef72fb1),
so the stored `x509_identity` of an osquery SHA-1 node, a CBOM node and a certificate file's SHA-256
node used spellings that never matched. The next run merges them into the SHA-256 node, in its own
transaction, instead of failing on the fingerprint's uniqueness constraint."""
from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import graph.identifiers
from graph.identifiers import x509_identity
from ingest import links
from ingest.errors import RunFailed
from ingest.pipeline import ingest_files
from tests.builders import osquery_log

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LAPTOP = {"hostname": "ada-laptop", "uuid": "5B1C6F8E-2D4A-4F0B-9C3E-7A8D9E0F1A2B", "serial": "PF3ADA01",
          "mac": "00:14:22:0a:da:01", "ip": "10.20.0.41"}
VOLATILE = frozenset({"last_seen", "run_id", "digest"})


# graph/identifiers.py's canonical_dn as it was before ef72fb1, verbatim: what stored identities hold.
_LEGACY_ALIASES = {"commonname": "cn", "organizationname": "o", "organizationalunitname": "ou", "countryname": "c",
                   "localityname": "l", "stateorprovincename": "st", "emailaddress": "email", "e": "email"}


def legacy_canonical_dn(text: str) -> str:
    text = text.strip()
    parts = text.strip("/").split("/") if text.startswith("/") else re.split(r"(?<!\\),", text)
    pairs = []
    for part in parts:
        key, sep, value = part.partition("=")
        if sep:
            key = re.sub(r"\s+", "", key).lower()
            pairs.append(f"{_LEGACY_ALIASES.get(key, key)}={' '.join(value.split()).lower()}")
    return ",".join(sorted(pairs))


@contextmanager
def older_version(monkeypatch):
    """Runs written the way the version before ef72fb1 wrote them. The older graph cannot be made with
    Cypher honestly (a SET of x509_identity would hand-write what the old write path computed, and a
    new-version ingest would unify the nodes before such a SET could split them), so the real connectors
    and write path run with the one thing that changed: the old DN normalisation."""
    with monkeypatch.context() as patch:
        patch.setattr(graph.identifiers, "canonical_dn", legacy_canonical_dn)
        yield


def _name(cn: str, email: str | None = None) -> x509.Name:
    """A comma inside the organisation and an e-mail attribute: the three tools spell this name three
    ways (/O=Example, Inc./.., O = "Example, Inc.", .., 1.2.840.113549.1.9.1=..,O=Example\\, Inc.), and
    only the current normalisation reads them as one."""
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example, Inc."),
                  x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    return x509.Name(attributes + ([x509.NameAttribute(NameOID.EMAIL_ADDRESS, email)] if email else []))


# How OpenSSL prints the two names (`openssl x509 -noout -subject|-issuer -nameopt compat|oneline`, captured
# once): compat is the one-line form osquery's certificates table reports, oneline the CBOM style.
OPENSSL_NAMES = {
    ("subject", "compat"): "/O=Example, Inc./CN=Ada VPN/emailAddress=ada@example.com",
    ("issuer", "compat"): "/O=Example, Inc./CN=Example Root CA",
    ("subject", "oneline"): 'O = "Example, Inc.", CN = Ada VPN, emailAddress = ada@example.com',
    ("issuer", "oneline"): 'O = "Example, Inc.", CN = Example Root CA',
}


def mint(subject: x509.Name, serial: int, san: str) -> x509.Certificate:
    """A certificate valid for 397 days from NOW, issued by Example Root CA."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(_name("Example Root CA"))
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(NOW).not_valid_after(NOW + timedelta(days=397))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), False).sign(ca_key, hashes.SHA256()))


def identity(cert: x509.Certificate) -> str | None:
    return x509_identity(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                         cert.not_valid_before_utc, cert.not_valid_after_utc)


class VPN:
    """Ada's VPN client certificate as a PEM file, as the laptop's osquery reports it, and as an
    application's CBOM lists it."""

    def __init__(self, folder: Path):
        self.cert = mint(_name("Ada VPN", "ada@example.com"), 0x5005, "vpn-ada.example.com")
        self.sha256 = self.cert.fingerprint(hashes.SHA256()).hex()
        self.sha1 = "sha1:" + self.cert.fingerprint(hashes.SHA1()).hex()
        self.pem = folder / "files" / "vpn-ada.pem"
        self.pem.parent.mkdir(parents=True)
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.osquery = self._osquery_log(folder / "osqueryd.results.log")
        self.cbom = self._cbom(folder / "vpn.cbom.json")

    def _osquery_log(self, path: Path) -> Path:
        row = {"common_name": "Ada VPN", "subject": OPENSSL_NAMES["subject", "compat"],
               "issuer": OPENSSL_NAMES["issuer", "compat"], "key_usage": "Digital Signature",
               "not_valid_before": str(int(self.cert.not_valid_before_utc.timestamp())),
               "not_valid_after": str(int(self.cert.not_valid_after_utc.timestamp())),
               "sha1": self.sha1.removeprefix("sha1:"), "serial": format(self.cert.serial_number, "X"),
               "path": "/home/ada/.vpn/vpn-ada.crt"}
        osquery_log(path, [{**LAPTOP, "certificates": [row]}])
        return path

    def _cbom(self, path: Path) -> Path:
        """A CycloneDX 1.6 crypto BOM of the VPN client application, with the certificate and no hash."""
        properties = {"subjectName": OPENSSL_NAMES["subject", "oneline"],
                      "issuerName": OPENSSL_NAMES["issuer", "oneline"],
                      "notValidBefore": self.cert.not_valid_before_utc.isoformat().replace("+00:00", "Z"),
                      "notValidAfter": self.cert.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
                      "certificateFormat": "X.509"}
        path.write_text(json.dumps({
            "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
            "serialNumber": "urn:uuid:3c1f0d6e-8a4b-4f5e-9d2c-1b7a6e5f4d3c",
            "metadata": {"component": {"type": "application", "name": "vpn client", "version": "2.1"}},
            "components": [{"name": "vpn-ada", "type": "cryptographic-asset", "bom-ref": "crypto/certificate/vpn-ada",
                            "cryptoProperties": {"assetType": "certificate", "certificateProperties": properties}}]}))
        return path

    def identity(self) -> str | None:
        return identity(self.cert)


@pytest.fixture
def vpn(tmp_path) -> VPN:
    return VPN(tmp_path)


def certificates(store) -> list[dict]:
    return store.read("MATCH (c:Credential {kind: 'x509'}) RETURN c.fingerprint AS f, c.aliases AS aliases, "
                      "c.x509_identity AS identity, properties(c) AS props ORDER BY f")


def edges(store) -> list[tuple]:
    """Every certificate edge as (fingerprint, verb, the other end's key)."""
    rows = store.read("MATCH (c:Credential)-[r]-(x) RETURN c.fingerprint AS f, type(r) AS verb, "
                      "coalesce(x.email, x.key, x.name) AS other, startNode(r) = c AS outgoing")
    return sorted((r["f"], r["verb"], r["other"], r["outgoing"]) for r in rows)


def graph_state(store, volatile: frozenset[str] = frozenset()) -> list[str]:
    """Every node and relationship but the run records, with their properties: a text per element."""
    def clean(props: dict) -> str:
        return repr(sorted((k, repr(v)) for k, v in props.items() if k not in volatile))
    nodes = store.read("MATCH (n) WHERE NOT n:IngestRun RETURN labels(n) AS labels, properties(n) AS p")
    rels = store.read("MATCH (a)-[r]->(b) WHERE NOT a:IngestRun AND NOT b:IngestRun "
                      "RETURN properties(a) AS a, type(r) AS t, properties(r) AS p, properties(b) AS b")
    return sorted([f"{sorted(n['labels'])} {clean(n['p'])}" for n in nodes] +
                  [f"{clean(r['a'])} {r['t']} {clean(r['p'])} {clean(r['b'])}" for r in rels])


def counts(store) -> dict[str, int]:
    return {k: v for k, v in store.counts().items() if k != "IngestRun"}


def old_graph(store, settings, monkeypatch, vpn: VPN, sources=("osquery", "certificates")) -> None:
    """The graph the older version left: one node per tool's spelling of the certificate."""
    files = {"osquery": vpn.osquery, "certificates": vpn.pem, "sbom": vpn.cbom}
    with older_version(monkeypatch):
        for source in sources:
            ingest_files(store, source, [files[source]], settings)
    stored = certificates(store)
    assert len(stored) == len(sources) == len({c["identity"] for c in stored})    # never unified
    assert vpn.identity() not in {c["identity"] for c in stored}


# --- the upgrade ------------------------------------------------------------------------------------

@pytest.mark.parametrize("order", [("osquery", "certificates"), ("certificates", "osquery")])
def test_a_graph_written_before_the_dn_change_becomes_one_certificate(store, settings, monkeypatch, vpn, order):
    old_graph(store, settings, monkeypatch, vpn)
    before, old_edges = counts(store), edges(store)
    files = {"osquery": vpn.osquery, "certificates": vpn.pem}
    for source in order:                  # osquery first re-spelled its node, and the file's run then failed
        ingest_files(store, source, [files[source]], settings)
    [cert] = certificates(store)
    assert (cert["f"], cert["aliases"], cert["identity"]) == (vpn.sha256, [vpn.sha1], vpn.identity())
    assert edges(store) == sorted((vpn.sha256, verb, other, out) for _, verb, other, out in old_edges) == [
        (vpn.sha256, "ISSUED_TO", "ada@example.com", True), (vpn.sha256, "NAMES", "fqdn:vpn-ada.example.com", True),
        (vpn.sha256, "STORED_ON", "ada-laptop", True)]
    assert counts(store) == {**before, "Credential": before["Credential"] - 1}


def test_merged_edges_keep_the_earliest_first_seen_and_the_latest_last_seen(store, settings, monkeypatch, vpn):
    old_graph(store, settings, monkeypatch, vpn)
    osquery_seen = store.read("MATCH (:Credential {fingerprint: $f})-[r:STORED_ON]->() RETURN r.last_seen AS t",
                              f=vpn.sha1)[0]["t"]
    # The file's node on the laptop too, as the write path's own statement links it (no connector of
    # this version finds a certificate file on a host, so the statement is run directly), seen only in 2020.
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    laptop = store.read("MATCH (a:Asset {name: 'ada-laptop'}) RETURN a.id AS id")[0]["id"]
    with store.transaction() as tx:
        tx.run(links.LINK_STORED_ON, rows=[{"fingerprint": vpn.sha256, "asset": laptop, "at": long_ago,
                                            "source": "inventory scan"}]).consume()
        # The file's node has every field osquery's has: a field only an older release wrote stands for
        # a property the kept node lacks.
        tx.run("MATCH (c:Credential {fingerprint: $f}) SET c.store_path = $path", f=vpn.sha1,
               path="/home/ada/.vpn/vpn-ada.crt").consume()
    first_seen = {c["f"]: c["props"]["first_seen"] for c in certificates(store)}
    before = counts(store)

    ingest_files(store, "certificates", [vpn.pem], settings)

    [stored_on] = store.read("MATCH (:Credential {fingerprint: $f})-[r:STORED_ON]->(:Asset {id: $laptop}) "
                             "RETURN properties(r) AS p", f=vpn.sha256, laptop=laptop)
    assert stored_on["p"] == {"first_seen": long_ago, "last_seen": osquery_seen, "source": "inventory scan"}
    [cert] = certificates(store)
    assert cert["props"]["first_seen"] == min(first_seen.values()) == first_seen[vpn.sha1]
    assert cert["props"]["store_path"] == "/home/ada/.vpn/vpn-ada.crt"       # only osquery's node had it
    assert cert["props"]["subject"] == vpn.cert.subject.rfc4514_string()    # the kept node's own stays
    assert counts(store) == {**before, "Credential": before["Credential"] - 1,
                             "STORED_ON": before["STORED_ON"] - 1}


def test_three_spellings_from_three_tools_become_one_certificate(store, settings, monkeypatch, vpn):
    old_graph(store, settings, monkeypatch, vpn, ("osquery", "sbom", "certificates"))
    before = counts(store)
    ingest_files(store, "certificates", [vpn.pem], settings)
    [cert] = certificates(store)
    assert cert["f"] == vpn.sha256 and sorted(a.split(":")[0] for a in cert["aliases"]) == ["cbom", "sha1"]
    assert [(verb, other) for _, verb, other, _ in edges(store)] == [
        ("ISSUED_TO", "ada@example.com"), ("NAMES", "fqdn:vpn-ada.example.com"), ("STORED_ON", "ada-laptop"),
        ("STORED_ON", "vpn client")]
    assert counts(store) == {**before, "Credential": before["Credential"] - 2}


def test_other_certificates_of_the_same_window_take_the_new_spelling(store, settings, monkeypatch, vpn, tmp_path):
    bob = mint(_name("Bob VPN", "bob@example.com"), 0x6006, "vpn-bob.example.com")
    (tmp_path / "bob.pem").write_bytes(bob.public_bytes(serialization.Encoding.PEM))
    with older_version(monkeypatch):
        ingest_files(store, "certificates", [tmp_path / "bob.pem"], settings)
    spelled = "MATCH (c:Credential {fingerprint: $f}) RETURN c.x509_identity AS identity"
    bob_sha256 = bob.fingerprint(hashes.SHA256()).hex()
    assert store.read(spelled, f=bob_sha256) != [{"identity": identity(bob)}]
    ingest_files(store, "certificates", [vpn.pem], settings)
    assert store.read(spelled, f=bob_sha256) == [{"identity": identity(bob)}]


def test_running_again_after_the_merge_changes_nothing(store, settings, monkeypatch, vpn):
    old_graph(store, settings, monkeypatch, vpn)
    for source, path in (("certificates", vpn.pem), ("osquery", vpn.osquery)):
        ingest_files(store, source, [path], settings)
    merged = graph_state(store, VOLATILE)
    for source, path in (("certificates", vpn.pem), ("osquery", vpn.osquery)):    # the last writer's fields
        summary = ingest_files(store, source, [path], settings)
        assert summary.status == "succeeded"
    assert graph_state(store, VOLATILE) == merged


def test_a_failure_after_the_merge_leaves_the_graph_as_it_was(store, settings, monkeypatch, vpn):
    old_graph(store, settings, monkeypatch, vpn)
    before = graph_state(store)
    unify, seen = links.unify_certificates, []

    def unify_then_fail(tx, credentials, stored):
        unify(tx, credentials, stored)
        seen.append(tx.run("MATCH (c:Credential {kind: 'x509'}) RETURN collect(c.fingerprint) AS f").single()["f"])
        raise RuntimeError("the disk filled up")
    monkeypatch.setattr(links, "unify_certificates", unify_then_fail)

    with pytest.raises(RunFailed, match="the disk filled up"):
        ingest_files(store, "certificates", [vpn.pem], settings)
    assert seen == [[vpn.sha256]]                # merged inside the transaction
    assert graph_state(store) == before
