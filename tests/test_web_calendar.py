"""The visits calendar: each visit on the local days of its IBX, in that IBX's time with the zone named;
the dashboard's filters and permissions; a constant number of queries; the staff's door list."""

import json
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from workvisits import selectors, services
from workvisits.choices import OrderStatus
from workvisits.models import Order
from workvisits.rules import format_datetime

from .scale_support import copies

# Wednesday 10 March 2027: America/New_York moves to EDT on the 14th, Europe/Amsterdam to CEST on the 28th.
NOW = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)
AM1_CAGE = {"id": "AM1:02:200100", "accountNumber": "2000000001", "cabinetId": "AM1:02:200100:0001"}


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def visit(user, make_body, start, end, *, am1=False, visitors=None, **overrides):
    body = make_body(start=start, **overrides)
    body["details"]["visitEndDateTime"] = format_datetime(end)
    if am1:
        body["details"]["cages"] = [AM1_CAGE]
    if visitors:
        body["details"]["visitors"] = visitors
    return services.order_create(user=user, data=body)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


class CalendarPage(HTMLParser):
    """The page as a person reads it: each day (data-date) with the text of each visit linked on it."""

    def __init__(self, html: str):
        super().__init__()
        self.days: dict[str, dict[str, str]] = {}
        self.links: dict[str, str] = {}
        self._day = self._order = None
        self._text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "li" and "data-date" in attrs:
            self._day = attrs["data-date"]
            self.days[self._day] = {}
        if tag == "a" and "data-order" in attrs:
            self._order, self._text = attrs["data-order"], []
            self.links[attrs["data-order"]] = attrs["href"]

    def handle_data(self, data):
        if self._order:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._order:
            self.days[self._day][self._order] = " ".join(" ".join(self._text).split())
            self._order = None


def page(client, **params):
    response = client.get(reverse("visits_calendar"), params)
    assert response.status_code == 200
    return CalendarPage(response.content.decode()), response.content.decode()


def test_a_month_shows_each_visit_on_the_local_days_of_its_ibx_in_its_time(client, orderer, make_body):
    # 23:30 EDT on Monday 15 March in Ashburn is already Tuesday in UTC; it runs past midnight.
    night = visit(orderer, make_body, utc(2027, 3, 16, 3, 30), utc(2027, 3, 16, 7, 30))
    amsterdam = visit(orderer, make_body, utc(2027, 3, 16, 8), utc(2027, 3, 16, 16), am1=True)
    three_days = visit(orderer, make_body, utc(2027, 3, 20, 13), utc(2027, 3, 22, 21))
    to_midnight = visit(orderer, make_body, utc(2027, 3, 11, 23), utc(2027, 3, 12, 5))  # 18:00–00:00 EST
    april = visit(orderer, make_body, utc(2027, 4, 10, 13), utc(2027, 4, 10, 17))
    client.force_login(orderer)

    cal, html = page(client, date="2027-03-10")
    assert "March 2027" in html
    assert cal.days["2027-03-15"][night.order_id].startswith("DC2 · from 23:30 EDT")
    assert cal.days["2027-03-16"][night.order_id].startswith("DC2 · until 03:30 EDT")
    assert cal.days["2027-03-16"][amsterdam.order_id].startswith("AM1 · 09:00–17:00 CET")
    assert [d for d, visits in cal.days.items() if three_days.order_id in visits] == [
        "2027-03-20",
        "2027-03-21",
        "2027-03-22",
    ]
    assert cal.days["2027-03-21"][three_days.order_id].startswith("DC2 · all day")
    assert cal.days["2027-03-22"][three_days.order_id].startswith("DC2 · until 17:00 EDT")
    assert [d for d, visits in cal.days.items() if to_midnight.order_id in visits] == ["2027-03-11"]
    assert cal.days["2027-03-11"][to_midnight.order_id].startswith("DC2 · 18:00–00:00 EST")
    assert not any(april.order_id in visits for visits in cal.days.values())
    # The grid is whole weeks, Monday 1 March to Sunday 4 April; each entry says its status and links to it.
    assert list(cal.days)[0] == "2027-03-01" and list(cal.days)[-1] == "2027-04-04"
    assert "Waiting for the data centre" in cal.days["2027-03-16"][amsterdam.order_id]
    assert cal.links[amsterdam.order_id] == reverse("order_detail", kwargs={"order_id": amsterdam.order_id})
    assert "America/New_York" in html and "Europe/Amsterdam" in html
    # The next month has the April visit.
    cal, html = page(client, date="2027-04-01")
    assert "April 2027" in html and april.order_id in cal.days["2027-04-10"]


def test_the_week_view_and_its_arrows(client, orderer, make_body):
    monday = visit(orderer, make_body, utc(2027, 3, 15, 13), utc(2027, 3, 15, 17))
    next_week = visit(orderer, make_body, utc(2027, 3, 23, 13), utc(2027, 3, 23, 17))
    client.force_login(orderer)
    cal, html = page(client, view="week", date="2027-03-17")
    assert list(cal.days) == [f"2027-03-{d}" for d in range(15, 22)]
    assert monday.order_id in cal.days["2027-03-15"]
    assert not any(next_week.order_id in v for v in cal.days.values())
    assert "Week of 15–21 March 2027" in html
    assert "view=week&amp;date=2027-03-24" in html  # next week
    assert "view=week&amp;date=2027-03-10" in html  # previous week
    assert "view=week&amp;date=2027-03-10" in html and "date=2027-03-10" in html  # today (the clock's)
    assert 'aria-current="page">Week<' in html


def test_the_dashboard_filters_narrow_the_calendar_and_are_kept_by_its_arrows(client, orderer, make_body):
    dc2 = visit(orderer, make_body, utc(2027, 3, 15, 13), utc(2027, 3, 15, 17), customerReferenceId="TICKET-42")
    am1 = visit(orderer, make_body, utc(2027, 3, 16, 8), utc(2027, 3, 16, 16), am1=True)
    cancelled = visit(orderer, make_body, utc(2027, 3, 17, 13), utc(2027, 3, 17, 17))
    services.order_cancel(user=orderer, order_id=cancelled.order_id, reason="Not needed any more.")
    client.force_login(orderer)

    def shown(**params):
        cal, _ = page(client, date="2027-03-10", **params)
        return {o for visits in cal.days.values() for o in visits}

    assert shown() == {dc2.order_id, am1.order_id, cancelled.order_id}
    assert shown(ibx="AM1") == {am1.order_id}
    assert shown(status=OrderStatus.CANCELLED) == {cancelled.order_id}
    assert shown(q="ticket-42") == {dc2.order_id}
    _, html = page(client, date="2027-03-10", ibx="AM1")
    assert "ibx=AM1&amp;view=month&amp;date=2027-04-01" in html


def test_each_person_sees_only_the_visits_they_may_see(client, users, orderer, globex, make_body):
    others = visit(orderer, make_body, utc(2027, 3, 15, 13), utc(2027, 3, 15, 17))
    with_technician = visit(
        orderer,
        make_body,
        utc(2027, 3, 16, 13),
        utc(2027, 3, 16, 17),
        visitors=[{"registeredUsers": ["technician"]}],
    )
    globex_body = make_body(start=utc(2027, 3, 15, 14))
    globex_body["details"]["cages"] = [
        {"id": "DC2:02:300300", "accountNumber": "3000000001", "cabinetId": "DC2:02:300300:0101"}
    ]
    globex_body["details"]["visitors"] = [{"registeredUsers": ["globex"]}]
    globex_order = services.order_create(user=globex, data=globex_body)

    def seen(user):
        found = selectors.calendar_orders(
            user=user, filters=selectors.OrderFilters(), first_day=NOW.date(), last_day=NOW.date() + timedelta(days=20)
        )
        return {o.order_id for o in found}

    assert seen(orderer) == seen(users["viewer"]) == {others.order_id, with_technician.order_id}
    assert seen(users["technician"]) == {with_technician.order_id}  # a plain member: their own visits only
    assert seen(globex) == {globex_order.order_id}
    assert seen(users["reviewer"]) == set()  # staff use the door list in the admin
    client.force_login(users["technician"])
    cal, _ = page(client, date="2027-03-10")
    assert {o for v in cal.days.values() for o in v} == {with_technician.order_id}


def test_the_span_is_read_in_one_query_however_many_visits(client, orderer, make_body):
    client.force_login(orderer)
    visit(orderer, make_body, utc(2027, 3, 15, 13), utc(2027, 3, 15, 17))

    def queries():
        with CaptureQueriesContext(connection) as captured:
            page(client, date="2027-03-10")
        return len(captured)

    one = queries()
    for day in range(11, 31):
        visit(orderer, make_body, utc(2027, 3, day, 13), utc(2027, 3, day, 17), am1=day % 2 == 0)
    assert queries() == one
    with CaptureQueriesContext(connection) as captured:
        found = selectors.calendar_orders(
            user=orderer,
            filters=selectors.OrderFilters(),
            first_day=datetime(2027, 3, 1).date(),
            last_day=datetime(2027, 4, 4).date(),
        )
        assert {o.ibx.code for o in found} == {"DC2", "AM1"}  # (the IBX comes with the order)
    # One query of the orders (the others read the user's permissions, once per request).
    (read,) = [q["sql"] for q in captured.captured_queries if '"workvisits_order"' in q["sql"]]
    assert len(found) == 21
    # With only what a visit on the calendar shows: no payloads, reasons or bookkeeping of the pipeline.
    for column in ("upstream_payload", "upstream_response", "review_reasons", "last_error", "lease_owner"):
        assert f'"{column}"' not in read
    assert {o.customer_reference_id for o in found} and all(o.visit_end > o.visit_start for o in found)


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_month_is_read_from_the_visit_start_index(orderer, globex, make_body):
    """Among 6,000 orders over a year and a half, one in ten Acme's (committed and analyzed, as in
    production), the month's one query is a range of an index on visit_start: no scan of the table."""
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN plans are PostgreSQL's")  # CI runs on PostgreSQL (conftest refuses anything else)
    template = visit(orderer, make_body, utc(2027, 3, 15, 13), utc(2027, 3, 15, 17))
    copies(
        template,
        6000,
        first_start=NOW - timedelta(days=365),
        step=timedelta(hours=2),
        organizations=[orderer.organization_id] + [globex.organization_id] * 9,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE workvisits_order")
    month = selectors.calendar_visits(
        user=orderer, filters=selectors.OrderFilters(), first_day=date(2027, 3, 1), last_day=date(2027, 4, 4)
    )
    nodes = list(_nodes(json.loads(month.explain(format="json"))[0]["Plan"]))
    shown = [(n["Node Type"], n.get("Index Name")) for n in nodes]
    orders = [n for n in nodes if n.get("Relation Name") == "workvisits_order"]
    assert orders and all("Index" in n["Node Type"] for n in orders), shown
    assert all("visit_start" in (n.get("Index Cond") or "") for n in orders), shown
    found = list(month)
    assert template in found and all(o.organization_id == orderer.organization_id for o in found)
    assert min(o.visit_start for o in found) >= utc(2027, 2, 28) - timedelta(hours=12)


def test_the_door_list_shows_every_organization_today_and_tomorrow_per_ibx(client, users, orderer, globex, make_body):
    today_dc2 = visit(orderer, make_body, utc(2027, 3, 10, 14), utc(2027, 3, 10, 18))  # 09:00 EST
    # 23:30 in Amsterdam on the 11th: tomorrow there, though UTC calls it the 11th too.
    tomorrow_am1 = visit(orderer, make_body, utc(2027, 3, 11, 22, 30), utc(2027, 3, 12, 1), am1=True)
    later = visit(orderer, make_body, utc(2027, 3, 14, 14), utc(2027, 3, 14, 18))
    refused = visit(orderer, make_body, utc(2027, 3, 10, 15), utc(2027, 3, 10, 19))
    services.order_cancel(user=orderer, order_id=refused.order_id, reason="Not needed.")
    globex_body = make_body(start=utc(2027, 3, 11, 13))
    globex_body["details"]["cages"] = [
        {"id": "DC2:02:300300", "accountNumber": "3000000001", "cabinetId": "DC2:02:300300:0101"}
    ]
    globex_body["details"]["visitors"] = [{"registeredUsers": ["globex"]}]
    globex_order = services.order_create(user=globex, data=globex_body)

    for staff in ("reviewer", "operator"):
        client.force_login(users[staff])
        response = client.get(reverse("admin_door_list"))
        assert response.status_code == 200
        html = response.content.decode()
        dc2 = html.split('id="door-DC2"')[1].split("</section>")[0]
        am1 = html.split('id="door-AM1"')[1].split("</section>")[0]
        dc2_today, dc2_tomorrow = dc2.split('data-day="tomorrow"') if 'data-day="tomorrow"' in dc2 else (dc2, "")
        assert today_dc2.order_id in dc2_today and "09:00–13:00 EST" in dc2_today and "Olivia" in dc2_today
        assert globex_order.order_id in dc2_tomorrow and "Globex" in dc2_tomorrow
        assert tomorrow_am1.order_id in am1 and "from 23:30 CET" in am1 and "Thursday 11 March 2027" in am1
        assert later.order_id not in html and refused.order_id not in html
        assert "America/New_York" in dc2 and "Europe/Amsterdam" in am1
    only_am1 = client.get(reverse("admin_door_list"), {"ibx": "AM1"}).content.decode()
    assert 'id="door-DC2"' not in only_am1 and tomorrow_am1.order_id in only_am1
    # The orders' list leads to it.
    assert reverse("admin_door_list") in client.get(reverse("admin:workvisits_order_changelist")).content.decode()


def test_the_door_list_is_for_staff_with_the_orders_view_permission(client, users, orderer):
    client.force_login(orderer)  # a customer: the admin sends them to its sign-in
    assert client.get(reverse("admin_door_list")).status_code == 302
    orderer.is_staff = True
    orderer.save()
    client.force_login(orderer)  # staff without a role
    assert client.get(reverse("admin_door_list")).status_code == 403


def test_the_door_list_costs_the_same_queries_for_any_number_of_visits(client, users, orderer, make_body):
    client.force_login(users["reviewer"])
    visit(orderer, make_body, utc(2027, 3, 10, 14), utc(2027, 3, 10, 18))

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("admin_door_list")).status_code == 200
        return len(captured)

    one = queries()
    for hour in range(13, 23):
        visit(orderer, make_body, utc(2027, 3, 11, hour), utc(2027, 3, 11, hour + 1), am1=hour % 2 == 0)
    assert queries() == one
    assert Order.objects.count() == 11


def test_staff_see_every_organizations_calendar_in_the_admin(client, users, orderer, globex, make_body):
    acme = visit(orderer, make_body, utc(2027, 3, 16, 3, 30), utc(2027, 3, 16, 7, 30))  # Monday night in Ashburn
    globex_body = make_body(start=utc(2027, 3, 17, 14))
    globex_body["details"]["cages"] = [
        {"id": "DC2:02:300300", "accountNumber": "3000000001", "cabinetId": "DC2:02:300300:0101"}
    ]
    globex_body["details"]["visitors"] = [{"registeredUsers": ["globex"]}]
    other = services.order_create(user=globex, data=globex_body)
    url = reverse("admin_visits_calendar")

    client.force_login(users["operator"])
    cal = CalendarPage(client.get(url, {"date": "2027-03-10"}).content.decode())
    assert cal.days["2027-03-15"][acme.order_id].startswith("DC2 · from 23:30 EDT")
    assert "Acme Corp" in cal.days["2027-03-15"][acme.order_id]
    assert "Globex Inc" in cal.days["2027-03-17"][other.order_id]
    assert cal.links[other.order_id] == reverse("admin:workvisits_order_change", args=[other.pk])
    only_globex = CalendarPage(
        client.get(url, {"date": "2027-03-10", "organization": globex.organization_id}).content.decode()
    )
    assert {o for v in only_globex.days.values() for o in v} == {other.order_id}
    week = CalendarPage(client.get(url, {"view": "week", "date": "2027-03-17"}).content.decode())
    assert list(week.days)[0] == "2027-03-15" and other.order_id in week.days["2027-03-17"]

    client.force_login(orderer)  # a customer: the admin's sign-in
    assert client.get(url).status_code == 302
    users["technician"].is_staff = True
    users["technician"].save()
    client.force_login(users["technician"])  # staff without a role
    assert client.get(url).status_code == 403
