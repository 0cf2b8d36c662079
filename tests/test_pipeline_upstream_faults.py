"""The upstream misbehaves, against the sandbox process and real workers.

A definite failure (503, 429, 408) is simply retried, with no look-up; a 429's Retry-After pauses
every worker; a dropped answer is looked up in Order History and adopted, or, when the search cannot
answer, the order waits for an operator (NEEDS_CHECK), never REJECTED and never sent twice; a 400
rejects after one attempt with the upstream's reasons; an upstream that never recovers leaves the
order FAILED with the operators told, or NEEDS_CHECK when its last answers leave open whether it acted."""

from datetime import timedelta

import pytest

from tests.pipeline_harness import CREATE, SEARCH, pipeline_fixture, wait_for  # noqa: F401
from workvisits import services
from workvisits.choices import EventKind, OrderStatus
from workvisits.models import SentNotification, UpstreamCall

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _sent(order, notice):
    return set(
        SentNotification.objects.filter(order=order, notice__startswith=notice, sent_at__isnull=False).values_list(
            "recipient", flat=True
        )
    )


def test_two_503s_then_success_three_posts_and_no_look_up(pipeline, orderer, make_body):
    pipeline.start()
    pipeline.sandbox.fault("503", count=2, match=CREATE)
    order = services.order_create(user=orderer, data=make_body())

    order = pipeline.wait_for_status(order, OrderStatus.SUBMITTED)
    assert [c["status"] for c in pipeline.sandbox.calls(CREATE)] == [503, 503, 201]
    assert len(pipeline.sandbox.orders()) == 1
    assert order.submit_attempts == 3 and order.last_error == ""
    # A 503 says the upstream did not act: nothing to look up.
    assert pipeline.sandbox.calls(SEARCH) == []
    # One logical call, one correlation id across its retries.
    creates = UpstreamCall.objects.filter(method="POST", url__endswith="/workVisits")
    assert {c.correlation_id for c in creates} == {str(order.submission_key)}


def test_429_retry_after_pauses_every_worker(pipeline, orderer, make_body):
    pipeline.start(workers=2, concurrency=4)
    pipeline.sandbox.fault("429", count=1, match=CREATE, retryAfter=3)
    orders = [services.order_create(user=orderer, data=make_body(description=f"Paused visit number {i}.")) for i in
              range(8)]

    for order in orders:
        pipeline.wait_for_status(order, OrderStatus.SUBMITTED, timeout=60)
    assert len(pipeline.sandbox.orders()) == 8
    refused = UpstreamCall.objects.get(status_code=429)
    answered = refused.started_at + timedelta(milliseconds=refused.duration_ms)
    # No worker started a call while the pause lasted (both consume the upstream queue; the pause is
    # kept in Redis). A call that passed the limiter before the 429 was read (the answer is parsed and
    # the pause written a few milliseconds after it arrives) was already on its way.
    during = UpstreamCall.objects.filter(
        started_at__gt=answered + timedelta(seconds=0.1), started_at__lt=answered + timedelta(seconds=2.9)
    )
    assert [(c.url, (c.started_at - answered).total_seconds()) for c in during] == []
    # Both workers were consuming the upstream queue throughout (which of them took which order is the
    # broker's choice, so it is not asserted).
    assert all(w.process.poll() is None for w in pipeline.workers)
    assert pipeline.sandbox.calls(SEARCH) == []


def test_dropped_answer_is_found_by_the_order_search(pipeline, orderer, make_body):
    pipeline.start()
    # An older order of the customer with the same reference is never taken for this one.
    older = services.order_create(user=orderer, data=make_body())
    pipeline.wait_for_status(older, OrderStatus.SUBMITTED)
    pipeline.sandbox.fault("drop", count=1, match=CREATE)  # acts, then closes the connection unanswered
    order = services.order_create(user=orderer, data=make_body())

    order = pipeline.wait_for_status(order, OrderStatus.SUBMITTED)
    upstream = pipeline.sandbox.orders()
    assert len(upstream) == 2 and len(pipeline.sandbox.calls(CREATE)) == 2
    assert order.upstream_order_id != older.upstream_order_id
    assert order.upstream_order_id in {o["orderId"] for o in upstream}
    assert len(pipeline.sandbox.calls(SEARCH)) == 1
    assert order.submit_attempts == 2


def test_dropped_answer_without_search_waits_for_an_operator(pipeline, orderer, make_body):
    pipeline.start()
    pipeline.sandbox.settings(nosearch=True)
    pipeline.sandbox.fault("drop", count=1, match=CREATE)
    order = services.order_create(user=orderer, data=make_body())

    order = pipeline.wait_for_status(order, OrderStatus.NEEDS_CHECK)
    assert len(pipeline.sandbox.orders()) == 1 and len(pipeline.sandbox.calls(CREATE)) == 1
    assert "cannot answer" in order.last_error
    assert not order.events.filter(kind=EventKind.REJECTED).exists()
    wait_for(lambda: _sent(order, "ops-needs-check") == {"ops@dc.example", "operator@dc.example"}, timeout=20,
             what="the operators' alert")
    # The sweeper (here asked directly, as the beat would) never sends it again by itself.
    from workvisits import submission

    assert submission.orders_sweep()["submissions"] == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.NEEDS_CHECK and len(pipeline.sandbox.calls(CREATE)) == 1


def test_a_search_the_upstream_does_not_implement_sends_the_order_to_an_operator_at_once(pipeline, orderer, make_body):
    pipeline.start()
    pipeline.sandbox.fault("drop", count=1, match=CREATE)
    pipeline.sandbox.fault("501", count=5, match=SEARCH)
    order = services.order_create(user=orderer, data=make_body())

    order = pipeline.wait_for_status(order, OrderStatus.NEEDS_CHECK)
    assert len(pipeline.sandbox.calls(SEARCH)) == 1  # 501: asking again cannot help
    assert len(pipeline.sandbox.orders()) == 1 and len(pipeline.sandbox.calls(CREATE)) == 1
    assert "cannot answer" in order.last_error and order.submit_attempts == 2


def test_an_upstream_that_keeps_answering_500_is_an_operator_s_question_not_a_failure(pipeline, orderer, make_body):
    """A 500 may have come after the upstream acted: after the last attempt nobody knows, so not FAILED."""
    pipeline.start(UPSTREAM_MAX_ATTEMPTS=3)
    pipeline.sandbox.fault("500", count=10, match=CREATE)
    order = services.order_create(user=orderer, data=make_body())

    order = pipeline.wait_for_status(order, OrderStatus.NEEDS_CHECK)
    assert order.submit_attempts == 3 and "3 attempts" in order.last_error and "500" in order.last_error
    assert len(pipeline.sandbox.calls(CREATE)) == 3 and len(pipeline.sandbox.calls(SEARCH)) == 2
    assert not order.events.filter(to_status=OrderStatus.FAILED).exists()
    wait_for(lambda: _sent(order, "ops-needs-check") == {"ops@dc.example", "operator@dc.example"}, timeout=20,
             what="the operators' alert")
    assert _sent(order, "failed") == set()


def test_400_rejects_after_one_attempt_and_tells_everyone_why(pipeline, orderer, make_body):
    pipeline.start()
    reason = "Visitor orderer has no valid photo ID on file; register one before the visit."
    errors = [{"errorCode": "EQ-2010010", "errorMessage": "One or more properties are invalid",
               "additionalInfo": [{"property": "details.visitors[0].registeredUsers[0]", "reason": reason}]}]
    pipeline.sandbox.fault("400", count=1, match=CREATE, errors=errors)
    body = make_body(contacts=[{"type": "NOTIFICATION", "registeredUsers": ["technician"]}])
    order = services.order_create(user=orderer, data=body)

    order = pipeline.wait_for_status(order, OrderStatus.REJECTED)
    assert order.submit_attempts == 1 and len(pipeline.sandbox.calls(CREATE)) == 1
    assert order.rejection_reasons == [{"property": "details.visitors[0].registeredUsers[0]", "reason": reason}]
    assert order.events.filter(kind=EventKind.REJECTED).count() == 1
    wait_for(
        lambda: _sent(order, "rejected") == {"orderer@acme.example", "tess@acme.example"},
        timeout=20,
        what="the rejection emails",
    )
    rejected = [m for m in pipeline.worker.emails() if "rejected" in m["Subject"]]
    text = next(p for p in rejected[0].walk() if p.get_content_type() == "text/plain").get_payload(decode=True)
    # The reason in words, naming the visitor instead of the upstream's JSON path.
    assert f"The user of visitor Olivia Orderer: {reason}" in text.decode() and "details.visitors" not in text.decode()


def test_retry_limit_fails_the_order_and_emails_the_operators(pipeline, orderer, make_body):
    pipeline.start(UPSTREAM_MAX_ATTEMPTS=3)
    pipeline.sandbox.fault("503", count=10, match=CREATE)
    order = services.order_create(user=orderer, data=make_body())

    order = pipeline.wait_for_status(order, OrderStatus.FAILED)
    assert order.submit_attempts == 3 and "503" in order.last_error
    assert "3 attempts" in order.events.get(to_status=OrderStatus.FAILED).note
    wait_for(
        lambda: _sent(order, "ops-failed") == {"ops@dc.example", "operator@dc.example"},
        timeout=20,
        what="the operators' alert",
    )
    wait_for(lambda: _sent(order, "failed") >= {"orderer@acme.example"}, timeout=20, what="the customer's email")
    assert pipeline.sandbox.orders() == []
