"""Who is told what: every contact once per notice, times in the IBX's zone, one invite per visit
(same UID, rising SEQUENCE, METHOD:CANCEL on cancel), and a failed send is retried without duplicates."""

from datetime import timedelta

import pytest
from django.core import mail
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
    assert notifications.notify_event(created.pk) == 3
    assert notifications.notify_event(created.pk) == 0  # a retried task
    assert sorted(m.to[0] for m in mail.outbox) == ["nina@fixit.example", "orderer@acme.example", "tess@acme.example"]
    message = mail.outbox[0]
    local = order.visit_start.astimezone(order.ibx.zone)
    assert f"{local:%H:%M} {local.tzname()} (America/New_York)" in message.body
    html = message.alternatives[0]
    assert html[1] == "text/html" and "America/New_York" in html[0]
    assert order.events.filter(kind=EventKind.EMAIL).count() == 3  # one per email, on the timeline
    assert SentNotification.objects.filter(order=order, notice="submitted", sent_at__isnull=False).count() == 3


def test_invite_keeps_its_uid_raises_sequence_and_is_cancelled(order, orderer):
    notifications.notify_event(order.events.get(kind=EventKind.CREATED).pk)
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
        notifications.notify_event(order.events.filter(kind=EventKind.MODIFIED).last().pk)
        method, updated = _invite(mail.outbox[0])
        assert method == "REQUEST" and _event(updated)["uid"] == _event(first)["uid"]
        assert _event(updated)["sequence"] > _event(first)["sequence"]
        first = updated
        new_start = start
    assert _event(first).decoded("dtstart") == new_start

    services.order_cancel(user=orderer, order_id=order.order_id, reason="No longer needed.")
    mail.outbox.clear()
    notifications.notify_event(order.events.get(kind=EventKind.CANCEL_REQUESTED).pk)
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
        notifications.notify_event(created.pk)
    assert not SentNotification.objects.filter(sent_at__isnull=True).exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notifications.notify_event(created.pk) == 3
    assert notifications.notify_event(created.pk) == 0
    assert len(mail.outbox) == 3


def test_rejection_tells_the_reasons(order, users):
    services.order_change_status(
        order_pk=order.pk, to_status="REJECTED", kind=EventKind.REJECTED, note="Refused.",
        rejection_reasons=[{"property": "details.cages[0].id", "reason": "The cage is being decommissioned."}],
    )
    notifications.notify_event(order.events.get(kind=EventKind.REJECTED).pk)
    assert len(mail.outbox) == 3
    assert "Cage DC2:01:123456: the cage is being decommissioned." in mail.outbox[0].body
    assert "details.cages" not in mail.outbox[0].body
