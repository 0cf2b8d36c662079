"""Staff sign in with a second factor (TOTP) to use the admin: enrolment with a QR code on first sign-in,
recovery codes that work once, every admin page guarded; customers may opt in; always on with HTTPS=true."""

import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.test_deploy import PRODUCTION, _manage

pytestmark = pytest.mark.django_db
PASSWORDS = {"reviewer": "reviewer-demo-pass", "operator": "operator-demo-pass", "orderer": "orderer-demo-pass"}


@pytest.fixture
def required(settings):
    settings.STAFF_MFA_REQUIRED = True


def sign_in(username: str, next_url: str = "/admin/") -> Client:
    """A new browser session signed in with the password, through the admin's sign-in form."""
    client = Client()
    response = client.post(
        reverse("admin:login"), {"username": username, "password": PASSWORDS[username], "next": next_url}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return client


@contextmanager
def later(minutes: int = 1):
    """A little later: django-otp makes a device wait (1 s, 2 s, 4 s ...) after each wrong code."""
    with time_machine.travel(timezone.now() + timedelta(minutes=minutes), tick=False):
        yield


def app_code(user) -> str:
    """What the user's authenticator app shows now."""
    device = TOTPDevice.objects.get(user=user)
    token = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    return str(token).zfill(device.digits)  # (a number: its leading zeros are part of the code)


def field_error(response) -> str:
    page = response.content.decode()
    found = re.search(r'id="error_1_id_code"[^>]*>(.*?)</', page, re.S) or re.search(
        r'class="invalid-feedback"[^>]*>(.*?)</', page, re.S
    )
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else ""


def enrol(client, user) -> list[str]:
    page = client.get(reverse("mfa_setup"))
    assert page.status_code == 200
    wrong = client.post(reverse("mfa_setup"), {"code": "000000", "next": "/admin/"})
    assert wrong.status_code == 200 and "That code is wrong or has expired" in field_error(wrong)
    with later():
        done = client.post(reverse("mfa_setup"), {"code": app_code(user), "next": "/admin/"})
    assert done.status_code == 200
    return re.findall(r"<li>([a-z0-9]+)</li>", done.content.decode())


def admin_pages() -> list[str]:
    pages = [reverse("admin:index")]
    for model in apps.get_models():
        if admin.site.is_registered(model):
            try:
                pages.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
            except NoReverseMatch:
                continue
    return pages


def test_staff_without_a_factor_enrol_before_any_admin_page(required, users):
    client = sign_in("reviewer")
    pages = admin_pages()
    assert len(pages) > 10
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response.url.startswith(reverse("mfa_setup") + "?next="), (page, response.url)
    # A change sent to the admin without the factor is refused, not carried out.
    assert client.post(reverse("admin:workvisits_order_changelist"), {"action": "x"}).status_code == 403

    setup = client.get(reverse("mfa_setup") + "?next=/admin/").content.decode()
    assert 'src="data:image/svg+xml' in setup  # the QR code, an image the CSP allows
    assert re.search(r'id="mfa-secret"[^>]*>([A-Z2-7 ]{20,})<', setup)
    codes = enrol(client, users["reviewer"])
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:workvisits_order_changelist")).status_code == 200


def test_a_new_sign_in_asks_for_the_code_and_a_recovery_code_works_once(required, users):
    codes = enrol(sign_in("operator"), users["operator"])

    client = sign_in("operator", next_url="/admin/workvisits/order/")
    response = client.get("/admin/workvisits/order/")
    assert response.status_code == 302 and response.url.startswith(reverse("mfa_verify"))
    assert client.get(response.url).status_code == 200
    wrong = client.post(reverse("mfa_verify"), {"code": "12345678", "next": "/admin/workvisits/order/"})
    assert wrong.status_code == 200 and "recovery codes" in field_error(wrong)
    assert client.get("/admin/").status_code == 302  # still not through
    hurried = client.post(reverse("mfa_verify"), {"code": codes[0], "next": "/admin/workvisits/order/"})
    assert "Too many wrong codes" in field_error(hurried)  # even a right code waits after a wrong one
    with later(2):
        used = client.post(reverse("mfa_verify"), {"code": codes[0], "next": "/admin/workvisits/order/"})
    assert used.status_code == 302 and used.url == "/admin/workvisits/order/"
    assert client.get("/admin/workvisits/order/").status_code == 200

    again = sign_in("operator")
    assert again.post(reverse("mfa_verify"), {"code": codes[0]}).status_code == 200  # used up
    assert again.get("/admin/").status_code == 302
    with later(3):
        assert again.post(reverse("mfa_verify"), {"code": app_code(users["operator"])}).status_code == 302
    assert again.get("/admin/").status_code == 200


def test_new_recovery_codes_replace_the_old_ones(required, users):
    client = sign_in("reviewer")
    old = enrol(client, users["reviewer"])
    response = client.post(reverse("mfa_recovery_codes"))
    new = re.findall(r"<li>([a-z0-9]+)</li>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    other = sign_in("reviewer")
    assert other.post(reverse("mfa_verify"), {"code": old[1]}).status_code == 200  # refused
    with later(2):
        assert other.post(reverse("mfa_verify"), {"code": new[1]}).status_code == 302


def test_without_the_requirement_staff_use_the_admin_with_the_password_alone(settings, users):
    settings.STAFF_MFA_REQUIRED = False
    assert sign_in("reviewer").get(reverse("admin:index")).status_code == 200


def test_a_customer_who_opts_in_is_asked_for_the_code_on_every_new_sign_in(required, users):
    first = Client()
    first.force_login(users["orderer"])
    assert first.get(reverse("dashboard")).status_code == 200  # customers are not made to enrol
    enrol(first, users["orderer"])

    client = Client()
    assert client.post(reverse("login"), {"username": "orderer", "password": PASSWORDS["orderer"]}).status_code == 302
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and response.url.startswith(reverse("mfa_verify"))
    assert client.post(reverse("wizard")).status_code == 403
    with later(2):
        assert client.post(reverse("mfa_verify"), {"code": app_code(users["orderer"])}).status_code == 302
        assert client.get(reverse("dashboard")).status_code == 200


def test_with_https_the_requirement_is_on_and_cannot_be_switched_off():
    script = "from django.conf import settings; print(settings.STAFF_MFA_REQUIRED)"
    result = _manage("shell", "-c", script, **PRODUCTION, STAFF_MFA_REQUIRED="false")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"
    result = _manage("shell", "-c", script, **{**PRODUCTION, "HTTPS": "false"})
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_a_factor_an_administrator_removed_is_no_longer_asked_for(required, users):
    client = Client()
    assert client.post(reverse("login"), {"username": "orderer", "password": PASSWORDS["orderer"]}).status_code == 302
    enrol(client, users["orderer"])
    later_session = Client()
    later_session.post(reverse("login"), {"username": "orderer", "password": PASSWORDS["orderer"]})
    assert later_session.get(reverse("dashboard")).url.startswith(reverse("mfa_verify"))
    TOTPDevice.objects.filter(user=users["orderer"]).delete()  # the phone was lost; the admin removed it
    StaticDevice.objects.filter(user=users["orderer"]).delete()
    response = later_session.get(reverse("dashboard"), follow=True)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == reverse("dashboard")
