"""An endpoint that fails for a day is disabled and its owners (the organization's admins) emailed;
one success before that resets the day. The clock is moved with time-machine, never slept on."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from tests.webhooks_support import Receiver, make_webhook_admin
from workvisits import services, webhooks
from workvisits.models import WebhookDelivery, WebhookEndpoint

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def admin(orderer, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the receiver is on loopback
    return make_webhook_admin(orderer)


def attempt_at(when, delivery):
    with time_machine.travel(when, tick=False):
        return webhooks.delivery_attempt(delivery_pk=delivery.pk)


def test_a_day_of_failures_disables_the_endpoint_and_tells_its_admins(
    admin, make_body, users, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), Receiver(status=500) as receiver:
        with time_machine.travel(T0 - timedelta(minutes=5), tick=False):
            endpoint, _ = webhooks.endpoint_create(user=admin, url=receiver.url, events=["order.placed"])
            services.order_create(user=admin, data=make_body(start=T0 + timedelta(days=2)))
            services.order_create(user=admin, data=make_body(start=T0 + timedelta(days=3)))
        first, second = WebhookDelivery.objects.order_by("id")

        assert "again in" in attempt_at(T0, first)
        assert "again in" in attempt_at(T0 + timedelta(hours=12), first)
        assert "again in" in attempt_at(T0 + timedelta(hours=23, minutes=59), second)
        endpoint.refresh_from_db()
        assert endpoint.active and endpoint.failing_since == T0
        assert mail.outbox == []

        assert attempt_at(T0 + timedelta(hours=24, minutes=1), first).endswith("endpoint disabled")
        assert len(receiver.received()) == 4

    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.disabled_at == T0 + timedelta(hours=24, minutes=1)
    assert "Every delivery failed since 2026-11-02T08:00:00Z" in endpoint.disabled_reason
    assert "answered 500" in endpoint.disabled_reason
    # Its pending deliveries are given up; nothing more is sent to it.
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"FAILED"}
    assert attempt_at(T0 + timedelta(hours=25), second) == "not due"
    [message] = mail.outbox
    assert message.to == [admin.email]
    assert message.subject == f"Webhook endpoint {receiver.url} disabled"
    assert "Every delivery failed since" in message.body and "enable it" in message.body
    # Another member, who does not manage webhooks, is not told.
    assert users["viewer"].email not in message.to


def test_one_success_resets_the_day_and_the_sweeper_disables_a_silent_failing_endpoint(
    admin, make_body, django_capture_on_commit_callbacks
):
    with Receiver(fail_first={"order.placed": 1}) as receiver:
        with time_machine.travel(T0 - timedelta(minutes=5), tick=False):
            endpoint, _ = webhooks.endpoint_create(user=admin, url=receiver.url, events=["order.placed"])
            services.order_create(user=admin, data=make_body(start=T0 + timedelta(days=2)))
        delivery = WebhookDelivery.objects.get()
        assert "again in" in attempt_at(T0, delivery)
        assert attempt_at(T0 + timedelta(hours=20), delivery) == "delivered (200)"
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.failing_since is None

    # Failing since more than a day, with nothing left to send: the beat's sweep disables it.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=T0)
    with time_machine.travel(T0 + timedelta(hours=25), tick=False), django_capture_on_commit_callbacks(execute=True):
        swept = webhooks.deliveries_sweep()
    assert swept["endpoints disabled"] == 1
    endpoint.refresh_from_db()
    assert not endpoint.active and len(mail.outbox) == 1
