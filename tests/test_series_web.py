"""Visit series in the pages, through the Django test client: the wizard's Repeat, the series page and
its actions (CSRF-checked POSTs, permissions), the order page's link, and the admin's read-only view."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.test_web_wizard import all_steps, local, schedule, walk
from workvisits import series
from workvisits.choices import OccurrenceStatus, OrderStatus, SeriesStatus
from workvisits.models import Order, SeriesOccurrence, VisitSeries

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


@pytest.fixture
def orderer_client(client, orderer):
    client.force_login(orderer)
    return client


def weekly_series(user, make_body, days=3, count=4):
    day = (timezone.now() + timedelta(days=days)).astimezone(NY).date()
    start = datetime(day.year, day.month, day.day, 9, tzinfo=NY).astimezone(UTC)
    body = make_body(start=start, hours=3)
    body["recurrence"] = f"FREQ=WEEKLY;COUNT={count}"
    return series.series_create(user=user, data=body)


def test_the_wizard_repeats_a_visit_as_a_series(orderer_client, orderer):
    start, end = local(5, 9), local(5, 12)
    steps = all_steps(
        schedule={**schedule(start, end), "schedule-repeat": "MONTHLY_WEEKDAY", "schedule-repeat_count": "3"}
    )
    failed, response = walk(orderer_client, steps)
    assert failed is None, response.content.decode()[:3000]
    done = orderer_client.get(response.url)
    created = VisitSeries.objects.get()
    assert done.url == reverse("series_detail", kwargs={"series_id": created.series_id})
    visits = list(created.occurrences.order_by("recurrence_start"))
    assert len(visits) == 3
    # The same weekday of the month, at 09:00 in Ashburn each time.
    first = visits[0].visit_start.astimezone(NY)
    assert {(v.visit_start.astimezone(NY).weekday(), v.visit_start.astimezone(NY).hour) for v in visits} == {
        (first.weekday(), 9)
    }
    assert created.owner == orderer and Order.objects.count() == 1  # the first visit is within the lead time


def test_the_wizard_says_in_words_what_is_wrong_with_the_repeat(orderer_client):
    steps = all_steps(
        schedule={**schedule(local(2, 9), local(2, 12)), "schedule-repeat": "DAILY", "schedule-repeat_count": ""}
    )
    failed, response = walk(orderer_client, steps)
    assert failed == "schedule" and response.status_code == 200
    assert "Say how many visits the series has." in response.content.decode()
    # Daily two-day visits would overlap.
    steps = all_steps(
        schedule={**schedule(local(2, 9), local(4, 9)), "schedule-repeat": "DAILY", "schedule-repeat_count": "3"}
    )
    failed, response = walk(orderer_client, steps)
    page = response.content.decode()
    assert failed == "schedule" and "The repetition: visits would overlap" in page
    assert "recurrence" not in re.sub(r"<[^>]+>", " ", page).split()


def test_the_series_page_lists_the_visits_in_the_ibx_zone_and_links_the_orders(orderer_client, orderer, make_body):
    created = weekly_series(orderer, make_body)
    page = orderer_client.get(reverse("series_detail", kwargs={"series_id": created.series_id}))
    assert page.status_code == 200
    text = page.content.decode()
    assert "America/New_York" in text and re.search(r"09:00 E[SD]T – 12:00 E[SD]T", text)
    order = created.occurrences.order_by("recurrence_start")[0].order
    assert reverse("order_detail", kwargs={"order_id": order.order_id}) in text
    assert text.count(">Planned<") == 2 and text.count(">Waiting for the data centre<") == 2
    # The order page links back to its series.
    order_page = orderer_client.get(reverse("order_detail", kwargs={"order_id": order.order_id})).content.decode()
    assert reverse("series_detail", kwargs={"series_id": created.series_id}) in order_page


def test_the_actions_skip_change_and_cancel_the_rest(orderer_client, orderer, make_body):
    created = weekly_series(orderer, make_body)
    visits = list(created.occurrences.order_by("recurrence_start"))
    key = lambda v: v.visit_start.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    base = reverse("series_detail", kwargs={"series_id": created.series_id})

    response = orderer_client.post(base + "skip/", {"occurrence": key(visits[0])}, follow=True)
    assert "The visit is skipped" in response.content.decode()
    assert Order.objects.get(pk=visits[0].order_id).status == OrderStatus.CANCELLED

    later = visits[2].visit_start.astimezone(NY)
    response = orderer_client.post(
        base + "change/",
        {
            "occurrence": key(visits[2]),
            "start": later.replace(hour=13).strftime("%Y-%m-%dT%H:%M"),
            "end": later.replace(hour=15).strftime("%Y-%m-%dT%H:%M"),
        },
        follow=True,
    )
    assert "changed from that visit on" in response.content.decode()
    hours = [v.visit_start.astimezone(NY).hour for v in created.occurrences.order_by("recurrence_start")]
    assert hours == [9, 9, 13, 13]

    # A visit longer than 14 days: said in words, nothing changes.
    response = orderer_client.post(
        base + "change/",
        {
            "occurrence": key(SeriesOccurrence.objects.filter(series=created).order_by("recurrence_start")[3]),
            "start": later.strftime("%Y-%m-%dT%H:%M"),
            "end": (later + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M"),
        },
        follow=True,
    )
    assert "Security Access" in response.content.decode()

    response = orderer_client.post(base + "cancel/", {"reason": "The racks moved."}, follow=True)
    assert "The rest of the series is cancelled." in response.content.decode()
    created.refresh_from_db()
    assert created.status == SeriesStatus.CANCELLED
    assert set(created.occurrences.values_list("status", flat=True)) == {
        OccurrenceStatus.SKIPPED,
        OccurrenceStatus.CANCELLED,
    }


def test_actions_need_the_permission_and_the_csrf_token(users, make_body):
    created = weekly_series(users["orderer"], make_body)
    base = reverse("series_detail", kwargs={"series_id": created.series_id})
    member = Client()  # neither its owner nor seeing all of Acme's orders
    member.force_login(users["technician"])
    assert member.get(base).status_code == 404
    assert member.post(base + "cancel/", {"reason": "Not mine to cancel."}).status_code == 404
    viewer = Client()  # sees all of Acme's orders, so may change them (CONTRACT "Modify")
    viewer.force_login(users["viewer"])
    assert "Cancel the rest" in viewer.get(base).content.decode()
    other = Client()
    other.force_login(users["globex"])
    assert other.get(base).status_code == 404
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(users["orderer"])
    assert strict.post(base + "cancel/", {"reason": "No token sent."}).status_code == 403
    assert VisitSeries.objects.get().status == SeriesStatus.ACTIVE


def test_reviewers_see_series_in_the_admin_read_only(users, make_body):
    created = weekly_series(users["orderer"], make_body)
    reviewer = Client()
    reviewer.force_login(users["reviewer"])
    listing = reviewer.get(reverse("admin:workvisits_visitseries_changelist"))
    assert listing.status_code == 200 and created.series_id in listing.content.decode()
    detail = reviewer.get(reverse("admin:workvisits_visitseries_change", args=[created.pk])).content.decode()
    assert "America/New_York" in detail and created.occurrences.order_by("recurrence_start")[0].order.order_id in detail
    assert (
        reviewer.post(reverse("admin:workvisits_visitseries_delete", args=[created.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert VisitSeries.objects.filter(pk=created.pk).exists()
