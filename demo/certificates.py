"""An internal CA and the certificates it issued (``certs/*.pem``); private keys never leave memory."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from demo.org import DNS_SUFFIX, Asset, Person, stream
from demo.plan import Plan

CA_NAME = "Example Corp Internal CA"
ORGANISATION = "Example Corp"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
CERT_LIFETIME_DAYS = 397


@dataclass(slots=True)
class MintedCert:
    file_name: str
    pem: bytes
    common_name: str
    subject: str                 # osquery's /C=../O=../CN=.. form
    issuer: str
    not_before: datetime
    not_after: datetime
    sha1: str
    validity: str                # 'valid' | 'expiring' | 'expired' | 'ca'
    holder: Asset | Person | None


@dataclass(slots=True)
class Certificates:
    ca: MintedCert
    servers: list[MintedCert]
    clients: list[MintedCert]
    plan: Plan


def mint_certificates(seed: int, scan_date: date, plan: Plan) -> Certificates:
    """An internal CA and the certificates it issued, all on P-256 keys derived from the seed,
    signed with deterministic ECDSA (RFC 6979), so the PEM files are byte-identical per seed.
    Private keys only ever live in memory."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    rng = stream(seed, "certificates")
    midnight = datetime.combine(scan_date, time(0, 0), tzinfo=timezone.utc)

    def key():
        return ec.derive_private_key(rng.randrange(1, _P256_ORDER), ec.SECP256R1())

    def name(common_name: str, unit: str | None = None) -> x509.Name:
        parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION)]
        if unit:
            parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
        parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        return x509.Name(parts)

    def slash(value: x509.Name) -> str:
        short = {NameOID.COUNTRY_NAME: "C", NameOID.ORGANIZATION_NAME: "O",
                 NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COMMON_NAME: "CN"}
        return "".join(f"/{short[attr.oid]}={str(attr.value)}" for attr in value)

    ca_key = key()
    ca_name = name(CA_NAME)
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())

    def mint(subject: x509.Name, public_key, not_before: datetime, not_after: datetime,
             extensions: list[tuple[x509.ExtensionType, bool]], issuer_key) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(subject).issuer_name(ca_name).public_key(public_key)
                   .serial_number(rng.getrandbits(63) | (1 << 62))
                   .not_valid_before(not_before).not_valid_after(not_after))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=True)

    def wrap(cert: x509.Certificate, file_name: str, validity: str, holder, chain: bytes = b"") -> MintedCert:
        return MintedCert(
            file_name=file_name,
            pem=cert.public_bytes(serialization.Encoding.PEM) + chain,
            common_name=str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value),
            subject=slash(cert.subject), issuer=slash(cert.issuer),
            not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
            sha1=cert.fingerprint(hashes.SHA1()).hex(),
            validity=validity, holder=holder,
        )

    ca_cert = mint(ca_name, ca_key.public_key(), midnight - timedelta(days=3 * 365),
                   midnight + timedelta(days=7 * 365), [
                       (x509.BasicConstraints(ca=True, path_length=0), True),
                       (x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                      crl_sign=True, encipher_only=False, decipher_only=False), True),
                       (ca_ski, False),
                   ], ca_key)
    ca = wrap(ca_cert, "example-corp-internal-ca.pem", "ca", None)
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    leaf_usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                               data_encipherment=False, key_agreement=False, key_cert_sign=False,
                               crl_sign=False, encipher_only=False, decipher_only=False)

    def window(validity: str) -> tuple[datetime, datetime]:
        if validity == "expiring":
            end = midnight + timedelta(days=rng.randint(5, 12), hours=12)
        elif validity == "expired":
            end = midnight - timedelta(days=rng.randint(10, 40), hours=12)
        else:
            end = midnight + timedelta(days=rng.randint(60, 330), hours=12)
        return end - timedelta(days=CERT_LIFETIME_DAYS), end

    servers = []
    for server, validity in plan.tls_hosts:
        fqdn = server.hostname + DNS_SUFFIX
        leaf_key = key()
        start, end = window(validity)
        cert = mint(name(fqdn), leaf_key.public_key(), start, end, [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (leaf_usage, True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.SubjectAlternativeName([x509.DNSName(server.hostname), x509.DNSName(fqdn),
                                          x509.IPAddress(ipaddress.IPv4Address(server.ip))]), False),
            (x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False),
            (aki, False),
        ], ca_key)
        servers.append(wrap(cert, f"tls-{server.hostname}.pem", validity, server, chain=ca.pem))

    clients = []
    holders = [(person, "valid") for person in plan.vpn_holders]
    active = [p for p in plan.people if p.end_date is None and p not in plan.vpn_holders]
    for validity in plan.extra_expiry:          # only in tiny companies with too few servers
        if active:
            holders.append((active.pop(rng.randrange(len(active))), validity))
    for person, validity in holders:
        leaf_key = key()
        if validity == "valid":
            issued = midnight - timedelta(days=rng.randint(30, 300))
            if person.end_date is not None:
                issued = min(issued, datetime.combine(person.end_date, time(0, 0), tzinfo=timezone.utc)
                             - timedelta(days=rng.randint(20, 120)))
            start, end = issued, issued + timedelta(days=365)
        else:
            start, end = window(validity)
        local = person.email.split("@", 1)[0]
        cert = mint(name(person.name, "VPN"), leaf_key.public_key(), start, end, [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (leaf_usage, True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
            (x509.SubjectAlternativeName([x509.RFC822Name(person.email)]), False),
            (x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False),
            (aki, False),
        ], ca_key)
        clients.append(wrap(cert, f"vpn-{local}.pem", validity, person))
    return Certificates(ca=ca, servers=servers, clients=clients, plan=plan)


def write_certificates(folder: Path, certs: Certificates, counts: dict[str, int]) -> Path:
    """certs/: the CA, each server's full chain (leaf then CA) and each VPN client certificate.
    Earlier runs' .pem files that this run did not write are removed; keys are never written."""
    folder.mkdir(parents=True, exist_ok=True)
    minted = [certs.ca, *certs.servers, *certs.clients]
    names = {cert.file_name for cert in minted}
    for stale in folder.glob("*.pem"):
        if stale.name not in names:
            stale.unlink()
    for cert in minted:
        (folder / cert.file_name).write_bytes(cert.pem)
    every = [*certs.servers, *certs.clients]
    counts.update({
        "certificates": len(minted),
        "tls_certificates": len(certs.servers),
        "vpn_certificates": len(certs.clients),
        "certificates_expiring_14d": sum(1 for c in every if c.validity == "expiring"),
        "certificates_expired": sum(1 for c in every if c.validity == "expired"),
    })
    return folder


