"""Real processes for the pipeline tests: a private redis-server, the sandbox upstream and a Celery worker.

Every test that runs a worker starts its own Redis on a spare port (never the machine's shared one)
and its own `celery -A portal worker` pointed at the pytest test database.
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

import httpx
import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from workvisits.upstream.client import UpstreamClient
from workvisits.upstream.sandbox import start_in_thread

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")


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
    """(task name, args) of every message waiting on the broker's default queue, sorted."""
    messages = redis.Redis(port=server.port).lrange("celery", 0, -1)
    # Celery's message body is base64 JSON: [args, kwargs, embed].
    return sorted(
        (m["headers"]["task"], tuple(json.loads(base64.b64decode(m["body"]))[0])) for m in map(json.loads, messages)
    )


class Sandbox:
    """The sandbox upstream in a thread of the test process."""

    def __init__(self, **kwargs):
        self.server, self.url = start_in_thread(**kwargs)
        # A token cached for an earlier sandbox that had the same port means nothing to this one.
        cache.delete(UpstreamClient(base_url=self.url).cache_key)

    def fault(self, kind: str, count: int = 1, match: str = "POST /colocations/v2/orders/workVisits", **extra):
        httpx.post(f"{self.url}/_sandbox/faults", json={"kind": kind, "count": count, "match": match, **extra})

    def state(self) -> dict:
        return httpx.get(f"{self.url}/_sandbox/state").json()

    def creates(self) -> list[dict]:
        """The create requests the sandbox received (whatever it answered)."""
        return [r for r in self.state()["requests"] if r["method"] == "POST" and r["path"].endswith("/workVisits")]

    def orders(self) -> list[dict]:
        return self.state()["orders"]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("the pipeline tests run workers against PostgreSQL: set DATABASE_URL")
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Worker:
    """`celery -A portal worker` in a subprocess, on the given broker, sandbox and test database."""

    def __init__(self, broker: RedisServer, sandbox: Sandbox, workdir: Path, *, concurrency: int = 1, **env):
        self.mail_dir = workdir / "mail"
        self.mail_dir.mkdir(exist_ok=True)
        self.log_path = workdir / "worker.log"
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
            "SWEEP_AFTER_SECONDS": "1",
            "OPERATORS_EMAILS": "ops@dc.example",
            "CONN_MAX_AGE": "0",
            **{k: str(v) for k, v in env.items()},
        }
        self.concurrency = concurrency
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [CELERY, "-A", "portal", "worker", "--loglevel", "INFO", "--concurrency", str(self.concurrency),
             "--pool", "prefork", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--hostname", f"test{os.getpid()}-{free_port()}@%h"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: b" ready." in self.log_path.read_bytes() or self.process.poll() is not None, timeout=60,
                 what="the Celery worker")
        if self.process.poll() is not None:
            raise RuntimeError(f"the worker stopped:\n{self.log()}")

    def children(self) -> list[int]:
        """The pool processes of the worker."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.process.pid:
                    pids.append(int(entry.name))
        return pids

    def kill_child(self) -> int:
        pid = self.children()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

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
        self._log.close()

    def emails(self) -> list[email.message.Message]:
        """Every email the worker sent (Django's file backend writes them under mail/)."""
        messages = []
        for path in sorted(self.mail_dir.glob("*.log")):
            for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if chunk.strip():
                    messages.append(email.message_from_bytes(chunk.strip(b"\n")))
        return messages


def use_broker(url: str) -> None:
    """Point this (test) process's Celery app at `url` for enqueueing."""
    from portal.celery import app

    app.conf.broker_url = url
    if app._pool is not None:
        app._pool.force_close_all()
    app._after_fork()


def debug(*objects) -> str:
    return json.dumps(objects, default=str, indent=1)[:8000]


class Pipeline:
    """A private Redis, the sandbox and a worker: what one pipeline test runs against."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis = RedisServer(workdir)
        self.sandbox: Sandbox | None = None
        self.worker: Worker | None = None

    def start(self, *, concurrency: int = 1, step_seconds: float = 0, **env) -> Pipeline:
        self.redis.start()
        use_broker(self.redis.url)
        self.sandbox = Sandbox(step_seconds=step_seconds)
        self.worker = Worker(self.redis, self.sandbox, self.workdir, concurrency=concurrency, **env)
        self.worker.start()
        return self

    def stop(self) -> None:
        if self.worker:
            self.worker.stop()
        if self.sandbox:
            self.sandbox.stop()
        self.redis.stop()
        use_broker(settings.CELERY_BROKER_URL)

    def wait_for_status(self, order, statuses, timeout: float = 30.0):
        """Wait until the order reaches one of `statuses`; returns it fresh from the database."""
        statuses = {statuses} if isinstance(statuses, str) else set(statuses)

        def reached():
            order.refresh_from_db()
            return order.status in statuses

        try:
            wait_for(reached, timeout=timeout, interval=0.2, what=f"order {order.order_id} to be {statuses}")
        except AssertionError as exc:
            message = f"order {order.order_id} is {order.status}, not {statuses}\n{self.worker.log()}"
            raise AssertionError(message) from exc
        return order


@pytest.fixture(name="pipeline")
def pipeline_fixture(tmp_path):
    """Start with `pipeline.start(**env)`; everything started is stopped after the test."""
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
