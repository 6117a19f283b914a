"""Host names as identifiers: the one place a connector turns a name into HOSTNAME and FQDN identifiers."""
from __future__ import annotations

from graph.identifiers import split_hostname
from graph.models import Identifier
from graph.schema import IdentifierKind


def host_name_identifiers(text: str) -> list[Identifier]:
    """The short name as a HOSTNAME identifier and, for a qualified name, the whole name as an FQDN
    identifier (both lower-cased, trailing dot dropped); ValueError if ``text`` is not a host name."""
    short, fqdn = split_hostname(text)
    found = [Identifier(kind=IdentifierKind.HOSTNAME, value=short)]
    if fqdn:
        found.append(Identifier(kind=IdentifierKind.FQDN, value=fqdn))
    return found
