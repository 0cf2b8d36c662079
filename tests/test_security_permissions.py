"""Who may change or cancel an order (CONTRACT "Modify"): its ordering user or technical contact, or a user
who may see all the organization's orders. A member who only sees the order (as its visitor) may not."""

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


@pytest.fixture
def visitor(users, held_order):
    """A member who sees the order as its visitor: neither its orderer, its technical contact, nor a user who
    sees all the organization's orders."""
    technician = users["technician"]
    assert not technician.has_perm("workvisits.view_organization_orders")
    held_order.visitors.create(user=technician)
    return technician


def _unchanged(order):
    now = Order.objects.get(pk=order.pk)
    assert (now.status, now.version, now.open_cabinet) == (order.status, order.version, order.open_cabinet)
    assert not order.events.filter(kind__in=[EventKind.CANCEL_REQUESTED, EventKind.MODIFIED]).exists()
    assert not UpstreamCall.objects.filter(order=order).exists()


def test_a_visitor_s_api_cancel_is_403_and_nothing_is_sent_upstream(
    visitor, held_order, django_capture_on_commit_callbacks
):
    api = Api(visitor)
    assert api.get(f"/colocations/v2/orders/{held_order.order_id}").status_code == 200
    with django_capture_on_commit_callbacks() as enqueued:
        response = api.post(f"/colocations/v2/orders/{held_order.order_id}/cancel", {"reason": "Not my call"})
    assert response.status_code == 403
    assert error_props(response) == {"EQ-2012007": ["orderId"]}
    assert enqueued == []  # no cancel task handed to the workers
    _unchanged(held_order)


def test_a_visitor_s_api_modify_is_403_and_nothing_is_sent_upstream(
    visitor, held_order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as enqueued:
        response = Api(visitor).patch(
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
        ("order_add_notification", {"username": "viewer"}),
    ],
)
def test_a_visitor_s_web_changes_are_refused_with_403(
    client, visitor, held_order, name, data, django_capture_on_commit_callbacks
):
    client.force_login(visitor)
    page = client.get(reverse("order_detail", kwargs={"order_id": held_order.order_id})).content.decode()
    assert "Cancel the work visit" not in page
    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(
            reverse(name, kwargs={"order_id": held_order.order_id}), {**data, "version": held_order.version}
        )
    assert response.status_code == 403
    assert enqueued == []
    _unchanged(held_order)
    assert not Contact.objects.filter(order=held_order, user__username="viewer").exists()


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


def test_the_technical_contact_may_change_it_without_an_ordering_grant(users, held_order):
    technician = users["technician"]
    assert not OrderingGrant.objects.filter(user=technician).exists()
    Contact.objects.filter(order=held_order, contact_type=ContactType.TECHNICAL).update(user=technician)
    response = Api(technician).patch(
        f"/colocations/v2/orders/workVisits/{held_order.order_id}", {"details": {"openCabinet": True}}
    )
    assert response.status_code == 202


def test_a_user_who_sees_all_the_orders_may_change_and_cancel_them(viewer, held_order):
    """The seeded viewer sees all of Acme's orders and holds no ordering grant."""
    assert viewer.has_perm("workvisits.view_organization_orders")
    assert not OrderingGrant.objects.filter(user=viewer).exists()
    api = Api(viewer)
    path = f"/colocations/v2/orders/workVisits/{held_order.order_id}"
    assert api.patch(path, {"details": {"openCabinet": True}}).status_code == 202
    cancel = api.post(f"/colocations/v2/orders/{held_order.order_id}/cancel", {"reason": "Plans changed"})
    assert cancel.status_code == 202


def test_a_member_who_is_only_a_visitor_may_change_an_order_once_granted_to_see_all_orders(users, visitor, held_order):
    path = f"/colocations/v2/orders/workVisits/{held_order.order_id}"
    assert Api(visitor).patch(path, {"details": {"openCabinet": True}}).status_code == 403
    visitor.user_permissions.add(Permission.objects.get(codename="view_organization_orders"))
    assert Api(visitor).patch(path, {"details": {"openCabinet": True}}).status_code == 202


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
