"""Bolt over TLS through the settings: the URI's scheme reaches the driver unchanged, a private CA is
trusted through SSL_CERT_FILE, and a TLS URI against a server without TLS fails with one clear line."""
from __future__ import annotations

import socket
import ssl
import threading
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from neo4j.exceptions import ServiceUnavailable
from typer.testing import CliRunner

from api.cli import app
from graph.config import Settings
from graph.store import connect, connect_async
from tests.conftest import FIXTURES


@pytest.mark.parametrize("scheme, encrypted", [("bolt", False), ("neo4j", False), ("bolt+s", True),
                                               ("neo4j+s", True), ("bolt+ssc", True), ("neo4j+ssc", True)])
def test_the_uri_scheme_from_the_environment_reaches_the_driver(monkeypatch, tmp_path, scheme, encrypted):
    monkeypatch.setenv("NEO4J_URI", f"{scheme}://graph.example.com:7687")
    monkeypatch.setenv("ITAM_HOME", str(tmp_path))
    settings = Settings.from_env()
    assert settings.tls is encrypted
    driver = connect(settings)
    try:
        assert driver.encrypted is encrypted
    finally:
        driver.close()
    assert connect_async(settings).encrypted is encrypted       # the API's driver too (never connected)


def _certificate(name: x509.Name, key, issuer: x509.Name, issuer_key, extensions) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
               .not_valid_after(now + timedelta(days=30)))
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def tls_server(tmp_path):
    """A TLS listener on 127.0.0.1 whose certificate a private CA signed; it completes the TLS handshake,
    then hangs up (it speaks no Bolt). Yields (port, CA file)."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "itam test CA")])
    ca = _certificate(ca_name, ca_key, ca_name, ca_key, [x509.BasicConstraints(ca=True, path_length=None)])
    server = _certificate(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "localhost")]), key, ca_name, ca_key,
                          [x509.SubjectAlternativeName([x509.DNSName("localhost")])])
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "server.pem").write_bytes(server.public_bytes(pem) + key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    handshakes: list[bool] = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    handshakes.append(True)
                    tls.recv(20)                          # the Bolt preamble; answer nothing
            except (ssl.SSLError, OSError):
                handshakes.append(False)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], tmp_path / "ca.pem", handshakes
    listener.close()
    thread.join(timeout=5)


def _causes(exc: BaseException) -> list[BaseException]:
    found = []
    while exc is not None and exc not in found:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found


def test_a_private_ca_is_trusted_through_ssl_cert_file(tls_server, monkeypatch, tmp_path):
    port, ca_file, handshakes = tls_server
    settings = Settings(neo4j_uri=f"bolt+s://localhost:{port}", neo4j_user="neo4j", neo4j_password="x", home=tmp_path)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with connect(settings) as driver, pytest.raises(ServiceUnavailable) as untrusted:
        driver.verify_connectivity()
    assert any(isinstance(c, ssl.SSLCertVerificationError) for c in _causes(untrusted.value))
    assert True not in handshakes
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    with connect(settings) as driver, pytest.raises(ServiceUnavailable) as trusted:
        driver.verify_connectivity()                    # TLS holds; the listener then speaks no Bolt
    assert not any(isinstance(c, ssl.SSLCertVerificationError) for c in _causes(trusted.value))
    assert True in handshakes


def test_a_tls_uri_against_a_server_without_tls_is_one_clear_line(settings, store, monkeypatch):
    before = store.counts()
    monkeypatch.setenv("NEO4J_URI", settings.neo4j_uri.replace("bolt://", "bolt+s://"))
    monkeypatch.setenv("ITAM_HOME", str(settings.home))
    result = CliRunner().invoke(app, ["ingest", "nmap", str(FIXTURES / "nmap" / "2_hosts.xml")])
    assert result.exit_code == 3
    uri = settings.neo4j_uri.replace("bolt://", "bolt+s://")
    assert " ".join(result.output.split()) == (
        f"error: the graph database at {uri} did not answer over TLS: does the server have TLS on for Bolt, and is "
        "its certificate trusted (a private CA: SSL_CERT_FILE=ca.pem)?; nothing was written")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert store.counts() == before
