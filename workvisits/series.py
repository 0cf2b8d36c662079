"""Visit series: a recurring work visit whose occurrences become ordinary orders a lead time before them.

Writes (`series_create`, `series_modify`, `occurrence_skip`, `series_cancel`, `series_resume`,
`series_materialize`) each run in one transaction and hand emails to Celery on commit; every order of
a series is created, changed and cancelled through the ordinary order services, so it has its own
rules check, review, submission, status, timeline and emails. The series' own email is one recurring
calendar invite (RRULE, EXDATE and RECURRENCE-ID overrides), kept true as occurrences change.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.mime.text import MIMEText
from typing import NamedTuple

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Prefetch, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from icalendar import Event, vRecur

from . import recurrence, rules, selectors, services
from .choices import ContactType, OccurrenceStatus, OrderStatus, SeriesStatus
from .models import IBX, Order, SeriesEmail, SeriesOccurrence, User, VisitSeries
from .notifications import PHOTO_ID_REMINDER, DeliveryError, add_people, calendar_text, event_uid
from .series_invite import (
    GONE,
    WITHDRAWN_ORDER_STATUSES,
    invite_changed,
    invite_facts,
    occurrence_follow_order,
    recipients,
    template_usernames,
    template_visitors,
)
from .web import messages

logger = logging.getLogger(__name__)

OPEN_SERIES = frozenset({SeriesStatus.ACTIVE, SeriesStatus.PAUSED})
MODIFY_KEYS = ("fromOccurrence", "details", "contacts")
MODIFY_DETAILS_KEYS = ("visitStartDateTime", "visitEndDateTime", "visitors")


class SeriesNotFound(Exception):
    """No such series for this user: HTTP 404."""


def _invalid(path: str, message: str) -> rules.RuleError:
    return rules.RuleError(path, rules.INVALID, message)


# ---------------------------------------------------------------------------------------------
# Reads.
def _with_occurrences(queryset: QuerySet[VisitSeries]) -> QuerySet[VisitSeries]:
    return queryset.select_related("ibx", "owner").prefetch_related(
        Prefetch("occurrences", queryset=SeriesOccurrence.objects.select_related("order").order_by("recurrence_start"))
    )


def series_for_user(user: User, series_id: str) -> VisitSeries:
    """One series `user` may see (its owner, or a member who sees all the organization's orders)."""
    if not user.is_authenticated or not user.organization_id or not isinstance(series_id, str):
        raise SeriesNotFound(series_id)
    found = _with_occurrences(VisitSeries.objects.filter(organization_id=user.organization_id, series_id=series_id))
    series = found.first()
    if series is None or not (series.owner_id == user.pk or selectors.user_sees_all_orders(user)):
        raise SeriesNotFound(series_id)
    return series


def series_of_order(order: Order) -> VisitSeries | None:
    """The series an order is an occurrence of, if any."""
    occurrence = SeriesOccurrence.objects.select_related("series").filter(order=order).first()
    return occurrence.series if occurrence else None


def _still_left_out(before: dict, left_out: list[int], after: dict) -> list[int]:
    """The positions in `after`'s visitors of the people left out of the emails in `before` (the same entry)."""
    quiet = [entry for i, entry in enumerate(template_visitors(before)) if i in left_out]
    return [i for i, entry in enumerate(template_visitors(after)) if entry in quiet]


def user_may_change_series(user: User, series: VisitSeries) -> bool:
    """The order rule for changing and cancelling, applied to the series' template: its owner, its technical
    contact or a member who may see all the organization's orders."""
    if not user.is_authenticated or user.organization_id != series.organization_id:
        return False
    return rules.may_change_order(
        user.username,
        sees_all_orders=selectors.user_sees_all_orders(user),
        order=rules.OrderFacts(
            status=OrderStatus.QUEUED,
            visit_start=timezone.now(),
            visit_end=timezone.now(),
            ordered_by=series.owner.username,
            technical_usernames=frozenset(template_usernames(series.template, ContactType.TECHNICAL)),
        ),
    )


def _series_for_change(user: User, series_id: str) -> VisitSeries:
    series = series_for_user(user, series_id)
    if not user_may_change_series(user, series):
        raise services.OrderChangeDenied(
            [rules.RuleError("seriesId", rules.NO_UPDATE_PERMISSION, rules.CHANGE_DENIED.replace("order", "series"))]
        )
    if series.status not in OPEN_SERIES:
        raise services.OrderConflict(
            f"Series {series.series_id} is {series.get_status_display().lower()} and can no longer be changed.",
            property="seriesId",
        )
    return series


def occurrence_body(occurrence: SeriesOccurrence) -> dict:
    """The create body of an occurrence's order: its template with its visit times."""
    body = json.loads(json.dumps(occurrence.template))
    details = body.setdefault("details", {})
    details["visitStartDateTime"] = rules.format_datetime(occurrence.visit_start)
    details["visitEndDateTime"] = rules.format_datetime(occurrence.visit_end)
    return body


def _template_of(body: dict) -> dict:
    """A create body without the recurrence and the visit times."""
    template = {key: value for key, value in body.items() if key != "recurrence"}
    if isinstance(template.get("details"), dict):
        template["details"] = {
            key: value
            for key, value in template["details"].items()
            if key not in ("visitStartDateTime", "visitEndDateTime")
        }
    return template


def _check_visit(
    user: User, body, now: datetime, shape: rules.Shape = rules.WELL_FORMED, *, check_start_ahead: bool = True
) -> tuple[list[rules.RuleError], rules.CleanOrder | None, IBX | None]:
    """The single visit's rules, as order_create applies them (the same errors), and the visit's IBX.
    `shape`: where the body's structure is broken (the API's structure check found it), left to that check."""
    if not user.organization_id:
        return (
            [
                rules.RuleError(
                    "details.cages",
                    rules.NO_CREATE_PERMISSION,
                    "Your user belongs to no customer organization, so it cannot order work visits.",
                )
            ],
            None,
            None,
        )
    ctx, ordering = selectors.ordering_context_and_ids(user, now, attachment_ids=())
    errors, clean = rules.validate_create(body, ctx, user.username, shape, check_start_ahead=check_start_ahead)
    if errors or clean is None:
        return errors, None, None
    return [], clean, IBX.objects.get(pk=ordering.catalogue.cage_ids[clean.cages[0].cage_id].ibx_pk)


# ---------------------------------------------------------------------------------------------
def series_create(
    *,
    user: User,
    data,
    now: datetime | None = None,
    left_out_visitors: Iterable[int] = (),
    structure_errors: list[rules.RuleError] = (),
) -> VisitSeries:
    """A series from a create body plus `recurrence` (an RRULE; the first visit at the body's visit start).

    The first occurrence is checked by every rule of a single visit (the same errors, with the body's
    `structure_errors` as the API found them, as order_create takes them); raises rules.RuleViolation with
    every error. Occurrences within the lead time get their orders at once.
    `left_out_visitors`: positions in the body's visitors of people emailed neither the series' invite
    nor its orders' emails (the wizard's "Do not email this person").
    """
    now = now or timezone.now()
    if not isinstance(data, dict):
        raise rules.RuleViolation([_invalid("$", "The request body must be a JSON object.")])
    body = {key: value for key, value in data.items() if key != "recurrence"}
    shape = rules.Shape(e.path for e in structure_errors)
    errors = [*structure_errors, *(e for e in recurrence.template_errors(body) if shape.ok(e.path))]
    visit_errors, clean, ibx = _check_visit(user, body, now, shape)
    errors += visit_errors
    zone = ibx.zone if ibx else UTC
    recurrence_errors, rule = recurrence.validate_recurrence(
        data.get("recurrence"),
        first_start=clean.visit_start if clean else None,
        first_end=clean.visit_end if clean else None,
        zone=zone,
    )
    errors += recurrence_errors
    if errors:
        raise rules.RuleViolation(errors)
    template = _template_of(body)
    left_out = sorted({i for i in left_out_visitors if 0 <= i < len(template_visitors(template))})
    with transaction.atomic():
        series = VisitSeries.objects.create(
            organization_id=user.organization_id,
            ibx=ibx,
            owner=user,
            recurrence=rule.rule,
            template=template,
            left_out_visitors=left_out,
        )
        SeriesOccurrence.objects.bulk_create(
            [
                SeriesOccurrence(
                    series=series,
                    recurrence_start=o.start,
                    recurrence_end=o.end,
                    visit_start=o.start,
                    visit_end=o.end,
                    template=template,
                    left_out_visitors=left_out,
                )
                for o in rule.occurrences
            ]
        )
        series_materialize(now=now, series_pk=series.pk)
        invite_changed(series.pk)
    logger.info("series %s created with %d occurrences", series.series_id, len(rule.occurrences))
    return series


# ---------------------------------------------------------------------------------------------
# Every write of a series takes its locks in one order: the series, then its occurrences, then their
# orders (an order-level change too, series_lock_for_order), so no two writes wait on each other.
def _locked(series_pk: int | None) -> VisitSeries | None:
    locked = VisitSeries.objects.select_for_update(of=("self",)).select_related("owner", "ibx")
    return locked.filter(pk=series_pk).first()


def _materialize_one(occurrence_pk: int, now: datetime) -> bool:
    """Create one due occurrence's order through order_create; a broken rule pauses the series instead.

    Its series is locked, then the occurrence (skip_locked: another run busy with it passes it by), which
    must still be planned; its order column is unique: never two orders for one occurrence.
    """
    with transaction.atomic():
        series_pk = SeriesOccurrence.objects.filter(pk=occurrence_pk).values_list("series_id", flat=True).first()
        series = _locked(series_pk)
        occurrence = (
            SeriesOccurrence.objects.select_for_update(skip_locked=True)
            .filter(pk=occurrence_pk, status=OccurrenceStatus.PLANNED, order__isnull=True)
            .first()
        )
        if occurrence is None or series is None or series.status != SeriesStatus.ACTIVE:
            return False
        if occurrence.visit_start <= now:
            occurrence.status = OccurrenceStatus.MISSED
            occurrence.reason = "Its start passed before its order could be created."
            occurrence.save(update_fields=["status", "reason"])
            invite_changed(series.pk)
            return False
        body = occurrence_body(occurrence)
        try:
            with transaction.atomic():  # the order's emails (sent on commit) already know who is left out
                order = services.order_create(user=series.owner, data=body, now=now)
                if occurrence.left_out_visitors:
                    services.order_visitors_leave_out(order=order, indexes=occurrence.left_out_visitors)
        except rules.RuleViolation as exc:
            words = messages.rule_messages(exc.errors, messages.Names.from_body(body))
            when = messages.local_span(occurrence.visit_start, occurrence.visit_end, series.ibx.timezone)
            occurrence.status = OccurrenceStatus.NOT_CREATED
            occurrence.reason = " ".join(words)
            occurrence.save(update_fields=["status", "reason"])
            series.status = SeriesStatus.PAUSED
            series.status_reason = f"The visit of {when} could not be ordered: {occurrence.reason}"
            series.save(update_fields=["status", "status_reason", "updated_at"])
            logger.info("series %s paused: occurrence %s broke a rule", series.series_id, occurrence.pk)
            invite_changed(series.pk, force_notify=True)
            return False
        occurrence.order = order
        occurrence.status = OccurrenceStatus.CREATED
        occurrence.save(update_fields=["order", "status"])
    return True


def _follow_orders() -> None:
    """Occurrences whose order was withdrawn or moved and not followed at once (a change's follow-up that
    failed) follow it now."""
    astray = SeriesOccurrence.objects.filter(status=OccurrenceStatus.CREATED).filter(
        Q(order__status__in=WITHDRAWN_ORDER_STATUSES)
        | ~Q(visit_start=F("order__visit_start"))
        | ~Q(visit_end=F("order__visit_end"))
    )
    for order_pk in list(astray.values_list("order_id", flat=True)[:500]):
        occurrence_follow_order(order_pk=order_pk)


def series_materialize(*, now: datetime | None = None, series_pk: int | None = None) -> int:
    """Create the order of every planned occurrence of an active series that starts within
    SERIES_LEAD_DAYS; returns how many were created. Safe to run twice at once."""
    now = now or timezone.now()
    if series_pk is None:
        _follow_orders()
    due = SeriesOccurrence.objects.filter(
        status=OccurrenceStatus.PLANNED,
        series__status=SeriesStatus.ACTIVE,
        visit_start__lte=now + timedelta(days=settings.SERIES_LEAD_DAYS),
    )
    if series_pk is not None:
        due = due.filter(series_id=series_pk)
    created = sum(
        _materialize_one(pk, now) for pk in list(due.order_by("visit_start").values_list("pk", flat=True)[:500])
    )
    # A series is over once nothing is planned and its last visit has ended.
    VisitSeries.objects.filter(status=SeriesStatus.ACTIVE).exclude(
        occurrences__status=OccurrenceStatus.PLANNED
    ).exclude(occurrences__visit_end__gt=now).update(status=SeriesStatus.ENDED, updated_at=now)
    return created


# ---------------------------------------------------------------------------------------------
def _occurrence_at(series: VisitSeries, value, path: str) -> SeriesOccurrence:
    start = rules.parse_datetime(value) if isinstance(value, str) else None
    if value is None:
        raise rules.RuleViolation(
            [rules.RuleError(path, rules.MISSING, f"{path} is required: give the visit start of an occurrence.")]
        )
    found = next((o for o in series.occurrences.all() if start is not None and o.visit_start == start), None)
    if found is None:
        raise rules.RuleViolation(
            [_invalid(path, f"{path} must be the visit start of an occurrence of the series, as the series lists it.")]
        )
    return found


def _open_order(occurrence: SeriesOccurrence) -> Order | None:
    return occurrence.order if occurrence.order_id and occurrence.order.is_open else None


def series_modify(
    *, user: User, series_id: str, data, now: datetime | None = None, structure_errors: list[rules.RuleError] = ()
) -> VisitSeries:
    """Change the series from one occurrence on: its time (the new start and end of that occurrence; every
    later one moves alike on the IBX's wall clock) and its people (visitors, contacts).

    Orders already placed get the new times through order_modify; their people stay as ordered (an order's
    visitors cannot change), the occurrences still to be ordered get the new people. `structure_errors`: the
    body's, as the API found them (the visitors and contacts checked as a create body's).
    """
    now = now or timezone.now()
    series = _series_for_change(user, series_id)
    if not isinstance(data, dict):
        raise rules.RuleViolation([_invalid("$", "The request body must be a JSON object.")])
    # What the structure check found is not said twice.
    shape = rules.Shape(e.path for e in structure_errors)
    refused: list[rules.RuleError] = []
    details = data.get("details") if data.get("details") is not None else {}
    if not isinstance(details, dict):
        refused.append(_invalid("details", "details must be an object."))
        details = {}
    unknown = [key for key in data if key not in MODIFY_KEYS]
    unknown += [rules.json_path("details", key) for key in details if key not in MODIFY_DETAILS_KEYS]
    refused += [
        _invalid(key, f"{key} cannot be changed in a series; change the visit times, visitors or contacts.")
        for key in unknown
    ]
    if refused:  # a body that is not a series' change is answered before its occurrence is looked for
        raise rules.RuleViolation([*structure_errors, *(e for e in refused if shape.ok(e.path))])
    pivot = None
    try:
        pivot = _occurrence_at(series, data.get("fromOccurrence"), "fromOccurrence")
    except rules.RuleViolation as exc:
        refused += exc.errors
    refused = [e for e in refused if shape.ok(e.path)]
    if refused or pivot is None:
        raise rules.RuleViolation([*structure_errors, *refused])
    errors = list(structure_errors)
    if not (pivot.status == OccurrenceStatus.PLANNED or _open_order(pivot)):
        raise services.OrderConflict(
            "fromOccurrence: that occurrence is skipped, cancelled or closed; choose a coming one.",
            property="fromOccurrence",
        )
    template = json.loads(json.dumps(pivot.template))
    people_changed = "visitors" in details or "contacts" in data
    if "visitors" in details:
        template.setdefault("details", {})["visitors"] = details["visitors"]
    if "contacts" in data:
        template["contacts"] = data["contacts"]
    left_out = _still_left_out(pivot.template, pivot.left_out_visitors, template)
    # A visit time not given (or null), or one the structure check refused (its error is the check's), stays
    # the occurrence's own.
    given = {
        key: details[key]
        for key in ("visitStartDateTime", "visitEndDateTime")
        if details.get(key) is not None and shape.ok(f"details.{key}")
    }
    new_start, new_end = (
        rules.parse_datetime(given[key]) if key in given else default
        for key, default in (("visitStartDateTime", pivot.visit_start), ("visitEndDateTime", pivot.visit_end))
    )
    if not errors and not people_changed and (new_start, new_end) == (pivot.visit_start, pivot.visit_end):
        raise rules.RuleViolation(
            [rules.RuleError("details", rules.MISSING, "details: give a new visit start or end, visitors or contacts.")]
        )
    # The same rules as a single visit, on the pivot occurrence as it would now be ordered.
    body = json.loads(json.dumps(template))
    body.setdefault("details", {})
    for key in ("visitStartDateTime", "visitEndDateTime"):
        body["details"][key] = given.get(
            key, rules.format_datetime(new_start if key.endswith("StartDateTime") else new_end)
        )
    # Its order is placed SERIES_LEAD_DAYS before the visit: how far ahead it lies is no refusal.
    visit_errors, _, _ = _check_visit(user, body, now, shape, check_start_ahead=False)
    errors += visit_errors
    if errors:
        raise rules.RuleViolation(errors)

    zone = series.ibx.zone
    old_local, _ = recurrence.wall_clock(pivot.visit_start, pivot.visit_end, zone)
    new_local, length = recurrence.wall_clock(new_start, new_end, zone)
    delta = new_local - old_local
    occurrences = list(series.occurrences.all())
    later = [
        o
        for o in occurrences
        if o.recurrence_start >= pivot.recurrence_start and (o.status == OccurrenceStatus.PLANNED or _open_order(o))
    ]
    moved = {
        o.pk: recurrence.shifted(
            recurrence.Occurrence(o.visit_start, o.visit_end), delta=delta, length=length, zone=zone
        )
        for o in later
    }
    visits = sorted(
        [
            moved.get(o.pk) or recurrence.Occurrence(o.visit_start, o.visit_end)
            for o in occurrences
            if o.status not in GONE
        ],
        key=lambda o: o.start,
    )
    if any(after.start < before.end for before, after in zip(visits, visits[1:], strict=False)):
        raise rules.RuleViolation(
            [
                _invalid(
                    "details.visitStartDateTime",
                    "details.visitStartDateTime: the visits would overlap; each must end before the next one starts.",
                )
            ]
        )
    with transaction.atomic():
        _locked(series.pk)
        for occurrence in later:
            visit = moved[occurrence.pk]
            order = _open_order(occurrence)
            # The occurrence moves first: its order's change then finds nothing for the series to follow.
            if order is not None:
                SeriesOccurrence.objects.filter(pk=occurrence.pk).update(visit_start=visit.start, visit_end=visit.end)
                if (visit.start, visit.end) != (order.visit_start, order.visit_end):
                    services.order_modify(
                        user=user,
                        order_id=order.order_id,
                        data={
                            "details": {
                                "visitStartDateTime": rules.format_datetime(visit.start),
                                "visitEndDateTime": rules.format_datetime(visit.end),
                            }
                        },
                        now=now,
                    )
            else:
                SeriesOccurrence.objects.filter(pk=occurrence.pk).update(
                    visit_start=visit.start, visit_end=visit.end, template=template, left_out_visitors=left_out
                )
        if people_changed:
            VisitSeries.objects.filter(pk=series.pk).update(
                template=template, left_out_visitors=left_out, updated_at=now
            )
        invite_changed(series.pk)
    logger.info("series %s changed from %s on", series.series_id, rules.format_datetime(pivot.visit_start))
    return series_for_user(user, series_id)


def occurrence_skip(*, user: User, series_id: str, visit_start, reason: str = "") -> SeriesOccurrence:
    """Leave one occurrence out; its order, if placed, is cancelled (upstream too, through order_cancel)."""
    series = _series_for_change(user, series_id)
    occurrence = _occurrence_at(series, visit_start, "visitStartDateTime")
    order = _open_order(occurrence)
    if occurrence.status != OccurrenceStatus.PLANNED and order is None:
        raise services.OrderConflict(
            "That occurrence is already skipped, cancelled or over.", property="visitStartDateTime"
        )
    with transaction.atomic():
        _locked(series.pk)
        occurrence.status = OccurrenceStatus.SKIPPED
        occurrence.save(update_fields=["status"])
        if order is not None:
            services.order_cancel(
                user=user, order_id=order.order_id, reason=reason or f"Skipped in series {series.series_id}."
            )
        invite_changed(series.pk)
    logger.info("series %s: occurrence %s skipped", series.series_id, occurrence.pk)
    return occurrence


def series_cancel(*, user: User, series_id: str, reason, now: datetime | None = None) -> VisitSeries:
    """Cancel the rest of a series: every occurrence yet to start; each open order through order_cancel
    (so the upstream cancels the ones it holds). Visits under way or over stay as they are."""
    now = now or timezone.now()
    errors = rules.cancel_reason_errors(reason)
    if errors:
        raise rules.RuleViolation(errors)
    series = _series_for_change(user, series_id)
    reason = reason.strip()
    with transaction.atomic():
        series = VisitSeries.objects.select_for_update().get(pk=series.pk)
        if series.status not in OPEN_SERIES:
            raise services.OrderConflict(f"Series {series.series_id} is already over.", property="seriesId")
        for occurrence in SeriesOccurrence.objects.select_related("order").filter(series=series, visit_start__gt=now):
            order = _open_order(occurrence)
            if occurrence.status == OccurrenceStatus.PLANNED or order is not None:
                occurrence.status = OccurrenceStatus.CANCELLED
                occurrence.save(update_fields=["status"])
            if order is not None:
                try:
                    with transaction.atomic():
                        services.order_cancel(user=user, order_id=order.order_id, reason=reason)
                except services.OrderConflict:  # closed meanwhile (the data centre's own status)
                    logger.info("series %s: order %s was closed meanwhile", series.series_id, order.order_id)
        series.status = SeriesStatus.CANCELLED
        series.status_reason = reason
        series.save(update_fields=["status", "status_reason", "updated_at"])
        invite_changed(series.pk)
    logger.info("series %s cancelled", series.series_id)
    return series_for_user(user, series_id)


def series_resume(*, user: User, series_id: str, now: datetime | None = None) -> VisitSeries:
    """Resume a paused series: its coming occurrences are ordered again, each checked when it is created."""
    series = _series_for_change(user, series_id)
    if series.status != SeriesStatus.PAUSED:
        raise services.OrderConflict(f"Series {series.series_id} is not paused.", property="seriesId")
    with transaction.atomic():
        VisitSeries.objects.filter(pk=series.pk, status=SeriesStatus.PAUSED).update(
            status=SeriesStatus.ACTIVE, status_reason="", updated_at=timezone.now()
        )
        series_materialize(now=now, series_pk=series.pk)
    return series_for_user(user, series_id)


# ---------------------------------------------------------------------------------------------
# The recurring calendar invite and the series' emails.
class _Anchor(NamedTuple):
    """What notifications.calendar_text reads of each event's owner: the zone and the year."""

    ibx: IBX
    visit_start: datetime


def series_url(series: VisitSeries) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse("series_detail", kwargs={"series_id": series.series_id})


def _event(series: VisitSeries, start: datetime, end: datetime, *, attendees, status: str) -> Event:
    zone = series.ibx.zone
    event = Event()
    event.add("uid", event_uid(series.invite_uid))
    event.add("sequence", series.invite_sequence)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", start.astimezone(zone))
    event.add("dtend", end.astimezone(zone))
    event.add("summary", f"Work visit series {series.series_id} at {series.ibx.code}")
    event.add("location", f"{series.ibx.name} ({series.ibx.code})")
    event.add(
        "description", f"{series.template.get('description', '')}\n\n{PHOTO_ID_REMINDER}\nSeries: {series_url(series)}"
    )
    event.add("url", series_url(series))
    event.add("status", status)
    add_people(event, attendees)
    return event


def series_invite(series: VisitSeries, *, method: str = "REQUEST") -> str:
    """The series as one recurring VEVENT (RRULE, EXDATE of the occurrences left out) with a
    RECURRENCE-ID override for each occurrence moved off the rule; METHOD:CANCEL withdraws it all."""
    occurrences = list(series.occurrences.order_by("recurrence_start"))
    first = occurrences[0]
    attendees = recipients(series)
    status = "CANCELLED" if method == "CANCEL" else "CONFIRMED"
    master = _event(series, first.recurrence_start, first.recurrence_end, attendees=attendees, status=status)
    master.add("rrule", vRecur.from_ical(series.recurrence))
    facts = invite_facts(series, occurrences)
    zone = series.ibx.zone
    if facts["gone"]:
        master.add("exdate", [start.astimezone(zone) for start in facts["gone"]])
    anchor = _Anchor(series.ibx, first.recurrence_start)
    events = [(anchor, master)]
    if method != "CANCEL":
        for recurrence_id, start, end in facts["moved"]:
            override = _event(series, start, end, attendees=attendees, status=status)
            override.add("recurrence-id", recurrence_id.astimezone(zone))
            events.append((anchor, override))
    return calendar_text(events, method=method)


def _message(email, connection) -> EmailMultiAlternatives:
    subject, recipient, text, html, invite = email
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [recipient], connection=connection)
    message.attach_alternative(html, "text/html")
    if invite is not None:
        method, ics = invite
        part = MIMEText(ics, "calendar", "utf-8")
        part.set_param("method", method)
        part.add_header("Content-Disposition", "attachment", filename="series.ics")
        message.attach(part)
    return message


def series_notify(*, series_pk: int) -> int:
    """Email the invite's current SEQUENCE (if not yet sent) to the series' people and tell the owner of
    each occurrence that could not be ordered; each email at most once (SeriesEmail). Returns how many went out."""
    series = VisitSeries.objects.select_related("ibx", "owner").filter(pk=series_pk).first()
    if series is None:
        return 0
    outgoing: list[tuple[str, tuple]] = []  # (notice, (subject, recipient, text, html, invite))
    context = {
        "series": series,
        "url": series_url(series),
        "zone": series.ibx.timezone,
        "lead_days": settings.SERIES_LEAD_DAYS,
    }
    sequence = series.invite_sequence
    if series.invite_sent_sequence is None or series.invite_sent_sequence < sequence:
        method = "CANCEL" if series.status == SeriesStatus.CANCELLED else "REQUEST"
        ics = series_invite(series, method=method)
        subject = f"Work visit series {series.series_id} " + (
            "cancelled" if method == "CANCEL" else "changed" if sequence else "in your calendar"
        )
        for email, name in recipients(series):
            ctx = {
                **context,
                "name": name,
                "kind": "invite",
                "cancelled": method == "CANCEL",
                "coming": _coming(series),
            }
            outgoing.append((f"invite:{sequence}", (subject, email, *_render(ctx), (method, ics))))
    told = list(series.occurrences.filter(status=OccurrenceStatus.NOT_CREATED, owner_told_at__isnull=True))
    for occurrence in told:
        when = messages.local_span(occurrence.visit_start, occurrence.visit_end, series.ibx.timezone)
        ctx = {
            **context,
            "name": series.owner.display_name(),
            "kind": "paused",
            "when": when,
            "reason": occurrence.reason,
        }
        subject = f"Work visit series {series.series_id} paused: a visit could not be ordered"
        outgoing.append((f"paused:{occurrence.pk}", (subject, series.owner.email, *_render(ctx), None)))
    sent, failure = 0, None
    claimed = []
    for notice, email in outgoing:
        if not email[1]:
            continue
        row, new = SeriesEmail.objects.get_or_create(series=series, notice=notice[:64], recipient=email[1])
        if new:
            claimed.append((row, email))
    if claimed:
        connection = get_connection()
        for row, email in claimed:
            try:
                _message(email, connection).send()
            except Exception as exc:  # refused: the claim is freed and the task retries this one
                failure = failure or (email[1], exc)
                row.delete()
            else:
                SeriesEmail.objects.filter(pk=row.pk).update(sent_at=timezone.now())
                sent += 1
    if failure is not None:
        raise DeliveryError(f"{failure[0]}: {failure[1]}") from failure[1]
    VisitSeries.objects.filter(pk=series.pk).exclude(invite_sent_sequence__gte=sequence).update(
        invite_sent_sequence=sequence
    )
    SeriesOccurrence.objects.filter(pk__in=[o.pk for o in told]).update(owner_told_at=timezone.now())
    return sent


def _coming(series: VisitSeries) -> list[str]:
    now = timezone.now()
    return [
        messages.local_span(o.visit_start, o.visit_end, series.ibx.timezone)
        for o in series.occurrences.order_by("visit_start")
        if o.visit_end > now and o.status not in GONE
    ][:12]


def _render(context: dict) -> tuple[str, str]:
    return (
        render_to_string("emails/series_notice.txt", context),
        render_to_string("emails/series_notice.html", context),
    )
