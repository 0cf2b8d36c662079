"""Reads: what a user may see and order, with the queries shaped once."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone
from django.utils.functional import cached_property

from . import catalogue, rules
from .choices import ContactType
from .models import IBX, Account, Attachment, Cabinet, Cage, Contact, Order, OrderCage, OrderEvent, User, Visitor

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
    return orderable_cages(user).exists()


def ordering_context(
    user: User, now: datetime | None = None, attachment_ids: Iterable | None = None
) -> rules.OrderingContext:
    """The facts the rules need about `user`'s organization (cached, see workvisits.catalogue).

    With `attachment_ids`, only those of the organization's attachments are looked up (none: no query).
    """
    return ordering_context_and_ids(user, now, attachment_ids)[0]


def ordering_context_and_ids(
    user: User, now: datetime | None = None, attachment_ids: Iterable | None = None
) -> tuple[rules.OrderingContext, catalogue.Ordering | None]:
    """The ordering context, and (None without an organization) the organization's facts with the primary
    keys of its cages, accounts, cabinets and users, and its review policy as it is now: what an order is
    stored with once the rules pass.

    A fixed number of queries: one for the catalogue version (none when the API's token check read it)
    and, on a cache miss, up to five more; the attachments (never cached) one when `attachment_ids` names any.
    """
    now = now or timezone.now()
    if not user.organization_id:
        return rules.OrderingContext(now=now, cages={}, orderable=frozenset(), usernames=frozenset()), None
    ordering = catalogue.ordering_facts(user)
    keys = None if attachment_ids is None else _uuids(attachment_ids)
    attachments = {}
    if keys is None or keys:  # (none named: not even a query to build)
        found = Attachment.objects.filter(organization_id=user.organization_id)
        if keys is not None:
            found = found.filter(id__in=keys)
        attachments = {
            str(a.id): rules.AttachmentFacts(attachment_id=str(a.id), name=a.name, in_use=a.order_id is not None)
            for a in found.only("id", "name", "order_id")
        }
    ctx = rules.OrderingContext(
        now=now,
        cages=ordering.facts.cages,
        orderable=ordering.orderable,
        usernames=ordering.facts.usernames,
        attachments=attachments,
    )
    return ctx, ordering


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
        named = Visitor.objects.filter(
            Q(first_name__icontains=text)
            | Q(last_name__icontains=text)
            | Q(user__first_name__icontains=text)
            | Q(user__last_name__icontains=text)
            | Q(user__username__iexact=text)
        ).values("order_id")
        orders = orders.filter(Q(order_id__icontains=text) | Q(customer_reference_id__icontains=text) | Q(pk__in=named))
    return orders.order_by()


def order_for_user(user: User, order_id: str) -> Order:
    """One order `user` may see; Order.DoesNotExist for an unknown one or another organization's."""
    return _with_parts(orders_for_user(user=user)).get(order_id=order_id)


def _in_order(ids: list[int]) -> list[Order]:
    """The orders `ids` name, with their parts, in the order of `ids` (the ids came from an index)."""
    if not ids:
        return []
    found = {order.pk: order for order in _with_parts(Order.objects.filter(pk__in=ids))}
    return [found[pk] for pk in ids if pk in found]


class DashboardOrders:
    """The dashboard's list: upcoming visits (soonest first), then past ones (latest first).

    Two queries each ordered by the (organization, visit_start) index, read as one sequence by a
    Paginator: a page's ids come from the index, then only that page's rows are loaded.
    """

    def __init__(self, orders: QuerySet[Order], filters: OrderFilters, now: datetime):
        none = Order.objects.none()
        self.upcoming = none if filters.when == PAST else orders.filter(_upcoming(now)).order_by("visit_start", "id")
        self.past = none if filters.when == UPCOMING else orders.filter(_past(now)).order_by("-visit_start", "-id")

    @cached_property
    def counts(self) -> tuple[int, int]:
        return self.upcoming.count(), self.past.count()

    def count(self) -> int:
        return sum(self.counts)

    def __getitem__(self, part: slice) -> list[Order]:
        start, stop = part.start or 0, part.stop
        upcoming = self.counts[0]
        ids: list[int] = []
        if start < upcoming:
            ids += self.upcoming.values_list("id", flat=True)[start : min(stop, upcoming)]
        if stop > upcoming:
            ids += self.past.values_list("id", flat=True)[max(start - upcoming, 0) : stop - upcoming]
        return _in_order(ids)


def dashboard_orders(*, user: User, filters: OrderFilters, now: datetime | None = None) -> DashboardOrders:
    now = now or timezone.now()
    return DashboardOrders(orders_for_user(user=user, filters=filters, now=now), filters, now)


def ibx_codes_with_orders(*, user: User) -> list[str]:
    """Codes of the IBXs where the user's organization has orders: one EXISTS probe per IBX on the
    (organization, ibx) index, not every order's IBX."""
    if not user.organization_id:
        return []
    return list(_ibxs_with_orders(user.organization_id).values_list("code", flat=True))


def _ibxs_with_orders(organization_id: int) -> QuerySet[IBX]:
    has_orders = Exists(Order.objects.filter(organization_id=organization_id, ibx_id=OuterRef("pk")))
    return IBX.objects.filter(has_orders).order_by("code")


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]
    total: int
    next_cursor: str | None  # where the next page starts, when there is one


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
    page starts right after it. Raises InvalidCursor.
    """
    orders = orders_for_user(user=user, filters=filters)
    total = orders.count()
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
    return OrderPage(orders=rows, total=total, next_cursor=_cursor(rows[-1]) if len(ids) > size else None)


def order_with_parts(pk: int) -> Order:
    return _with_parts(Order.objects.all()).get(pk=pk)


# What an email about an order needs (recipients, templates, invite): the parts of order_with_parts
# without the attachments, accounts and cabinets that only the upstream bodies use.
_NOTICE_JOINS = ("ibx", "ordered_by")  # (the organization only an operators' alert names: loaded then)


def _notice_parts() -> list[Prefetch]:
    return [
        Prefetch("cages", queryset=OrderCage.objects.select_related("cage")),
        Prefetch("visitors", queryset=Visitor.objects.select_related("user").order_by("id")),
        Prefetch("contacts", queryset=Contact.objects.select_related("user")),  # recipients() orders them
    ]


def order_for_notice(pk: int) -> Order:
    return Order.objects.select_related(*_NOTICE_JOINS).prefetch_related(*_notice_parts()).get(pk=pk)


def event_for_notice(event_pk: int) -> OrderEvent | None:
    """An event with its order loaded as order_for_notice does, in four queries; None when it is gone."""
    joins = [f"order__{name}" for name in _NOTICE_JOINS]
    try:
        event = OrderEvent.objects.select_related(*joins).get(pk=event_pk)
    except OrderEvent.DoesNotExist:
        return None
    prefetch_related_objects([event.order], *_notice_parts())
    return event


def order_facts(order: Order) -> rules.OrderFacts:
    technical = frozenset(
        c.user.username for c in order.contacts.all() if c.contact_type == ContactType.TECHNICAL and c.user_id
    )
    return rules.OrderFacts(
        status=order.status,
        visit_start=order.visit_start,
        visit_end=order.visit_end,
        ordered_by=order.ordered_by.username,
        technical_usernames=technical,
    )


def user_may_change_order(user: User, order: Order) -> bool:
    return rules.may_change_order(user.username, user_sees_all_orders(user), order_facts(order))


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


def organization_users(user: User) -> QuerySet[User]:
    if not user.organization_id:
        return User.objects.none()
    return User.objects.filter(organization_id=user.organization_id, is_active=True).order_by("last_name", "username")
