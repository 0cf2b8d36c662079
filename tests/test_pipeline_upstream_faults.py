"""The upstream misbehaves: 503s are retried, 429's Retry-After is honoured, a 400 rejects at once,
and an upstream that never recovers leaves the order FAILED with the operators told."""

import pytest

from tests.pipeline_harness import pipeline_fixture, wait_for  # noqa: F401
from workvisits import services
from workvisits.choices import EventKind, OrderStatus
from workvisits.models import SentNotification

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _sent(order, notice):
    return set(
        SentNotification.objects.filter(order=order, notice__startswith=notice, sent_at__isnull=False).values_list(
            "recipient", flat=True
        )
    )


def test_three_503s_then_success_creates_the_order_once(pipeline, orderer, make_body):
    pipeline.start()
    pipeline.sandbox.fault("503", count=3)
    order = services.order_create(user=orderer, data=make_body())

    order = pipeline.wait_for_status(order, OrderStatus.SUBMITTED)
    assert [c["status"] for c in pipeline.sandbox.creates()] == [503, 503, 503, 201]
    assert len(pipeline.sandbox.orders()) == 1
    assert order.submit_attempts == 4 and order.last_error == ""
    # Before each new attempt the order was looked up by its reference, not blindly created again.
    lookups = [r for r in pipeline.sandbox.state()["requests"] if "customerReferenceId" in r["query"]]
    assert len(lookups) == 3


def test_429_retry_after_is_honoured(pipeline, orderer, make_body):
    pipeline.start()
    pipeline.sandbox.fault("429", count=1, retryAfter=2)
    order = services.order_create(user=orderer, data=make_body())

    pipeline.wait_for_status(order, OrderStatus.SUBMITTED)
    first, second = pipeline.sandbox.creates()
    assert first["status"] == 429 and second["status"] == 201
    # The backoff alone would wait 0.1-0.2 s here (CELERY_RETRY_BASE_DELAY=0.2).
    assert second["time"] - first["time"] >= 2.0
    # The "received" emails went out while the order waited for its retry, not with the answer.
    received = SentNotification.objects.filter(order=order, notice="submitted", sent_at__isnull=False)
    assert received.exists() and all(r.sent_at.timestamp() < second["time"] for r in received)


def test_400_rejects_after_one_attempt_and_tells_everyone_why(pipeline, orderer, make_body):
    pipeline.start()
    reason = "Visitor orderer has no valid photo ID on file; register one before the visit."
    errors = [{"errorCode": "EQ-2010010", "errorMessage": "One or more properties are invalid",
               "additionalInfo": [{"property": "details.visitors[0].registeredUsers[0]", "reason": reason}]}]
    pipeline.sandbox.fault("reject", count=1, errors=errors)
    body = make_body(contacts=[{"type": "NOTIFICATION", "registeredUsers": ["technician"]}])
    order = services.order_create(user=orderer, data=body)

    order = pipeline.wait_for_status(order, OrderStatus.REJECTED)
    assert order.submit_attempts == 1 and len(pipeline.sandbox.creates()) == 1
    assert order.rejection_reasons == [{"property": "details.visitors[0].registeredUsers[0]", "reason": reason}]
    assert order.events.filter(kind=EventKind.REJECTED).count() == 1
    wait_for(lambda: _sent(order, "rejected") == {"orderer@acme.example", "tess@acme.example"}, timeout=20,
             what="the rejection emails")
    rejected = [m for m in pipeline.worker.emails() if "rejected" in m["Subject"]]
    text = next(p for p in rejected[0].walk() if p.get_content_type() == "text/plain").get_payload(decode=True)
    # The reason in words, naming the visitor instead of the upstream's JSON path.
    assert f"The user of visitor Olivia Orderer: {reason}" in text.decode() and "details.visitors" not in text.decode()


def test_retry_limit_fails_the_order_and_emails_the_operators(pipeline, orderer, make_body):
    pipeline.start(UPSTREAM_MAX_ATTEMPTS=3)
    pipeline.sandbox.fault("503", count=10)
    order = services.order_create(user=orderer, data=make_body())

    order = pipeline.wait_for_status(order, OrderStatus.FAILED)
    assert order.submit_attempts == 3 and "503" in order.last_error
    assert "3 attempts" in order.events.get(to_status=OrderStatus.FAILED).note
    wait_for(lambda: _sent(order, "ops-failed") == {"ops@dc.example", "operator@dc.example"}, timeout=20,
             what="the operators' alert")
    wait_for(lambda: _sent(order, "failed") >= {"orderer@acme.example"}, timeout=20, what="the customer's email")
    assert pipeline.sandbox.orders() == []
