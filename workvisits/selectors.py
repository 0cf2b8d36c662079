"""Reads: what a user may see and order, with the queries shaped once."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone

from . import catalogue, rules
from .choices import OPEN_UPSTREAM_STATUSES, ContactType, OrderStatus
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


def orders_for_user(user: User) -> QuerySet[Order]:
    """The orders `user` may see: all of the organization's with the grant, else the ones they are part of."""
    if not user.is_authenticated or not user.organization_id:
        return Order.objects.none()
    orders = Order.objects.filter(organization_id=user.organization_id)
    if not user_sees_all_orders(user):
        orders = orders.filter(Q(ordered_by=user) | Q(contacts__user=user) | Q(visitors__user=user)).distinct()
    return _with_parts(orders)


def order_for_user(user: User, order_id: str) -> Order:
    """One order `user` may see; Order.DoesNotExist for an unknown one or another organization's."""
    return orders_for_user(user).get(order_id=order_id)


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
