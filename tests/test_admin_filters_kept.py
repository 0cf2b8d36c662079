"""A reviewer working through a filtered order list gets the same list back after each action: from the
list, through the reason page, and from the order page's buttons."""

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from tests.admin_helpers import CHANGELIST, order_in
from workvisits.choices import OrderStatus

FILTERS = "status__exact=PENDING_REVIEW&ibx__id__exact={ibx}"


@pytest.fixture
def reviewer_client(client, users):
    client.force_login(users["reviewer"])
    return client


def _query(url: str) -> dict:
    return parse_qs(urlsplit(url).query)


def test_an_action_from_the_filtered_list_comes_back_to_the_filtered_list(reviewer_client, orderer, make_body):
    order = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    filters = FILTERS.format(ibx=order.ibx_id)
    data = {"action": "approve_orders", "index": 0, ACTION_CHECKBOX_NAME: [order.pk]}
    response = reviewer_client.post(f"{CHANGELIST}?{filters}", data)
    assert response.status_code == 302
    assert _query(response["Location"]) == _query(f"?{filters}")
    listed = reviewer_client.get(response["Location"])
    assert "Approved: " in listed.content.decode()


def test_the_reason_page_keeps_the_filters_to_the_end(reviewer_client, orderer, make_body):
    order = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    filters = FILTERS.format(ibx=order.ibx_id)
    url = f"{CHANGELIST}?{filters}"
    data = {"action": "reject_orders", "index": 0, ACTION_CHECKBOX_NAME: [order.pk]}
    page = reviewer_client.post(url, data).content.decode()
    # The reason page posts back to the filtered list, and its Back link returns there.
    assert 'class="button cancel-link"' in page and f'href="{url.replace("&", "&amp;")}"' in page
    data = {"action": "reject_orders", ACTION_CHECKBOX_NAME: [order.pk], "apply": "yes", "reason": "Cage closed."}
    response = reviewer_client.post(url, data)
    assert response.status_code == 302 and _query(response["Location"]) == _query(f"?{filters}")
    order.refresh_from_db()
    assert order.status == OrderStatus.REJECTED


def test_the_order_pages_buttons_return_to_the_list_it_was_opened_from(reviewer_client, orderer, make_body):
    order = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    filters = FILTERS.format(ibx=order.ibx_id)
    listed = reviewer_client.get(f"{CHANGELIST}?{filters}").content.decode()
    change = reverse("admin:workvisits_order_change", args=[order.pk])
    assert change in listed  # the list links the order with its filters kept (Django's _changelist_filters)
    page = reviewer_client.get(change, {"_changelist_filters": filters}).content.decode()
    action = f'action="{CHANGELIST}?{filters.replace("&", "&amp;")}"'
    assert action in page
    data = {"action": "approve_orders", "index": 0, ACTION_CHECKBOX_NAME: [order.pk]}
    response = reviewer_client.post(f"{CHANGELIST}?{filters}", data)
    assert _query(response["Location"]) == _query(f"?{filters}")
    order.refresh_from_db()
    assert order.status == OrderStatus.QUEUED


def test_each_row_links_its_order_page_with_the_lists_filters(reviewer_client, orderer, make_body):
    first = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    second = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    filters = FILTERS.format(ibx=first.ibx_id)
    listed = reviewer_client.get(f"{CHANGELIST}?{filters}").content.decode()
    kept = urlencode({"_changelist_filters": filters}).replace("&", "&amp;")
    for order in (first, second):
        change = reverse("admin:workvisits_order_change", args=[order.pk])
        assert f'<a href="{change}?{kept}">{order.order_id}</a>' in listed
    # Unfiltered, the links carry nothing; the column still sorts the list by order id.
    listed = reviewer_client.get(CHANGELIST).content.decode()
    assert f'<a href="{reverse("admin:workvisits_order_change", args=[first.pk])}">{first.order_id}</a>' in listed
    by_id = reviewer_client.get(CHANGELIST, {"o": "-1"}).content.decode()
    ascending = reviewer_client.get(CHANGELIST, {"o": "1"}).content.decode()
    assert (ascending.index(first.order_id) < ascending.index(second.order_id)) == (first.order_id < second.order_id)
    assert (by_id.index(first.order_id) > by_id.index(second.order_id)) == (first.order_id < second.order_id)
