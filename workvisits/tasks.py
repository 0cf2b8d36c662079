"""Celery tasks: carry orders to the upstream exactly once, follow their status, tell people.

Every task takes primary keys and may run twice (acks_late redelivery, the sweeper): each one
re-reads the order and acts only on the state it finds. Work on one order is serialized by a
PostgreSQL advisory lock, which dies with the worker's connection, so a killed worker never
leaves an order locked. Status changes go through services.order_change_status (a row lock and
an event); web requests never wait for any of this.
"""

from __future__ import annotations

import logging
import random
from contextlib import contextmanager
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from . import notifications, selectors, services
from .choices import OPEN_UPSTREAM_STATUSES, UPSTREAM_STATUSES, EventKind, OrderStatus
from .models import Order, OrderEvent
from .upstream import payloads
from .upstream.client import UpstreamClient
from .upstream.errors import PermanentUpstreamError, TransientUpstreamError, UpstreamError

logger = logging.getLogger(__name__)

_LOCK_SPACE = 5417  # first key of the advisory locks this module takes; the order's pk is the second
LOCK_BUSY_DELAY = 2.0  # seconds to wait before trying again when another task holds the order
SENT_UPSTREAM = "sentUpstream"  # OrderEvent.data key: this change has reached the upstream
CANCEL_DONE = "cancelDone"  # Order.upstream_response key: the cancellation needs nothing more
SWEEP_WINDOW = timedelta(days=1)  # the sweeper looks this far back for lost follow-up work


@contextmanager
def order_lock(order_pk: int):
    """Yields True when this task may work on the order now (no other task holds it)."""
    if connection.vendor != "postgresql":  # SQLite under `make run`: one worker, no concurrent writers
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_SPACE, order_pk])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_SPACE, order_pk])


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter for the `attempt`-th failure, never sooner than Retry-After."""
    ceiling = min(settings.CELERY_RETRY_MAX_DELAY, settings.CELERY_RETRY_BASE_DELAY * 2 ** max(0, attempt - 1))
    delay = ceiling * random.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), settings.CELERY_RETRY_MAX_DELAY))
    return round(delay, 3)


def _client() -> UpstreamClient:
    return UpstreamClient()


def _mark_events(events, key: str) -> None:
    """Note in each event's data that its follow-up work is done (the sweeper skips marked events)."""
    services.mark_events([event.pk for event in events if key not in event.data], key)


# ---------------------------------------------------------------------------------------------
# Submission.
# Its outcome is recorded where people look for it (the order's status, last error and timeline, the
# upstream call log, the emails), so no task result is stored: that saves the busiest task two writes.
@shared_task(bind=True, name=services.SUBMIT_TASK, max_retries=None, ignore_result=True)
def submit_order(self, order_pk: int) -> str:
    """Create the order upstream once: claim it, look it up after an earlier attempt, then create;
    then email the people the outcome (and the order's receipt) with the order already read."""
    with order_lock(order_pk) as acquired:
        if not acquired:
            raise self.retry(countdown=LOCK_BUSY_DELAY)
        outcome, delay, tell = _submit(order_pk)
    if tell is not None:
        _tell(tell)
    if delay is not None:
        raise self.retry(countdown=delay)
    return outcome


def _tell(order: Order) -> None:
    """Send the order's pending emails now; when the mail server fails, a notification task retries
    (and should this worker die first, the sweeper finds the events not yet notified)."""
    try:
        notifications.notify_order(order.pk, order=order)
    except Exception:  # mail down, or a bug: the emails are not lost, the task sends them
        logger.warning("order %s: emails not sent with the submission; a task retries", order.pk, exc_info=True)
        services.enqueue(services.NOTIFY_TASK, order.pk, countdown=backoff_delay(1))


def _updated(order: Order, fresh: Order | None) -> Order | None:
    """`order` (read with its parts) with the fields of `fresh` (the row as a status change left it)."""
    if fresh is None:
        return None
    for field in Order._meta.concrete_fields:
        setattr(order, field.attname, getattr(fresh, field.attname))
    return order


# (outcome, seconds until the retry or None, the order (with its parts) whose new events need emails or None)
Submission = tuple[str, float | None, Order | None]


def _submit(order_pk: int) -> Submission:
    try:
        order = selectors.order_with_parts(order_pk)
    except Order.DoesNotExist:
        return "nothing to do (no order)", None, None
    if order.status != OrderStatus.QUEUED or order.upstream_order_id:
        return f"nothing to do ({order.status})", None, None
    # An earlier attempt that left no answer (timeout, dropped connection, killed worker) may have
    # created the order upstream: such an order is looked up by its reference before creating.
    earlier_attempt = order.submit_attempts > 0 or order.submitting_since is not None
    now = timezone.now()
    claimed = Order.objects.filter(pk=order_pk, status=OrderStatus.QUEUED).update(
        submit_attempts=F("submit_attempts") + 1, submitting_since=now, next_attempt_at=None, updated_at=now
    )
    if not claimed:
        return "moved on meanwhile", None, None
    attempt = order.submit_attempts + 1
    client = _client()
    body = None
    # The body carries the order as read here, at this version; a change made from now on (each one
    # bumps the version) is sent as a modification once the order is upstream.
    read_version = order.version
    try:
        found = client.find_order_by_reference(str(order.submission_key), order=order) if earlier_attempt else None
        if found:
            upstream_id = found["orderId"]
            read_version = 0  # created by an earlier attempt from older data: send every change
        else:
            body = _create_body(client, order)
            upstream_id = client.create_work_visit(body, order=order)
    except PermanentUpstreamError as exc:
        rejected = services.order_change_status(
            order_pk=order_pk,
            to_status=OrderStatus.REJECTED,
            from_statuses={OrderStatus.QUEUED},
            kind=EventKind.REJECTED,
            note=f"The data centre refused the order: {exc.message}",
            data={"reasons": exc.reasons(), "status": exc.status},
            rejection_reasons=exc.reasons(),
            last_error=str(exc),
            submitting_since=None,
            upstream_payload=body,
            upstream_response={"status": exc.status, "errors": exc.errors},
            notify=False,
        )
        return "rejected", None, _updated(order, rejected)
    except TransientUpstreamError as exc:
        return _submission_failed(order, attempt, exc)
    except Exception as exc:  # a bug or a time limit: counted and retried like a transient error
        logger.exception("order %s: submission attempt %d broke", order_pk, attempt)
        return _submission_failed(order, attempt, TransientUpstreamError(f"unexpected error: {exc!r}"))
    submitted = _submitted(order_pk, upstream_id, body, read_version)
    return f"submitted as {upstream_id}", None, _updated(order, submitted)


def _create_body(client: UpstreamClient, order: Order) -> dict:
    """The create body, with the order's files uploaded first (upstream attachment ids do not last)."""
    uploaded = []
    po_attachment_id = None
    for attachment in order.attachments.all():
        with attachment.file.open("rb") as handle:
            upstream_id = client.upload_attachment(attachment.name, handle.read(), attachment.content_type, order=order)
        uploaded.append({"id": upstream_id, "name": attachment.name})
        if attachment.pk == order.po_attachment_id:
            po_attachment_id = upstream_id
    if order.po_attachment_id and po_attachment_id is None and order.po_attachment:
        with order.po_attachment.file.open("rb") as handle:
            po_attachment_id = client.upload_attachment(
                order.po_attachment.name, handle.read(), order.po_attachment.content_type, order=order
            )
    return payloads.create_body(order, uploaded, po_attachment_id)


def _submitted(order_pk: int, upstream_id: str, body: dict | None, read_version: int) -> Order | None:
    """Record the upstream's id; the order as now stored, or None when it had moved on meanwhile."""
    order = services.order_change_status(
        order_pk=order_pk,
        to_status=OrderStatus.SUBMITTED,
        from_statuses={OrderStatus.QUEUED},
        note=f"Accepted by the data centre as order {upstream_id}.",
        data={"upstreamOrderId": upstream_id},
        upstream_order_id=upstream_id,
        submitting_since=None,
        next_attempt_at=None,
        last_error="",
        upstream_payload=body,
        upstream_response={"orderId": upstream_id},
        notify=False,
    )
    if order is None:
        # Cancelled (or moved) while the request was on its way: keep the id so the cancellation,
        # which waits for this task, reaches the upstream order.
        Order.objects.filter(pk=order_pk).update(upstream_order_id=upstream_id, submitting_since=None)
        services.record_event(
            order=Order.objects.get(pk=order_pk),
            kind=EventKind.UPSTREAM,
            note=f"The data centre accepted the order as {upstream_id} after it was cancelled here.",
            data={"upstreamOrderId": upstream_id},
        )
        return None
    # A change made while the order was on its way must still reach the upstream; those the body
    # carried are marked sent. An order at its first version, changed by nothing but this status
    # change (which bumped the version once), has no changes to look at.
    if read_version > 1 or order.version != read_version + 1:
        changes = list(OrderEvent.objects.filter(order_id=order_pk, kind=EventKind.MODIFIED))
        _mark_events([e for e in changes if e.data.get("version", 0) <= read_version], SENT_UPSTREAM)
        if any(e.data.get("version", 0) > read_version for e in changes):
            services.enqueue(services.MODIFY_TASK, order_pk, order.version)
    return order


def _submission_failed(order: Order, attempt: int, exc: UpstreamError) -> Submission:
    order_pk = order.pk
    if attempt >= settings.UPSTREAM_MAX_ATTEMPTS:
        failed = services.order_change_status(
            order_pk=order_pk,
            to_status=OrderStatus.FAILED,
            from_statuses={OrderStatus.QUEUED},
            note=f"The data centre could not be reached after {attempt} attempts: {exc}",
            last_error=str(exc),
            submitting_since=None,
            next_attempt_at=None,
            notify=False,
        )
        return "failed", None, _updated(order, failed)
    delay = backoff_delay(attempt, exc.retry_after)
    Order.objects.filter(pk=order_pk).update(
        submitting_since=None, next_attempt_at=timezone.now() + timedelta(seconds=delay), last_error=str(exc)
    )
    logger.info("order %s: attempt %d failed (%s); next in %.1f s", order_pk, attempt, exc, delay)
    # The "received" email waits for the data centre's answer no longer.
    return "retrying", delay, order if attempt == 1 else None


# ---------------------------------------------------------------------------------------------
# Modification and cancellation.
def _retry_or_give_up(task, order_pk: int, what: str, exc: UpstreamError):
    attempt = task.request.retries + 1
    if attempt < settings.UPSTREAM_MAX_ATTEMPTS:
        raise task.retry(countdown=backoff_delay(attempt, exc.retry_after))
    Order.objects.filter(pk=order_pk).update(last_error=str(exc))
    order = Order.objects.get(pk=order_pk)
    note = f"The {what} could not reach the data centre: {exc}"
    services.record_event(order=order, kind=EventKind.UPSTREAM, note=note)
    notifications.alert_operators(order, f"The {what} of order {order.order_id} could not reach the data centre", note)
    return "gave up"


@shared_task(bind=True, name=services.MODIFY_TASK, max_retries=None)
def modify_order(self, order_pk: int, version: int) -> str:
    """Send the order's current visit window, open-cabinet flag and notification contacts upstream."""
    with order_lock(order_pk) as acquired:
        if not acquired:
            raise self.retry(countdown=LOCK_BUSY_DELAY)
        order = selectors.order_with_parts(order_pk)
        if order.status not in OPEN_UPSTREAM_STATUSES or not order.upstream_order_id:
            # Not upstream yet: the submission sends the current state. Over: nothing to change.
            return f"nothing to do ({order.status})"
        body = payloads.modify_body(order)
        try:
            _client().modify_work_visit(order.upstream_order_id, body, order=order)
        except PermanentUpstreamError as exc:
            Order.objects.filter(pk=order_pk).update(last_error=str(exc))
            services.record_event(
                order=order,
                kind=EventKind.UPSTREAM,
                note=f"The data centre refused the change: {exc.message}",
                data={"reasons": exc.reasons(), "version": version},
            )
            _mark_events(order.events.filter(kind=EventKind.MODIFIED), SENT_UPSTREAM)
            notifications.alert_operators(order, f"The data centre refused a change of {order.order_id}", str(exc))
            return "refused"
        except TransientUpstreamError as exc:
            return _retry_or_give_up(self, order_pk, "change", exc)
        services.record_event(
            order=order,
            kind=EventKind.UPSTREAM,
            note=f"Change sent to the data centre (version {order.version}).",
            data={"version": order.version, "body": body},
        )
        _mark_events(order.events.filter(kind=EventKind.MODIFIED), SENT_UPSTREAM)
        return "sent"


@shared_task(bind=True, name=services.CANCEL_TASK, max_retries=None)
def cancel_order(self, order_pk: int) -> str:
    """Cancel a cancelled order upstream too, after any submission still in flight has finished."""
    with order_lock(order_pk) as acquired:
        if not acquired:
            raise self.retry(countdown=LOCK_BUSY_DELAY)
        order = Order.objects.get(pk=order_pk)
        if order.status != OrderStatus.CANCELLED:
            return f"nothing to do ({order.status})"
        if (order.upstream_response or {}).get(CANCEL_DONE):
            return "already done"
        client = _client()
        try:
            upstream_id = order.upstream_order_id
            if not upstream_id and order.submit_attempts:
                found = client.find_order_by_reference(str(order.submission_key), order=order)
                upstream_id = found["orderId"] if found else None
                if upstream_id:
                    Order.objects.filter(pk=order_pk).update(upstream_order_id=upstream_id)
            if not upstream_id:
                _cancel_done(order, "never upstream")
                services.record_event(
                    order=order, kind=EventKind.UPSTREAM, note="The order never reached the data centre."
                )
                return "never upstream"
            event = order.events.filter(kind=EventKind.CANCEL_REQUESTED).order_by("-id").first()
            reason = event.note if event and len(event.note) >= 5 else "Cancelled by the customer."
            client.cancel_order(upstream_id, reason, order=order)
        except PermanentUpstreamError as exc:
            _cancel_done(order, "refused")
            services.record_event(
                order=order, kind=EventKind.UPSTREAM, note=f"The data centre refused the cancellation: {exc.message}"
            )
            notifications.alert_operators(order, f"The data centre refused to cancel {order.order_id}", str(exc))
            return "refused"
        except TransientUpstreamError as exc:
            return _retry_or_give_up(self, order_pk, "cancellation", exc)
        _cancel_done(order, "cancelled")
        services.record_event(
            order=order, kind=EventKind.UPSTREAM, note=f"Order {upstream_id} cancelled at the data centre."
        )
        return "cancelled"


def _cancel_done(order: Order, outcome: str) -> None:
    response = {**(Order.objects.get(pk=order.pk).upstream_response or {}), CANCEL_DONE: outcome}
    Order.objects.filter(pk=order.pk).update(upstream_response=response, last_synced_at=timezone.now())


# ---------------------------------------------------------------------------------------------
# Notifications.
# Its outcome is recorded where people look for it (SentNotification rows, EMAIL events on the
# timeline), so no task result is stored: that halves the database writes of the busiest task.
@shared_task(bind=True, name=services.NOTIFY_TASK, max_retries=None, ignore_result=True)
def notify_order(self, order_pk: int) -> str:
    """Email the people the order's new events concern; retried on mail failures, never sending twice."""
    try:
        sent = notifications.notify_order(order_pk)
    except notifications.DeliveryError as exc:
        attempt = self.request.retries + 1
        if attempt >= settings.UPSTREAM_MAX_ATTEMPTS:
            logger.error("giving up on the emails of order %s: %s", order_pk, exc)
            return "gave up"
        raise self.retry(countdown=backoff_delay(attempt)) from exc
    return f"{sent} sent"


# ---------------------------------------------------------------------------------------------
# Periodic work (beat).
@shared_task(name="workvisits.sync_statuses")
def sync_statuses() -> str:
    """Follow the upstream's status of open orders, the least recently checked first, a batch at a time."""
    checked_before = timezone.now() - timedelta(seconds=settings.STATUS_SYNC_MIN_AGE)
    orders = (
        Order.objects.filter(status__in=OPEN_UPSTREAM_STATUSES, upstream_order_id__isnull=False)
        .filter(Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=checked_before))
        .order_by(F("last_synced_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)[: settings.STATUS_SYNC_BATCH]
    )
    client = _client()
    changed = 0
    for order_pk in list(orders):
        order = Order.objects.get(pk=order_pk)
        try:
            data = client.get_order(order.upstream_order_id, order=order)
        except TransientUpstreamError as exc:
            logger.warning("status sync stopped: %s", exc)  # the upstream struggles: do not hammer it
            break
        except PermanentUpstreamError as exc:
            Order.objects.filter(pk=order_pk).update(last_synced_at=timezone.now(), last_error=str(exc))
            continue
        status = data.get("status")
        if status in UPSTREAM_STATUSES and status != order.status:
            moved = services.order_change_status(
                order_pk=order_pk,
                to_status=status,
                from_statuses=OPEN_UPSTREAM_STATUSES,
                note=f"The data centre reports the order {status}.",
                last_synced_at=timezone.now(),
            )
            changed += moved is not None
        else:
            Order.objects.filter(pk=order_pk).update(last_synced_at=timezone.now())
    return f"{changed} changed"


@shared_task(name="workvisits.send_reminders")
def send_reminders() -> str:
    """Remind the contacts of visits starting within the next day (once per visit start)."""
    now = timezone.now()
    orders = Order.objects.filter(
        status__in=OPEN_UPSTREAM_STATUSES - {OrderStatus.CLOSED},
        visit_start__gt=now,
        visit_start__lte=now + timedelta(hours=24),
    ).values_list("pk", flat=True)
    sent = sum(notifications.send_reminder(pk) for pk in orders)
    return f"{sent} sent"


@shared_task(name="workvisits.sweep_orders")
def sweep_orders() -> str:
    """Send again the work no task is carrying: orders accepted while the broker was down or whose
    worker died mid-submission, and lost notifications, changes and cancellations."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.SWEEP_AFTER_SECONDS)
    stuck = Order.objects.filter(status=OrderStatus.QUEUED).filter(
        Q(submitting_since__isnull=True, next_attempt_at__isnull=True, updated_at__lt=grace)
        | Q(submitting_since__isnull=True, next_attempt_at__lt=grace)
        | Q(submitting_since__lt=now - timedelta(seconds=settings.CELERY_TASK_MAX_SECONDS))
    )
    submits = list(stuck.values_list("pk", flat=True)[:1000])
    for pk in submits:
        services.enqueue(services.SUBMIT_TASK, pk)

    recent = {"created_at__lt": grace, "created_at__gt": now - SWEEP_WINDOW}
    unnotified = OrderEvent.objects.filter(kind__in=services.NOTIFIED_EVENTS, **recent).exclude(
        data__has_key=notifications.NOTIFIED
    )
    notifies = list(unnotified.order_by().values_list("order_id", flat=True).distinct()[:1000])
    for pk in notifies:
        services.enqueue(services.NOTIFY_TASK, pk)

    unsent = (
        OrderEvent.objects.filter(
            kind=EventKind.MODIFIED,
            order__status__in=OPEN_UPSTREAM_STATUSES,
            order__upstream_order_id__isnull=False,
            **recent,
        )
        .exclude(data__has_key=SENT_UPSTREAM)
        .values_list("order_id", "order__version")
        .distinct()
    )
    changes = list(unsent[:1000])
    for pk, version in changes:
        services.enqueue(services.MODIFY_TASK, pk, version)

    uncancelled = (
        Order.objects.filter(status=OrderStatus.CANCELLED, updated_at__lt=grace, updated_at__gt=now - SWEEP_WINDOW)
        .filter(Q(upstream_order_id__isnull=False) | Q(submit_attempts__gt=0))
        .exclude(upstream_response__has_key=CANCEL_DONE)
    )
    cancels = list(uncancelled.values_list("pk", flat=True)[:1000])
    for pk in cancels:
        services.enqueue(services.CANCEL_TASK, pk)
    counts = (
        f"{len(submits)} submissions, {len(notifies)} notifications, {len(changes)} changes, "
        f"{len(cancels)} cancellations"
    )
    if submits or notifies or changes or cancels:
        logger.info("sweeper queued again: %s", counts)
    return counts


@shared_task(name=services.PASSWORD_RESET_TASK, ignore_result=True)
def send_password_reset(email: str, domain: str, use_https: bool) -> None:
    """The password reset link, sent by a worker rather than in the request."""
    services.password_reset_send(email=email, domain=domain, use_https=use_https)


@shared_task(name="workvisits.anonymize_orders", ignore_result=True)
def anonymize_orders() -> str:
    """Run by the beat daily: the retention of visitors' personal data (services.orders_anonymize)."""
    return f"{services.orders_anonymize()} orders anonymized"
