"""UPSTREAM_MAX_RPS holds for all workers together: no one-second window sees more calls."""

from datetime import timedelta

import pytest

from tests.pipeline_harness import pipeline_fixture  # noqa: F401
from workvisits import services
from workvisits.choices import OrderStatus
from workvisits.models import UpstreamCall

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

LIMIT = 4


def test_the_rate_limit_holds_across_workers(pipeline, orderer, make_body):
    pipeline.start(workers=3, concurrency=8, UPSTREAM_MAX_RPS=LIMIT)
    orders = [services.order_create(user=orderer, data=make_body(description=f"Rate limited visit {i}."))
              for i in range(20)]
    for order in orders:
        pipeline.wait_for_status(order, OrderStatus.SUBMITTED, timeout=90)

    starts = sorted(UpstreamCall.objects.values_list("started_at", flat=True))
    assert UpstreamCall.objects.filter(method="POST", url__endswith="/orders/workVisits").count() == len(orders)
    # The call log's start is the moment Redis let the call go, by Redis's one clock: no window of a
    # second, wherever it starts, holds more than the limit.
    window = timedelta(seconds=1)
    busiest = max(sum(1 for t in starts[i:] if t - start < window) for i, start in enumerate(starts))
    assert busiest <= LIMIT
    # And the workers did run side by side: the limit, not one worker, set the pace.
    assert (starts[-1] - starts[0]).total_seconds() >= (len(starts) / LIMIT) - 1.5
    assert all("succeeded" in w.log() for w in pipeline.workers)
