"""A reviewer's first and second sign-in to the admin with the second factor, in a real headless Chromium
under the portal's real Content-Security-Policy: the QR code shows, the app's code and a recovery code
let them in, and without one the admin stays closed."""

import pytest
from django.conf import settings
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from tests.test_browser_portal import browser, live_demo, shot  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS)),
]


def admin_sign_in(browser, live_server):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # the real CSP applies
    context.set_default_timeout(15_000)
    page = context.new_page()
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Username").fill("reviewer")
    page.get_by_label("Password").fill("reviewer-demo-pass")
    page.get_by_role("button", name="Log in").click()
    return page, refused


def test_a_reviewer_enrols_on_first_sign_in_and_gives_a_code_on_the_next(browser, live_server, live_demo, settings):  # noqa: F811
    settings.STAFF_MFA_REQUIRED = True
    page, refused = admin_sign_in(browser, live_server)
    expect(page.get_by_role("heading", name="Set up a second sign-in factor")).to_be_visible()
    picture = page.get_by_role("img", name="QR code of your sign-in key")
    expect(picture).to_be_visible()
    assert page.evaluate("document.getElementById('mfa-qr').naturalWidth") > 0  # drawn, not blocked
    shot(page, "mfa-enrolment")

    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("That code is wrong or has expired")).to_be_visible()
    page.goto(f"{live_server.url}/admin/workvisits/order/")  # still closed
    expect(page.get_by_role("heading", name="Set up a second sign-in factor")).to_be_visible()

    device = TOTPDevice.objects.get(user=live_demo["reviewer"])
    device.throttle_reset()  # (the wrong code made the device wait a second)
    page.get_by_label("Code").fill(
        str(TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()).zfill(6)
    )
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="Continue").click()
    expect(page.get_by_role("link", name="Orders", exact=True)).to_be_visible()  # the admin, at last
    assert refused == []

    second, refused = admin_sign_in(browser, live_server)
    expect(second.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    second.get_by_label("Code").fill(codes[0])
    second.get_by_role("button", name="Continue").click()
    expect(second.get_by_role("link", name="Orders", exact=True)).to_be_visible()
    assert refused == []
