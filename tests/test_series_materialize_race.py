"""Two runs of the series' beat task at once (two beats, a redelivery) never place two orders for one visit."""

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from tests.pipeline_harness import broker_fixture  # noqa: F401 (fixture)
from workvisits import series
from workvisits.models import Order, SeriesOccurrence

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NY = ZoneInfo("America/New_York")


def test_two_runs_at_once_create_each_order_once(broker, orderer, make_body):
    day = (timezone.now() + timedelta(days=2)).astimezone(NY).date()
    start = datetime(day.year, day.month, day.day, 9, tzinfo=NY).astimezone(UTC)
    body = make_body(start=start, hours=2)
    body["recurrence"] = "FREQ=DAILY;COUNT=6"
    with time_machine.travel(timezone.now() - timedelta(days=30), tick=False):
        created = series.series_create(user=orderer, data=body)
    assert not Order.objects.exists()

    barrier = threading.Barrier(2)
    results, failures = [], []

    def run():
        try:
            barrier.wait(timeout=30)
            results.append(series.series_materialize())
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []
    assert sum(results) == 6 and Order.objects.count() == 6
    visits = SeriesOccurrence.objects.filter(series=created)
    assert visits.filter(order__isnull=False).count() == 6
    assert len(set(visits.values_list("order_id", flat=True))) == 6
    assert series.series_materialize() == 0
