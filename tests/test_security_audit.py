"""The staff audit trail: every change staff make in the admin to users, organizations (review policy,
retention), ordering grants and API clients is recorded with who, when, before and after."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.forms import MultiWidget
from django.urls import reverse

from workvisits.models import ApiClient, Cage, OrderingGrant, Organization, User


@pytest.fixture
def staff(client, users):
    client.force_login(users["admin"])
    return client


def form_data(client, url) -> dict:
    """The admin change form's current values, as a browser would post them back."""
    form = client.get(url).context["adminform"].form
    data = {}
    for name in form.fields:
        if form.fields[name].disabled:
            continue
        value = form[name].value()
        widget = form.fields[name].widget
        if isinstance(widget, MultiWidget):
            for i, part in enumerate(widget.decompress(value)):
                data[f"{name}_{i}"] = "" if part is None else part
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        else:
            data[name] = "" if value is None else value
    return data


def _latest(model, pk):
    return model.history.filter(id=pk).order_by("-history_date", "-history_id").first()


def test_a_review_policy_change_is_recorded_with_before_and_after(staff, users):
    acme = Organization.objects.get(name="Acme Corp")
    url = reverse("admin:workvisits_organization_change", args=[acme.pk])
    data = {**form_data(staff, url), "review_mode": "ALL", "retention_days": "30"}
    assert staff.post(url, data).status_code == 302
    record = _latest(Organization, acme.pk)
    assert record.history_user == users["admin"] and record.history_type == "~"
    delta = record.diff_against(record.prev_record)
    assert {(c.field, c.old, c.new) for c in delta.changes} >= {
        ("review_mode", "OFF", "ALL"),
        ("retention_days", 90, 30),
    }
    assert staff.get(reverse("admin:workvisits_organization_history", args=[acme.pk])).status_code == 200


def test_a_user_change_is_recorded_including_permissions(staff, users):
    viewer = users["viewer"]
    url = reverse("admin:workvisits_user_change", args=[viewer.pk])
    data = {**form_data(staff, url), "email": "victor@acme.example"}
    data.pop("is_staff", None)
    assert staff.post(url, data).status_code == 302
    record = _latest(User, viewer.pk)
    assert record.history_user == users["admin"]
    changes = {c.field: (c.old, c.new) for c in record.diff_against(record.prev_record).changes}
    assert changes["email"] == ("viewer@acme.example", "victor@acme.example")
    assert not hasattr(record, "password")  # the hash is never copied into the audit
    assert staff.get(reverse("admin:workvisits_user_history", args=[viewer.pk])).status_code == 200


def test_granting_and_revoking_ordering_permission_is_recorded(staff, users):
    cage = Cage.objects.get(cage_id="AM1:02:200100")
    response = staff.post(
        reverse("admin:workvisits_orderinggrant_add"), {"user": users["viewer"].pk, "cage": cage.pk, "ibx": ""}
    )
    assert response.status_code == 302
    grant = OrderingGrant.objects.get(user=users["viewer"], cage=cage)
    created = _latest(OrderingGrant, grant.pk)
    assert created.history_type == "+" and created.history_user == users["admin"]
    staff.post(reverse("admin:workvisits_orderinggrant_delete", args=[grant.pk]), {"post": "yes"})
    deleted = _latest(OrderingGrant, grant.pk)
    assert deleted.history_type == "-" and deleted.history_user == users["admin"] and deleted.cage_id == cage.pk


def test_api_client_creation_and_revocation_are_recorded(staff, users):
    response = staff.post(reverse("admin:workvisits_apiclient_add"), {"user": users["orderer"].pk, "name": "nightly"})
    assert response.status_code == 200  # the page showing the secret once
    client = ApiClient.objects.get(name="nightly")
    assert _latest(ApiClient, client.pk).history_user == users["admin"]
    staff.post(
        reverse("admin:workvisits_apiclient_changelist"),
        {"action": "revoke_clients", "index": 0, ACTION_CHECKBOX_NAME: [client.pk]},
    )
    record = _latest(ApiClient, client.pk)
    assert record.history_user == users["admin"] and record.revoked_at is not None
    assert not hasattr(record, "secret_hash")


def test_a_sign_in_adds_no_audit_row(client, users):
    before = User.history.filter(id=users["orderer"].pk).count()
    assert client.post(reverse("login"), {"username": "orderer", "password": "orderer-demo-pass"}).status_code == 302
    assert User.history.filter(id=users["orderer"].pk).count() == before
