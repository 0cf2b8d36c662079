"""Who is told what: every contact once per notice, times in the IBX's zone, one invite per visit
(same UID, rising SEQUENCE, METHOD:CANCEL on cancel), and a failed send is retried without duplicates."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from icalendar import Calendar

from tests.pipeline_harness import free_port
from workvisits import notifications, services
from workvisits.choices import EventKind
from workvisits.models import SentNotification
from workvisits.rules import format_datetime

TECHNICAL = {
    "type": "TECHNICAL",
    "firstName": "Nina",
    "lastName": "Night",
    "companyName": "Fixit Ltd",
    "details": [{"type": "EMAIL", "value": "nina@fixit.example"}, {"type": "PHONE", "value": "+1 555 0100"}],
    "availability": "WORK_HOURS",
    "timezone": "Europe/Amsterdam",
}


def _invite(message) -> tuple[str, Calendar]:
    part = next(p for p in message.message().walk() if p.get_content_type() == "text/calendar")
    return part.get_param("method"), Calendar.from_ical(part.get_payload(decode=True))


def _event(calendar):
    return next(c for c in calendar.walk("VEVENT"))


@pytest.fixture
def order(orderer, make_body):
    body = make_body(contacts=[TECHNICAL, {"type": "NOTIFICATION", "registeredUsers": ["technician", "orderer"]}])
    return services.order_create(user=orderer, data=body)


def test_every_contact_is_told_once_with_the_visit_in_the_ibx_zone(order):
    created = order.events.get(kind=EventKind.CREATED)
    assert notifications.notify_order(created.order_id) == 3
    assert notifications.notify_order(created.order_id) == 0  # a retried task
    assert sorted(m.to[0] for m in mail.outbox) == ["nina@fixit.example", "orderer@acme.example", "tess@acme.example"]
    message = mail.outbox[0]
    local = order.visit_start.astimezone(order.ibx.zone)
    assert f"{local:%H:%M} {local.tzname()} (America/New_York)" in message.body
    html = message.alternatives[0]
    assert html[1] == "text/html" and "America/New_York" in html[0]
    assert order.events.filter(kind=EventKind.EMAIL).count() == 3  # one per email, on the timeline
    assert SentNotification.objects.filter(order=order, notice="submitted", sent_at__isnull=False).count() == 3


def test_invite_keeps_its_uid_raises_sequence_and_is_cancelled(order, orderer):
    notifications.notify_order(order.pk)
    method, first = _invite(mail.outbox[0])
    assert method == "REQUEST" and first.get("method") == "REQUEST"
    zones = [str(tz.get("tzid")) for tz in first.walk("VTIMEZONE")]
    assert zones == ["America/New_York"]
    assert _event(first).decoded("dtstart").tzinfo is not None
    assert str(_event(first)["dtstart"].params["TZID"]) == "America/New_York"

    new_start = order.visit_start + timedelta(days=1)
    for shift in (1, 2):  # two reschedules: two invites, each with a higher SEQUENCE
        start = order.visit_start + timedelta(days=shift)
        end = start + timedelta(hours=2)
        window = {"visitStartDateTime": format_datetime(start), "visitEndDateTime": format_datetime(end)}
        services.order_modify(user=orderer, order_id=order.order_id, data={"details": window})
        mail.outbox.clear()
        notifications.notify_order(order.pk)
        method, updated = _invite(mail.outbox[0])
        assert method == "REQUEST" and _event(updated)["uid"] == _event(first)["uid"]
        assert _event(updated)["sequence"] > _event(first)["sequence"]
        first = updated
        new_start = start
    assert _event(first).decoded("dtstart") == new_start

    services.order_cancel(user=orderer, order_id=order.order_id, reason="No longer needed.")
    mail.outbox.clear()
    notifications.notify_order(order.pk)
    method, cancelled = _invite(mail.outbox[0])
    assert method == "CANCEL" and cancelled.get("method") == "CANCEL"
    assert _event(cancelled)["uid"] == _event(first)["uid"]
    assert _event(cancelled)["sequence"] > _event(first)["sequence"]
    assert _event(cancelled)["status"] == "CANCELLED"


def test_a_failed_send_is_retried_and_nobody_gets_it_twice(order, settings):
    created = order.events.get(kind=EventKind.CREATED)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    with pytest.raises(notifications.DeliveryError):
        notifications.notify_order(created.order_id)
    assert not SentNotification.objects.filter(sent_at__isnull=True).exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notifications.notify_order(created.order_id) == 3
    assert notifications.notify_order(created.order_id) == 0
    assert len(mail.outbox) == 3


def test_rejection_tells_the_reasons(order, users):
    services.order_change_status(
        order_pk=order.pk,
        to_status="REJECTED",
        kind=EventKind.REJECTED,
        note="Refused.",
        rejection_reasons=[{"property": "details.cages[0].id", "reason": "The cage is being decommissioned."}],
    )
    notifications.notify_order(order.pk)
    assert len(mail.outbox) == 3
    assert "Cage DC2:01:123456: The cage is being decommissioned." in mail.outbox[0].body
    assert "details.cages" not in mail.outbox[0].body


# ---------------------------------------------------------------------------------------------
# Invites that tell the truth, and everyone at the door told.
VISITOR = {
    "firstName": "Vera",
    "lastName": "Visitor",
    "companyName": "Fixit Ltd",
    "details": [{"type": "EMAIL", "value": "vera@fixit.example"}],
}
QUIET = {
    "firstName": "Quentin",
    "lastName": "Quiet",
    "companyName": "Fixit Ltd",
    "details": [{"type": "EMAIL", "value": "quentin@fixit.example"}],
}


@pytest.fixture
def visit(orderer, make_body):
    """A queued order with a technical contact typed in and two visitors typed in, one left out of emails."""
    body = make_body(contacts=[TECHNICAL])
    body["details"]["visitors"] = [{"registeredUsers": ["orderer"]}, VISITOR, QUIET]
    order = services.order_create(user=orderer, data=body)
    services.order_visitors_leave_out(order=order, indexes=[2])
    return order


def _by_recipient():
    return {m.to[0]: m for m in mail.outbox}


def _accept(order, upstream="1-555"):
    services.order_change_status(
        order_pk=order.pk,
        to_status="SUBMITTED",
        from_statuses={"QUEUED"},
        note=f"Accepted by the data centre as order {upstream}.",
        upstream_order_id=upstream,
    )


def test_a_waiting_order_is_tentative_for_everyone_at_the_door_and_a_left_out_visitor_hears_nothing(visit, settings):
    settings.PORTAL_BASE_URL = "https://portal.example"
    assert notifications.notify_order(visit.pk) == 3
    sent = _by_recipient()
    assert set(sent) == {"orderer@acme.example", "nina@fixit.example", "vera@fixit.example"}
    for message in sent.values():
        method, calendar = _invite(message)
        assert method == "REQUEST" and _event(calendar)["status"] == "TENTATIVE"
        assert "government-issued photo ID" in message.body
    vera = sent["vera@fixit.example"].body
    assert "You are on the list of visitors of work visit" in vera and "Ashburn" in vera
    local = visit.visit_start.astimezone(visit.ibx.zone)
    assert f"{local:%H:%M} {local.tzname()} (America/New_York)" in vera
    assert "portal.example" not in vera  # no account, so no link to a page she cannot open
    assert "You are the technical contact for work visit" in sent["nina@fixit.example"].body
    orderer = sent["orderer@acme.example"].body
    assert "You placed" in orderer and "are on the list of visitors of" in orderer
    assert f"https://portal.example/orders/{visit.order_id}/" in orderer
    attendees = {str(a) for a in _event(_invite(sent["vera@fixit.example"])[1]).get("attendee")}
    assert "mailto:quentin@fixit.example" not in attendees and "mailto:vera@fixit.example" in attendees


def test_received_and_accepted_within_a_minute_are_one_confirmed_email(visit):
    _accept(visit)
    assert notifications.notify_order(visit.pk) == 3
    for message in mail.outbox:
        assert "received and accepted" in message.subject and "1-555" in message.subject
        method, calendar = _invite(message)
        assert method == "REQUEST" and _event(calendar)["status"] == "CONFIRMED"
    assert notifications.notify_order(visit.pk) == 0


def test_an_answer_after_a_minute_confirms_the_tentative_entry_with_a_higher_sequence(visit):
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=False):
        _accept(visit)
    assert notifications.notify_order(visit.pk) == 6
    received = [m for m in mail.outbox if m.subject.endswith("received")]
    accepted = [m for m in mail.outbox if "accepted" in m.subject]
    assert len(received) == len(accepted) == 3
    first, second = _event(_invite(received[0])[1]), _event(_invite(accepted[0])[1])
    assert first["status"] == "TENTATIVE" and second["status"] == "CONFIRMED"
    assert first["uid"] == second["uid"] and second["sequence"] > first["sequence"]


@pytest.mark.parametrize("ending", ["rejected", "failed", "cancelled"])
def test_a_rejected_failed_or_cancelled_order_withdraws_every_invite_it_sent(visit, orderer, ending):
    notifications.notify_order(visit.pk)
    invited = {m.to[0]: _event(_invite(m)[1]) for m in mail.outbox}
    mail.outbox.clear()
    if ending == "rejected":
        services.order_change_status(
            order_pk=visit.pk,
            to_status="REJECTED",
            kind=EventKind.REJECTED,
            note="Refused.",
            rejection_reasons=[{"property": "", "reason": "Refused."}],
        )
    elif ending == "failed":
        services.order_change_status(order_pk=visit.pk, to_status="FAILED", note="Unreachable.")
    else:
        services.order_cancel(user=orderer, order_id=visit.order_id, reason="No longer needed.")
    notifications.notify_order(visit.pk)
    withdrawn = {m.to[0]: _invite(m) for m in mail.outbox if m.to[0] in invited}
    assert set(withdrawn) == set(invited)
    for email, (method, calendar) in withdrawn.items():
        event = _event(calendar)
        assert method == "CANCEL" and calendar.get("method") == "CANCEL" and event["status"] == "CANCELLED"
        assert event["uid"] == invited[email]["uid"] and event["sequence"] > invited[email]["sequence"]
        assert "photo ID" not in mail.outbox[0].body  # no visit ahead to bring it to


def test_a_queued_order_refused_at_once_is_one_rejection_without_an_invite(visit):
    services.order_change_status(
        order_pk=visit.pk,
        to_status="REJECTED",
        kind=EventKind.REJECTED,
        note="Refused.",
        rejection_reasons=[{"property": "", "reason": "No access that day."}],
    )
    assert notifications.notify_order(visit.pk) == 3
    assert all(m.subject.endswith("rejected") for m in mail.outbox)
    assert not any(p.get_content_type() == "text/calendar" for m in mail.outbox for p in m.message().walk())
    assert all(m.body.count("No access that day.") == 1 for m in mail.outbox)  # the reason once


def test_an_address_a_mail_server_would_read_as_two_is_refused_everywhere(orderer, make_body, users):
    from django.core.exceptions import ValidationError

    from workvisits import rules

    body = make_body()
    body["details"]["visitors"] = [{**VISITOR, "details": [{"type": "EMAIL", "value": "x,victim@corp.example"}]}]
    with pytest.raises(rules.RuleViolation) as refused:
        services.order_create(user=orderer, data=body)
    assert refused.value.errors[0].path == "details.visitors[0].details[0].value"
    user = users["technician"]
    user.email = "x,victim@corp.example"
    with pytest.raises(ValidationError) as invalid:
        user.full_clean()
    assert "email" in invalid.value.message_dict
