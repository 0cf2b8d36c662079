"""A series' recurring calendar invite kept true: what it says (its facts and people), its SEQUENCE,
and an occurrence following its order when that order is changed by itself (its page, the API, a
reviewer, the data centre). The order services call in here; this module calls no service."""

from __future__ import annotations

import hashlib
import json

from django.db import transaction

from . import tasks
from .choices import OccurrenceStatus, OrderStatus, SeriesStatus
from .models import Order, SeriesOccurrence, User, VisitSeries
from .queueing import enqueue_on_commit

# Occurrences that are not visits any more: the invite's EXDATE.
GONE = frozenset(
    {OccurrenceStatus.SKIPPED, OccurrenceStatus.CANCELLED, OccurrenceStatus.NOT_CREATED, OccurrenceStatus.MISSED}
)
# An order of a series that was withdrawn (by its page, the API, a reviewer or the data centre).
WITHDRAWN_ORDER_STATUSES = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED})


# A template's people are read leniently: one stored before its entries were checked may hold entries
# that are not objects (null), which are passed over rather than break every page and action of the series.
def _entries(value) -> list[dict]:
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _strings(value) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def template_contacts(template) -> list[dict]:
    """The template's contacts that are objects."""
    return _entries(template.get("contacts")) if isinstance(template, dict) else []


def template_visitors(template) -> list[dict]:
    """The template's visitors that are objects (as order_create reads them, so positions match the orders')."""
    details = template.get("details") if isinstance(template, dict) else None
    return _entries(details.get("visitors")) if isinstance(details, dict) else []


def template_usernames(template, contact_type: str | None = None) -> set[str]:
    entries = [] if contact_type else template_visitors(template)
    entries += [c for c in template_contacts(template) if contact_type is None or c.get("type") == contact_type]
    return {name for entry in entries for name in _strings(entry.get("registeredUsers"))}


def series_lock_for_order(order_pk: int) -> int | None:
    """Lock the series an order is an occurrence of and return its key (None for an order of its own).

    An order-level change takes this lock before the order's, as the series' own actions do, so the
    two never wait on each other."""
    return (
        VisitSeries.objects.select_for_update(of=("self",))
        .filter(occurrences__order_id=order_pk)
        .values_list("pk", flat=True)
        .first()
    )


def occurrence_follow_order(*, order_pk: int) -> bool:
    """The occurrence of an order changed by itself (its page, the API, a reviewer, the data centre) follows
    it: a withdrawn order's occurrence leaves the invite (EXDATE), a moved one's is an override. Returns
    whether the occurrence changed (the invite then gets a new SEQUENCE and is emailed)."""
    with transaction.atomic():
        series_pk = series_lock_for_order(order_pk)
        if series_pk is None:
            return False
        order = Order.objects.only("status", "visit_start", "visit_end").get(pk=order_pk)
        ordered = SeriesOccurrence.objects.filter(order_id=order_pk, status=OccurrenceStatus.CREATED)
        if order.status in WITHDRAWN_ORDER_STATUSES:
            changed = ordered.update(status=OccurrenceStatus.CANCELLED)
        else:
            changed = ordered.exclude(visit_start=order.visit_start, visit_end=order.visit_end).update(
                visit_start=order.visit_start, visit_end=order.visit_end
            )
        if changed:
            invite_changed(series_pk)
    return bool(changed)


def recipients(series: VisitSeries) -> list[tuple[str, str]]:
    """The owner and the people of the series' template with an email address, once each (the visitors
    left out of the emails left out)."""
    template = series.template
    users = {
        u.username: u
        for u in User.objects.filter(organization_id=series.organization_id, username__in=template_usernames(template))
    }
    people = [(series.owner.email, series.owner.display_name())]
    visitors = [v for i, v in enumerate(template_visitors(template)) if i not in series.left_out_visitors]
    for entry in [*visitors, *template_contacts(template)]:
        for name in _strings(entry.get("registeredUsers")):
            if name in users:
                people.append((users[name].email, users[name].display_name()))
        emails = [d.get("value") for d in _entries(entry.get("details")) if d.get("type") == "EMAIL"]
        email = next((value for value in emails if isinstance(value, str)), "")
        if email:
            people.append((email, f"{entry.get('firstName') or ''} {entry.get('lastName') or ''}".strip()))
    seen: set[str] = set()
    return [(e, n) for e, n in people if e and not (e.lower() in seen or seen.add(e.lower()))]


def invite_facts(series: VisitSeries, occurrences: list[SeriesOccurrence]) -> dict:
    gone = [o.recurrence_start for o in occurrences if o.status in GONE]
    moved = [
        (o.recurrence_start, o.visit_start, o.visit_end)
        for o in occurrences
        if o.status not in GONE and (o.visit_start, o.visit_end) != (o.recurrence_start, o.recurrence_end)
    ]
    return {"cancelled": series.status == SeriesStatus.CANCELLED, "gone": gone, "moved": moved}


def invite_changed(series_pk: int, *, force_notify: bool = False) -> None:
    """After a change: a new SEQUENCE and an email when what the invite says changed (inside the caller's
    transaction; the email goes on commit)."""
    series = VisitSeries.objects.select_for_update(of=("self",)).select_related("owner").get(pk=series_pk)
    occurrences = list(series.occurrences.order_by("recurrence_start"))
    facts = invite_facts(series, occurrences)
    facts["recurrence"] = series.recurrence
    facts["people"] = recipients(series)
    digest = hashlib.sha256(json.dumps(facts, default=str, sort_keys=True).encode()).hexdigest()
    if digest != series.invite_digest:
        if series.invite_digest:
            series.invite_sequence += 1
        series.invite_digest = digest
        series.save(update_fields=["invite_digest", "invite_sequence", "updated_at"])
    elif not force_notify:
        return
    enqueue_on_commit(tasks.notify_series, series.pk)
