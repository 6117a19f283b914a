"""Secrets this installation makes for itself and keeps in ITAM_HOME, readable by its owner only."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

NEO4J_PASSWORD_FILE = "neo4j-password"
FINGERPRINT_KEY_FILE = "fingerprint-key"


def read_secret(path: Path) -> str | None:
    """The secret in a file, or None when the file does not exist yet."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def local_secret(path: Path) -> str:
    """The secret in `path`, made on first use: 32 random bytes as URL-safe text in a file of mode 0600.

    The file is created with O_EXCL and its mode from the start, so it is never readable by others,
    and two processes starting at once agree on one secret.
    """
    existing = read_secret(path)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:     # another process made it between our read and our create
        theirs = read_secret(path)
        if theirs is None:
            raise RuntimeError(f"{path} exists but is empty: delete it to make a new secret") from None
        return theirs
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def fingerprint_key(home: Path) -> bytes:
    """The HMAC key for fingerprints of secrets (licence keys): ITAM_FINGERPRINT_KEY when set (several
    installations that must agree share it), else a random key kept in ITAM_HOME/fingerprint-key."""
    shared = os.environ.get("ITAM_FINGERPRINT_KEY", "")
    return (shared or local_secret(home / FINGERPRINT_KEY_FILE)).encode()
