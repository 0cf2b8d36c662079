"""The look-up after an ambiguous attempt adopts only an order that is surely this one: the reference
sent, created since the first attempt (less the clock skew allowed), in the order's IBX, linked to no
other portal order; anything less certain waits for an operator. Attempts run here, in the test
process, against the sandbox process (its clock advanced, never slept on)."""

from datetime import timedelta

import httpx
import pytest
import time_machine
from django.utils import timezone

from tests.mock_upstream import mock_upstream  # noqa: F401
from tests.pipeline_harness import CREATE, SEARCH, sandbox_fixture  # noqa: F401
from tests.sandbox_support import visit_body as wire_body
from workvisits import services, submission
from workvisits.choices import OrderStatus
from workvisits.models import Order
from workvisits.upstream import payloads
from workvisits.upstream.client import UpstreamClient

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _attempt_again(order):
    """The next attempt, as the retry message would bring it once its countdown has passed."""
    Order.objects.filter(pk=order.pk).update(next_attempt_at=None)
    outcome = submission.order_submit(order_pk=order.pk)
    order.refresh_from_db()
    return outcome


def test_an_older_order_with_the_same_reference_is_not_taken_for_this_one(sandbox, orderer, make_body):
    # Weeks of reuse, compressed: the customer's reference already names an upstream order the portal
    # knows nothing of, created ten minutes before this order's first attempt.
    UpstreamClient().create_work_visit(wire_body())
    sandbox.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=600), tick=True):
        order = services.order_create(user=orderer, data=make_body())
        sandbox.fault("drop", count=1, match=CREATE)
        assert submission.order_submit(order_pk=order.pk).result == "retrying"
        order.refresh_from_db()
        assert order.upstream_uncertain
        assert _attempt_again(order).result.startswith("submitted")
    created = [o["orderId"] for o in sandbox.orders()]
    assert len(created) == 2 and order.upstream_order_id == created[1]
    assert len(sandbox.calls(CREATE)) == 2 and len(sandbox.calls(SEARCH)) == 1


def test_after_a_lost_answer_the_look_up_waits_for_order_history_to_show_new_orders(
    sandbox, orderer, make_body, settings
):
    """A search that finds nothing means "never arrived" only once the order had time to show there."""
    settings.UPSTREAM_LOOKUP_DELAY_SECONDS = 120
    lost = services.order_create(user=orderer, data=make_body(customerReferenceId="LOST-1"))
    sandbox.fault("drop", count=1, match=CREATE)
    assert submission.order_submit(order_pk=lost.pk).result == "retrying"
    lost.refresh_from_db()
    assert lost.next_attempt_at - timezone.now() >= timedelta(seconds=119)
    # A definite failure (the upstream did not act) has nothing to look up: the usual backoff.
    refused = services.order_create(user=orderer, data=make_body(customerReferenceId="BUSY-1"))
    sandbox.fault("503", count=1, match=CREATE)
    assert submission.order_submit(order_pk=refused.pk).result == "retrying"
    refused.refresh_from_db()
    assert refused.next_attempt_at - timezone.now() <= timedelta(seconds=settings.CELERY_RETRY_BASE_DELAY)


def test_a_search_that_finds_nothing_creates_the_order_once(sandbox, orderer, make_body):
    order = services.order_create(user=orderer, data=make_body(customerReferenceId="NEVER-ARRIVED"))
    sandbox.fault("500", count=1, match=CREATE)  # ambiguous, but this sandbox did not act on it
    assert submission.order_submit(order_pk=order.pk).result == "retrying"
    assert _attempt_again(order).result.startswith("submitted")
    assert order.status == OrderStatus.SUBMITTED
    assert len(sandbox.orders()) == 1 and len(sandbox.calls(SEARCH)) == 1


def test_two_unlinked_orders_with_the_reference_are_not_guessed_between(sandbox, orderer, make_body):
    order = services.order_create(user=orderer, data=make_body(customerReferenceId="TWICE-4711"))
    sandbox.fault("drop", count=1, match=CREATE)
    submission.order_submit(order_pk=order.pk)
    # Someone else created an order with the same reference in the same IBX meanwhile.
    UpstreamClient().create_work_visit(wire_body(customerReferenceId="TWICE-4711"))

    assert _attempt_again(order).result == "needs check"
    assert order.status == OrderStatus.NEEDS_CHECK and "2 orders" in order.last_error
    assert len(sandbox.calls(CREATE)) == 2  # never a third
    assert payloads.sent_reference(order) == "TWICE-4711"


def test_the_one_order_found_on_other_cages_is_not_taken_for_this_one(sandbox, orderer, make_body):
    order = services.order_create(user=orderer, data=make_body(customerReferenceId="REUSED-9"))
    sandbox.fault("500", count=1, match=CREATE)  # ambiguous; this sandbox did not act on it
    submission.order_submit(order_pk=order.pk)
    # Meanwhile someone else ordered a visit to another cage of the IBX under the same reference.
    stranger = wire_body(customerReferenceId="REUSED-9")
    stranger["details"]["cages"] = [{"id": "DC2:01:123457"}]
    UpstreamClient().create_work_visit(stranger)

    assert _attempt_again(order).result == "needs check"
    assert order.status == OrderStatus.NEEDS_CHECK and order.upstream_order_id is None
    assert "names cages DC2:01:123457, not this order's DC2:01:123456" in order.last_error
    assert len(sandbox.calls(CREATE)) == 2  # the stranger's, and this order's one lost attempt: never a third


def test_an_order_without_a_reference_is_sent_and_found_by_its_portal_id(sandbox, orderer, make_body):
    body = make_body()
    del body["customerReferenceId"]
    order = services.order_create(user=orderer, data=body)
    sandbox.fault("drop", count=1, match=CREATE)
    submission.order_submit(order_pk=order.pk)
    assert _attempt_again(order).result.startswith("submitted")
    assert sandbox.orders()[0]["body"]["customerReferenceId"] == order.order_id
    assert sandbox.calls(SEARCH)[0]["body"]["q"] == order.order_id


# ---------------------------------------------------------------------------------------------
# Order History answers the sandbox does not give, from an upstream answered in this process.
def _uncertain(orderer, make_body, reference):
    """An order whose first attempt, a minute ago, may have reached the upstream."""
    order = services.order_create(user=orderer, data=make_body(customerReferenceId=reference))
    Order.objects.filter(pk=order.pk).update(
        upstream_uncertain=True, submit_attempts=1, first_attempt_at=timezone.now() - timedelta(minutes=1)
    )
    return order


def _history(mock_upstream, content):  # noqa: F811
    def answer(request):
        if request.url.path == "/v1/retrieve-orders":
            return httpx.Response(200, json={"content": content, "page": {"number": 0, "size": 50}})
        return httpx.Response(201, headers={"Location": "/orders/1-999"})  # the create

    return mock_upstream(answer)


def _item(reference, **fields):
    return {"customerReferenceNumbers": [reference], "createdAt": timezone.now().isoformat(), **fields}


def test_an_order_history_content_of_one_object_is_the_order_found(mock_upstream, orderer, make_body):  # noqa: F811
    order = _uncertain(orderer, make_body, "ONE-OBJECT")
    upstream = _history(mock_upstream, _item("ONE-OBJECT", orderNumber="1-555", ibx=["DC2"]))
    assert _attempt_again(order).result == "submitted as 1-555"
    assert order.upstream_order_id == "1-555"
    assert not upstream.calls("POST", "/colocations/v2/orders/workVisits")


@pytest.mark.parametrize(
    ("fields", "missing"),
    [({"ibx": ["DC2"]}, "has no orderNumber"), ({"orderNumber": "1-555"}, "has no ibx")],
    ids=["no orderNumber", "no ibx"],
)
def test_a_recent_order_with_the_reference_that_cannot_be_read_waits_for_an_operator(
    mock_upstream, orderer, make_body, fields, missing  # noqa: F811
):
    order = _uncertain(orderer, make_body, "HALF-READ")
    upstream = _history(mock_upstream, [_item("HALF-READ", **fields)])
    assert _attempt_again(order).result == "needs check"
    assert order.status == OrderStatus.NEEDS_CHECK and missing in order.last_error
    assert not upstream.calls("POST", "/colocations/v2/orders/workVisits")  # never a second create


def test_an_order_with_the_reference_in_another_ibx_is_not_this_one(mock_upstream, orderer, make_body):  # noqa: F811
    order = _uncertain(orderer, make_body, "OTHER-IBX")
    upstream = _history(mock_upstream, [_item("OTHER-IBX", ibx=["AM1"])])
    assert _attempt_again(order).result == "submitted as 1-999"
    assert len(upstream.calls("POST", "/colocations/v2/orders/workVisits")) == 1
