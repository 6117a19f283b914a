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


# --- boundaries: severity order, the decommission day, a departure dated today ---------------------

def test_unexpected_outranks_review_whatever_order_the_reasons_come_in():
    departed = {"email": "gone@example.com", "active": False, "end_date": date(2026, 10, 1)}
    never_procured = verdict({}, owners=[departed], sightings=[SCAN], addresses=IP)
    assert never_procured == ("UNEXPECTED", ["seen by nmap on 2026-11-20 on 10.0.3.7 but never procured",
                                             "owner gone@example.com left on 2026-10-01"])
    retired_alive = verdict({"lifecycle_stage": "decommissioned", "decommissioned_on": date(2026, 11, 1)},
                            owners=[departed], sightings=[INVENTORY, SCAN], addresses=IP)
    assert retired_alive[0] == "UNEXPECTED" and len(retired_alive[1]) == 2
    # REVIEW still outranks EXPECTED
    assert verdict({"lifecycle_stage": "deployment", "status_label": "Deployed"}, owners=[departed])[0] == "REVIEW"


def test_a_sighting_on_the_decommission_day_is_not_life_after_it():
    on_the_day = {**SCAN, "last_seen": datetime(2026, 11, 20, 23, 59, tzinfo=timezone.utc)}
    retired = {"lifecycle_stage": "decommissioned", "decommissioned_on": date(2026, 11, 20)}
    assert verdict(retired, sightings=[INVENTORY, on_the_day]) == \
        ("EXPECTED", ["decommissioned on 2026-11-20 and not seen since"])
    next_day = {**SCAN, "last_seen": datetime(2026, 11, 21, 0, 0, tzinfo=timezone.utc)}
    assert verdict(retired, sightings=[INVENTORY, next_day]) == \
        ("UNEXPECTED", ["decommissioned on 2026-11-20 yet still answering (nmap, 2026-11-21)"])


def test_an_owner_leaving_today_has_left_and_tomorrow_has_not():
    deployed = {"lifecycle_stage": "deployment", "status_label": "Deployed"}
    today = {"email": "ada@example.com", "active": True, "end_date": TODAY}
    assert verdict(deployed, owners=[today]) == \
        ("REVIEW", ["in inventory (snipeit) as Deployed", f"owner ada@example.com left on {TODAY.isoformat()}"])
    tomorrow = {**today, "end_date": date(2026, 11, 26)}
    assert verdict(deployed, owners=[tomorrow]) == ("EXPECTED", ["in inventory (snipeit) as Deployed"])
