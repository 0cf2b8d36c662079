"""A change or a cancellation made while the submission is on its way still reaches the upstream."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from tests.pipeline_harness import CREATE, broker_fixture, queued_tasks, sandbox_fixture, wait_for  # noqa: F401
from workvisits import services, submission, tasks
from workvisits.choices import OrderStatus
from workvisits.rules import format_datetime

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def upstream(sandbox, broker):
    return sandbox, broker


def _order_on_its_way(sandbox, orderer, make_body):
    """An order whose submission (in a thread) the slow upstream has taken but not yet answered."""
    sandbox.fault("slow", count=1, match=CREATE)
    order = services.order_create(user=orderer, data=make_body())

    def submit():
        try:
            submission.order_submit(order_pk=order.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=submit)
    thread.start()
    wait_for(lambda: sandbox.orders(), what="the upstream to hold the order")
    return order, thread


def test_change_made_during_submission_is_sent_afterwards(upstream, orderer, make_body):
    sandbox, broker = upstream
    order, thread = _order_on_its_way(sandbox, orderer, make_body)

    new_start = order.visit_start + timedelta(hours=2)
    changed = services.order_modify(
        user=orderer,
        order_id=order.order_id,
        data={
            "details": {
                "visitStartDateTime": format_datetime(new_start),
                "visitEndDateTime": format_datetime(new_start + timedelta(hours=3)),
                "openCabinet": True,
            }
        },
    )
    thread.join(10)
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    # The created order carries the old window; the submission queued the change for the upstream.
    assert sandbox.orders()[0]["body"]["details"]["openCabinet"] is False
    assert (tasks.modify_order.name, (order.pk, order.version)) in queued_tasks(broker)

    assert tasks.modify_order.run(order.pk, changed.version) == "sent"
    assert tasks.modify_order.run(order.pk, changed.version) == "already sent"
    details = sandbox.orders()[0]["modifications"][-1]["body"]["details"]
    assert details["openCabinet"] is True and details["visitStartDateTime"] == format_datetime(new_start)


def test_cancellation_during_submission_cancels_upstream(upstream, orderer, make_body):
    sandbox, _ = upstream
    order, thread = _order_on_its_way(sandbox, orderer, make_body)

    services.order_cancel(user=orderer, order_id=order.order_id, reason="The engineer is ill.")
    # The cancellation waits for the submission, which holds the order.
    thread.join(10)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and order.upstream_order_id == sandbox.orders()[0]["orderId"]

    assert tasks.cancel_order.run(order.pk) == "cancelled"
    assert sandbox.orders()[0]["status"] == "CANCELLED"
    assert sandbox.orders()[0]["cancellation"]["reason"] == "The engineer is ill."
    assert tasks.cancel_order.run(order.pk) == "already done"
