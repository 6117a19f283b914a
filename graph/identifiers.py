"""Canonical forms of identifiers, shared by ingest (writing) and queries (looking up)."""
from __future__ import annotations

import ipaddress
import re
from datetime import timezone

from graph.identity_rules import identifies
from graph.schema import IdentifierKind

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$")
_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")


_EC2_INSTANCE = re.compile(r"^i-[0-9a-f]{8,32}$", re.IGNORECASE)


def canonical_mac(text: str) -> str:
    """'00-14-22-AB-CD-EF', '0014.22ab.cdef', '00:14:22:ab:cd:ef' -> '00:14:22:ab:cd:ef'."""
    hexdigits = re.sub(r"[:\-. ]", "", text.strip().lower())
    if not _MAC_HEX.match(hexdigits):
        raise ValueError(f"{text!r} is not a MAC address")
    return ":".join(hexdigits[i:i + 2] for i in range(0, 12, 2))


def canonical_ip(text: str) -> str:
    """The compressed text form of an IPv4 or IPv6 address."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


def split_hostname(text: str) -> tuple[str, str | None]:
    """A host name as (short name, fully qualified name or None), lower-cased, trailing dot dropped."""
    name = text.strip().lower().rstrip(".")
    if not _HOSTNAME.match(name):
        raise ValueError(f"{text!r} is not a host name")
    if "." in name:
        return name.split(".", 1)[0], name
    return name, None


def canonical_code(text: str) -> str:
    """Serials and asset tags: surrounding space dropped, upper-cased."""
    value = text.strip().upper()
    if not value:
        raise ValueError("empty value")
    return value


def canonical(kind: IdentifierKind, text: str) -> str:
    """The canonical value of an identifier of a given kind (ValueError if it is not one)."""
    match kind:
        case IdentifierKind.MAC:
            return canonical_mac(text)
        case IdentifierKind.IP:
            return canonical_ip(text)
        case IdentifierKind.HOSTNAME:
            return split_hostname(text)[0]
        case IdentifierKind.FQDN:
            short, fqdn = split_hostname(text)
            return fqdn or short
        case IdentifierKind.SERIAL | IdentifierKind.ASSET_TAG | IdentifierKind.AGENT_ID:
            return canonical_code(text)  # agent ids are UUIDs: case carries no meaning
        case IdentifierKind.CLOUD_ID if _EC2_INSTANCE.match(text.strip()):
            return text.strip().lower()  # AWS writes instance ids in lower-case hex; a pasted one may not be
        case _:
            value = text.strip()
            if not value:
                raise ValueError("empty value")
            return value


def identifier_key(kind: IdentifierKind | str, value: str) -> str:
    return f"{kind}:{value}"


def lookup_keys(text: str) -> list[str]:
    """Every identifier key a responder's free text could mean: 'kind:value' (the kind in any case) picks
    one kind; only a known kind is a prefix, identifiers hold colons of their own (MACs, IPv6, 'arn:...').
    Values that identify nothing (a placeholder serial, a shared virtual MAC) mean no key at all."""
    text = text.strip()
    prefix, _, rest = text.partition(":")
    if rest and prefix.lower() in IdentifierKind.__members__.values():
        kinds = [IdentifierKind(prefix.lower())]
        text = rest
    else:
        kinds = list(IdentifierKind)
    keys = []
    for kind in kinds:
        try:
            value = canonical(kind, text)
        except ValueError:
            continue
        if identifies(kind, value):
            keys.append(identifier_key(kind, value))
    return list(dict.fromkeys(keys))


# Attribute names as OpenSSL, RFC 4514, Windows and X.520 spell them, and cryptography's dotted OIDs,
# each mapped to one short lower-case name (the ones stored identities already use). A name that is
# already the short one ('cn', 'o', 'email'...) is not listed: canonical_dn keeps a name it does not find.
_DN_NAMES = {
    "commonname": "cn", "2.5.4.3": "cn",
    "countryname": "c", "2.5.4.6": "c",
    "localityname": "l", "2.5.4.7": "l",
    "s": "st", "stateorprovincename": "st", "2.5.4.8": "st",
    "streetaddress": "street", "2.5.4.9": "street",
    "organizationname": "o", "2.5.4.10": "o",
    "organizationalunitname": "ou", "2.5.4.11": "ou",
    "2.5.4.5": "serialnumber",
    "surname": "sn", "2.5.4.4": "sn",
    "g": "gn", "givenname": "gn", "2.5.4.42": "gn",
    "t": "title", "2.5.4.12": "title",
    "2.5.4.15": "businesscategory",
    "2.5.4.17": "postalcode",
    "2.5.4.97": "organizationidentifier",
    "domaincomponent": "dc", "0.9.2342.19200300.100.1.25": "dc",
    "userid": "uid", "0.9.2342.19200300.100.1.1": "uid",
    "e": "email", "emailaddress": "email", "1.2.840.113549.1.9.1": "email",
    "jurisdictioncountryname": "jurisdictionc", "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionc",
    "jurisdictionstateorprovincename": "jurisdictionst", "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionst",
    "jurisdictionlocalityname": "jurisdictionl", "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionl",
}
# A separator splits only where an attribute name and '=' follow, so 'O=Example, Inc.' or '/O=R/D Lab'
# written without escapes stay one value.
_NEXT_ATTRIBUTE = re.compile(r"\s*(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)\s*=")
_DN_ESCAPE = re.compile(r"\\(?:[xX]([0-9A-Fa-f]{2})|([0-9A-Fa-f]{2})|(.))", re.DOTALL)
_DER_STRINGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


def _dn_split(text: str, separators: str) -> list[str]:
    """Split at unescaped separators that an attribute name and '=' follow."""
    parts, start, index = [], 0, 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char in separators and _NEXT_ATTRIBUTE.match(text, index + 1):
            parts.append(text[start:index])
            start = index + 1
        index += 1
    parts.append(text[start:])
    return parts


def _dn_value(text: str, quotes: bool) -> str:
    """One attribute value unescaped: RFC 4514 ('\\,', '\\C3\\A9', '#0C03...'), OpenSSL's one-line
    ('\\xC3\\xA9', '\\/') and RFC 1779 quotes; the bytes escapes spell are read as UTF-8."""
    value = text.strip()
    if re.fullmatch(r"#(?:[0-9A-Fa-f]{2})+", value):
        der = bytes.fromhex(value[1:])                       # a DER string (RFC 4514 2.4)
        if len(der) >= 2 and der[0] in _DER_STRINGS and der[1] == len(der) - 2:
            try:
                return der[2:].decode(_DER_STRINGS[der[0]])
            except UnicodeDecodeError:
                pass
        return value
    if quotes and len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    raw, position = bytearray(), 0
    for escape in _DN_ESCAPE.finditer(value):
        raw += value[position:escape.start()].encode()
        pair = escape.group(1) or escape.group(2)
        raw += bytes.fromhex(pair) if pair else escape.group(3).encode()
        position = escape.end()
    raw += value[position:].encode()
    return raw.decode("utf-8", errors="replace")


def canonical_dn(text: str) -> str:
    """A distinguished name in any common spelling as its sorted lower-case 'attr=value' pairs, so the
    same name compares equal across tools: OpenSSL's one-line '/C=US/O=Example Corp/CN=x' (osquery),
    RFC 4514 'CN=x,O=Example Corp,C=US' (cryptography), 'C = US, O = Example Corp, CN = x' (CBOM,
    `openssl -nameopt oneline`). Multi-valued RDNs ('CN=x+UID=y') count as their parts; long names
    and dotted OIDs become short names. Text with no 'attr=value' in it is kept whole."""
    text = text.strip()
    quotes = not text.startswith("/")                         # OpenSSL's one-line form never quotes
    rdns = _dn_split(text, ",;") if quotes else _dn_split(text[1:], "/")
    pairs = []
    for rdn in rdns:
        for part in _dn_split(rdn, "+"):
            key, sep, value = part.partition("=")
            if not sep:
                pairs.append(" ".join(part.split()).lower())
                continue
            key = re.sub(r"\s+", "", key).lower()
            value = " ".join(_dn_value(value, quotes).split()).lower()
            value = value.replace("\\", "\\\\").replace(",", "\\,").replace("+", "\\+").replace("|", "\\|")
            pairs.append(f"{_DN_NAMES.get(key, key)}={value}")
    return ",".join(sorted(p for p in pairs if p))


def x509_identity(subject: str | None, issuer: str | None, not_before, not_after) -> str | None:
    """What makes two sightings of a certificate one certificate when their fingerprints differ
    (osquery reports SHA-1, a CBOM may carry none): issuer, subject and validity window."""
    if not (subject and issuer and not_before and not_after):
        return None
    stamps = [_utc_second(t) for t in (not_before, not_after)]
    return "|".join((canonical_dn(issuer), canonical_dn(subject), *stamps))


def _utc_second(moment) -> str:
    if not hasattr(moment, "astimezone"):
        return str(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()
