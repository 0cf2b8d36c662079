"""A worker killed while it waits on the upstream: the order is still submitted, exactly once."""

import pytest

from tests.pipeline_harness import pipeline_fixture, wait_for  # noqa: F401
from workvisits import services
from workvisits.choices import OrderStatus

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_sigkill_while_waiting_on_the_upstream_submits_exactly_once(pipeline, orderer, make_body):
    pipeline.start()
    # The upstream creates the order, then takes its time to answer.
    pipeline.sandbox.fault("slow", count=1, delay=4)
    order = services.order_create(user=orderer, data=make_body())

    wait_for(lambda: pipeline.sandbox.orders(), timeout=30, what="the upstream to hold the order")
    order.refresh_from_db()
    assert order.status == OrderStatus.QUEUED and order.submitting_since is not None
    killed = pipeline.worker.kill_child()

    order = pipeline.wait_for_status(order, OrderStatus.SUBMITTED)
    assert killed not in pipeline.worker.children()
    upstream = pipeline.sandbox.orders()
    assert len(upstream) == 1 and order.upstream_order_id == upstream[0]["orderId"]
    assert len(pipeline.sandbox.creates()) == 1
    # The redelivered task found the order by its reference instead of creating it again.
    assert order.submit_attempts == 2
    queries = [r["query"] for r in pipeline.sandbox.state()["requests"]]
    assert f"customerReferenceId={order.submission_key}" in queries
