"""Package URLs (purl, github.com/package-url/purl-spec), built and read with packageurl-python only."""
from __future__ import annotations

from functools import lru_cache

from packageurl import PackageURL


@lru_cache(maxsize=65536)
def package_purl(kind: str, namespace: str | None, name: str, version: str | None = None,
                 qualifiers: tuple[tuple[str, str], ...] = ()) -> str:
    """The canonical purl text, e.g. ``pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.12?arch=amd64``
    (remembered: the same package recurs on every host of a fleet)."""
    return PackageURL(type=kind, namespace=namespace, name=name, version=version,
                      qualifiers=dict(qualifiers)).to_string()


def purl_type(text: str) -> str | None:
    """The package type of a purl (``npm``, ``maven``, ``deb``...), lower-cased; None if ``text`` is not
    a package URL (``pkg:type/name``, optionally ``@version``, ``?qualifiers``, ``#subpath``)."""
    if any(ch.isspace() for ch in text):
        return None
    try:
        return PackageURL.from_string(text).type.lower()
    except ValueError:
        return None
