"""Redis killed while orders are placed: every create still succeeds, the worker survives the outage
with submissions in flight, and every order reaches the upstream once Redis is back (the sweeper,
run by the beat, is the outbox for the submissions that could not be sent).

The cost of a create with the broker down is bounded by work, not timed: each send gives up after
the configured connection attempts, each bounded by the connect timeout (bench/pipeline.py measures
the wall time)."""

import socket
import threading

import pytest
from django.conf import settings

from tests.pipeline_harness import CREATE, Sandbox, pipeline_fixture, use_broker, wait_for  # noqa: F401
from workvisits import services
from workvisits.choices import OrderStatus
from workvisits.models import Order

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# What a create may spend on a broker that is down: kombu's attempts (the first and max_retries more),
# each bounded by the connect timeout, and the pauses between them.
BROKER = settings.CELERY_BROKER_TRANSPORT_OPTIONS
ATTEMPTS = 1 + BROKER["max_retries"]
PAUSES = sum(
    min(BROKER["interval_start"] + i * BROKER["interval_step"], BROKER["interval_max"]) for i in range(ATTEMPTS - 1)
)


def _creates(orderer, make_body, n, label):
    return [services.order_create(user=orderer, data=make_body(description=f"{label} visit #{i}.")) for i in range(n)]


def _creates_received(sandbox, n):
    return lambda: len(sandbox.calls(CREATE)) == n


def test_orders_placed_while_redis_is_down_reach_the_upstream_after_it_returns(pipeline, orderer, make_body):
    pipeline.start(beat=True)
    orders = []
    # Three outages (how the worker's event loop first notices one varies): each time Redis dies while
    # the worker holds submissions (unacknowledged, their upstream calls taking a second) and still
    # waits for more, the moment at which a worker must not give up.
    for outage in range(3):
        pipeline.sandbox.settings(latency=1.0)
        up_orders = _creates(orderer, make_body, 2, f"Redis up ({outage})")
        wait_for(_creates_received(pipeline.sandbox, len(orders) + 2), timeout=60, what="the creates in flight")
        pipeline.redis.stop()
        down_orders = _creates(orderer, make_body, 2, f"Redis down ({outage})")
        down = Order.objects.filter(pk__in=[o.pk for o in down_orders])
        assert {o.status for o in down} == {OrderStatus.QUEUED}
        assert not down.filter(sent_for_submission_at__isnull=False)

        pipeline.redis.start()
        pipeline.sandbox.settings(latency=0)
        orders += up_orders + down_orders
        for order in up_orders + down_orders:
            pipeline.wait_for_status(order, OrderStatus.SUBMITTED, timeout=90)
    assert pipeline.worker.process.poll() is None, pipeline.logs()
    upstream = pipeline.sandbox.orders()
    assert sorted(o["orderId"] for o in upstream) == sorted(Order.objects.values_list("upstream_order_id", flat=True))
    assert len(pipeline.sandbox.calls(CREATE)) == len(orders) == len(upstream)


class ClosingBroker:
    """Stands where the broker should be and closes every connection at once, counting them."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.server.getsockname()[1]}/0"
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            client.close()

    def stop(self):
        self.server.close()


def test_a_create_with_the_broker_down_costs_a_bounded_number_of_attempts(orderer, make_body):
    assert ATTEMPTS * settings.CELERY_BROKER_CONNECTION_TIMEOUT + PAUSES <= 0.5
    assert BROKER["socket_connect_timeout"] <= settings.CELERY_BROKER_CONNECTION_TIMEOUT
    broker = ClosingBroker()
    use_broker(broker.url)
    try:
        for i in range(3):
            before = broker.connections
            order = services.order_create(user=orderer, data=make_body(description=f"Broker down visit #{i}."))
            # One send (the submission; its "received" email follows from it), given up after ATTEMPTS.
            assert 0 < broker.connections - before <= ATTEMPTS
            order.refresh_from_db()
            assert order.status == OrderStatus.QUEUED
            assert order.sent_for_submission_at is None  # the sweeper's to send
    finally:
        broker.stop()
        use_broker(settings.CELERY_BROKER_URL)


def test_orders_placed_before_any_worker_started_reach_the_upstream_once(pipeline, orderer, make_body):
    # A Redis nothing has declared a queue on: the portal's sends do not declare theirs (on Redis a message
    # goes into the list its queue is named after), so the messages must wait there for the first worker.
    pipeline.redis.start()
    use_broker(pipeline.redis.url)
    orders = _creates(orderer, make_body, 3, "Before any worker")
    assert pipeline.redis.queue_length(settings.UPSTREAM_QUEUE) == 3
    assert Order.objects.filter(sent_for_submission_at__isnull=False).count() == 3

    pipeline.sandbox = Sandbox()
    pipeline.add_worker(name="w0")
    for order in orders:
        pipeline.wait_for_status(order, OrderStatus.SUBMITTED, timeout=60)
    assert len(pipeline.sandbox.calls(CREATE)) == 3
