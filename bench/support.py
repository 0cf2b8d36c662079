"""What the benchmarks share: their own database, a free port, gunicorn, a keep-alive client, concurrent clients."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_database(url: str, suffix: str = "apibench") -> tuple[str, dict, str]:
    """Make an empty `<name>_<suffix>` database next to the one in `url`; returns its URL, DSN and name."""
    import environ
    import psycopg

    config = environ.Env.db_url_config(url or "postgres://postgres@127.0.0.1:5432/portal")
    if config["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("the benchmarks need PostgreSQL: set DATABASE_URL=postgres://...")
    name = f"{config['NAME']}_{suffix}"
    dsn = {
        "host": config.get("HOST") or "127.0.0.1",
        "port": config.get("PORT") or 5432,
        "user": config.get("USER") or "postgres",
        "password": config.get("PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **dsn) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = (url or "postgres://postgres@127.0.0.1:5432/portal").rsplit("/", 1)[0]
    return f"{base}/{name}", dsn, name


def drop_database(dsn: dict, name: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **dsn) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class KeepAlive:
    """A minimal HTTP/1.1 client on one persistent connection: cheap enough not to be what is measured."""

    def __init__(self, port: int):
        self.port, self.sock, self.buffer = port, None, b""

    def _connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        return chunk

    def request(self, raw: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                if self.sock is None:
                    self._connect()
                self.sock.sendall(raw)
                while b"\r\n\r\n" not in self.buffer:
                    self.buffer += self._recv()
                break
            except (ConnectionError, OSError):
                self.close()
                if attempt == 2:
                    raise
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lower = head.lower()
        length = 0
        marker = lower.find(b"\r\ncontent-length:")
        if marker >= 0:
            length = int(lower[marker + 17 : lower.find(b"\r\n", marker + 2)].strip())
        while len(rest) < length:
            rest += self._recv()
        body, self.buffer = rest[:length], rest[length:]
        if b"\r\nconnection: close" in lower:
            self.close()
        return int(head[9:12]), body

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""


def load(port: int, raw: bytes, expect: int, clients: int, seconds: float) -> dict:
    """`clients` threads send `raw` back to back for `seconds`; latency per request, errors counted."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    samples: list[bytes] = []
    start_line = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(i):
        conn = KeepAlive(port)
        start_line.wait()
        while time.perf_counter() < deadline[0]:
            began = time.perf_counter()
            try:
                status, body = conn.request(raw)
            except OSError:
                status, body = 0, b""
            latencies[i].append(time.perf_counter() - began)
            if status != expect:
                errors[i] += 1
                if len(samples) < 3:
                    samples.append(f"{status} ".encode() + body[:300])
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start_line.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for per in latencies for x in per)
    return {
        "requests": len(every),
        "rps": len(every) / elapsed,
        "p50_ms": 1000 * statistics.median(every) if every else 0.0,
        "p99_ms": 1000 * every[min(len(every) - 1, int(len(every) * 0.99))] if every else 0.0,
        "errors": sum(errors),
        "samples": samples,
    }


def raw_request(method: str, path: str, *, cookie: str = "", token: str = "", body: bytes | None = None) -> bytes:
    """One HTTP/1.1 keep-alive request as bytes, to send as they are."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def gunicorn_start(env: dict, *, workers: int, threads: int, log_prefix: str) -> tuple[subprocess.Popen, int]:
    """gunicorn (gthread) on a free port, in a session of its own, once it answers /healthz; returns it and the port."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix=f"{log_prefix}-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    probe = KeepAlive(port)
    try:
        for _ in range(200):
            try:
                if probe.request(raw_request("GET", "/healthz"))[0] == 200:
                    return gunicorn, port
            except OSError:
                probe.close()
                time.sleep(0.05)
        gunicorn_stop(gunicorn)
        raise SystemExit(f"gunicorn did not answer; see {log.name}")
    finally:
        probe.close()


def gunicorn_stop(gunicorn: subprocess.Popen) -> None:
    """TERM to gunicorn's session, KILL after 15 s."""
    os.killpg(gunicorn.pid, signal.SIGTERM)
    try:
        gunicorn.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(gunicorn.pid, signal.SIGKILL)


def django_setup(database_url: str, **settings) -> dict:
    """The environment the bench runs under: set up in this process (django.setup), handed to its gunicorn."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "EMAIL_URL": "dummymail://",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        **settings,
    }
    os.environ.update(env)
    import django

    django.setup()
    return env
