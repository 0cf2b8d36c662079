"""Scale benchmark: the customer and staff pages at 300,000 orders, against the same pages at 2,000.

Builds its own database `<name>_scale` (one organization with 200,000 orders, fifty with 2,000 each;
about 1.7 M events and 600 k visitors, made in SQL), VACUUM ANALYZEs it, starts gunicorn on a free
port and measures, with one keep-alive client, 100 requests per page after a warm-up: /healthz, the
dashboard (page 1, page 500, a search), the order page, the API list (page 1, page 5000, filtered
upcoming, filtered past window), one order, the Order History search (plain and by q, when the portal
has it) and the admin order list (plain, by status, searched for part of an order id and for the
organization's user). Each page is measured for a user of the 200,000-order organization
and for one of a 2,000-order organization, with the same request. With --clients N, then the dashboard's
first page under N concurrent clients for each organization (pages a second; no target).

Prints p50/p99, SQL queries (counted in-process on the same database) and bytes per page, and the
ratios. Targets: every page's p50 within 20x of /healthz's and within 2x of the same page for the
2,000-order organization; the same number of queries for both; the dashboard under 100 KB. Exits
non-zero when a target is missed or a request failed. The database is dropped at the end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/scale.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from support import (  # noqa: E402
    KeepAlive,
    bench_database,
    django_setup,
    drop_database,
    gunicorn_start,
    gunicorn_stop,
    load,
    raw_request,
)

# Orders of the big organization and of each small one; small organizations besides Globex.
BIG, SMALL, OTHERS = 200_000, 2_000, 49
HEALTHZ_FACTOR, SMALL_FACTOR, DASHBOARD_MAX_BYTES = 20, 2, 100 * 1024


# Orders are generated in time order (as they would have been placed), the organizations interleaved:
# two of every three rows are the big organization's, the third one of the fifty small ones' in turn.
# Visits run from 700 days ago to 30 days ahead; past ones are CLOSED (one in ten CANCELLED).
ORDERS_SQL = """
INSERT INTO workvisits_order (order_id, organization_id, ibx_id, ordered_by_id, description, customer_reference_id,
    po_type, po_number, po_amount, open_cabinet, visit_start, visit_end, status, submission_key, submit_attempts,
    last_error, review_reasons, rejection_reasons, version, created_at, updated_at, lease_owner, upstream_uncertain)
SELECT 'WV-S' || lpad(g::text, 8, '0'), o.org_id, o.ibx_id, o.user_id,
       'Scale benchmark: routine maintenance in the cage.', 'REF-' || g, '', '', '', false,
       s.vs, s.vs + interval '4 hours',
       CASE WHEN s.vs + interval '4 hours' < now()
            THEN CASE WHEN s.h %% 10 = 0 THEN 'CANCELLED' ELSE 'CLOSED' END
            ELSE (ARRAY['SUBMITTED', 'RECEIVED', 'QUEUED', 'PENDING_REVIEW'])[1 + s.h %% 4] END,
       gen_random_uuid(), 1, '', '[]', '[]', 1,
       s.vs - (1 + g %% 10) * interval '1 day', s.vs - (g %% 10) * interval '1 day', '', false
FROM generate_series(1, %(total)s) AS g
CROSS JOIN LATERAL (
    SELECT date_trunc('minute', now() - interval '700 days' + (g::float8 / %(total)s) * interval '730 days') AS vs,
           CASE WHEN g %% 3 = 0 THEN 1 + (g / 3) %% 50 ELSE 0 END AS slot,
           abs(hashtext(g::text)) AS h  -- statuses independent of the organization
) AS s
JOIN scale_org AS o ON o.slot = s.slot
"""
LOADED_TABLES = (
    "workvisits_order",
    "workvisits_ordercage",
    "workvisits_visitor",
    "workvisits_contact",
    "workvisits_orderevent",
)
PARTS_SQL = [
    (
        "cages",
        """INSERT INTO workvisits_ordercage (order_id, cage_id, account_id)
           SELECT w.id, o.cage_id, o.account_id
           FROM workvisits_order w JOIN scale_org o ON o.org_id = w.organization_id""",
    ),
    # Two visitors per order, in one pass: the ordering user and a named contractor.
    (
        "visitors",
        """INSERT INTO workvisits_visitor (order_id, user_id, first_name, last_name, company_name, details, notify)
           SELECT w.id, w.ordered_by_id, '', '', '', '[]'::jsonb, false FROM workvisits_order w
           UNION ALL
           SELECT w.id, NULL, 'Casey', 'Contractor ' || w.id, 'Contractor Ltd',
                  '[{"type": "EMAIL", "value": "casey@contractor.example"}]'::jsonb, false
           FROM workvisits_order w""",
    ),
    (
        "contacts",
        """INSERT INTO workvisits_contact (order_id, user_id, first_name, last_name, company_name, details,
               contact_type, availability, timezone)
           SELECT w.id, w.ordered_by_id, '', '', '', '[]', 'TECHNICAL', 'WORK_HOURS', '' FROM workvisits_order w""",
    ),
    # Five or six events per order (5.67 on average): placed, submitted, received, emails, closed.
    (
        "events",
        """INSERT INTO workvisits_orderevent (order_id, created_at, kind, from_status, to_status, note, data)
           SELECT w.id, w.created_at + k * interval '1 minute',
                  (ARRAY['CREATED', 'STATUS', 'STATUS', 'EMAIL', 'EMAIL', 'STATUS'])[k],
                  '', '', 'Scale benchmark event.', '{}'
           FROM workvisits_order w CROSS JOIN generate_series(1, 6) AS k
           WHERE k < 6 OR w.id % 3 <> 0""",
    ),
]


def build(dsn: dict, name: str) -> dict:
    """The dataset, in SQL on top of the demo catalogue; returns what was made and how long it took."""
    import psycopg
    from django.contrib.auth.models import Permission

    from workvisits.models import IBX, Account, Cage, Organization, User

    began = time.perf_counter()
    steps: dict[str, float] = {}  # seconds from the start when each step ended
    dc2 = IBX.objects.get(code="DC2")
    view_all = Permission.objects.get(codename="view_organization_orders")
    slots = [(0, "orderer"), (1, "globex")]
    for i in range(OTHERS):
        org = Organization.objects.create(name=f"Scale customer {i + 2:02d}")
        user = User.objects.create(username=f"scale{i + 2:02d}", organization=org, first_name="Sam", last_name="Scale")
        user.user_permissions.add(view_all)
        account = Account.objects.create(number=f"90000000{i + 2:02d}", name=f"Scale {i + 2}", organization=org)
        cage = Cage.objects.create(cage_id=f"DC2:09:9000{i + 2:02d}", ibx=dc2, organization=org)
        cage.accounts.add(account)
        slots.append((i + 2, user.username))
    rows = []
    for slot, username in slots:
        user = User.objects.get(username=username)
        cage = Cage.objects.filter(organization_id=user.organization_id, ibx=dc2).order_by("cage_id").first()
        rows.append((slot, user.organization_id, user.pk, dc2.pk, cage.pk, cage.accounts.order_by("number").first().pk))
    total = BIG + SMALL * (OTHERS + 1)
    with psycopg.connect(dbname=name, autocommit=True, **dsn) as conn:
        conn.execute(
            "CREATE UNLOGGED TABLE scale_org (slot int, org_id bigint, user_id bigint, ibx_id bigint,"
            " cage_id bigint, account_id bigint)"
        )
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO scale_org VALUES (%s, %s, %s, %s, %s, %s)", rows)
        # The tables' secondary indexes are dropped for the load and made again after it: one sort per
        # index instead of millions of insertions (constraints stay).
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(%s)"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            [list(LOADED_TABLES)],
        ).fetchall()
        # Their foreign keys too: each is a deferred trigger per inserted row (a queued event, then a
        # locking look-up of the parent at commit); added back, each is checked by one join.
        foreign_keys = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
            [list(LOADED_TABLES)],
        ).fetchall()
        for table, constraint, _ in foreign_keys:
            conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"')
        for index, _ in indexes:
            conn.execute(f'DROP INDEX "{index}"')
        steps["prepared"] = time.perf_counter() - began
        conn.execute(ORDERS_SQL, {"total": total})
        steps["orders"] = time.perf_counter() - began
        for table, sql in PARTS_SQL:
            conn.execute(sql)
            steps[table] = time.perf_counter() - began
        conn.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            conn.execute(definition)
        steps["indexes"] = time.perf_counter() - began
        for table, constraint, definition in foreign_keys:
            conn.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" {definition}')
        steps["foreign keys"] = time.perf_counter() - began
        conn.execute("DROP TABLE scale_org")
        built = time.perf_counter() - began
        conn.execute("VACUUM ANALYZE")
        counts = {
            table: conn.execute(f"SELECT count(*) FROM workvisits_{table}").fetchone()[0]  # noqa: S608
            for table in ("order", "orderevent", "visitor")
        }
    return {"seconds": built, "vacuum_seconds": time.perf_counter() - began - built, "steps": steps, **counts}


def measure(conn: KeepAlive, raw: bytes, requests: int, warmup: int) -> dict:
    """`warmup` requests, then `requests` measured ones, one after the other on one connection."""
    statuses, latencies, size = set(), [], 0
    for i in range(warmup + requests):
        began = time.perf_counter()
        status, body = conn.request(raw)
        elapsed = time.perf_counter() - began
        statuses.add(status)
        size = len(body)
        if i >= warmup:
            latencies.append(elapsed)
    latencies.sort()
    return {
        "p50": 1000 * statistics.median(latencies),
        "p99": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "statuses": statuses,
        "bytes": size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100, help="measured requests per page (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="requests before measuring (default 10)")
    parser.add_argument("--keep", action="store_true", help="keep the database (dropped by default)")
    parser.add_argument("--build-only", action="store_true", help="build the dataset, print its URL, keep it, stop")
    parser.add_argument(
        "--clients",
        type=int,
        default=0,
        help="after the single-client pages: the large organization's dashboard under this many concurrent "
        "clients (gunicorn 2 workers x 4 threads), for --seconds; no target (default 0: not measured)",
    )
    parser.add_argument("--seconds", type=float, default=10, help="length of the --clients phase (default 10 s)")
    args = parser.parse_args()

    database_url, dsn, db_name = bench_database(os.environ.get("DATABASE_URL", ""), "scale")
    env = django_setup(database_url, CELERY_BROKER_URL="memory://", REDIS_URL=os.environ.get("REDIS_URL", ""))
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from workvisits.models import Order, User
    from workvisits.services import api_client_create, api_token_issue

    gunicorn = None
    failed = False
    try:
        devnull = open(os.devnull, "w")  # noqa: SIM115
        call_command("migrate", verbosity=0, stdout=devnull)
        call_command("seed_demo", stdout=devnull)
        made = build(dsn, db_name)
        print(
            f"dataset: {made['order']:,} orders, {made['orderevent']:,} events, {made['visitor']:,} visitors, "
            f"built in {made['seconds']:.1f} s (target < 120 s), VACUUM ANALYZE {made['vacuum_seconds']:.1f} s"
        )
        print("steps (seconds from the start):", ", ".join(f"{k} {v:.1f}" for k, v in made["steps"].items()))
        failed |= made["seconds"] >= 120
        if args.build_only:
            args.keep = True
            print(f"kept: DATABASE_URL={database_url}")
            return 1 if failed else 0

        now = datetime.now(UTC)
        today = now.date().isoformat()
        window = f"visitStartFrom={(now - timedelta(days=60)).date()}&visitStartTo={(now - timedelta(days=30)).date()}"
        personas = {}
        for label, username in (("big", "orderer"), ("small", "globex")):
            user = User.objects.get(username=username)
            web = Client()
            web.force_login(user)
            api_client, secret = api_client_create(user=user, name="scale bench")
            token, _ = api_token_issue(client_id=api_client.client_id, client_secret=secret)
            order = Order.objects.filter(organization_id=user.organization_id).order_by("-created_at").first()
            personas[label] = {
                "user": user,
                "client": web,
                "cookie": f"{settings.SESSION_COOKIE_NAME}={web.cookies[settings.SESSION_COOKIE_NAME].value}",
                "token": token,
                "order": order.order_id,
                "org": user.organization_id,
                "last_page": 5000 if label == "big" else SMALL // 20,
                "search_q": json.dumps({"q": order.order_id[-6:], "page": {"number": 0, "size": 20}}).encode(),
            }
        staff = Client()
        staff.force_login(User.objects.get(username="admin"))
        staff_cookie = f"{settings.SESSION_COOKIE_NAME}={staff.cookies[settings.SESSION_COOKIE_NAME].value}"
        search_body = json.dumps({"filters": {}, "page": {"number": 0, "size": 20}}).encode()
        has_search = any("retrieve-orders" in str(p.pattern) for p in _url_patterns())

        # (name, how to ask: "web" | "api" | "admin", method, path for a persona, body or body for a persona)
        pages = [
            ("dashboard page 1", "web", "GET", lambda p: "/", None),
            ("dashboard page 500", "web", "GET", lambda p: "/?page=500", None),
            # A part of the persona's newest order id in the search box (the trigram indexes).
            ("dashboard search", "web", "GET", lambda p: f"/?q={p['order'][-6:]}", None),
            ("order page", "web", "GET", lambda p: f"/orders/{p['order']}/", None),
            ("API list page 1", "api", "GET", lambda p: "/colocations/v2/orders", None),
            # As deep as each list goes: the small organization's last page (page 5000 is past its end).
            ("API list page 5000", "api", "GET", lambda p: f"/colocations/v2/orders?page={p['last_page']}", None),
            (
                "API list upcoming",
                "api",
                "GET",
                lambda p: f"/colocations/v2/orders?status=SUBMITTED,RECEIVED&visitStartFrom={today}",
                None,
            ),
            ("API list past window", "api", "GET", lambda p: f"/colocations/v2/orders?{window}", None),
            ("API one order", "api", "GET", lambda p: f"/colocations/v2/orders/{p['order']}", None),
            ("Order History search", "api", "POST", lambda p: "/v1/retrieve-orders", search_body),
            ("Order History search q", "api", "POST", lambda p: "/v1/retrieve-orders", lambda p: p["search_q"]),
            (
                "admin list",
                "admin",
                "GET",
                lambda p: f"/admin/workvisits/order/?organization__id__exact={p['org']}",
                None,
            ),
            (
                "admin list by status",
                "admin",
                "GET",
                lambda p: f"/admin/workvisits/order/?organization__id__exact={p['org']}&status__exact=CLOSED",
                None,
            ),
            (
                "admin search",
                "admin",
                "GET",
                lambda p: f"/admin/workvisits/order/?organization__id__exact={p['org']}&q={p['order'][-6:]}",
                None,
            ),
            (
                "admin search a person",  # the organization's own user, a visitor and contact on its orders
                "admin",
                "GET",
                lambda p: f"/admin/workvisits/order/?organization__id__exact={p['org']}&q={p['user'].username}",
                None,
            ),
        ]
        if not has_search:
            print("Order History search: skipped, POST /v1/retrieve-orders is not served by this portal yet.")
            pages = [page for page in pages if not page[0].startswith("Order History search")]

        # Queries per page, in-process on the same database, with the caches warm (the catalogue's
        # first read builds it: three queries more, once per version).
        queries: dict[tuple[str, str], int] = {}
        for name, kind, method, path, body in pages:
            for label, persona in personas.items():
                client = staff if kind == "admin" else persona["client"]
                headers = {"Authorization": f"Bearer {persona['token']}"} if kind == "api" else {}
                payload = body(persona) if callable(body) else body
                for _warm_then_counted in range(2):
                    with CaptureQueriesContext(connection) as captured:
                        if method == "GET":
                            response = client.get(path(persona), headers=headers)
                        else:
                            response = client.post(
                                path(persona), payload, content_type="application/json", headers=headers
                            )
                if response.status_code != 200:
                    print(f"{name} ({label}): status {response.status_code}: {response.content[:300]!r}")
                    failed = True
                queries[name, label] = len(captured.captured_queries)
        connection.close()

        gunicorn, port = gunicorn_start(env, workers=1, threads=2, log_prefix="bench-scale")
        conn = KeepAlive(port)

        healthz = measure(conn, raw_request("GET", "/healthz"), args.requests, args.warmup)
        results = {}
        for name, kind, method, path, body in pages:
            for label, persona in personas.items():
                raw = raw_request(
                    method,
                    path(persona),
                    cookie=staff_cookie if kind == "admin" else (persona["cookie"] if kind == "web" else ""),
                    token=persona["token"] if kind == "api" else "",
                    body=body(persona) if callable(body) else body,
                )
                results[name, label] = measure(conn, raw, args.requests, args.warmup)
        healthz_again = measure(conn, raw_request("GET", "/healthz"), args.requests, args.warmup)
        conn.close()
        trivial = min(healthz["p50"], healthz_again["p50"])

        print(
            f"one client, {args.requests} requests per page after {args.warmup} of warm-up; gunicorn 1 worker "
            f"(gthread); {os.cpu_count()} CPUs"
        )
        print(
            f"/healthz p50 {healthz['p50']:.2f} ms, p99 {healthz['p99']:.2f} ms (again at the end: p50 "
            f"{healthz_again['p50']:.2f} ms); the targets use the better, {trivial:.2f} ms"
        )
        header = (
            f"{'page':24} {'p50 200k':>9} {'p99 200k':>9} {'p50 2k':>8} {'p99 2k':>8} {'200k/2k':>8} "
            f"{'/healthz':>9} {'queries':>9} {'KB 200k':>8} {'KB 2k':>7}  verdict"
        )
        print(header)
        for name, *_ in pages:
            big, small = results[name, "big"], results[name, "small"]
            ratio, versus = big["p50"] / small["p50"], big["p50"] / trivial
            q_big, q_small = queries[name, "big"], queries[name, "small"]
            misses = []
            if ratio > SMALL_FACTOR:
                misses.append(f"> {SMALL_FACTOR}x the 2k page")
            if versus > HEALTHZ_FACTOR:
                misses.append(f"> {HEALTHZ_FACTOR}x /healthz")
            if q_big != q_small:
                misses.append("queries differ")
            if name.startswith("dashboard") and big["bytes"] > DASHBOARD_MAX_BYTES:
                misses.append("over 100 KB")
            if big["statuses"] != {200} or small["statuses"] != {200}:
                misses.append(f"statuses {sorted(big['statuses'] | small['statuses'])}")
            failed |= bool(misses)
            print(
                f"{name:24} {big['p50']:9.1f} {big['p99']:9.1f} {small['p50']:8.1f} {small['p99']:8.1f} "
                f"{ratio:8.2f} {versus:9.1f} {q_big:>4}/{q_small:<4} {big['bytes'] / 1024:8.1f} "
                f"{small['bytes'] / 1024:7.1f}  {'; '.join(misses) or 'ok'}"
            )
        if args.clients:
            gunicorn_stop(gunicorn)
            gunicorn, port = gunicorn_start(env, workers=2, threads=4, log_prefix="bench-scale")
            for label, persona in personas.items():
                raw = raw_request("GET", "/", cookie=persona["cookie"])
                load(port, raw, 200, args.clients, 1)  # warm-up: every worker's threads and connections
                under = load(port, raw, 200, args.clients, args.seconds)
                failed |= bool(under["errors"])
                print(
                    f"dashboard page 1 ({label}), {args.clients} clients for {args.seconds:g} s, gunicorn 2 workers "
                    f"x 4 threads: {under['rps']:.1f} pages/s, p50 {under['p50_ms']:.1f} ms, p99 "
                    f"{under['p99_ms']:.1f} ms, {under['errors']} errors"
                )
        print("result:", "a target was missed" if failed else "every target met")
    finally:
        if gunicorn is not None:
            gunicorn_stop(gunicorn)
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(dsn, db_name)
    return 1 if failed else 0


def _url_patterns():
    from django.urls import get_resolver

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns)
            else:
                yield pattern

    return list(walk(get_resolver().url_patterns))


if __name__ == "__main__":
    sys.exit(main())
