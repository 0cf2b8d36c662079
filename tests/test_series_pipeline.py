"""A series end to end, with a real Celery worker and the sandbox upstream: the beat's task orders the
occurrences that come within the lead time, they are submitted as ordinary orders, skipping one and
cancelling the rest reach the data centre, and the series' recurring invite is emailed as it changes."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from icalendar import Calendar

from tests.pipeline_harness import pipeline_fixture, wait_for  # noqa: F401
from workvisits import rules, series, tasks
from workvisits.choices import OccurrenceStatus, OrderStatus, SeriesStatus
from workvisits.models import Order, SeriesOccurrence

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

NEW_YORK = ZoneInfo("America/New_York")


def series_invites(worker) -> list[tuple[str, Calendar]]:
    """(METHOD, calendar) of every series email with an invite the workers sent, oldest first."""
    found = []
    for message in worker.emails():
        if not message["Subject"].startswith("Work visit series"):
            continue
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                found.append((part.get_param("method"), Calendar.from_ical(part.get_payload(decode=True))))
    return found


def upstream_order(pipeline, order) -> dict:
    return next(o for o in pipeline.sandbox.orders() if o["orderId"] == order.upstream_order_id)


def test_occurrences_are_ordered_at_the_lead_time_and_skip_and_cancel_reach_the_upstream(pipeline, orderer, make_body):
    pipeline.start(concurrency=2)
    day = (timezone.now() + timedelta(days=3)).astimezone(NEW_YORK).date()
    first = datetime(day.year, day.month, day.day, 9, tzinfo=NEW_YORK).astimezone(UTC)
    body = make_body(start=first, hours=3)
    body["recurrence"] = "FREQ=WEEKLY;COUNT=4"
    # Scheduled a month ago: then no visit was within the lead time, so no order was placed.
    with time_machine.travel(timezone.now() - timedelta(days=30), tick=False):
        created = series.series_create(user=orderer, data=body)
    assert not Order.objects.exists()

    # Today the beat's task, run by the worker, orders the two visits within SERIES_LEAD_DAYS (14).
    result = tasks.materialize_series.delay()
    wait_for(lambda: Order.objects.count() == 2, timeout=60, what="the orders of the first two visits")
    visits = list(SeriesOccurrence.objects.filter(series=created).order_by("recurrence_start"))
    assert [v.status for v in visits] == [OccurrenceStatus.CREATED] * 2 + [OccurrenceStatus.PLANNED] * 2
    orders = [pipeline.wait_for_status(v.order, OrderStatus.SUBMITTED, timeout=60) for v in visits[:2]]
    upstream = {o["orderId"]: o for o in pipeline.sandbox.orders()}
    assert set(upstream) == {o.upstream_order_id for o in orders}
    sent_start = upstream[orders[0].upstream_order_id]["body"]["details"]["visitStartDateTime"]
    assert rules.parse_datetime(sent_start) == first
    assert result.id  # the beat's task went through the broker

    # Skip the first visit: its order is cancelled at the data centre.
    series.occurrence_skip(user=orderer, series_id=created.series_id, visit_start=rules.format_datetime(first))
    pipeline.sandbox.wait_for(
        lambda: upstream_order(pipeline, orders[0]).get("cancellation"),
        what="the skipped visit's cancellation upstream",
    )

    # The series' invite: one recurring event whose EXDATE is the skipped visit.
    def invite_with_exdate():
        invites = series_invites(pipeline.worker)
        events = [c.walk("VEVENT")[0] for _, c in invites]
        return next((e for e in events if "EXDATE" in e), None)

    event = wait_for(invite_with_exdate, timeout=30, what="the invite with the skipped visit left out")
    assert [d.dt for d in event["EXDATE"].dts] == [first.astimezone(NEW_YORK)]
    assert event["RRULE"]["FREQ"] == ["WEEKLY"] and event["RRULE"]["COUNT"] == [4]
    assert event["SEQUENCE"] == 1

    # Cancel the rest: the second order is cancelled upstream, the two visits not yet ordered never will be.
    series.series_cancel(user=orderer, series_id=created.series_id, reason="The racks moved to AM1.")
    cancellation = pipeline.sandbox.wait_for(
        lambda: upstream_order(pipeline, orders[1]).get("cancellation"), what="the second visit's cancellation upstream"
    )
    assert cancellation["reason"] == "The racks moved to AM1."
    created.refresh_from_db()
    assert created.status == SeriesStatus.CANCELLED
    wait_for(
        lambda: any(method == "CANCEL" for method, _ in series_invites(pipeline.worker)),
        timeout=30,
        what="the invite's withdrawal",
    )
    assert series.series_materialize() == 0 and Order.objects.count() == 2
    assert len(pipeline.sandbox.creates()) == 2
