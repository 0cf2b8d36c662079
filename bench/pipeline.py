"""Pipeline benchmark: N orders through one Celery worker to the sandbox upstream.

Prints the orders/s from commit to the last SUBMITTED, the tasks/s of a no-op task through the same
worker in the same run, their ratio, and lost / duplicate counts; exits non-zero when an order was
lost or created twice upstream. Needs PostgreSQL (DATABASE_URL; the bench uses its own database
`<name>_bench`, dropped and made again) and redis-server on PATH (a private one on a spare port).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/pipeline.py
"""

from __future__ import annotations

import argparse
import os
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
    dsn = dict(
        host=config.get("HOST") or "127.0.0.1",
        port=config.get("PORT") or 5432,
        user=config.get("USER") or "postgres",
        password=config.get("PASSWORD") or None,
    )
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = _bench_database(os.environ.get("DATABASE_URL", ""))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["EMAIL_URL"] = "dummymail://"
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django_celery_results.models import TaskResult

    from portal.celery import app
    from tests.conftest import visit_body
    from tests.pipeline_harness import RedisServer, Sandbox, Worker, use_broker
    from workvisits import notifications, services
    from workvisits.choices import OrderStatus
    from workvisits.models import Order, OrderEvent, SentNotification, User

    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    broker = RedisServer(workdir)
    broker.start()
    use_broker(broker.url)
    sandbox = Sandbox(step_seconds=0)
    worker = Worker(
        broker,
        sandbox,
        workdir,
        concurrency=args.concurrency,
        EMAIL_URL="dummymail://",
        LOG_LEVEL="WARNING",
        CONN_MAX_AGE="60",
    )
    worker.start()
    try:
        n = args.orders
        # 1. A no-op task through the same worker: the ceiling of this broker, worker and result store.
        app.send_task("portal.ping").get(timeout=60)  # warm up
        TaskResult.objects.all().delete()
        started = time.monotonic()
        for _ in range(n):
            app.send_task("portal.ping")
        done = _wait(
            lambda: TaskResult.objects.filter(task_name="portal.ping", status="SUCCESS").count() >= n,
            args.timeout,
            "the no-op tasks",
        )
        noop_rate = n / (done - started)

        # 2. N orders, committed at once: each is submitted upstream and its people emailed twice (received,
        #    accepted: one notification task per order carries both).
        orderer = User.objects.get(username="orderer")
        with transaction.atomic():
            for i in range(n):
                services.order_create(user=orderer, data=visit_body(description=f"Benchmark visit number {i}."))
            started = time.monotonic()  # from the commit; the worker's relay sends each submission
        # Done when every order is SUBMITTED and every event of theirs that calls for emails has had them.
        unnotified = OrderEvent.objects.filter(kind__in=services.NOTIFIED_EVENTS).exclude(
            data__has_key=notifications.NOTIFIED
        )
        done = _wait(
            lambda: Order.objects.filter(status=OrderStatus.SUBMITTED).count() >= n and not unnotified.exists(),
            args.timeout,
            "the orders to be submitted and their emails sent",
        )
        order_rate = n / (done - started)
        emails = SentNotification.objects.filter(sent_at__isnull=False)
        received, accepted = emails.filter(notice="submitted").count(), emails.filter(notice="accepted").count()

        submitted = Order.objects.filter(status=OrderStatus.SUBMITTED).count()
        lost = n - submitted
        upstream = sandbox.orders()
        references = [o["customerReferenceId"] for o in upstream]
        duplicates = len(references) - len(set(references))
        unknown = len(set(references) - {str(k) for k in Order.objects.values_list("submission_key", flat=True)})
        print(f"orders: {n}, worker concurrency: {args.concurrency}")
        print(f"no-op task: {noop_rate:.1f} tasks/s")
        print(f"pipeline: {order_rate:.1f} orders/s, from commit to the last order upstream and its last email")
        print(f"emails sent: {received} 'received', {accepted} 'accepted' ({received // n} + {accepted // n} an order)")
        print(f"ratio: {order_rate / noop_rate:.1%} of the no-op task's throughput (target >= 20%)")
        print(f"lost = {lost}, duplicates = {duplicates + unknown}")
        return 1 if lost or duplicates or unknown or not received == accepted >= n else 0
    finally:
        worker.stop()
        sandbox.stop()
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
