"""The organization's review policy, through the service every interface uses: orders that match wait
in PENDING_REVIEW with the reasons stored; the others go straight to QUEUED."""

from datetime import UTC, datetime, timedelta

import pytest

from workvisits import services
from workvisits.choices import EventKind, OrderStatus, ReviewMode
from workvisits.models import Organization

# Monday 2 March 2026, 12:00 UTC (07:00 in Ashburn, America/New_York).
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
# Tuesday 10:00-14:00 in Ashburn: more than 24 hours ahead, a weekday, daytime.
PLAIN_START = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
CONDITIONS = ("within_24_hours", "non_registered_visitors", "new_purchase_order", "night_or_weekend")
NON_REGISTERED = {
    "firstName": "Jane",
    "lastName": "Doe",
    "companyName": "Fixit BV",
    "details": [{"type": "EMAIL", "value": "jane@fixit.example"}],
}


def _policy(mode, *conditions):
    Organization.objects.filter(name="Acme Corp").update(
        review_mode=mode, **{f"review_{c}": c in conditions for c in CONDITIONS}
    )


def _create(orderer, make_body, start=PLAIN_START, hours=4, **changes):
    body = make_body(start=start, hours=hours)
    if changes.get("non_registered"):
        body["details"]["visitors"].append(NON_REGISTERED)
    if changes.get("purchase_order"):
        body["purchaseOrder"] = changes["purchase_order"]
    orderer.refresh_from_db()
    return services.order_create(user=orderer, data=body, now=NOW)


def _reasons(order):
    assert order.events.get(kind=EventKind.CREATED).to_status == order.status
    return order.review_reasons if order.status == OrderStatus.PENDING_REVIEW else None


def test_off_sends_every_order_straight_to_the_queue_even_with_conditions_set(orderer, make_body):
    _policy(ReviewMode.OFF, *CONDITIONS)
    order = _create(orderer, make_body, start=NOW + timedelta(hours=2), non_registered=True)
    assert order.status == OrderStatus.QUEUED and order.review_reasons == []


def test_all_holds_every_order_for_review(orderer, make_body):
    _policy(ReviewMode.ALL)
    order = _create(orderer, make_body)
    assert _reasons(order) == ["The organization reviews every order."]


def test_an_order_matching_no_condition_is_queued(orderer, make_body):
    _policy(ReviewMode.CONDITIONS, *CONDITIONS)
    order = _create(orderer, make_body, purchase_order={"type": "EXISTING", "number": "PO-1"})
    assert order.status == OrderStatus.QUEUED


def test_visit_starting_within_24_hours(orderer, make_body):
    _policy(ReviewMode.CONDITIONS, "within_24_hours")
    soon = _create(orderer, make_body, start=NOW + timedelta(hours=6))  # Monday 13:00 in Ashburn
    assert _reasons(soon) == ["The visit starts within 24 hours."]
    assert _create(orderer, make_body, start=NOW + timedelta(hours=25)).status == OrderStatus.QUEUED


def test_non_registered_visitors(orderer, make_body):
    _policy(ReviewMode.CONDITIONS, "non_registered_visitors")
    assert _reasons(_create(orderer, make_body, non_registered=True)) == ["Some visitors are not registered users."]
    assert _create(orderer, make_body).status == OrderStatus.QUEUED


def test_a_new_purchase_order(orderer, make_body):
    _policy(ReviewMode.CONDITIONS, "new_purchase_order")
    new = _create(orderer, make_body, purchase_order={"type": "NEW"})
    assert _reasons(new) == ["The order raises a NEW purchase order."]
    existing = _create(orderer, make_body, purchase_order={"type": "EXISTING", "number": "PO-1"})
    assert existing.status == OrderStatus.QUEUED


@pytest.mark.parametrize(
    ("start", "held"),
    [
        (datetime(2026, 3, 3, 2, 0, tzinfo=UTC), True),  # Monday 21:00 in Ashburn: night
        (datetime(2026, 3, 7, 15, 0, tzinfo=UTC), True),  # Saturday 10:00 in Ashburn: weekend
        (datetime(2026, 3, 3, 22, 0, tzinfo=UTC), False),  # 22:00 UTC is 17:00 in Ashburn: a working day
    ],
)
def test_night_or_weekend_in_the_ibx_time_zone(orderer, make_body, start, held):
    _policy(ReviewMode.CONDITIONS, "night_or_weekend")
    order = _create(orderer, make_body, start=start, hours=1)
    expected = ["The visit falls at night or at a weekend in the IBX's time zone."] if held else None
    assert _reasons(order) == expected


def test_every_matching_condition_is_given_as_a_reason(orderer, make_body):
    _policy(ReviewMode.CONDITIONS, *CONDITIONS)
    order = _create(
        orderer,
        make_body,
        start=datetime(2026, 3, 3, 1, 0, tzinfo=UTC),
        non_registered=True,
        purchase_order={"type": "NEW"},
    )
    assert len(_reasons(order)) == 4
    assert order.events.get(kind=EventKind.CREATED).note == " ".join(order.review_reasons)


def test_conditions_not_switched_on_do_not_hold_an_order(orderer, make_body):
    _policy(ReviewMode.CONDITIONS, "within_24_hours")
    order = _create(orderer, make_body, non_registered=True, purchase_order={"type": "NEW"})
    assert order.status == OrderStatus.QUEUED
