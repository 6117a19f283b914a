"""Fingerprints of what a source said, to tell updated from unchanged."""
from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(payload: Any) -> str:
    """A stable fingerprint of what a source said, to tell updated from unchanged."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
