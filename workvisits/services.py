"""Writes. Every change of an order goes through one of these functions, in one transaction,
records its event, and hands follow-up work to Celery once the transaction has committed."""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from . import downloads, graph_insert, rules, selectors, series_invite, tasks, throttles, uploads, webhooks
from .choices import (
    HELD_UPSTREAM_STATUSES,
    RESUBMITTABLE_STATUSES,
    REVIEWABLE_STATUSES,
    ContactType,
    EventKind,
    OrderStatus,
)
from .exceptions import OrderChangeDenied, OrderConflict, OrderNotFound
from .models import (
    ApiClient,
    ApiToken,
    Attachment,
    CalendarFeed,
    Contact,
    Order,
    OrderCage,
    OrderEvent,
    Organization,
    User,
    Visitor,
)
from .queueing import enqueue, enqueue_on_commit
from .web.messages import local_span

logger = logging.getLogger(__name__)

# Events whose recipients the notification task decides on (it sends every such event of an order
# not yet notified, so one task carries the emails of several events).
NOTIFIED_EVENTS = frozenset(
    {EventKind.CREATED, EventKind.STATUS, EventKind.MODIFIED, EventKind.REJECTED, EventKind.CANCEL_REQUESTED}
)


def send_for_submission_on_commit(order_pk: int) -> None:
    """Once the transaction commits, send the order's submission task. The caller has stored the order
    QUEUED with `sent_for_submission_at` set (in the same write, so a send costs no statement of its
    own); an order the broker did not take has it cleared again, and is the sweeper's (the QUEUED row is
    the outbox). Should the process die between the commit and the send, the sweeper sends the order
    after its grace, as it does for a message the broker lost."""

    def send():
        if not enqueue(tasks.submit_order, order_pk):
            Order.objects.filter(pk=order_pk, status=OrderStatus.QUEUED, submit_attempts=0).update(
                sent_for_submission_at=None
            )

    transaction.on_commit(send)


def record_event(
    *,
    order: Order,
    kind: str,
    actor: User | None = None,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
    data: dict | None = None,
    notify: bool = True,
) -> OrderEvent:
    """Add to the order's timeline; events that concern people are handed to the notifier on commit
    (with notify=False the caller sees to it that a notification task follows)."""
    event = OrderEvent.objects.create(
        order=order, kind=kind, actor=actor, from_status=from_status, to_status=to_status, note=note, data=data or {}
    )
    _event_recorded(order, kind, event.pk, notify=notify)
    # The webhooks' outbox rows, in this transaction (workvisits/webhooks.py).
    webhooks.order_event_recorded(order=order, event=event)
    return event


def _event_recorded(order: Order, kind: str, event_pk: int, *, notify: bool = True) -> None:
    """What follows the insert of an event row (also one inserted by order_create's statement)."""
    if notify and kind in NOTIFIED_EVENTS:
        enqueue_on_commit(tasks.notify_order, order.pk)


def record_events(order: Order, kind: str, notes_and_data: list[tuple[str, dict]]) -> None:
    """Add several events of a kind nobody is notified of (e.g. the EMAIL of each email sent) at once."""
    if kind in NOTIFIED_EVENTS:
        raise ValueError(f"{kind} events are recorded one at a time, with record_event")
    OrderEvent.objects.bulk_create(
        [OrderEvent(order=order, kind=kind, note=note, data=data) for note, data in notes_and_data]
    )


def events_mark_notified(event_pks: list[int]) -> None:
    """The emails of these events are done (the sweeper no longer looks at them)."""
    if event_pks:
        OrderEvent.objects.filter(pk__in=event_pks, notified_at__isnull=True).update(notified_at=timezone.now())


def _violation(path: str, code: str, message: str) -> rules.RuleViolation:
    return rules.RuleViolation([rules.RuleError(path, code, message)])


# ---------------------------------------------------------------------------------------------
def order_create(
    *, user: User, data: dict, now: datetime | None = None, structure_errors: list[rules.RuleError] = ()
) -> Order:
    """Check `data` (the Work Visits v2 create body, whose structure errors the caller found) against every
    rule and store the order.

    Raises rules.RuleViolation with every error, the structure's first. The order waits for review when the
    organization's policy says so, otherwise it is queued for submission once the transaction commits.
    """
    if not user.organization_id:
        raise _violation(
            "details.cages",
            rules.NO_CREATE_PERMISSION,
            "Your user belongs to no customer organization, so it cannot order work visits.",
        )
    ctx, ordering = selectors.ordering_context_and_ids(
        user,
        now,
        attachment_ids=_referenced_attachments(data),
        # The caller too: the default technical and notification contact.
        usernames=[user.username, *_referenced_usernames(data)],
    )
    shape = rules.Shape(e.path for e in structure_errors)
    errors, clean = rules.validate_create(data, ctx, user.username, shape)
    if errors or structure_errors:
        raise rules.RuleViolation([*structure_errors, *errors])

    # The rows are stored with the primary keys of the facts the rules were checked against.
    ids = ordering.catalogue
    first_cage = ids.cage_ids[clean.cages[0].cage_id]
    po = clean.purchase_order
    reasons = rules.review_reasons(
        ordering.review_policy,
        now=ctx.now,
        visit_start=clean.visit_start,
        visit_end=clean.visit_end,
        ibx_timezone=first_cage.ibx_timezone,
        has_non_registered_visitors=any(not v.username for v in clean.visitors),
        purchase_order_type=po.type if po else None,
    )
    status = OrderStatus.PENDING_REVIEW if reasons else OrderStatus.QUEUED

    order = Order(
        organization_id=user.organization_id,
        ibx_id=first_cage.ibx_pk,
        ordered_by=user,
        description=clean.description,
        customer_reference_id=clean.customer_reference_id,
        po_type=po.type if po else "",
        po_number=po.number if po else "",
        po_amount=po.amount if po else "",
        po_start_date=po.start_date if po else None,
        po_end_date=po.end_date if po else None,
        po_attachment_id=po.attachment_id if po else None,
        open_cabinet=clean.open_cabinet,
        visit_start=clean.visit_start,
        visit_end=clean.visit_end,
        status=status,
        review_reasons=reasons,
        sent_for_submission_at=ctx.now if status == OrderStatus.QUEUED else None,
    )
    cages = [
        OrderCage(
            cage_id=ids.cage_ids[c.cage_id].pk,
            account_id=ids.account_ids[c.account_number],
            cabinet_id=ids.cabinet_ids[c.cabinet_id] if c.cabinet_id else None,
        )
        for c in clean.cages
    ]
    visitors = [Visitor(**_person_fields(p, ordering.user_ids)) for p in clean.visitors]
    contacts = [
        Contact(
            contact_type=p.type,
            availability=p.availability,
            timezone=p.timezone,
            **_person_fields(p, ordering.user_ids),
        )
        for p in clean.contacts
    ]
    event = OrderEvent(
        kind=EventKind.CREATED,
        actor=user,
        to_status=status,
        note=" ".join(reasons) if reasons else "Queued for submission to the data centre.",
    )
    # One statement stores the order, its parts and its first event, atomic by itself: a transaction
    # is needed only for the claim of attachments (rare) and, inside the caller's transaction, to keep
    # a savepoint around the create as before.
    # The webhook deliveries of the new order are stored with it, in one transaction.
    endpoints = (
        webhooks.endpoints_for_event(user.organization_id, webhooks.WebhookEvent.PLACED)
        if ordering.has_webhooks
        else []
    )
    po_attachment = po.attachment_id if po else None
    needs_transaction = (
        bool(clean.attachment_ids or po_attachment or endpoints) or transaction.get_connection().in_atomic_block
    )
    with transaction.atomic() if needs_transaction else contextlib.nullcontext():
        # The purchase order's file is locked until the order holds it: the removal of unused uploads
        # skips locked rows, and one it removed since the check is refused at its field.
        if po_attachment and not (
            Attachment.objects.select_for_update()
            .filter(id=po_attachment, organization_id=user.organization_id)
            .exists()
        ):
            raise _violation(
                "purchaseOrder.attachmentId",
                rules.INVALID,
                "purchaseOrder.attachmentId: the attachment was removed a moment ago (unused uploads are "
                "removed after 24 hours); upload it again.",
            )
        graph_insert.insert_graph(
            order, [("order", cages), ("order", visitors), ("order", contacts), ("order", [event])]
        )
        if clean.attachment_ids:
            claimed = Attachment.objects.filter(
                id__in=clean.attachment_ids, organization_id=user.organization_id, order__isnull=True
            ).update(order=order)
            if claimed != len(clean.attachment_ids):
                # Another order took one of them between the check and now.
                raise _violation(
                    "attachments",
                    rules.INVALID,
                    "attachments: one of the attachments was just used by another order; upload it again.",
                )
        if endpoints:
            webhooks.order_event_recorded(order=order, event=event, endpoints=endpoints)
        # A queued order's "received" email goes out with the data centre's answer (or its first
        # failure), from its submission.
        if status == OrderStatus.QUEUED:
            send_for_submission_on_commit(order.pk)
        else:
            enqueue_on_commit(tasks.notify_order, order.pk)
    logger.info("order %s created with status %s", order.order_id, status)
    return order


def _referenced_attachments(data) -> list[str]:
    """The attachment ids a create body names (whatever its shape): only those need looking up."""
    if not isinstance(data, dict):
        return []
    items = data.get("attachments") if isinstance(data.get("attachments"), list) else []
    ids = [item.get("id") for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]
    po = data.get("purchaseOrder")
    if isinstance(po, dict) and isinstance(po.get("attachmentId"), str):
        ids.append(po["attachmentId"])
    return ids


def _referenced_usernames(data) -> list[str]:
    """The registered usernames a create body names (whatever its shape): only those need looking up."""
    details = data.get("details") if isinstance(data, dict) else None
    entries = []
    for parent, key in ((details, "visitors"), (data, "contacts")):
        found = parent.get(key) if isinstance(parent, dict) else None
        entries += found if isinstance(found, list) else []
    names = []
    for entry in entries:
        given = entry.get("registeredUsers") if isinstance(entry, dict) else None
        names += [name for name in given if isinstance(name, str)] if isinstance(given, list) else []
    return names


def _person_fields(person: rules.CleanPerson, user_ids: dict[str, int]) -> dict:
    if person.username:
        return {"user_id": user_ids[person.username]}
    return {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "company_name": person.company_name,
        "details": [{"type": d.type, "value": d.value} for d in person.details],
    }


# ---------------------------------------------------------------------------------------------
def _order_for_change(user: User, order_id: str) -> Order:
    try:
        order = selectors.order_for_user(user, order_id)
    except Order.DoesNotExist:
        raise OrderNotFound(order_id) from None
    if not selectors.user_may_change_order(user, order):
        raise OrderChangeDenied([rules.RuleError("orderId", rules.NO_UPDATE_PERMISSION, rules.CHANGE_DENIED)])
    if not order.is_open:
        raise OrderConflict(f"Order {order.order_id} is {order.status} and can no longer be changed or cancelled.")
    return order


def order_modify(
    *,
    user: User,
    order_id: str,
    data: dict,
    expected_version: int | None = None,
    now: datetime | None = None,
    structure_errors: list[rules.RuleError] = (),
) -> Order:
    """Change the visit window, open cabinet or add a notification contact (the Work Visits v2 PATCH).

    Optimistic locking: the change applies only to the version that was read (or `expected_version`);
    a concurrent change in between raises OrderConflict instead of being overwritten.
    """
    order = _order_for_change(user, order_id)
    version = expected_version if expected_version is not None else order.version
    if version != order.version:
        raise OrderConflict(
            f"Order {order.order_id} has changed since you read it (version {order.version}, "
            f"not {version}); read it again and retry."
        )
    ctx = selectors.ordering_context(user, now, attachment_ids=())  # a change names no attachments: none loaded
    shape = rules.Shape(e.path for e in structure_errors)
    errors, change = rules.validate_modify(data, ctx, selectors.order_facts(order), shape)
    if errors or structure_errors:
        raise rules.RuleViolation([*structure_errors, *errors])

    fields: dict = {}
    before: dict = {}
    for name, value in (
        ("visit_start", change.visit_start),
        ("visit_end", change.visit_end),
        ("open_cabinet", change.open_cabinet),
    ):
        if value is not None and value != getattr(order, name):
            fields[name] = value
            before[name] = getattr(order, name)
    with transaction.atomic():
        in_series = _lock_series_of(order.pk)
        updated = Order.objects.filter(pk=order.pk, version=version, status=order.status).update(
            **fields, version=F("version") + 1, updated_at=timezone.now()
        )
        if not updated:
            raise OrderConflict(
                f"Order {order.order_id} was changed by someone else meanwhile; read it again and retry."
            )
        added = []
        if change.notification_usernames:
            known = {
                c.user.username
                for c in order.parts("contacts")
                if c.user_id and c.contact_type == ContactType.NOTIFICATION
            }
            new_users = User.objects.filter(
                organization_id=order.organization_id, username__in=set(change.notification_usernames) - known
            )
            Contact.objects.bulk_create(
                [
                    Contact(
                        order=order,
                        contact_type=ContactType.NOTIFICATION,
                        user=u,
                        availability=change.notification_availability,
                        timezone=change.notification_timezone,
                    )
                    for u in new_users
                ]
            )
            added = sorted(u.username for u in new_users)
        order.refresh_from_db()
        record_event(
            order=order,
            kind=EventKind.MODIFIED,
            actor=user,
            note=_describe_change(order, before, added),
            data={
                "before": {k: _jsonable(v) for k, v in before.items()},
                "after": {k: _jsonable(getattr(order, k)) for k in before},
                "notificationContacts": added,
                "version": order.version,
            },
        )
        if order.status in HELD_UPSTREAM_STATUSES:
            enqueue_on_commit(tasks.modify_order, order.pk, order.version)
        if in_series and ("visit_start" in before or "visit_end" in before):
            _series_follow(order.pk)
    return order


def order_change_refused(*, order_pk: int, sent_version: int, pending: list[int], refusal: str, reasons) -> bool:
    """The data centre refused the PATCH that carried the order at `sent_version` (the changes of the
    `pending` MODIFIED events): the order goes back to what the data centre holds (each field as it was
    before the first of those changes; the notification contacts they added removed), and everyone is
    told, with a calendar invite that puts the visit back. Returns False, changing nothing, when the
    order has changed since: the later change's PATCH carries these changes too (they stay pending)."""
    with transaction.atomic():
        in_series = _lock_series_of(order_pk)
        order = webhooks.order_locked(order_pk)
        if order.version != sent_version:
            return False
        before: dict = {}
        added: list[str] = []
        for event in OrderEvent.objects.filter(pk__in=pending, kind=EventKind.MODIFIED).order_by("id"):
            data = event.data if isinstance(event.data, dict) else {}
            for name, value in (data.get("before") or {}).items():
                before.setdefault(name, value)
            added += data.get("notificationContacts") or []
        back = {name: _from_json(name, value) for name, value in before.items() if name in _CHANGEABLE}
        back = {name: value for name, value in back.items() if value is not None}  # an unreadable record: kept
        undone = {name: getattr(order, name) for name, value in back.items() if value != getattr(order, name)}
        Contact.objects.filter(order=order, contact_type=ContactType.NOTIFICATION, user__username__in=added).delete()
        for name, value in back.items():
            setattr(order, name, value)
        order.version += 1
        order.last_error = refusal
        order.save(update_fields=["version", "last_error", "updated_at", *back])
        stays = f"The visit stays {local_span(order.visit_start, order.visit_end, order.ibx.timezone)}."
        if "open_cabinet" in undone:
            stays += " Cabinet to be opened." if order.open_cabinet else " Cabinet not to be opened."
        if added:
            stays += f" Not added as notification contacts: {', '.join(sorted(set(added)))}."
        event = record_event(
            order=order,
            kind=EventKind.MODIFIED,
            note=f"The data centre refused the change: {refusal}. {stays}",
            data={
                "before": {k: _jsonable(v) for k, v in undone.items()},
                "after": {k: _jsonable(getattr(order, k)) for k in undone},
                "notificationContacts": [],
                "removedContacts": sorted(set(added)),
                "version": order.version,
                "refused": True,
                "reasons": reasons,
            },
        )
        # What the data centre holds already: nothing to send (the pending changes are answered too).
        OrderEvent.objects.filter(pk__in=[*pending, event.pk]).update(sent_upstream_at=timezone.now())
        if in_series and ("visit_start" in undone or "visit_end" in undone):
            _series_follow(order.pk)
    return True


# The fields a change (order_modify) may set, as its events' "before" records them.
_CHANGEABLE = frozenset({"visit_start", "visit_end", "open_cabinet"})


def _from_json(name: str, value):
    return rules.parse_datetime(value) if name in ("visit_start", "visit_end") else bool(value)


def order_cancel_refused(*, order_pk: int, refusal: str, upstream_status: str | None) -> Order | None:
    """The data centre refused to cancel an order cancelled here: it is open again, in the status the
    data centre reports (SUBMITTED when it does not say), so the status sync follows it again, and
    everyone is told the visit was not cancelled (with an invite that puts it back in their calendars,
    unless the data centre reports it CLOSED). None when the order is no longer CANCELLED here."""
    to_status = upstream_status if upstream_status in HELD_UPSTREAM_STATUSES else OrderStatus.SUBMITTED
    with transaction.atomic():
        in_series = _lock_series_of(order_pk)
        order = order_change_status(
            order_pk=order_pk,
            to_status=to_status,
            from_statuses={OrderStatus.CANCELLED},
            note=f"The data centre refused the cancellation: {refusal}. The order stays {to_status}.",
            data={"cancelRefused": True},
            last_error=refusal,
            upstream_cancelled_at=None,
        )
        if order is not None and in_series:
            _series_follow(order_pk)
    return order


def _lock_series_of(order_pk: int) -> bool:
    """Lock the series an order is an occurrence of, before the order (the series' lock order); whether
    there is one."""
    return series_invite.series_lock_for_order(order_pk) is not None


def _series_follow(order_pk: int) -> None:
    """An occurrence's order was moved or withdrawn: its series' recurring invite follows (an override, an
    EXDATE, a new SEQUENCE)."""
    series_invite.occurrence_follow_order(order_pk=order_pk)


def _jsonable(value):
    return rules.format_datetime(value) if isinstance(value, datetime) else value


def _describe_change(order: Order, before: dict, added: list[str]) -> str:
    parts = []
    if "visit_start" in before or "visit_end" in before:
        # In the IBX's own time, as the customer typed it; the event's data keeps the UTC instants.
        parts.append(f"Visit rescheduled to {local_span(order.visit_start, order.visit_end, order.ibx.timezone)}.")
    if "open_cabinet" in before:
        parts.append("Cabinet to be opened." if order.open_cabinet else "Cabinet not to be opened.")
    if added:
        parts.append(f"Notification contact added: {', '.join(added)}.")
    return " ".join(parts) or "No change."


def order_cancel(
    *, user: User, order_id: str, reason: str, attachments: list | None = None, line_ids: list[str] | None = None
) -> Order:
    """Cancel an open order. One the upstream holds is cancelled there too, by a task.

    `attachments` (references `{id, name?}` to the organization's unused uploads) are attached to the
    order and named in the cancellation's event; `line_ids`, when given, must be all of the order's lines.
    """
    errors = rules.cancel_reason_errors(reason)
    if errors:
        raise rules.RuleViolation(errors)
    order = _order_for_change(user, order_id)
    attachment_ids: list[str] = []
    if attachments or line_ids is not None:  # an empty list lists none of the lines: refused
        ctx = selectors.ordering_context(user, attachment_ids=_referenced_attachments({"attachments": attachments}))
        errors, attachment_ids = rules.attachments_errors_and_clean(attachments, ctx)
        errors += rules.cancel_lines_errors(line_ids, [line_id for line_id, _ in selectors.order_lines(order)])
        if errors:
            raise rules.RuleViolation(errors)
    return _cancel(order_pk=order.pk, actor=user, reason=reason, attachment_ids=attachment_ids)


def _cancel(*, order_pk: int, actor: User, reason: str, attachment_ids: list[str] = ()) -> Order:
    with transaction.atomic():
        in_series = _lock_series_of(order_pk)
        order = webhooks.order_locked(order_pk)
        if not order.is_open:
            raise OrderConflict(f"Order {order.order_id} is {order.status} and can no longer be cancelled.")
        if attachment_ids:
            claimed = Attachment.objects.filter(
                id__in=attachment_ids, organization_id=order.organization_id, order__isnull=True
            ).update(order=order)
            if claimed != len(attachment_ids):
                raise _violation(
                    "attachments",
                    rules.INVALID,
                    "attachments: one of the attachments was just used by another order; upload it again.",
                )
        # The upstream holds it, or may: a submission is in flight, or an earlier one left no answer.
        held_upstream = (
            order.status in HELD_UPSTREAM_STATUSES
            or order.upstream_order_id is not None
            or order.upstream_uncertain
            or order.lease_expires_at is not None
        )
        _set_status(
            order,
            OrderStatus.CANCELLED,
            actor=actor,
            note=reason.strip(),
            kind=EventKind.CANCEL_REQUESTED,
            data={"attachments": list(attachment_ids)} if attachment_ids else None,
        )
        if held_upstream:
            enqueue_on_commit(tasks.cancel_order, order.pk)
        if in_series:
            _series_follow(order.pk)
    return order


# ---------------------------------------------------------------------------------------------
def _set_status(
    order: Order,
    to_status: str,
    *,
    actor: User | None,
    note: str,
    kind: str = EventKind.STATUS,
    data: dict | None = None,
    notify: bool = True,
    **fields,
) -> OrderEvent:
    from_status = order.status
    order.status = to_status
    for name, value in fields.items():
        setattr(order, name, value)
    order.version += 1
    order.save(update_fields=["status", "version", "updated_at", *fields])
    return record_event(
        order=order,
        kind=kind,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        note=note,
        data=data,
        notify=notify,
    )


def order_change_status(
    *,
    order_pk: int,
    to_status: str,
    from_statuses: frozenset[str] | set[str] | None = None,
    actor: User | None = None,
    note: str = "",
    kind: str = EventKind.STATUS,
    data: dict | None = None,
    notify: bool = True,
    **fields,
) -> Order | None:
    """Move an order to `to_status` under a row lock, if it is in one of `from_statuses`.

    Returns the order, or None when its status was not one of `from_statuses` (someone else moved it).
    Extra keyword arguments are stored on the order in the same save. With notify=False the caller
    sends the event's emails itself (see record_event).
    """
    with transaction.atomic():
        order = webhooks.order_locked(order_pk)
        if from_statuses is not None and order.status not in from_statuses:
            return None
        if order.status == to_status and not fields:
            return order
        _set_status(order, to_status, actor=actor, note=note, kind=kind, data=data, notify=notify, **fields)
        if to_status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            # After the commit, in a transaction of its own: the caller may hold the order's lock, and
            # a series is locked before its orders. (The series' beat follows one this missed.)
            transaction.on_commit(lambda: _series_follow(order_pk), robust=True)
        return order


def _queue_for_submission(*, order_pk: int, from_statuses: frozenset[str], refusal: str, **change) -> Order:
    """QUEUED from one of `from_statuses` (else OrderConflict(refusal)), sent for submission on commit."""
    order = order_change_status(
        order_pk=order_pk,
        to_status=OrderStatus.QUEUED,
        from_statuses=from_statuses,
        sent_for_submission_at=timezone.now(),
        **change,
    )
    if order is None:
        raise OrderConflict(refusal)
    send_for_submission_on_commit(order.pk)
    return order


def order_approve(*, reviewer: User, order_pk: int, note: str = "") -> Order:
    """A reviewer lets a waiting order go to the data centre."""
    return _queue_for_submission(
        order_pk=order_pk,
        from_statuses=REVIEWABLE_STATUSES,
        refusal="Only orders waiting for review can be approved.",
        actor=reviewer,
        note=note or "Approved.",
        kind=EventKind.APPROVED,
    )


def order_reject(*, reviewer: User, order_pk: int, reason: str) -> Order:
    """A reviewer turns an order down; the customer and the contacts are told why."""
    errors = rules.cancel_reason_errors(reason)
    if errors:
        raise rules.RuleViolation(errors)
    order = order_change_status(
        order_pk=order_pk,
        to_status=OrderStatus.REJECTED,
        from_statuses=REVIEWABLE_STATUSES,
        actor=reviewer,
        note=reason.strip(),
        kind=EventKind.REJECTED,
        rejection_reasons=[{"property": "", "reason": reason.strip()}],
    )
    if order is None:
        raise OrderConflict("Only orders waiting for review can be rejected.")
    return order


def order_resubmit(*, operator: User, order_pk: int) -> Order:
    """An operator sends a FAILED order to the data centre again."""
    return _queue_for_submission(
        order_pk=order_pk,
        from_statuses=RESUBMITTABLE_STATUSES,
        refusal="Only FAILED orders can be resubmitted.",
        actor=operator,
        note="Resubmitted by an operator.",
        submit_attempts=0,
        last_error="",
        next_attempt_at=None,
    )


def order_staff_cancel(*, staff: User, order_pk: int, reason: str) -> Order:
    """Data-centre staff cancel an open order from the admin."""
    errors = rules.cancel_reason_errors(reason)
    if errors:
        raise rules.RuleViolation(errors)
    return _cancel(order_pk=order_pk, actor=staff, reason=reason)


# ---------------------------------------------------------------------------------------------
def attachment_create(*, user: User, uploaded, path: str = "file") -> Attachment:
    """Store an uploaded file for `user`'s organization after checking its name, size and content.

    `uploaded` is a Django UploadedFile. Raises rules.RuleViolation naming `path`.
    """
    if not user.organization_id:
        raise _violation(path, rules.NO_CREATE_PERMISSION, "Your user belongs to no customer organization.")
    if not selectors.user_may_order(user):
        raise _violation(path, rules.NO_CREATE_PERMISSION, rules.UPLOAD_DENIED)
    name = (uploaded.name or "").strip()
    errors, content_type = uploads.attachment_file_errors(name, uploaded, path)
    if errors:
        raise rules.RuleViolation(errors)
    attachment = uploads.attachment_store(user=user, uploaded=uploaded, name=name, content_type=content_type, path=path)
    logger.info("attachment %s (%s, %d bytes) stored", attachment.id, content_type, attachment.size)
    return attachment


# ---------------------------------------------------------------------------------------------
# JSON API credentials. Client secrets and tokens are 256-bit random values: they are stored as keyed
# (HMAC-SHA-256) and plain SHA-256 digests, which cost microseconds to check; a slow password hash
# would let a flood of made-up credentials take the web workers' CPU.
class InvalidCredentials(Exception):
    """The client id and secret do not match an active client."""


class TooManyFailures(Exception):
    """Too many failed token requests for this client id from this address; retry after `retry_after` s."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"retry after {retry_after} s")


API_SECRET_SCHEME = "hmac-sha256$"  # noqa: S105 (the name of the digest, not a secret)
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def api_secret_digest(secret: str) -> str:
    """The stored form of a client secret, keyed by API_SECRET_KEY (derived from SECRET_KEY by default)."""
    mac = salted_hmac(
        "workvisits.api-client-secret", secret, secret=settings.API_SECRET_KEY, algorithm="sha256"
    ).hexdigest()
    return API_SECRET_SCHEME + mac


def api_client_create(*, user: User, name: str = "") -> tuple[ApiClient, str]:
    """New client credentials acting as `user`. Returns the client and its secret, shown only this once."""
    secret = secrets.token_urlsafe(32)
    client = ApiClient.objects.create(
        user=user,
        name=name[: ApiClient._meta.get_field("name").max_length],
        client_id=f"wv-{secrets.token_hex(12)}",
        secret_hash=api_secret_digest(secret),
    )
    return client, secret


def api_client_revoke(*, client: ApiClient) -> None:
    """Revoke the client and every token it was given (saved through the model: the change is audited)."""
    now = timezone.now()
    with transaction.atomic():
        if client.revoked_at is None:
            client.revoked_at = now
            client.save(update_fields=["revoked_at"])
        ApiToken.objects.filter(client=client, revoked_at__isnull=True).update(revoked_at=now)


def _secret_matches(client: ApiClient | None, secret: str) -> bool:
    if client is None:
        # Unknown client id: the same digest work as a known one, so both answer alike.
        constant_time_compare(api_secret_digest(secret), API_SECRET_SCHEME + "0" * 64)
        return False
    if client.secret_hash.startswith(API_SECRET_SCHEME):
        return constant_time_compare(api_secret_digest(secret), client.secret_hash)
    # A client created before secrets were HMAC-ed: its password-hasher hash is checked once, on its
    # first successful use, and replaced by the HMAC (docs/operations.md, "Security").
    if not check_password(secret, client.secret_hash):
        return False
    ApiClient.objects.filter(pk=client.pk, secret_hash=client.secret_hash).update(secret_hash=api_secret_digest(secret))
    return True


def api_token_issue(*, client_id, client_secret, address: str = "") -> tuple[str, ApiToken]:
    """A new bearer token for valid client credentials; raises InvalidCredentials or TooManyFailures.

    A (client id, address) pair that failed too often is refused before any lookup or hashing; other
    clients from the same address are not affected.
    """
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        client_id = ""
    if throttles.TOKEN_FAILURES.exceeded(client_id, address):
        raise TooManyFailures(throttles.TOKEN_FAILURES.window)
    valid = isinstance(client_secret, str) and 0 < len(client_secret) <= 256
    client = None
    if client_id and valid:
        client = ApiClient.objects.select_related("user").filter(client_id=client_id).first()
    matches = _secret_matches(client, client_secret if valid else "")
    if not (client and matches and client.revoked_at is None and client.user.is_active):
        throttles.TOKEN_FAILURES.hit(client_id, address)
        raise InvalidCredentials()
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    record = ApiToken.objects.create(
        client=client,
        token_hash=selectors.api_token_digest(token),
        expires_at=now + timedelta(seconds=settings.API_TOKEN_SECONDS),
    )
    ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
    record.client = client
    return token, record


# ---------------------------------------------------------------------------------------------
# Password reset: the request only enqueues; a worker looks the address up and sends the link, so a
# known address is answered exactly as fast as an unknown one.


def password_reset_request(*, email: str, domain: str, use_https: bool) -> bool:
    """Hand a reset of `email`'s account to a worker; False when the broker cannot be reached."""
    return enqueue(tasks.send_password_reset, email, domain, use_https)


def password_reset_send(*, email: str, domain: str, use_https: bool) -> None:
    """Send the reset link to the active users with this email address (none: nothing happens)."""
    from django.contrib.auth.forms import PasswordResetForm

    form = PasswordResetForm({"email": email})
    if form.is_valid():
        form.save(
            domain_override=domain,
            use_https=use_https,
            subject_template_name="registration/password_reset_subject.txt",
            email_template_name="registration/password_reset_email.html",
        )


# ---------------------------------------------------------------------------------------------
# Retention: the personal data of visitors and non-registered contacts goes some days after the visit.
def _erased_person() -> dict:
    return {"first_name": rules.ERASED_NAME, "last_name": rules.ERASED_NAME, "company_name": "", "details": []}


def orders_anonymize(*, now: datetime | None = None, batch: int = 500) -> int:
    """Remove the names, emails and phones of the people typed into orders whose visit ended more than
    their organization's retention_days ago (registered users are accounts, not order data). The
    order, its times and cages stay; an event says when. Returns how many orders were anonymized."""
    now = now or timezone.now()
    done = 0
    for organization_id, days in Organization.objects.values_list("id", "retention_days"):
        due = Order.objects.filter(
            organization_id=organization_id,
            visit_end__lt=now - timedelta(days=days),
            personal_data_removed_at__isnull=True,
        ).values_list("pk", flat=True)[:batch]
        for order_pk in list(due):
            with transaction.atomic():
                order = Order.objects.select_for_update().get(pk=order_pk)
                if order.personal_data_removed_at is not None:
                    continue
                visitors = Visitor.objects.filter(order=order, user__isnull=True).update(**_erased_person())
                contacts = Contact.objects.filter(order=order, user__isnull=True).update(**_erased_person())
                # What was sent to and answered by the upstream names the same people.
                order.upstream_payload = None
                order.upstream_response = None
                order.personal_data_removed_at = now
                order.save(update_fields=["upstream_payload", "upstream_response", "personal_data_removed_at"])
                order.upstream_calls.update(request_body=None, response_body="")
                for notice in order.notifications.exclude(recipient__endswith="@removed.invalid"):
                    notice.recipient = f"{notice.pk}@removed.invalid"
                    notice.save(update_fields=["recipient"])
                record_event(
                    order=order,
                    kind=EventKind.ANONYMIZED,
                    note=f"Personal data of {visitors} visitor(s) and {contacts} contact(s) removed, "
                    f"{days} days after the visit.",
                    data={"visitors": visitors, "contacts": contacts, "retentionDays": days},
                )
            done += 1
    return done


def calendar_feed_create(*, user: User) -> str:
    """A new private calendar feed for `user`; earlier feeds stop working. Returns the URL's token."""
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        CalendarFeed.objects.create(user=user, token_hash=selectors.calendar_token_hash(token))
    return token


def calendar_feed_revoke(*, user: User) -> int:
    """Switch off the user's calendar feeds."""
    return CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


def order_visitors_leave_out(*, order: Order, indexes: list[int]) -> int:
    """Leave the visitors at these positions (in the order they were given) out of the order's emails."""
    ids = list(Visitor.objects.filter(order=order).order_by("id").values_list("id", flat=True))
    chosen = [ids[i] for i in indexes if 0 <= i < len(ids)]
    return Visitor.objects.filter(pk__in=chosen).update(notify=False)


def attachment_delete(*, user: User, attachment_id) -> None:
    """Delete an upload of `user`'s organization that no order uses; one an order uses stays with it.

    Raises Http404 for an attachment the user may not see, OrderChangeDenied for one the user may see
    but not delete (rules.may_delete_upload) and OrderConflict for one in use.
    """
    attachment = downloads.attachment_for_user(user, attachment_id)
    if not rules.may_delete_upload(
        is_uploader=attachment.uploaded_by_id == user.pk, sees_all_orders=selectors.user_sees_all_orders(user)
    ):
        raise OrderChangeDenied(
            [rules.RuleError("attachmentId", rules.NO_UPDATE_PERMISSION, rules.UPLOAD_DELETE_DENIED)]
        )
    with transaction.atomic():
        attachment = Attachment.objects.select_for_update().get(pk=attachment.pk)
        in_use = attachment.order_id or Order.objects.filter(po_attachment_id=attachment.pk).exists()
        if in_use:
            raise OrderConflict(
                f"Attachment {attachment.id} belongs to an order and stays with it; "
                "only uploads no order uses can be deleted.",
                property="attachmentId",
            )
        stored = attachment.file.name
        attachment.delete()
        storage = attachment.file.storage
        transaction.on_commit(lambda: storage.delete(stored))
    logger.info("attachment %s deleted", attachment_id)
