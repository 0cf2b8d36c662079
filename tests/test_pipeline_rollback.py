"""Work is handed to Celery only when the transaction commits: a rolled-back order sends nothing."""

import pytest
from django.db import transaction

from tests.pipeline_harness import broker_fixture  # noqa: F401
from workvisits import services
from workvisits.models import Order

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_rolled_back_transaction_enqueues_nothing(broker, orderer, make_body):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.order_create(user=orderer, data=make_body())
        raise RuntimeError("the request failed after the order was stored")
    assert not Order.objects.exists()
    assert broker.queue_length() == 0

    order = services.order_create(user=orderer, data=make_body())
    assert broker.queue_length() == 1  # the submission (its task sends the "received" emails too)
    services.order_cancel(user=orderer, order_id=order.order_id, reason="Changed our plans.")
    assert broker.queue_length() == 2  # its notification; nothing to cancel upstream yet
