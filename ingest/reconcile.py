"""Identity resolution: which asset each observation is about. Every record lands on an asset.

Rules (the README has them for users):
0. Values that identify nothing (graph/identity_rules.py: placeholder serials, asset tags and
   system UUIDs; shared and virtual-adapter MACs) are dropped before anything else.
1. Strong identifiers (serial, asset tag, cloud id, agent id, MAC) merge, except a locally
   administered MAC, which joins only when something stronger agrees.
2. Evidence against a merge: serial, asset tag, cloud id and agent id are single-valued, so an
   asset holding a different value of one of them is a different machine. When every asset the
   record's strong identifiers point at contradicts it, the record stands alone: a separate asset
   (with a stable id, so a re-run finds it again) plus a conflict.
3. When several assets fit, the record's identifiers in precedence order (cloud id, agent id,
   serial, MAC, asset tag, then FQDN, host name, IP) pick one; if none does, it stands alone.
   A conflict records both sides when the record was kept apart, or when other assets it fits
   as well hold its identifiers; the identifier then names several assets and a lookup lists
   them. A re-run finds a kept-apart record on its own asset, so the conflict is not raised again.
4. With no strong match, weak identifiers are tried in order FQDN, hostname, IP. A weak match
   counts only if nothing single-valued contradicts it; an IP matches only when the record
   names no host name the holder lacks (IPs are re-used).
5. Weak identifiers are time-bound: each belongs to the asset that last held it. A weak match
   contradicted by strong identifiers means a different machine (a host name re-used after a
   reimage onto new hardware): a new asset, and the identifier moves to it when the record is newer.
6. No match: a new asset.
Observations are resolved in order against the graph plus everything resolved before them,
so duplicates inside one run merge too.
"""
from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from graph.identity_rules import identifies, links_alone
from graph.models import HostObservation, Identifier
from graph.schema import (SINGLE_VALUED_KINDS, STRONG_KINDS, STRONG_PRECEDENCE, TIME_BOUND_KINDS, WEAK_PRECEDENCE,
                          IdentifierKind)
from neo4j import Transaction
from ingest.catalog import write

# The assets any of a run's identifiers point at, each with all its identifier keys: one round trip.
# The index hint pins the plan: planned against a near-empty graph (stale statistics), an UNWIND
# join once took two minutes for 30,000 keys instead of one second.
LOOKUP = write(
    'read-identifier-holders',
    "Read: the assets any of a batch's identifiers point at, each with all its identifier keys.",
    """
MATCH (seen:Identifier) USING INDEX SEEK seen:Identifier(key)
WHERE seen.key IN $keys
MATCH (seen)-[:IDENTIFIES]->(a:Asset)
WITH DISTINCT a
RETURN a.id AS id, [(i:Identifier)-[:IDENTIFIES]->(a) | i.key] AS keys
""")


@dataclass(frozen=True)
class Conflict:
    """A record whose identifiers are also held by other assets, kept for review: the record
    landed on one asset (`asset`), the others (`candidates`) hold some of its identifiers."""

    id: str
    record: str
    reason: str
    identifiers: tuple[str, ...]
    asset: str
    candidates: tuple[str, ...]


@dataclass
class Resolution:
    observation: HostObservation
    asset_id: str
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


def trusted(obs: HostObservation) -> HostObservation:
    """The observation without the identifier values that identify nothing (placeholders, shared MACs)."""
    kept = tuple(i for i in obs.identifiers if identifies(i.kind, i.value))
    return obs if len(kept) == len(obs.identifiers) else obs.model_copy(update={"identifiers": kept})


def _linking(obs: HostObservation) -> list[Identifier]:
    """The strong identifiers that may merge records by themselves."""
    return [i for i in obs.identifiers if i.kind in STRONG_KINDS and links_alone(i.kind, i.value)]


def _record_keys(obs: HostObservation) -> list[str]:
    """What makes a record the same record on the next run: its strong identifiers, else all of them."""
    strong = sorted(i.key for i in _linking(obs))
    return strong or sorted(i.key for i in obs.identifiers)


def standalone_id(source: str, obs: HostObservation) -> str:
    """The id a record that cannot be merged gets: the same on every run, so re-runs find it again."""
    return str(uuid.uuid5(_STANDALONE, "|".join((source, *_record_keys(obs)))))


_STANDALONE = uuid.UUID("8f0c6f8e-3a57-4d0e-9d2b-6c1f4f1d7a21")


class Resolver:
    """Resolves a run's observations, batch by batch, against the graph (one query per batch, read in
    the batch's own write transaction so a concurrent run's assets are seen), then in memory. The
    in-memory index holds one batch: earlier batches of the run are in the graph by then (committed, or
    written earlier in the same transaction), so duplicates in different batches merge too, and a
    million-host run never holds every identifier in memory."""

    def __init__(self, source: str):
        self.source = source
        self.index = _Index()
        self.kept_apart: set[str] = set()     # standalone ids this run landed records on

    def _load(self, tx: Transaction, observations: list[HostObservation]) -> None:
        keys = sorted({i.key for o in observations for i in o.identifiers})
        for row in tx.run(LOOKUP, keys=keys):
            for key in row["keys"]:
                kind, _, value = key.partition(":")
                if identifies(kind, value):
                    self.index.add(row["id"], kind, value)

    def resolve(self, tx: Transaction, observations: list[HostObservation]) -> list[Resolution]:
        observations = [trusted(obs) for obs in observations]
        self.index = _Index()
        self._load(tx, observations)
        return [self._resolve_one(obs) for obs in observations]

    def _contradicts(self, obs: HostObservation, asset: str) -> str | None:
        known = self.index.ids_of.get(asset, {})
        for ident in obs.identifiers:
            if ident.kind in SINGLE_VALUED_KINDS and known.get(ident.kind) and ident.value not in known[ident.kind]:
                return f"{ident.kind} {ident.value} but the asset has {ident.kind} {', '.join(sorted(known[ident.kind]))}"
        return None

    def _resolve_one(self, obs: HostObservation) -> Resolution:
        holders = {a for i in _linking(obs) for a in self.index.holders.get(i.key, ())}
        if holders:
            return self._resolve_strong(obs, holders)
        return self._resolve_weak(obs)

    def _resolve_strong(self, obs: HostObservation, holders: set[str]) -> Resolution:
        own = standalone_id(self.source, obs)
        if own in holders and not self._contradicts(obs, own):  # this record stood alone before
            return self._land(obs, own, self._fitting(obs, holders - {own}), is_new=False)
        rivals = holders - {own}
        if not rivals:
            return self._resolve_weak(obs)
        fitting = self._fitting(obs, rivals)
        chosen = self._choose(obs, fitting)
        if chosen:  # assets that contradict the record are other machines, not a dispute
            return self._land(obs, chosen, fitting - {chosen}, is_new=False)
        return self._land(obs, own, rivals, is_new=self._first_time(own))

    def _resolve_weak(self, obs: HostObservation) -> Resolution:
        names = {i.value for i in obs.identifiers if i.kind in (IdentifierKind.HOSTNAME, IdentifierKind.FQDN)}
        fqdns = {i.value for i in obs.identifiers if i.kind == IdentifierKind.FQDN}
        for kind in WEAK_PRECEDENCE:
            holders = {a for i in obs.identifiers if i.kind == kind for a in self.index.holders.get(i.key, ())}
            if kind == IdentifierKind.IP and names:
                holders = {a for a in holders if self._holds_names(a, names)}
            if kind == IdentifierKind.HOSTNAME and fqdns:  # web-01.corp is not web-01.lab
                holders = {a for a in holders if not self._other_domain(a, fqdns)}
            fitting = self._fitting(obs, holders)
            if len(fitting) > 1:
                own = standalone_id(self.source, obs)
                return self._land(obs, own, fitting, is_new=self._first_time(own))
            if fitting:
                return self._land(obs, next(iter(fitting)), set(), is_new=False)
        return self._land(obs, str(uuid.uuid4()), set(), is_new=True)

    def _first_time(self, own: str) -> bool:
        """Whether a record kept apart lands on its own asset for the first time. An earlier batch's may
        hold none of its identifiers (an older record's host name stays with the newer holder), so the
        run remembers the ids it kept apart: only these, never the whole run's identifiers."""
        new = own not in self.index.ids_of and own not in self.kept_apart
        self.kept_apart.add(own)
        return new

    def _fitting(self, obs: HostObservation, assets: set[str]) -> set[str]:
        return {a for a in assets if not self._contradicts(obs, a)}

    def _choose(self, obs: HostObservation, fitting: set[str]) -> str | None:
        """The one fitting asset the record's identifiers pick, strongest kind first; None if they cannot."""
        candidates = set(fitting)
        usable = _linking(obs) + [i for i in obs.identifiers if i.kind in WEAK_PRECEDENCE]
        for kind in STRONG_PRECEDENCE + WEAK_PRECEDENCE:
            narrowed = {a for i in usable if i.kind == kind for a in self.index.holders.get(i.key, ())} & candidates
            candidates = narrowed or candidates
        return candidates.pop() if len(candidates) == 1 else None

    def _other_domain(self, asset: str, fqdns: set[str]) -> bool:
        held = self.index.ids_of.get(asset, {}).get(IdentifierKind.FQDN, set())
        return bool(held) and not held & fqdns

    def _holds_names(self, asset: str, names: set[str]) -> bool:
        known = self.index.ids_of.get(asset, {})
        held = known.get(IdentifierKind.HOSTNAME, set()) | known.get(IdentifierKind.FQDN, set())
        return not held or bool(held & names)

    def _land(self, obs: HostObservation, asset: str, rivals: set[str], is_new: bool) -> Resolution:
        """The record lands on `asset`; `rivals`, other assets it could as well be, make it a conflict."""
        conflict = self._conflict(obs, asset, rivals) if rivals else None
        for ident in obs.identifiers:
            self.index.add(asset, ident.kind, ident.value)
        return Resolution(obs, asset, is_new=is_new, conflict=conflict)

    def _conflict(self, obs: HostObservation, asset: str, rivals: set[str]) -> Conflict:
        keys = {i.key for i in obs.identifiers}
        parts = []
        for rival in sorted(rivals):
            held = {f"{kind}:{value}" for kind, values in self.index.ids_of.get(rival, {}).items() for value in values}
            clash = self._contradicts(obs, rival)
            parts.append(f"{', '.join(sorted(keys & held))} also on another asset"
                         + (f" that contradicts the record ({clash})" if clash else ""))
        where = "kept apart as its own asset" if asset == standalone_id(self.source, obs) else "joined one of them"
        # in the order of what they say, not of the rivals' random ids: a re-run writes the same reason
        reason = f"identifiers point at different assets, {where}: {'; '.join(sorted(parts))}"
        digest = hashlib.sha256("|".join((self.source, *_record_keys(obs))).encode()).hexdigest()[:24]
        return Conflict(f"conflict-{digest}", obs.record, reason, tuple(sorted(keys)), asset, tuple(sorted(rivals)))
