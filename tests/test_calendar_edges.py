"""The visits calendar at its edges: dates at the ends of the calendar answer the nearest page it can show,
with a notice, and arrows that stay inside; a visit across a clock change names each end in its own zone."""

import re
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from workvisits.web.visits_calendar import FIRST_DAY, LAST_DAY

from .test_web_calendar import CalendarPage, utc, visit

NOW = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)  # a Saturday, a week before Europe/Amsterdam moves to CEST


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def signed_in(orderer):
    client = Client(raise_request_exception=False)  # a 500 is an answer to assert on, not an exception
    client.force_login(orderer)
    return client


def arrows(html: str) -> dict[str, date]:
    """The previous and next arrows' dates, by rel."""
    found = {}
    for rel in ("prev", "next"):
        match = re.search(rf'href="([^"]*)" rel="{rel}"', html)
        if match:
            query = parse_qs(urlsplit(match.group(1).replace("&amp;", "&")).query)
            found[rel] = date.fromisoformat(query["date"][0])
    return found


EDGES = [
    # (view, date, the title shown, the arrow left: the other one is at the end of the calendar)
    ("week", "9999-12-31", "Week of 28 Dec 9998 – 3 Jan 9999", "prev"),
    ("month", "9999-12-15", "January 9999", "prev"),
    ("day", "9999-12-31", "January 9999", "prev"),  # no day view: the month
    ("week", "0001-01-08", "Week of 31 Dec 0001 – 6 Jan 0002", "next"),
    ("month", "0001-01-01", "December 0001", "next"),
]


@pytest.mark.parametrize("view, day, title, arrow", EDGES)
def test_a_date_outside_the_calendar_shows_its_nearest_page_with_a_notice(signed_in, view, day, title, arrow):
    response = signed_in.get(reverse("visits_calendar"), {"view": view, "date": day})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="span-title">{title}<' in html
    notice = html.split('id="calendar-notice">')[1].split("<")[0]
    assert "The calendar covers 31 December 0001 to 1 January 9999." in notice
    assert "is outside it, so this is the nearest" in notice
    # Only the arrow back into the calendar is a link; it stays inside and answers a page of its own.
    links = arrows(html)
    assert list(links) == [arrow]
    assert FIRST_DAY <= links[arrow] <= LAST_DAY
    assert 'aria-disabled="true">' in html
    back = signed_in.get(reverse("visits_calendar"), {"view": view, "date": links[arrow].isoformat()})
    assert back.status_code == 200 and 'id="calendar-notice"' not in back.content.decode()


@pytest.mark.parametrize("view", ["week", "month"])
def test_the_arrows_walk_to_each_end_of_the_calendar_and_stop_there(signed_in, view):
    for start, rel in ((LAST_DAY, "next"), (FIRST_DAY, "prev")):
        html = signed_in.get(reverse("visits_calendar"), {"view": view, "date": start.isoformat()}).content.decode()
        assert 'id="calendar-notice"' not in html  # the ends are days of the calendar
        assert rel not in arrows(html)
        other = "prev" if rel == "next" else "next"
        for _ in range(3):  # three spans away from the end and back again
            html = signed_in.get(
                reverse("visits_calendar"), {"view": view, "date": arrows(html)[other].isoformat()}
            ).content.decode()
            assert 'id="calendar-notice"' not in html
        for _ in range(3):
            target = arrows(html)[rel]
            assert FIRST_DAY <= target <= LAST_DAY
            response = signed_in.get(reverse("visits_calendar"), {"view": view, "date": target.isoformat()})
            assert response.status_code == 200
            html = response.content.decode()
        assert rel not in arrows(html)


def test_the_month_and_week_buttons_at_the_first_month_stay_inside(signed_in):
    html = signed_in.get(reverse("visits_calendar"), {"date": "0001-12-31"}).content.decode()
    assert 'id="span-title">December 0001<' in html and 'id="calendar-notice"' not in html
    week = re.search(r'href="([^"]*)"[^>]*>Week<', html).group(1).replace("&amp;", "&")
    html = signed_in.get(reverse("visits_calendar") + week).content.decode()
    assert 'id="span-title">Week of 31 Dec 0001 – 6 Jan 0002<' in html and 'id="calendar-notice"' not in html


def test_a_date_that_is_not_a_date_shows_this_month(signed_in):
    for value in ("99999-01-01", "2027-02-30", "-1", "\u0660\u0661"):
        response = signed_in.get(reverse("visits_calendar"), {"view": "week", "date": value})
        assert response.status_code == 200
        assert 'id="span-title">Week of 15–21 March 2027<' in response.content.decode()


@pytest.mark.parametrize("view, day", [(view, day) for view, day, _, _ in EDGES])
def test_the_staff_calendar_answers_the_same_edges(users, view, day):
    client = Client(raise_request_exception=False)
    client.force_login(users["operator"])
    response = client.get(reverse("admin_visits_calendar"), {"view": view, "date": day})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="calendar-notice"' in html and len(arrows(html)) == 1


def test_a_visit_across_the_clock_change_names_each_end_in_its_own_zone(signed_in, orderer, make_body):
    # Europe/Amsterdam moves from CET (UTC+1) to CEST (UTC+2) at 01:00 UTC on Sunday 28 March 2027.
    spring = visit(orderer, make_body, utc(2027, 3, 28, 0, 30), utc(2027, 3, 28, 2, 30), am1=True)
    plain = visit(orderer, make_body, utc(2027, 3, 27, 8), utc(2027, 3, 27, 16), am1=True)
    cal = CalendarPage(
        signed_in.get(reverse("visits_calendar"), {"view": "week", "date": "2027-03-28"}).content.decode()
    )
    assert cal.days["2027-03-28"][spring.order_id].startswith("AM1 · 01:30 CET–04:30 CEST")
    assert cal.days["2027-03-27"][plain.order_id].startswith("AM1 · 09:00–17:00 CET")  # one zone: named once
    month = CalendarPage(signed_in.get(reverse("visits_calendar"), {"date": "2027-03-01"}).content.decode())
    assert month.days["2027-03-28"][spring.order_id].startswith("AM1 · 01:30 CET–04:30 CEST")


def test_a_visit_across_the_autumn_change_tells_the_two_half_past_twos_apart(orderer, make_body):
    # On Sunday 31 October 2027, 03:00 CEST (01:00 UTC) becomes 02:00 CET: 02:30 happens twice.
    with time_machine.travel(datetime(2027, 10, 20, 12, tzinfo=UTC), tick=False):
        autumn = visit(orderer, make_body, utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 1, 30), am1=True)
        client = Client()
        client.force_login(orderer)  # signed in on this day: a session idle since March has ended
        response = client.get(reverse("visits_calendar"), {"view": "week", "date": "2027-10-31"})
    assert response.status_code == 200
    cal = CalendarPage(response.content.decode())
    assert cal.days["2027-10-31"][autumn.order_id].startswith("AM1 · 02:30 CEST–02:30 CET")


def test_the_door_list_names_each_end_of_a_visit_across_the_clock_change(users, orderer, make_body):
    spring = visit(orderer, make_body, utc(2027, 3, 28, 0, 30), utc(2027, 3, 28, 2, 30), am1=True)
    with time_machine.travel(datetime(2027, 3, 27, 12, tzinfo=UTC), tick=False):  # the day before: "tomorrow"
        client = Client()
        client.force_login(users["reviewer"])
        response = client.get(reverse("admin_door_list"), {"ibx": "AM1"})
    assert response.status_code == 200
    html = response.content.decode()
    assert spring.order_id in html and "01:30 CET–04:30 CEST" in html
