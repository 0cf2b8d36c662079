"""Every admin page staff can open renders, for the superuser and within the roles' permissions."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.admin_helpers import order_in
from workvisits.choices import OrderStatus
from workvisits.models import LocationSync, SentNotification, UpstreamCall


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def filled(users, orderer, make_body):
    order = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    UpstreamCall.objects.create(order=order, method="POST", url="/colocations/v2/orders/workVisits", status_code=503)
    SentNotification.objects.create(order=order, notice="pending", recipient="orderer@acme.example")
    LocationSync.objects.create(source="csv", summary={"cages": {"created": ["X"]}}, errors=[])
    return order


def test_every_list_and_object_page_renders_for_the_superuser(client, users, filled):
    client.force_login(users["admin"])
    assert client.get(reverse("admin:index")).status_code == 200
    registered = [
        (model, admin.site.get_model_admin(model)) for model in apps.get_models() if admin.site.is_registered(model)
    ]
    for model, model_admin in registered:
        assert client.get(_url(model, "changelist")).status_code == 200, model
        obj = model_admin.get_queryset(type("R", (), {"user": users["admin"]})()).first()
        if obj is not None:
            assert client.get(_url(model, "change", obj.pk)).status_code == 200, model
        if model_admin.has_add_permission(type("R", (), {"user": users["admin"]})()):
            assert client.get(_url(model, "add")).status_code == 200, model


@pytest.mark.parametrize("username", ["reviewer", "operator"])
def test_the_staff_roles_see_the_admin_index_and_their_order_pages(client, users, filled, username):
    client.force_login(users[username])
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200 and b"Orders" in index.content
    assert client.get(_url(type(filled), "change", filled.pk)).status_code == 200
