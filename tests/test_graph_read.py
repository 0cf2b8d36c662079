"""The submission's read of an order in one statement (workvisits.graph_read, selectors.order_for_submission):
the same order, parts and series occurrence the ORM's prefetches read, in one query whatever the number of
parts, and nothing more read by the upstream bodies and the emails that use it."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection, models
from django.test.utils import CaptureQueriesContext, isolate_apps

from workvisits import graph_read, notifications, selectors, series, services
from workvisits.models import Attachment, Order, SeriesOccurrence
from workvisits.upstream import payloads

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the one statement needs PostgreSQL"),
]


def _rich_body(make_body, visitors: int = 1, **overrides) -> dict:
    body = make_body(**overrides)
    body["details"]["cages"].append({"id": "DC2:01:123457", "accountNumber": "1234567890"})  # no cabinet
    body["details"]["visitors"] += [
        {
            "firstName": f"Jane{i}",
            "lastName": "Doe",
            "companyName": "Vendor Ltd",
            "details": [{"type": "EMAIL", "value": f"jane{i}@example.com"}],
        }
        for i in range(visitors)
    ]
    body["contacts"] = [
        {
            "type": "TECHNICAL",
            "firstName": "Tom",
            "lastName": "Tech",
            "details": [{"type": "EMAIL", "value": "tom@example.com"}, {"type": "PHONE", "value": "+15550100"}],
        },
        {"type": "NOTIFICATION", "registeredUsers": ["viewer"]},
    ]
    return body


def _attach(order: Order, name: str) -> Attachment:
    return Attachment.objects.create(
        organization_id=order.organization_id,
        uploaded_by=order.ordered_by,
        order=order,
        name=name,
        file=f"attachments/{order.organization_id}/{name}",
        size=10,
        content_type="application/pdf",
    )


def _fields(obj) -> dict | None:
    return None if obj is None else {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _everything(order: Order) -> dict:
    """Every value the submission can reach from the order, through the accessors its consumers use."""
    occurrence = order.occurrence()
    return {
        "order": _fields(order),
        "joined": [_fields(order.ibx), _fields(order.organization), _fields(order.ordered_by)],
        "cages": [(_fields(p), _fields(p.cage), _fields(p.account), _fields(p.cabinet)) for p in order.parts("cages")],
        "visitors": [(_fields(v), _fields(v.user), v.name, v.email) for v in order.parts("visitors")],
        "contacts": sorted(
            ((_fields(c), _fields(c.user), c.name, c.email) for c in order.parts("contacts")), key=lambda t: t[0]["id"]
        ),
        "attachments": [(_fields(a), a.file.name) for a in order.parts("attachments")],
        "occurrence": (_fields(occurrence), _fields(occurrence.series)) if occurrence else None,
    }


def test_the_one_statement_reads_what_the_orm_reads(orderer, make_body):
    order = services.order_create(user=orderer, data=_rich_body(make_body, visitors=2))
    _attach(order, "b-second.pdf")
    _attach(order, "a-first.pdf")

    with CaptureQueriesContext(connection) as queries:
        read = selectors.order_for_submission(order.pk)
    assert len(queries.captured_queries) == 1

    expected = _everything(selectors.order_with_parts(order.pk))
    assert _everything(read) == expected
    assert [a.name for a in read.parts("attachments")] == ["b-second.pdf", "a-first.pdf"]  # upload order
    assert [p.cabinet is None for p in read.parts("cages")] == [False, True]
    assert read.occurrence() is None
    assert read.ibx.code == "DC2" and read.ordered_by.username == "orderer"


def test_a_page_of_orders_reads_what_the_orm_reads_and_makes_each_joined_object_once(orderer, make_body):
    first = services.order_create(user=orderer, data=_rich_body(make_body, visitors=2))
    second = services.order_create(user=orderer, data=_rich_body(make_body, description="Second visit to the cage."))

    with CaptureQueriesContext(connection) as queries:
        page = selectors.order_list_page(user=orderer, filters=selectors.OrderFilters())
    read = {o.pk: o for o in page.orders}
    assert sum("json_build_array" in q["sql"] for q in queries.captured_queries) == 1  # the rows: one statement
    for order in (first, second):
        assert _everything(read[order.pk]) == _everything(selectors.order_with_parts(order.pk))
    assert read[second.pk].description == "Second visit to the cage."
    # The IBX, the cages and the people both orders name are one object each in the read.
    assert read[first.pk].ibx is read[second.pk].ibx
    assert read[first.pk].ordered_by is read[second.pk].ordered_by
    cages = [p.cage for o in read.values() for p in o.parts("cages")]
    assert len({id(c) for c in cages}) == len({c.pk for c in cages}) == 2
    viewer = [c.user for o in read.values() for c in o.parts("contacts") if c.user_id]
    assert len(viewer) == 2 and viewer[0] is viewer[1] and viewer[0].username == "viewer"


def test_a_series_occurrence_is_read_with_its_series(orderer, make_body):
    start = datetime(2027, 1, 5, 14, 0, tzinfo=UTC)
    with time_machine.travel(datetime(2026, 12, 22, 15, 0, tzinfo=UTC), tick=False):
        body = make_body(start=start, hours=3)
        body["recurrence"] = "FREQ=WEEKLY;COUNT=3"
        created = series.series_create(user=orderer, data=body)  # the first visit is due: its order now
    occurrence = SeriesOccurrence.objects.get(series=created, order__isnull=False)

    read = selectors.order_for_submission(occurrence.order_id)

    assert _everything(read) == _everything(selectors.order_with_parts(occurrence.order_id))
    assert read.occurrence().pk == occurrence.pk and read.occurrence().series.invite_uid == created.invite_uid
    assert notifications.series_instance(read).recurrence_id == occurrence.recurrence_start


@pytest.mark.parametrize("parts", [1, 20])
def test_the_bodies_and_emails_read_nothing_more(orderer, make_body, parts, mailoutbox):
    order = services.order_create(user=orderer, data=_rich_body(make_body, visitors=parts))
    read = selectors.order_for_submission(order.pk)
    history = notifications.order_history(order.pk)

    with CaptureQueriesContext(connection) as queries:
        body = payloads.create_body(read, [], None)
        payloads.modify_body(read)
        people = notifications.recipients(read)
        sent = notifications.notify_order(order.pk, order=read, history=history)
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert reads == []  # the emails' writes only (their claims, their events)
    assert len(body["details"]["visitors"]) == parts + 1
    assert {f"jane{i}@example.com" for i in range(parts)} <= {p.email for p in people}
    assert sent == len(people) == len(mailoutbox)
    assert f"Jane{parts - 1} Doe" in mailoutbox[0].body and "DC2:01:123457" in mailoutbox[0].body


def test_an_order_that_is_not_there(db):
    with pytest.raises(Order.DoesNotExist):
        selectors.order_for_submission(10**9)


def test_switched_off_the_orm_reads_the_same(orderer, make_body, settings):
    order = services.order_create(user=orderer, data=_rich_body(make_body))
    _attach(order, "plan.pdf")
    one = _everything(selectors.order_for_submission(order.pk))
    settings.ORDER_READ_ONE_STATEMENT = False
    with CaptureQueriesContext(connection) as queries:
        read = selectors.order_for_submission(order.pk)
    assert len(queries.captured_queries) == 5  # the order with its joins, then one prefetch per set of parts
    assert _everything(read) == one
    assert not hasattr(read, "read_parts")


@isolate_apps("workvisits")
def test_a_part_whose_values_json_cannot_carry_is_refused_not_read_inexactly():
    class Priced(models.Model):  # a part with a decimal, as a future one might have
        order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+")
        price = models.DecimalField(max_digits=12, decimal_places=2)

        class Meta:
            app_label = "workvisits"

        def __str__(self):
            return str(self.price)

    with pytest.raises(NotImplementedError, match="price"):
        graph_read.read_graphs(Order, [1], children=[graph_read.Children("priced", Priced, "order")])
