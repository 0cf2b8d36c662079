"""A customer's webhook receiver (a real HTTP server on loopback) gets each event of an order once,
signed, in order, from a real Celery worker; an event it answered 500 to twice comes again, and the
later events of the order wait for it."""

from datetime import timedelta

import pytest

from tests.pipeline_harness import pipeline_fixture, wait_for  # noqa: F401
from tests.webhooks_support import Receiver, make_webhook_admin, verify
from workvisits import rules, services, webhooks
from workvisits.choices import OrderStatus, WebhookEvent
from workvisits.models import WebhookDelivery

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# Loopback targets are allowed in these tests only (the worker gets the same switch below).
WORKER_ENV = {
    "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
    "WEBHOOKS_RETRY_BASE_SECONDS": "0.2",
    "WEBHOOKS_RETRY_MAX_SECONDS": "1",
}


def test_each_event_arrives_once_signed_in_order_and_again_after_two_500s(pipeline, users, make_body, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    admin = make_webhook_admin(users["orderer"])
    with Receiver(fail_first={WebhookEvent.ACCEPTED: 2}) as receiver:
        endpoint, secret = webhooks.endpoint_create(user=admin, url=receiver.url, events=list(WebhookEvent.values))
        pipeline.start(concurrency=4, **WORKER_ENV)

        order = services.order_create(user=admin, data=make_body())
        order = pipeline.wait_for_status(order, OrderStatus.SUBMITTED)
        # Changed and cancelled while the "accepted" event is still being retried: these wait for it.
        start = order.visit_start + timedelta(hours=1)
        services.order_modify(
            user=admin,
            order_id=order.order_id,
            data={
                "details": {
                    "visitStartDateTime": rules.format_datetime(start),
                    "visitEndDateTime": rules.format_datetime(start + timedelta(hours=2)),
                }
            },
        )
        services.order_cancel(user=admin, order_id=order.order_id, reason="The supplier is late.")

        expected = [WebhookEvent.PLACED, WebhookEvent.ACCEPTED, WebhookEvent.MODIFIED, WebhookEvent.CANCELLED]
        wait_for(lambda: len(receiver.succeeded()) >= len(expected), timeout=60, what="four delivered events")
        # Nothing more comes (a duplicate would be a fifth success): every delivery is recorded as done.
        wait_for(
            lambda: not WebhookDelivery.objects.filter(endpoint=endpoint, status="PENDING").exists(),
            timeout=30,
            what="no pending delivery",
        )
        requests = receiver.received()
        delivered = receiver.succeeded()

    assert [r["json"]["type"] for r in delivered] == expected, pipeline.logs()
    # Once each: one success per delivery id, four different ids.
    ids = [r["headers"]["Portal-Delivery"] for r in delivered]
    assert len(set(ids)) == 4
    assert all(r["json"]["id"] == r["headers"]["Portal-Delivery"] for r in delivered)
    # Signed with the secret shown at registration; a wrong secret does not verify.
    assert all(verify(secret, r["headers"]["Portal-Signature"], r["body"]) for r in requests)
    assert not verify(secret + "x", requests[0]["headers"]["Portal-Signature"], requests[0]["body"])
    # The "accepted" delivery came three times with the same id and body; the later events only after it.
    accepted = [r for r in requests if r["headers"]["Portal-Event"] == WebhookEvent.ACCEPTED]
    assert [r["status"] for r in accepted] == [500, 500, 200]
    assert len({r["headers"]["Portal-Delivery"] for r in accepted}) == 1 and len({r["body"] for r in accepted}) == 1
    order_of_arrival = [r["headers"]["Portal-Event"] for r in requests]
    assert order_of_arrival == [WebhookEvent.PLACED, *[WebhookEvent.ACCEPTED] * 3, *expected[2:]]
    # The body is the order in the API's shape, as it was at the event.
    bodies = {r["json"]["type"]: r["json"] for r in delivered}
    assert bodies[WebhookEvent.PLACED]["data"]["order"]["orderId"] == order.order_id
    assert bodies[WebhookEvent.PLACED]["data"]["order"]["portalStatus"] == OrderStatus.QUEUED
    assert bodies[WebhookEvent.ACCEPTED]["data"]["order"]["upstreamOrderId"] == order.upstream_order_id
    assert bodies[WebhookEvent.MODIFIED]["data"]["order"]["workVisit"]["visitStartDateTime"] == rules.format_datetime(
        start
    )
    assert bodies[WebhookEvent.CANCELLED]["data"]["order"]["portalStatus"] == OrderStatus.CANCELLED
    # Recorded per attempt: status codes, durations; the delivery's last answer.
    record = WebhookDelivery.objects.get(endpoint=endpoint, event_type=WebhookEvent.ACCEPTED)
    assert record.status == "SUCCEEDED" and record.attempts == 3 and record.last_response_code == 200
    assert [a.response_code for a in record.attempt_log.all()] == [500, 500, 200]
    assert record.delivered_at is not None
