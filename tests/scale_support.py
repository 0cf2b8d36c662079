"""Many orders in one statement: copies of an order placed through the service, spread over time."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection

from workvisits.models import Order, OrderCage, Visitor

_COPIED_AS_THEY_ARE = {"id", "order_id", "submission_key", "visit_start", "visit_end", "created_at", "updated_at"}
_COPIED_AS_THEY_ARE |= {"upstream_order_id", "status"}


def copies(
    template: Order,
    n: int,
    *,
    first_start: datetime,
    step: timedelta,
    status: str = "CLOSED",
    organizations: list[int] | None = None,
    parts: tuple = (OrderCage, Visitor),
) -> None:
    """`n` copies of `template` with its `parts` (by default its cages and visitors), the k-th visit starting at
    first_start + k * step, each placed a day before its visit but never later than now; the k-th of
    organizations[k % len] (by default the template's)."""
    organizations = organizations or [template.organization_id]
    columns = [
        f.column for f in Order._meta.concrete_fields if f.column not in _COPIED_AS_THEY_ARE | {"organization_id"}
    ]
    listed = ", ".join(columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO workvisits_order ({listed}, organization_id, order_id, submission_key, status, visit_start,
                visit_end, created_at, updated_at)
            SELECT {listed}, (%s::bigint[])[1 + g %% %s], 'WV-C' || lpad((%s + g)::text, 9, '0'), gen_random_uuid(), %s,
                   %s + g * %s, %s + g * %s + interval '4 hours',
                   LEAST(%s + g * %s - interval '1 day', now()), now()
            FROM workvisits_order CROSS JOIN generate_series(1, %s) AS g WHERE id = %s
            """,  # noqa: S608 (column names from the model)
            [
                organizations,
                len(organizations),
                _next_copy(),
                status,
                first_start,
                step,
                first_start,
                step,
                first_start,
                step,
                n,
                template.pk,
            ],
        )
        for model in parts:
            table = model._meta.db_table
            fields = ", ".join(f.column for f in model._meta.concrete_fields if f.column not in ("id", "order_id"))
            cursor.execute(
                f"""
                INSERT INTO {table} (order_id, {fields})
                SELECT o.id, {", ".join(f"p.{f.strip()}" for f in fields.split(","))}
                FROM workvisits_order o JOIN {table} p ON p.order_id = %s
                WHERE o.order_id LIKE 'WV-C%%' AND NOT EXISTS (SELECT 1 FROM {table} q WHERE q.order_id = o.id)
                """,  # noqa: S608
                [template.pk],
            )


def _next_copy() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM workvisits_order WHERE order_id LIKE 'WV-C%'")
        return cursor.fetchone()[0]


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE workvisits_order")
