"""The Redis transport publishes through one redis-py client per channel, and the messages arrive."""

import pytest

from portal import broker as transport
from portal.celery import app
from tests.pipeline_harness import broker_fixture, queued_tasks  # noqa: F401

pytestmark = pytest.mark.celery


def test_a_channel_publishes_through_one_client_and_every_message_arrives(broker):
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, transport.Channel)
        with app.producer_or_acquire() as producer:
            for pk in (1, 2, 3):
                app.send_task("workvisits.submit_order", args=(pk,), producer=producer)
        first, again = channel._create_client(), channel._create_client()
        assert first is again
        assert channel._create_client(asynchronous=True) is not first  # consuming keeps its own
        channel._pool = None  # the channel replaced its pool (as after a disconnect): a client for the new one
        assert channel._create_client() is not first
    assert queued_tasks(broker) == [("workvisits.submit_order", (pk,)) for pk in (1, 2, 3)]
