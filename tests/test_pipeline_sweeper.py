"""The sweeper is the outbox: it sends again what no message carries, and leaves alone what a message
or a live lease still carries, and what waits for an operator."""

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
    now = timezone.now()
    long_ago = now - timedelta(minutes=10)
    names = ("lost", "dead", "retry_lost", "waiting", "busy", "sent", "check", "cancelled")
    made = {name: services.order_create(user=orderer, data=make_body()) for name in names}
    Order.objects.filter(pk__in=[o.pk for o in made.values()]).update(updated_at=long_ago)
    # lost: placed while the broker was down (never sent for submission).
    Order.objects.filter(pk=made["lost"].pk).update(sent_for_submission_at=None)
    # dead: its worker was killed mid-attempt; the lease has run out.
    Order.objects.filter(pk=made["dead"].pk).update(
        lease_owner="gone", lease_expires_at=now - timedelta(seconds=1), submit_attempts=1,
        sent_for_submission_at=long_ago, upstream_uncertain=True,
    )
    # retry_lost: a retry was due long ago and its message is gone.
    Order.objects.filter(pk=made["retry_lost"].pk).update(
        next_attempt_at=long_ago, submit_attempts=1, sent_for_submission_at=long_ago
    )
    # waiting: a retry is due soon; its message waits in the broker.
    Order.objects.filter(pk=made["waiting"].pk).update(
        next_attempt_at=now + timedelta(seconds=30), submit_attempts=1, sent_for_submission_at=long_ago
    )
    # busy: an attempt holds a live lease right now.
    Order.objects.filter(pk=made["busy"].pk).update(
        lease_owner="alive", lease_expires_at=now + timedelta(seconds=50), sent_for_submission_at=now
    )
    # sent: its submission message went out a moment ago.
    Order.objects.filter(pk=made["sent"].pk).update(sent_for_submission_at=now)
    # check: waits for an operator, whatever its age.
    Order.objects.filter(pk=made["check"].pk).update(status=OrderStatus.NEEDS_CHECK, upstream_uncertain=True)
    # cancelled after it reached the upstream; the cancellation message was lost.
    Order.objects.filter(pk=made["cancelled"].pk).update(
        status=OrderStatus.CANCELLED, upstream_order_id="1-99999999", submit_attempts=1
    )
    # Only the lost order's "placed" event still waits for its emails.
    for name, order in made.items():
        event = order.events.get(kind=EventKind.CREATED)
        event.created_at = long_ago
        event.notified_at = None if name == "lost" else long_ago
        event.save()

    assert tasks.sweep_orders.run() == "3 submissions, 1 notifications, 0 changes, 1 cancellations"
    assert queued_tasks(broker) == sorted(
        [
            (tasks.submit_order.name, (made["lost"].pk,)),
            (tasks.submit_order.name, (made["dead"].pk,)),
            (tasks.submit_order.name, (made["retry_lost"].pk,)),
            (tasks.notify_order.name, (made["lost"].pk,)),
            (tasks.cancel_order.name, (made["cancelled"].pk,)),
        ]
    )
    dead = Order.objects.get(pk=made["dead"].pk)
    # The run-out lease is freed for the next attempt, which looks the order up first.
    assert dead.lease_expires_at is None and dead.upstream_uncertain
    # Sent: not sent again by the next round.
    broker_before = len(queued_tasks(broker))
    assert tasks.sweep_orders.run().startswith("0 submissions")
    assert len(queued_tasks(broker)) == broker_before + 2  # the notification and cancellation, still unanswered


def test_an_order_whose_process_died_before_the_send_is_sent_after_the_grace(broker, orderer, make_body, settings):
    # The order is stored as sent, in the create's own write; the send after the commit never happens
    # here (this test's transaction never commits), as when the web process dies right after the commit.
    settings.SWEEP_AFTER_SECONDS = 60
    order = services.order_create(user=orderer, data=make_body())
    assert Order.objects.get(pk=order.pk).sent_for_submission_at is not None
    assert queued_tasks(broker) == []
    assert tasks.sweep_orders.run().startswith("0 submissions")  # within the grace: its message may be on its way

    Order.objects.filter(pk=order.pk).update(sent_for_submission_at=timezone.now() - timedelta(seconds=61))
    assert tasks.sweep_orders.run().startswith("1 submissions")
    assert queued_tasks(broker) == [(tasks.submit_order.name, (order.pk,))]
