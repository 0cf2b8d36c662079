"""A change or a cancellation the data centre refuses (a 4xx answer, against the sandbox upstream process):
the portal shows what the data centre holds, not what it asked for, and tells everyone so."""

from datetime import timedelta

from django.core import mail

from tests.pipeline_harness import sandbox_fixture  # noqa: F401
from tests.test_pipeline_modify_and_cancel import _cancel_path, _submitted
from workvisits import notifications, services, submission
from workvisits.choices import EventKind, OrderStatus
from workvisits.models import Order, OrderEvent
from workvisits.rules import format_datetime


def _patch_path(order) -> str:
    return f"/colocations/v2/orders/workVisits/{order.upstream_order_id}"


def _invite_methods(message) -> list[str]:
    return [part.get_param("method") for part in message.message().walk() if part.get_content_type() == "text/calendar"]


def test_a_refused_change_puts_the_visit_back_as_the_data_centre_holds_it_and_says_so(
    sandbox, orderer, users, make_body
):
    technician = users["technician"]
    order = _submitted(orderer, make_body())
    start, end = order.visit_start, order.visit_end
    changed = services.order_modify(
        user=orderer,
        order_id=order.order_id,
        data={
            "details": {
                "visitStartDateTime": format_datetime(start + timedelta(hours=1)),
                "visitEndDateTime": format_datetime(end + timedelta(hours=1)),
                "openCabinet": not order.open_cabinet,
            },
            "contacts": [{"registeredUsers": [technician.username], "type": "NOTIFICATION"}],
        },
    )
    sandbox.fault("400", match=f"PATCH {_patch_path(order)}")
    mail.outbox.clear()

    assert submission.order_send_change(order_pk=order.pk, version=changed.version).result == "refused"
    order.refresh_from_db()
    assert (order.visit_start, order.visit_end, order.open_cabinet) == (start, end, not changed.open_cabinet)
    assert order.version == changed.version + 1
    assert not order.contacts.filter(user=technician, contact_type="NOTIFICATION").exists()
    refused = order.events.filter(kind=EventKind.MODIFIED).last()
    assert refused.note.startswith("The data centre refused the change: ")
    assert f"Not added as notification contacts: {technician.username}." in refused.note
    # Nothing is left to send: the data centre holds this state already.
    assert not order.events.filter(kind=EventKind.MODIFIED, sent_upstream_at__isnull=True).exists()
    assert submission.order_send_change(order_pk=order.pk, version=order.version).result == "already sent"
    assert len(sandbox.requests("PATCH", _patch_path(order))) == 1

    notifications.notify_order(order.pk)
    told = [m for m in mail.outbox if "refused the change" in m.subject]
    assert told and {m.to[0] for m in told} >= {orderer.email}
    assert _invite_methods(told[0]) == ["REQUEST"]  # the calendars get the visit back at its time
    assert "refused the change" in told[0].body


def test_changes_refused_together_are_undone_together_and_one_made_meanwhile_is_left_to_its_own_patch(
    sandbox, orderer, make_body
):
    order = _submitted(orderer, make_body())
    end = order.visit_end

    def move(hours):
        current = Order.objects.get(pk=order.pk)
        return services.order_modify(
            user=orderer,
            order_id=order.order_id,
            data={"details": {"visitEndDateTime": format_datetime(current.visit_end + timedelta(hours=hours))}},
        )

    first = move(1)
    second = move(1)  # before the first change's PATCH went: one PATCH carries both
    sandbox.fault("400", match=f"PATCH {_patch_path(order)}")
    assert submission.order_send_change(order_pk=order.pk, version=first.version).result == "refused"
    assert Order.objects.get(pk=order.pk).visit_end == end
    assert submission.order_send_change(order_pk=order.pk, version=second.version).result == "already sent"

    # A change made while a refused PATCH was on its way: nothing is undone; the change's own PATCH,
    # which carries the refused one too, decides.
    third = move(2)
    pending = list(
        OrderEvent.objects.filter(order=order, kind=EventKind.MODIFIED, sent_upstream_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    assert not services.order_change_refused(
        order_pk=order.pk, sent_version=third.version - 1, pending=pending, refusal="refused", reasons=[]
    )
    assert Order.objects.get(pk=order.pk).visit_end == third.visit_end
    assert submission.order_send_change(order_pk=order.pk, version=third.version).result == "sent"
    assert sandbox.requests("PATCH", _patch_path(order))[-1]["body"]["details"]["visitEndDateTime"] == (
        format_datetime(third.visit_end)
    )


def test_a_refused_cancellation_reopens_the_order_in_the_data_centre_s_status_and_says_so(sandbox, orderer, make_body):
    order = _submitted(orderer, make_body())
    services.order_cancel(user=orderer, order_id=order.order_id, reason="The engineer is ill.")
    held = sandbox.orders()[0]["status"]
    sandbox.fault("400", match=f"POST {_cancel_path(order)}")
    mail.outbox.clear()

    assert submission.order_cancel_upstream(order_pk=order.pk).result == "refused"
    order.refresh_from_db()
    assert order.status == held != OrderStatus.CANCELLED
    assert order.upstream_cancelled_at is None and order.lease_owner == ""
    event = order.events.filter(kind=EventKind.STATUS).last()
    assert (event.from_status, event.to_status) == (OrderStatus.CANCELLED, held)
    assert event.note.startswith("The data centre refused the cancellation: ")
    assert any(f"refused to cancel {order.order_id}" in m.subject for m in mail.outbox)  # the operators

    notifications.notify_order(order.pk)
    [told] = [m for m in mail.outbox if m.subject == f"Work visit {order.order_id} is not cancelled"]
    assert told.to == [orderer.email]
    assert _invite_methods(told) == ["REQUEST"]

    # Open again: the customer may cancel again, and is told again when it goes through.
    services.order_cancel(user=orderer, order_id=order.order_id, reason="The engineer is still ill.")
    assert submission.order_cancel_upstream(order_pk=order.pk).result == "cancelled"
    notifications.notify_order(order.pk)
    assert [m for m in mail.outbox if m.subject == f"Work visit {order.order_id} cancelled"]
    assert sandbox.orders()[0]["status"] == "CANCELLED"
