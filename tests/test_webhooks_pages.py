"""The webhooks pages in a real browser (an organization's admin registers an endpoint, sees its secret
once, a refused URL in words, the deliveries and sends one again; no serious accessibility fault), who
else may open them, and the staff's view and re-send in the admin."""

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse
from playwright.sync_api import expect

from tests.test_browser_pages import audit, axe_source, no_json_path, sign_in  # noqa: F401 (fixtures)
from tests.test_browser_portal import browser, live_demo  # noqa: F401 (fixtures)
from tests.webhooks_support import make_webhook_admin
from workvisits import services, webhooks
from workvisits.models import WebhookDelivery, WebhookEndpoint

PUBLIC_URL = "https://93.184.215.14/hooks/work-visits"


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
@pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS))
def test_an_admin_registers_an_endpoint_and_sends_a_delivery_again_in_the_browser(
    browser,  # noqa: F811
    live_server,
    live_demo,  # noqa: F811
    axe_source,  # noqa: F811
    make_body,
):
    admin = make_webhook_admin(live_demo["orderer"])
    page = sign_in(browser, live_server, "orderer")
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks of Acme Corp")).to_be_visible()
    assert audit(page, axe_source) == []

    # A loopback target is refused, in words, at the field.
    page.get_by_label("URL").fill("https://127.0.0.1/hook")
    page.get_by_role("button", name="Register the endpoint").click()
    expect(page.get_by_text("127.0.0.1 is a loopback address")).to_be_visible()
    no_json_path(page)
    assert not WebhookEndpoint.objects.exists()

    page.get_by_label("URL").fill(PUBLIC_URL)
    page.get_by_label("Order changed").uncheck()
    page.get_by_role("button", name="Register the endpoint").click()
    secret = page.get_by_label("Signing secret").input_value()
    endpoint = WebhookEndpoint.objects.get()
    assert secret == webhooks.endpoint_secret(endpoint) and "order.modified" not in endpoint.events
    # Shown once: the list does not show it again.
    page.reload()
    expect(page.get_by_label("Signing secret")).to_have_count(0)
    assert secret not in page.content()

    order = services.order_create(user=admin, data=make_body())
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="FAILED", attempts=30, last_error="It was down.")
    page.get_by_role("link", name=PUBLIC_URL).click()
    row = page.get_by_role("row").filter(has_text=order.order_id)
    expect(row).to_contain_text("Order placed")
    expect(row).to_contain_text("It was down.")
    assert audit(page, axe_source) == []
    row.get_by_role("button", name="Send again").click()
    expect(page.get_by_text(f"The order placed event of {order.order_id} is sent again.")).to_be_visible()
    delivery.refresh_from_db()
    assert delivery.status == "PENDING" and delivery.attempts == 0

    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_text("The endpoint is disabled.")).to_be_visible()
    endpoint.refresh_from_db()
    assert not endpoint.active


def test_only_the_organizations_admins_open_the_pages(client, users, orderer, viewer, globex, settings):
    admin = make_webhook_admin(orderer)
    endpoint, _ = webhooks.endpoint_create(user=admin, url=PUBLIC_URL, events=["order.placed"])
    detail = reverse("webhook_detail", args=[endpoint.endpoint_id])

    client.force_login(viewer)  # same organization, no permission
    assert client.get(reverse("webhooks")).status_code == 403
    assert client.post(reverse("webhooks"), {"url": PUBLIC_URL, "events": ["order.placed"]}).status_code == 403
    assert client.get(detail).status_code == 403

    client.force_login(make_webhook_admin(globex))  # another organization's admin
    assert client.get(detail).status_code == 404
    assert client.post(reverse("webhook_delete", args=[endpoint.endpoint_id])).status_code == 404
    assert client.post(reverse("webhook_active", args=[endpoint.endpoint_id]), {"active": "false"}).status_code == 404
    assert PUBLIC_URL not in client.get(reverse("webhooks")).content.decode()
    endpoint.refresh_from_db()
    assert endpoint.active


def test_staff_see_deliveries_in_the_admin_and_operators_send_one_again(client, users, orderer, make_body):
    admin = make_webhook_admin(orderer)
    webhooks.endpoint_create(user=admin, url=PUBLIC_URL, events=["order.placed"])
    order = services.order_create(user=admin, data=make_body())
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="FAILED", attempts=30)

    operator = users["operator"]
    assert Group.objects.get(name="Operators") in operator.groups.all()
    client.force_login(operator)
    listing = client.get(reverse("admin:workvisits_webhookdelivery_changelist"))
    assert listing.status_code == 200 and order.order_id in listing.content.decode()
    page = client.get(reverse("admin:workvisits_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200 and str(delivery.delivery_id) in page.content.decode()
    response = client.post(
        reverse("admin:workvisits_webhookdelivery_changelist"),
        {"action": "resend_deliveries", "index": 0, "_selected_action": [delivery.pk]},
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == "PENDING" and delivery.attempts == 0
    assert client.get(reverse("admin:workvisits_webhookendpoint_changelist")).status_code == 200

    # A reviewer sees neither (webhooks are not part of reviewing orders).
    client.force_login(users["reviewer"])
    assert client.get(reverse("admin:workvisits_webhookdelivery_changelist")).status_code == 403
