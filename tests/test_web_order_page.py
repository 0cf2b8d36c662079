"""The order page: what it shows, who may see it, and the changes it allows."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.test_api_create import _big_body
from workvisits import services
from workvisits.choices import EventKind
from workvisits.models import Order


@pytest.fixture
def order(orderer, make_body):
    return services.order_create(user=orderer, data=make_body())


@pytest.fixture
def signed_in(client, orderer):
    client.force_login(orderer)
    return client


def url(name, order, **kwargs):
    return reverse(name, kwargs={"order_id": order.order_id, **kwargs})


def local_input(value, order):
    return value.astimezone(order.ibx.zone).strftime("%Y-%m-%dT%H:%M")


def test_the_page_shows_the_timeline_in_the_ibx_zone_and_the_parts(signed_in, order):
    services.record_event(order=order, kind=EventKind.NOTE, note="A note from the data centre.")
    page = signed_in.get(url("order_detail", order)).content.decode()
    assert "Order placed" in page and "A note from the data centre." in page
    local = order.created_at.astimezone(order.ibx.zone)
    assert local.strftime("%H:%M") in page and local.tzname() in page and "America/New_York" in page
    assert "DC2:01:123456:0101" in page and "Olivia Orderer" in page
    assert "Not yet known" in page


def test_upstream_order_id_is_shown_once_known(signed_in, order):
    Order.objects.filter(pk=order.pk).update(upstream_order_id="1-99887766")
    assert "1-99887766" in signed_in.get(url("order_detail", order)).content.decode()


def test_another_organizations_order_is_a_404(client, globex, order):
    client.force_login(globex)
    assert client.get(url("order_detail", order)).status_code == 404
    response = client.post(url("order_cancel", order), {"reason": "Not ours at all.", "confirm": "on"})
    assert response.status_code == 404
    assert Order.objects.get(pk=order.pk).is_open


def test_unknown_order_is_a_404_in_the_portals_look(signed_in, demo):
    response = signed_in.get(reverse("order_detail", kwargs={"order_id": "WV-NOSUCHONE"}))
    assert response.status_code == 404


def test_reschedule_through_the_modify_rules(signed_in, order):
    start = (order.visit_start + timedelta(days=1)).replace(second=0)
    response = signed_in.post(
        url("order_reschedule", order),
        {
            "start": local_input(start, order),
            "end": local_input(start + timedelta(hours=2), order),
            "open_cabinet": "on",
            "version": order.version,
        },
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.visit_start == start and order.visit_end == start + timedelta(hours=2) and order.open_cabinet
    page = signed_in.get(url("order_detail", order)).content.decode()
    assert "The visit has been changed." in page and "Visit rescheduled" in page


def test_a_too_long_visit_is_refused_at_the_field(signed_in, order):
    response = signed_in.post(
        url("order_reschedule", order),
        {
            "start": local_input(order.visit_start, order),
            "end": local_input(order.visit_start + timedelta(days=15), order),
            "version": order.version,
        },
    )
    assert response.status_code == 400
    assert "Security Access" in str(response.context["reschedule_form"].errors["end"])


def test_a_stale_version_is_a_clear_conflict(signed_in, order):
    response = signed_in.post(
        url("order_reschedule", order),
        {
            "start": local_input(order.visit_start, order),
            "end": local_input(order.visit_end + timedelta(hours=1), order),
            "version": order.version - 1 if order.version > 1 else order.version + 5,
        },
        follow=True,
    )
    assert "has changed since you read it" in response.content.decode()


def test_add_a_notification_contact(signed_in, order):
    response = signed_in.post(url("order_add_notification", order), {"username": "viewer", "version": order.version})
    assert response.status_code == 302
    assert order.contacts.filter(contact_type="NOTIFICATION", user__username="viewer").exists()


def test_cancel_needs_a_reason_and_a_confirmation(signed_in, order):
    response = signed_in.post(url("order_cancel", order), {"reason": "no"})
    assert response.status_code == 400
    form = response.context["cancel_form"]
    assert "reason must be 5 to 4000 characters long" in str(form.errors["reason"])
    assert "Tick the box" in str(form.errors["confirm"])
    response = signed_in.post(url("order_cancel", order), {"reason": "Plans changed.", "confirm": "on"}, follow=True)
    order.refresh_from_db()
    assert order.status == "CANCELLED"
    page = response.content.decode()
    assert "has been cancelled" in page and "can no longer be changed" in page and "Plans changed." in page


def test_cancelling_a_closed_order_again_is_a_clear_conflict(signed_in, orderer, order):
    services.order_cancel(user=orderer, order_id=order.order_id, reason="First time.")
    response = signed_in.post(url("order_cancel", order), {"reason": "Second time.", "confirm": "on"}, follow=True)
    assert "can no longer be changed or cancelled" in response.content.decode()


def test_a_member_who_may_not_change_it_sees_no_actions(client, users, order):
    order.visitors.update(user=users["technician"])
    client.force_login(users["technician"])
    page = client.get(url("order_detail", order)).content.decode()
    assert "Cancel the work visit" not in page and "Only the ordering user" in page
    response = client.post(url("order_cancel", order), {"reason": "Not mine to cancel.", "confirm": "on"})
    assert response.status_code == 403
    assert "Only the ordering user" in response.content.decode()
    assert Order.objects.get(pk=order.pk).is_open


def test_attachments_download_for_the_organization_only(
    signed_in, client, orderer, globex, make_body, tmp_path, settings
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    attachment = services.attachment_create(user=orderer, uploaded=SimpleUploadedFile("plan.txt", b"Rack plan"))
    order = services.order_create(user=orderer, data=make_body(attachments=[{"id": str(attachment.id)}]))
    link = url("order_attachment", order, attachment_id=attachment.id)
    assert link in signed_in.get(url("order_detail", order)).content.decode()
    response = signed_in.get(link)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"Rack plan"
    assert "attachment" in response["Content-Disposition"]
    other = services.order_create(user=orderer, data=make_body())
    assert signed_in.get(url("order_attachment", other, attachment_id=attachment.id)).status_code == 404
    client.force_login(globex)
    assert client.get(link).status_code == 404


def test_confirmation_page_says_what_happens_next(signed_in, order):
    page = signed_in.get(url("order_confirmation", order)).content.decode()
    assert order.order_id in page and "What happens next" in page and "data centre" in page


def test_the_order_page_costs_the_same_queries_for_1_and_20_cages_visitors_and_contacts(
    signed_in, orderer, make_body, django_assert_num_queries
):
    small = services.order_create(user=orderer, data=_big_body(make_body, orderer.organization, 1))
    big = services.order_create(user=orderer, data=_big_body(make_body, orderer.organization, 20))
    with CaptureQueriesContext(connection) as one:
        assert signed_in.get(url("order_detail", small)).status_code == 200
    with django_assert_num_queries(len(one.captured_queries)):
        page = signed_in.get(url("order_detail", big)).content.decode()
    for i in range(19):
        assert f"DC2:01:9{i:05d}" in page
    assert all(f"Visitor{i} Person" in page for i in range(20))
    assert all(f"v{i}@acme.example" in page for i in range(20))


def test_a_closed_order_s_page_offers_no_changes_and_reads_no_member_list(signed_in, order):
    Order.objects.filter(pk=order.pk).update(status="CLOSED")
    with CaptureQueriesContext(connection) as captured:
        page = signed_in.get(url("order_detail", order))
    assert page.status_code == 200 and page.context["may_change"] is False
    assert page.context["notify_form"] is None
    assert not any('ORDER BY "workvisits_user"."last_name"' in q["sql"] for q in captured.captured_queries)
