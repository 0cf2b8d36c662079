"""A series is one event in its people's calendars: an occurrence's order invites to (and withdraws) its
instance of the series' event, a change on the order's own page (or the data centre's cancellation)
moves or removes that instance in the series' invite, and a person marked "Do not email this person"
in the wizard hears of none of it."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from dateutil.rrule import rrulestr
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from tests.test_web_wizard import all_steps, local, schedule, visitors, walk
from workvisits import notifications, series, services
from workvisits.choices import OccurrenceStatus, OrderStatus
from workvisits.models import Order, SeriesOccurrence, VisitSeries

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


def weekly_series(user, make_body, days=3, count=3) -> VisitSeries:
    """Weekly visits at 09:00 in Ashburn; the first two are within the lead time, so ordered at once."""
    day = (timezone.now() + timedelta(days=days)).astimezone(NY).date()
    start = datetime(day.year, day.month, day.day, 9, tzinfo=NY).astimezone(UTC)
    body = make_body(start=start, hours=3)
    body["recurrence"] = f"FREQ=WEEKLY;COUNT={count}"
    return series.series_create(user=user, data=body)


def occurrences(created) -> list[SeriesOccurrence]:
    return list(SeriesOccurrence.objects.filter(series=created).select_related("order").order_by("recurrence_start"))


def invite_of(message) -> tuple[str, Calendar]:
    part = next(p for p in message.message().walk() if p.get_content_type() == "text/calendar")
    return part.get_param("method"), Calendar.from_ical(part.get_payload(decode=True))


def series_calendar(created) -> list:
    created.refresh_from_db()
    return list(Calendar.from_ical(series.series_invite(created)).walk("VEVENT"))


def local_input(value) -> str:
    return value.astimezone(NY).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def orderer_client(client, orderer):
    client.force_login(orderer)
    return client


def test_an_occurrences_order_invites_to_its_instance_of_the_series_event(orderer, make_body, mailoutbox):
    created = weekly_series(orderer, make_body)
    first = occurrences(created)[0]
    notifications.notify_order(first.order.pk)

    method, calendar = invite_of(mailoutbox[0])
    events = list(calendar.walk("VEVENT"))
    assert method == "REQUEST" and len(events) == 1  # no event of its own beside the series'
    instance = events[0]
    master = series_calendar(created)[0]
    assert instance["UID"] == master["UID"] == f"{created.invite_uid}@workvisits"
    assert instance.decoded("RECURRENCE-ID") == first.recurrence_start.astimezone(NY)
    assert str(instance["RECURRENCE-ID"].params["TZID"]) == "America/New_York"
    # The instance is one the series' RRULE gives, not a date of its own.
    rule = rrulestr(master["RRULE"].to_ical().decode(), dtstart=master.decoded("DTSTART"))
    assert instance.decoded("RECURRENCE-ID") in list(rule)
    assert instance["SEQUENCE"] >= master["SEQUENCE"]


def test_rescheduling_one_occurrences_order_on_its_page_moves_it_in_the_series_invite(
    orderer_client, orderer, make_body, mailoutbox
):
    created = weekly_series(orderer, make_body)
    series.series_notify(series_pk=created.pk)  # the series' first invite is in the calendars
    second = occurrences(created)[1]
    order = second.order
    new_start = order.visit_start + timedelta(hours=2)

    response = orderer_client.post(
        reverse("order_reschedule", kwargs={"order_id": order.order_id}),
        {
            "start": local_input(new_start),
            "end": local_input(new_start + timedelta(hours=3)),
            "version": order.version,
        },
    )
    assert response.status_code == 302

    events = series_calendar(created)
    overrides = [e for e in events if "RECURRENCE-ID" in e]
    assert [(e.decoded("RECURRENCE-ID"), e.decoded("DTSTART")) for e in overrides] == [
        (second.recurrence_start.astimezone(NY), new_start.astimezone(NY))
    ]
    assert "EXDATE" not in events[0]
    assert {e["SEQUENCE"] for e in events} == {1}  # one up from the invite the calendars hold
    # The series page shows the visit at its new time (11:00 local).
    assert [o.visit_start.astimezone(NY).hour for o in occurrences(created)] == [9, 11, 9]

    mailoutbox.clear()
    series.series_notify(series_pk=created.pk)
    assert mailoutbox and all(m.subject.endswith("changed") for m in mailoutbox)
    method, calendar = invite_of(mailoutbox[0])
    assert method == "REQUEST" and len([e for e in calendar.walk("VEVENT") if "RECURRENCE-ID" in e]) == 1

    # The order's own email about the change moves the same instance.
    mailoutbox.clear()
    notifications.notify_order(order.pk)
    method, calendar = invite_of(mailoutbox[0])
    (instance,) = calendar.walk("VEVENT")
    assert instance["UID"] == events[0]["UID"]
    assert instance.decoded("RECURRENCE-ID") == second.recurrence_start.astimezone(NY)
    assert instance.decoded("DTSTART") == new_start.astimezone(NY)


def test_cancelling_one_occurrences_order_on_its_page_takes_it_out_of_the_series(
    orderer_client, orderer, make_body, mailoutbox
):
    created = weekly_series(orderer, make_body)
    first = occurrences(created)[0]
    notifications.notify_order(first.order.pk)  # in the calendars
    mailoutbox.clear()

    response = orderer_client.post(
        reverse("order_cancel", kwargs={"order_id": first.order.order_id}),
        {"reason": "The supplier comes next week.", "confirm": "on"},
    )
    assert response.status_code == 302
    assert Order.objects.get(pk=first.order_id).status == OrderStatus.CANCELLED
    assert SeriesOccurrence.objects.get(pk=first.pk).status == OccurrenceStatus.CANCELLED

    master = series_calendar(created)[0]
    assert [d.dt for d in master["EXDATE"].dts] == [first.recurrence_start.astimezone(NY)]
    assert master["SEQUENCE"] == 1 and "RRULE" in master

    # The order withdraws its instance only, not the series.
    notifications.notify_order(first.order.pk)
    method, calendar = invite_of(mailoutbox[0])
    (instance,) = calendar.walk("VEVENT")
    assert method == "CANCEL" and instance["UID"] == master["UID"]
    assert instance.decoded("RECURRENCE-ID") == first.recurrence_start.astimezone(NY)
    assert instance["STATUS"] == "CANCELLED"


def test_a_person_marked_do_not_email_in_the_wizard_gets_no_series_or_occurrence_email(
    orderer_client, make_body, mailoutbox
):
    quiet = {
        "first_name": "Quentin",
        "last_name": "Quiet",
        "company_name": "Fixit",
        "email": "quentin@fixit.example",
        "leave_out": "on",
    }
    told = {"first_name": "Vera", "last_name": "Visit", "company_name": "Fixit", "email": "vera@fixit.example"}
    steps = all_steps(
        schedule={**schedule(local(5, 9), local(5, 12)), "schedule-repeat": "WEEKLY", "schedule-repeat_count": "3"},
        visitors=visitors(people=[quiet, told]),
    )
    failed, response = walk(orderer_client, steps)
    assert failed is None, response.content.decode()[:3000]
    orderer_client.get(response.url)
    created = VisitSeries.objects.get()

    series.series_notify(series_pk=created.pk)
    invited = {m.to[0] for m in mailoutbox}
    assert "vera@fixit.example" in invited and "quentin@fixit.example" not in invited
    attendees = {str(a) for a in series_calendar(created)[0]["ATTENDEE"]}
    assert "mailto:vera@fixit.example" in attendees and "mailto:quentin@fixit.example" not in attendees

    # The third visit is ordered later, at its lead time: left out of its emails too.
    with time_machine.travel(timezone.now() + timedelta(days=10)):
        assert series.series_materialize() == 1
    orders = [o.order for o in occurrences(created)]
    assert all(o is not None for o in orders)
    mailoutbox.clear()
    for order in orders:
        assert [v.notify for v in order.visitors.order_by("id")] == [True, False, True]
        notifications.notify_order(order.pk)
    emailed = {m.to[0] for m in mailoutbox}
    assert "vera@fixit.example" in emailed and "quentin@fixit.example" not in emailed


def test_an_order_the_data_centre_cancels_leaves_the_series_invite_once_that_commits(
    orderer, make_body, django_capture_on_commit_callbacks
):
    created = weekly_series(orderer, make_body)
    second = occurrences(created)[1]
    services.order_change_status(
        order_pk=second.order_id, to_status=OrderStatus.SUBMITTED, from_statuses={OrderStatus.QUEUED}
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.order_change_status(
            order_pk=second.order_id,
            to_status=OrderStatus.CANCELLED,
            from_statuses={OrderStatus.SUBMITTED},
            note="The data centre reports the order CANCELLED.",
        )
    master = series_calendar(created)[0]
    assert [d.dt for d in master["EXDATE"].dts] == [second.recurrence_start.astimezone(NY)]
    assert master["SEQUENCE"] == 1
