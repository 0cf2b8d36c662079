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
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import EmailMultiAlternatives, get_connection
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
    calendar.add_component(event)
    # The zone's VTIMEZONE goes before the event; its text is made once per zone and year.
    head, begin, rest = calendar.to_ical().decode().partition("BEGIN:VEVENT\r\n")
    return head + _vtimezone(order.ibx.timezone, order.visit_start.year) + begin + rest


@lru_cache(maxsize=64)
def _vtimezone(tzid: str, year: int) -> str:
    """The zone's rules from the year before the visit to the year after (not its 1970-2038 history)."""
    zone = Timezone.from_tzid(tzid, first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1))
    return zone.to_ical().decode()


# ---------------------------------------------------------------------------------------------
class Email(NamedTuple):
    notice: str  # the key that makes it once per order and recipient, e.g. "submitted", "modified:v3"
    recipient: str
    subject: str
    text: str
    html: str
    invite: tuple[str, str] | None = None  # (METHOD, iCalendar text)


def _deliver(order: Order, emails: list[Email], *, record: bool = True, done=None) -> int:
    """Send the emails this call claims, over one mail connection; returns how many went out.

    An (order, notice, recipient) row is claimed first, so an email goes out at most once whatever
    retries happen. Afterwards, in one transaction: the sent rows get their sent_at, each email its
    EMAIL event (with `record`), `done()` runs (when all went out), and the claims of emails the
    backend refused are freed, so that the retry (DeliveryError, raised once the others are sent and
    recorded) sends just those.
    """
    claimed = _claim(order, [(email.notice, email.recipient) for email in emails])
    todo = [
        (claimed[email.notice, email.recipient], email)
        for email in emails
        if (email.notice, email.recipient) in claimed
    ]
    sent: list[tuple[int, Email]] = []
    unsent: list[int] = []
    failure = None
    if todo:
        mail = get_connection()  # one SMTP session for the batch
        try:
            mail.open()
        except Exception as exc:  # the mail server is away: every claim is freed for the retry
            failure = (", ".join(email.recipient for _, email in todo), exc)
            unsent = [row_id for row_id, _ in todo]
            todo = []
        for row_id, email in todo:
            try:
                _message(email, mail).send()
            except Exception as exc:  # refused: the retry sends this one again
                failure = failure or (email.recipient, exc)
                unsent.append(row_id)
            else:
                sent.append((row_id, email))
        try:
            mail.close()
        except Exception:  # the emails are handed over; a failed goodbye changes nothing
            logger.warning("the mail connection did not close cleanly", exc_info=True)
    with transaction.atomic():
        if unsent:
            SentNotification.objects.filter(pk__in=unsent).delete()
        if sent:
            SentNotification.objects.filter(pk__in=[row_id for row_id, _ in sent]).update(sent_at=timezone.now())
        if record and sent:
            services.record_events(order, EventKind.EMAIL, [_email_event(email) for _, email in sent])
        if failure is None and done is not None:
            done()
    if failure is not None:
        recipient, exc = failure
        raise DeliveryError(f"{recipient}: {exc}") from exc
    return len(sent)


def _email_event(email: Email) -> tuple[str, dict]:
    with_invite = " with a calendar invite." if email.invite else "."
    note = f"Email “{email.subject}” sent to {email.recipient}{with_invite}"
    return note, {"notice": email.notice, "recipient": email.recipient, "invite": email.invite and email.invite[0]}


def _message(email: Email, mail) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        email.subject, email.text, settings.DEFAULT_FROM_EMAIL, [email.recipient], connection=mail
    )
    message.attach_alternative(email.html, "text/html")
    if email.invite is not None:
        method, ics = email.invite
        part = MIMEText(ics, "calendar", "utf-8")
        part.set_param("method", method)
        part.add_header("Content-Disposition", "attachment", filename="invite.ics")
        message.attach(part)
    return message


def _claim(order: Order, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Insert the (order, notice, recipient) rows in one statement; the ids of those inserted now, by
    (notice, recipient). A row that exists already: someone sent that email or is sending it."""
    if not keys:
        return {}
    table = SentNotification._meta.db_table
    now = timezone.now()
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(keys))
    params = [value for notice, recipient in keys for value in (order.pk, notice[:64], recipient, now)]
    with connection.cursor() as cursor:  # one statement, fine inside and outside a transaction
        cursor.execute(
            f"INSERT INTO {table} (order_id, notice, recipient, created_at) VALUES {rows} "  # noqa: S608
            "ON CONFLICT (order_id, notice, recipient) DO NOTHING RETURNING id, notice, recipient",
            params,
        )
        return {(notice, recipient): row_id for row_id, notice, recipient in cursor.fetchall()}


def _emails(
    order: Order, notice: str, key: str, people: list[tuple[str, str]], extra: dict, invite=None
) -> list[Email]:
    subject_pattern, headline_pattern = NOTICES[notice]
    names = {"id": order.order_id, "upstream": order.upstream_order_id or ""}
    subject, headline = subject_pattern.format(**names), headline_pattern.format(**names)
    emails = []
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
        emails.append(Email(key[:64], email, subject, text, html, invite))
    return emails


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


def notify_order(order_pk: int, order: Order | None = None) -> int:
    """Send the emails of every event of the order that calls for some and has not had them yet, in
    one batch; returns how many went out now. `order`, when given, is the order already read with
    the parts an email shows (as selectors.order_for_notice reads them)."""
    pending = list(
        OrderEvent.objects.filter(order_id=order_pk, kind__in=services.NOTIFIED_EVENTS, notified_at__isnull=True)
        .order_by("id")
    )
    if not pending:
        return 0
    if order is None:
        try:
            order = selectors.order_for_notice(order_pk)
        except Order.DoesNotExist:
            return 0
    return _notify(order, pending)


def notify_event(event_pk: int) -> int:
    """Send the emails one event calls for; returns how many went out now."""
    event = selectors.event_for_notice(event_pk)
    if event is None:
        return 0
    return _notify(event.order, [event])


def _notify(order: Order, events: list[OrderEvent]) -> int:
    people = recipients(order)
    emails, failed = [], []
    for event in events:
        notice, key, sequence, method = _notice_of(event, order)
        if notice is None:
            continue
        invite = None
        if method is not None:
            invite = (method, calendar_invite(order, method=method, sequence=sequence, attendees=people))
        extra = {"reasons": order.rejection_reasons if notice == "rejected" else [], "note": event.note}
        emails += _emails(order, notice, key, people, extra, invite)
        if notice == "failed":
            failed.append(key)
    sent = _deliver(order, emails, done=lambda: services.events_mark_notified([event.pk for event in events]))
    for key in failed:
        alert_operators(order, f"Work visit {order.order_id} FAILED", order.last_error, key=f"ops-{key}")
    return sent


def send_reminder(order_pk: int) -> int:
    """The day-before reminder, once per visit start (a rescheduled visit is reminded again)."""
    order = selectors.order_for_notice(order_pk)
    key = f"reminder:{format_datetime(order.visit_start)}"
    return _deliver(order, _emails(order, "reminder", key, recipients(order), {}))


def alert_operators(order: Order, subject: str, detail: str, *, key: str | None = None) -> int:
    """Tell the operators (OPERATORS_EMAILS and the Operators group) that an order needs them."""
    key = key or f"ops:{subject}"[:64]
    context = {"order": order, "subject": subject, "detail": detail}
    text = render_to_string("emails/operators_alert.txt", context)
    html = render_to_string("emails/operators_alert.html", context)
    emails = [Email(key[:64], email, subject, text, html) for email in operator_emails()]
    try:
        sent = _deliver(order, emails, record=False)
    except DeliveryError:
        logger.exception("could not alert every operator about order %s", order.order_id)
        sent = SentNotification.objects.filter(order=order, notice=key[:64], sent_at__isnull=False).count()
    if sent:
        services.record_event(
            order=order, kind=EventKind.EMAIL, note=f"Operators alerted: {subject}.", data={"notice": key}
        )
    return sent
