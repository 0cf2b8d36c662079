"""End to end: an order reaches the sandbox upstream once, with a token and the customer's own
reference, and everyone is told, once."""

import pytest

from tests.orders_support import NINA
from tests.pipeline_harness import CREATE, pipeline_fixture, wait_for  # noqa: F401
from workvisits import services, tasks
from workvisits.choices import EventKind, OrderStatus
from workvisits.models import SentNotification, UpstreamCall

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TECHNICAL = {**NINA, "timezone": "America/New_York"}
PEOPLE = {"orderer@acme.example", "nina@fixit.example", "tess@acme.example"}


def test_order_is_submitted_once_and_every_contact_gets_the_invite(pipeline, users, make_body):
    pipeline.start(concurrency=2)
    reference = "PO 4711/rack 3 – ünïcode"
    body = make_body(
        customerReferenceId=reference,
        contacts=[TECHNICAL, {"type": "NOTIFICATION", "registeredUsers": ["technician"]}],
    )
    order = services.order_create(user=users["orderer"], data=body)

    order = pipeline.wait_for_status(order, OrderStatus.SUBMITTED)
    upstream = pipeline.sandbox.orders()
    assert [o["orderId"] for o in upstream] == [order.upstream_order_id]
    assert order.upstream_order_id.startswith("1-") and len(order.upstream_order_id) == 10
    # The customer's reference reaches the data centre unchanged: its records and invoices show it.
    assert upstream[0]["body"]["customerReferenceId"] == reference
    creates = pipeline.sandbox.calls(CREATE)
    assert len(creates) == 1 and creates[0]["status"] == 201
    call = UpstreamCall.objects.get(method="POST", url__endswith="/workVisits")
    assert call.order_id == order.pk and call.status_code == 201 and call.correlation_id
    token_call = UpstreamCall.objects.get(url__endswith="/oauth2/v1/token")
    assert token_call.request_body["client_secret"] == "***"

    # The data centre answered within a minute: "received" and "accepted" are one email to each of the
    # orderer, the technical contact and the notification contact, with a confirmed invite.
    wait_for(
        lambda: SentNotification.objects.filter(order=order, sent_at__isnull=False).count() == 3,
        timeout=30,
        what="three emails",
    )
    messages = pipeline.worker.emails()
    assert len(messages) == 3
    assert {m["To"] for m in messages} == PEOPLE
    assert all(m["Subject"].startswith(f"Work visit {order.order_id} received and accepted") for m in messages)
    assert order.upstream_order_id in messages[0]["Subject"]
    parts = {p.get_content_type(): p for p in messages[0].walk()}
    text = parts["text/plain"].get_payload(decode=True).decode()
    assert "(America/New_York)" in text and ("EST" in text or "EDT" in text)
    assert "text/html" in parts
    invite = parts["text/calendar"]
    assert invite.get_param("method") == "REQUEST"
    ics = invite.get_payload(decode=True).decode()
    assert "BEGIN:VTIMEZONE" in ics and "TZID:America/New_York" in ics
    assert f"UID:{order.submission_key}@workvisits" in ics and "STATUS:CONFIRMED" in ics
    emails = order.events.filter(kind=EventKind.EMAIL)
    assert sorted(e.data["recipient"] for e in emails) == sorted(PEOPLE)
    assert all("sent to" in e.note for e in emails)

    # The notification tasks delivered again (a redelivery, a retry) send nothing new.
    # As if the tasks had died before marking their events: sent again, they find the emails claimed.
    order.events.filter(kind__in=[EventKind.CREATED, EventKind.STATUS]).update(notified_at=None)
    ids = [tasks.notify_order.delay(order.pk).id for _ in range(3)]
    wait_for(lambda: pipeline.worker.succeeded(ids), timeout=30, what="the repeated notification tasks")
    assert len(pipeline.worker.emails()) == 3
    assert order.events.filter(kind=EventKind.EMAIL).count() == 3
