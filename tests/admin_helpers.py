"""Helpers of the admin tests: orders in a given state, made through the services, and action posts."""

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse

from workvisits import services
from workvisits.choices import OrderStatus, ReviewMode
from workvisits.models import Order, Organization

CHANGELIST = reverse("admin:workvisits_order_changelist")


def order_in(status, orderer, make_body, **body_changes) -> Order:
    """An order of Acme's orderer, placed through the service and moved to `status`."""
    mode = ReviewMode.ALL if status == OrderStatus.PENDING_REVIEW else ReviewMode.OFF
    Organization.objects.filter(pk=orderer.organization_id).update(review_mode=mode)
    orderer.refresh_from_db()
    order = services.order_create(user=orderer, data=make_body(**body_changes))
    if order.status != status:
        order = services.order_change_status(order_pk=order.pk, to_status=status, note="set up by the test")
    return order


def post_action(client, action, *orders, headers=None, **extra):
    data = {"action": action, "index": 0, ACTION_CHECKBOX_NAME: [o.pk for o in orders]}
    data.update(extra)
    if "apply" in extra:
        data.pop("index")  # the intermediate page posts without the list's index
    return client.post(CHANGELIST, data, headers=headers or {})


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]
