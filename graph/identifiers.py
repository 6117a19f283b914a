"""Canonical forms of identifiers, shared by ingest (writing) and queries (looking up)."""
from __future__ import annotations

import ipaddress
import re
from datetime import timezone

from graph.identity_rules import identifies
from graph.schema import IdentifierKind

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$")
_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")


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
        case _:
            value = text.strip()
            if not value:
                raise ValueError("empty value")
            return value


def identifier_key(kind: IdentifierKind | str, value: str) -> str:
    return f"{kind}:{value}"


def lookup_keys(text: str) -> list[str]:
    """Every identifier key a responder's free text could mean: 'kind:value' picks one kind.
    Values that identify nothing (a placeholder serial, a shared virtual MAC) mean no key at all."""
    text = text.strip()
    prefix, _, rest = text.partition(":")
    if rest and prefix in IdentifierKind.__members__.values():
        kinds = [IdentifierKind(prefix)]
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


_DN_ALIASES = {"commonname": "cn", "organizationname": "o", "organizationalunitname": "ou", "countryname": "c",
               "localityname": "l", "stateorprovincename": "st", "emailaddress": "email", "e": "email"}


def canonical_dn(text: str) -> str:
    """A distinguished name in any common spelling ('/C=US/CN=x', 'CN=x,C=US', 'C = US, CN = x')
    as sorted lower-case 'attr=value' pairs, so the same name compares equal across tools."""
    text = text.strip()
    parts = text.strip("/").split("/") if text.startswith("/") else re.split(r"(?<!\\),", text)
    pairs = []
    for part in parts:
        key, sep, value = part.partition("=")
        if sep:
            key = re.sub(r"\s+", "", key).lower()
            pairs.append(f"{_DN_ALIASES.get(key, key)}={' '.join(value.split()).lower()}")
    return ",".join(sorted(pairs))


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
