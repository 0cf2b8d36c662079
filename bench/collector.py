"""The garbage collector's setting measured on its own: two gunicorns, alike but for GC_FREEZE_AFTER_LOAD.

Builds the scale dataset (bench/scale.py: 300,000 orders) in a database of its own, starts one gunicorn
with the setting on and one with it off (1 worker, gthread, 2 threads each), and asks both for the same
pages in turns (on, off, off, on, ...), one keep-alive client, `--requests` requests per page and turn
after a warm-up: the dashboard, the API list and the admin order list of the 200,000-order organization.
Prints each page's p50, p99 and worst request with the setting on and off, and the ratios off/on, all
measured in this one run. The database is dropped at the end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/collector.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import support  # noqa: E402

ARMS = ("on", "off")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=150, help="measured requests per page and turn (default 150)")
    parser.add_argument("--turns", type=int, default=4, help="turns per setting (default 4)")
    parser.add_argument("--warmup", type=int, default=20, help="requests per page before measuring (default 20)")
    args = parser.parse_args()

    database_url, dsn, db_name = support.bench_database(os.environ.get("DATABASE_URL", ""), "collector")
    env = support.django_setup(database_url, CELERY_BROKER_URL="memory://", REDIS_URL=os.environ.get("REDIS_URL", ""))
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client
    from scale import build

    from workvisits.models import User
    from workvisits.services import api_client_create, api_token_issue

    servers = {}
    try:
        with open(os.devnull, "w") as devnull:
            call_command("migrate", verbosity=0, stdout=devnull)
            call_command("seed_demo", stdout=devnull)
        made = build(dsn, db_name)
        print(f"dataset: {made['order']:,} orders, built in {made['seconds']:.1f} s")
        orderer, admin = User.objects.get(username="orderer"), User.objects.get(username="admin")
        cookies = {}
        for user in (orderer, admin):
            client = Client()
            client.force_login(user)
            cookies[user.username] = (
                f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
            )
        api_client, secret = api_client_create(user=orderer, name="collector bench")
        token, _ = api_token_issue(client_id=api_client.client_id, client_secret=secret)
        pages = {
            "dashboard": support.raw_request("GET", "/", cookie=cookies["orderer"]),
            "API list": support.raw_request("GET", "/colocations/v2/orders", token=token),
            "admin list": support.raw_request(
                "GET",
                f"/admin/workvisits/order/?organization__id__exact={orderer.organization_id}",
                cookie=cookies["admin"],
            ),
        }
        connections.close_all()

        for arm in ARMS:
            servers[arm] = support.gunicorn_start(
                {**env, "GC_FREEZE_AFTER_LOAD": "true" if arm == "on" else "false"},
                workers=1,
                threads=2,
                log_prefix=f"bench-collector-{arm}",
            )
        clients = {arm: support.KeepAlive(port) for arm, (_, port) in servers.items()}
        latencies = {(arm, page): [] for arm in ARMS for page in pages}
        for arm in ARMS:
            for raw in pages.values():
                for _ in range(args.warmup):
                    clients[arm].request(raw)
        failures = 0
        for turn in range(args.turns):
            for arm in ARMS if turn % 2 == 0 else ARMS[::-1]:
                for page, raw in pages.items():
                    for _ in range(args.requests):
                        began = time.perf_counter()
                        status, _ = clients[arm].request(raw)
                        latencies[arm, page].append(1000 * (time.perf_counter() - began))
                        failures += status != 200
        for client in clients.values():
            client.close()

        print(
            f"one client, {args.turns} turns per setting of {args.requests} requests per page, the settings in "
            f"turns; gunicorn 1 worker (gthread, 2 threads) each; {os.cpu_count()} CPUs; ms"
        )
        print(
            f"{'page':12} {'p50 on':>7} {'p50 off':>8} {'p99 on':>7} {'p99 off':>8} {'max on':>7} {'max off':>8}"
            f" {'p50 off/on':>10} {'p99 off/on':>10}"
        )
        for page in pages:
            on, off = latencies["on", page], latencies["off", page]
            p50 = (statistics.median(on), statistics.median(off))
            p99 = (percentile(on, 0.99), percentile(off, 0.99))
            print(
                f"{page:12} {p50[0]:7.1f} {p50[1]:8.1f} {p99[0]:7.1f} {p99[1]:8.1f} {max(on):7.1f} {max(off):8.1f}"
                f" {p50[1] / p50[0]:10.2f} {p99[1] / p99[0]:10.2f}"
            )
        print(f"failed requests: {failures}")
        return 1 if failures else 0
    finally:
        for gunicorn, _ in servers.values():
            support.gunicorn_stop(gunicorn)
        connections.close_all()
        support.drop_database(dsn, db_name)


if __name__ == "__main__":
    sys.exit(main())
