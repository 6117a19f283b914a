"""Package URLs (purl, github.com/package-url/purl-spec), built and read with packageurl-python only."""
from __future__ import annotations

from functools import lru_cache

from packageurl import PackageURL

IDENTITY_QUALIFIERS = {"oci": ("repository_url",)}   # qualifiers that name the package, not one build of it


@lru_cache(maxsize=65536)
def package_purl(kind: str, namespace: str | None, name: str, version: str | None = None,
                 qualifiers: tuple[tuple[str, str], ...] = ()) -> str:
    """The canonical purl text, e.g. ``pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.12?arch=amd64``
    (remembered: the same package recurs on every host of a fleet)."""
    return PackageURL(type=kind, namespace=namespace, name=name, version=version,
                      qualifiers=dict(qualifiers)).to_string()


def read_purl(text: str) -> PackageURL | None:
    """The package URL ``text`` spells, or None if it is not one."""
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def stable_purl(purl: PackageURL) -> str:
    """The purl of the package whatever its build: no version, subpath or qualifiers (but an OCI image's
    repository_url, which says whose image it is)."""
    named_by = IDENTITY_QUALIFIERS.get(purl.type, ())
    kept = tuple(sorted((k, v) for k, v in (purl.qualifiers or {}).items() if k in named_by))
    return package_purl(purl.type, purl.namespace, purl.name, qualifiers=kept)


def purl_type(text: str) -> str | None:
    """The package type of a purl (``npm``, ``maven``, ``deb``...), lower-cased; None if ``text`` is not
    a package URL (``pkg:type/name``, optionally ``@version``, ``?qualifiers``, ``#subpath``)."""
    if any(ch.isspace() for ch in text):
        return None
    purl = read_purl(text)
    return purl.type.lower() if purl else None
