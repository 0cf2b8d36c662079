"""Headers and sessions: a Content-Security-Policy without inline scripts on every page, no-store on
personal answers, sessions that end after SESSION_IDLE_HOURS idle, /readyz detail for staff only."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.api_support import Api
from tests.test_web_wizard import LOCATION, management, schedule, step_url
from workvisits import services

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def _assert_no_inline_script(response) -> None:
    page = response.content.decode()
    inline = [m.group(0) for m in INLINE_SCRIPT.finditer(page) if 'type="application/json"' not in m.group(0)]
    assert inline == [], inline
    assert not INLINE_HANDLER.search(page), INLINE_HANDLER.search(page).group(0)


@pytest.fixture
def order(orderer, make_body):
    return services.order_create(user=orderer, data=make_body())


def test_every_customer_page_has_a_policy_without_inline_scripts(client, orderer, order):
    anonymous = client.get(reverse("login"))
    client.force_login(orderer)
    prefix = management(client)
    client.post(step_url("location"), {f"{prefix}-current_step": "location", **LOCATION})
    wizard_with_errors = client.post(
        step_url("schedule"), {f"{prefix}-current_step": "schedule", **schedule("2020-01-01T09:00", "2020-01-01T08:00")}
    )
    assert "error-summary" in wizard_with_errors.content.decode()
    pages = [
        anonymous,
        client.get(reverse("dashboard")),
        client.get(reverse("order_detail", kwargs={"order_id": order.order_id})),
        client.get(reverse("wizard"), follow=True),
        wizard_with_errors,
        client.get(reverse("password_reset")),
    ]
    for response in pages:
        policy = _policy(response)
        assert policy["script-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        _assert_no_inline_script(response)
    assert "/static/portal/wizard.js" in wizard_with_errors.content.decode()


def test_the_admin_and_the_api_docs_have_the_policy_too(client, users):
    client.force_login(users["admin"])
    for path in ("/admin/", "/admin/workvisits/order/", "/colocations/v2/docs", "/colocations/v2/redoc"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert _policy(response)["script-src"] == ["'self'"], path
        _assert_no_inline_script(response)


def test_signed_in_pages_are_not_stored_by_caches(client, orderer, order):
    client.force_login(orderer)
    for name, kwargs in (("dashboard", {}), ("order_detail", {"order_id": order.order_id})):
        assert "no-store" in client.get(reverse(name, kwargs=kwargs))["Cache-Control"]


def test_api_answers_with_personal_data_are_not_stored(orderer, order):
    api = Api(orderer)
    for path in (f"/colocations/v2/orders/{order.order_id}", "/colocations/v2/orders"):
        assert "no-store" in api.get(path)["Cache-Control"], path
    assert "no-store" not in Client().get("/colocations/v2/openapi.json").get("Cache-Control", "")


def test_a_session_ends_after_twelve_idle_hours_and_each_request_starts_the_period_again(client, orderer, settings):
    assert settings.SESSION_IDLE_HOURS == 12
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client.force_login(orderer)
        assert client.get(reverse("dashboard")).status_code == 200
        clock.shift(timedelta(hours=11))
        assert client.get(reverse("dashboard")).status_code == 200
        clock.shift(timedelta(hours=11))  # 22 hours after sign-in, 11 after the last request
        assert client.get(reverse("dashboard")).status_code == 200
        clock.shift(timedelta(hours=12))
        response = client.get(reverse("dashboard"))
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_the_idle_period_is_restarted_by_one_write_every_few_minutes_not_every_request(client, orderer, settings):
    from django.contrib.sessions.models import Session

    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client.force_login(orderer)
        client.get(reverse("dashboard"))
        expiry = Session.objects.get().expire_date
        clock.shift(timedelta(seconds=settings.SESSION_REFRESH_SECONDS - 1))
        client.get(reverse("dashboard"))
        assert Session.objects.get().expire_date == expiry  # no write
        clock.shift(timedelta(seconds=1))
        client.get(reverse("dashboard"))
        assert Session.objects.get().expire_date == expiry + timedelta(seconds=settings.SESSION_REFRESH_SECONDS)


def test_readyz_names_the_failing_check_without_detail_to_anonymous_callers(client, db, settings, users):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 503
    checks = anonymous.json()["checks"]
    assert checks["redis"] == "error" and checks["database"] == "ok"
    assert "127.0.0.1" not in anonymous.content.decode() and "Error" not in anonymous.content.decode()
    client.force_login(users["operator"])
    detailed = client.get("/readyz").json()["checks"]
    assert detailed["redis"].startswith("error: ") and len(detailed["redis"]) > len("error: ")
