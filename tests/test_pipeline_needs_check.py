"""An operator settles a NEEDS_CHECK order from the admin's "needs an operator" list: by linking the
data centre's order found in its portal, or by confirming it is not there and resubmitting it. Each
action is an event on the timeline and an email; the customer's page says the order is being checked."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from tests.pipeline_harness import CREATE, pipeline_fixture, wait_for  # noqa: F401
from workvisits import services
from workvisits.choices import EventKind, OrderStatus
from workvisits.models import SentNotification, User

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _operator() -> Client:
    user = User.objects.create_user("ops-anna", email="anna@dc.example", password="x", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_order", "change_order", "resubmit_order"])
    )
    client = Client()
    client.force_login(user)
    return client


def _needs_check(pipeline, orderer, make_body, fault: str):
    pipeline.sandbox.settings(nosearch=True)
    pipeline.sandbox.fault(fault, count=1, match=CREATE)
    order = services.order_create(user=orderer, data=make_body())
    return pipeline.wait_for_status(order, OrderStatus.NEEDS_CHECK)


def _sent(order, notice):
    return set(
        SentNotification.objects.filter(order=order, notice__startswith=notice, sent_at__isnull=False).values_list(
            "recipient", flat=True
        )
    )


def test_operator_links_the_upstream_order_found_in_the_data_centre_portal(pipeline, orderer, make_body):
    pipeline.start()
    order = _needs_check(pipeline, orderer, make_body, "drop")  # the upstream holds it; nobody can tell
    held = pipeline.sandbox.orders()[0]["orderId"]
    operator = _operator()

    customer = Client()
    customer.force_login(orderer)
    page = customer.get(reverse("order_detail", kwargs={"order_id": order.order_id})).content.decode()
    assert "checking with the data centre" in page

    listing = operator.get(reverse("admin:workvisits_order_changelist") + "?problem=needs_check").content.decode()
    assert order.order_id in listing and "ACME-4711" in listing  # the reference sent, for the search
    url = reverse("admin:workvisits_order_changelist")
    form = operator.post(url, {"action": "link_upstream_orders", "_selected_action": [order.pk]})
    assert form.status_code == 200 and "Data centre order number" in form.content.decode()
    done = operator.post(url, {"action": "link_upstream_orders", "_selected_action": [order.pk], "apply": "yes",
                               "upstream_order_id": held}, follow=True)
    assert f"Linked: {order.order_id}" in done.content.decode()

    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED and order.upstream_order_id == held
    event = order.events.get(to_status=OrderStatus.SUBMITTED)
    assert event.actor.username == "ops-anna" and held in event.note
    wait_for(lambda: "orderer@acme.example" in _sent(order, "accepted"), timeout=20, what="the customer's email")
    wait_for(lambda: _sent(order, "ops:") >= {"ops@dc.example"}, timeout=20, what="the operators' email")
    assert len(pipeline.sandbox.calls(CREATE)) == 1  # never sent again


def test_operator_confirms_not_upstream_and_the_order_is_sent_once_more(pipeline, orderer, make_body):
    pipeline.start()
    order = _needs_check(pipeline, orderer, make_body, "500")  # ambiguous; this time it did not act
    assert pipeline.sandbox.orders() == []
    operator = _operator()

    url = reverse("admin:workvisits_order_changelist")
    done = operator.post(url, {"action": "confirm_not_upstream", "_selected_action": [order.pk]}, follow=True)
    assert f"Resubmitted: {order.order_id}" in done.content.decode()

    order = pipeline.wait_for_status(order, OrderStatus.SUBMITTED)
    assert [o["orderId"] for o in pipeline.sandbox.orders()] == [order.upstream_order_id]
    assert [c["status"] for c in pipeline.sandbox.calls(CREATE)] == [500, 201]
    confirmed = order.events.get(from_status=OrderStatus.NEEDS_CHECK, to_status=OrderStatus.QUEUED)
    assert confirmed.actor.username == "ops-anna" and confirmed.kind == EventKind.STATUS
    wait_for(lambda: _sent(order, "ops:") >= {"ops@dc.example"}, timeout=20, what="the operators' email")
