"""A worker SIGKILLed while it waits on the upstream: once a worker is back, the order reaches the
upstream exactly once within two minutes (its lease runs out, the sweeper sends it, the next attempt
finds the order the killed one created). Production lease and sweep intervals: nothing shortened."""

import time

import pytest
from django.conf import settings

from tests.pipeline_harness import CREATE, SEARCH, pipeline_fixture, wait_for  # noqa: F401
from workvisits import services
from workvisits.choices import OrderStatus

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

BACK_WITHIN = 120  # seconds from the worker's return to the order upstream


def test_sigkill_while_waiting_on_the_upstream_submits_exactly_once(pipeline, orderer, make_body):
    pipeline.start(beat=True, SWEEP_AFTER_SECONDS=settings.SWEEP_AFTER_SECONDS,
                   SWEEP_EVERY_SECONDS=settings.SWEEP_EVERY_SECONDS)
    # The upstream creates the order, then is slow to answer: the worker is killed while it waits.
    pipeline.sandbox.fault("slow", count=1, match=CREATE)
    order = services.order_create(user=orderer, data=make_body())

    wait_for(lambda: pipeline.sandbox.orders(), timeout=30, what="the upstream to hold the order")
    order.refresh_from_db()
    assert order.status == OrderStatus.QUEUED and order.lease_expires_at and order.upstream_uncertain
    pipeline.worker.kill()
    pipeline.worker.start()
    back = time.monotonic()

    order = pipeline.wait_for_status(order, OrderStatus.SUBMITTED, timeout=BACK_WITHIN + 30)
    assert time.monotonic() - back < BACK_WITHIN
    upstream = pipeline.sandbox.orders()
    assert len(upstream) == 1 and order.upstream_order_id == upstream[0]["orderId"]
    assert len(pipeline.sandbox.calls(CREATE)) == 1
    # The next attempt found the order by the reference sent instead of creating it again.
    assert order.submit_attempts == 2 and len(pipeline.sandbox.calls(SEARCH)) == 1
