"""The list queries are served by their indexes on PostgreSQL: EXPLAIN names the index, no Sort of the table."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from workvisits import selectors, services
from workvisits.models import Contact, Order, OrderCage, Visitor

from .scale_support import copies

# Committed rows, so that VACUUM can set the visibility map as autovacuum does in production: without it
# the planner prices every index-only read as a heap fetch and the plans are not the production ones.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ORDERS = 20_000


@pytest.fixture(scope="module", autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN plans are PostgreSQL's")  # CI runs on PostgreSQL (conftest refuses anything else)


@pytest.fixture
def many(orderer, globex, make_body):
    """20,000 orders over two years, one in ten Acme's and the others Globex's; analyzed."""
    template = services.order_create(user=orderer, data=make_body())
    now = timezone.now()
    organizations = [orderer.organization_id] + [globex.organization_id] * 9
    copies(
        template,
        ORDERS,
        first_start=now - timedelta(days=700),
        step=timedelta(minutes=53),
        organizations=organizations,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE workvisits_order")
        cursor.execute("VACUUM ANALYZE workvisits_visitor")
    return orderer


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _plan(queryset) -> list[dict]:
    return list(_nodes(json.loads(queryset.explain(format="json"))[0]["Plan"]))


def _sql_plan(sql: str) -> list[dict]:
    """The plan of a query as the production code sent it (captured with its parameters bound)."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    return list(_nodes((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]))


def _uses(nodes, index: str) -> bool:
    return any(n.get("Index Name") == index for n in nodes)


def _shown(nodes) -> list:
    return [(n["Node Type"], n.get("Index Name"), n.get("Plan Rows")) for n in nodes]


def _sorts(nodes) -> list[dict]:
    return [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")]


def _ids(queryset, start=0, stop=20):
    return queryset.values_list("id", flat=True)[start:stop]


def test_the_dashboard_parts_are_read_in_index_order(many):
    orders = selectors.dashboard_orders(user=many, filters=selectors.OrderFilters())
    for query in (_ids(orders.upcoming), _ids(orders.past), _ids(orders.past, 1000, 1020)):
        nodes = _plan(query)
        assert _uses(nodes, "order_org_visit"), _shown(nodes)
        assert not _sorts(nodes), _shown(nodes)


def test_the_api_list_is_read_newest_first_from_its_index(many):
    newest = selectors.orders_for_user(user=many, filters=selectors.OrderFilters()).order_by("-created_at", "-id")
    for query in (_ids(newest), _ids(newest, 1000, 1020)):
        nodes = _plan(query)
        assert _uses(nodes, "order_org_newest"), _shown(nodes)
        assert not _sorts(nodes), _shown(nodes)


def test_a_past_window_reads_only_the_window(many):
    now = timezone.now()
    window = selectors.OrderFilters(visit_start_from=now - timedelta(days=60), visit_start_to=now - timedelta(days=30))
    query = _ids(selectors.orders_for_user(user=many, filters=window).order_by("-created_at", "-id"))
    nodes = _plan(query)
    assert _uses(nodes, "order_org_visit") or _uses(nodes, "order_org_newest"), _shown(nodes)
    for sort in _sorts(nodes):  # a top-N sort of the window's rows at most, never of the organization's
        assert sort["Plan Rows"] < ORDERS / 20, nodes
    assert not any(n["Node Type"] == "Seq Scan" for n in nodes), _shown(nodes)


def test_a_status_filter_uses_the_status_index(many):
    queued = selectors.orders_for_user(user=many, filters=selectors.OrderFilters(statuses=("QUEUED",)))
    nodes = _plan(queued.values("id"))
    assert _uses(nodes, "order_org_status_visit"), _shown(nodes)


def test_the_ibx_choices_probe_the_organization_s_ibx_index(many, globex):
    """For a small organization and for one holding nine orders in ten, with its id a literal as client-side
    binding sends it: a probe of the index per IBX, never a scan of the orders (for the large organization an
    EXISTS per IBX was planned as a scan expecting an early match, and read every row for an IBX it has none
    at)."""
    for user in (many, globex):
        with CaptureQueriesContext(connection) as captured:
            assert selectors.ibx_codes_with_orders(user=user) == ["DC2"]
        (probe,) = captured.captured_queries  # the one query the filter's choices cost
        nodes = _sql_plan(probe["sql"])
        assert _uses(nodes, "order_org_ibx"), _shown(nodes)
        assert not _scans(nodes, "workvisits_order"), _shown(nodes)


def _scans(nodes, table: str) -> list:
    return [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table]


def test_the_searches_read_the_trigram_indexes(many):
    """The dashboard's search box and the Order History's q (one test: the 20,000 orders take a while)."""
    wanted = Order.objects.filter(organization_id=many.organization_id).order_by("id")[500]
    text = wanted.order_id[-7:].lower()  # a part of an order id, in another case
    orders = selectors.dashboard_orders(user=many, filters=selectors.OrderFilters(text=text))
    assert [o.order_id for o in orders[0:20]] == [wanted.order_id]
    for query in (_ids(orders.past), orders.past.order_by().values("id")):  # a page, and the count
        nodes = _plan(query)
        for index in ("order_search_id", "order_search_reference", "visitor_search_first_name"):
            assert _uses(nodes, index), _shown(nodes)
        assert not _scans(nodes, "workvisits_order") and not _scans(nodes, "workvisits_visitor"), _shown(nodes)

    with CaptureQueriesContext(connection) as captured:
        found, total = selectors.order_search_page(
            user=many, search=selectors.OrderSearch(q=wanted.order_id[-6:]), number=0, size=20
        )
    assert [o.order_id for o in found] == [wanted.order_id] and total == 1
    page_ids = next(q["sql"] for q in captured if q["sql"].startswith('SELECT "workvisits_order"."id" AS "id" FROM'))
    nodes = _sql_plan(page_ids)
    for index in ("order_search_id", "order_search_reference", "order_search_upstream_id"):
        assert _uses(nodes, index), _shown(nodes)
    assert not _scans(nodes, "workvisits_order"), _shown(nodes)


@pytest.fixture
def searched(orderer, globex, make_body):
    """20,000 orders with their cages, visitors and contacts (the orderer on every Acme one); analyzed."""
    template = services.order_create(user=orderer, data=make_body())
    copies(
        template,
        ORDERS,
        first_start=timezone.now() - timedelta(days=700),
        step=timedelta(minutes=53),
        organizations=[orderer.organization_id] + [globex.organization_id] * 9,
        parts=(OrderCage, Visitor, Contact),
    )
    with connection.cursor() as cursor:
        for table in ("order", "visitor", "contact"):
            cursor.execute(f"VACUUM ANALYZE workvisits_{table}")
    return template


def _admin_search_plans(client, term: str, starting: tuple[str, ...] = ("SELECT", "(SELECT")) -> tuple[list, list]:
    """The orders the admin's order list shows for `term`, and the plans of the statements it sent that
    start with one of `starting`."""
    with CaptureQueriesContext(connection) as captured:
        page = client.get(reverse("admin:workvisits_order_changelist"), {"q": term})
    assert page.status_code == 200
    statements = [q["sql"] for q in captured if q["sql"].startswith(starting)]
    return list(page.context["cl"].result_list), [_sql_plan(sql) for sql in statements]


def test_the_staff_search_reads_the_trigram_indexes_and_no_table_whole(client, users, searched):
    client.force_login(users["admin"])
    wanted = Order.objects.order_by("id")[5000]
    shown, plans = _admin_search_plans(client, wanted.order_id[-7:].lower())  # part of one order id
    assert [o.order_id for o in shown] == [wanted.order_id]
    used = {n.get("Index Name") for nodes in plans for n in nodes}
    for index in ("order_search_id", "visitor_search_last_name", "contact_search_details"):
        assert index in used, sorted(filter(None, used))
    for nodes in plans:
        for table in ("workvisits_order", "workvisits_visitor", "workvisits_contact"):
            assert not _scans(nodes, table), _shown(nodes)

    # A person on every order: the page's 50 found newest first, each order looked into by its key (no
    # hash of every matching visitor or contact built first), no table read whole. (The probes of each
    # table's matches stop at 1,001 rows, the count at 10,001: they may read a table from its start.)
    page_rows = ('SELECT "workvisits_order"."id", "workvisits_order"."order_id"',)
    shown, plans = _admin_search_plans(client, "olivia", page_rows)
    assert len(plans) == 1 and len(shown) == 50
    assert shown == sorted(shown, key=lambda o: (o.created_at, o.pk), reverse=True)
    for nodes in plans:
        assert not any("hashed SubPlan" in str(n.get("Filter", "")) for n in nodes), _shown(nodes)
        for table in ("workvisits_order", "workvisits_visitor", "workvisits_contact"):
            assert not _scans(nodes, table), _shown(nodes)
