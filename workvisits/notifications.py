"""Who is told what about an order, rendered from templates, with a calendar invite.

Each email is sent at most once per order, notice and recipient: a SentNotification row is
inserted first (the unique constraint decides who sends), the email goes out, then the row is
marked sent and an EMAIL event lands on the order's timeline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from email.mime.text import MIMEText
from email.utils import parseaddr
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event, Timezone, vCalAddress

from . import graph_insert, graph_read, selectors, services
from .choices import ContactType, EventKind, OrderStatus
from .models import Order, OrderEvent, SentNotification
from .rules import format_datetime
from .web import messages

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
    "received_accepted": (
        "Work visit {id} received and accepted by the data centre ({upstream})",
        "We have received your work visit request and the data centre has accepted it as order {upstream}.",
    ),
    "rejected": ("Work visit {id} rejected", "Your work visit request was rejected."),
    "modified": ("Work visit {id} changed", "Your work visit has been changed."),
    "cancelled": ("Work visit {id} cancelled", "Your work visit has been cancelled."),
    "change_refused": (
        "Work visit {id}: the data centre refused the change",
        "The data centre refused the change to your work visit, which stays as it was.",
    ),
    "cancel_refused": (
        "Work visit {id} is not cancelled",
        "The data centre refused to cancel your work visit, which it still holds.",
    ),
    "failed": (
        "Work visit {id} could not be sent to the data centre",
        "We could not send your work visit to the data centre. Our operators have been told and will resubmit it.",
    ),
    "reminder": ("Reminder: work visit {id} starts soon", "A reminder: your work visit starts within a day."),
}


PHOTO_ID_REMINDER = (
    "Every visitor brings a government-issued photo ID and must be 18 or over; names must be as on the ID."
)


def notice_subject(order: Order, notice: str) -> str:
    """The subject the emails of a notice key ("modified:v3", "ops-failed:12") carried."""
    base = notice.split(":")[0]
    if base.startswith("ops"):
        return f"Operators alert about work visit {order.order_id}"
    pattern = NOTICES.get(base, (f"Work visit {{id}}: {base}", ""))[0]
    return pattern.format(id=order.order_id, upstream=order.upstream_order_id or "")


class DeliveryError(Exception):
    """The mail backend did not take an email; the notification task retries."""


# Roles a person can have in an order, in the order the greeting names them.
ORDERER, TECHNICAL, NOTIFICATION, VISITOR = "orderer", "technical", "notification", "visitor"
ROLE_WORDS = {
    ORDERER: "you placed",
    TECHNICAL: "you are the technical contact for",
    NOTIFICATION: "you are a notification contact for",
    VISITOR: "you are on the list of visitors of",
}
# How long the data centre may take to accept an order for "received" and "accepted" to be one email.
FOLD_WINDOW = timedelta(minutes=1)


class Recipient(NamedTuple):
    email: str
    name: str
    roles: tuple[str, ...]
    registered: bool  # a user of the portal: the email links to the order page


def recipients(order: Order) -> list[Recipient]:
    """Everyone told about the order, once each: the ordering user, the technical and notification
    contacts, and every visitor with an email address who has not been left out."""
    people = [(order.ordered_by.email, order.ordered_by.display_name(), ORDERER, True)]
    contacts = sorted(order.parts("contacts"), key=lambda c: (c.contact_type != ContactType.TECHNICAL, c.pk))
    people += [
        (c.email, c.name, TECHNICAL if c.contact_type == ContactType.TECHNICAL else NOTIFICATION, bool(c.user_id))
        for c in contacts
    ]
    people += [(v.email, v.name, VISITOR, bool(v.user_id)) for v in order.parts("visitors") if v.notify]
    merged: dict[str, Recipient] = {}
    for email, name, role, registered in people:
        key = (email or "").strip().lower()
        if not key:
            continue
        if key in merged:
            known = merged[key]
            roles = known.roles if role in known.roles else (*known.roles, role)
            merged[key] = known._replace(roles=roles, registered=known.registered or registered)
        else:
            merged[key] = Recipient(email.strip(), name, (role,), registered)
    return list(merged.values())


def role_sentence(order: Order, roles) -> str:
    """``You placed and are the technical contact for work visit WV-… at DC2.``"""
    words = [ROLE_WORDS[r] for r in roles]
    if len(words) > 1:
        words = [words[0]] + [w.removeprefix("you ") for w in words[1:]]
    joined = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    text = f"{joined} work visit {order.order_id} at {order.ibx.name} ({order.ibx.code})."
    return text[0].upper() + text[1:]


def order_url(order: Order) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse("order_detail", kwargs={"order_id": order.order_id})


def operator_emails() -> list[str]:
    emails = list(settings.OPERATORS_EMAILS)
    group = Group.objects.filter(name=OPERATORS_GROUP).first()
    if group is not None:
        emails += [u.email for u in group.user_set.filter(is_active=True).exclude(email="")]
    seen: set[str] = set()
    return [e for e in emails if not (e.lower() in seen or seen.add(e.lower()))]


def local_time(order: Order, value: datetime) -> str:
    """A time as people at the IBX read it, with the zone named: ``Tue 01 Dec 2026 09:00 EST (America/New_York)``."""
    return messages.local_time(value, order.ibx.timezone)


# What the calendar entry says about the visit: waiting (for a reviewer or the data centre) is TENTATIVE.
CONFIRMED_STATUSES = frozenset(
    {OrderStatus.SUBMITTED, OrderStatus.RECEIVED, OrderStatus.IN_PROGRESS, OrderStatus.ON_HOLD}
)
WITHDRAWN_STATUSES = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.FAILED})


def invite_status(order_status: str) -> str:
    if order_status in WITHDRAWN_STATUSES:
        return "CANCELLED"
    return "CONFIRMED" if order_status in CONFIRMED_STATUSES else "TENTATIVE"


def event_uid(key) -> str:
    """The UID of a calendar event of the portal: an order's, or a series' recurring one."""
    return f"{key}@workvisits"


class SeriesInstance(NamedTuple):
    """Where an occurrence's order sits in its series' recurring event: the series' UID, the occurrence's
    start as the rule put it (RECURRENCE-ID) and the series' SEQUENCE."""

    uid: str
    recurrence_id: datetime
    sequence: int


def series_instance(order: Order) -> SeriesInstance | None:
    """The instance of a series' event an order is, or None for an order of its own."""
    occurrence = order.occurrence()
    if occurrence is None:
        return None
    series = occurrence.series
    return SeriesInstance(event_uid(series.invite_uid), occurrence.recurrence_start, series.invite_sequence)


def visit_event(
    order: Order, *, sequence: int, status: str, attendees=(), instance: SeriesInstance | None = None
) -> Event:
    """The visit as a VEVENT in the IBX's zone; one UID per order, SEQUENCE rising with each invite.

    With `instance`, the visit is that instance of its series' event (RFC 5545: the series' UID and a
    RECURRENCE-ID), so a calendar holds it once, in the series."""
    event = Event()
    zone = order.ibx.zone
    if instance is None:
        event.add("uid", event_uid(order.submission_key))
    else:
        event.add("uid", instance.uid)
        event.add("recurrence-id", instance.recurrence_id.astimezone(zone))
    event.add("sequence", sequence)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", order.visit_start.astimezone(zone))
    event.add("dtend", order.visit_end.astimezone(zone))
    event.add("summary", f"Work visit {order.order_id} at {order.ibx.code}")
    event.add("location", f"{order.ibx.name} ({order.ibx.code})")
    event.add(
        "description",
        f"{order.description}\n\n{PHOTO_ID_REMINDER}\nOrder: {order_url(order)}",
    )
    event.add("url", order_url(order))
    event.add("status", status)
    add_people(event, attendees)
    return event


def add_people(event: Event, attendees) -> None:
    """The portal as the organizer of an invite, and (email, name) pairs as its attendees."""
    organizer = vCalAddress(f"mailto:{parseaddr(settings.DEFAULT_FROM_EMAIL)[1]}")
    organizer.params["cn"] = "Work visits"
    event.add("organizer", organizer)
    for email, name in attendees:
        attendee = vCalAddress(f"mailto:{email}")
        attendee.params["cn"] = name
        attendee.params["role"] = "REQ-PARTICIPANT"
        event.add("attendee", attendee, encode=0)


def calendar_text(orders_and_events: list[tuple[Order, Event]], *, method: str | None, name: str = "") -> str:
    """A calendar of the events, each zone's VTIMEZONE (made once per zone and year) before them."""
    calendar = Calendar()
    calendar.add("prodid", "-//Work visits portal//EN")
    calendar.add("version", "2.0")
    if method:
        calendar.add("method", method)
    if name:
        calendar.add("x-wr-calname", name)
    zones = sorted({(o.ibx.timezone, o.visit_start.year) for o, _ in orders_and_events})
    for _, event in orders_and_events:
        calendar.add_component(event)
    head, begin, rest = calendar.to_ical().decode().partition("BEGIN:VEVENT\r\n")
    if not begin:
        return head
    return head + "".join(_vtimezone(tzid, year) for tzid, year in zones) + begin + rest


def calendar_invite(
    order: Order, *, method: str, sequence: int, attendees: list[tuple[str, str]], status: str | None = None
) -> str:
    """An iCalendar invite (REQUEST) or its withdrawal (CANCEL) for the visit, in the IBX's zone; an
    occurrence's order invites to (or withdraws) its instance of the series' event."""
    status = "CANCELLED" if method == "CANCEL" else (status or invite_status(order.status))
    instance = series_instance(order)
    if instance is not None:
        # Above the series' own SEQUENCE and rising with either: the instance's latest word wins.
        sequence += instance.sequence
    event = visit_event(order, sequence=sequence, status=status, attendees=attendees, instance=instance)
    return calendar_text([(order, event)], method=method)


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


def _deliver(order: Order, emails: list[Email], *, record: bool = True, notified: Sequence[int] = ()) -> int:
    """Send the emails this call claims, over one mail connection; returns how many went out.

    An (order, notice, recipient) row is claimed first, so an email goes out at most once whatever
    retries happen. Afterwards, all at once: the sent rows get their sent_at, each email its EMAIL
    event (with `record`), the events `notified` are marked done (when all went out), and the claims
    of emails the backend refused are freed, so that the retry (DeliveryError, raised once the others
    are sent and recorded) sends just those.
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
    events = [_email_event(email) for _, email in sent] if record else []
    sent_ids = [row_id for row_id, _ in sent]
    if failure is None and connection.vendor == "postgresql" and settings.EMAIL_BOOKKEEPING_ONE_STATEMENT:
        _delivered(order, sent_ids, events, notified)
    else:
        with transaction.atomic():
            if unsent:
                SentNotification.objects.filter(pk__in=unsent).delete()
            if sent_ids:
                SentNotification.objects.filter(pk__in=sent_ids).update(sent_at=timezone.now())
            if events:
                services.record_events(order, EventKind.EMAIL, events)
            if failure is None:
                services.events_mark_notified(list(notified))
    if failure is not None:
        recipient, exc = failure
        raise DeliveryError(f"{recipient}: {exc}") from exc
    return len(sent)


def _delivered(order: Order, sent_ids: list[int], events: list[tuple[str, dict]], notified: Sequence[int]) -> None:
    """_deliver's record of emails that all went out, as one statement (atomic by itself): the claims'
    sent_at, the EMAIL events (as services.record_events stores them) and the events marked notified."""
    if not (sent_ids or events or notified):
        return
    rows = graph_insert.rows_json(
        [OrderEvent(order=order, kind=EventKind.EMAIL, note=note, data=data) for note, data in events], connection
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_delivered_statement(), [now, list(sent_ids), rows, now, list(notified)])


@lru_cache(maxsize=1)
def _delivered_statement() -> str:
    quote = connection.ops.quote_name
    claims, events = quote(SentNotification._meta.db_table), quote(OrderEvent._meta.db_table)
    columns = graph_insert.insert_columns(OrderEvent, quote)
    return (
        f"WITH s AS (UPDATE {claims} SET sent_at = %s WHERE id = ANY(%s::bigint[])), "  # noqa: S608
        f"e AS (INSERT INTO {events} ({columns}) "
        f"SELECT {columns} FROM jsonb_populate_recordset(NULL::{events}, %s::jsonb)), "
        f"n AS (UPDATE {events} SET notified_at = %s WHERE notified_at IS NULL AND id = ANY(%s::bigint[])) "
        "SELECT 1"
    )


def _email_event(email: Email) -> tuple[str, dict]:
    with_invite = {"REQUEST": " with a calendar invite.", "CANCEL": " withdrawing the calendar invite."}
    note = f"Email “{email.subject}” sent to {email.recipient}{with_invite.get(email.invite and email.invite[0], '.')}"
    data = {"notice": email.notice, "subject": email.subject, "recipient": email.recipient}
    data["invite"] = email.invite and email.invite[0]
    return note, data


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


def _emails(order: Order, notice: str, key: str, people: list[Recipient], extra: dict, invite=None) -> list[Email]:
    """One email per person, greeting them by their part in the order; `invite` is (METHOD, text) or
    a callable giving it (or None) per person."""
    subject_pattern, headline_pattern = NOTICES[notice]
    names = {"id": order.order_id, "upstream": order.upstream_order_id or ""}
    subject, headline = subject_pattern.format(**names), headline_pattern.format(**names)
    emails = []
    url = order_url(order)
    shared = {
        "order": order,
        "notice": notice,
        "headline": headline,
        "start": local_time(order, order.visit_start),
        "end": local_time(order, order.visit_end),
        "start_utc": format_datetime(order.visit_start),
        "zone": order.ibx.timezone,
        "visit_ahead": notice not in ("rejected", "cancelled", "failed"),
        "photo_id": PHOTO_ID_REMINDER,
        "cages": order.parts("cages"),
        "visitors": order.parts("visitors"),
        **extra,
    }
    for person in people:
        context = {
            **shared,
            "name": person.name,
            "roles": role_sentence(order, person.roles) if person.roles else "",
            "visitor_only": person.roles == (VISITOR,),
            "url": url if person.registered else "",
        }
        text = render_to_string("emails/order_notice.txt", context)
        html = render_to_string("emails/order_notice.html", context)
        attached = invite(person) if callable(invite) else invite
        emails.append(Email(key[:64], person.email, subject, text, html, attached))
    return emails


def _notice_of(event: OrderEvent, order: Order) -> tuple[str | None, str, str | None]:
    """(notice, dedup key, invite method) for an event; notice None: nobody is told."""
    if event.kind == EventKind.CREATED:
        if event.to_status == OrderStatus.PENDING_REVIEW:
            return "pending", "submitted", "REQUEST"
        return "submitted", "submitted", "REQUEST"
    if event.kind == EventKind.MODIFIED:
        version = int(event.data.get("version") or order.version)
        return ("change_refused" if event.data.get("refused") else "modified"), f"modified:v{version}", "REQUEST"
    if event.kind == EventKind.STATUS and event.data.get("cancelRefused"):
        # The visit is back in every calendar, unless the data centre holds it as done.
        method = None if event.to_status == OrderStatus.CLOSED else "REQUEST"
        return "cancel_refused", f"cancel-refused:{event.pk}", method
    if event.kind == EventKind.REJECTED:
        return "rejected", f"rejected:{event.pk}", "CANCEL"
    if event.kind == EventKind.CANCEL_REQUESTED or (
        event.kind == EventKind.STATUS and event.to_status == OrderStatus.CANCELLED
    ):
        # Keyed by the event: after a cancellation the data centre refused, a second one is told too.
        return "cancelled", f"cancelled:{event.pk}", "CANCEL"
    if event.kind == EventKind.STATUS and event.to_status == OrderStatus.SUBMITTED:
        return "accepted", "accepted", "REQUEST"
    if event.kind == EventKind.STATUS and event.to_status == OrderStatus.FAILED:
        return "failed", f"failed:{event.pk}", "CANCEL"
    return None, "", None


def notify_order(order_pk: int, order: Order | None = None, history: list[OrderEvent] | None = None) -> int:
    """Send the emails of every event of the order that calls for some and has not had them yet, in
    one batch; returns how many went out now. `order`, when given, is the order already read with
    the parts an email shows (as selectors.order_for_notice reads them); `history`, when given, is
    order_history(order_pk) read since the order's last event."""
    if history is None:
        history = order_history(order_pk)
    pending = [e for e in history if e.kind in services.NOTIFIED_EVENTS and e.notified_at is None]
    if not pending:
        return 0
    if order is None:
        try:
            order = selectors.order_for_notice(order_pk)
        except Order.DoesNotExist:
            return 0
    return _notify(order, pending, history)


def order_history(order_pk: int) -> list[OrderEvent]:
    """In one query, the order's events that the emails follow: those that call for emails (their
    invites' SEQUENCE; the changes among them) and the emails that carried an invite (whose calendars
    hold the visit)."""
    if connection.vendor == "postgresql":
        # One statement of the portal's (graph_read.read_rows): compiling the filter below cost more CPU
        # than running it.
        kinds = sorted(services.NOTIFIED_EVENTS)
        return graph_read.read_rows(OrderEvent, _history_sql(), [order_pk, kinds, EventKind.EMAIL, "invite"])
    invites = Q(kind=EventKind.EMAIL, data__has_key="invite")
    return list(
        OrderEvent.objects.filter(Q(kind__in=services.NOTIFIED_EVENTS) | invites, order_id=order_pk).order_by("id")
    )


@lru_cache(maxsize=1)
def _history_sql() -> str:
    q = connection.ops.quote_name
    column = {f.name: q(f.column) for f in OrderEvent._meta.concrete_fields}
    return (
        f"SELECT {', '.join(column.values())} FROM {q(OrderEvent._meta.db_table)} "  # noqa: S608
        f"WHERE {column['order']} = %s AND ({column['kind']} = ANY(%s) OR ({column['kind']} = %s "
        f"AND {column['data']} ? %s)) ORDER BY {column['id']}"
    )


def _sequences(order: Order, upto: int, history: list[OrderEvent]) -> dict[int, int]:
    """The SEQUENCE of each invite-bearing event of the order: how many such events came before it."""
    sequence, numbers = 0, {}
    for event in history:
        if event.pk <= upto and event.kind in services.NOTIFIED_EVENTS and _notice_of(event, order)[2] is not None:
            numbers[event.pk] = sequence
            sequence += 1
    return numbers


def _holding_invites(history: list[OrderEvent]) -> dict[str, str]:
    """The people whose calendars hold the visit now (lower-case email -> email), from the emails sent."""
    holding: dict[str, str] = {}
    for event in history:
        if event.kind != EventKind.EMAIL:
            continue
        email = str(event.data.get("recipient") or "")
        if event.data.get("invite") == "REQUEST":
            holding[email.lower()] = email
        elif event.data.get("invite") == "CANCEL":
            holding.pop(email.lower(), None)
    return holding


def _plan(events: list[OrderEvent], order: Order) -> list[tuple[OrderEvent, str, str, str | None]]:
    """What each event's emails are, after folding: a queued order's "received" goes with the data
    centre's answer when that came within FOLD_WINDOW (one "received and accepted" email), and not at
    all when the answer is a refusal (the rejection says it all)."""
    plan = [(event, *_notice_of(event, order)) for event in events]
    plan = [item for item in plan if item[1] is not None]
    created = next((item for item in plan if item[1] == "submitted"), None)
    if created is None:
        return plan
    answer = next((item for item in plan if item[0].pk > created[0].pk and item[1] in ("accepted", "rejected")), None)
    if answer is None:
        return plan
    if answer[1] == "accepted" and answer[0].created_at - created[0].created_at > FOLD_WINDOW:
        return plan
    plan.remove(created)
    if answer[1] == "accepted":
        plan[plan.index(answer)] = (answer[0], "received_accepted", answer[2], answer[3])
    return plan


def _notify(order: Order, events: list[OrderEvent], history: list[OrderEvent]) -> int:
    people = recipients(order)
    plan = _plan(events, order)
    sequences = _sequences(order, max(event.pk for event in events), history) if plan else {}
    holding = _holding_invites(history)
    names = messages.Names.from_order(order) if any(notice == "rejected" for _, notice, _, _ in plan) else None
    emails, failed = [], []
    for event, notice, key, method in plan:
        extra = {
            "reasons": [messages.reason_words(r, names) for r in order.rejection_reasons]
            if names is not None and notice == "rejected"
            else [],
            "note": ""
            if notice in ("rejected", "submitted", "pending", "received_accepted", "accepted")
            else event.note,
        }
        sequence = sequences.get(event.pk, 0)
        if method == "REQUEST":
            invite = (
                "REQUEST",
                calendar_invite(
                    order,
                    method="REQUEST",
                    sequence=sequence,
                    attendees=[(p.email, p.name) for p in people],
                    # What the entry was when the event happened: "received" is tentative even if the
                    # data centre has accepted meanwhile (its own email confirms it, one SEQUENCE up).
                    status="TENTATIVE" if notice in ("submitted", "pending") else None,
                ),
            )
            emails += _emails(order, notice, key, people, extra, invite)
            holding.update({p.email.lower(): p.email for p in people})
        else:
            # Withdraw the entry from every calendar that holds it, including people no longer on the order.
            current = {p.email.lower() for p in people}
            audience = people + [
                Recipient(email, "", (), False) for key_, email in holding.items() if key_ not in current
            ]
            held = [(holding[p.email.lower()], p.name) for p in audience if p.email.lower() in holding]
            cancel = calendar_invite(order, method="CANCEL", sequence=sequence, attendees=held) if held else None
            emails += _emails(
                order,
                notice,
                key,
                audience,
                extra,
                lambda person, cancel=cancel, holding=holding: (
                    ("CANCEL", cancel) if cancel and person.email.lower() in holding else None
                ),
            )
            holding = {}
        if notice == "failed":
            failed.append(key)
    sent = _deliver(order, emails, notified=[event.pk for event in events])
    for key in failed:
        alert_operators(order, f"Work visit {order.order_id} FAILED", order.last_error, key=f"ops-{key}")
    return sent


def send_reminder(order_pk: int) -> int:
    """The day-before reminder, once per visit start (a rescheduled visit is reminded again)."""
    order = selectors.order_for_notice(order_pk)
    key = f"reminder:{format_datetime(order.visit_start)}"
    return _deliver(order, _emails(order, "reminder", key, recipients(order), {"reasons": [], "note": ""}))


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
