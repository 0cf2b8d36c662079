"""Redis dies while orders are placed: every request still succeeds at once (it never talks to the
broker), and every order reaches the upstream once Redis is back (sent by the workers' relay, or by the
sweeper for what could not be queued)."""

import time

import pytest

from portal.celery import app
from tests.pipeline_harness import pipeline_fixture, wait_for  # noqa: F401
from workvisits import services
from workvisits.choices import OrderStatus
from workvisits.models import Order

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_orders_placed_while_redis_is_down_reach_the_upstream_after_it_returns(pipeline, orderer, make_body):
    pipeline.start()
    pipeline.redis.stop()

    orders, durations = [], []
    for i in range(4):
        started = time.monotonic()
        orders.append(services.order_create(user=orderer, data=make_body(description=f"Broker down visit #{i}.")))
        durations.append(time.monotonic() - started)
    assert max(durations) < 2.0, durations
    assert {o.status for o in Order.objects.filter(pk__in=[o.pk for o in orders])} == {OrderStatus.QUEUED}

    pipeline.redis.start()
    time.sleep(1.1)  # SWEEP_AFTER_SECONDS=1 in the worker: the orders are now overdue
    # What the beat does every minute.
    wait_for(lambda: _send_sweep(), timeout=20, what="the broker to accept the sweep")
    for order in orders:
        pipeline.wait_for_status(order, OrderStatus.SUBMITTED, timeout=40)
    upstream = pipeline.sandbox.orders()
    assert sorted(o["customerReferenceId"] for o in upstream) == sorted(str(o.submission_key) for o in orders)
    assert len(pipeline.sandbox.creates()) == len(orders)


def _send_sweep() -> bool:
    try:
        app.send_task("workvisits.sweep_orders")
    except Exception:
        return False
    return True
