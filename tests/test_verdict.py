"""shouldExist: each rule, with the sentence a responder reads."""
from __future__ import annotations

from datetime import date, datetime, timezone

from queries.verdict import should_exist

SEEN = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
INVENTORY = {"source": "snipeit", "role": "inventory", "first_seen": SEEN, "last_seen": SEEN}
SCAN = {"source": "nmap", "role": "discovery", "first_seen": SEEN, "last_seen": SEEN}
IP = [{"address": "10.0.3.7", "current": True}]
TODAY = date(2026, 11, 25)


def verdict(props, owners=(), sightings=(INVENTORY,), addresses=()):
    result = should_exist(props, list(owners), list(sightings), list(addresses), TODAY)
    return result.verdict, result.reasons


def test_retired_and_silent_is_expected():
    assert verdict({"lifecycle_stage": "disposed", "decommissioned_on": date(2026, 12, 1)}, sightings=[INVENTORY, SCAN]) \
        == ("EXPECTED", ["disposed on 2026-12-01 and not seen since"])


def test_retired_but_answering_is_unexpected_even_without_a_date():
    assert verdict({"lifecycle_stage": "decommissioned"}, sightings=[INVENTORY, SCAN], addresses=IP) == \
        ("UNEXPECTED", ["decommissioned yet still answering on 10.0.3.7 (nmap, 2026-11-20)"])


def test_deployed_without_owner_needs_review():
    assert verdict({"lifecycle_stage": "deployment", "status_label": "Deployed"}) == \
        ("REVIEW", ["in inventory (snipeit) as Deployed", "deployed with no owner"])


def test_owner_whose_end_date_has_come_is_departed_even_if_still_marked_active():
    owner = {"email": "ada@example.com", "active": True, "end_date": date(2026, 11, 24)}
    assert verdict({"lifecycle_stage": "deployment", "status_label": "Deployed"}, owners=[owner])[1][-1] == \
        "owner ada@example.com left on 2026-11-24"
    future = {**owner, "end_date": date(2026, 12, 24)}
    assert verdict({"lifecycle_stage": "deployment", "status_label": "Deployed"}, owners=[future])[0] == "EXPECTED"


def test_known_to_nothing_needs_review():
    assert verdict({}, sightings=[]) == ("REVIEW", ["known to no inventory and seen by no discovery source"])
