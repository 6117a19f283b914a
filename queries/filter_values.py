"""The values each fixed-vocabulary filter of the API and the CLI accepts, taken from where the vocabulary
is defined, and the one check both use: a value outside the vocabulary is the caller's error, never an
empty answer (`assets(kind: "server")` used to say "there are none"). Case does not matter, as with
lookup kinds and --severity; the value is passed on in the vocabulary's own spelling."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from graph.models import HostType
from graph.schema import ASSET_KINDS, LifecycleStage
from ingest.registry import BY_SOURCE
from queries.rules import RULES

# What ingest/pipeline.py records as an IngestRun's status (a dry run is rolled back, so never stored).
RUN_STATUSES = ("running", "succeeded", "failed", "dry-run")

# What the change log (ingest/changelog.py) and the mutations (queries.history.record_mutation) record.
CHANGE_KINDS = ("created", "field_changed", "identifier_added", "identifier_removed", "identifier_moved",
                "owner_changed", "port_opened", "port_closed", "port_changed", "software_installed",
                "software_removed", "software_upgraded", "control_gained", "control_lost", "stale", "seen_again",
                "audit_recorded", "finding_suppressed")


class UnknownValue(ValueError):
    """A filter value outside its vocabulary: names the argument, the value and what is accepted."""

    def __init__(self, argument: str, detail: str):
        super().__init__(f"argument {argument}: {detail}")
        self.argument, self.detail = argument, detail


@dataclass(frozen=True)
class Vocabulary:
    what: str                   # as the error names a value: 'asset kind', 'rule'
    values: Collection[str]     # read at each check (the rules register themselves on import)

    def accepted(self) -> list[str]:
        return sorted(self.values)

    def check(self, argument: str, value: str | None) -> str | None:
        """The value in the vocabulary's spelling (None stays None); UnknownValue otherwise."""
        return None if value is None else self._spelled(argument, [value])[0]

    def check_all(self, argument: str, values: list[str] | None) -> list[str] | None:
        """Each value in the vocabulary's spelling (None stays None); UnknownValue naming every unknown one."""
        return None if values is None else self._spelled(argument, values)

    def _spelled(self, argument: str, values: list[str]) -> list[str]:
        spelling = {v.casefold(): v for v in self.values}
        unknown = [v for v in values if v.casefold() not in spelling]
        if unknown:
            plural = "s" if len(unknown) > 1 else ""
            raise UnknownValue(argument, f"unknown {self.what}{plural} {', '.join(map(repr, unknown))}; "
                                         f"accepted: {', '.join(self.accepted())}")
        return [spelling[v.casefold()] for v in values]


ASSET_KIND = Vocabulary("asset kind", ASSET_KINDS)
HOST_TYPE = Vocabulary("host type", tuple(t.value for t in HostType))
LIFECYCLE_STAGE = Vocabulary("lifecycle stage", tuple(s.value for s in LifecycleStage))
RULE = Vocabulary("rule", RULES.keys())
RUN_STATUS = Vocabulary("run status", RUN_STATUSES)
SOURCE = Vocabulary("source", BY_SOURCE.keys())
CHANGE_KIND = Vocabulary("change kind", CHANGE_KINDS)
