"""Staff roles are permissions: reviewers review, operators watch tasks and the upstream and resubmit,
customers never enter the admin."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from tests.admin_helpers import CHANGELIST, order_in, post_action
from workvisits.choices import OrderStatus
from workvisits.roles import ROLES


def _actions(client):
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    return {value for value, _ in page.context["action_form"].fields["action"].choices if value}


def test_every_permission_the_roles_name_exists_and_is_granted(demo):
    for name, codes in ROLES.items():
        granted = set(Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename"))
        assert granted == set(codes), name
        assert Permission.objects.filter(codename__in=[c for _, c in codes]).count() >= len(set(codes))


def test_a_reviewer_may_approve_and_reject_but_not_resubmit(client, users, orderer, make_body):
    client.force_login(users["reviewer"])
    assert _actions(client) == {"approve_orders", "reject_orders", "cancel_orders"}
    failed = order_in(OrderStatus.FAILED, orderer, make_body)
    post_action(client, "resubmit_orders", failed)
    failed.refresh_from_db()
    assert failed.status == OrderStatus.FAILED


def test_a_reviewer_sees_neither_the_upstream_log_nor_the_task_results(client, users):
    client.force_login(users["reviewer"])
    assert client.get(reverse("admin:workvisits_upstreamcall_changelist")).status_code == 403
    assert client.get(reverse("admin:django_celery_results_taskresult_changelist")).status_code == 403


def test_an_operator_may_resubmit_and_watch_but_not_approve(client, users, orderer, make_body):
    client.force_login(users["operator"])
    assert _actions(client) == {"resubmit_orders", "link_upstream_orders", "confirm_not_upstream", "cancel_orders"}
    waiting = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    post_action(client, "approve_orders", waiting)
    post_action(client, "reject_orders", waiting, apply="yes", reason="Operators may not reject orders.")
    waiting.refresh_from_db()
    assert waiting.status == OrderStatus.PENDING_REVIEW
    for url in (
        "admin:workvisits_upstreamcall_changelist",
        "admin:django_celery_results_taskresult_changelist",
        "admin:django_celery_beat_periodictask_changelist",
        "admin:workvisits_locationsync_changelist",
        "admin:workvisits_sentnotification_changelist",
    ):
        assert client.get(reverse(url)).status_code == 200, url


def test_the_order_page_is_read_only_for_staff(client, users, orderer, make_body):
    order = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    client.force_login(users["reviewer"])
    page = client.get(reverse("admin:workvisits_order_change", args=[order.pk]))
    assert page.status_code == 200
    assert b'name="description"' not in page.content and b'name="_save"' not in page.content
    before = order.description
    client.post(reverse("admin:workvisits_order_change", args=[order.pk]), {"description": "Changed in the admin."})
    order.refresh_from_db()
    assert order.description == before


def test_a_superuser_has_every_action(client, users):
    client.force_login(users["admin"])
    assert _actions(client) == {
        "approve_orders", "reject_orders", "resubmit_orders", "link_upstream_orders", "confirm_not_upstream",
        "cancel_orders",
    }


@pytest.mark.parametrize("username", ["orderer", "viewer", "globex"])
def test_customers_cannot_enter_the_admin(client, users, username):
    client.force_login(users[username])
    for url in (reverse("admin:index"), CHANGELIST):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
