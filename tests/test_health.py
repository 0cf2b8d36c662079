"""/healthz and /readyz: cheap probes; readiness names the database, Redis, the broker and a worker that
ran the heartbeat recently, and turns 503 when one of them is down."""

import json
import time

import pytest
import time_machine

from portal import correlation, health
from portal.celery import app
from tests.pipeline_harness import RedisServer, pipeline_fixture, wait_for  # noqa: F401


def _point_at(settings, redis_server: RedisServer) -> None:
    """This process's cache and broker on the private Redis (db 1 and db 0, as the worker has them)."""
    cache_url = f"redis://127.0.0.1:{redis_server.port}/1"
    settings.REDIS_URL = cache_url
    settings.CACHES = {
        "default": {  # the key prefix of this test run, which the worker has too
            **settings.CACHES["default"],
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": cache_url,
        }
    }
    settings.CELERY_BROKER_URL = redis_server.url


def _ready(client):
    response = client.get("/readyz")
    return response.status_code, response.json()["checks"]


def test_healthz_answers_without_login_or_services(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.fixture
def private_redis(tmp_path, settings):
    server = RedisServer(tmp_path)
    server.start()
    _point_at(settings, server)
    yield server
    server.stop()


def test_ready_when_every_service_answers_and_503_naming_redis_and_broker_when_redis_is_down(client, db, private_redis):
    health.heartbeat()  # the beat's task, run here as a worker runs it
    status, checks = _ready(client)
    assert status == 200, checks
    assert checks == {"database": "ok", "redis": "ok", "broker": "ok", "worker": "ok"}

    private_redis.stop()
    started = time.monotonic()
    status, checks = _ready(client)
    assert time.monotonic() - started < 10  # cheap even when a service is down
    assert status == 503
    assert checks["database"] == "ok"
    for name in ("redis", "broker", "worker"):
        assert checks[name].startswith("error"), (name, checks)


def test_not_ready_when_no_worker_answered_recently(client, db, private_redis):
    from workvisits.models import User

    client.force_login(User.objects.create(username="operator-on-call", is_staff=True))  # staff see why
    status, checks = _ready(client)
    assert status == 503 and "no worker has answered" in checks["worker"]
    with time_machine.travel(time.time() - health.HEARTBEAT_MAX_AGE - 5, tick=False):
        health.heartbeat()  # the last worker answered longer ago than the limit
    status, checks = _ready(client)
    assert status == 503 and "old" in checks["worker"]
    assert {checks[n] for n in ("database", "redis", "broker")} == {"ok"}


@pytest.mark.celery
def test_a_real_worker_running_the_heartbeat_makes_the_portal_ready(client, db, pipeline, settings):
    pipeline.start()
    _point_at(settings, pipeline.redis)
    assert _ready(client)[0] == 503  # no heartbeat yet
    token = correlation.bind("heartbeat-probe-1")
    try:
        app.send_task(health.HEARTBEAT_TASK)
    finally:
        correlation.reset(token)
    wait_for(lambda: _ready(client)[0] == 200, timeout=30, what="the worker's heartbeat")
    status, checks = _ready(client)
    assert status == 200, (checks, pipeline.worker.log())
    assert settings.CELERY_BEAT_SCHEDULE["worker heartbeat"]["task"] == health.HEARTBEAT_TASK

    # The worker logs JSON lines too; the task's lines carry the correlation id it was sent with.
    def task_lines():
        lines = [json.loads(line) for line in pipeline.worker.log().splitlines() if line.startswith("{")]
        return [line for line in lines if health.HEARTBEAT_TASK in line["message"] and "succeeded" in line["message"]]

    lines = wait_for(task_lines, timeout=10, what="the worker's log line of the heartbeat")
    assert lines[0]["correlation_id"] == "heartbeat-probe-1", pipeline.worker.log()
