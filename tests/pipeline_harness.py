"""Real processes for the pipeline tests: a private redis-server, the sandbox upstream (its own
process, tests/sandbox_support.py) and Celery workers.

Every test that runs a worker starts its own Redis on a spare port (never the machine's shared one)
and its own `celery -A portal worker` processes pointed at the pytest test database. Workers run as
in production: the threads pool, both queues (default and upstream), and for the tests that need
it the beat inside the worker (`beat=True`), whose sweeper is the outbox.
"""

from __future__ import annotations

import base64
import email
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from tests.sandbox_support import SandboxProcess
from workvisits.upstream.client import UpstreamClient

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")
CREATE = "POST /colocations/v2/orders/workVisits"
SEARCH = "POST /v1/retrieve-orders"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class RedisServer:
    """A throw-away redis-server on a spare port; stop() and start() again on the same port."""

    def __init__(self, workdir: Path):
        if not shutil.which("redis-server"):
            raise RuntimeError("redis-server is not installed; the pipeline tests need it")
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        wait_for(lambda: self._ping(client), timeout=10, what="redis-server")

    @staticmethod
    def _ping(client) -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def queue_length(self, queue: str = "celery") -> int:
        return redis.Redis(port=self.port).llen(queue)


def queued_tasks(server: RedisServer) -> list[tuple]:
    """(task name, args) of every message waiting on the broker's queues (default and upstream), sorted."""
    client = redis.Redis(port=server.port)
    messages = [m for queue in ("celery", settings.UPSTREAM_QUEUE) for m in client.lrange(queue, 0, -1)]
    # Celery's message body is base64 JSON: [args, kwargs, embed].
    return sorted(
        (m["headers"]["task"], tuple(json.loads(base64.b64decode(m["body"]))[0])) for m in map(json.loads, messages)
    )


class Sandbox(SandboxProcess):
    """The sandbox upstream process, with what the pipeline tests ask of it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # A token cached for an earlier sandbox that had the same port means nothing to this one.
        cache.delete(UpstreamClient(base_url=self.url).cache_key)

    def calls(self, what: str) -> list[dict]:
        """The requests the sandbox received matching "METHOD /path" (whatever it answered)."""
        method, path = what.split(" ", 1)
        return [r for r in self.requests() if r["method"] == method and r["path"] == path]


def database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("the pipeline tests run workers against PostgreSQL: set DATABASE_URL")
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Worker:
    """`celery -A portal worker` in a subprocess, on the given broker, sandbox and test database."""

    def __init__(
        self,
        broker: RedisServer,
        sandbox: Sandbox,
        workdir: Path,
        *,
        concurrency: int = 8,
        pool: str = "threads",
        queues: str = "celery,upstream",
        beat: bool = False,
        name: str = "w",
        **env,
    ):
        self.workdir = workdir
        self.mail_dir = workdir / "mail"
        self.mail_dir.mkdir(exist_ok=True)
        self.log_path = workdir / f"worker-{name}.log"
        self.name = name
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker.url,
            "REDIS_URL": f"redis://127.0.0.1:{broker.port}/1",
            "UPSTREAM_BASE_URL": sandbox.url,
            "EMAIL_URL": f"filemail:///{self.mail_dir}",
            "CELERY_RETRY_BASE_DELAY": "0.2",
            "CELERY_RETRY_MAX_DELAY": "10",
            "UPSTREAM_MAX_ATTEMPTS": "5",
            "UPSTREAM_LOOKUP_DELAY_SECONDS": "0.2",  # the sandbox's Order History shows an order at once
            "SWEEP_AFTER_SECONDS": "1",
            "SWEEP_EVERY_SECONDS": "1",
            "OPERATORS_EMAILS": "ops@dc.example",
            "DATABASE_POOL_MAX_SIZE": "16",  # as deployed (docker-compose.yml's worker-upstream)
            **{k: str(v) for k, v in env.items()},
        }
        self.args = ["--pool", pool, "--concurrency", str(concurrency), "--queues", queues]
        if beat:
            # The beat inside the worker, with its schedule in a file (the settings' database
            # scheduler is for deployments): the sweeper runs every SWEEP_EVERY_SECONDS.
            self.args += ["--beat", "--scheduler", "celery.beat:PersistentScheduler",
                          "--schedule", str(workdir / f"beat-{name}")]
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        ready_before = self.log_path.read_bytes().count(b" ready.")
        self.process = subprocess.Popen(
            [CELERY, "-A", "portal", "worker", "--loglevel", "INFO", *self.args,
             "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--hostname", f"{self.name}-{os.getpid()}-{free_port()}@%h"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() takes the embedded beat's process too
        )
        wait_for(lambda: self.log_path.read_bytes().count(b" ready.") > ready_before or self.process.poll() is not None,
                 timeout=60, what="the Celery worker")
        if self.process.poll() is not None:
            raise RuntimeError(f"the worker stopped:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the worker and its embedded beat, as a lost host would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def succeeded(self, task_ids) -> bool:
        """Whether the worker logged every one of these tasks as succeeded (results may not be stored)."""
        log = self.log_path.read_text(errors="replace")
        return all(f"[{task_id}] succeeded" in log for task_id in task_ids)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._log and not self._log.closed:
            self._log.close()

    def emails(self) -> list[email.message.Message]:
        """Every email the workers sent (Django's file backend writes them under mail/)."""
        messages = []
        for path in sorted(self.mail_dir.glob("*.log")):
            for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if chunk.strip():
                    messages.append(email.message_from_bytes(chunk.strip(b"\n")))
        return messages


def use_broker(url: str) -> None:
    """Point this (test) process's Celery app at `url` for enqueueing (kombu's documented pool API)."""
    from portal.celery import app

    app.conf.broker_url = url
    app.pool.connection = app.connection_for_write()
    app.amqp.producer_pool.resize(app.amqp.producer_pool.limit, reset=True)
    app.pool.resize(app.pool.limit, reset=True)


def debug(*objects) -> str:
    return json.dumps(objects, default=str, indent=1)[:8000]


class Pipeline:
    """A private Redis, the sandbox and workers: what one pipeline test runs against."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis = RedisServer(workdir)
        self.sandbox: Sandbox | None = None
        self.workers: list[Worker] = []

    @property
    def worker(self) -> Worker:
        return self.workers[0]

    def start(self, *, workers: int = 1, **options) -> Pipeline:
        self.redis.start()
        use_broker(self.redis.url)
        self.sandbox = Sandbox()
        for i in range(workers):
            self.add_worker(name=f"w{i}", **options)
        return self

    def add_worker(self, **options) -> Worker:
        worker = Worker(self.redis, self.sandbox, self.workdir, **options)
        worker.start()
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.sandbox:
            self.sandbox.stop()
        self.redis.stop()
        use_broker(settings.CELERY_BROKER_URL)

    def logs(self) -> str:
        return "\n".join(w.log() for w in self.workers)

    def wait_for_status(self, order, statuses, timeout: float = 30.0):
        """Wait until the order reaches one of `statuses`; returns it fresh from the database."""
        statuses = {statuses} if isinstance(statuses, str) else set(statuses)

        def reached():
            order.refresh_from_db()
            return order.status in statuses

        try:
            wait_for(reached, timeout=timeout, interval=0.2, what=f"order {order.order_id} to be {statuses}")
        except AssertionError as exc:
            message = f"order {order.order_id} is {order.status} ({order.last_error}), not {statuses}\n{self.logs()}"
            raise AssertionError(message) from exc
        return order


@pytest.fixture(name="pipeline")
def pipeline_fixture(tmp_path):
    """Start with `pipeline.start(**options)`; everything started is stopped after the test."""
    running = Pipeline(tmp_path)
    yield running
    running.stop()


@pytest.fixture(name="broker")
def broker_fixture(tmp_path):
    """A private Redis this process enqueues to (no worker reads it)."""
    server = RedisServer(tmp_path)
    server.start()
    use_broker(server.url)
    yield server
    server.stop()
    use_broker(settings.CELERY_BROKER_URL)


@pytest.fixture(name="sandbox")
def sandbox_fixture(settings):
    """The sandbox process, which this process's upstream client talks to."""
    server = Sandbox()
    settings.UPSTREAM_BASE_URL = server.url
    yield server
    server.stop()
