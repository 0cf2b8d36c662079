"""Sending a task without failing the caller: with the broker down, the beat's sweeper (the outbox)
finds the work by its state and sends it later."""

from __future__ import annotations

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(task, *args, countdown: float | None = None) -> bool:
    """Send a task, never failing the caller: with the broker down (a short timeout, see
    CELERY_BROKER_TRANSPORT_OPTIONS) the sweeper sends it later."""
    try:
        task.apply_async(args, countdown=countdown)
    except Exception:  # broker down or misconfigured: the order keeps its state and is swept up later
        logger.warning("could not enqueue %s%r; the sweeper will retry", task.name, args, exc_info=True)
        return False
    return True


def enqueue_on_commit(task, *args) -> None:
    transaction.on_commit(lambda: enqueue(task, *args))
