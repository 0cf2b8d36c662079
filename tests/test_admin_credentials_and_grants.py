"""API client credentials and ordering grants, managed in the admin."""

import re

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from workvisits import selectors, services
from workvisits.models import ApiClient, Cage, OrderingGrant


def test_creating_a_client_shows_its_secret_once_and_keeps_only_the_hash(client, users):
    client.force_login(users["admin"])
    response = client.post(
        reverse("admin:workvisits_apiclient_add"), {"user": users["orderer"].pk, "name": "nightly script"}
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    secret = re.search(r'id="client-secret">([^<]+)<', response.content.decode()).group(1)
    api_client = ApiClient.objects.get(name="nightly script")
    assert api_client.user == users["orderer"] and api_client.client_id in response.content.decode()
    assert secret not in api_client.secret_hash and services.api_secret_digest(secret) == api_client.secret_hash
    token, _ = services.api_token_issue(client_id=api_client.client_id, client_secret=secret)
    assert selectors.api_token_for_bearer(token) is not None
    # The client's own page never shows the secret again.
    page = client.get(reverse("admin:workvisits_apiclient_change", args=[api_client.pk]))
    assert secret not in page.content.decode()

    client.post(
        reverse("admin:workvisits_apiclient_changelist"),
        {"action": "revoke_clients", "index": 0, ACTION_CHECKBOX_NAME: [api_client.pk]},
    )
    api_client.refresh_from_db()
    assert api_client.revoked_at is not None
    assert selectors.api_token_for_bearer(token) is None


def test_an_operator_grants_ordering_on_a_cage_and_the_grant_records_who(client, users):
    client.force_login(users["operator"])
    assert client.get(reverse("admin:workvisits_orderinggrant_add")).status_code == 200
    found = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "workvisits", "model_name": "orderinggrant", "field_name": "user", "term": "tess"},
    )
    assert [r["text"] for r in found.json()["results"]] == ["technician"]
    cage = Cage.objects.get(cage_id="DC2:01:123457")
    response = client.post(
        reverse("admin:workvisits_orderinggrant_add"), {"user": users["technician"].pk, "cage": cage.pk, "ibx": ""}
    )
    assert response.status_code == 302
    grant = OrderingGrant.objects.get(user=users["technician"])
    assert (grant.cage, grant.granted_by) == (cage, users["operator"])


def test_a_grant_on_another_organizations_cage_or_on_nothing_is_refused(client, users):
    client.force_login(users["operator"])
    globex_cage = Cage.objects.get(cage_id="DC2:02:300300")
    url = reverse("admin:workvisits_orderinggrant_add")
    response = client.post(url, {"user": users["technician"].pk, "cage": globex_cage.pk, "ibx": ""})
    assert response.status_code == 200 and "another organization" in response.content.decode()
    response = client.post(url, {"user": users["technician"].pk, "cage": "", "ibx": ""})
    assert response.status_code == 200 and "on a cage or on an IBX" in response.content.decode()
    assert not OrderingGrant.objects.filter(user=users["technician"]).exists()


def test_a_reviewer_cannot_manage_grants_or_credentials(client, users):
    client.force_login(users["reviewer"])
    assert client.get(reverse("admin:workvisits_orderinggrant_add")).status_code == 403
    assert client.get(reverse("admin:workvisits_apiclient_add")).status_code == 403
