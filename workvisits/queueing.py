"""Sending a task without failing the caller: with the broker down, the beat's sweeper (the outbox)
finds the work by its state and sends it later."""

from __future__ import annotations

import functools
import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(task, *args, countdown: float | None = None) -> bool:
    """Send a task, never failing the caller: with the broker down (a short timeout, see
    CELERY_BROKER_TRANSPORT_OPTIONS) the sweeper sends it later."""
    # The arguments as logs and monitoring events show them: the portal's tasks take keys, whose repr() is
    # the text Celery's own (saferepr) would make, at a fraction of its cost (about 3 % of a create's CPU).
    argsrepr = repr(args) if all(type(arg) is int for arg in args) else None
    try:
        task.apply_async(
            args, countdown=countdown, argsrepr=argsrepr, kwargsrepr="{}", **_declare_option(task.app.conf.broker_url)
        )
    except Exception:  # broker down or misconfigured: the order keeps its state and is swept up later
        logger.warning("could not enqueue %s%r; the sweeper will retry", task.name, args, exc_info=True)
        return False
    return True


def enqueue_on_commit(task, *args) -> None:
    transaction.on_commit(lambda: enqueue(task, *args))


# Transports where a task's message, sent to the default exchange with its queue's name as the routing key
# (as Celery sends to the portal's queues), goes straight into that queue: Redis's list of that name, the
# filesystem's folder, memory. Celery declares the queue on every send; on these, declaring binds copies of
# the queue and its exchange to the channel and then finds them declared already (3 % of an API create's
# instructions, docs/performance.md), and the workers declare their queues when they start.
_DELIVERED_BY_NAME = frozenset({"redis", "rediss", "filesystem", "memory"})


@functools.cache
def _declare_option(broker_url: str | None) -> dict:
    """No declaration on a transport that delivers by the queue's name; Celery's own elsewhere."""
    scheme = (broker_url or "").partition("://")[0]
    return {"declare": []} if scheme in _DELIVERED_BY_NAME else {}
