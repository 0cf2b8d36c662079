"""Least privilege: changing or cancelling an order needs the ordering permission on its cages, and being
its ordering or technical contact or holding the permission to manage all the organization's orders."""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.api_support import Api, error_props, media_in
from workvisits import services
from workvisits.choices import ContactType, EventKind, OrderStatus
from workvisits.models import Contact, Order, OrderingGrant, UpstreamCall


@pytest.fixture
def held_order(orderer, make_body):
    """An order the data centre holds: a cancel or a change of it would be sent upstream."""
    order = services.order_create(user=orderer, data=make_body())
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.SUBMITTED, upstream_order_id="1-UP-4711")
    return Order.objects.get(pk=order.pk)


def _unchanged(order):
    now = Order.objects.get(pk=order.pk)
    assert (now.status, now.version, now.open_cabinet) == (order.status, order.version, order.open_cabinet)
    assert not order.events.filter(kind__in=[EventKind.CANCEL_REQUESTED, EventKind.MODIFIED]).exists()
    assert not UpstreamCall.objects.filter(order=order).exists()


def test_the_viewer_s_api_cancel_is_403_and_nothing_is_sent_upstream(
    viewer, held_order, django_capture_on_commit_callbacks
):
    api = Api(viewer)
    with django_capture_on_commit_callbacks() as enqueued:
        response = api.post(f"/colocations/v2/orders/{held_order.order_id}/cancel", {"reason": "Not my call"})
    assert response.status_code == 403
    assert error_props(response) == {"EQ-2012007": ["orderId"]}
    assert enqueued == []  # no cancel task handed to the workers
    _unchanged(held_order)


def test_the_viewer_s_api_modify_is_403_and_nothing_is_sent_upstream(
    viewer, held_order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as enqueued:
        response = Api(viewer).patch(
            f"/colocations/v2/orders/workVisits/{held_order.order_id}", {"details": {"openCabinet": True}}
        )
    assert response.status_code == 403
    assert error_props(response) == {"EQ-2012007": ["orderId"]}
    assert enqueued == []
    _unchanged(held_order)


def test_the_viewer_can_still_read_the_order(viewer, held_order):
    assert Api(viewer).get(f"/colocations/v2/orders/{held_order.order_id}").status_code == 200


@pytest.mark.parametrize(
    "name, data",
    [
        ("order_cancel", {"reason": "Not my call at all", "confirm": "on"}),
        ("order_reschedule", {"start": "2030-01-01T09:00", "end": "2030-01-01T12:00", "open_cabinet": "on"}),
        ("order_add_notification", {"username": "technician"}),
    ],
)
def test_the_viewer_s_web_changes_are_refused_with_403(
    client, viewer, held_order, name, data, django_capture_on_commit_callbacks
):
    client.force_login(viewer)
    page = client.get(reverse("order_detail", kwargs={"order_id": held_order.order_id})).content.decode()
    assert "Cancel the work visit" not in page
    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(
            reverse(name, kwargs={"order_id": held_order.order_id}), {**data, "version": held_order.version}
        )
    assert response.status_code == 403
    assert enqueued == []
    _unchanged(held_order)
    assert not Contact.objects.filter(order=held_order, user__username="technician").exists()


def test_the_ordering_user_may_still_cancel_and_the_cancel_goes_upstream(
    orderer, held_order, django_capture_on_commit_callbacks, published_tasks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = Api(orderer).post(
            f"/colocations/v2/orders/{held_order.order_id}/cancel", {"reason": "Plans changed"}
        )
    assert response.status_code == 202
    assert ("workvisits.cancel_order", (held_order.pk,)) in published_tasks
    assert Order.objects.get(pk=held_order.pk).status == OrderStatus.CANCELLED


def test_the_technical_contact_without_the_ordering_permission_may_not_change_it(users, held_order):
    technician = users["technician"]
    Contact.objects.filter(order=held_order, contact_type=ContactType.TECHNICAL).update(user=technician)
    response = Api(technician).patch(
        f"/colocations/v2/orders/workVisits/{held_order.order_id}", {"details": {"openCabinet": True}}
    )
    assert response.status_code == 403
    # With the ordering permission on the order's cage the technical contact may.
    OrderingGrant.objects.create(user=technician, ibx=held_order.ibx)
    response = Api(technician).patch(
        f"/colocations/v2/orders/workVisits/{held_order.order_id}", {"details": {"openCabinet": True}}
    )
    assert response.status_code == 202


def test_manage_all_orders_is_an_explicit_permission_and_still_needs_the_cage_grant(users, viewer, held_order):
    manage = Permission.objects.get(codename="manage_org_orders")
    viewer.user_permissions.add(manage)
    api = Api(viewer)
    path = f"/colocations/v2/orders/workVisits/{held_order.order_id}"
    assert api.patch(path, {"details": {"openCabinet": True}}).status_code == 403  # no grant on the cage
    OrderingGrant.objects.create(user=viewer, ibx=held_order.ibx)
    assert api.patch(path, {"details": {"openCabinet": True}}).status_code == 202
    # The seeded orderer holds it; the viewer does not.
    assert users["orderer"].has_perm("workvisits.manage_org_orders")
    assert not users["technician"].has_perm("workvisits.manage_org_orders")


def test_the_api_upload_needs_the_ordering_permission(viewer, orderer, settings, tmp_path):
    media_in(settings, tmp_path)
    response = Api(viewer).upload("plan.txt", b"Rack plan for the visit")
    assert response.status_code == 403
    assert error_props(response) == {"EQ-2012006": ["file"]}
    assert Api(orderer).upload("plan.txt", b"Rack plan for the visit").status_code == 201


def test_the_service_refuses_an_upload_without_the_ordering_permission(viewer, settings, tmp_path):
    media_in(settings, tmp_path)
    with pytest.raises(services.rules.RuleViolation) as caught:
        services.attachment_create(user=viewer, uploaded=SimpleUploadedFile("plan.txt", b"Rack plan"))
    assert caught.value.errors[0].code == "EQ-2012006"
