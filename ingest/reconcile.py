"""Identity resolution: which existing asset, if any, each observation is about.

Rules (the README has them for users):
1. Strong identifiers (serial, asset tag, cloud id, agent id, MAC) merge. If they point at
   two different assets, the record is a conflict and is not merged anywhere.
2. Serial, asset tag, cloud id and agent id are single-valued: a record whose value differs
   from the matched asset's is a conflict, never a silent merge.
3. With no strong match, weak identifiers are tried in order FQDN, hostname, IP. A weak match
   counts only if nothing single-valued contradicts it; an IP matches only when the record
   names no host name the holder lacks (IPs are re-used).
4. Weak identifiers are time-bound: each belongs to the asset that last held it. A weak match
   contradicted by strong identifiers means a different machine (a host name re-used after a
   reimage onto new hardware): a new asset, and the identifier moves to it when the record is newer.
5. No match: a new asset.
Observations are resolved in order against the graph plus everything resolved before them,
so duplicates inside one run merge too.
"""
from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from graph.models import HostObservation
from graph.schema import SINGLE_VALUED_KINDS, STRONG_KINDS, TIME_BOUND_KINDS, WEAK_PRECEDENCE, IdentifierKind
from graph.store import Store

# The assets any of a run's identifiers point at, each with all its identifier keys: one round trip.
# The index hint pins the plan: planned against a near-empty graph (stale statistics), an UNWIND
# join once took two minutes for 30,000 keys instead of one second.
LOOKUP = """
MATCH (seen:Identifier) USING INDEX seen:Identifier(key)
WHERE seen.key IN $keys
MATCH (seen)-[:IDENTIFIES]->(a:Asset)
WITH DISTINCT a
RETURN a.id AS id, [(i:Identifier)-[:IDENTIFIES]->(a) | i.key] AS keys
"""


@dataclass(frozen=True)
class Conflict:
    """A record identity resolution refused to merge, kept for review."""

    id: str
    record: str
    reason: str
    identifiers: tuple[str, ...]
    candidates: tuple[str, ...]


@dataclass
class Resolution:
    observation: HostObservation
    asset_id: str | None
    is_new: bool = False
    conflict: Conflict | None = None


@dataclass
class _Index:
    holders: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    ids_of: dict[str, dict[str, set[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(set)))

    def add(self, asset: str, kind: str, value: str) -> None:
        key = f"{kind}:{value}"
        if kind in TIME_BOUND_KINDS:  # a weak identifier belongs to the asset that last held it
            for previous in self.holders[key] - {asset}:
                self.ids_of[previous][kind].discard(value)
            self.holders[key] = {asset}
        else:
            self.holders[key].add(asset)
        self.ids_of[asset][kind].add(value)


def _conflict(source: str, obs: HostObservation, reason: str, candidates: set[str]) -> Conflict:
    keys = tuple(sorted(i.key for i in obs.identifiers))
    digest = hashlib.sha256("|".join((source, reason.split(":")[0], *keys)).encode()).hexdigest()[:24]
    return Conflict(f"conflict-{digest}", obs.record, reason, keys, tuple(sorted(candidates)))


class Resolver:
    """Resolves a run's observations against the graph in two queries, then in memory."""

    def __init__(self, store: Store, source: str):
        self.store = store
        self.source = source
        self.index = _Index()

    def _load(self, observations: list[HostObservation]) -> None:
        keys = sorted({i.key for o in observations for i in o.identifiers})
        for row in self.store.read(LOOKUP, keys=keys):
            for key in row["keys"]:
                kind, _, value = key.partition(":")
                self.index.add(row["id"], kind, value)

    def resolve(self, observations: list[HostObservation]) -> list[Resolution]:
        self._load(observations)
        return [self._resolve_one(obs) for obs in observations]

    def _contradicts(self, obs: HostObservation, asset: str) -> str | None:
        known = self.index.ids_of.get(asset, {})
        for ident in obs.identifiers:
            if ident.kind in SINGLE_VALUED_KINDS and known.get(ident.kind) and ident.value not in known[ident.kind]:
                return f"{ident.kind} {ident.value} but the asset has {ident.kind} {', '.join(sorted(known[ident.kind]))}"
        return None

    def _resolve_one(self, obs: HostObservation) -> Resolution:
        strong = {a for i in obs.identifiers if i.kind in STRONG_KINDS for a in self.index.holders.get(i.key, ())}
        if len(strong) > 1:
            return self._refuse(obs, "strong identifiers point at different assets", strong)
        if strong:
            asset = next(iter(strong))
            clash = self._contradicts(obs, asset)
            if clash:
                return self._refuse(obs, f"contradicts the matched asset: {clash}", {asset})
            return self._accept(obs, asset, is_new=False)
        names = {i.value for i in obs.identifiers if i.kind in (IdentifierKind.HOSTNAME, IdentifierKind.FQDN)}
        fqdns = {i.value for i in obs.identifiers if i.kind == IdentifierKind.FQDN}
        for kind in WEAK_PRECEDENCE:
            holders = {a for i in obs.identifiers if i.kind == kind for a in self.index.holders.get(i.key, ())}
            if kind == IdentifierKind.IP and names:
                holders = {a for a in holders if self._holds_names(a, names)}
            if kind == IdentifierKind.HOSTNAME and fqdns:  # web-01.corp is not web-01.lab
                holders = {a for a in holders if not self._other_domain(a, fqdns)}
            fitting = {a for a in holders if not self._contradicts(obs, a)}
            if len(fitting) > 1:
                return self._refuse(obs, f"{kind} matches {len(fitting)} assets", fitting)
            if fitting:
                return self._accept(obs, next(iter(fitting)), is_new=False)
        return self._accept(obs, str(uuid.uuid4()), is_new=True)

    def _other_domain(self, asset: str, fqdns: set[str]) -> bool:
        held = self.index.ids_of.get(asset, {}).get(IdentifierKind.FQDN, set())
        return bool(held) and not held & fqdns

    def _holds_names(self, asset: str, names: set[str]) -> bool:
        known = self.index.ids_of.get(asset, {})
        held = known.get(IdentifierKind.HOSTNAME, set()) | known.get(IdentifierKind.FQDN, set())
        return not held or bool(held & names)

    def _accept(self, obs: HostObservation, asset: str, is_new: bool) -> Resolution:
        for ident in obs.identifiers:
            self.index.add(asset, ident.kind, ident.value)
        return Resolution(obs, asset, is_new=is_new)

    def _refuse(self, obs: HostObservation, reason: str, candidates: set[str]) -> Resolution:
        return Resolution(obs, None, conflict=_conflict(self.source, obs, reason, candidates))
