"""Work is handed to Celery only when the transaction commits: a rolled-back order sends nothing; a
committed one sends its submission once, and one the broker did not take is left to the sweeper."""

import pytest
from django.db import transaction

from tests.pipeline_harness import broker_fixture, queued_tasks  # noqa: F401
from workvisits import services, tasks
from workvisits.models import Order

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_rolled_back_transaction_enqueues_nothing(broker, orderer, make_body):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.order_create(user=orderer, data=make_body())
        raise RuntimeError("the request failed after the order was stored")
    assert not Order.objects.exists()
    assert queued_tasks(broker) == []

    order = services.order_create(user=orderer, data=make_body())
    # The submission goes to the upstream queue, once; the order notes that it went.
    assert queued_tasks(broker) == [(tasks.submit_order.name, (order.pk,))]
    assert broker.queue_length("upstream") == 1
    assert Order.objects.get(pk=order.pk).sent_for_submission_at is not None
    services.order_cancel(user=orderer, order_id=order.order_id, reason="Changed our plans.")
    # Its notification; nothing to cancel upstream: no attempt has started.
    assert queued_tasks(broker) == sorted(
        [(tasks.submit_order.name, (order.pk,)), (tasks.notify_order.name, (order.pk,))]
    )


def test_an_order_the_broker_does_not_take_is_left_to_the_sweeper(broker, orderer, make_body):
    broker.stop()
    order = services.order_create(user=orderer, data=make_body())
    assert Order.objects.get(pk=order.pk).sent_for_submission_at is None
    broker.start()
    assert queued_tasks(broker) == []
