"""Redis killed while orders are placed: every create still succeeds, at most half a second slower
than with Redis up, and every order reaches the upstream once Redis is back (the sweeper, run by the
beat, is the outbox for the submissions that could not be sent)."""

import statistics
import time

import pytest

from tests.pipeline_harness import CREATE, pipeline_fixture  # noqa: F401
from workvisits import services
from workvisits.choices import OrderStatus
from workvisits.models import Order

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _timed_creates(orderer, make_body, n, label):
    orders, durations = [], []
    for i in range(n):
        started = time.monotonic()
        orders.append(services.order_create(user=orderer, data=make_body(description=f"{label} visit #{i}.")))
        durations.append(time.monotonic() - started)
    return orders, durations


def test_orders_placed_while_redis_is_down_reach_the_upstream_after_it_returns(pipeline, orderer, make_body):
    pipeline.start(beat=True)
    up_orders, up = _timed_creates(orderer, make_body, 4, "Redis up")
    pipeline.redis.stop()
    down_orders, down = _timed_creates(orderer, make_body, 4, "Redis down")
    assert statistics.median(down) - statistics.median(up) < 0.5, (up, down)
    assert max(down) < max(up) + 0.5, (up, down)
    assert {o.status for o in Order.objects.filter(pk__in=[o.pk for o in down_orders])} == {OrderStatus.QUEUED}
    assert not Order.objects.filter(pk__in=[o.pk for o in down_orders], sent_for_submission_at__isnull=False)

    pipeline.redis.start()
    orders = up_orders + down_orders
    for order in orders:
        pipeline.wait_for_status(order, OrderStatus.SUBMITTED, timeout=90)
    upstream = pipeline.sandbox.orders()
    assert sorted(o["orderId"] for o in upstream) == sorted(Order.objects.values_list("upstream_order_id", flat=True))
    assert len(pipeline.sandbox.calls(CREATE)) == len(orders) == len(upstream)
