"""The customer portal in a real headless Chromium against the live test server.

One browser for the module; each test signs in through the login page in a fresh context.
Screenshots of every wizard step are kept under var/screenshots/.
"""

import os
from datetime import timedelta
from importlib import import_module
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from workvisits import rules, services
from workvisits.models import Order

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    # Playwright runs the test where Django's connection lacks the serialized data, so serialized
    # rollback cannot work here; available_apps (all of them) keeps the closing flush from re-creating
    # content types under new ids, which broke the next serialized-rollback test on the same worker.
    pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS)),
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make between
    # browser steps are plain synchronous calls.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            yield chromium
            chromium.close()
    finally:  # also when the browser does not start: later tests in this process must not inherit it
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def live_demo(transactional_db):
    """The demo data in a database the live server sees; the staff roles (made by a migration) first,
    as a transactional test empties every table when it ends."""
    from django.apps import apps
    from django.core.management import call_command

    import_module("workvisits.migrations.0002_staff_roles").create_roles(apps, None)
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    from workvisits.models import User

    return {u.username: u for u in User.objects.all()}


def sign_in(browser, live_server, username, viewport=None, **context_options):
    """A fresh browser context signed in through the login page; the dashboard is showing."""
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900}, **context_options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"{username}-demo-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Work visits")).to_be_visible()
    return page


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_orderer_schedules_a_visit_from_sign_in_to_confirmation(browser, live_server, live_demo):
    page = sign_in(browser, live_server, "orderer")
    page.get_by_role("link", name="Schedule a work visit").click()

    # 1. Location: the IBX narrows the cages, the account narrows the cabinets (htmx).
    expect(page.get_by_role("heading", name="Step 1 of 6: Location")).to_be_visible()
    page.wait_for_load_state()  # the page's scripts run: choosing the IBX then loads its cages
    page.get_by_label("IBX (data centre)").select_option("AM1")
    expect(page.get_by_label("Cage AM1:02:200100")).to_be_visible()
    expect(page.get_by_text("is on credit hold: it cannot order")).to_be_visible()
    page.get_by_label("IBX (data centre)").select_option("DC2")
    expect(page.get_by_label("Cage DC2:01:123457")).to_be_visible()
    expect(page.get_by_label("Cage AM1:02:200100")).to_have_count(0)
    cabinet = page.locator("#id_location-cabinet_DC2_01_123457")
    expect(cabinet.locator("option")).to_have_count(1)  # no account chosen yet: no cabinets
    page.locator("#id_location-account_DC2_01_123457").select_option("1234567891")
    expect(cabinet.locator("option[value='DC2:01:123457:0201']")).to_have_count(1)
    page.locator("#id_location-account_DC2_01_123457").select_option("1234567890")
    expect(cabinet.locator("option[value='DC2:01:123457:0201']")).to_have_count(0)
    page.get_by_label("Cage DC2:01:123456").check()
    page.locator("#id_location-cabinet_DC2_01_123456").select_option("DC2:01:123456:0101")
    shot(page, "wizard-1-location")
    page.set_viewport_size(PHONE)
    shot(page, "wizard-1-location-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Next").click()

    # 2. Schedule: a 15-day visit is refused at the field, naming Security Access.
    expect(page.get_by_role("heading", name="Step 2 of 6: Schedule")).to_be_visible()
    expect(page.get_by_text("America/New_York").first).to_be_visible()
    day = (timezone.now() + timedelta(days=2)).astimezone(ZoneInfo("America/New_York")).date()
    page.get_by_label("Visit start").fill(f"{day.isoformat()}T09:00")
    page.get_by_label("Visit end").fill(f"{(day + timedelta(days=15)).isoformat()}T09:00")
    page.get_by_label("Visit end").blur()
    # The live check tells at once, before the step is sent (and its request is done when Next is clicked).
    expect(page.locator("#schedule-live-errors")).to_contain_text("Security Access")
    page.get_by_role("button", name="Next").click()
    end = page.get_by_label("Visit end")
    expect(end).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_schedule-end_error")).to_contain_text("request Security Access")
    assert "id_schedule-end_error" in end.get_attribute("aria-describedby")
    shot(page, "wizard-2-schedule-too-long")
    page.get_by_label("Visit end").fill(f"{day.isoformat()}T17:00")
    page.get_by_label("Visit end").dispatch_event("change")
    # The live check's answer clears the warning (moving the Next button up): wait for it before Next.
    expect(page.locator("#schedule-live-errors")).to_have_count(0)
    expect(page.locator("#schedule-fields.htmx-request")).to_have_count(0)
    expect(page.locator("#schedule-utc")).to_contain_text("UTC")
    shot(page, "wizard-2-schedule")
    page.get_by_role("button", name="Next").click()

    # 3. Visitors: a registered user and a person typed in; Back keeps both.
    expect(page.get_by_role("heading", name="Step 3 of 6: Visitors")).to_be_visible()
    expect(page.get_by_text("must bring a government-issued photo ID and be 18 or over")).to_be_visible()
    page.get_by_label("Tess Technician (technician)").check()
    page.get_by_label("First name").fill("Jane")
    page.get_by_label("Last name").fill("Doe")
    page.get_by_label("Company").fill("Contoso")
    page.get_by_label("Email", exact=True).fill("jane@contoso.example")
    page.get_by_role("button", name="+ Add a person").click()
    expect(page.get_by_role("heading", name="Person 2")).to_be_visible()
    page.get_by_role("button", name="Remove person 2").click()
    expect(page.get_by_role("heading", name="Person 2")).to_have_count(0)
    shot(page, "wizard-3-visitors")
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_role("heading", name="Step 2 of 6: Schedule")).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("First name")).to_have_value("Jane")
    expect(page.get_by_label("Tess Technician (technician)")).to_be_checked()
    page.get_by_role("button", name="Next").click()

    # 4. Contacts: the defaults will do.
    expect(page.get_by_role("heading", name="Step 4 of 6: Contacts")).to_be_visible()
    page.get_by_label("Someone else (type in)").check()
    expect(page.get_by_label("Email", exact=True)).to_be_visible()
    page.get_by_label("Me (Olivia Orderer)").check()
    expect(page.get_by_label("Email", exact=True)).to_be_hidden()
    shot(page, "wizard-4-contacts")
    page.get_by_role("button", name="Next").click()

    # 5. Details: the live counter, the purchase-order fields of each type, an attachment checked first here.
    expect(page.get_by_role("heading", name="Step 5 of 6: Details")).to_be_visible()
    page.get_by_label("Description of the work").fill("Swap")
    expect(page.locator("#description-count")).to_contain_text("4 / 4000 characters (at least 10)")
    page.get_by_label("Description of the work").fill("Swap the failed power supply in cabinet 0101.")
    expect(page.locator("#description-count")).to_have_text("45 / 4000 characters")
    expect(page.get_by_label("Purchase order number")).to_be_hidden()
    page.get_by_label("Purchase order", exact=True).select_option("EXISTING")
    expect(page.get_by_label("Purchase order number")).to_be_visible()
    page.get_by_label("Purchase order number").fill("PO-1234")
    page.set_input_files(
        "#attachment-input", files=[{"name": "virus.exe", "mimeType": "application/octet-stream", "buffer": b"MZ"}]
    )
    expect(page.locator("#attachment-errors")).to_contain_text(".exe files are not accepted")
    page.set_input_files(
        "#attachment-input", files=[{"name": "rack.txt", "mimeType": "text/plain", "buffer": b"Rack U12-U14"}]
    )
    expect(page.locator("#attachment-list")).to_contain_text("rack.txt")
    shot(page, "wizard-5-details")
    page.get_by_role("button", name="Next").click()

    # 6. Review and place.
    expect(page.get_by_role("heading", name="Step 6 of 6: Review")).to_be_visible()
    expect(page.get_by_text("Jane Doe · Contoso · jane@contoso.example")).to_be_visible()
    expect(page.get_by_text("rack.txt")).to_be_visible()
    shot(page, "wizard-6-review")
    page.set_viewport_size(PHONE)
    shot(page, "wizard-6-review-phone")
    page.get_by_role("button", name="Place the order").click()

    expect(page.get_by_role("heading", name="placed")).to_be_visible()
    order = Order.objects.get()
    expect(page.locator("#order-id")).to_have_text(order.order_id)
    shot(page, "wizard-7-confirmation")
    assert order.po_number == "PO-1234" and [a.name for a in order.attachments.all()] == ["rack.txt"]
    assert sorted(v.name for v in order.visitors.all()) == ["Jane Doe", "Tess Technician"]
    page.context.close()


def test_viewer_is_turned_away_from_the_wizard(browser, live_server, live_demo):
    page = sign_in(browser, live_server, "viewer", viewport=PHONE)
    expect(page.get_by_text("You may view work visits but not order them.")).to_be_visible()
    page.goto(f"{live_server.url}/new/")
    expect(page.get_by_role("heading", name="You cannot do this")).to_be_visible()
    expect(page.get_by_text("do not hold the work-visit ordering permission")).to_be_visible()
    expect(page.get_by_text("the data centre staff")).to_be_visible()
    shot(page, "viewer-403-phone")
    page.context.close()


def test_reschedule_and_cancel_from_the_order_page(browser, live_server, live_demo, make_body):
    order = services.order_create(user=live_demo["orderer"], data=make_body())
    page = sign_in(browser, live_server, "orderer")
    shot(page, "dashboard")
    page.get_by_role("link", name=order.order_id).click()
    expect(page.get_by_role("heading", name=f"Work visit {order.order_id}")).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("Order placed")

    page.get_by_text("Reschedule or open the cabinet").click()
    start = order.visit_start.astimezone(order.ibx.zone)
    too_late = (start + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("New visit end").fill(too_late)
    page.get_by_role("button", name="Save the change").click()
    expect(page.locator("#id_end_error")).to_contain_text(" ".join(rules.SECURITY_ACCESS_HINT.split()[:6]))
    new_end = (start + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("New visit end").fill(new_end)
    page.get_by_label("Open the cabinet for the visitors").check()
    page.get_by_role("button", name="Save the change").click()
    expect(page.get_by_text("The visit has been changed.")).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("Visit rescheduled")
    shot(page, "order-rescheduled")
    order.refresh_from_db()
    assert order.visit_end - order.visit_start == timedelta(hours=6) and order.open_cabinet

    page.get_by_text("Cancel the visit").click()
    page.get_by_label("Why cancel?").fill("The supplier delivers next month.")
    page.get_by_role("button", name="Cancel the work visit").click()
    expect(page.locator("#id_confirm_error")).to_contain_text("Tick the box")
    page.get_by_label("Why cancel?").fill("The supplier delivers next month.")
    page.get_by_label("Yes, cancel this work visit").check()
    page.get_by_role("button", name="Cancel the work visit").click()
    expect(page.get_by_text(f"Work visit {order.order_id} has been cancelled.")).to_be_visible()
    expect(page.locator("#order-status")).to_contain_text("Cancelled")
    expect(page.locator("#timeline")).to_contain_text("The supplier delivers next month.")
    shot(page, "order-cancelled")
    page.context.close()
