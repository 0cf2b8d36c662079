"""An organization's catalogue structure (IBXs, cages, accounts, cabinets), cached under its version.

The structure changes only through the locations import and the admin, and both call
`catalogue_changed()` in the change's own transaction; that replaces the organization's
`catalogue_version` (a random UUID), which is the cache key. Readers take the version from the database
first and the structure after it, so a change is seen by the next request once it commits, a structure
built inside a transaction that rolls back sits under a version nobody reads, and a version never repeats
across databases or test runs. Anything else that changes the structure (a data migration, a shell)
calls `catalogue_changed()` too.

Grants, users and the review policy are not cached: every create reads them (workvisits.selectors), so
whatever changed them is seen by the very next request. With the cache down (django-redis ignores its
errors) the structure is built from the database on each request. A process also keeps the catalogues it
read last in its own memory, under the same key (CATALOGUE_PROCESS_MEMORY).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Prefetch

from . import rules
from .models import Cabinet, Cage, Organization

# Safety net only (every change replaces the version): entries of old versions expire.
CACHE_SECONDS = 6 * 3600
# Catalogues a process keeps in its own memory, the least recently used leaving first.
PROCESS_MEMORY_ENTRIES = 512
# The shape of the cached objects is part of the key: change the "1" when Catalogue or the rules'
# facts classes change, so that a deploy never reads the previous release's pickles.
_PREFIX = "wv:catalogue:1"


@dataclass(frozen=True)
class CageIds:
    pk: int
    ibx_pk: int
    ibx_timezone: str
    ibx_active: bool


@dataclass(frozen=True)
class Catalogue:
    """What the rules need about an organization's active cages, plus the primary keys to store an order."""

    cages: dict[str, rules.CageFacts]
    cage_ids: dict[str, CageIds]
    account_ids: dict[str, int]
    cabinet_ids: dict[str, int]


def organization_catalogue(organization_id: int, version: uuid.UUID | str) -> Catalogue:
    """The organization's catalogue as of `version` (read from the database just before): from this
    process's memory (CATALOGUE_PROCESS_MEMORY), the cache, or built."""
    key = f"{_PREFIX}:{organization_id}:{version}"
    if settings.CATALOGUE_PROCESS_MEMORY:
        return _in_process_memory(key, organization_id)
    return _shared(key, organization_id)


@functools.lru_cache(maxsize=PROCESS_MEMORY_ENTRIES)
def _in_process_memory(key: str, organization_id: int) -> Catalogue:
    # A version never repeats, so an entry is never stale: a change makes a new key, and the old
    # entries leave as the least recently used. (Readers never change a Catalogue.)
    return _shared(key, organization_id)


def _shared(key: str, organization_id: int) -> Catalogue:
    found = cache.get(key)
    if found is None:
        found = build_catalogue(organization_id)
        cache.set(key, found, CACHE_SECONDS)
    return found


def build_catalogue(organization_id: int) -> Catalogue:
    """The catalogue, from the database, in a fixed number of queries (three)."""
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
        cage_ids[cage.cage_id] = CageIds(
            pk=cage.pk, ibx_pk=cage.ibx_id, ibx_timezone=cage.ibx.timezone, ibx_active=cage.ibx.active
        )
    return Catalogue(cages=facts, cage_ids=cage_ids, account_ids=account_ids, cabinet_ids=cabinet_ids)


def catalogue_changed(organization_ids: Iterable[int | None] | None = None) -> None:
    """Give the organizations (all of them with None) a new catalogue version, in the caller's transaction.

    Called by whatever changes IBXs, cages, accounts or cabinets: the locations import and the admin.
    """
    organizations = Organization.objects.all()
    if organization_ids is not None:
        ids = {pk for pk in organization_ids if pk is not None}
        if not ids:
            return
        organizations = organizations.filter(pk__in=ids)
    organizations.update(catalogue_version=uuid.uuid4())
