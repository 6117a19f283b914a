"""Every write statement of the ingest as a named, documented entry: the write side's `queries/catalog.py`.

`itam queries` lists reads and writes. A test EXPLAINs every entry against an empty graph (the
statistics a fresh database plans with) and checks that each one finds its nodes by index; an
entry that reads a whole label on purpose says why in `scans`.

Labels and relationship types in these statements come only from `graph/schema.py`: the few that
vary (an asset's kind label, a control's verb) are filled in from the vocabulary, never from input.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from graph.schema import ASSET_KINDS, CONTROL_VERBS, label, verb


@dataclass(frozen=True)
class Write:
    name: str
    module: str
    description: str
    cypher: str
    scans: str | None = None          # why it reads a whole label (a deliberate pass), else None: seeks only

    def statements(self) -> list[str]:
        """The statement as run: one per vocabulary value for a template, else itself."""
        if "{kind}" in self.cypher:
            return [self.cypher.replace("{kind}", label(kind)) for kind in ASSET_KINDS]
        if "%s" in self.cypher:
            return [self.cypher % verb(v) for v in sorted(set(CONTROL_VERBS.values()) | {"GRANTS_ACCESS_TO"})]
        return [self.cypher]


WRITES: dict[str, Write] = {}


def write(name: str, description: str, cypher: str, scans: str | None = None) -> str:
    """Declare a write statement (names are unique) and return its Cypher."""
    if name in WRITES:
        raise ValueError(f"write {name!r} declared twice")
    module = sys._getframe(1).f_globals.get("__name__", "")
    WRITES[name] = Write(name, module, description, cypher.strip(), scans)
    return cypher


def control_verbs() -> str:
    """`PROTECTS|MANAGES|MONITORS`: every control verb, from the vocabulary."""
    return "|".join(verb(v) for v in sorted(set(CONTROL_VERBS.values())))


def all_writes() -> dict[str, Write]:
    """The whole catalogue (importing the modules that declare it)."""
    import ingest.changelog  # noqa: F401 - each module registers its statements on import
    import ingest.license_matching  # noqa: F401
    import ingest.links  # noqa: F401
    import ingest.pipeline  # noqa: F401
    import ingest.reconcile  # noqa: F401
    import ingest.writer  # noqa: F401
    return WRITES
