"""The order lists at scale: constant queries, correct pages at the edges, cursors."""

import math
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from workvisits import selectors, services
from workvisits.admin.orders import BoundedCountPaginator
from workvisits.models import Order

from .api_support import Api
from .scale_support import analyze, copies

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:workvisits_order_changelist"


@pytest.fixture
def template(orderer, make_body):
    return services.order_create(user=orderer, data=make_body())


def _orders(template, upcoming: int, past: int) -> None:
    """`upcoming` visits from tomorrow on and `past` visits before now, beside the template (upcoming)."""
    now = timezone.now()
    if upcoming:
        copies(template, upcoming, first_start=now + timedelta(days=1), step=timedelta(hours=5), status="QUEUED")
    if past:
        copies(template, past, first_start=now - timedelta(days=1), step=-timedelta(hours=5))


def _queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.content[:300]
    return len(captured.captured_queries)


def test_the_dashboard_costs_the_same_queries_for_5_and_500_orders(client, orderer, template):
    client.force_login(orderer)
    _orders(template, upcoming=2, past=2)  # page 1 holds upcoming and past visits
    client.get(reverse("dashboard"))
    few = _queries(client, reverse("dashboard"))
    _orders(template, upcoming=8, past=487)
    assert Order.objects.count() == 500
    many = _queries(client, reverse("dashboard"))
    deep = _queries(client, reverse("dashboard"), {"page": 20})
    assert many == few
    assert deep <= few  # a page of past visits only reads one of the two parts


def test_the_api_list_costs_the_same_queries_for_5_and_500_orders(orderer, template):
    api = Api(orderer)
    _orders(template, upcoming=2, past=2)
    with CaptureQueriesContext(connection) as few:
        assert len(api.get("/colocations/v2/orders").json()["content"]) == 5
    _orders(template, upcoming=250, past=245)
    for params in ({}, {"page": 20}, {"status": "CLOSED"}):
        with CaptureQueriesContext(connection) as many:
            body = api.get("/colocations/v2/orders", params).json()
        assert len(many.captured_queries) == len(few.captured_queries), params
        assert len(body["content"]) == 20


def test_the_admin_list_costs_the_same_queries_for_5_and_500_orders(admin_client, orderer, template):
    _orders(template, upcoming=2, past=2)
    few = [_queries(admin_client, reverse(CHANGELIST), p) for p in ({}, {"status__exact": "CLOSED"})]
    _orders(template, upcoming=250, past=245)
    many = [_queries(admin_client, reverse(CHANGELIST), p) for p in ({}, {"status__exact": "CLOSED"})]
    assert many == few


def test_a_long_admin_list_shows_an_estimate_instead_of_counting_every_row(
    admin_client, orderer, template, monkeypatch
):
    _orders(template, upcoming=0, past=599)
    analyze()
    monkeypatch.setattr(BoundedCountPaginator, "EXACT_COUNT_UP_TO", 100)
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(reverse(CHANGELIST))
    count = response.context["cl"].result_count
    assert 500 <= count <= 700  # the planner's estimate of 600 rows
    sql = [q["sql"] for q in captured.captured_queries]
    assert any(s.startswith("EXPLAIN") for s in sql)
    assert not any("COUNT(*)" in s and "LIMIT" not in s for s in sql)  # the count stopped at 101 rows
    # The same page with a short list is counted exactly.
    monkeypatch.setattr(BoundedCountPaginator, "EXACT_COUNT_UP_TO", 10_000)
    assert admin_client.get(reverse(CHANGELIST)).context["cl"].result_count == 600


def test_dashboard_pages_at_the_edges(client, orderer, template):
    client.force_login(orderer)
    _orders(template, upcoming=9, past=35)  # 45 orders: pages of 20, 20 and 5
    seen = []
    for page in (1, 2, 3):
        response = client.get(reverse("dashboard"), {"page": page})
        seen += [o.order_id for o in response.context["page"].object_list]
    assert len(seen) == len(set(seen)) == 45
    starts = [o.visit_start for o in Order.objects.filter(order_id__in=seen)]
    assert len(starts) == 45
    # Upcoming first (soonest first), then past ones (latest first), across page boundaries.
    order = {o.order_id: o.visit_start for o in Order.objects.all()}
    now = timezone.now()
    upcoming = [order[i] for i in seen if order[i] >= now]
    past = [order[i] for i in seen if order[i] < now]
    assert seen[: len(upcoming)] == [i for i in seen if order[i] >= now]
    assert upcoming == sorted(upcoming) and past == sorted(past, reverse=True)
    last = client.get(reverse("dashboard"), {"page": 3})
    assert len(last.context["page"].object_list) == 5
    beyond = client.get(reverse("dashboard"), {"page": 99})
    assert beyond.context["page"].number == 3  # a page past the end shows the last one
    html = beyond.content.decode()
    assert "page=1" in html and "page=2" in html and 'aria-current="page">3<' in html


def test_a_long_dashboard_says_about_how_many_and_a_page_past_the_estimate_shows_the_last_one(
    client, orderer, template, monkeypatch
):
    client.force_login(orderer)
    _orders(template, upcoming=0, past=299)
    analyze()
    monkeypatch.setattr(selectors, "COUNT_EXACTLY_UP_TO", 100)
    response = client.get(reverse("dashboard"))
    paginator = response.context["page"].paginator
    assert 200 <= paginator.count <= 400  # the planner's estimate ("About"), not a count
    assert f"About {paginator.count} work visits" in response.content.decode()
    # A third of the past visits go; the planner still estimates about 300 until the next ANALYZE.
    gone = Order.objects.filter(visit_start__lt=timezone.now()).order_by("visit_start").values("pk")[:100]
    Order.objects.filter(pk__in=gone).delete()
    last = client.get(reverse("dashboard"), {"page": 99})
    page = last.context["page"]
    assert page.paginator.count == 200 and page.number == 10 and len(page.object_list) == 20
    html = last.content.decode()
    assert "200 work visits" in html and "About" not in html and "No work visits match" not in html


def test_a_dashboard_search_matches_the_upcoming_visits_once_for_their_count_and_page(client, orderer, template):
    client.force_login(orderer)
    _orders(template, upcoming=30, past=30)
    wanted = Order.objects.filter(visit_start__gt=timezone.now()).order_by("visit_start")[3]
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("dashboard"), {"q": wanted.order_id})
    assert [o.order_id for o in response.context["page"].object_list] == [wanted.order_id]
    assert "1 work visit," in response.content.decode()
    upcoming = [q["sql"] for q in captured.captured_queries if '"visit_end" >=' in q["sql"]]
    assert len(upcoming) == 1 and "OVER ()" in upcoming[0]  # the count and the page's ids in one statement


def test_the_dashboard_links_a_few_pages_not_every_page(client, orderer, template):
    client.force_login(orderer)
    _orders(template, upcoming=0, past=999)  # 50 pages
    html = client.get(reverse("dashboard"), {"page": 25}).content.decode()
    assert html.count('class="page-link"') < 15
    assert "page=50" in html and "page=1" in html and "…" in html


def test_a_long_api_list_gives_an_estimated_total_and_says_so(orderer, template, monkeypatch):
    api = Api(orderer)
    _orders(template, upcoming=0, past=299)  # 300 orders
    analyze()
    monkeypatch.setattr(selectors, "COUNT_EXACTLY_UP_TO", 100)
    listing = api.get("/colocations/v2/orders").json()
    pagination = listing["pagination"]
    assert pagination["totalCountExact"] is False and 101 <= pagination["totalCount"] <= 600
    assert pagination["totalPages"] == math.ceil(pagination["totalCount"] / 20) and len(listing["content"]) == 20
    history = api.post("/v1/retrieve-orders", {"page": {"number": 0, "size": 20}}).json()
    assert 101 <= history["page"]["totalElements"] <= 600 and len(history["content"]) == 20
    monkeypatch.setattr(selectors, "COUNT_EXACTLY_UP_TO", 1000)
    exact = api.get("/colocations/v2/orders").json()["pagination"]
    assert (exact["totalCount"], exact["totalCountExact"]) == (300, True)


def test_a_list_estimated_far_past_the_bound_is_not_counted_only_probed(orderer, template, monkeypatch):
    api = Api(orderer)
    _orders(template, upcoming=0, past=299)  # 300 orders
    analyze()
    monkeypatch.setattr(selectors, "COUNT_EXACTLY_UP_TO", 10)  # an estimate of about 300: 30 times the bound
    with CaptureQueriesContext(connection) as captured:
        pagination = api.get("/colocations/v2/orders").json()["pagination"]
    assert pagination["totalCountExact"] is False and 200 <= pagination["totalCount"] <= 400
    counts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT COUNT(*)")]
    assert len(counts) == 1 and counts[0].endswith("LIMIT 1) subquery")  # one row probed, none counted
    # Every order gone, the planner's estimate still about 300 until the next ANALYZE: the probe finds
    # no row and the list says it is empty, not "about 300".
    Order.objects.all().delete()
    listing = api.get("/colocations/v2/orders").json()
    assert listing["content"] == [] and listing["pagination"]["totalCount"] == 0
    assert listing["pagination"]["totalCountExact"] is True


def test_api_pages_at_the_edges(orderer, template):
    api = Api(orderer)
    _orders(template, upcoming=0, past=44)  # 45 orders
    last = api.get("/colocations/v2/orders", {"page": 3}).json()
    assert len(last["content"]) == 5
    assert last["pagination"] == {"page": 3, "size": 20, "totalCount": 45, "totalPages": 3, "totalCountExact": True}
    beyond = api.get("/colocations/v2/orders", {"page": 4})
    assert beyond.status_code == 200 and beyond.json()["content"] == []
    assert beyond.json()["pagination"]["totalCount"] == 45
    by_page = [
        o["orderId"] for p in (1, 2, 3) for o in api.get("/colocations/v2/orders", {"page": p}).json()["content"]
    ]
    assert len(set(by_page)) == 45


def _follow(api, params):
    """Every order, page after page by the Link rel=next cursor."""
    ids, url, pages = [], "/colocations/v2/orders", 0
    while url:
        response = api.get(url, params if pages == 0 else None)
        assert response.status_code == 200, response.content
        ids += [o["orderId"] for o in response.json()["content"]]
        pages += 1
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
    return ids, pages


def test_cursor_pages_give_every_order_once_newest_first(orderer, template):
    api = Api(orderer)
    _orders(template, upcoming=10, past=34)
    ids, pages = _follow(api, {"size": 10})
    by_page = [
        o["orderId"]
        for p in range(1, 6)
        for o in api.get("/colocations/v2/orders", {"page": p, "size": 10}).json()["content"]
    ]
    assert ids == by_page and len(ids) == 45 and pages == 5
    first = api.get("/colocations/v2/orders", {"size": 10})
    cursor = first.headers["Link"].split("cursor=")[1].split(">")[0]
    second = api.get("/colocations/v2/orders", {"size": 10, "cursor": cursor}).json()
    assert second["pagination"]["page"] is None and second["pagination"]["totalCount"] == 45


def test_a_cursor_stays_valid_when_its_order_is_deleted(orderer, template):
    api = Api(orderer)
    _orders(template, upcoming=0, past=29)  # 30 orders
    first = api.get("/colocations/v2/orders", {"size": 10})
    page_one = [o["orderId"] for o in first.json()["content"]]
    expected = [o["orderId"] for o in api.get("/colocations/v2/orders", {"size": 10, "page": 2}).json()["content"]]
    Order.objects.filter(order_id=page_one[-1]).delete()  # the order the cursor points after
    link = first.headers["Link"]
    response = api.get(link[1 : link.index(">")])
    assert response.status_code == 200
    assert [o["orderId"] for o in response.json()["content"]] == expected


@pytest.mark.parametrize("params", [{"cursor": "not-a-cursor"}, {"cursor": "MjAyNnwx"}, {"cursor": "x", "page": 2}])
def test_a_bad_cursor_is_a_400_at_its_parameter(orderer, template, params):
    response = Api(orderer).get("/colocations/v2/orders", params)
    assert response.status_code == 400
    info = response.json()[0]["additionalInfo"][0]
    assert info["property"] == ("page" if "page" in params else "cursor")


def test_order_history_pages_read_ids_first_and_hold_at_the_edges(orderer, template):
    _orders(template, upcoming=5, past=39)  # 45 orders
    search = selectors.OrderSearch()
    everything = [o.order_id for o in selectors.order_search_page(user=orderer, search=search, number=0, size=100)[0]]
    assert len(set(everything)) == 45
    pages = [selectors.order_search_page(user=orderer, search=search, number=n, size=20) for n in range(4)]
    assert [total for _, total in pages] == [45] * 4
    assert [len(rows) for rows, _ in pages] == [20, 20, 5, 0]  # the last page, then one past the end
    assert [o.order_id for rows, _ in pages for o in rows] == everything
    by_status = selectors.OrderSearch(statuses=frozenset({"QUEUED"}), sorts=(("createdAt", False),))
    rows, total = selectors.order_search_page(user=orderer, search=by_status, number=0, size=3)
    expected = selectors.order_search_page(user=orderer, search=by_status, number=0, size=100)[0][:3]
    assert total == 6 and rows == expected
    with CaptureQueriesContext(connection) as captured:  # the parts came with the page
        assert all(o.parts("cages")[0].cage.cage_id and o.parts("visitors")[0].name for o in rows)
    assert not captured.captured_queries


def _typed_in(orderer, make_body, last_name: str) -> None:
    body = make_body()
    body["details"]["visitors"] = [
        {
            "firstName": "Rhea",
            "lastName": last_name,
            "companyName": "Fixit Ltd",
            "details": [{"type": "EMAIL", "value": "rhea@fixit.example"}],
        }
    ]
    services.order_create(user=orderer, data=body)


def test_the_wizard_offers_the_people_of_the_latest_orders_only(orderer, make_body, monkeypatch):
    _typed_in(orderer, make_body, "Long-ago")
    for _ in range(3):  # later orders without anyone typed in
        services.order_create(user=orderer, data=make_body())
    _typed_in(orderer, make_body, "Recent")
    _typed_in(orderer, make_body, "Recent")  # the same person again: offered once
    monkeypatch.setattr(selectors, "RECENT_ORDERS", 5)
    offered = selectors.recent_visitors(user=orderer)
    assert [v.last_name for v in offered] == ["Recent"]
    assert offered[0].order.created_at == Order.objects.latest("created_at").created_at  # the latest of the two
    monkeypatch.setattr(selectors, "RECENT_ORDERS", 200)
    assert [v.last_name for v in selectors.recent_visitors(user=orderer)] == ["Recent", "Long-ago"]
