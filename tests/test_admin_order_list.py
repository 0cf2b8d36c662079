"""The order list and page of the admin: the columns reviewers read, search, filters, the inlines,
and a constant number of queries however many orders there are."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.admin_helpers import CHANGELIST, order_in
from workvisits import selectors, services
from workvisits.choices import OrderStatus
from workvisits.models import Order, OrderCage, OrderEvent, Organization, Visitor


@pytest.fixture
def admin_client_(client, users):
    client.force_login(users["admin"])
    return client


def _listed(page) -> list[str]:
    return [o.order_id for o in page.context["cl"].result_list]


def test_the_list_shows_the_visit_in_the_ibx_time_with_the_zone_named(admin_client_, orderer, make_body):
    # Next January 15th (within the year a visit may be ordered ahead), 09:00 in Ashburn (EST).
    now = datetime.now(UTC)
    year = now.year + 1 if now >= datetime(now.year, 1, 10, tzinfo=UTC) else now.year
    start = datetime(year, 1, 15, 14, 0, tzinfo=UTC)
    order = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body, start=start, hours=4)
    page = admin_client_.get(CHANGELIST)
    html = page.content.decode()
    assert f"{year}-01-15 09:00–13:00 America/New_York (EST)" in html
    for shown in (order.order_id, "Acme Corp", "DC2:01:123456", "Olivia Orderer", "Waiting for review"):
        assert shown in html


def test_a_row_names_its_cages_and_first_three_visitors_in_the_order_entered(admin_client_, orderer, make_body):
    body = make_body()
    for first in ("Ann", "Ben", "Cy", "Dee"):
        body["details"]["visitors"].append(
            {
                "firstName": first,
                "lastName": "Vendor",
                "companyName": "Vendor Ltd",
                "details": [{"type": "EMAIL", "value": f"{first}@vendor.example"}],
            }
        )
    order = services.order_create(user=orderer, data=body)
    row = next(line for line in admin_client_.get(CHANGELIST).content.decode().split("<tr") if order.order_id in line)
    assert "Acme Corp · DC2:01:123456" in row
    assert "Olivia Orderer, Ann Vendor, Ben Vendor and 2 more" in row
    # The same cells in a search's results (a search that joins the visitors).
    assert (
        "Olivia Orderer, Ann Vendor, Ben Vendor and 2 more"
        in admin_client_.get(CHANGELIST, {"q": "Vendor"}).content.decode()
    )


@pytest.fixture
def searched_orders(orderer, make_body):
    """Orders with something to find in each searched place: the order's own columns, a typed-in visitor's
    and contact's name and details, registered visitors and contacts (by username, name and email)."""
    visitor = {
        "firstName": "Jane",
        "lastName": "Doe",
        "companyName": "Fixit BV",
        "details": [{"type": "EMAIL", "value": "jane@fixit.example"}],
    }
    body = make_body(customerReferenceId="PO-SEARCH-77")
    body["details"]["visitors"].append(visitor)
    contact = {
        "type": "TECHNICAL",
        "firstName": "Ann",
        "lastName": "Tech",
        "details": [{"type": "EMAIL", "value": "ann@tech.example"}, {"type": "PHONE", "value": "+44 20 7946 0018"}],
    }
    return [
        services.order_create(user=orderer, data=body),
        services.order_create(user=orderer, data=make_body(contacts=[contact])),
        order_in(
            OrderStatus.QUEUED, orderer, make_body, contacts=[{"type": "NOTIFICATION", "registeredUsers": ["viewer"]}]
        ),
        order_in(OrderStatus.FAILED, orderer, make_body, customerReferenceId="Doe-ref"),
    ]


def test_search_finds_orders_by_reference_visitor_and_contact(admin_client_, searched_orders):
    with_visitor, with_typed_contact, with_registered_contact, doe_reference = searched_orders
    for query, expected in (
        ("PO-SEARCH-77", {with_visitor}),
        ("jane@fixit.example", {with_visitor}),
        ("Doe", {with_visitor, doe_reference}),
        ("7946 0018", {with_typed_contact}),
        ("viewer@acme.example", {with_registered_contact}),
        ("Victor", {with_registered_contact}),
        (doe_reference.order_id.lower(), {doe_reference}),
    ):
        assert set(_listed(admin_client_.get(CHANGELIST, {"q": query}))) == {o.order_id for o in expected}, query


def test_filters_status_ibx_organization_visit_date_and_needs_an_operator(admin_client_, orderer, make_body):
    waiting = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    failed = order_in(OrderStatus.FAILED, orderer, make_body, start=timezone.now() + timedelta(days=10))
    stuck = order_in(OrderStatus.QUEUED, orderer, make_body)
    Order.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    fresh = order_in(OrderStatus.QUEUED, orderer, make_body)
    assert _listed(admin_client_.get(CHANGELIST, {"status__exact": "PENDING_REVIEW"})) == [waiting.order_id]
    assert set(_listed(admin_client_.get(CHANGELIST, {"problem": "any"}))) == {failed.order_id, stuck.order_id}
    assert _listed(admin_client_.get(CHANGELIST, {"problem": "stuck"})) == [stuck.order_id]
    Order.objects.filter(pk=failed.pk).update(last_error="upstream answered 503 five times")
    assert "upstream answered 503 five times" in admin_client_.get(CHANGELIST, {"problem": "failed"}).content.decode()
    assert _listed(admin_client_.get(CHANGELIST, {"visit": "later"})) == [failed.order_id]
    assert fresh.order_id in _listed(admin_client_.get(CHANGELIST, {"visit": "week"}))
    dc2 = waiting.ibx_id
    assert len(_listed(admin_client_.get(CHANGELIST, {"ibx__id__exact": dc2}))) == 4
    assert _listed(admin_client_.get(CHANGELIST, {"organization__id__exact": waiting.organization_id + 999})) == []


def test_the_order_page_shows_its_parts_timeline_and_upstream_exchange_read_only(admin_client_, orderer, make_body):
    order = order_in(OrderStatus.SUBMITTED, orderer, make_body)
    Order.objects.filter(pk=order.pk).update(
        upstream_payload={"description": "sent as is"}, upstream_response={"orderId": "1-99887766"}
    )
    page = admin_client_.get(reverse("admin:workvisits_order_change", args=[order.pk]))
    html = page.content.decode()
    for shown in ("DC2:01:123456:0101", "Olivia Orderer", "Technical", "Order placed", "1-99887766", "sent as is"):
        assert shown in html, shown
    assert 'name="upstream_payload"' not in html and 'name="upstream_response"' not in html


def _bulk_orders(template: Order, count: int) -> None:
    """Copies of an order made through the service, with their cages, visitors and an event."""
    cage = template.cages.get()
    orders = Order.objects.bulk_create(
        [
            Order(
                organization_id=template.organization_id,
                ibx_id=template.ibx_id,
                ordered_by_id=template.ordered_by_id,
                description=template.description,
                visit_start=template.visit_start,
                visit_end=template.visit_end,
                status=OrderStatus.QUEUED,
            )
            for _ in range(count)
        ]
    )
    OrderCage.objects.bulk_create(
        [
            OrderCage(order=o, cage_id=cage.cage_id, account_id=cage.account_id, cabinet_id=cage.cabinet_id)
            for o in orders
        ]
    )
    Visitor.objects.bulk_create(
        [Visitor(order=o, user_id=template.ordered_by_id) for o in orders]
        + [Visitor(order=o, first_name="Jane", last_name="Doe") for o in orders]
    )
    OrderEvent.objects.bulk_create([OrderEvent(order=o, kind="CREATED", to_status="QUEUED") for o in orders])


def _queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params or {}).status_code == 200
    return len(queries)


def test_the_order_list_costs_the_same_queries_for_5_and_500_orders(admin_client_, orderer, make_body):
    first = order_in(OrderStatus.QUEUED, orderer, make_body)
    _bulk_orders(first, 4)
    few = {params: _queries(admin_client_, CHANGELIST, dict(params)) for params in ((), (("q", "Doe"),))}
    _bulk_orders(first, 495)
    assert Order.objects.count() == 500
    many = {params: _queries(admin_client_, CHANGELIST, dict(params)) for params in ((), (("q", "Doe"),))}
    assert many == few


@pytest.mark.parametrize(
    "url",
    [
        "admin:workvisits_cage_changelist",
        "admin:workvisits_cabinet_changelist",
        "admin:workvisits_orderinggrant_changelist",
        "admin:workvisits_user_changelist",
        "admin:workvisits_ibx_changelist",
        "admin:workvisits_upstreamcall_changelist",
        "admin:workvisits_sentnotification_changelist",
    ],
)
def test_other_list_pages_cost_a_constant_number_of_queries(admin_client_, orderer, make_body, url):
    from workvisits.models import SentNotification, UpstreamCall

    order = order_in(OrderStatus.QUEUED, orderer, make_body)
    UpstreamCall.objects.create(order=order, method="POST", url="/x", status_code=201)
    SentNotification.objects.create(order=order, notice="submitted", recipient="a@acme.example")
    before = _queries(admin_client_, reverse(url))
    for i in range(20):
        other = order_in(OrderStatus.QUEUED, orderer, make_body)
        UpstreamCall.objects.create(order=other, method="POST", url=f"/x{i}", status_code=201)
        SentNotification.objects.create(order=other, notice="submitted", recipient=f"{i}@acme.example")
    assert _queries(admin_client_, reverse(url)) == before


def _rows_both_ways(page) -> tuple[str, str]:
    """The list's table as the admin's own `{% result_list %}` writes it, and as the page's does."""
    from django.template import Context, Template

    context = Context({"cl": page.context["cl"], "opts": page.context["cl"].opts})
    admins = Template("{% load admin_list %}{% result_list cl %}").render(context)
    ours = Template("{% load admin_rows %}{% order_result_list cl %}").render(context)
    return admins, ours


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"problem": "any"},  # the operators' four more columns: attempts, a time, the error
        {"o": "-3.1"},  # sorted by the visit, then the order id
        {"_popup": "1"},  # a popup's list links its first column: the admin's own rows
        {"q": "Vendor"},
    ],
)
def test_the_list_rows_are_the_admins_own_html(admin_client_, orderer, make_body, params):
    body = make_body(description="  ")
    body["details"]["visitors"].append(
        {
            "firstName": "Ann",
            "lastName": "<b>Vendor</b>",
            "companyName": "V & Co",
            "details": [{"type": "EMAIL", "value": "ann@vendor.example"}],
        }
    )
    services.order_create(user=orderer, data=body)
    failed = order_in(OrderStatus.FAILED, orderer, make_body)
    Order.objects.filter(pk=failed.pk).update(
        last_error="upstream answered <503> & gave up", submit_attempts=5, first_attempt_at=timezone.now()
    )
    order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    stuck = order_in(OrderStatus.QUEUED, orderer, make_body)  # never tried: no first attempt, no error
    Order.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    page = admin_client_.get(CHANGELIST, params)
    admins, ours = _rows_both_ways(page)
    assert admins.count("<tr>") >= 2
    assert ours == admins
    assert ours in page.content.decode()
    if params.get("problem"):
        assert "upstream answered &lt;503&gt; &amp; gave up" in ours
        assert '<td class="field-first_attempt_at nowrap">-</td>' in ours  # the admin's empty value


def _admins_own_search(term: str) -> set[str]:
    """The orders Django's own admin search (ModelAdmin.get_search_results, the joins) finds for `term`."""
    from django.contrib import admin
    from django.test import RequestFactory

    order_admin = admin.site.get_model_admin(Order)
    found, duplicates = admin.ModelAdmin.get_search_results(
        order_admin, RequestFactory().get(CHANGELIST), Order.objects.all(), term
    )
    return set((found.distinct() if duplicates else found).values_list("order_id", flat=True))


SEARCH_TERMS = [
    "PO-SEARCH-77",  # a reference, whole
    "search-7",  # part of it, in another case
    "jane@fixit.example",  # a typed-in visitor's email (details)
    "Doe",  # a visitor's last name and another order's reference
    "ann",  # a typed-in contact's first name (and any other "ann" in the orders)
    "7946 0018",  # part of a contact's phone
    "viewer@acme.example",  # a registered contact's email
    "Victor",  # a registered contact's first name
    "olivia",  # the orderer: a registered visitor and contact on every order
    "orderer",  # their username
    '"Jane Doe"',  # a quoted phrase is one word: in no single column
    "jane doe",  # two words, both in the same visitor
    "nowhere-to-be-found",
]


@pytest.mark.parametrize("term", SEARCH_TERMS)
def test_the_list_search_finds_what_the_admins_own_search_finds(admin_client_, searched_orders, term):
    page = admin_client_.get(CHANGELIST, {"q": term})
    assert page.status_code == 200
    assert set(_listed(page)) == _admins_own_search(term), term


@pytest.mark.parametrize("term", ["olivia", "orderer", "ann", "e"])
def test_a_word_found_in_many_rows_is_looked_for_order_by_order_with_the_same_result(
    admin_client_, searched_orders, term, monkeypatch
):
    monkeypatch.setattr(selectors, "STAFF_SEARCH_KEYS_UP_TO", 1)  # every table's matches count as many
    assert set(_listed(admin_client_.get(CHANGELIST, {"q": term}))) == _admins_own_search(term), term


def _globex_order(globex, make_body) -> Order:
    body = make_body()
    body["details"]["cages"] = [{"id": "DC2:02:300300", "accountNumber": "3000000001"}]
    body["details"]["visitors"] = [{"registeredUsers": ["globex"]}]
    return services.order_create(user=globex, data=body)


def test_the_organization_filters_neither_read_nor_show_every_organization(admin_client_, orderer, make_body):
    order_in(OrderStatus.QUEUED, orderer, make_body)
    before = admin_client_.get(CHANGELIST).content.decode()
    Organization.objects.bulk_create([Organization(name=f"Extra customer {i:03d}") for i in range(300)])
    with CaptureQueriesContext(connection) as captured:
        after = admin_client_.get(CHANGELIST).content.decode()
    assert "Extra customer" not in after
    assert not any("Extra customer" in str(q) or '"workvisits_organization"."name" FROM' in q["sql"] for q in captured)
    assert abs(len(after) - len(before)) < 200  # the same page (its token and times aside)
    assert 'name="organization_name"' in after  # a text box instead


def test_typing_part_of_a_name_narrows_the_list_and_keeps_the_other_filters(admin_client_, orderer, globex, make_body):
    acme = order_in(OrderStatus.QUEUED, orderer, make_body)
    other = _globex_order(globex, make_body)
    assert set(_listed(admin_client_.get(CHANGELIST))) == {acme.order_id, other.order_id}
    assert _listed(admin_client_.get(CHANGELIST, {"organization_name": "GLOB"})) == [other.order_id]
    assert _listed(admin_client_.get(CHANGELIST, {"organization_name": "nobody"})) == []
    page = admin_client_.get(CHANGELIST, {"organization_name": "acme", "status__exact": "QUEUED", "q": "WV", "p": "1"})
    html = page.content.decode()
    assert _listed(page) == [acme.order_id]
    # The text box's form sends the list's filters and search along, not its page.
    form = html[html.index('<form method="get" class="text-filter">') :].split("</form>")[0]
    assert '<input type="hidden" name="status__exact" value="QUEUED">' in form
    assert '<input type="hidden" name="q" value="WV">' in form
    assert 'name="p"' not in form and 'value="acme"' in form


def test_a_link_to_one_organizations_orders_shows_it_chosen_and_how_to_remove_it(
    admin_client_, orderer, globex, make_body
):
    acme = order_in(OrderStatus.QUEUED, orderer, make_body)
    _globex_order(globex, make_body)
    page = admin_client_.get(CHANGELIST, {"organization__id__exact": acme.organization_id})
    assert _listed(page) == [acme.order_id]
    html = page.content.decode()
    assert '<li class="selected">' in html and "Acme Corp</a></li>" in html
    assert admin_client_.get(CHANGELIST, {"organization__id__exact": "²"}).status_code == 302  # the admin's ?e=1


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("admin:workvisits_user_changelist", "organization_name"),
        ("admin:workvisits_cage_changelist", "organization_name"),
        ("admin:workvisits_account_changelist", "organization_name"),
        ("admin:workvisits_webhookendpoint_changelist", "organization_name"),
        ("admin:workvisits_orderinggrant_changelist", "user__organization_name"),
    ],
)
def test_every_list_filtered_by_organization_takes_part_of_its_name(admin_client_, users, url, name):
    everyone = admin_client_.get(reverse(url))
    assert everyone.status_code == 200 and f'name="{name}"' in everyone.content.decode()
    globex = admin_client_.get(reverse(url), {name: "globex"})
    nobody = admin_client_.get(reverse(url), {name: "no such organization"})
    assert globex.status_code == nobody.status_code == 200
    assert nobody.context["cl"].result_count == 0
    assert globex.context["cl"].result_count <= everyone.context["cl"].result_count
