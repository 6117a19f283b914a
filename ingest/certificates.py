"""X.509 certificates from a file or a folder of PEM (chains too), DER and PKCS#7 (.p7b, .p7c) files.

Private keys are never parsed, kept or echoed: a PEM block labelled ... PRIVATE KEY ..., a file
named like a key (.key, .p8, .pk8, .ppk) and a DER file shaped like a key (a SEQUENCE that starts
with an INTEGER, or an encrypted PKCS#8 envelope) are skipped unread and counted in `Batch.skipped`.
Key stores (Java JKS/JCEKS by name or magic number, PKCS#12 by name or shape) hold keys too: in a
folder they are skipped and counted like keys, so a stock /etc/ssl/certs with java/cacerts loads; a
key store named by itself is refused with how to export its certificates, as it is not a certificate file.
Other PEM blocks that are not certificates (requests, public keys, CRLs, parameters) are skipped too.
In a folder, symlinked files are followed only to targets inside the folder (others are skipped and
counted), symlinked folders are not entered, and folders may nest to any depth.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from graph.models import Batch, CredentialKind, CredentialObservation, check_email
from ingest.errors import IngestError, Problem, ProblemList, read_limited

SOURCE = "certificates"
NOT_A_CERTIFICATE = "not a PEM or DER X.509 certificate or PKCS#7 bundle"
CERTIFICATE_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"})
PKCS7_LABELS = frozenset({"PKCS7", "PKCS #7 SIGNED DATA", "CMS"})       # RFC 7468 section 8 and its legacy label
KEY_SUFFIXES = frozenset({".key", ".p8", ".pk8", ".ppk"})
KEY_STORE_SUFFIXES = {".p12": "PKCS#12", ".pfx": "PKCS#12", ".jks": "JKS", ".keystore": "JKS"}
KEY_STORE_MAGIC = {b"\xfe\xed\xfe\xed": "JKS", b"\xce\xce\xce\xce": "JCEKS"}
EXPORT_HINT = {"JKS": "keytool -list -rfc -keystore FILE > certs.pem", "JCEKS": "keytool -list -rfc -storetype JCEKS "
               "-keystore FILE > certs.pem", "PKCS#12": "openssl pkcs12 -in FILE -nokeys -out certs.pem"}
_PKCS7_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")     # OID 1.2.840.113549.1.7.2
_PKCS7_DATA = bytes.fromhex("06092a864886f70d010701")            # OID 1.2.840.113549.1.7.1
_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_KEY_TEXT = re.compile(rb"^(PuTTY-User-Key-File|---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----)")
_HEADER = re.compile(rb"^[A-Za-z-]+:.*$", re.MULTILINE)         # RFC 1421 headers (Proc-Type, DEK-Info)

KEY_USAGES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
              "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning", ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping", ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
    ExtendedKeyUsageOID.SMARTCARD_LOGON: "smartcardLogon", ExtendedKeyUsageOID.KERBEROS_PKINIT_KDC: "pkInitKDC",
    ExtendedKeyUsageOID.IPSEC_IKE: "ipsecIKE", ExtendedKeyUsageOID.CERTIFICATE_TRANSPARENCY: "certificateTransparency",
}


def _files(path: Path, limit_bytes: int) -> tuple[list[Path], int]:
    """(the file itself, or every regular file under the folder in name order, each real file once;
    how many links pointing out of the folder were passed over).

    An explicit stack rather than recursion, so any depth works; symlinked folders are not entered,
    and a symlinked file is read only when its target lies inside the folder."""
    if not path.exists():
        raise IngestError.one(path, "no such file or folder")
    if not path.is_dir():
        return [path], 0
    root = path.resolve()
    found, seen, total, outside = [], set(), 0, 0
    pending = [path]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            raise IngestError.one(folder, f"cannot list the folder: {exc.strerror}") from None
        subfolders = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(Path(entry.path))
                continue
            file = Path(entry.path)
            if not file.is_file():
                continue                                         # sockets, fifos, dangling links
            real = file.resolve()
            if not real.is_relative_to(root):
                outside += 1                                     # a link out of the folder: not followed
                continue
            if real in seen:
                continue                                         # /etc/ssl/certs style hash links
            seen.add(real)
            found.append(file)
            if not _skipped_by_name(file):
                total += file.stat().st_size
        pending.extend(reversed(subfolders))                     # name order, depth first, like os.walk
    if total > limit_bytes:
        raise IngestError.one(path, f"the folder's certificate files add up to {total} bytes, over the limit of "
                                    f"{limit_bytes} bytes (ITAM_MAX_FILE_MB)")
    return found, outside


def _skipped_by_name(file: Path) -> bool:
    """Named like a private key or a key store: never opened."""
    return file.suffix.lower() in KEY_SUFFIXES or file.suffix.lower() in KEY_STORE_SUFFIXES


def _der_element(data: bytes, offset: int) -> tuple[int, int, int] | None:
    """(tag, start of content, end of content) of the DER element at offset, or None."""
    if offset + 2 > len(data):
        return None
    tag, length = data[offset], data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            return None
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    return tag, start, start + length


def _looks_like_der_key(data: bytes) -> bool:
    """A private key's outer shape, read from tags only: PKCS#1, SEC1, PKCS#8 and PKCS#12 start
    SEQUENCE { INTEGER ...}; an encrypted PKCS#8 starts SEQUENCE { SEQUENCE { OID ...} OCTET STRING }.
    A certificate starts SEQUENCE { SEQUENCE { [0] or INTEGER ...} ...}."""
    outer = _der_element(data, 0)
    if outer is None or outer[0] != 0x30:
        return False
    first = _der_element(data, outer[1])
    if first is None:
        return False
    if first[0] == 0x02:
        return True
    if first[0] == 0x30:
        inner = _der_element(data, first[1])
        following = _der_element(data, first[2])
        return inner is not None and inner[0] == 0x06 and following is not None and following[0] == 0x04
    return False


def _key_store(data: bytes) -> str | None:
    """The kind of key store the bytes are, by the Java magic number or the PKCS#12 shape
    (SEQUENCE { INTEGER 3, SEQUENCE { OID pkcs7-data or signedData ...} ...}), else None."""
    if data[:4] in KEY_STORE_MAGIC:
        return KEY_STORE_MAGIC[data[:4]]
    outer = _der_element(data, 0)
    version = _der_element(data, outer[1]) if outer and outer[0] == 0x30 else None
    if version is None or version[0] != 0x02 or data[version[1]:version[2]] != b"\x03":
        return None
    auth_safe = _der_element(data, version[2])
    content = data[auth_safe[1]:auth_safe[1] + 11] if auth_safe and auth_safe[0] == 0x30 else b""
    return "PKCS#12" if content in (_PKCS7_DATA, _PKCS7_SIGNED_DATA) else None


def _key_store_problem(kind: str, file: Path) -> str:
    what = "a PKCS#12 key store" if kind == "PKCS#12" else f"a Java key store ({kind})"
    return (f"{what}, not a certificate file (key stores are never opened: they may hold private keys); "
            f"export its certificates ({EXPORT_HINT[kind].replace('FILE', file.name)}) and ingest that")


def _is_pkcs7(data: bytes) -> bool:
    """A DER PKCS#7/CMS ContentInfo of signedData: SEQUENCE { OID 1.2.840.113549.1.7.2 ...}."""
    outer = _der_element(data, 0)
    return outer is not None and outer[0] == 0x30 and data[outer[1]:outer[1] + 11] == _PKCS7_SIGNED_DATA


class _File:
    """The certificates of one file; problems name the file and the PEM block."""

    def __init__(self, path: Path, problems: ProblemList):
        self.path = path
        self.problems = problems
        self.certificates: list[x509.Certificate] = []         # in file order, PKCS#7 contents in place
        self.skipped_keys = 0
        self.skipped_other = 0

    def read(self, data: bytes) -> None:
        if _BEGIN.search(data):
            self._pem(data)
        elif _KEY_TEXT.search(data) or _looks_like_der_key(data):
            self.skipped_keys += 1                               # PuTTY, SSH2 (RFC 4716) or DER keys
        elif _is_pkcs7(data):
            self._pkcs7(data, "DER PKCS#7")
        else:
            self._der(data)

    def _pkcs7(self, der: bytes, what: str) -> None:
        """The certificates of a PKCS#7 bundle (.p7b, .p7c: a CA's or Windows' chain export)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)     # set order as Windows writes it: read as BER
                self.certificates.extend(pkcs7.load_der_pkcs7_certificates(der))
        except ValueError as exc:
            if "no certificate" in str(exc):
                self.skipped_other += 1                          # a signature or CRL envelope: nothing to load
            else:
                self.problems.add(f"{what} is not a valid PKCS#7 certificate bundle ({exc})")

    def _der(self, data: bytes) -> None:
        try:
            self.certificates.append(x509.load_der_x509_certificate(data))
        except ValueError:
            self.problems.add(NOT_A_CERTIFICATE)

    def _pem(self, data: bytes) -> None:
        number, position = 0, 0
        while (begin := _BEGIN.search(data, position)) is not None:
            number += 1
            label = begin.group(1).decode("ascii").strip()
            end_line = b"-----END " + begin.group(1) + b"-----"
            end = data.find(end_line, begin.end())
            if "PRIVATE KEY" in label:
                self.skipped_keys += 1                           # never decoded
                if end < 0:
                    return
                position = end + len(end_line)
                continue
            if end < 0:
                self.problems.add(f"PEM block #{number} ({label}): no END line (truncated?)")
                return
            body, position = data[begin.end():end], end + len(end_line)
            if label not in CERTIFICATE_LABELS | PKCS7_LABELS:
                self.skipped_other += 1                          # requests, public keys, CRLs, parameters
                continue
            try:
                der = base64.b64decode(b"".join(_HEADER.sub(b"", body).split()), validate=True)
                if label in PKCS7_LABELS:
                    self._pkcs7(der, f"PEM block #{number} ({label})")
                else:
                    self.certificates.append(x509.load_der_x509_certificate(der))
            except (binascii.Error, ValueError):
                kind = "PKCS#7 certificate bundle" if label in PKCS7_LABELS else "X.509 certificate"
                self.problems.add(f"PEM block #{number} ({label}) is not a valid {kind}")


def _extension(certificate: x509.Certificate, kind):
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _key_usage(usage: x509.KeyUsage | None) -> tuple[str, ...]:
    if usage is None:
        return ()
    names = []
    for name in KEY_USAGES:
        try:
            if getattr(usage, name):
                names.append(name)
        except ValueError:                                       # encipher/decipher_only without key_agreement
            continue
    return tuple(names)


def _email(values) -> str | None:
    for value in values:
        try:
            return check_email(value)
        except ValueError:
            continue
    return None


def _observation(record: str, certificate: x509.Certificate) -> CredentialObservation:
    subject = certificate.subject
    common_names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    san = _extension(certificate, x509.SubjectAlternativeName)
    dns_names = tuple(dict.fromkeys(n.strip().lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName))) \
        if san else ()
    ips = tuple(dict.fromkeys(str(ip) for ip in san.get_values_for_type(x509.IPAddress))) if san else ()
    emails = tuple(dict.fromkeys(san.get_values_for_type(x509.RFC822Name))) if san else ()
    eku = _extension(certificate, x509.ExtendedKeyUsage)
    eku_oids = list(eku) if eku else []
    subject_emails = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    return CredentialObservation(
        record=record, kind=CredentialKind.X509,
        fingerprint=certificate.fingerprint(hashes.SHA256()).hex(),
        name=str(common_names[0].value) if common_names else None,
        subject=subject.rfc4514_string(), issuer=certificate.issuer.rfc4514_string(),
        serial_number=format(certificate.serial_number, "x"),
        not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc,
        dns_names=dns_names, ip_addresses=ips, emails=emails,
        key_usage=_key_usage(_extension(certificate, x509.KeyUsage)),
        extended_key_usage=tuple(EKU_NAMES.get(oid, oid.dotted_string) for oid in eku_oids),
        client_auth=ExtendedKeyUsageOID.CLIENT_AUTH in eku_oids,
        issued_to_email=_email(emails) or _email(subject_emails))


def _certificate_bytes(file: Path, in_folder: bool, limit_bytes: int) -> bytes | None:
    """The bytes of a file that may hold certificates; None for a private key or key store skipped
    (named like one: never opened). A key store named by itself is refused: it is not a certificate file."""
    suffix = file.suffix.lower()
    store = KEY_STORE_SUFFIXES.get(suffix)
    if suffix in KEY_SUFFIXES or (store and in_folder):
        return None
    data = b"" if store else read_limited(file, limit_bytes)
    store = store or _key_store(data)
    if store and not in_folder:
        raise IngestError.one(file, _key_store_problem(store, file))
    return None if store else data


def parse_certificates(path: Path, limit_bytes: int) -> tuple[list[CredentialObservation], int, int]:
    """(certificates, private keys skipped, other PEM blocks and links out of the folder skipped) of a
    file or folder."""
    problems: list[Problem] = []
    credentials: dict[str, CredentialObservation] = {}
    files, others = _files(path, limit_bytes)
    in_folder, keys = path.is_dir(), 0
    for file in files:
        try:
            data = _certificate_bytes(file, in_folder, limit_bytes)
        except IngestError as exc:
            problems.extend(exc.problems)
            continue
        if data is None:
            keys += 1
            continue
        file_problems = ProblemList(file)
        reader = _File(file, file_problems)
        reader.read(data)
        keys += reader.skipped_keys
        others += reader.skipped_other
        for number, certificate in enumerate(reader.certificates, 1):
            try:
                observation = _observation(f"{file} certificate #{number}", certificate)
            except ValueError as exc:                            # extensions are parsed lazily
                file_problems.add(f"certificate #{number}: {exc}")
                continue
            credentials.setdefault(observation.fingerprint, observation)   # the same CA in every chain file
        problems.extend(file_problems.problems)
    if problems:
        raise IngestError(problems)
    return list(credentials.values()), keys, others


def parse_batch(path: Path, limit_bytes: int) -> Batch:
    """The registry's entry point: every certificate of a file or folder, private keys skipped."""
    credentials, keys, others = parse_certificates(path, limit_bytes)
    return Batch(credentials=credentials, skipped=keys + others)
