"""The submission relay: sends the submission task of each newly queued order, from the workers.

On PostgreSQL a web request that places an order only writes it (the QUEUED order row is the
outbox): it never talks to the broker, so a create costs no Celery message and a broker outage costs
it nothing. A thread in each worker's main process (`SubmissionRelay`, started by portal/celery.py)
calls `dispatch_queued()` every RELAY_POLL_SECONDS: it claims new QUEUED orders, nothing in flight,
by setting `next_attempt_at` (for a queued order: "sent for submission at"), with SKIP LOCKED so that
several workers never claim one order twice, and sends their tasks. A task the broker refuses frees its
claim for the next round; a claim whose message got lost (a worker killed between the two) is sent again
by the sweeper once it is SWEEP_AFTER_SECONDS old, as for any submission that never started.

On SQLite (`make run`: one worker, no SKIP LOCKED) the web request sends the task itself on commit.
"""

from __future__ import annotations

import functools
import logging
import threading

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from . import services
from .choices import OrderStatus
from .models import Order

logger = logging.getLogger(__name__)

BATCH = 500  # orders claimed at a time


def relayed() -> bool:
    """Whether queued orders are sent for submission by the relay (else by the web request)."""
    return connection.vendor == "postgresql"


@functools.cache
def _statements() -> tuple[str, str]:
    q = connection.ops.quote_name
    table, pk = q(Order._meta.db_table), q("id")
    status, started, sent = (
        q(Order._meta.get_field(name).column) for name in ("status", "submitting_since", "next_attempt_at")
    )
    waiting = f"{status} = %s AND {started} IS NULL"
    # Only quoted identifiers from the model's metadata are formatted in; the values are parameters.
    claim = (
        f"UPDATE {table} SET {sent} = %s WHERE {pk} IN (SELECT {pk} FROM {table} "  # noqa: S608
        f"WHERE {waiting} AND {sent} IS NULL ORDER BY {pk} LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING {pk}"
    )
    free = f"UPDATE {table} SET {sent} = NULL WHERE {pk} = ANY(%s) AND {waiting}"  # noqa: S608
    return claim, free


def dispatch_queued(limit: int = BATCH, database=None) -> int:
    """Claim up to `limit` queued orders nobody is submitting and send their submission tasks; returns
    how many were sent. `database`: the connection to use (default: this thread's)."""
    claim, free = _statements()
    with (database or connection).cursor() as cursor:  # one statement each: atomic in autocommit
        cursor.execute(claim, [timezone.now(), OrderStatus.QUEUED, limit])
        pks = sorted(pk for (pk,) in cursor.fetchall())
        sent, refused = [], []
        for pk in pks:
            (sent if services.enqueue(services.SUBMIT_TASK, pk) else refused).append(pk)
        if refused:  # the broker is away: the next round tries them again
            cursor.execute(free, [refused, OrderStatus.QUEUED])
    return len(sent)


class Relay:
    """The thread that calls dispatch_queued() until stopped.

    It works on a database connection of its own, held by this object rather than by the thread: a
    worker process forked later (a pool process replaced) inherits the object and never closes the
    connection, which would end the relay's session for the parent too.
    """

    def __init__(self, interval: float | None = None):
        self.interval = settings.RELAY_POLL_SECONDS if interval is None else interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="submission-relay", daemon=True)
        self._database = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        self._database = connections.create_connection(DEFAULT_DB_ALIAS)
        while not self._stop.is_set():
            sent = 0
            try:
                sent = dispatch_queued(database=self._database)
            except Exception:  # the database is away: try again next round, on a new connection
                logger.warning("submission relay: this round failed", exc_info=True)
                self._database.close()
            if sent < BATCH:  # a full batch: more may be waiting, go again at once
                self._stop.wait(self.interval)
        self._database.close()
