"""The reads written as raw queries of the ORM on PostgreSQL (the status change's locked read of the
order, the emails' history of an order) read what the ORM's querysets read, and the lock holds."""

import psycopg
import pytest
from django.db import connection, transaction
from django.db.models import Q

from tests.webhooks_support import make_webhook_admin
from workvisits import notifications, services, webhooks
from workvisits.choices import EventKind, OrderStatus, WebhookEvent
from workvisits.models import Order, OrderEvent

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the raw queries are PostgreSQL's"),
]


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_the_locked_read_is_the_orm_read_with_the_endpoints_flag(orderer, globex, make_body):
    admin = make_webhook_admin(orderer)
    webhooks.endpoint_create(user=admin, url="https://93.184.215.14/a", events=WebhookEvent.values)
    with_endpoint = services.order_create(user=orderer, data=make_body())
    body = make_body()
    body["details"]["cages"] = [{"id": "DC2:02:300300", "accountNumber": "3000000001"}]
    body["details"]["visitors"] = [{"registeredUsers": ["globex"]}]
    without = services.order_create(user=globex, data=body)

    for order, flag in ((with_endpoint, True), (without, False)):
        with transaction.atomic():
            read = webhooks.order_locked(order.pk)
            orm = webhooks.with_endpoints_flag(Order.objects.select_for_update()).get(pk=order.pk)
        assert _fields(read) == _fields(orm)
        assert getattr(read, webhooks.HAS_ENDPOINTS) is getattr(orm, webhooks.HAS_ENDPOINTS) is flag

    with pytest.raises(Order.DoesNotExist), transaction.atomic():
        webhooks.order_locked(10**9)


def test_the_locked_read_holds_the_row_until_the_transaction_ends(orderer, make_body):
    order = services.order_create(user=orderer, data=make_body())
    name = connection.settings_dict["NAME"]
    lock = f"SELECT 1 FROM {Order._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT"  # noqa: S608
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True) as other:
        with transaction.atomic():
            webhooks.order_locked(order.pk)
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(lock, [order.pk])
        assert other.execute(lock, [order.pk]).fetchone() == (1,)  # released with the transaction


def test_the_history_is_the_events_the_emails_follow(orderer, make_body, mailoutbox):
    order = services.order_create(user=orderer, data=make_body())
    notifications.notify_order(order.pk)  # EMAIL events with invites
    services.order_change_status(order_pk=order.pk, to_status=OrderStatus.SUBMITTED, note="accepted", notify=False)
    services.record_event(order=order, kind=EventKind.NOTE, note="a note nobody is emailed about")
    services.record_events(order, EventKind.EMAIL, [("an email without an invite", {"notice": "x"})])

    history = notifications.order_history(order.pk)

    invites = Q(kind=EventKind.EMAIL, data__has_key="invite")
    expected = OrderEvent.objects.filter(Q(kind__in=services.NOTIFIED_EVENTS) | invites, order=order).order_by("id")
    assert [_fields(e) for e in history] == [_fields(e) for e in expected]
    assert {e.kind for e in history} == {EventKind.CREATED, EventKind.STATUS, EventKind.EMAIL}
    assert all(e.note != "an email without an invite" for e in history)
    assert [e.pk for e in history] == sorted(e.pk for e in history)
