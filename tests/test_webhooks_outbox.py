"""Which order events become which webhook events, that only subscribed endpoints get a delivery row
(written with the event, in its transaction), and that organizations without endpoints pay nothing."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.webhooks_support import make_webhook_admin
from workvisits import services, webhooks
from workvisits.choices import EventKind, OrderStatus, WebhookEvent
from workvisits.models import WebhookDelivery, WebhookEndpoint


def test_each_order_event_is_at_most_one_webhook_event():
    cases = [
        ((EventKind.CREATED, "", OrderStatus.PENDING_REVIEW), WebhookEvent.PLACED),
        ((EventKind.CREATED, "", OrderStatus.QUEUED), WebhookEvent.PLACED),
        ((EventKind.STATUS, OrderStatus.QUEUED, OrderStatus.SUBMITTED), WebhookEvent.ACCEPTED),
        ((EventKind.APPROVED, OrderStatus.PENDING_REVIEW, OrderStatus.QUEUED), WebhookEvent.STATUS_CHANGED),
        ((EventKind.STATUS, OrderStatus.SUBMITTED, OrderStatus.RECEIVED), WebhookEvent.STATUS_CHANGED),
        ((EventKind.MODIFIED, "", ""), WebhookEvent.MODIFIED),
        ((EventKind.CANCEL_REQUESTED, OrderStatus.SUBMITTED, OrderStatus.CANCELLED), WebhookEvent.CANCELLED),
        ((EventKind.STATUS, OrderStatus.IN_PROGRESS, OrderStatus.CANCELLED), WebhookEvent.CANCELLED),
        ((EventKind.REJECTED, OrderStatus.PENDING_REVIEW, OrderStatus.REJECTED), WebhookEvent.REJECTED),
        ((EventKind.STATUS, OrderStatus.QUEUED, OrderStatus.FAILED), WebhookEvent.FAILED),
        ((EventKind.STATUS, OrderStatus.QUEUED, OrderStatus.NEEDS_CHECK), WebhookEvent.NEEDS_CHECK),
        ((EventKind.UPSTREAM, "", ""), None),
        ((EventKind.EMAIL, "", ""), None),
        ((EventKind.NOTE, "", ""), None),
    ]
    assert [webhooks.event_type(*event) for event, _ in cases] == [expected for _, expected in cases]
    assert {expected for _, expected in cases} - {None} == set(WebhookEvent.values)


def test_only_subscribed_endpoints_get_a_delivery_written_with_the_event(orderer, make_body):
    admin = make_webhook_admin(orderer)
    cancelled_only, _ = webhooks.endpoint_create(
        user=admin, url="https://93.184.215.14/a", events=[WebhookEvent.CANCELLED]
    )
    everything, _ = webhooks.endpoint_create(user=admin, url="https://93.184.215.14/b", events=WebhookEvent.values)
    disabled, _ = webhooks.endpoint_create(user=admin, url="https://93.184.215.14/c", events=WebhookEvent.values)
    webhooks.endpoint_set_active(user=admin, endpoint=disabled, active=False)

    order = services.order_create(user=admin, data=make_body())
    services.order_cancel(user=admin, order_id=order.order_id, reason="Not needed after all.")
    rows = WebhookDelivery.objects.order_by("id").values_list("endpoint_id", "event_type")
    assert list(rows) == [
        (everything.pk, WebhookEvent.PLACED),
        (cancelled_only.pk, WebhookEvent.CANCELLED),
        (everything.pk, WebhookEvent.CANCELLED),
    ]
    # Each body carries its own delivery id; the order as it was at its event.
    placed, *cancels = WebhookDelivery.objects.order_by("id")
    assert placed.payload["id"] == str(placed.delivery_id) and placed.payload["type"] == "order.placed"
    assert placed.payload["data"]["order"]["portalStatus"] == OrderStatus.QUEUED
    assert {d.payload["data"]["order"]["portalStatus"] for d in cancels} == {OrderStatus.CANCELLED}


def test_an_organization_without_endpoints_pays_no_webhook_query(orderer, globex, make_body):
    # Another organization's endpoint does not count.
    webhooks.endpoint_create(user=make_webhook_admin(globex), url="https://93.184.215.14/g", events=["order.placed"])
    with CaptureQueriesContext(connection) as queries:
        order = services.order_create(user=orderer, data=make_body())
        services.order_change_status(order_pk=order.pk, to_status=OrderStatus.SUBMITTED, note="accepted")
        services.order_cancel(user=orderer, order_id=order.order_id, reason="Not needed after all.")
    # (Whether the organization has one is read inside the queries the create and the lock make anyway.)
    table = WebhookEndpoint._meta.db_table
    assert [q["sql"] for q in queries.captured_queries if q["sql"].startswith(f'SELECT "{table}".')] == []
    assert not WebhookDelivery.objects.exists()
