"""The status sync follows the upstream a batch at a time; reminders go out the day before, once."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from tests.pipeline_harness import sandbox_fixture  # noqa: F401
from workvisits import services, submission, tasks
from workvisits.choices import EventKind, OrderStatus
from workvisits.models import Order
from workvisits.rules import format_datetime

STEP = 0.5


@pytest.fixture
def stepping(sandbox, settings):
    sandbox.settings(statusStepSeconds=STEP, frozenClock=True)  # time moves only by advance()
    settings.STATUS_SYNC_MIN_AGE = 0
    return sandbox


def _submitted(user, body):
    order = services.order_create(user=user, data=body)
    submission.order_submit(order_pk=order.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    return order


def test_status_sync_follows_the_upstream_least_recently_checked_first(stepping, orderer, make_body, settings):
    settings.STATUS_SYNC_BATCH = 1
    first = _submitted(orderer, make_body())
    second = _submitted(orderer, make_body())
    stepping.advance(STEP * 1.2)

    assert tasks.sync_statuses.run() == "1 changed"
    assert tasks.sync_statuses.run() == "1 changed"
    for order in (first, second):
        order.refresh_from_db()
        assert order.status == OrderStatus.IN_PROGRESS and order.last_synced_at is not None
        assert order.events.filter(kind=EventKind.STATUS, to_status=OrderStatus.IN_PROGRESS).count() == 1
    gets = [r for r in stepping.requests() if r["method"] == "GET" and r["path"].startswith(
        "/colocations/v2/orders/1-")]
    assert len(gets) == 2  # one call per order per run, never the whole list at once

    stepping.advance(STEP * 2)
    settings.STATUS_SYNC_BATCH = 100
    assert tasks.sync_statuses.run() == "2 changed"
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.CLOSED}
    assert tasks.sync_statuses.run() == "0 changed"  # closed orders are no longer polled


def test_one_order_the_upstream_keeps_failing_on_does_not_hold_up_the_others(stepping, orderer, make_body, settings):
    settings.STATUS_SYNC_BATCH = 1
    stuck = _submitted(orderer, make_body())
    other = _submitted(orderer, make_body())
    stepping.advance(STEP * 1.2)
    stepping.fault("500", count=10, match=f"GET /colocations/v2/orders/{stuck.upstream_order_id}")

    assert tasks.sync_statuses.run() == "0 changed"  # the upstream struggles on it: this run stops there
    assert tasks.sync_statuses.run() == "1 changed"  # the next run starts with the other order
    other.refresh_from_db()
    stuck.refresh_from_db()
    assert other.status == OrderStatus.IN_PROGRESS and stuck.status == OrderStatus.SUBMITTED


def test_upstream_cancellation_is_followed(stepping, orderer, make_body):
    from workvisits.upstream.client import UpstreamClient

    order = _submitted(orderer, make_body())
    UpstreamClient().cancel_order(order.upstream_order_id, "Cancelled by the data centre.")
    tasks.sync_statuses.run()
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_reminder_the_day_before_once_per_visit_start(stepping, orderer, make_body):
    soon = (timezone.now() + timedelta(hours=20)).replace(microsecond=0)
    order = _submitted(orderer, make_body(start=soon))
    later = _submitted(orderer, make_body(start=soon + timedelta(days=3)))
    mail.outbox.clear()

    assert tasks.send_reminders.run() == "1 sent"
    assert [m.to for m in mail.outbox] == [["orderer@acme.example"]]
    assert "starts soon" in mail.outbox[0].subject and order.order_id in mail.outbox[0].subject
    assert "(America/New_York)" in mail.outbox[0].body
    assert tasks.send_reminders.run() == "0 sent"

    moved = soon + timedelta(hours=2)
    services.order_modify(
        user=orderer,
        order_id=order.order_id,
        data={
            "details": {
                "visitStartDateTime": format_datetime(moved),
                "visitEndDateTime": format_datetime(moved + timedelta(hours=2)),
            }
        },
    )
    assert tasks.send_reminders.run() == "1 sent"
    assert not later.notifications.filter(notice__startswith="reminder").exists()
