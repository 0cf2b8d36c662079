"""What an order's emails leave behind once they all went out (the claims sent, an EMAIL event each, the
events marked notified): the one statement on PostgreSQL and the ORM's transaction store the same."""

import socketserver
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from workvisits import notifications, services
from workvisits.choices import EventKind
from workvisits.models import OrderEvent, SentNotification

pytestmark = pytest.mark.django_db


def _body(make_body):
    body = make_body()
    body["contacts"] = [{"type": "NOTIFICATION", "registeredUsers": ["viewer"]}]
    return body


def _left_behind(order) -> dict:
    return {
        "claims": sorted(
            (n.notice, n.recipient, n.sent_at is not None) for n in SentNotification.objects.filter(order=order)
        ),
        "emails": sorted(
            (e.kind, e.note, e.data["recipient"], e.data["invite"], e.actor_id, e.notified_at, e.from_status)
            for e in OrderEvent.objects.filter(order=order, kind=EventKind.EMAIL)
        ),
        "unnotified": list(
            OrderEvent.objects.filter(order=order, kind__in=services.NOTIFIED_EVENTS, notified_at__isnull=True)
        ),
    }


@pytest.mark.parametrize("one_statement", [True, False])
def test_every_email_sent_is_recorded_once(orderer, make_body, settings, mailoutbox, one_statement):
    settings.EMAIL_BOOKKEEPING_ONE_STATEMENT = one_statement
    order = services.order_create(user=orderer, data=_body(make_body))

    with CaptureQueriesContext(connection) as queries:
        sent = notifications.notify_order(order.pk)
    assert sent == len(mailoutbox) == 2  # the orderer and the notification contact
    left = _left_behind(order)
    assert left["claims"] == [
        ("submitted", "orderer@acme.example", True),
        ("submitted", "viewer@acme.example", True),
    ]
    assert [(kind, recipient, invite) for kind, _, recipient, invite, *_ in left["emails"]] == [
        (EventKind.EMAIL, "orderer@acme.example", "REQUEST"),
        (EventKind.EMAIL, "viewer@acme.example", "REQUEST"),
    ]
    assert all("sent to" in note and actor is None for _, note, _, _, actor, _, _ in left["emails"])
    assert left["unnotified"] == []
    if one_statement and connection.vendor == "postgresql":
        writes = [q for q in queries.captured_queries if q["sql"].startswith("WITH s AS (UPDATE")]
        assert len(writes) == 1

    assert notifications.notify_order(order.pk) == 0  # run again: nothing sent twice
    assert len(mailoutbox) == 2 and _left_behind(order) == left


class _RefusingSmtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for Django's backend: every recipient is taken but those of `server.refused`."""

    def handle(self):
        self.wfile.write(b"220 test SMTP\r\n")
        in_data = False
        while line := self.rfile.readline():
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    self.wfile.write(b"250 queued\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"RCPT" and self.server.refused.encode() in line.lower():
                self.wfile.write(b"550 mailbox unavailable\r\n")
            elif verb == b"DATA":
                in_data = True
                self.wfile.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_a_refused_email_is_sent_again_by_the_retry_alone(orderer, make_body, settings, mailoutbox):
    order = services.order_create(user=orderer, data=_body(make_body))
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _RefusingSmtp)
    server.daemon_threads, server.refused = True, "viewer@"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.server_address[1], 5
        with pytest.raises(notifications.DeliveryError, match="viewer@acme.example"):
            notifications.notify_order(order.pk)
    finally:
        server.shutdown()
        server.server_close()
    assert _left_behind(order)["claims"] == [("submitted", "orderer@acme.example", True)]
    assert len(_left_behind(order)["unnotified"]) == 1

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notifications.notify_order(order.pk) == 1  # the refused one alone
    assert [m.to for m in mailoutbox] == [["viewer@acme.example"]]
    assert _left_behind(order)["unnotified"] == []
