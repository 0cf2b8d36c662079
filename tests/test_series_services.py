"""Visit series through the services: local time across DST, orders at the lead time, skip, change,
cancel the rest, a rule broken when an occurrence is due, and the recurring invite."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from dateutil.rrule import rrulestr
from icalendar import Calendar

from workvisits import recurrence, rules, series, services
from workvisits.choices import OccurrenceStatus, OrderStatus, SeriesStatus
from workvisits.models import Order, OrderingGrant, SeriesOccurrence, VisitSeries

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
# Tuesday 5 January 2027, 09:00-12:00 in Ashburn (EST); the series runs into summer time (EDT from 14 March).
FIRST = datetime(2027, 1, 5, 9, 0, tzinfo=NEW_YORK)
MONTHLY = "FREQ=MONTHLY;BYDAY=1TU;COUNT=5"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def series_body(make_body, start=FIRST, rule=MONTHLY, **overrides):
    body = make_body(start=start.astimezone(UTC), hours=3, **overrides)
    body["recurrence"] = rule
    return body


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def occurrences(created: VisitSeries) -> list[SeriesOccurrence]:
    return list(SeriesOccurrence.objects.filter(series=created).select_related("order").order_by("recurrence_start"))


def test_a_monthly_series_across_the_dst_change_stays_at_nine_local(clock, orderer, make_body):
    created = series.series_create(user=orderer, data=series_body(make_body))

    found = occurrences(created)
    local = [o.visit_start.astimezone(NEW_YORK) for o in found]
    assert [d.date().isoformat() for d in local] == [
        "2027-01-05",
        "2027-02-02",
        "2027-03-02",
        "2027-04-06",
        "2027-05-04",
    ]
    assert {(d.hour, d.minute) for d in local} == {(9, 0)}
    assert {(o.visit_end.astimezone(NEW_YORK).hour) for o in found} == {12}
    # Stored in UTC: the instants differ by the hour summer time moves the clock.
    assert [o.visit_start.astimezone(UTC).hour for o in found] == [14, 14, 14, 13, 13]
    assert created.status == SeriesStatus.ACTIVE and created.recurrence == MONTHLY


def test_the_first_visit_breaks_a_rule_same_errors_as_a_single_visit(clock, orderer, make_body):
    body = series_body(make_body)
    body["details"]["cages"][0]["id"] = "DC2:99:NOPE"
    body["description"] = "short"
    single = make_body(start=FIRST.astimezone(UTC), hours=3)
    single["details"]["cages"][0]["id"] = "DC2:99:NOPE"
    single["description"] = "short"
    with pytest.raises(rules.RuleViolation) as single_error:
        services.order_create(user=orderer, data=single)
    with pytest.raises(rules.RuleViolation) as series_error:
        series.series_create(user=orderer, data=body)

    assert [(e.path, e.code) for e in series_error.value.errors] == [
        (e.path, e.code) for e in single_error.value.errors
    ]
    assert not VisitSeries.objects.exists()


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=WEEKLY;BYDAY=TU", "must end"),
        ("FREQ=DAILY;UNTIL=20300101", "more than 100"),
        ("FREQ=HOURLY;COUNT=3", "FREQ must be one of"),
        ("FREQ=WEEKLY;BYDAY=XY;COUNT=3", "not a valid RFC 5545 RRULE"),
        ("FREQ=WEEKLY;BYDAY=WE;COUNT=3", "not a day of the recurrence"),
        ("FREQ=YEARLY;COUNT=4", "within 731 days"),
        ("FREQ=WEEKLY;COUNT=3;BYHOUR=9", "BYHOUR is not accepted"),
    ],
)
def test_a_recurrence_that_does_not_end_or_is_not_an_rrule_is_refused(rule, words):
    start = FIRST.astimezone(UTC)
    errors, clean = recurrence.validate_recurrence(
        rule, first_start=start, first_end=start + timedelta(hours=3), zone=NEW_YORK
    )
    assert clean is None and [e.path for e in errors] == ["recurrence"]
    assert words in errors[0].message


def test_series_create_refuses_a_bad_recurrence_with_the_other_errors(clock, orderer, make_body):
    body = series_body(make_body, rule="FREQ=WEEKLY;BYDAY=TU")
    body["description"] = "short"
    with pytest.raises(rules.RuleViolation) as error:
        series.series_create(user=orderer, data=body)
    assert sorted(e.path for e in error.value.errors) == ["description", "recurrence"]
    assert not VisitSeries.objects.exists()


def test_visits_that_would_overlap_are_refused():
    start = datetime(2027, 1, 5, 9, tzinfo=NEW_YORK)
    errors, _ = recurrence.validate_recurrence(
        "FREQ=DAILY;COUNT=3", first_start=start, first_end=start + timedelta(days=2), zone=NEW_YORK
    )
    assert "overlap" in errors[0].message


def test_orders_are_created_at_the_lead_time_once(clock, orderer, make_body, settings):
    settings.SERIES_LEAD_DAYS = 14
    created = series.series_create(user=orderer, data=series_body(make_body))
    assert Order.objects.count() == 0  # the first visit is five weeks away

    clock.move_to(datetime(2026, 12, 22, 14, 0, tzinfo=UTC))  # 14 days before the first visit
    clock.shift(timedelta(minutes=-1))
    assert series.series_materialize() == 0
    clock.shift(timedelta(minutes=2))
    assert series.series_materialize() == 1
    assert series.series_materialize() == 0  # run again: nothing doubled

    first = occurrences(created)[0]
    order = first.order
    assert first.status == OccurrenceStatus.CREATED
    assert order.ordered_by == orderer and order.status == OrderStatus.QUEUED
    assert (order.visit_start, order.visit_end) == (first.visit_start, first.visit_end)
    assert order.description == created.template["description"]
    assert [o.order_id for o in occurrences(created)[1:]] == [None] * 4


def test_an_occurrence_that_breaks_a_rule_when_due_pauses_the_series_and_tells_the_owner(
    clock, orderer, make_body, mailoutbox
):
    created = series.series_create(user=orderer, data=series_body(make_body))
    OrderingGrant.objects.filter(user=orderer).delete()  # the orderer's permission is revoked

    clock.move_to(datetime(2026, 12, 23, tzinfo=UTC))
    assert series.series_materialize() == 0
    created.refresh_from_db()
    first = occurrences(created)[0]
    assert created.status == SeriesStatus.PAUSED
    assert first.status == OccurrenceStatus.NOT_CREATED and first.order is None
    assert "permission" in first.reason and "details." not in first.reason
    assert not Order.objects.exists()

    series.series_notify(series_pk=created.pk)
    paused = [m for m in mailoutbox if "paused" in m.subject]
    assert [m.to for m in paused] == [["orderer@acme.example"]]
    assert "Tue 05 Jan 2027 09:00 EST" in paused[0].body and "permission" in paused[0].body
    assert "details.cages" not in paused[0].body
    series.series_notify(series_pk=created.pk)  # again: nothing sent twice
    assert len([m for m in mailoutbox if "paused" in m.subject]) == 1
    # Paused, nothing more is ordered.
    clock.move_to(datetime(2027, 1, 20, tzinfo=UTC))
    assert series.series_materialize() == 0


def _ics(created) -> Calendar:
    created.refresh_from_db()
    return Calendar.from_ical(series.series_invite(created))


def test_the_recurring_invite_follows_skips_and_changes(clock, orderer, make_body):
    created = series.series_create(user=orderer, data=series_body(make_body))
    master = next(c for c in _ics(created).walk("VEVENT"))
    # The invite's RRULE gives exactly the series' occurrences.
    rule = rrulestr(master["RRULE"].to_ical().decode(), dtstart=master.decoded("DTSTART"))
    assert list(rule) == [o.recurrence_start.astimezone(NEW_YORK) for o in occurrences(created)]
    assert master.decoded("DTSTART") == FIRST and str(master["DTSTART"].params["TZID"]) == "America/New_York"
    assert "EXDATE" not in master and master["SEQUENCE"] == 0

    second = occurrences(created)[1]
    series.occurrence_skip(
        user=orderer, series_id=created.series_id, visit_start=rules.format_datetime(second.visit_start)
    )
    master = next(c for c in _ics(created).walk("VEVENT"))
    assert [d.dt for d in master["EXDATE"].dts] == [second.recurrence_start.astimezone(NEW_YORK)]
    assert master["SEQUENCE"] == 1

    # From the fourth visit on, an hour later (10:00 local, summer time).
    fourth = occurrences(created)[3]
    series.series_modify(
        user=orderer,
        series_id=created.series_id,
        data={
            "fromOccurrence": rules.format_datetime(fourth.visit_start),
            "details": {
                "visitStartDateTime": rules.format_datetime(fourth.visit_start + timedelta(hours=1)),
                "visitEndDateTime": rules.format_datetime(fourth.visit_end + timedelta(hours=1)),
            },
        },
    )
    after = occurrences(created)
    assert [o.visit_start.astimezone(NEW_YORK).hour for o in after] == [9, 9, 9, 10, 10]
    calendar = _ics(created)
    events = list(calendar.walk("VEVENT"))
    overrides = {e.decoded("RECURRENCE-ID"): e.decoded("DTSTART") for e in events if "RECURRENCE-ID" in e}
    assert overrides == {o.recurrence_start.astimezone(NEW_YORK): o.visit_start.astimezone(NEW_YORK) for o in after[3:]}
    assert {e["UID"] for e in events} == {f"{created.invite_uid}@workvisits"}
    assert events[0]["SEQUENCE"] == 2

    series.series_cancel(user=orderer, series_id=created.series_id, reason="The racks moved to AM1.")
    created.refresh_from_db()
    cancel = Calendar.from_ical(series.series_invite(created, method="CANCEL"))
    assert cancel["METHOD"] == "CANCEL" and created.invite_sequence == 3
    assert created.status == SeriesStatus.CANCELLED
    assert {o.status for o in occurrences(created)} == {OccurrenceStatus.CANCELLED, OccurrenceStatus.SKIPPED}


def test_changes_reach_the_orders_already_placed(clock, orderer, make_body):
    created = series.series_create(user=orderer, data=series_body(make_body, rule="FREQ=WEEKLY;BYDAY=TU;COUNT=4"))
    clock.move_to(datetime(2026, 12, 29, 15, tzinfo=UTC))  # the first two visits are within the lead time
    assert series.series_materialize() == 2
    placed = occurrences(created)[:2]

    series.series_modify(
        user=orderer,
        series_id=created.series_id,
        data={
            "fromOccurrence": rules.format_datetime(placed[1].visit_start),
            "details": {
                "visitStartDateTime": rules.format_datetime(placed[1].visit_start + timedelta(hours=2)),
                "visitEndDateTime": rules.format_datetime(placed[1].visit_end + timedelta(hours=2)),
            },
            "contacts": [{"type": "NOTIFICATION", "registeredUsers": ["technician"]}],
        },
    )
    first_order = Order.objects.get(pk=placed[0].order_id)
    second_order = Order.objects.get(pk=placed[1].order_id)
    assert first_order.visit_start.astimezone(NEW_YORK).hour == 9 and first_order.version == 1
    assert second_order.visit_start.astimezone(NEW_YORK).hour == 11 and second_order.version == 2
    later = occurrences(created)[2:]
    assert all(o.visit_start.astimezone(NEW_YORK).hour == 11 for o in later)
    assert all(o.template["contacts"] == [{"type": "NOTIFICATION", "registeredUsers": ["technician"]}] for o in later)

    series.occurrence_skip(
        user=orderer, series_id=created.series_id, visit_start=rules.format_datetime(second_order.visit_start)
    )
    second_order.refresh_from_db()
    assert second_order.status == OrderStatus.CANCELLED
    series.series_cancel(user=orderer, series_id=created.series_id, reason="No longer needed.")
    first_order.refresh_from_db()
    assert first_order.status == OrderStatus.CANCELLED
    clock.move_to(datetime(2027, 1, 20, tzinfo=UTC))
    assert series.series_materialize() == 0 and Order.objects.count() == 2


def test_who_may_see_and_change_a_series(clock, users, make_body):
    created = series.series_create(user=users["orderer"], data=series_body(make_body))
    with pytest.raises(series.SeriesNotFound):
        series.series_for_user(users["globex"], created.series_id)
    with pytest.raises(series.SeriesNotFound):  # neither its owner nor seeing all of Acme's orders
        series.series_cancel(user=users["technician"], series_id=created.series_id, reason="Not mine to cancel.")
    assert VisitSeries.objects.get().status == SeriesStatus.ACTIVE
    # The viewer sees all of Acme's orders: CONTRACT "Modify" lets such a user change and cancel them.
    assert series.series_for_user(users["viewer"], created.series_id) == created
    series.series_cancel(user=users["viewer"], series_id=created.series_id, reason="Cancelled for the team.")
    assert VisitSeries.objects.get().status != SeriesStatus.ACTIVE
