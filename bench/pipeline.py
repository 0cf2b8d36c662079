"""Pipeline benchmark: orders through one Celery worker process to the sandbox upstream process.

One worker process, as deployed for the upstream queue (the threads pool, `--concurrency C`), also
serving the default queue. Three phases, measured in one run:

1. a no-op task (`portal.ping`) through that worker: the ceiling of this broker, worker and result store;
2. N orders, committed at once, with an upstream that answers at once: orders/s from the commit to the
   last order SUBMITTED with its emails sent, and its ratio to the no-op (target >= 20 %);
3. M orders with every upstream call taking LATENCY seconds (the sandbox's `latency`): orders/s
   against the bound C / LATENCY (target >= 60 % at C >= 32);
4. creates with the broker down against creates with it up, interleaved: the median difference
   (the promise: at most 0.5 s more).

`--in-process N` measures instead one submission's CPU and statements without Celery: N orders, each
submitted by `order_submit` in this process, one after another, against the sandbox.

The worker's CPU time an order (from /proc) is printed too: work done, which the machine's other
load changes far less than orders/s. `--worker-env NAME=VALUE` sets a setting of the worker only,
for A/B runs of one device.

Lost (not SUBMITTED) and duplicate (created twice upstream) orders are counted in every phase; the
script exits non-zero when any is not 0. Needs PostgreSQL (DATABASE_URL; the bench uses its own
database `<name>_bench`, dropped and made again) and redis-server on PATH (a private one).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/pipeline.py
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _bench_database(url: str) -> str:
    """Make an empty `<name>_bench` database next to the one in `url`; returns its URL."""
    import environ
    import psycopg

    config = environ.Env.db_url_config(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("bench/pipeline.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    name = f"{config['NAME']}_bench"
    dsn = dict(host=config.get("HOST") or "127.0.0.1", port=config.get("PORT") or 5432,
               user=config.get("USER") or "postgres", password=config.get("PASSWORD") or None)
    with psycopg.connect(dbname="postgres", autocommit=True, **dsn) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def _wait(predicate, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic()


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used: work done, which other load on the machine does not change."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1000, help="orders of phase 2 (and no-op tasks of phase 1)")
    parser.add_argument("--latency-orders", type=int, default=640, help="orders of phase 3")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--broker-down-creates", type=int, default=20, help="creates of phase 4, each way")
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of the worker process only (A/B runs), e.g. GRAPH_INSERT_ONE_STATEMENT=false")
    parser.add_argument("--in-process", type=int, default=0, metavar="N",
                        help="only: N orders submitted one by one in this process (CPU and statements an order)")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = _bench_database(os.environ.get("DATABASE_URL", ""))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["EMAIL_URL"] = "dummymail://"
    os.environ["LOG_LEVEL"] = "WARNING"
    if args.in_process:  # as the upstream worker runs (a pool), with the submission messages kept in memory
        os.environ.setdefault("DATABASE_POOL_MAX_SIZE", "4")
        os.environ["CELERY_BROKER_URL"] = "memory://"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django_celery_results.models import TaskResult

    from portal.celery import app
    from tests.conftest import visit_body
    from tests.pipeline_harness import RedisServer, Sandbox, Worker, free_port, use_broker
    from workvisits import services
    from workvisits.choices import OrderStatus
    from workvisits.models import Order, OrderEvent, SentNotification, User

    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    if args.in_process:
        return in_process(args.in_process)
    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    broker = RedisServer(workdir)
    broker.start()
    use_broker(broker.url)
    sandbox = Sandbox()
    # The rate limit is the deployment's to choose; here it must not be what is measured.
    worker = Worker(broker, sandbox, workdir, concurrency=args.concurrency, EMAIL_URL="dummymail://",
                    LOG_LEVEL="WARNING", UPSTREAM_MAX_RPS="100000", SWEEP_AFTER_SECONDS="600",
                    **dict(item.split("=", 1) for item in args.worker_env))
    worker.start()
    orderer = User.objects.get(username="orderer")
    failures = 0

    def place(n: int, label: str) -> float:
        """Commit n orders at once; returns the monotonic time of the commit."""
        with transaction.atomic():
            for i in range(n):
                services.order_create(user=orderer, data=visit_body(description=f"Benchmark {label} visit {i}."))
            started = time.monotonic()
        return started

    def settle(n: int, label: str) -> float:
        """Wait until every order is SUBMITTED and every event of theirs that calls for emails has had them."""
        unnotified = OrderEvent.objects.filter(kind__in=services.NOTIFIED_EVENTS, notified_at__isnull=True)
        return _wait(
            lambda: Order.objects.filter(status=OrderStatus.SUBMITTED).count() >= n and not unnotified.exists(),
            args.timeout,
            f"the {label} orders to be submitted and their emails sent",
        )

    def count(n: int) -> tuple[int, int]:
        nonlocal failures
        lost = n - Order.objects.filter(status=OrderStatus.SUBMITTED).count()
        upstream = sandbox.orders()
        ids = [o["orderId"] for o in upstream]
        portal_ids = set(Order.objects.exclude(upstream_order_id=None).values_list("upstream_order_id", flat=True))
        duplicates = len(upstream) - len(set(ids) & portal_ids)
        failures += bool(lost or duplicates)
        return lost, duplicates

    try:
        # 1. The no-op task.
        app.send_task("portal.ping").get(timeout=60)  # warm up
        TaskResult.objects.all().delete()
        n = args.orders
        started = time.monotonic()
        for _ in range(n):
            app.send_task("portal.ping")
        done = _wait(lambda: TaskResult.objects.filter(task_name="portal.ping", status="SUCCESS").count() >= n,
                     args.timeout, "the no-op tasks")
        noop_rate = n / (done - started)

        noop_cpu = _cpu_seconds(worker.process.pid)

        # 2. No latency.
        started = place(n, "instant")
        order_rate = n / (settle(n, "instant") - started)
        instant_cpu = _cpu_seconds(worker.process.pid)
        emails = SentNotification.objects.filter(sent_at__isnull=False)
        received, accepted = emails.filter(notice="submitted").count(), emails.filter(notice="accepted").count()
        lost, duplicates = count(n)
        # Every order's "accepted" email (its "received" one folded in when the answer came within a minute).
        failures += accepted < n

        # 3. Every upstream call takes the latency.
        sandbox.settings(latency=args.latency)
        m = args.latency_orders
        started = place(m, "latency")
        latency_rate = m / (settle(n + m, "latency") - started)
        latency_cpu = _cpu_seconds(worker.process.pid) - instant_cpu
        instant_cpu -= noop_cpu
        lost_l, duplicates_l = count(n + m)
        bound = args.concurrency / args.latency

        print(f"one worker process, threads pool, concurrency {args.concurrency}; load {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs; worker settings {' '.join(args.worker_env) or 'as configured'}")
        print(f"no-op task: {noop_rate:.1f} tasks/s ({n} tasks)")
        print(f"no latency: {order_rate:.1f} orders/s ({n} orders, commit to the last order upstream and emailed); "
              f"emails {received} 'received', {accepted} 'accepted'")
        print(f"  ratio: {order_rate / noop_rate:.1%} of the no-op task's throughput (target >= 20%)")
        print(f"latency {args.latency:.2f} s a call: {latency_rate:.1f} orders/s ({m} orders) against a bound of "
              f"{bound:.0f}/s (concurrency / latency)")
        print(f"  ratio: {latency_rate / bound:.1%} of the bound (target >= 60% at concurrency >= 32)")
        print(f"worker CPU an order: {1000 * instant_cpu / n:.1f} ms (no latency), {1000 * latency_cpu / m:.1f} ms "
              f"(latency)")
        print(f"lost = {lost + lost_l}, duplicates = {duplicates + duplicates_l}")

        # 4. A create with the broker down (nothing listens on its port) against one with it up, interleaved.
        down_url = f"redis://127.0.0.1:{free_port()}/0"
        # Each create's "could not enqueue" warning (with its traceback) is what this phase provokes.
        logging.getLogger("workvisits.queueing").setLevel(logging.ERROR)
        timings: dict[str, list[float]] = {"up": [], "down": []}
        for i in range(2 * args.broker_down_creates):
            state = "down" if i % 2 else "up"
            use_broker(down_url if state == "down" else broker.url)
            begun = time.monotonic()
            services.order_create(user=orderer, data=visit_body(description=f"Benchmark broker {state} visit {i}."))
            timings[state].append(time.monotonic() - begun)
        use_broker(broker.url)
        up_s, down_s = statistics.median(timings["up"]), statistics.median(timings["down"])
        print(f"a create, median of {args.broker_down_creates}: {1000 * up_s:.0f} ms with the broker up, "
              f"{1000 * down_s:.0f} ms with it down: {1000 * (down_s - up_s):+.0f} ms (promise: at most +500 ms)")
        return 1 if failures else 0
    finally:
        worker.stop()
        sandbox.stop()
        broker.stop()


def in_process(n: int) -> int:
    """One submission at a time in this process (no broker, no worker, no threads) against the sandbox."""
    from django.conf import settings
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext, override_settings

    from tests.conftest import visit_body
    from tests.pipeline_harness import Sandbox
    from workvisits import services
    from workvisits.choices import OrderStatus
    from workvisits.models import Order, User
    from workvisits.submission import order_submit

    orderer = User.objects.get(username="orderer")
    sandbox = Sandbox()
    try:
        with transaction.atomic():
            pks = [services.order_create(user=orderer, data=visit_body(description=f"Benchmark visit {i}.")).pk
                   for i in range(n + 10)]
        with override_settings(UPSTREAM_BASE_URL=sandbox.url, UPSTREAM_MAX_RPS=100000):
            for pk in pks[:10]:  # warm up: the token, the sessions, the templates
                order_submit(order_pk=pk)
            with CaptureQueriesContext(connection) as queries:
                order_submit(order_pk=pks[10])
            started = time.process_time()
            for pk in pks[11:]:
                order_submit(order_pk=pk)
            cpu = time.process_time() - started
        submitted = Order.objects.filter(pk__in=pks, status=OrderStatus.SUBMITTED).count()
        print(f"in-process submission, {n} orders one after another, database pool "
              f"{settings.DATABASES['default'].get('OPTIONS', {}).get('pool') and 'on' or 'off'}: "
              f"{1000 * cpu / (n - 1):.2f} ms of CPU an order, {len(queries.captured_queries)} statements; "
              f"{submitted} of {n + 10} submitted")
        return 0 if submitted == n + 10 else 1
    finally:
        sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())
