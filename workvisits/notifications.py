"""Who is told what about an order, rendered from templates, with a calendar invite.

Each email is sent at most once per order, notice and recipient: a SentNotification row is
inserted first (the unique constraint decides who sends), the email goes out, then the row is
marked sent and an EMAIL event lands on the order's timeline.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from email.mime.text import MIMEText
from email.utils import parseaddr
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from icalendar import Calendar, Event, Timezone, vCalAddress

from . import selectors, services
from .choices import ContactType, EventKind, OrderStatus
from .models import Order, OrderEvent, SentNotification
from .rules import format_datetime

logger = logging.getLogger(__name__)

OPERATORS_GROUP = "Operators"
NOTIFIED = "notified"  # OrderEvent.data key: the event's emails are done (the sweeper skips it)

# notice -> (subject, headline); {id} is the portal's order id, {upstream} the upstream's.
NOTICES = {
    "submitted": ("Work visit {id} received", "We have received your work visit request."),
    "pending": ("Work visit {id} waiting for review", "Your work visit request is waiting for a reviewer."),
    "accepted": (
        "Work visit {id} accepted by the data centre ({upstream})",
        "The data centre has accepted your work visit as order {upstream}.",
    ),
    "rejected": ("Work visit {id} rejected", "Your work visit request was rejected."),
    "modified": ("Work visit {id} changed", "Your work visit has been changed."),
    "cancelled": ("Work visit {id} cancelled", "Your work visit has been cancelled."),
    "failed": (
        "Work visit {id} could not be sent to the data centre",
        "We could not send your work visit to the data centre. Our operators have been told and will resubmit it.",
    ),
    "reminder": ("Reminder: work visit {id} starts soon", "A reminder: your work visit starts within a day."),
}


class DeliveryError(Exception):
    """The mail backend did not take an email; the notification task retries."""


# ---------------------------------------------------------------------------------------------
def recipients(order: Order) -> list[tuple[str, str]]:
    """(email, name) of the ordering user, the technical contact and the notification contacts, once each."""
    people = [(order.ordered_by.email, order.ordered_by.display_name())]
    contacts = sorted(order.contacts.all(), key=lambda c: (c.contact_type != ContactType.TECHNICAL, c.pk))
    people += [(c.email, c.name) for c in contacts]
    seen: set[str] = set()
    unique = []
    for email, name in people:
        key = (email or "").strip().lower()
        if key and key not in seen:
            seen.add(key)
            unique.append((email.strip(), name))
    return unique


def operator_emails() -> list[str]:
    emails = list(settings.OPERATORS_EMAILS)
    group = Group.objects.filter(name=OPERATORS_GROUP).first()
    if group is not None:
        emails += [u.email for u in group.user_set.filter(is_active=True).exclude(email="")]
    seen: set[str] = set()
    return [e for e in emails if not (e.lower() in seen or seen.add(e.lower()))]


def local_time(order: Order, value: datetime) -> str:
    """A time as people at the IBX read it, with the zone named: ``Tue 01 Dec 2026 09:00 EST (America/New_York)``."""
    local = value.astimezone(order.ibx.zone)
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()} ({order.ibx.timezone})"


def calendar_invite(order: Order, *, method: str, sequence: int, attendees: list[tuple[str, str]]) -> str:
    """An iCalendar invite for the visit, in the IBX's zone; one UID per order, SEQUENCE rising with changes."""
    calendar = Calendar()
    calendar.add("prodid", "-//Work visits portal//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", f"{order.submission_key}@workvisits")
    event.add("sequence", sequence)
    event.add("dtstamp", datetime.now(UTC))
    zone = order.ibx.zone
    event.add("dtstart", order.visit_start.astimezone(zone))
    event.add("dtend", order.visit_end.astimezone(zone))
    event.add("summary", f"Work visit {order.order_id} at {order.ibx.code}")
    event.add("location", f"{order.ibx.name} ({order.ibx.code})")
    event.add("description", order.description)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    organizer = vCalAddress(f"mailto:{parseaddr(settings.DEFAULT_FROM_EMAIL)[1]}")
    organizer.params["cn"] = "Work visits"
    event.add("organizer", organizer)
    for email, name in attendees:
        attendee = vCalAddress(f"mailto:{email}")
        attendee.params["cn"] = name
        attendee.params["role"] = "REQ-PARTICIPANT"
        event.add("attendee", attendee, encode=0)
    calendar.add_component(_vtimezone(order.ibx.timezone, order.visit_start.year))
    calendar.add_component(event)
    return calendar.to_ical().decode()


@lru_cache(maxsize=64)
def _vtimezone(tzid: str, year: int) -> Timezone:
    """The zone's rules from the year before the visit to the year after (not its 1970-2038 history)."""
    return Timezone.from_tzid(tzid, first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1))


# ---------------------------------------------------------------------------------------------
def _deliver(order: Order, notice: str, recipient: str, subject: str, text: str, html: str, invite=None) -> bool:
    """Send one email unless this order, notice and recipient already had it. True when sent now."""
    row_id = _claim(order, notice[:64], recipient)
    if row_id is None:
        return False
    _send_message(row_id, recipient, subject, text, html, invite)
    SentNotification.objects.filter(pk=row_id).update(sent_at=timezone.now())
    return True


def _send_message(row_id: int, recipient: str, subject: str, text: str, html: str, invite=None) -> None:
    """Hand one email to the backend; when it fails, free the claim `row_id` so that the retry sends it."""
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [recipient])
    message.attach_alternative(html, "text/html")
    if invite is not None:
        method, ics = invite
        part = MIMEText(ics, "calendar", "utf-8")
        part.set_param("method", method)
        part.add_header("Content-Disposition", "attachment", filename="invite.ics")
        message.attach(part)
    try:
        message.send()
    except Exception as exc:  # not sent: free the claim so that the retry sends it
        SentNotification.objects.filter(pk=row_id).delete()
        raise DeliveryError(f"{recipient}: {exc}") from exc


def _deliver_and_record(order: Order, notice: str, recipient: str, subject: str, text: str, html: str, invite) -> bool:
    """_deliver, then its EMAIL event; the claim's sent_at and the event are written in one transaction."""
    row_id = _claim(order, notice[:64], recipient)
    if row_id is None:
        return False
    _send_message(row_id, recipient, subject, text, html, invite)
    with transaction.atomic():
        SentNotification.objects.filter(pk=row_id).update(sent_at=timezone.now())
        services.record_event(
            order=order,
            kind=EventKind.EMAIL,
            note=f"Email “{subject}” sent to {recipient}" + (" with a calendar invite." if invite else "."),
            data={"notice": notice, "recipient": recipient, "invite": invite[0] if invite else None},
        )
    return True


def _claim(order: Order, notice: str, recipient: str) -> int | None:
    """Insert the (order, notice, recipient) row; None when it exists: someone sent it or is sending it."""
    table = SentNotification._meta.db_table
    with connection.cursor() as cursor:  # one statement, fine inside and outside a transaction
        cursor.execute(
            f"INSERT INTO {table} (order_id, notice, recipient, created_at) VALUES (%s, %s, %s, %s) "  # noqa: S608
            "ON CONFLICT (order_id, notice, recipient) DO NOTHING RETURNING id",
            [order.pk, notice, recipient, timezone.now()],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _send(order: Order, notice: str, key: str, people: list[tuple[str, str]], extra: dict, invite=None) -> int:
    subject_pattern, headline_pattern = NOTICES[notice]
    names = {"id": order.order_id, "upstream": order.upstream_order_id or ""}
    subject, headline = subject_pattern.format(**names), headline_pattern.format(**names)
    sent = 0
    for email, name in people:
        context = {
            "order": order,
            "notice": notice,
            "headline": headline,
            "name": name,
            "start": local_time(order, order.visit_start),
            "end": local_time(order, order.visit_end),
            "start_utc": format_datetime(order.visit_start),
            "zone": order.ibx.timezone,
            **extra,
        }
        text = render_to_string("emails/order_notice.txt", context)
        html = render_to_string("emails/order_notice.html", context)
        if _deliver_and_record(order, key, email, subject, text, html, invite):
            sent += 1
    return sent


def _notice_of(event: OrderEvent, order: Order) -> tuple[str | None, str, int | None, str | None]:
    """(notice, dedup key, invite sequence, invite method) for an event; notice None: nobody is told."""
    if event.kind == EventKind.CREATED:
        if event.to_status == OrderStatus.PENDING_REVIEW:
            return "pending", "submitted", 0, "REQUEST"
        return "submitted", "submitted", 0, "REQUEST"
    if event.kind == EventKind.MODIFIED:
        version = int(event.data.get("version") or order.version)
        return "modified", f"modified:v{version}", version, "REQUEST"
    if event.kind == EventKind.REJECTED:
        return "rejected", f"rejected:{event.pk}", None, None
    if event.kind == EventKind.CANCEL_REQUESTED or (
        event.kind == EventKind.STATUS and event.to_status == OrderStatus.CANCELLED
    ):
        return "cancelled", "cancelled", max(order.version, 1), "CANCEL"
    if event.kind == EventKind.STATUS and event.to_status == OrderStatus.SUBMITTED:
        return "accepted", "accepted", None, None
    if event.kind == EventKind.STATUS and event.to_status == OrderStatus.FAILED:
        return "failed", f"failed:{event.pk}", None, None
    return None, "", None, None


def notify_event(event_pk: int) -> int:
    """Send the emails an event calls for; returns how many went out now."""
    event = selectors.event_for_notice(event_pk)
    if event is None:
        return 0
    order = event.order
    notice, key, sequence, method = _notice_of(event, order)
    if notice is None:
        _mark_notified(event)
        return 0
    people = recipients(order)
    invite = None
    if method is not None:
        invite = (method, calendar_invite(order, method=method, sequence=sequence, attendees=people))
    extra = {"reasons": order.rejection_reasons if notice == "rejected" else [], "note": event.note}
    sent = _send(order, notice, key, people, extra, invite)
    if notice == "failed":
        alert_operators(order, f"Work visit {order.order_id} FAILED", order.last_error, key=f"ops-{key}")
    _mark_notified(event)
    return sent


def _mark_notified(event: OrderEvent) -> None:
    event.data[NOTIFIED] = timezone.now().isoformat()
    event.save(update_fields=["data"])


def send_reminder(order_pk: int) -> int:
    """The day-before reminder, once per visit start (a rescheduled visit is reminded again)."""
    order = selectors.order_for_notice(order_pk)
    return _send(order, "reminder", f"reminder:{format_datetime(order.visit_start)}", recipients(order), {})


def alert_operators(order: Order, subject: str, detail: str, *, key: str | None = None) -> int:
    """Tell the operators (OPERATORS_EMAILS and the Operators group) that an order needs them."""
    key = key or f"ops:{subject}"[:64]
    sent = []
    context = {"order": order, "subject": subject, "detail": detail}
    text = render_to_string("emails/operators_alert.txt", context)
    html = render_to_string("emails/operators_alert.html", context)
    for email in operator_emails():
        try:
            if _deliver(order, key, email, subject, text, html):
                sent.append(email)
        except DeliveryError:
            logger.exception("could not alert operator %s", email)
    if sent:
        services.record_event(
            order=order, kind=EventKind.EMAIL, note=f"Operators alerted: {subject}.", data={"notice": key}
        )
    return len(sent)
