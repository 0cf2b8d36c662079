"""Sending a task without failing the caller: with the broker down, the beat's sweeper (the outbox)
finds the work by its state and sends it later."""

from __future__ import annotations

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
        task.apply_async(args, countdown=countdown, argsrepr=argsrepr, kwargsrepr="{}")
    except Exception:  # broker down or misconfigured: the order keeps its state and is swept up later
        logger.warning("could not enqueue %s%r; the sweeper will retry", task.name, args, exc_info=True)
        return False
    return True


def enqueue_on_commit(task, *args) -> None:
    transaction.on_commit(lambda: enqueue(task, *args))
