"""Permission checks answered in one query (workvisits/permissions.py), with ModelBackend's answers."""

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from workvisits.models import User
from workvisits.permissions import PermissionBackend

SEE_ALL = "workvisits.view_organization_orders"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

pytestmark = pytest.mark.django_db


def _fresh(user) -> User:
    """The user as the next request reads it (nothing cached on the object)."""
    return User.objects.get(pk=user.pk)


def _permission_queries(captured) -> list:
    return [q for q in captured.captured_queries if "auth_permission" in q["sql"]]


def test_every_demo_user_has_the_permissions_model_backend_gives(users):
    group = Group.objects.create(name="Both ways")
    group.permissions.add(Permission.objects.get(codename="view_order"))
    users["viewer"].groups.add(group)
    users["viewer"].user_permissions.add(Permission.objects.get(codename="view_order"))  # directly too
    users["technician"].user_permissions.add(Permission.objects.get(codename="view_cage"))
    for user in User.objects.all():
        expected = ModelBackend().get_all_permissions(_fresh(user))
        assert PermissionBackend().get_all_permissions(_fresh(user)) == expected, user.username
    assert SEE_ALL in PermissionBackend().get_all_permissions(_fresh(users["viewer"]))


def test_a_check_costs_one_query_and_the_next_check_of_the_request_none(viewer):
    user = _fresh(viewer)
    with CaptureQueriesContext(connection) as captured:
        assert user.has_perm(SEE_ALL)
        assert not user.has_perm("workvisits.delete_order")
        assert user.has_module_perms("workvisits")
        assert not user.has_module_perms("django_celery_beat")
    assert len(captured.captured_queries) == 1


def test_a_grant_through_a_group_counts_and_its_removal_is_seen_on_the_next_request(users):
    technician = users["technician"]
    assert not _fresh(technician).has_perm(SEE_ALL)
    group = Group.objects.create(name="Organization-wide")
    group.permissions.add(Permission.objects.get(codename="view_organization_orders"))
    technician.groups.add(group)
    assert _fresh(technician).has_perm(SEE_ALL)
    technician.groups.remove(group)
    assert not _fresh(technician).has_perm(SEE_ALL)


def test_an_inactive_member_has_no_permission_and_a_superuser_every_one(users):
    viewer = users["viewer"]
    User.objects.filter(pk=viewer.pk).update(is_active=False)
    assert not _fresh(viewer).has_perm(SEE_ALL)
    assert PermissionBackend().get_all_permissions(_fresh(viewer)) == frozenset()
    admin = User.objects.filter(is_superuser=True).first()
    assert PermissionBackend().get_all_permissions(admin) == {
        f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")
    }


def test_a_permission_on_an_object_is_not_granted_by_the_model_permission(viewer):
    assert not PermissionBackend().has_perm(_fresh(viewer), SEE_ALL, obj=object())


def test_a_session_signed_in_through_model_backend_stays_signed_in(client, viewer):
    client.force_login(viewer, backend=MODEL_BACKEND)
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/")
    assert response.status_code == 200
    assert response.context["user"] == viewer
    assert len(_permission_queries(captured)) == 1  # the dashboard's one permission check


def test_signing_in_is_still_model_backend_s(client, users):
    response = client.post(reverse("login"), {"username": "orderer", "password": "orderer-demo-pass"})
    assert response.status_code == 302
    assert client.session[BACKEND_SESSION_KEY] == MODEL_BACKEND
