"""The reviewers' and operators' actions in the order admin: each goes through its service, changes only
orders whose state allows it, and records who did it and why on the timeline."""

import pytest
from django.core import mail
from django.urls import reverse

from tests.admin_helpers import CHANGELIST, messages_of, order_in, post_action
from workvisits import notifications, services
from workvisits.choices import EventKind, OrderStatus


@pytest.fixture
def reviewer_client(client, users):
    client.force_login(users["reviewer"])
    return client


@pytest.fixture
def operator_client(client, users):
    client.force_login(users["operator"])
    return client


def _last_event(order):
    return order.events.order_by("-id").first()


def test_approve_queues_the_order_and_records_the_reviewer(
    reviewer_client, users, orderer, make_body, django_capture_on_commit_callbacks
):
    order = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_action(reviewer_client, "approve_orders", order)
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.QUEUED
    event = _last_event(order)
    assert (event.kind, event.actor, event.from_status, event.to_status) == (
        EventKind.APPROVED,
        users["reviewer"],
        OrderStatus.PENDING_REVIEW,
        OrderStatus.QUEUED,
    )
    assert callbacks, "the submission is handed to a worker once the approval commits"
    assert f"Approved: {order.order_id}." in messages_of(response)


def test_reject_asks_for_the_reason_on_an_intermediate_page(reviewer_client, orderer, make_body):
    order = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    page = post_action(reviewer_client, "reject_orders", order)
    assert page.status_code == 200
    assert b'name="reason"' in page.content and order.order_id.encode() in page.content
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW  # nothing happens before the reason is given


def test_reject_with_a_reason_tells_the_customer_why(
    reviewer_client, users, orderer, make_body, django_capture_on_commit_callbacks, published_tasks
):
    order = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    notifications.notify_order(order.pk)  # the emails of its placing, as the worker sends them
    mail.outbox.clear()
    reason = "The visitor list must name the electrician's company."
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(reviewer_client, "reject_orders", order, apply="yes", reason=reason)
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.REJECTED
    assert order.rejection_reasons == [{"property": "", "reason": reason}]
    event = _last_event(order)
    assert (event.kind, event.actor, event.note) == (EventKind.REJECTED, users["reviewer"], reason)
    # The REJECTED event is handed to the notifier, which tells the customer and the contacts why.
    assert published_tasks == [("workvisits.notify_order", (order.pk,))]
    assert notifications.notify_order(order.pk) == len(mail.outbox) == 1
    told = {address for message in mail.outbox for address in message.to}
    assert "orderer@acme.example" in told
    assert all(reason in message.body for message in mail.outbox)


def test_a_reason_too_short_is_refused_on_the_page(reviewer_client, orderer, make_body):
    order = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    page = post_action(reviewer_client, "reject_orders", order, apply="yes", reason="no")
    assert page.status_code == 200
    assert b"errorlist" in page.content
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW


def test_a_reviewer_cannot_approve_an_order_that_does_not_wait_for_review(reviewer_client, orderer, make_body):
    waiting = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    queued = order_in(OrderStatus.QUEUED, orderer, make_body)
    response = post_action(reviewer_client, "approve_orders", waiting, queued)
    said = messages_of(response)
    assert f"{queued.order_id}: not approved. Only orders waiting for review can be approved." in said
    assert f"Approved: {waiting.order_id}." in said
    queued.refresh_from_db()
    assert queued.status == OrderStatus.QUEUED
    assert not queued.events.filter(kind=EventKind.APPROVED).exists()


def test_resubmit_sends_a_failed_order_again(
    operator_client, users, orderer, make_body, django_capture_on_commit_callbacks
):
    order = order_in(OrderStatus.FAILED, orderer, make_body)
    order.__class__.objects.filter(pk=order.pk).update(submit_attempts=5, last_error="upstream 503")
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_action(operator_client, "resubmit_orders", order)
    order.refresh_from_db()
    assert (order.status, order.submit_attempts, order.last_error) == (OrderStatus.QUEUED, 0, "")
    event = _last_event(order)
    assert (event.actor, event.from_status, event.to_status) == (users["operator"], "FAILED", "QUEUED")
    assert event.note == "Resubmitted by an operator."
    assert callbacks
    assert f"Resubmitted: {order.order_id}." in messages_of(response)


def test_only_failed_orders_are_resubmitted(operator_client, orderer, make_body):
    order = order_in(OrderStatus.SUBMITTED, orderer, make_body)
    response = post_action(operator_client, "resubmit_orders", order)
    assert f"{order.order_id}: not resubmitted. Only FAILED orders can be resubmitted." in messages_of(response)
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED


def test_staff_cancel_records_the_reason(operator_client, users, orderer, make_body):
    order = order_in(OrderStatus.QUEUED, orderer, make_body)
    notifications.notify_order(order.pk)  # the emails of its placing, as the worker sends them
    mail.outbox.clear()
    reason = "The customer called: the visit is no longer needed."
    post_action(operator_client, "cancel_orders", order, apply="yes", reason=reason)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    event = _last_event(order)
    assert (event.kind, event.actor, event.note) == (EventKind.CANCEL_REQUESTED, users["operator"], reason)
    assert notifications.notify_order(order.pk) == 1
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["orderer@acme.example"], f"Work visit {order.order_id} cancelled")
    ]
    assert reason in mail.outbox[0].body


def test_a_closed_order_cannot_be_cancelled(operator_client, orderer, make_body):
    order = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    services.order_reject(reviewer=None, order_pk=order.pk, reason="Not in this form, please.")
    response = post_action(operator_client, "cancel_orders", order, apply="yes", reason="Duplicate of another one.")
    assert any("not cancelled" in m and "REJECTED" in m for m in messages_of(response))
    order.refresh_from_db()
    assert order.status == OrderStatus.REJECTED


def test_the_order_page_offers_the_actions_its_state_allows(reviewer_client, orderer, make_body):
    waiting = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    page = reviewer_client.get(reverse("admin:workvisits_order_change", args=[waiting.pk]))
    assert b'value="approve_orders"' in page.content and b'value="reject_orders"' in page.content
    assert b'value="resubmit_orders"' not in page.content
    queued = order_in(OrderStatus.QUEUED, orderer, make_body)
    page = reviewer_client.get(reverse("admin:workvisits_order_change", args=[queued.pk]))
    assert b'value="approve_orders"' not in page.content
    # The button posts the list page's action for this one order, so it acts like the list does.
    response = reviewer_client.post(
        CHANGELIST, {"action": "approve_orders", "index": 0, "_selected_action": waiting.pk}
    )
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == OrderStatus.QUEUED
