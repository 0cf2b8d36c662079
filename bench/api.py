"""JSON API benchmark: gunicorn (2 workers) on PostgreSQL, loaded from this script, in one run.

Measures a trivial JSON endpoint (/healthz), create-order (POST /colocations/v2/orders/workVisits),
the order list (GET /colocations/v2/orders) and the trivial endpoint again, each with N concurrent
keep-alive clients; prints requests/s, p50/p99 latency and errors of each, the SQL queries of one
create, and the ratio of the create throughput to the better of the two trivial phases. Exits non-zero
when a request failed. After the HTTP phases, optionally: the CPU of one create in-process (--cpu, with
--profile a cProfile report), or its instructions counted by valgrind's callgrind (--instructions), each
device of the create path off alone.

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
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from support import (  # noqa: E402
    bench_database,
    django_setup,
    drop_database,
    gunicorn_start,
    gunicorn_stop,
    load,
    raw_request,
)

# Each device switched alone from its default, the rest kept (the --cpu runs).
DEVICES = [
    ("defaults", {}),
    ("one-statement insert off", {"GRAPH_INSERT_ONE_STATEMENT": "false"}),
    ("server-side binding off", {"DATABASE_SERVER_SIDE_BINDING": "false"}),
    ("process-memory catalogue off", {"CATALOGUE_PROCESS_MEMORY": "false"}),
]


def _backend_cpu_seconds(pid: int) -> float:
    """User + system CPU of a PostgreSQL backend process (same machine), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_child(creates: int, profile: bool, callgrind: bool = False) -> None:
    """In-process: `creates` creates through Django's test client; prints the CPU of one create (this
    process, and the PostgreSQL backend serving it) as JSON. Set up by main() through the environment.
    With `callgrind` (run under valgrind's callgrind), its counters are zeroed before the measured creates
    and dumped after them, so the dump counts the instructions of those creates alone."""
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
    if callgrind:
        subprocess.run(["callgrind_control", "--zero", str(os.getpid())], check=True, capture_output=True)
    cpu, backend, wall = time.process_time(), _backend_cpu_seconds(pid), time.perf_counter()
    for _ in range(creates):
        create()
    if callgrind:
        subprocess.run(["callgrind_control", "--dump", str(os.getpid())], check=True, capture_output=True)
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


def instruction_runs(env: dict, rounds: int, creates: int) -> None:
    """Each device off alone, the rest kept, in interleaved rounds, each run under valgrind's callgrind: the
    instructions of one create in-process (Python's side). Unlike CPU time, the count is the same from run
    to run (within 0.1 % here) whatever else the machine is doing, so a change of 1 % shows."""
    import tempfile

    found: dict[str, list[float]] = {name: [] for name, _ in DEVICES}
    with tempfile.TemporaryDirectory() as out:
        for number in range(rounds):
            for index, (name, overrides) in enumerate(DEVICES):
                prefix = f"{out}/r{number}d{index}"
                subprocess.run(
                    [
                        "valgrind",
                        "--tool=callgrind",
                        f"--callgrind-out-file={prefix}.%p",
                        sys.executable,
                        __file__,
                        "--cpu-child",
                        str(creates),
                        "--callgrind",
                    ],
                    env={**env, **overrides, "PYTHONHASHSEED": "0"},
                    capture_output=True,
                    check=True,
                    cwd=ROOT,
                )
                # The first dump (name.PID.1) is the one asked for after the measured creates.
                (dump,) = Path(out).glob(f"r{number}d{index}.*.1")
                summary = next(line for line in dump.read_text().splitlines() if line.startswith("summary:"))
                found[name].append(int(summary.split()[1]) / creates)
    print(f"Instructions of one create, in-process ({creates} creates a run, {rounds} interleaved rounds, callgrind):")
    base = statistics.median(found[DEVICES[0][0]])
    for name, runs in found.items():
        listed = " ".join(f"{x / 1e6:.3f}" for x in runs)
        median = statistics.median(runs)
        print(f"{name:32} {median / 1e6:8.3f} M ({listed})  {median / base - 1:+7.1%} against the defaults")


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
    parser.add_argument(
        "--instructions",
        type=int,
        metavar="ROUNDS",
        default=0,
        help="after the HTTP phases: instructions of one create in-process under callgrind (valgrind), "
        "each device off alone, ROUNDS rounds (--creates 40 is plenty: the count barely varies)",
    )
    parser.add_argument("--cpu-child", type=int, metavar="CREATES", default=0, help=argparse.SUPPRESS)
    parser.add_argument("--callgrind", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cpu_child:
        cpu_child(args.cpu_child, args.profile, args.callgrind)
        return 0

    database_url, dsn, db_name = bench_database(os.environ.get("DATABASE_URL", ""))
    redis_url = os.environ.get("REDIS_URL", "")
    env = django_setup(database_url, CELERY_BROKER_URL=redis_url or "memory://")
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

    gunicorn, port = gunicorn_start(env, workers=args.workers, threads=args.threads, log_prefix="bench-api")
    failed = False
    try:
        phases = [
            ("trivial  GET /healthz", raw_request("GET", "/healthz"), 200),
            (
                "create   POST /colocations/v2/orders/workVisits",
                raw_request("POST", "/colocations/v2/orders/workVisits", token=token, body=body),
                201,
            ),
            (
                "list     GET /colocations/v2/orders?size=20",
                raw_request("GET", "/colocations/v2/orders?size=20", token=token),
                200,
            ),
            # Measured again at the end: the ratio takes the better of the two, so a slow first
            # phase (the database still writing out the setup, a busy neighbour) cannot flatter it.
            ("trivial  GET /healthz (again)", raw_request("GET", "/healthz"), 200),
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
        gunicorn_stop(gunicorn)
        if args.cpu and not failed:
            cpu_runs({**env, "BENCH_TOKEN": token, "BENCH_BODY": body.decode()}, args.cpu, args.creates, args.profile)
        if args.instructions and not failed:
            instruction_runs(
                {**env, "BENCH_TOKEN": token, "BENCH_BODY": body.decode()}, args.instructions, args.creates
            )
        if redis_url:
            import redis

            redis.Redis.from_url(redis_url).delete("celery")
        if not args.keep:
            drop_database(dsn, db_name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
