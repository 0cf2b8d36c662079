"""The visits calendar in a real headless Chromium: month and week with visits in two IBX zones, the
arrows, a phone's width (390 px), the axe-core audit; and the staff's printable door list and calendar of
every organization in the admin."""

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from tests.test_browser_pages import audit, axe_source, sign_in  # noqa: F401 (fixtures)
from tests.test_browser_portal import PHONE, browser, live_demo, shot  # noqa: F401 (fixtures)
from workvisits import services

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS)),
]

NEW_YORK, AMSTERDAM = ZoneInfo("America/New_York"), ZoneInfo("Europe/Amsterdam")
AM1_CAGE = {"id": "AM1:02:200100", "accountNumber": "2000000001", "cabinetId": "AM1:02:200100:0001"}


def place(user, make_body, start, hours, cages=None):
    body = make_body(start=start.astimezone(ZoneInfo("UTC")), hours=hours)
    if cages:
        body["details"]["cages"] = cages
    return services.order_create(user=user, data=body)


@pytest.fixture
def two_zones(live_demo, make_body):  # noqa: F811
    """A night visit in Ashburn that runs into the next local day, and a day visit in Amsterdam, the same date."""
    day = timezone.now().astimezone(NEW_YORK).date() + timedelta(days=2)
    night = place(live_demo["orderer"], make_body, datetime.combine(day, time(23, 30), NEW_YORK), hours=4)
    amsterdam = place(
        live_demo["orderer"], make_body, datetime.combine(day, time(9), AMSTERDAM), hours=8, cages=[AM1_CAGE]
    )
    return day, night, amsterdam


def staff_page(browser, live_server, user):  # noqa: F811
    """A browser signed in as `user` with a session made by Django's test client (the admin's own sign-in
    page is tested elsewhere)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    return context.new_page()


def day_cell(page, day):
    return page.locator(f"#calendar li[data-date='{day.isoformat()}']")


def test_the_month_and_the_week_show_each_visit_in_its_ibx_time_also_on_a_phone(
    browser,  # noqa: F811
    live_server,
    two_zones,
    axe_source,  # noqa: F811
):
    day, night, amsterdam = two_zones
    page = sign_in(browser, live_server, "orderer")
    page.get_by_role("link", name="Calendar", exact=True).click()
    expect(page.get_by_role("heading", name="Visits calendar")).to_be_visible()
    page.goto(f"{live_server.url}/visits/calendar/?date={day.isoformat()}")
    expect(page.locator("#span-title")).to_have_text(f"{day:%B %Y}")

    first = day_cell(page, day).locator(f"a[data-order='{night.order_id}']")
    expect(first).to_contain_text(re.compile(r"DC2 · from 23:30 E[SD]T"))
    following = day_cell(page, day + timedelta(days=1)).locator(f"a[data-order='{night.order_id}']")
    expect(following).to_contain_text(re.compile(r"DC2 · until 03:30 E[SD]T"))
    expect(day_cell(page, day).locator(f"a[data-order='{amsterdam.order_id}']")).to_contain_text(
        re.compile(r"AM1 · 09:00–17:00 CES?T")
    )
    expect(first).to_contain_text("Waiting for the data centre")  # the status in words, not colour alone
    expect(page.locator("#calendar-zones")).to_contain_text("America/New_York")
    expect(page.locator("#calendar-zones")).to_contain_text("Europe/Amsterdam")
    expect(page.get_by_role("list", name="Colours of the statuses")).to_contain_text("Waiting for the data centre")
    assert audit(page, axe_source) == []
    shot(page, "calendar-month")

    # The week, its arrows, and back to today's week.
    page.get_by_role("link", name="Week", exact=True).click()
    expect(page.get_by_role("link", name="Week", exact=True)).to_have_attribute("aria-current", "page")
    expect(page.locator("#calendar > li")).to_have_count(7)
    page.goto(f"{live_server.url}/visits/calendar/?view=week&date={day.isoformat()}")
    expect(page.locator("#calendar > li")).to_have_count(7)
    expect(day_cell(page, day).locator(f"a[data-order='{amsterdam.order_id}']")).to_be_visible()
    assert audit(page, axe_source) == []
    shot(page, "calendar-week")
    monday = day - timedelta(days=day.weekday())
    page.get_by_role("link", name="Next week").click()
    expect(page.locator("#calendar > li").first).to_have_attribute(
        "data-date", (monday + timedelta(days=7)).isoformat()
    )
    expect(page.locator("#calendar a[data-order]")).to_have_count(1 if day.weekday() == 6 else 0)
    page.get_by_role("link", name="Previous week").click()
    expect(page.locator("#calendar > li").first).to_have_attribute("data-date", monday.isoformat())
    page.get_by_role("link", name="Today").click()
    expect(page.locator("#calendar .cal-today")).to_have_count(1)

    # An entry opens its order.
    page.goto(f"{live_server.url}/visits/calendar/?view=week&date={day.isoformat()}")
    day_cell(page, day).locator(f"a[data-order='{amsterdam.order_id}']").click()
    expect(page).to_have_url(re.compile(f"/orders/{amsterdam.order_id}/$"))

    # On a phone: the days with visits one under the other, nothing to scroll sideways.
    page.set_viewport_size(PHONE)
    for view in ("month", "week"):
        page.goto(f"{live_server.url}/visits/calendar/?view={view}&date={day.isoformat()}")
        entry = day_cell(page, day).locator(f"a[data-order='{night.order_id}']")
        entry.scroll_into_view_if_needed()
        expect(entry).to_be_in_viewport()
        box = entry.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        expect(entry).to_contain_text("Waiting for the data centre")
        assert audit(page, axe_source) == []
        shot(page, f"calendar-{view}-phone")
    page.context.close()


def test_the_door_list_is_printable_and_the_admin_calendar_shows_every_organization(
    browser,  # noqa: F811
    live_server,
    live_demo,  # noqa: F811
    make_body,
):
    # A visit in Ashburn tomorrow (its local tomorrow) for the people at the door.
    tomorrow = timezone.now().astimezone(NEW_YORK).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(10), NEW_YORK)
    order = place(live_demo["orderer"], make_body, start, hours=2)
    page = staff_page(browser, live_server, live_demo["reviewer"])
    page.goto(f"{live_server.url}/admin/workvisits/order/")
    page.get_by_role("link", name="Door list: today and tomorrow").click()
    section = page.locator("#door-DC2")
    expect(section).to_contain_text("America/New_York")
    row = section.locator("table[data-day='tomorrow'] tr", has_text=order.order_id)
    expect(row).to_contain_text(re.compile(r"10:00–12:00 E[SD]T"))
    expect(row).to_contain_text("Acme Corp")
    expect(row).to_contain_text("Olivia Orderer")
    page.emulate_media(media="print")
    expect(page.locator("#header")).to_be_hidden()
    expect(row).to_be_visible()
    shot(page, "admin-door-list")

    # The calendar of every organization, from the same list: the visit on its local day, with its organization.
    page.emulate_media(media="screen")
    page.goto(f"{live_server.url}/admin/workvisits/order/")
    page.get_by_role("link", name="Visits calendar").click()
    entry = page.locator(f"#calendar li[data-date='{tomorrow.isoformat()}'] a[data-order='{order.order_id}']")
    expect(entry).to_contain_text(re.compile(r"DC2 · 10:00–12:00 E[SD]T"))
    expect(entry).to_contain_text("Acme Corp")
    shot(page, "admin-visits-calendar")
    entry.click()
    expect(page).to_have_url(re.compile(f"/admin/workvisits/order/{order.pk}/change/$"))
    page.context.close()
