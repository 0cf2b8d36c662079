"""Django's model permissions, read in one query.

`PermissionBackend`, listed in AUTHENTICATION_BACKENDS before Django's `ModelBackend`, answers the
permission checks: a user's permissions, their own and their groups', are read by one statement instead
of ModelBackend's two ORM queries. Most signed-in pages and API calls ask one permission (may this
member see every order of the organization?), and those two queries with their joins were a tenth of
such a page's CPU (docs/performance.md, "Scale").

The rules are ModelBackend's: an inactive or anonymous user has none, a superuser has every permission,
a permission on an object is not this backend's to grant; the set is read once per user object (a
request's). It is authoritative for permissions without an object: one it does not grant is refused
(`PermissionDenied` ends Django's walk through the backends), so ModelBackend is not asked again.
Signing in, and finding the user of a session, stay ModelBackend's: this class has no `get_user`, and
its `authenticate` recognises nobody.
"""

from __future__ import annotations

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import connections, router

from .graph_read import SqlNames

# Where a user object keeps its permissions once read (for the rest of its request).
CACHE_ATTRIBUTE = "portal_permissions"


class PermissionBackend:
    def authenticate(self, request, **credentials):
        return None  # signing in is ModelBackend's

    def get_all_permissions(self, user_obj, obj=None) -> frozenset[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return frozenset()
        cached = getattr(user_obj, CACHE_ATTRIBUTE, None)
        if cached is None:
            cached = _read_permissions(user_obj)
            setattr(user_obj, CACHE_ATTRIBUTE, cached)
        return cached

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        if obj is not None:
            return False  # object permissions: another backend's, if any
        if user_obj.is_active and perm in self.get_all_permissions(user_obj):
            return True
        raise PermissionDenied

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        if user_obj.is_active and any(p.partition(".")[0] == app_label for p in self.get_all_permissions(user_obj)):
            return True
        raise PermissionDenied


def _read_permissions(user) -> frozenset[str]:
    alias = router.db_for_read(Permission)
    sql = _all_permissions_sql(alias) if user.is_superuser else _user_permissions_sql(alias)
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [] if user.is_superuser else [user.pk, user.pk])
        return frozenset(f"{app_label}.{codename}" for app_label, codename in cursor.fetchall())


def _permission_columns(alias: str) -> str:
    n = SqlNames(alias)
    return (
        f"SELECT ct.{n.column(ContentType, 'app_label')}, p.{n.column(Permission, 'codename')} "  # noqa: S608
        f"FROM {n.table(Permission)} p JOIN {n.table(ContentType)} ct "
        f"ON ct.{n.pk(ContentType)} = p.{n.column(Permission, 'content_type')}"
    )


@functools.cache
def _all_permissions_sql(alias: str) -> str:
    return _permission_columns(alias)


@functools.cache
def _user_permissions_sql(alias: str) -> str:
    """A user's permissions, given directly and through the groups, from the models' metadata."""
    n = SqlNames(alias)
    user_model = get_user_model()
    direct = user_model._meta.get_field("user_permissions").remote_field.through
    member = user_model._meta.get_field("groups").remote_field.through
    granted = Group._meta.get_field("permissions").remote_field.through
    user = user_model._meta.model_name  # the through models' field naming the user
    return (
        f"{_permission_columns(alias)} WHERE p.{n.pk(Permission)} IN ("  # noqa: S608
        f"SELECT d.{n.column(direct, 'permission')} FROM {n.table(direct)} d WHERE d.{n.column(direct, user)} = %s "
        f"UNION SELECT g.{n.column(granted, 'permission')} FROM {n.table(granted)} g "
        f"JOIN {n.table(member)} m ON m.{n.column(member, 'group')} = g.{n.column(granted, 'group')} "
        f"WHERE m.{n.column(member, user)} = %s)"
    )
