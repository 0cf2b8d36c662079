"""Retention: visitors' and non-registered contacts' personal data is removed a configurable number of
days after the visit ends (90 by default, per organization); the order, its times and cages stay."""

from datetime import timedelta

import pytest
import time_machine

from workvisits import services, tasks
from workvisits.choices import EventKind
from workvisits.models import Contact, Order, Visitor

PERSON = {
    "firstName": "Vera",
    "lastName": "Visitor",
    "companyName": "Acme Facilities",
    "details": [{"type": "EMAIL", "value": "vera@facilities.example"}, {"type": "MOBILE", "value": "+31 6 1234 5678"}],
}
CONTACT = {
    "firstName": "Ted",
    "lastName": "Technical",
    "type": "TECHNICAL",
    "companyName": "Acme Facilities",
    "availability": "WORK_HOURS",
    "timezone": "America/New_York",
    "details": [{"type": "EMAIL", "value": "ted@facilities.example"}],
}


@pytest.fixture
def visit(orderer, make_body):
    """An order with a typed-in visitor and technical contact, whose visit ends a day after it starts."""
    body = make_body()
    body["details"]["visitors"] = [{"registeredUsers": ["orderer"]}, PERSON]
    body["contacts"] = [CONTACT]
    order = services.order_create(user=orderer, data=body)
    Order.objects.filter(pk=order.pk).update(upstream_payload={"visitors": [PERSON]})
    return Order.objects.get(pk=order.pk)


def _personal_text(order) -> str:
    rows = [*Visitor.objects.filter(order=order).values(), *Contact.objects.filter(order=order).values()]
    return repr(rows) + repr(Order.objects.get(pk=order.pk).upstream_payload)


def test_a_visit_91_days_old_is_anonymized_by_the_beat_task_with_an_event(visit):
    cages = list(visit.cages.values_list("cage_id", "account_id", "cabinet_id"))
    with time_machine.travel(visit.visit_end + timedelta(days=91), tick=False):
        assert "vera@facilities.example" in _personal_text(visit)
        tasks.anonymize_orders()
    text = _personal_text(visit)
    for secret in ("Vera", "Visitor", "vera@facilities.example", "+31 6", "Ted", "ted@facilities.example"):
        assert secret not in text
    after = Order.objects.get(pk=visit.pk)
    assert (after.visit_start, after.visit_end) == (visit.visit_start, visit.visit_end)
    assert list(after.cages.values_list("cage_id", "account_id", "cabinet_id")) == cages
    assert Visitor.objects.filter(order=visit, user__username="orderer").exists()  # registered users stay
    event = after.events.get(kind=EventKind.ANONYMIZED)
    assert event.data["visitors"] == 1 and event.data["contacts"] == 1
    # Running again changes nothing and adds no event.
    assert services.orders_anonymize(now=visit.visit_end + timedelta(days=92)) == 0
    assert after.events.filter(kind=EventKind.ANONYMIZED).count() == 1


def test_a_visit_89_days_old_is_kept(visit):
    assert services.orders_anonymize(now=visit.visit_end + timedelta(days=89)) == 0
    assert "vera@facilities.example" in _personal_text(visit)


def test_the_retention_is_set_per_organization(visit):
    organization = visit.organization
    organization.retention_days = 30
    organization.save()
    assert services.orders_anonymize(now=visit.visit_end + timedelta(days=31)) == 1
    assert "Vera" not in _personal_text(visit)


def test_the_beat_runs_the_task_daily(settings):
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "workvisits.anonymize_orders")
    assert entry["schedule"] == 24 * 3600.0
