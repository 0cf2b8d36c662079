"""The delivery rows are the outbox: the beat's sweep sends again the due deliveries whose message was
lost (a Redis restart, a killed worker), never one waiting behind an earlier delivery of its order, one
not yet due, or one a live worker holds; finished deliveries past WEBHOOKS_KEEP_DAYS are removed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.pipeline_harness import broker_fixture, queued_tasks  # noqa: F401
from tests.webhooks_support import make_webhook_admin
from workvisits import services, tasks, webhooks
from workvisits.models import WebhookDelivery

pytestmark = pytest.mark.celery


def test_the_sweep_sends_again_only_lost_deliveries_first_in_line(broker, orderer, make_body, settings):
    admin = make_webhook_admin(orderer)
    webhooks.endpoint_create(user=admin, url="https://93.184.215.14/hook", events=["order.placed", "order.cancelled"])
    now = timezone.now()
    made = {name: services.order_create(user=admin, data=make_body()) for name in ("lost", "later", "leased", "dead")}
    services.order_cancel(user=admin, order_id=made["lost"].order_id, reason="Not needed after all.")
    placed = {name: WebhookDelivery.objects.get(order=o, event_type="order.placed") for name, o in made.items()}
    cancelled = WebhookDelivery.objects.get(order=made["lost"], event_type="order.cancelled")
    # later: its retry is due in a minute (the message waits in the broker).
    WebhookDelivery.objects.filter(pk=placed["later"].pk).update(next_attempt_at=now + timedelta(minutes=1))
    # leased: a worker is sending it right now.
    WebhookDelivery.objects.filter(pk=placed["leased"].pk).update(lease_expires_at=now + timedelta(seconds=30))
    # dead: its worker was killed mid-attempt; the lease has run out.
    WebhookDelivery.objects.filter(pk=placed["dead"].pk).update(lease_expires_at=now - timedelta(seconds=1))
    # An old finished delivery is removed; an old pending one is kept.
    old = now - timedelta(days=settings.WEBHOOKS_KEEP_DAYS + 1)
    finished = WebhookDelivery.objects.create(
        endpoint=placed["lost"].endpoint, order=made["later"], event_type="order.placed", payload={}, status="SUCCEEDED"
    )
    WebhookDelivery.objects.filter(pk=finished.pk).update(created_at=old)

    assert tasks.sweep_webhooks.run() == "2 sent again, 0 endpoints disabled, 1 old deliveries removed"
    assert queued_tasks(broker) == sorted(
        [(tasks.deliver_webhook.name, (placed["lost"].pk,)), (tasks.deliver_webhook.name, (placed["dead"].pk,))]
    )
    assert not WebhookDelivery.objects.filter(pk=finished.pk).exists()
    assert WebhookDelivery.objects.filter(pk=cancelled.pk, status="PENDING").exists()
