"""Changes and cancellations sent to the sandbox upstream: each logical call carries one UUID correlation id,
the same across its retries; a cancellation whose first answer was lost and whose repeat gets 409 is done
when the upstream reads the order CANCELLED, and only then."""

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.pipeline_harness import sandbox_fixture  # noqa: F401
from workvisits import services, submission
from workvisits.choices import EventKind, OrderStatus
from workvisits.models import Order
from workvisits.rules import format_datetime
from workvisits.upstream.errors import TransientUpstreamError


def _submitted(user, body) -> Order:
    order = services.order_create(user=user, data=body)
    submission.order_submit(order_pk=order.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    return order


def _correlation_ids(sandbox, method, path) -> list[str]:
    return [r["headers"]["x-correlation-id"] for r in sandbox.requests(method) if r["path"] == path]


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _cancel_path(order) -> str:
    return f"/colocations/v2/orders/{order.upstream_order_id}/cancel"


def test_a_change_and_a_cancellation_each_carry_one_uuid_correlation_id_across_a_retry(sandbox, orderer, make_body):
    order = _submitted(orderer, make_body())
    start = order.visit_start + timedelta(hours=1)
    changed = services.order_modify(
        user=orderer,
        order_id=order.order_id,
        data={"details": {"visitStartDateTime": format_datetime(start),
                          "visitEndDateTime": format_datetime(start + timedelta(hours=2))}},
    )
    patch = f"/colocations/v2/orders/workVisits/{order.upstream_order_id}"
    sandbox.fault("503", match=f"PATCH {patch}")
    with pytest.raises(TransientUpstreamError):
        submission.order_send_change(order_pk=order.pk, version=changed.version)
    assert submission.order_send_change(order_pk=order.pk, version=changed.version).result == "sent"
    modify_ids = _correlation_ids(sandbox, "PATCH", patch)
    assert len(modify_ids) == 2 and len(set(modify_ids)) == 1 and _is_uuid(modify_ids[0])

    services.order_cancel(user=orderer, order_id=order.order_id, reason="The engineer is ill.")
    sandbox.fault("503", match=f"POST {_cancel_path(order)}")
    with pytest.raises(TransientUpstreamError):
        submission.order_cancel_upstream(order_pk=order.pk)
    assert submission.order_cancel_upstream(order_pk=order.pk).result == "cancelled"
    cancel_ids = _correlation_ids(sandbox, "POST", _cancel_path(order))
    assert len(cancel_ids) == 2 and len(set(cancel_ids)) == 1 and _is_uuid(cancel_ids[0])
    # Each logical call its own id, none the create's.
    create_ids = set(_correlation_ids(sandbox, "POST", "/colocations/v2/orders/workVisits"))
    assert len({modify_ids[0], cancel_ids[0], *create_ids}) == 3


def test_a_cancellation_whose_answer_was_lost_is_done_when_the_repeat_gets_409_for_a_cancelled_order(
    sandbox, orderer, make_body
):
    order = _submitted(orderer, make_body())
    services.order_cancel(user=orderer, order_id=order.order_id, reason="The engineer is ill.")
    sandbox.fault("drop", match=f"POST {_cancel_path(order)}")  # cancelled there, the answer lost
    with pytest.raises(TransientUpstreamError):
        submission.order_cancel_upstream(order_pk=order.pk)
    mail.outbox.clear()

    assert submission.order_cancel_upstream(order_pk=order.pk).result == "cancelled"
    assert [r["status"] for r in sandbox.requests("POST", _cancel_path(order))] == [None, 409]
    order.refresh_from_db()
    assert order.upstream_cancelled_at is not None
    assert order.events.filter(kind=EventKind.UPSTREAM).last().note == (
        f"Order {order.upstream_order_id} was already cancelled at the data centre."
    )
    assert not [m for m in mail.outbox if "refused" in m.subject]


def test_a_409_for_an_order_the_upstream_holds_as_closed_is_still_a_refusal(sandbox, orderer, make_body):
    order = _submitted(orderer, make_body())
    services.order_cancel(user=orderer, order_id=order.order_id, reason="The engineer is ill.")
    sandbox.set_status(order.upstream_order_id, "CLOSED")
    mail.outbox.clear()

    assert submission.order_cancel_upstream(order_pk=order.pk).result == "refused"
    assert sandbox.requests("GET", f"/colocations/v2/orders/{order.upstream_order_id}")  # it was read
    # The portal shows what the data centre holds: the visit is done, not cancelled.
    order.refresh_from_db()
    assert order.status == OrderStatus.CLOSED
    assert "refused the cancellation" in order.events.filter(kind=EventKind.STATUS).last().note
    assert any(f"refused to cancel {order.order_id}" in m.subject for m in mail.outbox)


def test_a_cancellation_s_files_reach_the_upstream_with_it_and_a_refused_one_does_not_stop_it(
    sandbox, orderer, make_body
):
    order = _submitted(orderer, make_body())
    letter = services.attachment_create(user=orderer, uploaded=SimpleUploadedFile("letter.txt", b"No visit."))
    photo = services.attachment_create(user=orderer, uploaded=SimpleUploadedFile("note.txt", b"See the letter."))
    services.order_cancel(
        user=orderer,
        order_id=order.order_id,
        reason="The engineer is ill.",
        attachments=[{"id": str(letter.pk)}, {"id": str(photo.pk)}],
    )
    sandbox.fault("400", count=1, match="POST /v1/attachments/file")  # the first file refused, the second taken

    assert submission.order_cancel_upstream(order_pk=order.pk).result == "cancelled"
    [cancel] = sandbox.requests("POST", _cancel_path(order))
    [stored] = sandbox.state()["attachments"]
    assert cancel["body"] == {
        "reason": "The engineer is ill.",
        "attachments": [{"id": stored["attachmentId"], "name": "note.txt"}],
    }
    assert sandbox.orders()[0]["status"] == "CANCELLED"
    note = order.events.filter(kind=EventKind.UPSTREAM).last().note
    assert note == f"Order {order.upstream_order_id} cancelled at the data centre. Not sent with it: letter.txt."
