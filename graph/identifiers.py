"""Canonical forms of identifiers, shared by ingest (writing) and queries (looking up)."""
from __future__ import annotations

import ipaddress
import re

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
        case IdentifierKind.SERIAL | IdentifierKind.ASSET_TAG:
            return canonical_code(text)
        case _:
            value = text.strip()
            if not value:
                raise ValueError("empty value")
            return value


def identifier_key(kind: IdentifierKind | str, value: str) -> str:
    return f"{kind}:{value}"


def lookup_keys(text: str) -> list[str]:
    """Every identifier key a responder's free text could mean: 'kind:value' picks one kind."""
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
            keys.append(identifier_key(kind, canonical(kind, text)))
        except ValueError:
            continue
    return list(dict.fromkeys(keys))
