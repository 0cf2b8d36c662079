"""The ordering facts of an organization, cached, and the signals that invalidate them.

The rules need, on every create, the organization's cages with their accounts and cabinets, its
active usernames and the cages the caller may order for. These change rarely, so they are kept in
the Django cache (Redis when REDIS_URL is set), keyed by the organization's `catalogue_version`.

That version is a random UUID stored on the organization and replaced whenever anything the facts
are made of changes (the signals below: IBX, Cage, Account, Cage.accounts, Cabinet, OrderingGrant,
User; bulk `update()`s call `catalogue_changed` themselves), in the change's transaction when there
is one (deletes and m2m changes always; a lone save() commits just before its post_save bump).
Readers take the version from the database first and build the facts after it, so:

- a change is seen by the next request once its transaction commits (a revoked grant refuses the
  very next create);
- facts built inside an uncommitted transaction are stored under a version nobody else can read
  yet, and under one nobody will ever read if that transaction rolls back;
- a random version never repeats across databases, test workers or re-created databases.

In front of the Django cache, each process keeps the facts it used last in memory (`_recent`: the
current entry of at most 256 organizations, shared by the worker's threads), under the same versions.
An entry is used only when its version equals the version just read, so it is exactly as valid as the
shared cache's, and the points above hold for it too: facts built inside an uncommitted transaction
sit under that transaction's version, which other threads (reading the committed one) never ask for,
and which nobody asks for once it rolls back. One version per organization is kept, so the facts of
old versions never pile up; a request with another version simply replaces the entry. The cached
objects are shared, not copies: their dicts are never changed after build_facts() (the rules only
read them).

The version and the review policy are read once per request: the API's token check reads them with
the organization (`remember_organization_state`) and the next ordering_facts() of that request takes
them instead of selecting them again; otherwise ordering_facts() selects them itself.

Attachments are not cached: they change with every upload. With the cache down, the facts are built
from the database (as before the cache) and kept in process memory only, so orders are still taken.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

from django.core.cache import cache
from django.db import connection
from django.db.models import Prefetch, Q
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from . import rules
from .models import IBX, Account, Cabinet, Cage, OrderingGrant, Organization, User

logger = logging.getLogger(__name__)

# Safety net only (every change replaces the version): entries of old versions expire.
CACHE_SECONDS = 6 * 3600
# The shape of the cached objects is part of the key: change the "1" when OrganizationFacts or the
# rules' facts classes change, so that a deploy never reads the previous release's pickles.
_PREFIX = "wv:ordering:1"


@dataclass(frozen=True)
class CageIds:
    pk: int
    ibx_pk: int
    ibx_timezone: str


@dataclass(frozen=True)
class OrganizationFacts:
    """What the rules need about an organization's catalogue, plus the primary keys to store an order."""

    cages: dict[str, rules.CageFacts]
    usernames: frozenset[str]
    cage_ids: dict[str, CageIds]
    account_ids: dict[str, int]
    cabinet_ids: dict[str, int]
    user_ids: dict[str, int]


class Ordering(NamedTuple):
    facts: OrganizationFacts
    orderable: frozenset[str]  # the cage ids the user may order for
    review_policy: rules.ReviewPolicy  # read fresh with the version, never cached


_POLICY_FIELDS = (
    "review_mode",
    "review_within_24_hours",
    "review_non_registered_visitors",
    "review_new_purchase_order",
    "review_night_or_weekend",
)


def catalogue_version(organization_id: int) -> str:
    """The organization's current catalogue version, read from the database (never from a cached object)."""
    return _organization_state(organization_id)[0]


def _organization_state(organization_id: int) -> tuple[str, rules.ReviewPolicy | None]:
    # A plain SELECT: it runs on every create, and the ORM's query building costs more than the query.
    with connection.cursor() as cursor:
        cursor.execute(_state_statement(), [organization_id])
        row = cursor.fetchone()
    if row is None:
        return str(uuid.UUID(int=0)), None
    # As a UUID, whatever the database returns (SQLite: hex), so the key is the one the token check notes.
    version = Organization._meta.get_field("catalogue_version").to_python(row[0])
    return str(version), Organization(**dict(zip(_POLICY_FIELDS, row[1:], strict=True))).review_policy()


@functools.cache
def _state_statement() -> str:
    q = connection.ops.quote_name
    columns = ", ".join(q(Organization._meta.get_field(name).column) for name in ("catalogue_version", *_POLICY_FIELDS))
    return f"SELECT {columns} FROM {q(Organization._meta.db_table)} WHERE {q('id')} = %s"  # noqa: S608 (identifiers)


# Set on the user object of a request by the token check, taken (once) by that request's ordering_facts().
_STATE_ATTRIBUTE = "_catalogue_state_of_this_request"


def remember_organization_state(user: User, organization: Organization) -> None:
    """Note on `user` the catalogue version and review policy of `organization`, just read from the
    database with `user` for the current request; that request's next ordering_facts() uses them instead
    of selecting them again. Only for objects read during the request, never for long-lived ones."""
    state = (organization.pk, str(organization.catalogue_version), organization.review_policy())
    setattr(user, _STATE_ATTRIBUTE, state)


def _state_for(user: User) -> tuple[str, rules.ReviewPolicy | None]:
    state = user.__dict__.pop(_STATE_ATTRIBUTE, None)
    if state is not None and state[0] == user.organization_id:
        return state[1], state[2]
    return _organization_state(user.organization_id)


@dataclass
class _Entry:
    version: str
    facts: OrganizationFacts
    orderable: dict[int, frozenset[str]] = field(default_factory=dict)  # by user id


class _Recent:
    """The facts of the organizations this process used last, one version each (see the module docstring)."""

    def __init__(self, organizations: int = 256, users_per_organization: int = 4096):
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._organizations = organizations
        self._users = users_per_organization

    def get(self, organization_id: int, version: str, user_id: int):
        """(facts, orderable cage ids of the user), each None when not held for this version."""
        with self._lock:
            entry = self._entries.get(organization_id)
            if entry is None or entry.version != version:
                return None, None
            self._entries.move_to_end(organization_id)
            return entry.facts, entry.orderable.get(user_id)

    def put(self, organization_id: int, version: str, user_id: int, facts, orderable) -> None:
        with self._lock:
            entry = self._entries.get(organization_id)
            if entry is None or entry.version != version:
                entry = self._entries[organization_id] = _Entry(version, facts)
            if len(entry.orderable) >= self._users:
                entry.orderable.clear()
            entry.orderable[user_id] = orderable
            self._entries.move_to_end(organization_id)
            while len(self._entries) > self._organizations:
                self._entries.popitem(last=False)


_recent = _Recent()


def _keys(organization_id: int, version: str, user_id: int) -> tuple[str, str]:
    base = f"{_PREFIX}:{organization_id}:{version}"
    return f"{base}:catalogue", f"{base}:orderable:{user_id}"


def ordering_facts(user: User) -> Ordering:
    """The organization's facts, the cage ids `user` may order for (from process memory, the cache, or
    built and cached) and the organization's review policy: at most one query when either holds the facts."""
    organization_id = user.organization_id
    version, policy = _state_for(user)
    facts, orderable = _recent.get(organization_id, version, user.pk)
    if facts is None or orderable is None:
        facts, orderable = _shared_or_built(user, version, facts, orderable)
        _recent.put(organization_id, version, user.pk, facts, orderable)
    return Ordering(facts, orderable, policy)


def _shared_or_built(user: User, version: str, facts, orderable) -> tuple[OrganizationFacts, frozenset[str]]:
    """The facts and orderable cage ids not given, from the cache, or built and cached."""
    catalogue_key, orderable_key = _keys(user.organization_id, version, user.pk)
    wanted = [key for key, value in ((catalogue_key, facts), (orderable_key, orderable)) if value is None]
    try:
        found = cache.get_many(wanted)
    except Exception:  # the cache (Redis) is down: orders are still taken, from the database alone
        logger.warning("ordering facts: the cache cannot be read; building them from the database", exc_info=True)
        found = None
    if facts is None:
        facts = found.get(catalogue_key) if found else None
    if orderable is None:
        orderable = found.get(orderable_key) if found else None
    missing = {}
    if facts is None:
        facts = missing[catalogue_key] = build_facts(user.organization_id)
    if orderable is None:
        orderable = missing[orderable_key] = orderable_cage_ids(user)
    if missing and found is not None:
        try:
            cache.set_many(missing, CACHE_SECONDS)
        except Exception:
            logger.warning("ordering facts: the cache cannot be written", exc_info=True)
    return facts, orderable


def orderable_cage_ids(user: User) -> frozenset[str]:
    """Active cages of the user's organization, in active IBXs, on which the user holds a grant."""
    if not user.organization_id:
        return frozenset()
    return frozenset(
        Cage.objects.filter(
            Q(grants__user=user) | Q(ibx__grants__user=user),
            organization_id=user.organization_id,
            active=True,
            ibx__active=True,
        )
        .distinct()
        .values_list("cage_id", flat=True)
    )


def build_facts(organization_id: int) -> OrganizationFacts:
    """The facts, from the database, in a fixed number of queries."""
    cabinets = Prefetch(
        "cabinets", queryset=Cabinet.objects.filter(active=True).only("pk", "cabinet_id", "cage_id", "account_id")
    )
    cages = (
        Cage.objects.filter(organization_id=organization_id, active=True)
        .select_related("ibx")
        .prefetch_related("accounts", cabinets)
    )
    facts, cage_ids, account_ids, cabinet_ids = {}, {}, {}, {}
    for cage in cages:
        by_account: dict[int, set[str]] = {}
        for cabinet in cage.cabinets.all():
            by_account.setdefault(cabinet.account_id, set()).add(cabinet.cabinet_id)
            cabinet_ids[cabinet.cabinet_id] = cabinet.pk
        accounts = {}
        for a in cage.accounts.all():
            account_ids[a.number] = a.pk
            accounts[a.number] = rules.AccountFacts(
                number=a.number,
                name=a.name,
                is_credit_hold=a.is_credit_hold,
                is_po_bearing=a.is_po_bearing,
                cabinets=frozenset(by_account.get(a.pk, ())),
            )
        facts[cage.cage_id] = rules.CageFacts(cage_id=cage.cage_id, ibx=cage.ibx.code, accounts=accounts)
        cage_ids[cage.cage_id] = CageIds(pk=cage.pk, ibx_pk=cage.ibx_id, ibx_timezone=cage.ibx.timezone)
    user_ids = dict(User.objects.filter(organization_id=organization_id, is_active=True).values_list("username", "pk"))
    return OrganizationFacts(
        cages=facts,
        usernames=frozenset(user_ids),
        cage_ids=cage_ids,
        account_ids=account_ids,
        cabinet_ids=cabinet_ids,
        user_ids=user_ids,
    )


# ---------------------------------------------------------------------------------------------
# Invalidation.
def catalogue_changed(organization_ids=None) -> None:
    """Give the organizations (all of them with None) a new catalogue version, in the caller's transaction."""
    organizations = Organization.objects.all()
    if organization_ids is not None:
        ids = {pk for pk in organization_ids if pk is not None}
        if not ids:
            return
        organizations = organizations.filter(pk__in=ids)
    organizations.update(catalogue_version=uuid.uuid4())


def _organizations_of_ibx(ibx_id) -> list[int]:
    return list(Cage.objects.filter(ibx_id=ibx_id).values_list("organization_id", flat=True).distinct())


@receiver(pre_save, sender=Organization, dispatch_uid="catalogue-organization-saved")
def _organization_saved(sender, instance, **kwargs):
    # A save of a copy read earlier must never bring an old version back.
    instance.catalogue_version = uuid.uuid4()


@receiver(post_save, sender=IBX, dispatch_uid="catalogue-ibx-saved")
@receiver(post_delete, sender=IBX, dispatch_uid="catalogue-ibx-deleted")
def _ibx_changed(sender, instance, **kwargs):
    catalogue_changed(_organizations_of_ibx(instance.pk))


@receiver(pre_save, sender=Cage, dispatch_uid="catalogue-cage-moving")
@receiver(pre_save, sender=Account, dispatch_uid="catalogue-account-moving")
@receiver(pre_save, sender=User, dispatch_uid="catalogue-user-moving")
def _remember_old_organization(sender, instance, update_fields=None, **kwargs):
    """An object moved to another organization changes the facts of the one it leaves too."""
    if instance.pk is None or (update_fields is not None and "organization" not in update_fields):
        instance._catalogue_old_organization = None
        return
    instance._catalogue_old_organization = (
        sender.objects.filter(pk=instance.pk).values_list("organization_id", flat=True).first()
    )


@receiver(post_save, sender=Cage, dispatch_uid="catalogue-cage-saved")
@receiver(post_delete, sender=Cage, dispatch_uid="catalogue-cage-deleted")
def _cage_changed(sender, instance, **kwargs):
    catalogue_changed({instance.organization_id, getattr(instance, "_catalogue_old_organization", None)})


@receiver(post_save, sender=Account, dispatch_uid="catalogue-account-saved")
@receiver(post_delete, sender=Account, dispatch_uid="catalogue-account-deleted")
def _account_changed(sender, instance, **kwargs):
    # The cages that list the account may belong to other organizations than the account's.
    users_of_account = set(Cage.objects.filter(accounts=instance.pk).values_list("organization_id", flat=True))
    old = getattr(instance, "_catalogue_old_organization", None)
    catalogue_changed({instance.organization_id, old} | users_of_account)


@receiver(m2m_changed, sender=Cage.accounts.through, dispatch_uid="catalogue-cage-accounts")
def _cage_accounts_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if not action.startswith("post_"):
        return
    if not reverse:
        catalogue_changed({instance.organization_id})
    elif pk_set is None and action == "post_clear":  # account.cages.clear(): the cages are unknown by now
        catalogue_changed(None)
    else:  # account.cages.add(...): the instance is the account
        cages = Cage.objects.filter(pk__in=pk_set) if pk_set else Cage.objects.filter(accounts=instance.pk)
        catalogue_changed(set(cages.values_list("organization_id", flat=True)) | {instance.organization_id})


@receiver(pre_save, sender=Cabinet, dispatch_uid="catalogue-cabinet-moving")
def _remember_old_cage(sender, instance, update_fields=None, **kwargs):
    if instance.pk is None or (update_fields is not None and "cage" not in update_fields):
        instance._catalogue_old_cage = None
        return
    instance._catalogue_old_cage = Cabinet.objects.filter(pk=instance.pk).values_list("cage_id", flat=True).first()


@receiver(post_save, sender=Cabinet, dispatch_uid="catalogue-cabinet-saved")
@receiver(post_delete, sender=Cabinet, dispatch_uid="catalogue-cabinet-deleted")
def _cabinet_changed(sender, instance, **kwargs):
    cages = {instance.cage_id, getattr(instance, "_catalogue_old_cage", None)} - {None}
    catalogue_changed(Cage.objects.filter(pk__in=cages).values_list("organization_id", flat=True))


@receiver(post_save, sender=OrderingGrant, dispatch_uid="catalogue-grant-saved")
@receiver(post_delete, sender=OrderingGrant, dispatch_uid="catalogue-grant-deleted")
def _grant_changed(sender, instance, **kwargs):
    catalogue_changed(User.objects.filter(pk=instance.user_id).values_list("organization_id", flat=True))


# Saves of these fields alone leave the ordering facts as they were (a login writes last_login).
_USER_FIELDS_OUTSIDE_FACTS = frozenset({"last_login", "password"})


@receiver(post_save, sender=User, dispatch_uid="catalogue-user-saved")
@receiver(post_delete, sender=User, dispatch_uid="catalogue-user-deleted")
def _user_changed(sender, instance, update_fields=None, **kwargs):
    if update_fields is not None and set(update_fields) <= _USER_FIELDS_OUTSIDE_FACTS:
        return
    catalogue_changed({instance.organization_id, getattr(instance, "_catalogue_old_organization", None)})
