"""One statement for an order and its parts (workvisits.graph_insert): the rows the ORM would store,
in one round trip, all or nothing; and order_create on top of it, inside and outside a transaction."""

import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from workvisits import graph_insert, services, tasks
from workvisits.choices import ContactType, EventKind, OrderStatus
from workvisits.models import Account, Cabinet, Cage, Contact, Order, OrderCage, OrderEvent, User, Visitor

# The one statement is PostgreSQL's; other databases take the ORM's path (the tests below compare them).
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the one statement needs PostgreSQL")

# Set from the instances on purpose (random or clock values): compared between instance and row only.
_GENERATED = {"id", "order_id", "submission_key", "created_at", "updated_at"}


def _graph(orderer, visitors=1):
    """A new order of the demo organization with a cage, visitors, two contacts and its first event."""
    cage = Cage.objects.get(cage_id="DC2:01:123456")
    # Tomorrow at 09:00 UTC: two graphs built a moment apart carry the same visit.
    start = (timezone.now() + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    order = Order(
        organization_id=orderer.organization_id,
        ibx_id=cage.ibx_id,
        ordered_by=orderer,
        description="Replace a failed power supply in cabinet 0101.",
        customer_reference_id="REF-1",
        po_type="NEW",
        po_number="PO-42",
        po_amount="100",
        po_start_date=start.date(),
        open_cabinet=True,
        visit_start=start,
        visit_end=start + timedelta(hours=4),
        status=OrderStatus.PENDING_REVIEW,
        review_reasons=["Within 24 hours."],
    )
    children = [
        (
            "order",
            [
                OrderCage(
                    cage=cage,
                    account=Account.objects.get(number="1234567890"),
                    cabinet=Cabinet.objects.get(cabinet_id="DC2:01:123456:0101"),
                )
            ],
        ),
        (
            "order",
            [Visitor(user=orderer)]
            + [
                Visitor(first_name=f"Jane{i}", last_name="Doe", details=[{"type": "EMAIL", "value": f"j{i}@x.example"}])
                for i in range(visitors)
            ],
        ),
        (
            "order",
            [
                Contact(user=orderer, contact_type=ContactType.TECHNICAL, availability="WORK_HOURS", timezone="UTC"),
                Contact(user=User.objects.get(username="viewer"), contact_type=ContactType.NOTIFICATION),
            ],
        ),
        ("order", [OrderEvent(kind=EventKind.CREATED, actor=orderer, to_status=OrderStatus.PENDING_REVIEW, note="n")]),
    ]
    return order, children


def _stored(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _assert_instances_are_the_rows(order, children):
    assert order.pk and not order._state.adding and order._state.db == "default"
    assert _stored(order) == _stored(Order.objects.get(pk=order.pk))
    for _, objs in children:
        for obj in objs:
            assert obj.order_id == order.pk and obj.order is order and not obj._state.adding
            assert _stored(obj) == _stored(type(obj).objects.get(pk=obj.pk))


def _comparable(order) -> list[dict]:
    """The rows of an order and its parts, without the values generated per insert."""
    rows = [Order.objects.filter(pk=order.pk).values().get()]
    for model in (OrderCage, Visitor, Contact, OrderEvent):
        rows += list(model.objects.filter(order=order).order_by("pk").values())
    return [{k: v for k, v in row.items() if k not in _GENERATED} for row in rows]  # (and the parts' order_id)


@postgresql_only
def test_one_statement_stores_what_the_orm_stores(orderer, settings):
    by_statement, statement_children = _graph(orderer, visitors=3)
    with CaptureQueriesContext(connection) as queries:
        graph_insert.insert_graph(by_statement, statement_children)
    assert len(queries.captured_queries) == 1
    _assert_instances_are_the_rows(by_statement, statement_children)

    settings.GRAPH_INSERT_ONE_STATEMENT = False  # the ORM's path (also SQLite's, under make run)
    by_orm, orm_children = _graph(orderer, visitors=3)
    with CaptureQueriesContext(connection) as queries:
        graph_insert.insert_graph(by_orm, orm_children)
    assert len(queries.captured_queries) > 1
    _assert_instances_are_the_rows(by_orm, orm_children)
    assert _comparable(by_statement) == _comparable(by_orm)
    for generated in ("order_id", "submission_key", "created_at", "updated_at"):
        assert getattr(by_statement, generated) and getattr(by_statement, generated) != getattr(by_orm, generated)
    assert by_statement.order_id.startswith("WV-") and by_statement.version == 1


@postgresql_only
def test_one_statement_serves_any_number_of_children(orderer):
    statements = set()
    for visitors in (1, 2, 5, 20):
        order, children = _graph(orderer, visitors=visitors)
        sent = []

        def note(execute, sql, *args, sent=sent):
            sent.append(sql)
            return execute(sql, *args)

        with connection.execute_wrapper(note):
            graph_insert.insert_graph(order, children)
        assert len(sent) == 1
        statements.add(sent[0])
        # Each instance got the primary key of its own row.
        people = children[1][1]  # the visitors
        assert [(v.pk, v.first_name) for v in people] == list(
            Visitor.objects.filter(order=order).order_by("pk").values_list("pk", "first_name")
        )
    assert len(statements) == 1  # the same text for any number of children: prepared once per connection
    assert Visitor.objects.count() == 2 + 3 + 6 + 21


@postgresql_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_children_get_their_own_keys_under_concurrent_inserts(demo):
    """Sequences are shared: keys drawn by concurrent statements interleave, and still every instance
    gets the key of its own row, under its own order."""
    orderer = User.objects.get(username="orderer")
    stored: list[tuple[Order, list]] = []
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def insert_many(worker: int):
        try:
            start.wait()
            for round_ in range(8):
                order, children = _graph(orderer, visitors=6)
                order.customer_reference_id = f"W{worker}-{round_}"
                for i, visitor in enumerate(children[1][1]):
                    visitor.last_name = f"W{worker}-{round_}-{i}"
                graph_insert.insert_graph(order, children)
                stored.append((order, children))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=insert_many, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(stored) == 32
    rows = {pk: (order, name) for pk, order, name in Visitor.objects.values_list("pk", "order_id", "last_name")}
    for order, children in stored:
        assert Order.objects.get(pk=order.pk).customer_reference_id == order.customer_reference_id
        for _, objs in children:
            for obj in objs:
                assert obj.order_id == order.pk
        for visitor in children[1][1]:
            assert rows[visitor.pk] == (order.pk, visitor.last_name)
    assert len(rows) == 32 * 7


def test_an_unsaved_related_object_is_refused_as_save_would(orderer):
    order, children = _graph(orderer)
    children[1][1].append(Visitor(user=User(username="unsaved")))
    with pytest.raises(ValueError, match="unsaved related object 'user'"):
        graph_insert.insert_graph(order, children)
    assert order.pk is None


def test_a_related_object_saved_after_it_was_assigned_is_stored_with_its_key(orderer):
    order, children = _graph(orderer)
    newcomer = User(username="newcomer", organization_id=orderer.organization_id)
    visitor = Visitor(user=newcomer)
    newcomer.save()
    children[1][1].append(visitor)
    graph_insert.insert_graph(order, children)
    assert Visitor.objects.get(pk=visitor.pk).user_id == newcomer.pk


def test_an_object_with_a_key_is_refused(orderer):
    order, children = _graph(orderer)
    order.pk = 10**9
    with pytest.raises(ValueError, match="has a primary key already"):
        graph_insert.insert_graph(order, children)
    assert not Order.objects.filter(pk=10**9).exists()


@postgresql_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_failing_statement_stores_nothing(demo):
    orderer = User.objects.get(username="orderer")
    order, children = _graph(orderer)
    # The last row breaks a constraint (a notification contact must be a registered user).
    children[2][1].append(Contact(first_name="No", last_name="User", contact_type=ContactType.NOTIFICATION))
    with pytest.raises(IntegrityError):
        graph_insert.insert_graph(order, children)
    assert order.pk is None
    assert not Order.objects.exists() and not OrderEvent.objects.exists() and not OrderCage.objects.exists()
    assert not Visitor.objects.exists() and not Contact.objects.exists()


@postgresql_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_create_outside_a_transaction_is_committed_when_it_returns(demo, make_body, monkeypatch):
    orderer = User.objects.get(username="orderer")
    database = connection.settings_dict
    seen = []
    monkeypatch.setattr(services, "enqueue", lambda *args, **kwargs: seen.append(args) or True)  # taken
    assert not connection.in_atomic_block
    services.order_create(user=orderer, data=make_body())  # the catalogue is cached now
    with CaptureQueriesContext(connection) as queries:
        order = services.order_create(user=orderer, data=make_body())
    # The reads of the rules, then the rows in one statement, in autocommit: no transaction to commit.
    assert [q["sql"].split()[0] for q in queries.captured_queries][-1] == "WITH"
    assert {q["sql"].split()[0] for q in queries.captured_queries[:-1]} == {"SELECT"}
    # Read from another connection: only a committed order is visible there (a worker's view).
    with psycopg.connect(
        host=database["HOST"], port=database["PORT"] or 5432, user=database["USER"], dbname=database["NAME"]
    ) as other:
        found = other.execute("SELECT status FROM workvisits_order WHERE id = %s", [order.pk]).fetchall()
    assert found == [(OrderStatus.QUEUED,)]
    assert seen[-1:] == [(tasks.submit_order, order.pk)]  # sent once committed
    assert _stored(order) == _stored(Order.objects.get(pk=order.pk))
    assert [(e.kind, e.to_status, e.actor_id) for e in order.events.all()] == [
        (EventKind.CREATED, OrderStatus.QUEUED, orderer.pk)
    ]


def test_a_create_inside_the_callers_transaction_waits_for_its_commit(
    orderer, make_body, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(services, "enqueue", lambda task_name, *args, countdown=None: sent.append(task_name))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        orders = [services.order_create(user=orderer, data=make_body()) for _ in range(3)]
        assert sent == []
        assert Order.objects.filter(pk__in=[o.pk for o in orders]).count() == 3
    assert sent == [tasks.submit_order] * 3  # once committed
