"""A small organisation in real-format files for the ITAM tests: Snipe-IT, HR, osquery, licences, contracts."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from ingest.pipeline import ingest_files
from tests.builders import osquery_log, snipeit_csv

TODAY = date(2026, 11, 30)          # osquery_log reports at 2026-11-24


def laptop(n: int, **extra) -> dict:
    return {"asset_tag": f"LT-{n}", "item_name": f"lt-{n:04d}", "serial": f"SER{n:04d}", "category": "Laptops",
            "purchase_date": "2025-01-10", "purchase_cost": "1450.00", "warranty_months": "36",
            "order_number": f"PO-{n}", "supplier": "Dell", **extra}


def agent(n: int, programs: list[tuple[str, str, str]]) -> dict:
    return {"hostname": f"lt-{n:04d}", "uuid": f"4C4C4544-0000-0000-0000-{n:012d}", "serial": f"SER{n:04d}",
            "mac": f"00:14:22:00:00:{n:02x}", "ip": f"10.0.3.{n}", "programs": programs}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(store, settings, tmp_path: Path, assets: list[dict], agents: list[dict] = (), licences: str = "",
         hr: str = "", contracts: str = "") -> None:
    """Ingest what is given, in the order a real deployment would: directory, inventory, discovery, licences."""
    if hr:
        ingest_files(store, "hr", [write(tmp_path, "hr.csv", hr)], settings)
    ingest_files(store, "snipeit", [snipeit_csv(tmp_path / "assets.csv", assets)], settings)
    if agents:
        ingest_files(store, "osquery", [osquery_log(tmp_path / "osquery.log", list(agents))], settings)
    if licences:
        ingest_files(store, "licenses", [write(tmp_path, "licences.csv", licences)], settings)
    if contracts:
        ingest_files(store, "contracts", [write(tmp_path, "contracts.csv", contracts)], settings)


def read(settings, work):
    """Run an async query function (taking a GraphReader) against the test database."""
    import asyncio

    from graph.store import connect_async
    from queries.catalog import GraphReader

    async def run():
        driver = connect_async(settings)
        try:
            return await work(GraphReader(driver, settings.neo4j_database))
        finally:
            await driver.close()
    return asyncio.run(run())


def assert_refused(tmp_path: Path, load_file, error: type[Exception], text: str, where: str) -> None:
    """A data file with this text is refused, the message starting with the file and `where`."""
    import pytest

    path = write(tmp_path, "data.toml", text)
    with pytest.raises(error) as refused:
        load_file(path)
    assert str(refused.value).startswith(f"{path} {where}")


def certificate(path: Path, hostname: str, not_after: str) -> Path:
    """A self-signed server certificate (PEM) whose DNS SAN names the host, valid until `not_after`."""
    from datetime import datetime, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime(2025, 1, 1, tzinfo=timezone.utc))
            .not_valid_after(datetime.fromisoformat(not_after).replace(tzinfo=timezone.utc))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path
