"""Work is handed to Celery only when the transaction commits: a rolled-back order sends nothing.
A placed order is sent for submission by the workers' relay, once, whatever the number of workers."""

import threading

import pytest
from django.db import connection, transaction

from tests.pipeline_harness import broker_fixture, queued_tasks  # noqa: F401
from workvisits import relay, services
from workvisits.choices import OrderStatus
from workvisits.models import Order

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_rolled_back_transaction_enqueues_nothing(broker, orderer, make_body):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.order_create(user=orderer, data=make_body())
        raise RuntimeError("the request failed after the order was stored")
    assert not Order.objects.exists()
    assert relay.dispatch_queued() == 0
    assert broker.queue_length() == 0

    order = services.order_create(user=orderer, data=make_body())
    assert broker.queue_length() == 0  # the request only writes the order: the relay sends it
    assert relay.dispatch_queued() == 1
    assert queued_tasks(broker) == [(services.SUBMIT_TASK, (order.pk,))]
    assert relay.dispatch_queued() == 0  # claimed: sent once
    services.order_cancel(user=orderer, order_id=order.order_id, reason="Changed our plans.")
    assert broker.queue_length() == 2  # its notification; nothing to cancel upstream yet


def test_several_relays_send_each_order_once(broker, orderer, make_body):
    orders = [services.order_create(user=orderer, data=make_body()) for _ in range(40)]
    counts, start = [], threading.Barrier(4)

    def relay_round():
        try:
            start.wait()
            counts.append(sum(relay.dispatch_queued(limit=3) for _ in range(10)))
        finally:
            connection.close()

    threads = [threading.Thread(target=relay_round) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(counts) == 40
    assert queued_tasks(broker) == sorted((services.SUBMIT_TASK, (o.pk,)) for o in orders)


def test_a_task_the_broker_refuses_is_claimed_again_next_round(broker, orderer, make_body, monkeypatch):
    order = services.order_create(user=orderer, data=make_body())
    monkeypatch.setattr(services, "enqueue", lambda *args, **kwargs: False)  # the broker is away
    assert relay.dispatch_queued() == 0
    assert Order.objects.get(pk=order.pk).next_attempt_at is None
    monkeypatch.undo()
    assert relay.dispatch_queued() == 1
    assert queued_tasks(broker) == [(services.SUBMIT_TASK, (order.pk,))]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.QUEUED
