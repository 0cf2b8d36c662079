"""Liveness and readiness probes: cheap, no login, no upstream I/O.

`/readyz` checks the database, Redis, the broker and that a Celery worker ran the beat's heartbeat task
recently. Each check is one round trip with a short timeout."""

from __future__ import annotations

import time

import redis
from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

HEARTBEAT_TASK = "workvisits.heartbeat"
HEARTBEAT_KEY = "workvisits:worker-heartbeat"
HEARTBEAT_EVERY = 60  # seconds, the beat's schedule
HEARTBEAT_MAX_AGE = 3 * HEARTBEAT_EVERY  # a worker that has not answered for longer is reported missing
CHECK_TIMEOUT = 2.0  # seconds per check


@shared_task(name=HEARTBEAT_TASK, ignore_result=True)
def heartbeat() -> None:
    """Run by a worker every HEARTBEAT_EVERY seconds (the beat sends it): proves a worker takes tasks."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=24 * 3600)


def healthz(request):
    """The process answers."""
    return JsonResponse({"status": "ok"})


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _redis() -> str:
    if not settings.REDIS_URL:
        return "ok: not configured (local-memory cache)"
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _broker() -> str:
    from portal.celery import app

    with app.connection_for_write(settings.CELERY_BROKER_URL, connect_timeout=CHECK_TIMEOUT) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT)
    return "ok"


def _worker() -> str:
    if not settings.REDIS_URL:
        # Without a shared cache the heartbeat cannot cross processes: nothing to tell.
        return "ok: not checked without REDIS_URL"
    last = cache.get(HEARTBEAT_KEY)
    if last is None:
        raise LookupError("no worker has answered the heartbeat yet")
    age = time.time() - float(last)
    if age > HEARTBEAT_MAX_AGE:
        raise TimeoutError(f"the last worker heartbeat is {int(age)} s old (more than {HEARTBEAT_MAX_AGE} s)")
    return "ok"


CHECKS = {"database": _database, "redis": _redis, "broker": _broker, "worker": _worker}


def readyz(request):
    """Ready when the database, Redis, the broker and a recent worker all answer; 503 naming what failed
    (with the reason only for signed-in staff)."""
    checks = {}
    for name, check in CHECKS.items():
        if name == "worker" and not checks["redis"].startswith("ok"):
            # The heartbeat is in Redis: do not wait on it a second time.
            checks[name] = "error: the heartbeat cannot be read while Redis is down"
            continue
        try:
            checks[name] = check()
        except Exception as exc:  # any failure means not ready; the reason goes to the operator
            checks[name] = f"error: {exc.__class__.__name__}: {exc}"[:300]
    ready = all(v.startswith("ok") for v in checks.values())
    user = getattr(request, "user", None)
    if not (user is not None and user.is_authenticated and user.is_staff):
        # Anyone may probe: they learn which check failed, not hosts, ports or exception texts.
        checks = {name: "ok" if value.startswith("ok") else "error" for name, value in checks.items()}
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
