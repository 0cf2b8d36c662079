"""The series page in a real headless Chromium: the visits in the IBX's time with the zone named, each
linking to its order, and its actions (skip, change from here, cancel the rest) as a customer uses them."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from tests.test_browser_pages import audit, axe_source, no_json_path, sign_in  # noqa: F401 (fixtures)
from tests.test_browser_portal import browser, live_demo, shot  # noqa: F401 (fixtures)
from workvisits import series
from workvisits.choices import OrderStatus, SeriesStatus
from workvisits.models import Order, VisitSeries

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS)),
]

NY = ZoneInfo("America/New_York")


def test_the_series_page_shows_the_visits_and_its_actions_work(
    browser,  # noqa: F811
    live_server,
    live_demo,  # noqa: F811
    make_body,
    axe_source,  # noqa: F811
):
    day = (timezone.now() + timedelta(days=3)).astimezone(NY).date()
    start = datetime(day.year, day.month, day.day, 9, tzinfo=NY).astimezone(UTC)
    body = make_body(start=start, hours=3)
    body["recurrence"] = "FREQ=WEEKLY;COUNT=4"
    created = series.series_create(user=live_demo["orderer"], data=body)
    first_order = created.occurrences.order_by("recurrence_start")[0].order

    page = sign_in(browser, live_server, "orderer")
    page.goto(f"{live_server.url}/series/{created.series_id}/")
    expect(page.get_by_role("heading", name=f"Visit series {created.series_id}")).to_be_visible()
    expect(page.locator("#series-zone")).to_contain_text("America/New_York")
    rows = page.locator("#coming tbody tr")
    expect(rows).to_have_count(4)
    for i in range(4):
        expect(rows.nth(i).locator("td").first).to_contain_text(" 09:00 E")
        expect(rows.nth(i).locator("td").first).to_contain_text("(America/New_York)")
    expect(rows.nth(0).locator(".occurrence-status")).to_have_text("Waiting for the data centre")
    expect(rows.nth(3).locator(".occurrence-status")).to_have_text("Planned")
    assert audit(page, axe_source) == []
    no_json_path(page)
    shot(page, "series-page")

    # Each placed visit links to its order, whose page links back.
    rows.nth(0).get_by_role("link", name=first_order.order_id).click()
    expect(page.locator("#series-link")).to_contain_text(created.series_id)
    page.locator("#series-link").get_by_role("link", name=created.series_id).click()

    # Skip the first visit: its order is cancelled.
    rows.nth(0).get_by_role("button", name="Skip this visit").click()
    expect(page.get_by_text("The visit is skipped")).to_be_visible()
    expect(rows.nth(0).locator(".occurrence-status")).to_have_text("Cancelled")
    first_order.refresh_from_db()
    assert first_order.status == OrderStatus.CANCELLED

    # From the third visit on, 13:00 to 15:00.
    third = rows.nth(2)
    third.get_by_text("Change from here").click()
    local = created.occurrences.order_by("recurrence_start")[2].visit_start.astimezone(NY)
    third.get_by_label("New start").fill(local.replace(hour=13).strftime("%Y-%m-%dT%H:%M"))
    third.get_by_label("New end").fill(local.replace(hour=15).strftime("%Y-%m-%dT%H:%M"))
    third.get_by_role("button", name="Change this and later visits").click()
    expect(page.get_by_text("The series is changed from that visit on.")).to_be_visible()
    expect(rows.nth(2).locator("td").first).to_contain_text(" 13:00 E")
    expect(rows.nth(3).locator("td").first).to_contain_text(" 13:00 E")
    expect(rows.nth(1).locator("td").first).to_contain_text(" 09:00 E")

    # Cancel the rest.
    page.get_by_label("Why").fill("The racks moved to AM1.")
    page.get_by_role("button", name="Cancel the rest").click()
    expect(page.get_by_text("The rest of the series is cancelled.")).to_be_visible()
    expect(page.locator("#series-status")).to_contain_text("Cancelled")
    expect(page.get_by_role("button", name="Skip this visit")).to_have_count(0)
    assert VisitSeries.objects.get().status == SeriesStatus.CANCELLED
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.CANCELLED}
