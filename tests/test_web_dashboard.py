"""The dashboard: the organization's work visits, filtered, searched, paginated, in constant queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from workvisits import services
from workvisits.choices import OrderStatus
from workvisits.models import Order


def place(user, make_body, days=1, **overrides):
    start = (timezone.now() + timedelta(days=days)).replace(microsecond=0)
    return services.order_create(user=user, data=make_body(start=start, **overrides))


def past(order, days=3):
    """Move an order into the past (a visit that has happened); the service rightly refuses to create one."""
    Order.objects.filter(pk=order.pk).update(
        visit_start=timezone.now() - timedelta(days=days, hours=4), visit_end=timezone.now() - timedelta(days=days)
    )


def order_ids(response):
    return [o.order_id for o in response.context["page"].object_list]


@pytest.fixture
def signed_in(client, orderer):
    client.force_login(orderer)
    return client


def test_upcoming_visits_come_first_soonest_first_then_past_ones_latest_first(signed_in, orderer, make_body):
    later = place(orderer, make_body, days=5)
    soon = place(orderer, make_body, days=1)
    old = place(orderer, make_body, days=2)
    older = place(orderer, make_body, days=3)
    past(old, days=1)
    past(older, days=9)
    response = signed_in.get(reverse("dashboard"))
    assert order_ids(response) == [soon.order_id, later.order_id, old.order_id, older.order_id]
    page = response.content.decode()
    assert "DC2:01:123456" in page and "Olivia Orderer" in page and 'data-status="' in page
    assert "EST" in page or "EDT" in page


def test_each_row_shows_its_ibx_cages_and_visitors_in_the_order_entered(signed_in, orderer, make_body):
    body = make_body(customerReferenceId="REF-ROW-1")
    body["details"]["visitors"].append({"firstName": "Jane", "lastName": "Doe", "companyName": "Fixit BV"})
    order = services.order_create(user=orderer, data=body)
    bare = place(orderer, make_body, days=2)
    Order.objects.filter(pk=bare.pk).update(customer_reference_id="")
    bare.visitors.all().delete()
    rows = {o.order_id: o for o in signed_in.get(reverse("dashboard")).context["page"].object_list}
    shown = rows[order.order_id]
    assert (shown.ibx.code, shown.ibx.timezone) == (order.ibx.code, order.ibx.timezone)
    assert shown.cage_ids == [c.cage.cage_id for c in order.cages.order_by("id")]
    assert shown.visitor_names == [v.name for v in order.visitors.order_by("id")] == ["Olivia Orderer", "Jane Doe"]
    assert (shown.customer_reference_id, shown.visit_start, shown.visit_end, shown.status) == (
        "REF-ROW-1",
        order.visit_start,
        order.visit_end,
        order.status,
    )
    assert rows[bare.order_id].visitor_names == [] and rows[bare.order_id].customer_reference_id == ""


def test_filters_and_search(signed_in, orderer, make_body):
    a = place(orderer, make_body, customerReferenceId="TICKET-42")
    b = place(orderer, make_body)
    b.visitors.update(user=None, first_name="Zelda", last_name="Zimmer", company_name="Z Ltd")
    c = place(orderer, make_body)
    services.order_cancel(user=orderer, order_id=c.order_id, reason="Not needed any more.")
    past(a)
    url = reverse("dashboard")
    assert order_ids(signed_in.get(url, {"q": "ticket-42"})) == [a.order_id]
    assert order_ids(signed_in.get(url, {"q": "zimmer"})) == [b.order_id]
    assert order_ids(signed_in.get(url, {"q": c.order_id})) == [c.order_id]
    assert order_ids(signed_in.get(url, {"status": OrderStatus.CANCELLED})) == [c.order_id]
    assert order_ids(signed_in.get(url, {"when": "past"})) == [a.order_id]
    assert set(order_ids(signed_in.get(url, {"when": "upcoming"}))) == {b.order_id, c.order_id}
    assert order_ids(signed_in.get(url, {"ibx": "AM1"})) == []
    partial = signed_in.get(url, {"q": "zimmer"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b.order_id.encode() in partial.content


def test_pagination(signed_in, orderer, make_body):
    for _ in range(23):
        place(orderer, make_body)
    first = signed_in.get(reverse("dashboard"))
    assert len(order_ids(first)) == 20 and first.context["page"].paginator.num_pages == 2
    second = signed_in.get(reverse("dashboard"), {"page": 2})
    assert len(order_ids(second)) == 3
    assert not set(order_ids(first)) & set(order_ids(second))


def test_another_organization_sees_none_of_them(client, orderer, globex, make_body):
    place(orderer, make_body)
    client.force_login(globex)
    assert order_ids(client.get(reverse("dashboard"))) == []


def test_member_without_the_view_all_grant_sees_only_orders_they_are_part_of(client, users, orderer, make_body):
    mine = place(orderer, make_body)
    theirs = place(orderer, make_body)
    theirs.visitors.update(user=users["technician"])
    client.force_login(users["technician"])
    assert order_ids(client.get(reverse("dashboard"))) == [theirs.order_id]
    assert mine.order_id not in client.get(reverse("dashboard")).content.decode()


def test_the_dashboard_costs_the_same_queries_for_5_and_50_orders(
    signed_in, orderer, make_body, django_assert_num_queries
):
    for _ in range(5):
        place(orderer, make_body)
    signed_in.get(reverse("dashboard"))  # warm the session
    with CaptureQueriesContext(connection) as five:
        signed_in.get(reverse("dashboard"))
    for _ in range(45):
        place(orderer, make_body)
    with django_assert_num_queries(len(five.captured_queries)):
        response = signed_in.get(reverse("dashboard"))
    assert len(order_ids(response)) == 20


def test_signed_out_visitors_are_sent_to_sign_in(client, demo):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
