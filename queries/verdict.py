"""Should this asset exist? A verdict that explains itself, from inventory, discovery and owners."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from graph.schema import RETIRED_STAGES, LifecycleStage, SourceRole

EXPECTED, REVIEW, UNEXPECTED = "EXPECTED", "REVIEW", "UNEXPECTED"
_SEVERITY = {EXPECTED: 0, REVIEW: 1, UNEXPECTED: 2}


@dataclass
class Verdict:
    verdict: str = EXPECTED
    reasons: list[str] = field(default_factory=list)

    def add(self, verdict: str, reason: str) -> None:
        if _SEVERITY[verdict] > _SEVERITY[self.verdict]:
            self.verdict = verdict
        self.reasons.append(reason)


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date().isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)


def should_exist(props: dict, owners: list[dict], sightings: list[dict], addresses: list[dict],
                 today: date | None = None) -> Verdict:
    """EXPECTED, REVIEW or UNEXPECTED, with one plain sentence per reason."""
    today = today or datetime.now(timezone.utc).date()
    verdict = Verdict()
    inventory = [s for s in sightings if s["role"] in (SourceRole.INVENTORY, SourceRole.CLOUD)]
    discovery = sorted((s for s in sightings if s["role"] == SourceRole.DISCOVERY), key=lambda s: s["last_seen"])
    stage = props.get("lifecycle_stage")
    current_ips = [a["address"] for a in addresses if a["current"]]
    where = f" on {', '.join(current_ips)}" if current_ips else ""

    if not inventory:
        if discovery:
            latest = discovery[-1]
            verdict.add(UNEXPECTED, f"seen by {latest['source']} on {_day(latest['last_seen'])}{where} but never procured")
        else:
            verdict.add(REVIEW, "known to no inventory and seen by no discovery source")
    elif stage in RETIRED_STAGES:
        retired_on = props.get("decommissioned_on")
        alive = [s for s in discovery if retired_on is None or s["last_seen"].date() > retired_on]
        when = f" on {_day(retired_on)}" if retired_on else ""
        if alive:
            latest = alive[-1]
            verdict.add(UNEXPECTED, f"{stage}{when} yet still answering{where} "
                                    f"({latest['source']}, {_day(latest['last_seen'])})")
        else:
            verdict.add(EXPECTED, f"{stage}{when} and not seen since")
    else:
        label = props.get("status_label") or props.get("cloud_state") or stage or "unknown status"
        verdict.add(EXPECTED, f"in inventory ({', '.join(s['source'] for s in inventory)}) as {label}")
    for gone in (s for s in inventory if s.get("current") is False):
        verdict.add(REVIEW, f"no longer in the {gone['source']} inventory since {_day(gone['stale_since'])}")

    for owner in owners:
        if is_departed(owner, today):
            left = f" on {_day(owner['end_date'])}" if owner.get("end_date") else ""
            verdict.add(REVIEW, f"owner {owner['email']} left{left}")
    if stage == LifecycleStage.DEPLOYMENT and not owners:
        verdict.add(REVIEW, "deployed with no owner")
    return verdict


def is_departed(person: dict, today: date) -> bool:
    """Departed when the directory says inactive or the end date has come."""
    left_on = person.get("end_date")
    return person.get("active") is False or (left_on is not None and left_on <= today)
