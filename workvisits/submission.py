"""Carrying orders to the upstream exactly once, and following them there.

The submission of one order is a small state machine on the order's row:

- A worker **claims** a QUEUED order with a lease (`lease_owner`, `lease_expires_at`: one UPDATE
  that only succeeds when no live lease exists), then **gives its database session back** (to the
  process's pool, DATABASE_POOL_MAX_SIZE) while it talks to the upstream; every upstream call of the
  attempt ends before the lease does. A worker
  killed mid-attempt leaves a lease that runs out; the sweeper then sends the order again.
- Before the create is sent, `upstream_uncertain` is set: "this create may reach the upstream".
  A definite answer (a 2xx with the order id, a 4xx, 503, 429, 408, a request that never left) clears it; an ambiguous
  one (no answer, 500/502/504) or a killed worker leaves it set.
- An attempt that finds the flag set first **looks the order up** in Order History (`q` = the
  reference sent), no sooner than UPSTREAM_LOOKUP_DELAY_SECONDS after a lost answer. Exactly one
  order with that reference, created since the first attempt (less the clock skew allowed), in the
  order's IBX and linked to no other portal order, whose lines (read back) name this order's cages
  or none: adopted. None: it never arrived, create it.
  Anything else, or a search the upstream cannot answer: **NEEDS_CHECK**, for an operator; never
  REJECTED, never sent again by itself.
- A permanent 4xx to the create: REJECTED after that one attempt, with the upstream's reasons.
  Transient failures retry with backoff until UPSTREAM_MAX_ATTEMPTS, then FAILED; NEEDS_CHECK instead
  when the upstream may hold the order (the flag still set: the last attempts could not find out).

Every transition is a row-locked status change with an event (services.order_change_status).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import notifications, queueing, selectors, services, tasks
from .choices import NEEDS_CHECK_STATUSES, OPEN_UPSTREAM_STATUSES, EventKind, OrderStatus
from .models import Attachment, Order, OrderEvent, User
from .upstream import payloads
from .upstream.client import UpstreamClient
from .upstream.errors import PermanentUpstreamError, TransientUpstreamError, UpstreamError

logger = logging.getLogger(__name__)

LEASE_MARGIN = 5.0  # seconds of the lease kept free after the last upstream call, for the database writes
SWEEP_BATCH = 1000


class Inconclusive(Exception):
    """The look-up cannot say whether the upstream holds the order."""


@dataclass
class Outcome:
    result: str
    retry_in: float | None = None


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter for the `attempt`-th failure, never sooner than Retry-After."""
    ceiling = min(settings.CELERY_RETRY_MAX_DELAY, settings.CELERY_RETRY_BASE_DELAY * 2 ** max(0, attempt - 1))
    delay = ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), settings.CELERY_RETRY_MAX_DELAY))
    return round(delay, 3)


# ---------------------------------------------------------------------------------------------
# Leases.
def order_claim(
    *, order_pk: int, statuses, seconds: float | None = None, where: Q | None = None, **fields
) -> str | None:
    """Claim the order for this worker if it is in `statuses` (and matches `where`) and nobody holds a
    live lease on it; returns the lease's owner id, or None. `fields` are stored in the same UPDATE."""
    owner = uuid.uuid4().hex
    now = timezone.now()
    lease = timedelta(seconds=seconds if seconds is not None else settings.SUBMIT_LEASE_SECONDS)
    claimed = (
        Order.objects.filter(pk=order_pk, status__in=statuses)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .filter(where or Q())
        .update(lease_owner=owner, lease_expires_at=now + lease, updated_at=now, **fields)
    )
    return owner if claimed else None


def order_release(*, order_pk: int, owner: str, **fields) -> bool:
    """Give the lease up (storing `fields`); False when it was no longer ours."""
    return bool(
        Order.objects.filter(pk=order_pk, lease_owner=owner).update(lease_owner="", lease_expires_at=None, **fields)
    )


def _released() -> dict:
    return {"lease_owner": "", "lease_expires_at": None}


def _deadline() -> float:
    return time.monotonic() + settings.SUBMIT_LEASE_SECONDS - LEASE_MARGIN


def _let_go_of_the_database() -> None:
    """No session is held while the upstream is waited on (a worker may wait on many calls at once)."""
    if not connection.in_atomic_block:
        connection.close()


def _send_submission(order_pk: int, countdown: float | None = None) -> bool:
    return queueing.enqueue(tasks.submit_order, order_pk, countdown=countdown)


# ---------------------------------------------------------------------------------------------
# Submission.
def order_submit(*, order_pk: int) -> Outcome:
    """One attempt to bring a QUEUED order to the upstream (the submit task's whole work)."""
    try:
        return _claim_and_attempt(order_pk)
    except DatabaseError as exc:
        # The database went away (or no pooled session came in time): the next attempt is sent now; if
        # this one held the lease, that attempt waits for it to run out (an upstream call that may have
        # gone out left `upstream_uncertain` set, so it is looked up). Broker down too: the sweeper.
        logger.warning("order %s: database error during the attempt (%s); trying again", order_pk, exc)
        connection.close()
        _send_submission(order_pk, countdown=backoff_delay(1))
        return Outcome("database error")


def _claim_and_attempt(order_pk: int) -> Outcome:
    now = timezone.now()
    try:
        order = selectors.order_for_submission(order_pk)
    except Order.DoesNotExist:
        return Outcome("nothing to do (no order)")
    if order.status != OrderStatus.QUEUED or order.upstream_order_id:
        return Outcome(f"nothing to do ({order.status})")
    if order.next_attempt_at and order.next_attempt_at > now + timedelta(seconds=1):
        return Outcome("not yet")  # an early duplicate: the scheduled message (or the sweeper) follows
    if order.lease_expires_at and order.lease_expires_at > now:
        # Held by another attempt, perhaps one whose worker died: look again once the lease runs out.
        wait = (order.lease_expires_at - now).total_seconds() + 1
        _send_submission(order_pk, countdown=wait)
        return Outcome("busy", wait)
    files = _files(order)
    # The common case (nothing to look up, no files) goes straight to the create: the flag that the
    # upstream may hold the order is set by the claim itself, which holds only if nobody set it since
    # the read (an attempt that died after its create must be looked up, never sent again).
    direct = not order.upstream_uncertain and not files
    body = payloads.create_body(order, [], None) if direct else None  # before the claim: a bug here sets no flag
    flags = {"upstream_uncertain": True} if direct else {}
    owner = order_claim(
        order_pk=order_pk,
        statuses={OrderStatus.QUEUED},
        where=Q(upstream_order_id__isnull=True, upstream_uncertain=order.upstream_uncertain),
        submit_attempts=F("submit_attempts") + 1,
        first_attempt_at=Coalesce(F("first_attempt_at"), now),
        next_attempt_at=None,
        **flags,
    )
    if owner is None:
        return Outcome("claimed by another worker")
    order.submit_attempts += 1
    order.first_attempt_at = order.first_attempt_at or now
    return _attempt(order, owner, files, body)


def _attempt(order: Order, owner: str, files: list[tuple], body: dict | None) -> Outcome:
    """The upstream calls of one attempt, with the lease held (`body`: the create body when it was
    built before the claim, i.e. the order has no files and nothing to look up)."""
    order_pk = order.pk
    attempt = order.submit_attempts
    direct = body is not None
    client = UpstreamClient(deadline=_deadline(), record_later=True)
    read_version = order.version  # the body carries the order at this version; later changes are PATCHed
    creating = False
    _let_go_of_the_database()
    try:
        upstream_id = _look_up(client, order) if order.upstream_uncertain else None
        if upstream_id:
            read_version = 0  # created by an earlier attempt, perhaps from older data: send every change
        else:
            if not direct:
                uploaded, po_attachment_id = _upload(client, order, files)
                body = payloads.create_body(order, uploaded, po_attachment_id)
                if not Order.objects.filter(pk=order_pk, lease_owner=owner).update(upstream_uncertain=True):
                    return Outcome("lease lost")
                _let_go_of_the_database()
            creating = True
            upstream_id = client.create_work_visit(body, order=order, correlation_id=str(order.submission_key))
    except Inconclusive as exc:
        client.save_calls()
        return _needs_check(order, owner, str(exc))
    except PermanentUpstreamError as exc:
        client.save_calls()
        return _rejected(order, owner, exc, body)
    except TransientUpstreamError as exc:
        client.save_calls()
        lost_answer = creating and exc.ambiguous  # the next attempt looks it up: give Order History time
        return _retry(
            order,
            owner,
            attempt,
            exc,
            definite_create=creating and not exc.ambiguous,
            at_least=settings.UPSTREAM_LOOKUP_DELAY_SECONDS if lost_answer else 0.0,
        )
    except DatabaseError:
        raise
    except Exception as exc:  # a bug or a broken file: counted and retried; a create in flight stays uncertain
        logger.exception("order %s: submission attempt %d broke", order_pk, attempt)
        client.save_calls()
        return _retry(
            order, owner, attempt, TransientUpstreamError(f"unexpected error: {exc!r}"), definite_create=False
        )
    client.save_calls()
    return _submitted(order, upstream_id, body, read_version)


def _files(order: Order) -> list[tuple]:
    """(attachment, is the purchase order's) of every file the create body references, read now."""
    files = [(a, a.pk == order.po_attachment_id) for a in order.parts("attachments")]
    if order.po_attachment_id and not any(is_po for _, is_po in files) and order.po_attachment:
        files.append((order.po_attachment, True))
    return files


def _upload(client: UpstreamClient, order: Order, files) -> tuple[list[dict], str | None]:
    """Upload the order's files (upstream attachment ids do not last, so at every attempt)."""
    uploaded, po_attachment_id = [], None
    for attachment, is_po in files:
        purpose = "PO_DOCUMENT" if is_po else None
        upstream_id = client.upload_attachment(attachment.name, _read(attachment), purpose=purpose, order=order)
        if attachment.order_id == order.pk:
            uploaded.append({"id": upstream_id, "name": attachment.name})
        if is_po:
            po_attachment_id = upstream_id
    return uploaded, po_attachment_id


def _look_up(client: UpstreamClient, order: Order) -> str | None:
    """The upstream id of the order an earlier attempt created, or None when it conclusively made none.
    Raises Inconclusive when the upstream cannot say; transient errors propagate (retried later)."""
    reference = payloads.sent_reference(order)
    try:
        data = client.search_orders(reference, ibx=order.ibx.code, order=order)
    except PermanentUpstreamError as exc:
        raise Inconclusive(f"the data centre's order search cannot answer ({exc})") from exc
    except TransientUpstreamError as exc:
        if exc.status == 501:  # Not Implemented: this upstream has no such search, however often asked
            raise Inconclusive(f"the data centre's order search cannot answer ({exc})") from exc
        raise
    content = data["content"]
    page = data.get("page") if isinstance(data.get("page"), dict) else {}
    total = page.get("totalElements")
    if isinstance(total, int) and total > len(content):
        raise Inconclusive(f"the order search found {total} orders for reference {reference!r}, more than one page")
    since = order.first_attempt_at - timedelta(seconds=settings.UPSTREAM_CLOCK_SKEW_SECONDS)
    candidates = []
    for item in content:
        if not isinstance(item, dict) or reference not in _as_list(item.get("customerReferenceNumbers")):
            continue
        created = _when(item.get("createdAt"))
        if created is None:
            raise Inconclusive(f"an order with reference {reference!r} has no readable createdAt")
        if created < since:
            continue
        # Created since the first attempt: it may be this order, so what cannot be read is never passed over
        # (taking it for another order would create this one a second time).
        ibxs = _as_list(item.get("ibx"))
        if not ibxs:
            raise Inconclusive(f"an order with reference {reference!r} created since the first attempt has no ibx")
        if order.ibx.code not in ibxs:
            continue
        if item.get("orderNumber") in (None, ""):
            raise Inconclusive(
                f"an order with reference {reference!r} created in {order.ibx.code} since the first attempt "
                "has no orderNumber"
            )
        candidates.append(str(item["orderNumber"]))
    taken = set(Order.objects.filter(upstream_order_id__in=candidates).values_list("upstream_order_id", flat=True))
    _let_go_of_the_database()
    candidates = [c for c in dict.fromkeys(candidates) if c not in taken]
    if len(candidates) > 1:
        raise Inconclusive(
            f"{len(candidates)} orders with reference {reference!r} were created in {order.ibx.code} since the "
            f"first attempt ({', '.join(candidates)})"
        )
    if candidates:
        _check_cages(client, order, candidates[0], reference)
    return candidates[0] if candidates else None


def _check_cages(client: UpstreamClient, order: Order, upstream_id: str, reference: str) -> None:
    """Read back the one order the search found: when its lines name other cages than this order's, it is
    someone else's order with the same reference (customers reuse them), or this one read differently;
    the portal cannot tell which, so it asks an operator (Inconclusive) rather than adopt it or create the
    visit a second time. Lines that name no cage, or a read refused, are no evidence either way."""
    try:
        data = client.get_order(upstream_id, order=order)
    except PermanentUpstreamError:
        return  # unreadable now: no evidence either way (a transient failure is retried)
    lines = data.get("details") if isinstance(data.get("details"), list) else []
    theirs = {
        line["cage"].strip().upper() for line in lines if isinstance(line, dict) and isinstance(line.get("cage"), str)
    }
    theirs.discard("")
    ours = {part.cage.cage_id.upper() for part in order.parts("cages")}
    _let_go_of_the_database()
    if theirs and theirs != ours:
        raise Inconclusive(
            f"order {upstream_id}, found by reference {reference!r}, names cages {', '.join(sorted(theirs))}, "
            f"not this order's {', '.join(sorted(ours))}"
        )


def _as_list(value) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)] if value not in (None, "") else []


def _when(value) -> datetime | None:
    """createdAt as an aware datetime: an ISO 8601 string, or milliseconds since the epoch."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        parsed = parse_datetime(value.replace("'T'", "T"))
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _submitted(order: Order, upstream_id: str, body: dict | None, read_version: int) -> Outcome:
    """Record the upstream's id (whoever holds the lease now: the id is a fact), then tell people."""
    fields = {
        "upstream_order_id": upstream_id,
        "upstream_uncertain": False,
        "next_attempt_at": None,
        "last_error": "",
        **_released(),
    }
    if body is not None:
        fields["upstream_payload"] = body
    done = services.order_change_status(
        order_pk=order.pk,
        to_status=OrderStatus.SUBMITTED,
        from_statuses={OrderStatus.QUEUED, OrderStatus.NEEDS_CHECK},
        note=f"Accepted by the data centre as order {upstream_id}.",
        data={"upstreamOrderId": upstream_id},
        notify=False,
        **fields,
    )
    if done is None:
        return _submitted_meanwhile(order.pk, upstream_id, fields)
    history = notifications.order_history(order.pk)  # one read for the changes and the emails
    _changes_after(done, read_version, history)
    _tell(_updated(order, done), history)
    return Outcome(f"submitted as {upstream_id}")


def _submitted_meanwhile(order_pk: int, upstream_id: str, fields: dict) -> Outcome:
    """The order moved on while the create was on its way; the upstream's id must not be lost."""
    current = Order.objects.get(pk=order_pk)
    if current.upstream_order_id == upstream_id:
        return Outcome("already recorded")
    if current.upstream_order_id:
        note = (
            f"The data centre holds this order twice: as {current.upstream_order_id} and as {upstream_id}. "
            f"Cancel {upstream_id} in the data centre's portal."
        )
        services.record_event(order=current, kind=EventKind.UPSTREAM, note=note, data={"upstreamOrderId": upstream_id})
        notifications.alert_operators(current, f"Work visit {current.order_id} is held twice upstream", note)
        return Outcome("held twice")
    # Cancelled while the request was on its way: keep the id so that the cancellation (which waits
    # for the lease) reaches the upstream order.
    Order.objects.filter(pk=order_pk, upstream_order_id__isnull=True).update(**fields)
    services.record_event(
        order=current,
        kind=EventKind.UPSTREAM,
        note=f"The data centre accepted the order as {upstream_id} after it was {current.status} here.",
        data={"upstreamOrderId": upstream_id},
    )
    return Outcome("accepted after a cancellation")


def _changes_after(order: Order, read_version: int, history: list[OrderEvent]) -> None:
    """Changes the create body carried are marked sent; later ones are PATCHed now (`history`: the
    order's events as notifications.order_history read them, its changes among them)."""
    unsent = [
        (e.pk, e.data.get("version") if isinstance(e.data, dict) else None)
        for e in history
        if e.kind == EventKind.MODIFIED and e.sent_upstream_at is None
    ]
    carried = [pk for pk, version in unsent if version is not None and version <= read_version]
    if carried:
        OrderEvent.objects.filter(pk__in=carried).update(sent_upstream_at=timezone.now())
    if len(carried) < len(unsent):
        queueing.enqueue(tasks.modify_order, order.pk, order.version)


def _rejected(order: Order, owner: str, exc: PermanentUpstreamError, body: dict | None) -> Outcome:
    reasons = exc.reasons()
    done = _change_if_ours(
        order,
        owner,
        to_status=OrderStatus.REJECTED,
        kind=EventKind.REJECTED,
        note=f"The data centre refused the order: {exc.message}",
        data={"reasons": reasons, "status": exc.status},
        rejection_reasons=reasons,
        last_error=str(exc),
        upstream_uncertain=False,
        upstream_payload=body,
        upstream_response={"status": exc.status, "errors": exc.errors},
    )
    if done is None:
        return Outcome("lease lost")
    _tell(_updated(order, done))
    return Outcome("rejected")


def _needs_check(order: Order, owner: str, why: str) -> Outcome:
    done = _change_if_ours(
        order,
        owner,
        to_status=OrderStatus.NEEDS_CHECK,
        note=f"An earlier attempt may have reached the data centre and it cannot say whether it did: {why}. "
        "An operator checks with the data centre.",
        data={"reference": payloads.sent_reference(order), "why": why},
        last_error=why,
        next_attempt_at=None,
    )
    if done is None:
        return Outcome("lease lost")
    notifications.alert_operators(
        done,
        f"Work visit {done.order_id} needs a check with the data centre",
        f"{why}. Find the order in the data centre's portal by the reference {payloads.sent_reference(done)!r}, "
        "then link it, or confirm it is not there and resubmit.",
        key=f"ops-needs-check:{done.submit_attempts}",
    )
    return Outcome("needs check")


def _retry(
    order: Order, owner: str, attempt: int, exc: UpstreamError, *, definite_create: bool, at_least: float = 0.0
) -> Outcome:
    extra = {"upstream_uncertain": False} if definite_create else {}
    if attempt >= settings.UPSTREAM_MAX_ATTEMPTS:
        if not definite_create and Order.objects.filter(pk=order.pk, upstream_uncertain=True).exists():
            # An earlier create may have arrived, and the last attempts could not find out: not FAILED
            # (a guess), but an operator's question.
            return _needs_check(order, owner, f"the data centre could not be reached after {attempt} attempts: {exc}")
        done = _change_if_ours(
            order,
            owner,
            to_status=OrderStatus.FAILED,
            note=f"The data centre could not be reached after {attempt} attempts: {exc}",
            last_error=str(exc),
            next_attempt_at=None,
            **extra,
        )
        if done is None:
            return Outcome("lease lost")
        _tell(_updated(order, done))
        return Outcome("failed")
    delay = max(backoff_delay(attempt, exc.retry_after), at_least)
    if not order_release(
        order_pk=order.pk,
        owner=owner,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        last_error=str(exc)[:2000],
        **extra,
    ):
        return Outcome("lease lost")
    logger.info("order %s: attempt %d failed (%s); next in %.1f s", order.pk, attempt, exc, delay)
    _send_submission(order.pk, countdown=delay)
    if attempt == 1:
        _tell(order)  # the "received" email waits for the data centre's answer no longer
    return Outcome("retrying", delay)


def _change_if_ours(order: Order, owner: str, **change) -> Order | None:
    """A status change of a QUEUED order whose lease is still ours (releasing it), else None."""
    with transaction.atomic():
        if not Order.objects.select_for_update().filter(pk=order.pk, lease_owner=owner).exists():
            return None
        return services.order_change_status(
            order_pk=order.pk, from_statuses={OrderStatus.QUEUED}, notify=False, **_released(), **change
        )


def _updated(order: Order, fresh: Order | None) -> Order | None:
    """`order` (read with its parts) with the fields of `fresh` (the row as a status change left it)."""
    if fresh is None:
        return None
    for field in Order._meta.concrete_fields:
        setattr(order, field.attname, getattr(fresh, field.attname))
    return order


def _tell(order: Order | None, history: list[OrderEvent] | None = None) -> None:
    """Send the order's pending emails now, with the order already read (and its history, when read
    since its last event); when the mail server fails, the notification task retries (and should this
    worker die first, the sweeper finds the events)."""
    if order is None:
        return
    try:
        notifications.notify_order(order.pk, order=order, history=history)
    except Exception:  # mail down, or a bug: the emails are not lost, the task sends them
        logger.warning("order %s: emails not sent with the submission; a task retries", order.pk, exc_info=True)
        queueing.enqueue(tasks.notify_order, order.pk, countdown=backoff_delay(1))


# ---------------------------------------------------------------------------------------------
# What an operator does with a NEEDS_CHECK order.
def order_link_upstream(*, operator: User, order_pk: int, upstream_order_id: str) -> Order:
    """The operator found the order in the data centre's portal: it is SUBMITTED as that order."""
    upstream_order_id = upstream_order_id.strip()
    if not upstream_order_id or any(c.isspace() or c in "/?#" for c in upstream_order_id):
        raise services.OrderConflict("Type the data centre's order number, e.g. 1-23232322.")
    if Order.objects.filter(upstream_order_id=upstream_order_id).exists():
        raise services.OrderConflict(f"Data centre order {upstream_order_id} is already linked to another order.")
    order = services.order_change_status(
        order_pk=order_pk,
        to_status=OrderStatus.SUBMITTED,
        from_statuses=NEEDS_CHECK_STATUSES,
        actor=operator,
        note=f"Linked by an operator to data centre order {upstream_order_id}.",
        data={"upstreamOrderId": upstream_order_id, "linkedBy": operator.username},
        upstream_order_id=upstream_order_id,
        upstream_uncertain=False,
        last_error="",
    )
    if order is None:
        raise services.OrderConflict("Only orders being checked with the data centre can be linked.")
    transaction.on_commit(lambda: _changes_after(order, 0, notifications.order_history(order.pk)))
    queueing.enqueue_on_commit(
        tasks.alert_operators,
        order.pk,
        f"Work visit {order.order_id} linked to data centre order {upstream_order_id}",
        f"{operator.username} linked it after checking the data centre's portal.",
    )
    return order


def order_confirm_not_upstream(*, operator: User, order_pk: int) -> Order:
    """The operator checked the data centre's portal and the order is not there: send it again."""
    order = services.order_change_status(
        order_pk=order_pk,
        to_status=OrderStatus.QUEUED,
        from_statuses=NEEDS_CHECK_STATUSES,
        actor=operator,
        note="An operator confirmed the data centre does not have the order; it is sent again.",
        data={"confirmedBy": operator.username},
        upstream_uncertain=False,
        submit_attempts=0,
        first_attempt_at=None,
        next_attempt_at=None,
        last_error="",
        sent_for_submission_at=timezone.now(),
    )
    if order is None:
        raise services.OrderConflict("Only orders being checked with the data centre can be resubmitted this way.")
    services.send_for_submission_on_commit(order.pk)
    queueing.enqueue_on_commit(
        tasks.alert_operators,
        order.pk,
        f"Work visit {order.order_id} resubmitted after a check",
        f"{operator.username} confirmed the data centre does not have it; it is sent again.",
    )
    return order


# ---------------------------------------------------------------------------------------------
# Changes and cancellations of orders the upstream holds.
def _correlation_id(order: Order, what: str) -> str:
    """The X-Correlation-Id of one logical call about the order: a UUID, as the upstream takes it, the same
    at every retry of that call (the create's is the submission key itself)."""
    return str(uuid.uuid5(order.submission_key, what))


def order_send_change(*, order_pk: int, version: int) -> Outcome:
    """PATCH the order's current visit window, open-cabinet flag and notification contacts."""
    order = selectors.order_for_submission(order_pk)
    if order.status not in OPEN_UPSTREAM_STATUSES or not order.upstream_order_id:
        return Outcome(f"nothing to do ({order.status})")  # not upstream yet: the submission sends it all
    pending = list(
        order.events.filter(kind=EventKind.MODIFIED, sent_upstream_at__isnull=True).values_list("pk", flat=True)
    )
    if not pending:
        return Outcome("already sent")
    body = payloads.modify_body(order)
    client = UpstreamClient(deadline=_deadline(), record_later=True)
    _let_go_of_the_database()
    try:
        client.modify_work_visit(
            order.upstream_order_id, body, order=order, correlation_id=_correlation_id(order, f"modify-v{version}")
        )
    except PermanentUpstreamError as exc:
        client.save_calls()
        # The order goes back to what the data centre holds, and everyone is told; unless it changed
        # meanwhile: the later change's PATCH carries this one too, and its answer decides.
        undone = services.order_change_refused(
            order_pk=order_pk, sent_version=order.version, pending=pending, refusal=exc.message, reasons=exc.reasons()
        )
        notifications.alert_operators(order, f"The data centre refused a change of {order.order_id}", str(exc))
        return Outcome("refused" if undone else "refused; a later change follows")
    except TransientUpstreamError:
        client.save_calls()
        raise
    client.save_calls()
    OrderEvent.objects.filter(pk__in=pending).update(sent_upstream_at=timezone.now())
    services.record_event(
        order=order,
        kind=EventKind.UPSTREAM,
        note=f"Change sent to the data centre (version {order.version}).",
        data={"version": order.version, "body": body},
    )
    return Outcome("sent")


def order_cancel_upstream(*, order_pk: int) -> Outcome:
    """Cancel a cancelled order upstream too, once no submission holds it."""
    order = Order.objects.select_related("ibx").get(pk=order_pk)
    if order.status != OrderStatus.CANCELLED:
        return Outcome(f"nothing to do ({order.status})")
    if order.upstream_cancelled_at:
        return Outcome("already done")
    owner = order_claim(order_pk=order_pk, statuses={OrderStatus.CANCELLED})
    if owner is None:
        wait = max(1.0, ((order.lease_expires_at or timezone.now()) - timezone.now()).total_seconds() + 1)
        return Outcome("busy", wait)  # a submission still talks to the upstream about it
    order.refresh_from_db()
    client = UpstreamClient(deadline=_deadline(), record_later=True)
    event = order.events.filter(kind=EventKind.CANCEL_REQUESTED).order_by("-id").first()
    reason = event.note if event and len(event.note) >= 5 else "Cancelled by the customer."
    letters = _cancel_attachments(order, event)
    _let_go_of_the_database()
    try:
        upstream_id = order.upstream_order_id
        if not upstream_id and order.upstream_uncertain:
            upstream_id = _look_up(client, order)
            if upstream_id:
                Order.objects.filter(pk=order_pk, upstream_order_id__isnull=True).update(upstream_order_id=upstream_id)
        if not upstream_id:
            client.save_calls()
            order_release(
                order_pk=order_pk, owner=owner, upstream_cancelled_at=timezone.now(), upstream_uncertain=False
            )
            services.record_event(order=order, kind=EventKind.UPSTREAM, note="The order never reached the data centre.")
            return Outcome("never upstream")
        uploaded, left_out = _upload_letters(client, order, letters)
        done_note = _cancel(client, order, upstream_id, reason, uploaded) + left_out
    except Inconclusive as exc:
        client.save_calls()
        order_release(order_pk=order_pk, owner=owner, upstream_cancelled_at=timezone.now(), last_error=str(exc))
        note = f"Cancelled here; the data centre may hold the order and cannot say: {exc}."
        services.record_event(order=order, kind=EventKind.UPSTREAM, note=note)
        notifications.alert_operators(order, f"Check that {order.order_id} is cancelled at the data centre", note)
        return Outcome("needs check")
    except PermanentUpstreamError as exc:
        # The data centre keeps the order: it is open here again, in the status the data centre reports.
        try:
            status = _upstream_status(client, order, upstream_id)
        except TransientUpstreamError:
            status = None  # unknown for now: SUBMITTED, and the status sync reads it
        client.save_calls()
        if status == OrderStatus.CANCELLED:  # refused, yet cancelled there: what the customer asked for
            order_release(order_pk=order_pk, owner=owner, upstream_cancelled_at=timezone.now())
            services.record_event(
                order=order, kind=EventKind.UPSTREAM, note=f"Order {upstream_id} is cancelled at the data centre."
            )
            return Outcome("cancelled")
        order_release(order_pk=order_pk, owner=owner, last_error=str(exc))
        services.order_cancel_refused(order_pk=order_pk, refusal=exc.message, upstream_status=status)
        notifications.alert_operators(order, f"The data centre refused to cancel {order.order_id}", str(exc))
        return Outcome("refused")
    except TransientUpstreamError:
        client.save_calls()
        order_release(order_pk=order_pk, owner=owner)
        raise
    client.save_calls()
    order_release(order_pk=order_pk, owner=owner, upstream_cancelled_at=timezone.now())
    services.record_event(order=order, kind=EventKind.UPSTREAM, note=done_note)
    return Outcome("cancelled")


def _cancel_attachments(order: Order, event: OrderEvent | None) -> list:
    """The files the customer gave with the cancellation (named in its event), to go with it upstream."""
    ids = event.data.get("attachments") if event and isinstance(event.data, dict) else None
    if not ids:
        return []
    found = {str(a.pk): a for a in Attachment.objects.filter(pk__in=ids, order_id=order.pk)}
    return [found[str(i)] for i in ids if str(i) in found]


def _upload_letters(client: UpstreamClient, order: Order, letters: list) -> tuple[list[dict], str]:
    """Upload the cancellation's files (upstream attachment ids do not last: at every attempt, as the
    create's). A file the upstream refuses, or that cannot be read here, is left out: the cancellation
    itself must go. Returns the references and a note on what was left out ("" if nothing)."""
    uploaded, left_out = [], []
    for attachment in letters:
        try:
            upstream_id = client.upload_attachment(attachment.name, _read(attachment), order=order)
        except (PermanentUpstreamError, OSError) as exc:
            logger.warning("order %s: cancellation file %s left out: %s", order.pk, attachment.pk, exc)
            left_out.append(attachment.name)
            continue
        uploaded.append({"id": upstream_id, "name": attachment.name})
    return uploaded, (f" Not sent with it: {', '.join(left_out)}." if left_out else "")


def _read(attachment) -> bytes:
    with attachment.file.open("rb") as handle:
        return handle.read()


def _cancel(client: UpstreamClient, order: Order, upstream_id: str, reason: str, attachments=()) -> str:
    """Cancel the upstream order; returns the note of the cancellation done. A 409 for an order the upstream
    reads as CANCELLED is done too: an earlier attempt whose answer was lost (no answer, 500/502/504) had
    cancelled it. A read that fails transiently is retried with the cancellation; any other 409 is a refusal."""
    try:
        client.cancel_order(
            upstream_id,
            reason,
            attachments=list(attachments),
            order=order,
            correlation_id=_correlation_id(order, "cancel"),
        )
    except PermanentUpstreamError as exc:
        if exc.status != 409 or _upstream_status(client, order, upstream_id) != OrderStatus.CANCELLED:
            raise
        return f"Order {upstream_id} was already cancelled at the data centre."
    return f"Order {upstream_id} cancelled at the data centre."


def _upstream_status(client: UpstreamClient, order: Order, upstream_id: str) -> str | None:
    """The upstream's status of the order, None when it refuses to say or says something unreadable."""
    try:
        return client.get_order(upstream_id, order=order)["status"]
    except (PermanentUpstreamError, ValueError):
        return None


def order_upstream_gave_up(*, order_pk: int, what: str, error: str) -> None:
    """A change or cancellation that exhausted its retries: on the timeline, and the operators told."""
    Order.objects.filter(pk=order_pk).update(last_error=error)
    order = Order.objects.get(pk=order_pk)
    note = f"The {what} could not reach the data centre: {error}"
    services.record_event(order=order, kind=EventKind.UPSTREAM, note=note)
    notifications.alert_operators(order, f"The {what} of order {order.order_id} could not reach the data centre", note)


# ---------------------------------------------------------------------------------------------
# Periodic work (beat).
def orders_sync_statuses() -> int:
    """Follow the upstream's status of open orders, the least recently checked first, a batch at a time."""
    checked_before = timezone.now() - timedelta(seconds=settings.STATUS_SYNC_MIN_AGE)
    pks = list(
        Order.objects.filter(status__in=OPEN_UPSTREAM_STATUSES, upstream_order_id__isnull=False)
        .filter(Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=checked_before))
        .order_by(F("last_synced_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)[: settings.STATUS_SYNC_BATCH]
    )
    client = UpstreamClient()
    changed = 0
    for order_pk in pks:
        order = Order.objects.get(pk=order_pk)
        try:
            data = client.get_order(order.upstream_order_id, order=order)
        except TransientUpstreamError as exc:
            # The upstream struggles: do not hammer it. This order goes to the back of the queue, so that
            # one order the upstream keeps failing on does not hold up every other at every run.
            Order.objects.filter(pk=order_pk).update(last_synced_at=timezone.now())
            logger.warning("status sync stopped: %s", exc)
            break
        except PermanentUpstreamError as exc:
            Order.objects.filter(pk=order_pk).update(last_synced_at=timezone.now(), last_error=str(exc))
            continue
        status = data["status"]  # None: a status the portal does not know, left as it is
        if status and status != order.status:
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
    return changed


def orders_sweep() -> dict[str, int]:
    """Send again the work no message carries: orders never sent (the broker was down), whose worker
    died mid-attempt (lease run out) or whose retry message was lost; lost emails, changes and
    cancellations. NEEDS_CHECK orders are never swept: they wait for an operator."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.SWEEP_AFTER_SECONDS)
    free = Q(lease_expires_at__isnull=True)
    lost = Order.objects.filter(status=OrderStatus.QUEUED).filter(
        Q(lease_expires_at__lt=now)
        | (free & Q(sent_for_submission_at__isnull=True, updated_at__lt=grace))
        | (free & Q(next_attempt_at__lt=grace))
        | (free & Q(next_attempt_at__isnull=True, submit_attempts=0, sent_for_submission_at__lt=grace))
    )
    submits = list(lost.values_list("pk", flat=True)[:SWEEP_BATCH])
    if submits:
        # An expired lease is no one's: freed here so that the next attempt may claim at once.
        Order.objects.filter(pk__in=submits, lease_expires_at__lt=now).update(lease_owner="", lease_expires_at=None)
        # Sent now: should this message be lost too, the next round after the grace sends it again.
        Order.objects.filter(pk__in=submits).update(sent_for_submission_at=now, next_attempt_at=now)
    for pk in submits:
        _send_submission(pk)

    recent = {"created_at__lt": grace, "created_at__gt": now - timedelta(days=1)}
    unnotified = OrderEvent.objects.filter(kind__in=services.NOTIFIED_EVENTS, notified_at__isnull=True, **recent)
    notifies = list(unnotified.order_by().values_list("order_id", flat=True).distinct()[:SWEEP_BATCH])
    for pk in notifies:
        queueing.enqueue(tasks.notify_order, pk)

    unsent = OrderEvent.objects.filter(
        kind=EventKind.MODIFIED,
        sent_upstream_at__isnull=True,
        order__status__in=OPEN_UPSTREAM_STATUSES,
        order__upstream_order_id__isnull=False,
        **recent,
    )
    changes = list(unsent.order_by().values_list("order_id", "order__version").distinct()[:SWEEP_BATCH])
    for pk, version in changes:
        queueing.enqueue(tasks.modify_order, pk, version)

    uncancelled = Order.objects.filter(
        status=OrderStatus.CANCELLED,
        upstream_cancelled_at__isnull=True,
        updated_at__lt=grace,
        updated_at__gt=now - timedelta(days=1),
    ).filter(Q(upstream_order_id__isnull=False) | Q(upstream_uncertain=True))
    cancels = list(
        uncancelled.filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)).values_list("pk", flat=True)[
            :SWEEP_BATCH
        ]
    )
    for pk in cancels:
        queueing.enqueue(tasks.cancel_order, pk)
    counts = {
        "submissions": len(submits),
        "notifications": len(notifies),
        "changes": len(changes),
        "cancellations": len(cancels),
    }
    if any(counts.values()):
        logger.info("sweeper sent again: %s", counts)
    return counts
