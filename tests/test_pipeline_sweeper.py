"""The sweeper sends again what no task carries, and leaves alone what a task still carries."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.pipeline_harness import broker_fixture, queued_tasks  # noqa: F401
from workvisits import services, tasks
from workvisits.choices import EventKind, OrderStatus
from workvisits.models import Order

pytestmark = pytest.mark.celery


def test_sweeper_requeues_lost_work_only(broker, orderer, make_body, settings):
    settings.SWEEP_AFTER_SECONDS = 60
    long_ago = timezone.now() - timedelta(minutes=10)
    # Placed while the broker was down (the test transaction never commits, so nothing was sent).
    lost = services.order_create(user=orderer, data=make_body())
    # Its worker died mid-submission, longer ago than a task may run.
    stuck = services.order_create(user=orderer, data=make_body())
    # A retry is scheduled for it: its task is waiting in the broker.
    waiting = services.order_create(user=orderer, data=make_body())
    # Being submitted right now.
    busy = services.order_create(user=orderer, data=make_body())
    # Cancelled after it reached the upstream; the cancellation task was lost.
    cancelled = services.order_create(user=orderer, data=make_body())
    Order.objects.filter(pk__in=[lost.pk, stuck.pk, waiting.pk, busy.pk, cancelled.pk]).update(updated_at=long_ago)
    Order.objects.filter(pk=stuck.pk).update(submitting_since=long_ago - timedelta(minutes=5), submit_attempts=1)
    Order.objects.filter(pk=waiting.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=30))
    Order.objects.filter(pk=busy.pk).update(submitting_since=timezone.now())
    Order.objects.filter(pk=cancelled.pk).update(
        status=OrderStatus.CANCELLED, upstream_order_id="1-99999999", submit_attempts=1
    )
    # Only the lost order's "placed" event still waits for its emails.
    created = {o.pk: o.events.get(kind=EventKind.CREATED) for o in (lost, stuck, waiting, busy, cancelled)}
    for pk, event in created.items():
        event.created_at = long_ago
        if pk != lost.pk:
            event.data["notified"] = "yes"
        event.save()

    assert tasks.sweep_orders.run() == "2 submissions, 1 notifications, 0 changes, 1 cancellations"
    assert queued_tasks(broker) == sorted(
        [
            (services.SUBMIT_TASK, (lost.pk,)),
            (services.SUBMIT_TASK, (stuck.pk,)),
            (services.NOTIFY_TASK, (lost.pk,)),
            (services.CANCEL_TASK, (cancelled.pk,)),
        ]
    )
