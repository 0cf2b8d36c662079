"""JSON API benchmark: gunicorn (2 workers) on PostgreSQL, loaded from this script, in one run.

Measures a trivial JSON endpoint (/healthz), create-order (POST /colocations/v2/orders/workVisits),
the order list (GET /colocations/v2/orders) and the trivial endpoint again, each with N concurrent
keep-alive clients; prints requests/s, p50/p99 latency and errors of each, the SQL queries of one
create, and the ratio of the create throughput to the better of the two trivial phases. Exits non-zero
when a request failed.

Needs PostgreSQL (DATABASE_URL; the bench uses its own database `<name>_apibench`, dropped and made
again, and dropped at the end). With REDIS_URL set, Redis is the cache and the Celery broker (a create
publishes its submission task on commit; no worker runs here, so the messages wait in Redis); without
it, a local-memory cache and an in-memory broker.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/api.py
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


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


def _free_port() -> int:
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


def _raw(method: str, path: str, token: str | None = None, body: bytes | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


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


# Each device switched alone from its default, the rest kept (the --cpu runs).
DEVICES = [
    ("defaults", {}),
    ("one-statement insert off", {"GRAPH_INSERT_ONE_STATEMENT": "false"}),
    ("server-side binding off", {"DATABASE_SERVER_SIDE_BINDING": "false"}),
]


def _backend_cpu_seconds(pid: int) -> float:
    """User + system CPU of a PostgreSQL backend process (same machine), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_child(creates: int, profile: bool) -> None:
    """In-process: `creates` creates through Django's test client; prints the CPU of one create (this
    process, and the PostgreSQL backend serving it) as JSON. Set up by main() through the environment."""
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    token, body = os.environ["BENCH_TOKEN"], os.environ["BENCH_BODY"].encode()
    client = Client()

    def create():
        response = client.post(
            "/colocations/v2/orders/workVisits",
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code != 201:
            raise SystemExit(response.content[:500])

    for _ in range(20):
        create()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not the wall time a loaded machine stretches
        profiler.enable()
    cpu, backend, wall = time.process_time(), _backend_cpu_seconds(pid), time.perf_counter()
    for _ in range(creates):
        create()
    cpu, backend, wall = time.process_time() - cpu, _backend_cpu_seconds(pid) - backend, time.perf_counter() - wall
    if profiler:
        import pstats

        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(30)
    print(
        json.dumps(
            {
                "python_ms": 1000 * cpu / creates,
                "postgres_ms": 1000 * backend / creates,
                "wall_ms": 1000 * wall / creates,
            }
        )
    )


def cpu_runs(env: dict, rounds: int, creates: int, profile: bool) -> None:
    """Each device off alone, the rest kept, in interleaved rounds (A B C D A B C D ...), one process each;
    with `profile`, an extra all-on run under cProfile first (its report printed, its figures not kept)."""
    if profile:
        out = subprocess.run(
            [sys.executable, __file__, "--cpu-child", str(creates), "--profile"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        print(out.stderr)
    found: dict[str, list[dict]] = {name: [] for name, _ in DEVICES}
    for _ in range(rounds):
        for name, overrides in DEVICES:
            out = subprocess.run(
                [sys.executable, __file__, "--cpu-child", str(creates)],
                env={**env, **overrides},
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            found[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"CPU of one create, in-process ({creates} creates a run, {rounds} interleaved rounds; "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}):"
    )
    print(f"{'devices':32} {'python ms (median, runs)':>40} {'postgres ms (median)':>22}")
    for name, runs in found.items():
        python = [r["python_ms"] for r in runs]
        postgres = [r["postgres_ms"] for r in runs]
        listed = " ".join(f"{x:.2f}" for x in python)
        print(f"{name:32} {statistics.median(python):8.2f} ({listed}) {statistics.median(postgres):12.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--seconds", type=float, default=10, help="length of each measured phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--cpu",
        type=int,
        metavar="ROUNDS",
        default=0,
        help="after the HTTP phases: the CPU of one create in-process, each device off alone, ROUNDS rounds",
    )
    parser.add_argument("--creates", type=int, default=200, help="creates per --cpu run (default 200)")
    parser.add_argument("--profile", action="store_true", help="with --cpu: one all-on run under cProfile first")
    parser.add_argument("--cpu-child", type=int, metavar="CREATES", default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cpu_child:
        cpu_child(args.cpu_child, args.profile)
        return 0

    database_url, dsn, db_name = bench_database(os.environ.get("DATABASE_URL", ""))
    redis_url = os.environ.get("REDIS_URL", "")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "CELERY_BROKER_URL": redis_url or "memory://",
        "EMAIL_URL": "dummymail://",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    }
    os.environ.update(env)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from workvisits.models import Order, User
    from workvisits.rules import format_datetime
    from workvisits.services import api_client_create, api_token_issue

    devnull = open(os.devnull, "w")  # noqa: SIM115
    call_command("migrate", verbosity=0, stdout=devnull)
    call_command("seed_demo", stdout=devnull)
    client, secret = api_client_create(user=User.objects.get(username="orderer"), name="bench")
    token, _ = api_token_issue(client_id=client.client_id, client_secret=secret)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    body = json.dumps(
        {
            "description": "Benchmark: replace a power supply in cabinet 0101.",
            "customerReferenceId": "BENCH-1",
            "details": {
                "cages": [{"id": "DC2:01:123456", "accountNumber": "1234567890", "cabinetId": "DC2:01:123456:0101"}],
                "openCabinet": False,
                "visitStartDateTime": format_datetime(start),
                "visitEndDateTime": format_datetime(start + timedelta(hours=4)),
                "visitors": [{"registeredUsers": ["orderer"]}],
            },
        }
    ).encode()

    # The queries of one create, counted in-process on the same database: the first (the cached
    # catalogue cold) and the next (warm, as under load).
    counts = []
    for _ in ("cold", "warm"):
        with CaptureQueriesContext(connection) as queries:
            response = Client().post(
                "/colocations/v2/orders/workVisits",
                body,
                content_type="application/json",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 201, response.content
        counts.append(len(queries.captured_queries))
    connection.close()

    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="bench-api-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(args.threads),
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
    failed = False
    try:
        probe = KeepAlive(port)
        for _ in range(200):
            try:
                if probe.request(_raw("GET", "/healthz"))[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit(f"gunicorn did not answer; see {log.name}")
        probe.close()

        phases = [
            ("trivial  GET /healthz", _raw("GET", "/healthz"), 200),
            (
                "create   POST /colocations/v2/orders/workVisits",
                _raw("POST", "/colocations/v2/orders/workVisits", token, body),
                201,
            ),
            ("list     GET /colocations/v2/orders?size=20", _raw("GET", "/colocations/v2/orders?size=20", token), 200),
            # Measured again at the end: the ratio takes the better of the two, so a slow first
            # phase (the database still writing out the setup, a busy neighbour) cannot flatter it.
            ("trivial  GET /healthz (again)", _raw("GET", "/healthz"), 200),
        ]
        results = {}
        for name, raw, expect in phases:
            load(port, raw, expect, args.clients, min(2.0, args.seconds / 4))  # warm up
            results[name] = load(port, raw, expect, args.clients, args.seconds)

        from django.conf import settings

        print(
            f"gunicorn {args.workers} workers x {args.threads} threads (gthread), {args.clients} clients, "
            f"{args.seconds:.0f} s per phase, {os.cpu_count()} CPUs, broker {'redis' if redis_url else 'memory'}, "
            f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        binding = settings.DATABASES["default"].get("OPTIONS", {}).get("server_side_binding", False)
        print(
            f"one-statement insert {'on' if settings.GRAPH_INSERT_ONE_STATEMENT else 'off'}, "
            f"server-side binding {'on' if binding else 'off'}, cache {settings.CACHES['default']['BACKEND']}"
        )
        print(f"{'':50} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for name, r in results.items():
            print(f"{name:50} {r['rps']:9.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['errors']:7d}")
            for sample in r["samples"]:
                print("    e.g.", sample.decode(errors="replace"))
            failed |= r["errors"] > 0
        trivial = max(results[phases[0][0]], results[phases[3][0]], key=lambda r: r["rps"])
        create = results[phases[1][0]]
        ratio = create["rps"] / trivial["rps"] if trivial["rps"] else 0.0
        print(f"queries per create: {counts[1]} (the first, with the catalogue not cached yet: {counts[0]})")
        print(f"orders created: {Order.objects.count()}")
        print(
            f"create / trivial throughput: {ratio:.1%} of the better trivial phase (target >= 13%); "
            f"create p99 {create['p99_ms']:.1f} ms (target <= 100 ms)"
        )
        connection.close()
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        try:
            gunicorn.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(gunicorn.pid, signal.SIGKILL)
        if args.cpu and not failed:
            cpu_runs({**env, "BENCH_TOKEN": token, "BENCH_BODY": body.decode()}, args.cpu, args.creates, args.profile)
        if redis_url:
            import redis

            redis.Redis.from_url(redis_url).delete("celery")
        if not args.keep:
            drop_database(dsn, db_name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
