"""Reads: what a user may see and order, with the queries shaped once."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Window
from django.utils import timezone
from django.utils.functional import cached_property

from . import catalogue, rules
from .choices import OPEN_UPSTREAM_STATUSES, ContactType, OrderStatus
from .graph_read import Children, SqlNames, read_graph, read_graphs, read_rows
from .models import (
    IBX,
    ORDER_SEARCHED,
    PERSON_SEARCHED,
    REVIEW_POLICY_FIELDS,
    Account,
    ApiToken,
    Attachment,
    Cabinet,
    Cage,
    CalendarFeed,
    Contact,
    Order,
    OrderCage,
    OrderEvent,
    OrderingGrant,
    Organization,
    SeriesOccurrence,
    User,
    Visitor,
    VisitSeries,
    WebhookEndpoint,
    person_name,
)

VIEW_ALL_ORDERS = "workvisits.view_organization_orders"


def user_sees_all_orders(user: User) -> bool:
    """Members with the grant see every order of their organization, not only their own."""
    return bool(user.organization_id) and user.has_perm(VIEW_ALL_ORDERS)


def orderable_cages(user: User) -> QuerySet[Cage]:
    """Active cages of the user's organization on which the user holds the ordering permission."""
    if not user.is_authenticated or not user.organization_id:
        return Cage.objects.none()
    return Cage.objects.filter(
        Q(grants__user=user) | Q(ibx__grants__user=user),
        organization_id=user.organization_id,
        active=True,
        ibx__active=True,
    ).distinct()


def user_may_order(user: User) -> bool:
    return bool(orderable_ibx_codes(user))


def orderable_ibx_codes(user: User) -> list[str]:
    """Codes of the IBXs where the user may order (none: the user may not order): the cages of
    orderable_cages(), from the grants' one indexed query and the cached catalogue (see ordering_context)."""
    if not user.is_authenticated or not user.organization_id:
        return []
    state, grants, _has_webhooks = _state_and_grants(user.organization_id, user.pk)
    structure = _catalogue(user.organization_id, state)
    return sorted({structure.cages[cage_id].ibx for cage_id in _orderable(structure, grants)})


class Ordering(NamedTuple):
    """What an order is stored with once the rules pass, read with the ordering context."""

    catalogue: catalogue.Catalogue
    user_ids: dict[str, int]  # the active users of the organization the context names, by username
    review_policy: rules.ReviewPolicy  # as it is now, never cached
    has_webhooks: bool = False  # the organization has an active webhook endpoint (workvisits/webhooks.py)


_STATE_FIELDS = ("catalogue_version", *REVIEW_POLICY_FIELDS)


def ordering_context(
    user: User, now: datetime | None = None, attachment_ids: Iterable | None = None
) -> rules.OrderingContext:
    """The facts the rules need about `user`'s organization (the catalogue cached, see workvisits.catalogue).

    With `attachment_ids`, only those of the organization's attachments are looked up (none: no query).
    """
    return ordering_context_and_ids(user, now, attachment_ids)[0]


def ordering_context_and_ids(
    user: User,
    now: datetime | None = None,
    attachment_ids: Iterable | None = None,
    usernames: Iterable[str] | None = None,
) -> tuple[rules.OrderingContext, Ordering | None]:
    """The ordering context and (None without an organization) what the order is stored with.

    Read on every call, with indexed queries: the user's grants (none for a deactivated user) with the
    organization's catalogue version and review policy, and the active users; with `usernames`, only
    those (no query when none is named but the caller). The catalogue comes from the cache under its
    version (built on a miss, three queries more). The attachments (never cached) cost one query when
    `attachment_ids` names any.
    """
    now = now or timezone.now()
    if not user.organization_id:
        return rules.OrderingContext(now=now, cages={}, orderable=frozenset(), usernames=frozenset()), None
    organization_id = user.organization_id
    state, grants, has_webhooks = _state_and_grants(organization_id, user.pk)
    policy = Organization.policy_of(dict(zip(_STATE_FIELDS[1:], state[1:], strict=True)))
    structure = _catalogue(organization_id, state)
    orderable = _orderable(structure, grants)

    names = None if usernames is None else {name for name in usernames if isinstance(name, str)}
    user_ids = {}
    if grants and names is not None and user.username in names:  # the caller is active: just read
        user_ids[user.username] = user.pk
        names.discard(user.username)
    if names is None or names:
        members = User.objects.filter(organization_id=organization_id, is_active=True)
        if names is not None:
            members = members.filter(username__in=names)
        user_ids.update(members.values_list("username", "pk"))

    keys = None if attachment_ids is None else _uuids(attachment_ids)
    attachments = {}
    if keys is None or keys:  # (none named: not even a query to build)
        found = Attachment.objects.filter(organization_id=organization_id)
        if keys is not None:
            found = found.filter(id__in=keys)
        attachments = {
            str(a.id): rules.AttachmentFacts(attachment_id=str(a.id), name=a.name, in_use=a.order_id is not None)
            for a in found.only("id", "name", "order_id")
        }
    ctx = rules.OrderingContext(
        now=now,
        cages=structure.cages,
        orderable=orderable,
        usernames=frozenset(user_ids),
        attachments=attachments,
    )
    return ctx, Ordering(catalogue=structure, user_ids=user_ids, review_policy=policy, has_webhooks=has_webhooks)


def _catalogue(organization_id: int, state: tuple) -> catalogue.Catalogue:
    """The organization's catalogue under the version `_state_and_grants` read."""
    version = Organization._meta.get_field("catalogue_version").to_python(state[0])  # (SQLite: hex)
    return catalogue.organization_catalogue(organization_id, version)


def _orderable(structure: catalogue.Catalogue, grants: list[tuple[int | None, int | None]]) -> frozenset[str]:
    """The catalogue's cages (by id) that the grants name, or whose IBX they name, in an active IBX."""
    granted_cages = {grant[0] for grant in grants}
    granted_ibxs = {grant[1] for grant in grants}
    return frozenset(
        cage_id
        for cage_id, ids in structure.cage_ids.items()
        if ids.ibx_active and (ids.pk in granted_cages or ids.ibx_pk in granted_ibxs)
    )


def _state_and_grants(organization_id: int, user_id: int) -> tuple[tuple, list[tuple[int | None, int | None]], bool]:
    """The organization's version and policy (`_STATE_FIELDS`), the user's grants as (cage, IBX) keys
    (none when the user is deactivated or left the organization), and whether the organization has an
    active webhook endpoint: one indexed query, every key a primary or foreign key."""
    # A plain SELECT: it runs on every create, and the ORM's query building cost more than the query.
    with connection.cursor() as cursor:
        cursor.execute(_state_and_grants_statement(connection.alias), [user_id, organization_id])
        rows = cursor.fetchall()
    width = len(_STATE_FIELDS)
    grants = [row[width : width + 2] for row in rows if row[width] is not None or row[width + 1] is not None]
    return rows[0][:width], grants, bool(rows[0][-1])


@functools.cache
def _state_and_grants_statement(alias: str) -> str:
    n = SqlNames(alias)
    organization = f"o.{n.pk(Organization)}"
    grant_user = f"g.{n.column(OrderingGrant, 'user')}"
    state = ", ".join(f"o.{n.column(Organization, name)}" for name in _STATE_FIELDS)
    has_webhooks = (
        f"EXISTS (SELECT 1 FROM {n.table(WebhookEndpoint)} w "  # noqa: S608
        f"WHERE w.{n.column(WebhookEndpoint, 'organization')} = {organization} "
        f"AND w.{n.column(WebhookEndpoint, 'active')})"
    )
    # The grants of the caller, only while the caller is an active member of the organization.
    grants = (
        f"LEFT JOIN ({n.table(OrderingGrant)} g JOIN {n.table(User)} u "
        f"ON u.{n.pk(User)} = {grant_user} AND u.{n.column(User, 'is_active')}) "
        f"ON {grant_user} = %s AND u.{n.column(User, 'organization')} = {organization}"
    )
    # Only quoted identifiers from the models' metadata are formatted in; the values are parameters.
    return (
        f"SELECT {state}, g.{n.column(OrderingGrant, 'cage')}, g.{n.column(OrderingGrant, 'ibx')}, "  # noqa: S608
        f"{has_webhooks} FROM {n.table(Organization)} o {grants} WHERE {organization} = %s"
    )


def _uuids(values: Iterable) -> list[uuid.UUID]:
    result = []
    for value in values:
        try:
            result.append(uuid.UUID(str(value)))
        except ValueError:
            continue  # not an id of ours; the rules report it
    return result


def _with_parts(queryset: QuerySet[Order]) -> QuerySet[Order]:
    return queryset.select_related("ibx", "organization", "ordered_by").prefetch_related(
        Prefetch("cages", queryset=OrderCage.objects.select_related("cage", "account", "cabinet")),
        Prefetch("visitors", queryset=Visitor.objects.select_related("user").order_by("id")),
        Prefetch("contacts", queryset=Contact.objects.select_related("user").order_by("id")),
        "attachments",
    )


# ---------------------------------------------------------------------------------------------
# Lists of orders (the dashboard, the API list): the filtering written once, and pages whose cost does
# not grow with the organization's number of orders.
UPCOMING, PAST = "upcoming", "past"


@dataclass(frozen=True)
class OrderFilters:
    """What a list of orders is narrowed to; an empty field narrows nothing."""

    statuses: tuple[str, ...] = ()
    ibx: str = ""  # an IBX code
    when: str = ""  # UPCOMING or PAST, at the moment the list is read
    text: str = ""  # an order id, a reference or a visitor's name
    visit_start_from: datetime | None = None
    visit_start_to: datetime | None = None  # exclusive


def _upcoming(now: datetime) -> Q:
    # No visit lasts longer than MAX_VISIT_LENGTH: the bound on the start lets the
    # (organization, visit_start) index serve the query instead of a scan of every order.
    return Q(visit_end__gte=now, visit_start__gte=now - rules.MAX_VISIT_LENGTH)


def _past(now: datetime) -> Q:
    return Q(visit_end__lt=now, visit_start__lt=now)


def orders_for_user(*, user: User, filters: OrderFilters | None = None, now: datetime | None = None) -> QuerySet[Order]:
    """The orders `user` may see (all of the organization's with the grant, else the ones they take part in),
    narrowed by `filters`; unordered, without their parts."""
    if not user.is_authenticated or not user.organization_id:
        return Order.objects.none()
    orders = Order.objects.filter(organization_id=user.organization_id)
    if not user_sees_all_orders(user):
        # Subqueries, not joins: no DISTINCT, so an index can still order the result.
        orders = orders.filter(
            Q(ordered_by=user)
            | Q(pk__in=Contact.objects.filter(user=user).values("order_id"))
            | Q(pk__in=Visitor.objects.filter(user=user).values("order_id"))
        )
    f = filters or OrderFilters()
    if f.statuses:
        orders = orders.filter(status__in=f.statuses)
    if f.ibx:
        orders = orders.filter(ibx__code=f.ibx)
    if f.visit_start_from:
        orders = orders.filter(visit_start__gte=f.visit_start_from)
    if f.visit_start_to:
        orders = orders.filter(visit_start__lt=f.visit_start_to)
    if f.when == UPCOMING:
        orders = orders.filter(_upcoming(now or timezone.now()))
    elif f.when == PAST:
        orders = orders.filter(_past(now or timezone.now()))
    text = f.text.strip()
    if text:
        matches = order_text_matches(text, columns=DASHBOARD_SEARCHED, visitors_of=user.organization_id)
        orders = orders.filter(pk__in=matches)
    return orders.order_by()


# What the dashboard's search box looks into besides the visitors' names; the Order History's q.
DASHBOARD_SEARCHED = ("order_id", "customer_reference_id")
HISTORY_SEARCHED = ORDER_SEARCHED


def order_text_matches(text: str, *, columns: Iterable[str], visitors_of: int | None = None) -> QuerySet:
    """Ids of the orders (of any organization: the caller narrows) with `text` anywhere in one of `columns`
    (any case), and with `visitors_of` (an organization) those with a visitor of that name: typed in, or
    one of the organization's users by name or exact username (read first: one small query).

    One branch per column in a UNION, each served by its trigram index (migration 0012): an OR of the
    columns, or an OR with the visitors' subquery, would make PostgreSQL read every order instead.
    """
    branches = [Order.objects.filter(**{f"{column}__icontains": text}).order_by().values("pk") for column in columns]
    if visitors_of is not None:
        branches += [
            Visitor.objects.filter(**{f"{column}__icontains": text}).order_by().values("order_id")
            for column in ("first_name", "last_name")
        ]
        users = list(
            User.objects.filter(
                Q(first_name__icontains=text) | Q(last_name__icontains=text) | Q(username__iexact=text),
                organization_id=visitors_of,
            ).values_list("pk", flat=True)
        )
        if users:
            branches.append(Visitor.objects.filter(user_id__in=users).order_by().values("order_id"))
    return branches[0].union(*branches[1:], all=True)


# What the staff's search looks into in a registered user among an order's visitors and contacts.
USER_SEARCHED = ("username", "first_name", "last_name", "email")
# The staff's search as the admin's search_fields name it (Django's own search, on other databases).
STAFF_SEARCH_FIELDS = (
    *ORDER_SEARCHED,
    *(f"{people}__{column}" for people in ("visitors", "contacts") for column in PERSON_SEARCHED),
    *(f"{people}__user__{column}" for people in ("visitors", "contacts") for column in USER_SEARCHED),
)


# A word found in up to this many rows of a table (orders, visitors, contacts) narrows the list to the orders
# of those rows; one found in more is looked for order by order (see staff_order_condition).
STAFF_SEARCH_KEYS_UP_TO = 1000


def staff_order_condition(text: str) -> Q:
    """A filter of orders (of any organization) with `text` (any case) in one of their ORDER_SEARCHED columns,
    in a visitor's or contact's name or details (typed-in emails and phones), or in the username, name or
    email of a registered user among them (the users read first: one small query).

    Per table, the matching rows are read first through its trigram indexes (migrations 0012 and 0018; one
    UNION branch per column), up to STAFF_SEARCH_KEYS_UP_TO + 1 of them: a table with no more than that
    narrows the list to the orders they name; one with more (a person on most of an organization's
    orders) is looked for in each order the list reads, newest first, which finds a page of them in a few
    dozen orders. A filter on one UNION of every table made PostgreSQL walk every order for a word found
    nowhere and hash every key for one found everywhere; the admin's own search, an OR across the joined
    visitors, contacts and users, read every row of each (about 4 s at 300,000 orders, docs/performance.md,
    "Scale").
    """
    matching_users = Q.create([(f"{column}__icontains", text) for column in USER_SEARCHED], connector=Q.OR)
    users = list(User.objects.filter(matching_users).values_list("pk", flat=True))
    in_order = Q.create([(f"{column}__icontains", text) for column in ORDER_SEARCHED], connector=Q.OR)
    in_person = Q.create([(f"{column}__icontains", text) for column in PERSON_SEARCHED], connector=Q.OR)
    if users:
        in_person |= Q(user_id__in=users)
    branches = {
        Order: [Order.objects.filter(**{f"{c}__icontains": text}).order_by().values_list("pk") for c in ORDER_SEARCHED]
    }
    for people in (Visitor, Contact):
        branches[people] = [
            people.objects.filter(**{f"{c}__icontains": text}).order_by().values_list("order_id")
            for c in PERSON_SEARCHED
        ]
        if users:
            branches[people].append(people.objects.filter(user_id__in=users).order_by().values_list("order_id"))
    condition = Q(pk__in=[])
    for model, queries in branches.items():
        keys = [key for (key,) in queries[0].union(*queries[1:], all=True)[: STAFF_SEARCH_KEYS_UP_TO + 1]]
        if len(keys) <= STAFF_SEARCH_KEYS_UP_TO:  # every matching row read
            if keys:
                condition |= Q(pk__in=sorted(set(keys)))
        elif model is Order:
            condition |= in_order
        else:
            # The order's key compared equal and also bounded: the bound, always true, keeps PostgreSQL from
            # turning the EXISTS into a hash of every matching person built before the first order is read
            # (it hashes only a plain equality), and the equality keeps each probe's estimate right (a range
            # alone was costed as thousands of rows a probe, enough to have every statement JIT-compiled).
            of_order = {"order_id": OuterRef("pk"), "order_id__gte": OuterRef("pk")}
            condition |= Q(Exists(model.objects.filter(in_person, **of_order)))
    return condition


def orders_with_parts(*, user: User) -> QuerySet[Order]:
    """The orders `user` may see, each with its parts loaded when read."""
    return _with_parts(orders_for_user(user=user))


def order_for_user(user: User, order_id: str) -> Order:
    """One order `user` may see, with its parts (read with Order.parts()); Order.DoesNotExist for an unknown
    one or another organization's. On PostgreSQL its key, then the order and its parts in one statement
    (ORDER_READ_ONE_STATEMENT): two queries, not the ORM's five."""
    visible = orders_for_user(user=user)
    if not _one_statement():
        return _with_parts(visible).get(order_id=order_id)
    pk = visible.filter(order_id=order_id).values_list("pk", flat=True).first()
    if pk is None:
        raise Order.DoesNotExist(f"No order {order_id} this user may see.")
    return read_graph(Order, pk, joins=_ORDER_JOINS, children=_ORDER_PARTS)


def _in_order(ids: list[int], rows: QuerySet[Order] | None = None) -> list[Order]:
    """The orders `ids` name, read from `rows` (default: with all their parts), in the order of `ids` (the
    ids came from an index)."""
    if not ids:
        return []
    if rows is None and _one_statement():
        read = read_graphs(Order, ids, joins=_ORDER_JOINS, children=_ORDER_PARTS)
    else:
        read = (_with_parts(Order.objects.all()) if rows is None else rows).filter(pk__in=ids)
    found = {order.pk: order for order in read}
    return [found[pk] for pk in ids if pk in found]


def _dashboard_page(ids: list[int]) -> list[Order]:
    """The orders `ids` name with what a dashboard row shows and nothing more (no contacts, attachments,
    payloads or JSON), in the order of `ids`: each with its IBX, `cage_ids` and `visitor_names`.

    On PostgreSQL one statement reads the rows, their IBX, and each row's cage ids and visitors' names as
    arrays (a third of the CPU of the three queries of the ORM's reading, which other databases keep)."""
    if not ids:
        return []
    if connection.vendor != "postgresql":
        return _dashboard_page_orm(ids)
    rows = read_rows(
        Order,
        _dashboard_page_statement(connection.alias),
        [ids],
        fields=_DASHBOARD_FIELDS,
        extra=("ibx_code", "ibx_timezone", "cage_ids", "visitor_people"),
    )
    found = {order.pk: order for order in rows}
    orders = [found[pk] for pk in ids if pk in found]
    for order in orders:
        order.ibx = IBX.from_db(
            connection.alias, ["id", "code", "timezone"], [order.ibx_id, order.ibx_code, order.ibx_timezone]
        )
        people = order.visitor_people
        people = json.loads(people) if isinstance(people, str) else people or ()
        order.visitor_names = [visitor_name(*person) for person in people]
        del order.ibx_code, order.ibx_timezone, order.visitor_people
    return orders


# The columns a dashboard row reads, in the model's order (as Model.from_db takes them).
_DASHBOARD_FIELDS = [
    f
    for f in Order._meta.concrete_fields
    if f.name in {"id", "order_id", "ibx", "customer_reference_id", "visit_start", "visit_end", "status"}
]


# A visitor's fields its name is made of, in visitor_name()'s order: its user's names, else its own.
VISITOR_NAME_FIELDS = ("user_id", "first_name", "last_name", "user__first_name", "user__last_name", "user__username")


def visitor_name(user_id, first, last, user_first, user_last, username) -> str:
    """Visitor.name from VISITOR_NAME_FIELDS' values."""
    return person_name(user_first, user_last, username) if user_id else person_name(first, last)


@functools.cache
def _dashboard_page_statement(alias: str) -> str:
    """The dashboard page's statement, from the models' metadata: the rows by id, their IBX joined, each
    row's cage ids and its visitors (the user's names beside their own) in the order they were entered."""
    n = SqlNames(alias)
    order = f"o.{n.pk(Order)}"
    cage_ids = (
        f"ARRAY(SELECT c.{n.column(Cage, 'cage_id')} FROM {n.table(OrderCage)} oc "  # noqa: S608
        f"JOIN {n.table(Cage)} c ON c.{n.pk(Cage)} = oc.{n.column(OrderCage, 'cage')} "
        f"WHERE oc.{n.column(OrderCage, 'order')} = {order} ORDER BY oc.{n.pk(OrderCage)})"
    )
    person = ", ".join(
        [f"v.{n.column(Visitor, name)}" for name in ("user", "first_name", "last_name")]
        + [f"u.{n.column(User, name)}" for name in ("first_name", "last_name", "username")]
    )
    visitors = (
        f"(SELECT json_agg(json_build_array({person}) ORDER BY v.{n.pk(Visitor)}) "  # noqa: S608
        f"FROM {n.table(Visitor)} v LEFT JOIN {n.table(User)} u ON u.{n.pk(User)} = v.{n.column(Visitor, 'user')} "
        f"WHERE v.{n.column(Visitor, 'order')} = {order})"
    )
    columns = ", ".join(f"o.{n.quote(f.column)}" for f in _DASHBOARD_FIELDS)
    ibx = ", ".join(f"i.{n.column(IBX, name)}" for name in ("code", "timezone"))
    return (
        f"SELECT {columns}, {ibx}, {cage_ids}, {visitors} FROM {n.table(Order)} o "  # noqa: S608
        f"JOIN {n.table(IBX)} i ON i.{n.pk(IBX)} = o.{n.column(Order, 'ibx')} WHERE {order} = ANY(%s)"
    )


def _dashboard_page_orm(ids: list[int]) -> list[Order]:
    """The same through the ORM: the rows, then the cage ids and the visitors' names as plain values, one
    query each (through prefetches, a model made for every cage and visitor cost twice as much)."""
    orders = _in_order(
        ids,
        Order.objects.select_related("ibx").only(
            "id",
            "order_id",
            "customer_reference_id",
            "visit_start",
            "visit_end",
            "status",
            "ibx__code",
            "ibx__timezone",
        ),
    )
    if not orders:
        return orders
    cages: dict[int, list[str]] = {order.pk: [] for order in orders}
    for order_id, cage_id in (
        OrderCage.objects.filter(order_id__in=cages).order_by("id").values_list("order_id", "cage__cage_id")
    ):
        cages[order_id].append(cage_id)
    visitors: dict[int, list[str]] = {order.pk: [] for order in orders}
    people = Visitor.objects.filter(order_id__in=visitors).order_by("id").values_list("order_id", *VISITOR_NAME_FIELDS)
    for order_id, *person in people:
        visitors[order_id].append(visitor_name(*person))
    for order in orders:
        order.cage_ids, order.visitor_names = cages[order.pk], visitors[order.pk]
    return orders


# Lists are counted exactly up to this many rows; a longer one is said to hold about the planner's estimate.
COUNT_EXACTLY_UP_TO = 10_000
# A planner's estimate this many times the bound is taken without counting: the list is only probed
# for a first row (an estimate is never zero, so an empty list is still told as empty).
TRUST_ESTIMATE_FROM = 10


def bounded_count(queryset: QuerySet, bound: int = COUNT_EXACTLY_UP_TO) -> tuple[int, bool]:
    """The rows of `queryset` and whether that is exact: counted up to `bound` (the index entries of at most
    `bound` + 1 rows are read), else PostgreSQL's row estimate (kept right by autovacuum's ANALYZE), never
    less than `bound` + 1. An estimate of TRUST_ESTIMATE_FROM times `bound` or more is not checked by a
    count: the list is long whatever the exact figure, and reading `bound` + 1 entries only to confirm it
    cost a large organization's list pages up to a millisecond each (docs/performance.md, "Scale").
    Other databases count every row."""
    queryset = queryset.order_by().values("pk")  # the keys alone: no annotation computed for the count
    if connection.vendor != "postgresql":
        counted = queryset[: bound + 1].count()
        return (counted, True) if counted <= bound else (queryset.count(), True)
    # Asked for any length, so that a page costs the same queries for a short list as for a long one.
    # The same rows estimated, without compiling every column into the statement.
    plan = queryset.explain(format="json")  # (empty for a queryset that cannot match)
    estimate = int(json.loads(plan)[0]["Plan"]["Plan Rows"]) if plan else 0
    if estimate >= TRUST_ESTIMATE_FROM * bound:
        return (estimate, False) if queryset[:1].count() else (0, True)
    counted = queryset[: bound + 1].count()
    if counted <= bound:
        return counted, True
    return max(counted, estimate), False


class DashboardOrders:
    """The dashboard's list: upcoming visits (soonest first), then past ones (latest first).

    Two queries each ordered by the (organization, visit_start) index, read as one sequence by a
    Paginator: a page's ids come from the index, then only that page's rows are loaded. The upcoming
    visits (bounded by the longest visit) are counted exactly, the past ones up to COUNT_EXACTLY_UP_TO
    (`exact` tells whether the count is). For a search, the upcoming visits' count comes with the first
    page's ids in one statement (a window count over the index-ordered rows), so the search's matching
    runs once for both, not once each; without one a plain count is cheaper than the window's buffering
    of every upcoming row (docs/performance.md, "Scale").
    """

    def __init__(self, orders: QuerySet[Order], filters: OrderFilters, now: datetime, first_page: int = 20):
        none = Order.objects.none()
        self.upcoming = none if filters.when == PAST else orders.filter(_upcoming(now)).order_by("visit_start", "id")
        self.past = none if filters.when == UPCOMING else orders.filter(_past(now)).order_by("-visit_start", "-id")
        self.first_page = first_page if filters.text else 0
        self.first_upcoming: list[int] | None = None  # the first page's upcoming ids, read with their count

    @cached_property
    def counts(self) -> tuple[int, int, bool]:
        past, exact = bounded_count(self.past, COUNT_EXACTLY_UP_TO)
        return self._count_upcoming(), past, exact

    def _count_upcoming(self) -> int:
        if not self.first_page:
            return self.upcoming.count()
        rows = list(
            self.upcoming.annotate(upcoming=Window(Count("pk"))).values_list("id", "upcoming")[: self.first_page]
        )
        self.first_upcoming = [pk for pk, _ in rows]
        return rows[0][1] if rows else 0

    @property
    def exact(self) -> bool:
        return self.counts[2]

    def count(self) -> int:
        return self.counts[0] + self.counts[1]

    def counted_exactly(self) -> DashboardOrders:
        """The same list with every row counted (for a page past the end of an estimate)."""
        self.counts = (self.upcoming.count(), self.past.count(), True)
        return self

    def __getitem__(self, part: slice) -> list[Order]:
        start, stop = part.start or 0, part.stop
        upcoming = self.counts[0]
        ids: list[int] = []
        if start < upcoming:
            end = min(stop, upcoming)
            first = self.first_upcoming
            if start == 0 and first is not None and end <= len(first):
                ids += first[:end]
            else:
                ids += self.upcoming.values_list("id", flat=True)[start:end]
        if stop > upcoming:
            ids += self.past.values_list("id", flat=True)[max(start - upcoming, 0) : stop - upcoming]
        return _dashboard_page(ids)


def dashboard_orders(
    *, user: User, filters: OrderFilters, now: datetime | None = None, page_size: int = 20
) -> DashboardOrders:
    now = now or timezone.now()
    return DashboardOrders(orders_for_user(user=user, filters=filters, now=now), filters, now, first_page=page_size)


def ibx_codes_with_orders(*, user: User) -> list[str]:
    """Codes of the IBXs where the user's organization has orders, in code order: a walk along the
    (organization, ibx) index, one step to each next IBX the organization has orders at.

    One index probe per IBX whatever the organization's size and whatever the plan: asked as an EXISTS
    per IBX, the planner, given the organization's id as a literal (client-side binding, or the first
    executions of a prepared statement), expects most of the orders of a large organization to match
    and scans the table for an IBX that has none (about 50 ms at 200,000 orders,
    docs/performance.md, "Scale")."""
    if not user.organization_id:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_ibx_walk_statement(connection.alias), [user.organization_id, user.organization_id])
        return [code for (code,) in cursor.fetchall()]


@functools.cache
def _ibx_walk_statement(alias: str) -> str:
    """A loose index scan (a recursive CTE taking the next larger IBX key each step), from the models'
    metadata; PostgreSQL and SQLite both run it."""
    n = SqlNames(alias)
    ibx, orders = f"o.{n.column(Order, 'ibx')}", f"{n.table(Order)} o"
    organization = f"o.{n.column(Order, 'organization')} = %s"
    return (
        "WITH RECURSIVE walk (ibx) AS ("  # noqa: S608
        f"SELECT * FROM (SELECT {ibx} FROM {orders} WHERE {organization} ORDER BY {ibx} LIMIT 1) lowest "
        f"UNION ALL SELECT (SELECT {ibx} FROM {orders} WHERE {organization} AND {ibx} > walk.ibx "
        f"ORDER BY {ibx} LIMIT 1) FROM walk WHERE walk.ibx IS NOT NULL) "
        f"SELECT i.{n.column(IBX, 'code')} FROM walk JOIN {n.table(IBX)} i ON i.{n.pk(IBX)} = walk.ibx ORDER BY 1"
    )


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]
    total: int  # exact up to COUNT_EXACTLY_UP_TO, else PostgreSQL's estimate (bounded_count)
    next_cursor: str | None  # where the next page starts, when there is one
    total_exact: bool = True


class InvalidCursor(ValueError):
    """A cursor that is not one this portal gave out."""


def _cursor(order: Order) -> str:
    raw = f"{order.created_at.isoformat()}|{order.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_position(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, pk = raw.split("|")
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:
            raise ValueError(created)
        return moment, int(pk)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor(cursor) from exc


def order_list_page(
    *, user: User, filters: OrderFilters, page: int = 1, size: int = 20, cursor: str | None = None
) -> OrderPage:
    """One page of the user's filtered orders, newest first (created_at, then id, descending).

    By page number the page's ids are read from the (organization, created_at, id) index first and only
    those rows are loaded; with a cursor (a position, so it stays valid when its order is deleted) the
    page starts right after it. The total is exact up to COUNT_EXACTLY_UP_TO, else PostgreSQL's estimate
    (`total_exact`). Raises InvalidCursor.
    """
    orders = orders_for_user(user=user, filters=filters)
    total, exact = bounded_count(orders, COUNT_EXACTLY_UP_TO)
    newest_first = orders.order_by("-created_at", "-id").values_list("id", flat=True)
    if cursor:
        created, pk = _cursor_position(cursor)
        # The range on created_at is what the index serves; the OR only breaks ties within it.
        newest_first = newest_first.filter(created_at__lte=created).filter(
            Q(created_at__lt=created) | Q(created_at=created, id__lt=pk)
        )
        ids = list(newest_first[: size + 1])
    else:
        offset = (page - 1) * size
        ids = list(newest_first[offset : offset + size + 1]) if offset < total else []
    rows = _in_order(ids[:size])
    return OrderPage(
        orders=rows, total=total, next_cursor=_cursor(rows[-1]) if len(ids) > size else None, total_exact=exact
    )


def order_with_parts(pk: int) -> Order:
    """The order as the upstream bodies and its emails need it (an occurrence's series for its invite)."""
    return _with_parts(Order.objects.select_related("series_occurrence__series")).get(pk=pk)


# The same parts read by one statement on PostgreSQL (graph_read.py), for the submission and for the API's
# pages of orders: their consumers (the upstream bodies, the emails, the API's order JSON) read them with
# Order.parts() and Order.occurrence().
_ORDER_JOINS = ("ibx", "organization", "ordered_by")
_ORDER_PARTS = (
    Children("cages", OrderCage, "order", joins=("cage", "account", "cabinet")),
    Children("visitors", Visitor, "order", joins=("user",)),
    Children("contacts", Contact, "order", joins=("user",)),
    Children("attachments", Attachment, "order", ordering=("created_at", "pk")),
    Children("series_occurrence", SeriesOccurrence, "order", joins=("series",), single=True),
)


def _one_statement() -> bool:
    return connection.vendor == "postgresql" and settings.ORDER_READ_ONE_STATEMENT


def order_for_submission(pk: int) -> Order:
    """order_with_parts, in one statement (ORDER_READ_ONE_STATEMENT, PostgreSQL)."""
    if not _one_statement():
        return order_with_parts(pk)
    return read_graph(Order, pk, joins=_ORDER_JOINS, children=_ORDER_PARTS)


# What an email about an order needs (recipients, templates, invite): the parts of order_with_parts
# without the attachments, accounts and cabinets that only the upstream bodies use (the organization
# only an operators' alert names: loaded then); an occurrence's series, whose event its invite is part of.
_NOTICE_JOINS = ("ibx", "ordered_by", "series_occurrence__series")


def _notice_parts() -> list[Prefetch]:
    return [
        Prefetch("cages", queryset=OrderCage.objects.select_related("cage")),
        Prefetch("visitors", queryset=Visitor.objects.select_related("user").order_by("id")),
        Prefetch("contacts", queryset=Contact.objects.select_related("user")),  # recipients() orders them
    ]


def order_for_notice(pk: int) -> Order:
    return Order.objects.select_related(*_NOTICE_JOINS).prefetch_related(*_notice_parts()).get(pk=pk)


def order_facts(order: Order) -> rules.OrderFacts:
    technical = frozenset(
        c.user.username for c in order.parts("contacts") if c.contact_type == ContactType.TECHNICAL and c.user_id
    )
    return rules.OrderFacts(
        status=order.status,
        visit_start=order.visit_start,
        visit_end=order.visit_end,
        ordered_by=order.ordered_by.username,
        technical_usernames=technical,
    )


def user_may_change_order(user: User, order: Order) -> bool:
    """The one check of who may change or cancel an order: the API, the pages and the services use it."""
    if not user.is_authenticated or user.organization_id != order.organization_id:
        return False
    return rules.may_change_order(user.username, sees_all_orders=user_sees_all_orders(user), order=order_facts(order))


def locations_for_user(user: User) -> list[IBX]:
    """IBXs with the cages the user may order for, each cage with its accounts and their cabinets.

    Each IBX carries `orderable_cages`; each cage `orderable_accounts`, each account `cage_cabinets`.
    """
    cages = list(
        orderable_cages(user)
        .select_related("ibx")
        .prefetch_related(
            Prefetch("accounts", queryset=Account.objects.order_by("number"), to_attr="orderable_accounts"),
            Prefetch(
                "cabinets",
                queryset=Cabinet.objects.filter(active=True).order_by("cabinet_id"),
                to_attr="active_cabinets",
            ),
        )
        .order_by("ibx__code", "cage_id")
    )
    ibxs: dict[int, IBX] = {}
    for cage in cages:
        ibx = ibxs.setdefault(cage.ibx_id, cage.ibx)
        if not hasattr(ibx, "orderable_cages"):
            ibx.orderable_cages = []
        ibx.orderable_cages.append(cage)
        for account in cage.orderable_accounts:
            account.cage_cabinets = [c for c in cage.active_cabinets if c.account_id == account.pk]
    return list(ibxs.values())


# How many of the organization's latest orders the wizard looks into for people typed in before.
RECENT_ORDERS = 200


def recent_visitors(*, user: User, limit: int = 8) -> list[Visitor]:
    """People typed in as visitors on the organization's latest orders (the RECENT_ORDERS newest, read from
    the (organization, created_at, id) index), each person once, the latest first."""
    latest_orders = (
        Order.objects.filter(organization_id=user.organization_id).order_by("-created_at", "-id").values("pk")
    )
    found, seen = [], set()
    for visitor in Visitor.objects.filter(order_id__in=latest_orders[:RECENT_ORDERS], user__isnull=True).order_by(
        "-id"
    ):
        person = (visitor.first_name, visitor.last_name, visitor.company_name)
        if person not in seen:
            seen.add(person)
            found.append(visitor)
            if len(found) == limit:
                break
    return found


def organization_users(user: User) -> QuerySet[User]:
    if not user.organization_id:
        return User.objects.none()
    return User.objects.filter(organization_id=user.organization_id, is_active=True).order_by("last_name", "username")


def calendar_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def calendar_feed_user(token: str) -> User | None:
    """The active user whose live calendar feed `token` opens, or None."""
    feed = (
        CalendarFeed.objects.select_related("user")
        .filter(token_hash=calendar_token_hash(token), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    return feed.user if feed else None


def calendar_feed_active(user: User) -> bool:
    return CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).exists()


def order_lines(order: Order) -> list[tuple[str, OrderCage]]:
    """The order's lines as the Orders API lists them: one per cage, `{orderId}-{n}` in the order they were given."""
    cages = sorted(order.parts("cages"), key=lambda c: c.pk)
    return [(f"{order.order_id}-{n}", cage) for n, cage in enumerate(cages, start=1)]


# Order History's sort names, and the columns they sort on.
ORDER_SORTS = {"createdAt": "created_at", "orderNumber": "order_id", "orderStatus": "status", "ibx": "ibx__code"}


@dataclass(frozen=True)
class OrderSearch:
    """An Order History search, as checked by the API: every field optional."""

    ibxs: tuple[str, ...] = ()
    statuses: frozenset[str] | None = None  # portal statuses; None: any
    product_types: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str = ""
    sorts: tuple[tuple[str, bool], ...] = ()  # (sort name, descending)


def _search_matches(user: User, search: OrderSearch) -> QuerySet[Order]:
    orders = orders_for_user(user=user)
    if search.product_types and "WORK_VISIT" not in search.product_types:
        return orders.none()  # the portal holds work visits only
    if search.ibxs:
        orders = orders.filter(ibx__code__in=search.ibxs)
    if search.statuses is not None:
        orders = orders.filter(status__in=search.statuses)
    if search.created_from:
        orders = orders.filter(created_at__gte=search.created_from)
    if search.created_to:
        orders = orders.filter(created_at__lt=search.created_to)
    if search.q:
        orders = orders.filter(pk__in=order_text_matches(search.q, columns=HISTORY_SEARCHED))
    ordering = [("-" if descending else "") + ORDER_SORTS[name] for name, descending in search.sorts]
    return orders.order_by(*(ordering or ["-created_at"]), "-id")


def order_search_page(*, user: User, search: OrderSearch, number: int, size: int) -> tuple[list[Order], int]:
    """Page `number` (from 0) of an Order History search, with their parts, and how many orders match
    (exactly up to COUNT_EXACTLY_UP_TO, else PostgreSQL's estimate: counting costs what the list holds).

    As the API list: the page's ids are read first (newest first straight from the (organization,
    created_at, id) index), then only those rows with their parts, so a deep page does not load every
    row before it.
    """
    matches = _search_matches(user, search)
    total, _ = bounded_count(matches, COUNT_EXACTLY_UP_TO)  # the Order History page cannot say "estimate"
    start = number * size
    ids = list(matches.values_list("id", flat=True)[start : start + size]) if start < total else []
    return _in_order(ids), total


def api_token_digest(token: str) -> str:
    """How a bearer token is stored: its SHA-256 (the token itself is a 256-bit random value)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def api_token_for_bearer(token: str) -> User | None:
    """The user a live bearer token acts as, in one query; None when the token is unknown, expired or
    revoked, its client revoked or its user inactive. The user's `bearer_token_id` is the token's key.

    Checked on every call, so a revocation or a deactivated user takes effect at once. One statement
    of the portal's, read into a user by graph_read.read_rows (the password left deferred): the same
    join through `select_related` cost three times as much CPU in building and compiling the query as
    in running it, and `Manager.raw` spent a third of its CPU matching columns (docs/performance.md).
    """
    if not token or len(token) > 200:
        return None
    found = read_rows(
        User,
        _bearer_token_sql(),
        [api_token_digest(token), timezone.now()],
        fields=_BEARER_USER_FIELDS,
        extra=("bearer_token_id",),
    )
    return found[0] if found else None


_BEARER_USER_FIELDS = [f for f in User._meta.concrete_fields if f.name != "password"]


@functools.cache
def _bearer_token_sql() -> str:
    """The token check's statement, from the models' metadata: the user's columns but the password (left
    deferred), by the token's unique digest."""
    q = connection.ops.quote_name
    client_field = ApiToken._meta.get_field("client")
    client_model = client_field.related_model
    user_field = client_model._meta.get_field("user")
    columns = ", ".join(f"u.{q(f.column)}" for f in _BEARER_USER_FIELDS)
    field = {name: q(ApiToken._meta.get_field(name).column) for name in ("token_hash", "revoked_at", "expires_at")}
    return (
        f"SELECT {columns}, t.{q(ApiToken._meta.pk.column)} AS bearer_token_id "  # noqa: S608
        f"FROM {q(ApiToken._meta.db_table)} t "
        f"JOIN {q(client_model._meta.db_table)} c ON c.{q(client_model._meta.pk.column)} = t.{q(client_field.column)} "
        f"JOIN {q(User._meta.db_table)} u ON u.{q(User._meta.pk.column)} = c.{q(user_field.column)} "
        f"WHERE t.{field['token_hash']} = %s AND t.{field['revoked_at']} IS NULL AND t.{field['expires_at']} > %s "
        f"AND c.{q(client_model._meta.get_field('revoked_at').column)} IS NULL "
        f"AND u.{q(User._meta.get_field('is_active').column)}"
    )


def orders_to_remind(now=None) -> list[int]:
    """Open orders whose visit starts within the next day."""
    now = now or timezone.now()
    return list(
        Order.objects.filter(
            status__in=OPEN_UPSTREAM_STATUSES - {OrderStatus.CLOSED},
            visit_start__gt=now,
            visit_start__lte=now + timedelta(hours=24),
        ).values_list("pk", flat=True)
    )


# ---------------------------------------------------------------------------------------------
# The visits calendar (the customers' month and week pages, the staff's door list): the visits that
# overlap a span of local days, read in one query (two more for the door list's people and cages).
# A day is a local day of each visit's IBX: the UTC span is widened by the largest offsets a zone has.
CALENDAR_ZONE_SLACK_BEFORE = timedelta(hours=14)  # UTC+14: a local day starts up to 14 hours before UTC's
CALENDAR_ZONE_SLACK_AFTER = timedelta(hours=12)  # UTC-12: and ends up to 12 hours after it
_CALENDAR_UTC = timezone.get_fixed_timezone(0)
CALENDAR_MAX_VISITS = 1000  # one page holds at most this many visits; the page says when there are more


def _overlapping(orders: QuerySet[Order], first_day, last_day) -> QuerySet[Order]:
    """`orders` whose visit overlaps the local days first_day..last_day of some zone, soonest first.

    The bound on the start (no visit is longer than MAX_VISIT_LENGTH) makes it a range of the
    (organization, visit_start) index, whose included visit_end decides the rest."""
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=_CALENDAR_UTC) - CALENDAR_ZONE_SLACK_BEFORE
    end = (
        datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=_CALENDAR_UTC)
        + CALENDAR_ZONE_SLACK_AFTER
    )
    return orders.filter(
        visit_start__lt=end, visit_start__gte=start - rules.MAX_VISIT_LENGTH, visit_end__gt=start
    ).order_by("visit_start", "id")


def calendar_visits(*, user: User, filters: OrderFilters, first_day, last_day) -> QuerySet[Order]:
    """The visits `user` may see (narrowed as on the dashboard) that overlap the local days
    first_day..last_day, soonest first, each with its IBX: one query, at most CALENDAR_MAX_VISITS + 1 rows,
    with only the columns a visit on the calendar shows (a full month of a large organization is a
    thousand rows, whose payloads and timestamps were half the page's CPU)."""
    orders = orders_for_user(user=user, filters=filters).select_related("ibx").only(*CALENDAR_COLUMNS)
    return _overlapping(orders, first_day, last_day)[: CALENDAR_MAX_VISITS + 1]


# What the customers' calendar shows of a visit (workvisits/web/visits_calendar.py, _calendar_grid.html).
CALENDAR_COLUMNS = (
    "id",
    "order_id",
    "status",
    "visit_start",
    "visit_end",
    "customer_reference_id",
    "description",
    "ibx__code",
    "ibx__timezone",
)


def calendar_orders(*, user: User, filters: OrderFilters, first_day, last_day) -> list[Order]:
    """calendar_visits, read."""
    return list(calendar_visits(user=user, filters=filters, first_day=first_day, last_day=last_day))


def staff_calendar_orders(
    *, first_day, last_day, ibx: str = "", organization_id: int | None = None, statuses: tuple[str, ...] = ()
) -> list[Order]:
    """Every organization's visits over the local days first_day..last_day, for staff, with the IBX and
    the organization: one query, at most CALENDAR_MAX_VISITS + 1 rows."""
    orders = Order.objects.select_related("ibx", "organization")
    if ibx:
        orders = orders.filter(ibx__code=ibx)
    if organization_id:
        orders = orders.filter(organization_id=organization_id)
    if statuses:
        orders = orders.filter(status__in=statuses)
    return list(_overlapping(orders, first_day, last_day)[: CALENDAR_MAX_VISITS + 1])


def door_orders(*, first_day, last_day, ibx: str = "") -> list[Order]:
    """Every organization's visits over the local days first_day..last_day, for the staff at the door:
    withdrawn ones (cancelled, rejected, failed) left out; with the organization, the IBX, the cages
    and the visitors, in three queries."""
    withdrawn = (OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.FAILED)
    orders = Order.objects.exclude(status__in=withdrawn)
    if ibx:
        orders = orders.filter(ibx__code=ibx)
    orders = orders.select_related("ibx", "organization").prefetch_related(
        Prefetch("cages", queryset=OrderCage.objects.select_related("cage").order_by("id")),
        Prefetch("visitors", queryset=Visitor.objects.select_related("user").order_by("id")),
    )
    return list(_overlapping(orders, first_day, last_day)[: CALENDAR_MAX_VISITS + 1])


def order_events(order: Order) -> QuerySet[OrderEvent]:
    """The order's timeline, oldest first, each event with who did it."""
    return OrderEvent.objects.filter(order=order).select_related("actor").order_by("created_at", "id")


def upcoming_orders_for_feed(*, user: User, now: datetime, left_out: Iterable[str]) -> QuerySet[Order]:
    """The orders a user's calendar feed shows: not yet over, not in `left_out` statuses, soonest first."""
    return orders_with_parts(user=user).filter(visit_end__gte=now).exclude(status__in=left_out).order_by("visit_start")


def series_list_for_user(user: User, *, limit: int = 200) -> list[VisitSeries]:
    """The series a user sees: all the organization's with the permission to see its orders, else their own."""
    if not user.organization_id:
        return []
    found = VisitSeries.objects.filter(organization_id=user.organization_id).select_related("ibx")
    if not user_sees_all_orders(user):
        found = found.filter(owner=user)
    return list(found[:limit])


def organization_attachments(user: User, ids: Iterable[str]) -> list[Attachment]:
    """The files of the user's organization among `ids` (ids that are not UUIDs match nothing)."""
    wanted = []
    for value in ids:
        try:
            wanted.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    if not wanted or not user.organization_id:
        return []
    return list(Attachment.objects.filter(organization_id=user.organization_id, id__in=wanted))
