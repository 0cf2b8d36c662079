"""In a real headless Chromium: the technical contact's time zone found by typing a city, with the
keyboard, its choice reaching the order (and Back after placing showing the placed order); the admin's
upstream call list fits a 1280 px laptop screen."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.test_browser_calendar import staff_page
from tests.test_browser_pages import audit, axe_source, sign_in  # noqa: F401 (fixtures)
from tests.test_browser_portal import browser, live_demo, shot  # noqa: F401 (fixtures)
from workvisits.models import Contact, Order, UpstreamCall

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS)),
]


def test_the_time_zone_is_found_by_typing_and_reaches_the_order(
    browser,  # noqa: F811
    live_server,
    live_demo,  # noqa: F811
    axe_source,  # noqa: F811
):
    page = sign_in(browser, live_server, "orderer")
    page.goto(f"{live_server.url}/new/?reset")
    page.get_by_label("IBX (data centre)").select_option("DC2")
    page.get_by_label("Cage DC2:01:123456").check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Step 2 of 6: Schedule")).to_be_visible()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Olivia Orderer (orderer)").check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Step 4 of 6: Contacts")).to_be_visible()

    zone = page.get_by_label("Time zone", exact=True)
    expect(zone).to_have_value("America/New_York")  # the IBX's, to start with
    assert zone.evaluate("el => el.tagName") == "SELECT"
    assert zone.locator("optgroup[label='Europe'] option[value='Europe/Amsterdam']").count() == 1
    assert audit(page, axe_source) == []
    finder = page.get_by_label("Find a time zone")
    finder.focus()
    page.keyboard.type("amsterdam")
    expect(zone).to_have_value("Europe/Amsterdam")
    expect(page.locator("#timezone-found")).to_contain_text("1 time zone matches: Europe/Amsterdam (UTC+0")
    page.keyboard.press("Enter")  # does not submit the step
    expect(page.get_by_role("heading", name="Step 4 of 6: Contacts")).to_be_visible()
    page.keyboard.press("Tab")  # on to the select itself; the arrow keys choose among the matches only
    assert page.evaluate("document.activeElement.name") == "contacts-timezone"
    finder.fill("kolkata")
    expect(zone).to_have_value("Asia/Kolkata")
    shot(page, "wizard-contacts-time-zone")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Description of the work").fill("Swap the failed power supply in cabinet 0101.")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name=re.compile("Step 6 of 6"))).to_be_visible()
    page.get_by_role("button", name="Place the order").click()
    expect(page).to_have_url(re.compile(r"/orders/WV-[0-9A-Z]+/placed/$"))
    placed = page.url
    page.go_back()  # Back after placing shows what was placed, not an emptied wizard
    expect(page).to_have_url(placed)
    order = Order.objects.get()
    assert Contact.objects.get(order=order, contact_type="TECHNICAL").timezone == "Asia/Kolkata"
    page.context.close()


def test_the_upstream_call_list_fits_1280_px(browser, live_server, live_demo):  # noqa: F811
    for n in range(3):
        UpstreamCall.objects.create(
            method="POST",
            url="https://api.example.test/colocations/v2/orders/workVisits?a-long-query=" + "x" * 200,
            status_code=500 if n else 201,
            duration_ms=120 + n,
            error="" if not n else "The upstream answered 500 Internal Server Error after " + "a long wait " * 10,
        )
    page = staff_page(browser, live_server, live_demo["operator"])
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/workvisits/upstreamcall/")
    expect(page.locator("td.field-status_code").first).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # Every column in view: the list does not scroll sideways inside its box either.
    shot(page, "admin-upstream-calls-1280")
    assert page.evaluate("(r => r.scrollWidth <= r.clientWidth)(document.querySelector('#changelist .results'))")
    last = page.locator("#result_list thead th").last
    expect(last).to_be_in_viewport()
    box = last.bounding_box()
    assert box["x"] + box["width"] <= 1280
    page.context.close()
