"""The token endpoint and bearer authentication: credentials, expiry, revocation, throttling."""

import io
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.api_support import Api, error_props
from workvisits import services
from workvisits.models import ApiClient, ApiToken

TOKEN_URL = "/oauth2/v1/token"


def ask_token(client_id, client_secret, grant_type="client_credentials"):
    return Api().post(TOKEN_URL, {"grant_type": grant_type, "client_id": client_id, "client_secret": client_secret})


def test_create_api_client_prints_credentials_that_give_a_token_acting_as_the_user(orderer, settings):
    out = io.StringIO()
    call_command("create_api_client", "orderer", stdout=out, stderr=io.StringIO())
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    client = ApiClient.objects.get(client_id=lines["client_id"])
    assert client.user == orderer
    assert lines["client_secret"] not in client.secret_hash  # only a hash is kept

    response = ask_token(lines["client_id"], lines["client_secret"])
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["token_timeout"] == str(settings.API_TOKEN_SECONDS)
    assert body["user_name"] == "orderer"
    assert "no-store" in response["Cache-Control"]
    stored = ApiToken.objects.get(client=client)
    assert stored.token_hash != body["access_token"] and body["access_token"] not in stored.token_hash

    api = Api(token=body["access_token"])
    assert api.get("/colocations/v2/locations").status_code == 200


def test_create_api_client_refuses_an_unknown_user(demo):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_api_client", "nobody", stdout=io.StringIO())


@pytest.mark.parametrize(
    "body, code, props",
    [
        ({}, "EQ-2016011", ["grant_type", "client_id", "client_secret"]),
        ({"grant_type": "password", "client_id": "x", "client_secret": "y"}, "EQ-2010010", ["grant_type"]),
        ([1, 2], "EQ-2010010", ["$"]),
        (
            {"grant_type": "client_credentials", "client_id": 7, "client_secret": ["s"]},
            "EQ-2010010",
            ["client_id", "client_secret"],
        ),
    ],
)
def test_token_request_errors(demo, body, code, props):
    response = Api().post(TOKEN_URL, body)
    assert response.status_code == 400
    assert error_props(response) == {code: props}


def test_wrong_secret_unknown_client_and_revoked_client_get_401(orderer):
    client, secret = services.api_client_create(user=orderer)
    assert ask_token(client.client_id, secret + "x").status_code == 401
    assert ask_token("wv-unknown", secret).status_code == 401
    assert ask_token(client.client_id, 12345).status_code == 400  # not a string: the body is wrong
    services.api_client_revoke(client=client)
    response = ask_token(client.client_id, secret)
    assert response.status_code == 401
    assert error_props(response) == {"EQ-2011001": ["client_secret"]}


def test_failed_token_requests_are_throttled(orderer):
    client, secret = services.api_client_create(user=orderer)
    for _ in range(services.throttles.TOKEN_FAILURES.limit):
        assert ask_token(client.client_id, "wrong").status_code == 401
    response = ask_token(client.client_id, secret)  # even the right secret waits now
    assert response.status_code == 429
    assert int(response["Retry-After"]) == services.throttles.TOKEN_FAILURES.window
    assert error_props(response) == {"EQ-2010029": ["client_id"]}
    # Another client from the same address is not locked out by these failures.
    other, other_secret = services.api_client_create(user=orderer)
    assert ask_token(other.client_id, other_secret).status_code == 200


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer not-a-token", "Basic b3JkZXJlcjpwdw==", "Token abc", "Bearer " + "x" * 500],
)
def test_no_or_bad_token_is_401_with_www_authenticate(demo, header):
    headers = {"Authorization": header} if header else {}
    response = Client().get("/colocations/v2/orders", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert error_props(response) == {"EQ-2011001": ["Authorization"]}


def test_expired_and_revoked_tokens_are_refused(orderer, users, client):
    api = Api(orderer)
    assert api.get("/colocations/v2/orders").status_code == 200
    record = ApiToken.objects.get(client__user=orderer)
    ApiToken.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.get("/colocations/v2/orders").status_code == 401

    api = Api(orderer)
    assert api.get("/colocations/v2/orders").status_code == 200
    # Staff revoke the client in the admin: its live token stops working at once.
    client.force_login(users["admin"])
    live = ApiToken.objects.filter(revoked_at=None, expires_at__gt=timezone.now()).get()
    client.post(
        reverse("admin:workvisits_apiclient_changelist"),
        {"action": "revoke_clients", "index": 0, ACTION_CHECKBOX_NAME: [live.client_id]},
    )
    assert api.get("/colocations/v2/orders").status_code == 401


def test_a_deactivated_user_s_token_stops_working(users):
    api = Api(users["technician"])
    assert api.get("/colocations/v2/orders").status_code == 200
    users["technician"].is_active = False
    users["technician"].save()
    assert api.get("/colocations/v2/orders").status_code == 401
