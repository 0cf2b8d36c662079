"""What customers, visitors and reviewers see, in a real headless Chromium: the order page moving by
itself, its grouped timeline and calendar file, wizard errors in words, several visitors pasted at
once, Schedule again, the dashboard on a phone, the axe-core audit of every page, the admin at 1280 px."""

import re
import subprocess
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone
from icalendar import Calendar
from playwright.sync_api import expect

from tests.orders_support import order_with_a_typed_visitor
from tests.test_browser_portal import PHONE, browser, live_demo, shot  # noqa: F401 (fixtures)
from tests.test_browser_portal import sign_in as portal_sign_in
from tests.test_web_messages import JSON_PATH
from workvisits import notifications, services
from workvisits.models import Order

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS)),
]

AXE = Path(settings.BASE_DIR) / "var" / "node" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def axe_source():
    """axe-core from the npm registry, installed into var/node by `make install-dev` (or here, once)."""
    if not AXE.exists():
        subprocess.run(  # noqa: S603
            ["npm", "install", "--prefix", str(AXE.parents[2]), "--no-audit", "--no-fund", "axe-core@4"],  # noqa: S607
            check=True,
            capture_output=True,
            timeout=300,
        )
    return AXE.read_text()


def sign_in(browser, live_server, username, viewport=None):  # noqa: F811
    # bypass_csp: the audit's script is put into the page by the test, not served by the portal.
    return portal_sign_in(browser, live_server, username, viewport, bypass_csp=True, accept_downloads=True)


def no_json_path(page):
    text = page.locator("body").inner_text()
    found = JSON_PATH.search(text)
    assert not found, f"{found.group(0)} shown on {page.url}"


def audit(page, axe_source):
    """Serious and critical axe-core violations of the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    return [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in bad]


def test_the_order_page_follows_the_order_by_itself_and_hands_out_its_calendar_file(
    browser,  # noqa: F811
    live_server,
    live_demo,  # noqa: F811
    make_body,  # noqa: F811
):
    order = order_with_a_typed_visitor(live_demo["orderer"], make_body)
    notifications.notify_order(order.pk)
    page = sign_in(browser, live_server, "orderer")
    page.goto(f"{live_server.url}/orders/{order.order_id}/")
    expect(page.locator("#order-status")).to_contain_text("Waiting for the data centre")
    entry = page.locator("#timeline details").first
    expect(entry.locator("summary")).to_have_text("Received: emailed to 2 people")
    expect(entry.get_by_text("vera@fixit.example")).to_be_hidden()
    entry.locator("summary").click()
    expect(entry.get_by_text("vera@fixit.example · with a calendar invite")).to_be_visible()

    # The data centre accepts: the page shows it without a reload by the person.
    services.order_change_status(
        order_pk=order.pk,
        to_status="SUBMITTED",
        from_statuses={"QUEUED"},
        note="Accepted by the data centre as order 1-4242.",
        upstream_order_id="1-4242",
    )
    expect(page.locator("#order-status")).to_contain_text("Submitted", timeout=30_000)
    expect(page.locator("#upstream-order-id")).to_have_text("1-4242")
    expect(page.locator("#order-live")).to_have_attribute("data-moving", "false")  # and it stopped asking
    shot(page, "order-live-submitted")

    with page.expect_download() as download:
        page.get_by_role("link", name="Add to calendar").click()
    event = Calendar.from_ical(Path(download.value.path()).read_bytes()).walk("VEVENT")[0]
    assert event["status"] == "CONFIRMED" and str(event["dtstart"].params["TZID"]) == "America/New_York"
    assert str(event["uid"]) == f"{order.submission_key}@workvisits"
    page.context.close()


def test_wizard_errors_are_words_five_pasted_visitors_are_checked_row_by_row_and_schedule_again(
    browser,  # noqa: F811
    live_server,
    live_demo,  # noqa: F811
    make_body,  # noqa: F811
):
    page = sign_in(browser, live_server, "orderer")
    page.get_by_role("link", name="Schedule a work visit").click()
    page.wait_for_load_state()  # the page's scripts run: choosing the IBX then loads its cages
    page.get_by_label("IBX (data centre)").select_option("AM1")
    page.get_by_label("Cage AM1:02:200101").check()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#id_location-account_AM1_02_200101_error")).to_contain_text(
        "Cage AM1:02:200101: account 2000000002 is on credit hold"
    )
    no_json_path(page)
    page.reload()  # a reload keeps what was typed and its error
    expect(page.get_by_label("Cage AM1:02:200101")).to_be_checked()
    no_json_path(page)
    page.get_by_label("Cage AM1:02:200101").uncheck()
    page.get_by_label("Cage AM1:02:200100").check()
    page.get_by_role("button", name="Next").click()

    # Schedule: the defaults are shown in UTC too; a refused start is cleared once the live check passes.
    expect(page.locator("#schedule-utc")).to_contain_text("UTC")
    day = (timezone.now() - timedelta(days=1)).astimezone(ZoneInfo("Europe/Amsterdam")).date()
    page.get_by_label("Visit start").fill(f"{day.isoformat()}T09:00")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#id_schedule-start_error")).to_contain_text("The visit start is in the past")
    no_json_path(page)
    later = day + timedelta(days=3)
    page.get_by_label("Visit start").fill(f"{later.isoformat()}T09:00")
    page.get_by_label("Visit end").fill(f"{later.isoformat()}T17:00")
    page.get_by_label("Visit end").dispatch_event("change")
    expect(page.locator("#id_schedule-start_error")).to_have_count(0)
    expect(page.get_by_label("Visit start")).not_to_have_attribute("aria-invalid", "true")
    # The first live check (sent when the start lost focus) saw the old end and warned; wait for the
    # last one to clear that warning, so the Next button no longer moves while it is clicked.
    expect(page.locator("#schedule-live-errors")).to_have_count(0)
    expect(page.locator("#schedule-fields.htmx-request")).to_have_count(0)
    page.get_by_role("button", name="Next").click()

    # Visitors: five rows pasted from a spreadsheet, one with two addresses in its email.
    page.get_by_text("Add several people at once").click()
    rows = "\n".join(
        "\t".join(cells)
        for cells in [
            ("First name", "Last name", "Company", "Email", "Phone"),
            ("Ann", "Alpha", "Contoso", "ann@contoso.example", ""),
            ("Ben", "Beta", "Contoso", "x,victim@corp.example", ""),
            ("Cat", "Gamma", "Contoso", "", "+31 20 555 0100"),
            ("Dan", "Delta", "Contoso", "dan@contoso.example", ""),
            ("Eve", "Epsilon", "Contoso", "eve@contoso.example", "+31 20 555 0101"),
        ]
    )
    page.get_by_label("Rows to add").fill(rows)
    page.get_by_role("button", name="Add these people").click()
    # Checked at once, before Next: the bad row says what is wrong, the others are fine.
    expect(page.locator("#paste-status")).to_have_text("1 of 5 people needs a correction: Person 2 (Ben Beta).")
    expect(page.locator("[data-row]")).to_have_count(5)
    expect(page.locator("#id_visitors-1-email_error")).to_contain_text(
        "The email of Person 2 (Ben Beta) is not an email address"
    )
    expect(page.locator(".invalid-feedback")).to_have_count(1)
    no_json_path(page)
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#id_visitors-1-email_error")).to_contain_text(
        "The email of Person 2 (Ben Beta) is not an email address"
    )
    expect(page.locator(".invalid-feedback")).to_have_count(1)  # the other four rows are fine
    no_json_path(page)
    shot(page, "wizard-paste-one-bad-row")
    page.context.close()

    order = order_with_a_typed_visitor(live_demo["orderer"], make_body)
    page = sign_in(browser, live_server, "orderer")
    page.goto(f"{live_server.url}/orders/{order.order_id}/")
    page.get_by_role("link", name="Schedule again").first.click()
    expect(page.get_by_role("heading", name="Step 2 of 6: Schedule")).to_be_visible()
    expect(page.get_by_text(f"A new work visit like {order.order_id}")).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("[name='visitors-0-first_name']")).to_have_value("Vera")
    page.context.close()


def test_every_customer_page_passes_the_audit_and_the_dashboard_fits_a_phone(
    browser,  # noqa: F811
    live_server,
    live_demo,  # noqa: F811
    make_body,
    axe_source,  # noqa: F811
):
    order = order_with_a_typed_visitor(live_demo["orderer"], make_body)
    notifications.notify_order(order.pk)
    page = sign_in(browser, live_server, "orderer", viewport=PHONE)
    card = page.locator(".order-table tbody tr").first
    for label in ("Visit", "Visitors", "Status"):
        expect(card.locator(f"td[data-label='{label}']")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "dashboard-phone")

    problems = {}
    pages = ["/", f"/orders/{order.order_id}/", f"/orders/{order.order_id}/placed/", "/calendar/", "/orders/WV-NONE/"]
    for path in pages:
        page.goto(f"{live_server.url}{path}")
        problems[path] = audit(page, axe_source)
    # The wizard, step by step, with its errors showing.
    page.goto(f"{live_server.url}/new/?reset")
    for step in ("location", "schedule", "visitors", "contacts", "details", "review"):
        expect(page.locator("#step-heading")).to_be_visible()
        problems[f"wizard {step}"] = audit(page, axe_source)
        if step == "location":
            page.get_by_label("IBX (data centre)").select_option("DC2")
            page.get_by_role("button", name="Next").click()
            problems["wizard location with an error"] = audit(page, axe_source)
            page.get_by_label("Cage DC2:01:123456").check()
        if step == "visitors":
            page.get_by_label("Olivia Orderer (orderer)").check()
        if step == "details":
            page.get_by_label("Description of the work").fill("Swap the failed power supply in cabinet 0101.")
        if step != "review":
            page.get_by_role("button", name="Next").click()
    page.context.close()
    context = browser.new_context(bypass_csp=True)
    login = context.new_page()
    login.goto(f"{live_server.url}/login/")
    problems["sign in"] = audit(login, axe_source)
    context.close()
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}


def test_the_wizard_can_be_used_with_the_keyboard_alone(browser, live_server, live_demo):  # noqa: F811
    page = sign_in(browser, live_server, "orderer")
    page.goto(f"{live_server.url}/new/?reset")
    page.locator("#id_location-ibx").focus()
    page.keyboard.type("DC2")  # type-ahead picks the option, as a keyboard user would
    page.keyboard.press("Tab")
    expect(page.get_by_label("Cage DC2:01:123456")).to_be_visible()
    for _ in range(30):  # Tab until the first cage's checkbox has the focus, then tick it with Space
        if page.evaluate("document.activeElement.id") == "cage-DC2_01_123456":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Space")
    expect(page.get_by_label("Cage DC2:01:123456")).to_be_checked()
    page.locator("#next-button").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Step 2 of 6: Schedule")).to_be_visible()
    page.context.close()


def test_the_admin_order_list_fits_1280_px_with_the_status_in_view(browser, live_server, live_demo, make_body):  # noqa: F811
    for _ in range(3):
        order_with_a_typed_visitor(live_demo["orderer"], make_body)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/workvisits/order/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("admin-demo-pass")
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    header = page.locator("th.column-status")
    expect(header).to_be_in_viewport()
    box = header.bounding_box()
    assert box["x"] + box["width"] <= 1280
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.locator("td.field-status").first).to_be_in_viewport()
    shot(page, "admin-orders-1280")
    assert Order.objects.count() == 3
    context.close()
