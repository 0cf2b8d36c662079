"""Reading, listing, modifying and cancelling work visits; organization isolation."""

import copy
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.api_support import SEED_MODIFY_SAMPLE, Api, add_order_copies, error_props
from workvisits import services
from workvisits.choices import EventKind, OrderStatus
from workvisits.models import Order
from workvisits.rules import format_datetime

# The Orders v2 fields, then the portal's own.
ORDER_FIELDS = {
    "orderId",
    "accountNumber",
    "accountName",
    "contacts",
    "status",
    "createdDateTime",
    "updatedDateTime",
    "closedDateTime",
    "customerReferenceId",
    "cancellable",
    "modifiable",
    "details",
    "portalStatus",
    "upstreamOrderId",
    "rejectionReasons",
    "version",
    "workVisit",
}


@pytest.fixture
def order(orderer, make_body):
    return services.order_create(user=orderer, data=make_body())


def test_an_order_has_the_contract_s_fields_and_an_etag(orderer, order):
    response = Api(orderer).get(f"/colocations/v2/orders/{order.order_id}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == ORDER_FIELDS
    assert {"cages", "visitors", "visitStartDateTime", "visitEndDateTime", "openCabinet"} <= set(body["workVisit"])
    assert body["orderId"] == order.order_id and body["upstreamOrderId"] is None
    assert (body["status"], body["portalStatus"]) == ("RECEIVED", "QUEUED")
    assert (body["accountNumber"], body["accountName"]) == ("1234567890", "Acme Ashburn")
    assert body["contacts"][0] == {"type": "ORDERING", "registeredUser": "orderer"}
    assert {"type": "TECHNICAL", "registeredUser": "orderer", "availability": "WORK_HOURS"}.items() <= body["contacts"][
        1
    ].items()
    assert body["contacts"][1]["timezone"] == "America/New_York"  # the IBX's zone when none was given
    assert body["details"] == [
        {
            "lineId": f"{order.order_id}-1",
            "status": "RECEIVED",
            "productType": "WORK_VISIT",
            "ibx": "DC2",
            "cage": "DC2:01:123456",
            "accountNumber": "1234567890",
            "cabinets": ["DC2:01:123456:0101"],
            "requestType": "NEW",
            "attachments": [],
            "purchaseOrder": None,
        }
    ]
    assert body["closedDateTime"] is None
    assert body["workVisit"]["visitStartDateTime"] == format_datetime(order.visit_start)
    assert body["workVisit"]["visitStartDateTime"].endswith("Z")
    assert body["cancellable"] is body["modifiable"] is True
    assert response["ETag"] == '"1"'


@pytest.mark.parametrize(
    ("given", "shown"),
    [("1500.5", 1500.5), ("2020", 2020), (1500.5, 1500.5), ("0", 0), ("12345678901234567890", 12345678901234567890)],
)
def test_the_purchase_order_amount_reads_as_a_number(orderer, make_body, given, shown):
    order = services.order_create(user=orderer, data=make_body(purchaseOrder={"type": "NEW", "amount": given}))
    body = Api(orderer).get(f"/colocations/v2/orders/{order.order_id}").json()
    # UPSTREAM_WIRE.md (OrderPurchaseOrder.java): amount is a number, on every line and in workVisit.
    for purchase_order in (body["details"][0]["purchaseOrder"], body["workVisit"]["purchaseOrder"]):
        assert purchase_order == {"type": "NEW", "amount": shown}
        assert type(purchase_order["amount"]) is type(shown)


def test_an_amount_stored_as_text_that_is_no_number_is_left_out_of_the_read(orderer, make_body):
    order = services.order_create(user=orderer, data=make_body(purchaseOrder={"type": "NEW", "amount": "100"}))
    Order.objects.filter(pk=order.pk).update(po_amount="1250.00 USD")  # stored before amounts were checked
    body = Api(orderer).get(f"/colocations/v2/orders/{order.order_id}").json()
    assert body["workVisit"]["purchaseOrder"] == body["details"][0]["purchaseOrder"] == {"type": "NEW"}


def _read_change_and_cancel(api, order_id):
    """The answers of the three routes that name one order: read, modify, cancel."""
    return (
        api.get(f"/colocations/v2/orders/{order_id}"),
        api.patch(f"/colocations/v2/orders/workVisits/{order_id}", {"details": {"openCabinet": True}}),
        api.post(f"/colocations/v2/orders/{order_id}/cancel", {"reason": "Plans changed"}),
    )


@pytest.mark.parametrize("order_id", ["a.b", "a b", "NOPE", "x" * 100, "a%00b", "caf%C3%A9"])
def test_an_id_of_any_shape_is_an_unknown_order_eq_2014005_on_every_order_route(orderer, order_id):
    for response in _read_change_and_cancel(Api(orderer), order_id):
        assert response.status_code == 404, response.content
        assert error_props(response) == {"EQ-2014005": ["orderId"]}


def test_the_create_path_and_ids_longer_than_100_are_not_order_ids(orderer):
    api = Api(orderer)
    get_create = api.get("/colocations/v2/orders/workVisits")
    assert get_create.status_code == 405 and error_props(get_create) == {"EQ-2010005": ["method"]}
    too_long = api.get(f"/colocations/v2/orders/{'x' * 101}")
    assert too_long.status_code == 404 and error_props(too_long) == {"EQ-2014004": ["path"]}


def test_another_organization_s_order_is_404_everywhere(globex, order):
    api = Api(globex)
    for response in _read_change_and_cancel(api, order.order_id):
        assert response.status_code == 404
        assert error_props(response) == {"EQ-2014005": ["orderId"]}
    listing = api.get("/colocations/v2/orders").json()
    assert listing["content"] == [] and listing["pagination"]["totalCount"] == 0


def test_list_filters_and_pages(orderer, make_body):
    soon = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    later = soon + timedelta(days=20)
    dc2 = [services.order_create(user=orderer, data=make_body(start=soon)) for _ in range(3)]
    am1_body = make_body(start=later)
    am1_body["details"]["cages"] = [{"id": "AM1:02:200100"}]
    am1 = services.order_create(user=orderer, data=am1_body)
    services.order_cancel(user=orderer, order_id=dc2[0].order_id, reason="Plans changed")
    api = Api(orderer)

    def ids(**params):
        response = api.get("/colocations/v2/orders", params)
        assert response.status_code == 200, response.json()
        return [o["orderId"] for o in response.json()["content"]]

    assert ids() == [am1.order_id, dc2[2].order_id, dc2[1].order_id, dc2[0].order_id]
    assert ids(ibx="AM1") == [am1.order_id]
    assert ids(ibx="dc2") == [o.order_id for o in reversed(dc2)]
    assert ids(status="CANCELLED") == [dc2[0].order_id]
    assert set(ids(status="CANCELLED,QUEUED")) == {o.order_id for o in [am1, *dc2]}
    assert ids(visitStartFrom=later.date().isoformat()) == [am1.order_id]
    assert ids(visitStartTo=soon.date().isoformat()) == [o.order_id for o in reversed(dc2)]
    assert ids(visitStartFrom=format_datetime(soon + timedelta(hours=1))) == [am1.order_id]
    page = api.get("/colocations/v2/orders", {"size": 3, "page": 2}).json()
    assert [o["orderId"] for o in page["content"]] == [dc2[0].order_id]
    assert page["pagination"] == {"page": 2, "size": 3, "totalCount": 4, "totalPages": 2, "totalCountExact": True}


def test_a_member_without_the_organization_grant_sees_only_orders_they_take_part_in(users, orderer, make_body):
    services.order_create(user=orderer, data=make_body())
    body = make_body()
    body["details"]["visitors"] = [{"registeredUsers": ["technician"]}]
    theirs = services.order_create(user=orderer, data=body)
    listing = Api(users["technician"]).get("/colocations/v2/orders").json()
    assert [o["orderId"] for o in listing["content"]] == [theirs.order_id]


def test_the_list_costs_the_same_queries_for_5_and_500_orders(orderer, make_body, django_assert_num_queries):
    api = Api(orderer)
    template = services.order_create(user=orderer, data=make_body())

    add_order_copies(template, 4)
    with CaptureQueriesContext(connection) as five:
        assert len(api.get("/colocations/v2/orders", {"size": 100}).json()["content"]) == 5
    add_order_copies(template, 495)
    with django_assert_num_queries(len(five.captured_queries)):
        response = api.get("/colocations/v2/orders", {"size": 100})
    assert len(response.json()["content"]) == 100
    assert response.json()["pagination"]["totalCount"] == 500


def test_modify_with_the_seed_s_quirky_datetimes(orderer, order):
    body = copy.deepcopy(SEED_MODIFY_SAMPLE)
    start = (timezone.now() + timedelta(days=5)).replace(microsecond=0)
    body["details"]["visitStartDateTime"] = start.strftime("%Y-%m-%d'T'%H:%M:%SZ")
    body["details"]["visitEndDateTime"] = (start + timedelta(days=1)).strftime("%Y-%m-%d'T'%H:%M:%SZ")
    body["details"]["openCabinet"] = True
    body["contacts"][0]["registeredUsers"] = ["viewer"]
    response = Api(orderer).patch(f"/colocations/v2/orders/workVisits/{order.order_id}", body, {"If-Match": '"1"'})
    assert response.status_code == 202, response.json()
    assert response["Location"] == f"/orders/{order.order_id}"
    assert response["ETag"] == '"2"'
    got = response.json()
    assert got["workVisit"]["visitStartDateTime"] == format_datetime(start)
    assert got["workVisit"]["openCabinet"] is True
    assert {
        "type": "NOTIFICATION",
        "registeredUser": "viewer",
        "availability": "WORK_HOURS",
        "timezone": "America/New_York",
    } in got["contacts"]
    assert order.events.filter(kind=EventKind.MODIFIED).count() == 1


def test_the_seed_modify_sample_verbatim_is_400_for_past_dates_and_unknown_user(orderer, order):
    response = Api(orderer).patch(f"/colocations/v2/orders/workVisits/{order.order_id}", SEED_MODIFY_SAMPLE)
    assert response.status_code == 400
    invalid = error_props(response)["EQ-2010010"]
    assert "details.visitStartDateTime" in invalid and "contacts[0].registeredUsers[0]" in invalid


@pytest.mark.parametrize(
    "body, code, prop",
    [
        ({}, "EQ-2016011", "details"),
        ({"details": {"visitors": []}}, "EQ-2010010", "details.visitors"),
        ({"description": "A new description"}, "EQ-2010010", "description"),
        ({"contacts": [{"type": "NOTIFICATION", "registeredUsers": ["viewer"]}] * 2}, "EQ-2010010", "contacts"),
        ({"contacts": [{"registeredUsers": ["viewer"]}]}, "EQ-2016011", "contacts[0].type"),
    ],
)
def test_modify_allows_only_the_upstream_s_fields(orderer, order, body, code, prop):
    response = Api(orderer).patch(f"/colocations/v2/orders/workVisits/{order.order_id}", body)
    assert response.status_code == 400
    assert prop in error_props(response)[code]


def test_modify_with_a_stale_or_malformed_if_match(orderer, order):
    api = Api(orderer)
    url = f"/colocations/v2/orders/workVisits/{order.order_id}"
    assert api.patch(url, {"details": {"openCabinet": True}}, {"If-Match": '"1"'}).status_code == 202
    stale = api.patch(url, {"details": {"openCabinet": False}}, {"If-Match": '"1"'})
    assert stale.status_code == 409
    assert error_props(stale) == {"EQ-2019009": ["orderId"]}
    bad = api.patch(url, {"details": {"openCabinet": False}}, {"If-Match": "soon"})
    assert bad.status_code == 400 and error_props(bad) == {"EQ-2010010": ["If-Match"]}
    assert api.patch(url, {"details": {"openCabinet": False}}, {"If-Match": 'W/"2"'}).status_code == 202


def test_only_the_ordering_or_technical_contact_may_change_403_eq_2012007(users, orderer, make_body):
    body = make_body()
    body["details"]["visitors"] = [{"registeredUsers": ["technician"]}]
    order = services.order_create(user=orderer, data=body)
    api = Api(users["technician"])  # sees the order as its visitor, but may not change it
    assert api.get(f"/colocations/v2/orders/{order.order_id}").status_code == 200
    for response in (
        api.patch(f"/colocations/v2/orders/workVisits/{order.order_id}", {"details": {"openCabinet": True}}),
        api.post(f"/colocations/v2/orders/{order.order_id}/cancel", {"reason": "Plans changed"}),
    ):
        assert response.status_code == 403
        assert error_props(response) == {"EQ-2012007": ["orderId"]}


def test_cancel_then_modify_or_cancel_again_is_409(orderer, order):
    api = Api(orderer)
    short = api.post(f"/colocations/v2/orders/{order.order_id}/cancel", {"reason": "no"})
    assert short.status_code == 400 and error_props(short) == {"EQ-2010010": ["reason"]}
    extra = api.post(f"/colocations/v2/orders/{order.order_id}/cancel", {"reason": "Plans changed", "x": 1})
    assert extra.status_code == 400 and error_props(extra) == {"EQ-2010010": ["x"]}

    response = api.post(f"/colocations/v2/orders/{order.order_id}/cancel", {"reason": "Plans changed"})
    assert response.status_code == 202
    assert response.json()["status"] == response.json()["portalStatus"] == OrderStatus.CANCELLED
    assert response.json()["cancellable"] is response.json()["modifiable"] is False
    assert response.json()["closedDateTime"] is not None
    again = api.post(f"/colocations/v2/orders/{order.order_id}/cancel", {"reason": "Plans changed"})
    assert again.status_code == 409 and error_props(again) == {"EQ-2019009": ["orderId"]}
    change = api.patch(f"/colocations/v2/orders/workVisits/{order.order_id}", {"details": {"openCabinet": True}})
    assert change.status_code == 409
    assert order.events.filter(kind=EventKind.CANCEL_REQUESTED).count() == 1
