"""Throttles that cannot be turned against users: cheap refusals, the caller's address behind the proxy,
lockouts of one (account, address) pair only, and a token endpoint that works while Redis is down."""

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.api_support import Api
from workvisits import selectors, services, throttles
from workvisits.models import ApiClient, ApiToken

TOKEN_URL = "/oauth2/v1/token"
PROXY = "10.0.0.1"
PRODUCTION_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]


def ask_token(client_id, secret, forwarded_for=None, remote=PROXY):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return Api().client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        content_type="application/json",
        headers=headers,
        REMOTE_ADDR=remote,
    )


class CountingHasher(PBKDF2PasswordHasher):
    """The production hasher, counting the slow hashes it computes (Django's documented hasher API)."""

    computed = 0

    def encode(self, password, salt, iterations=None):
        CountingHasher.computed += 1
        return super().encode(password, salt, iterations)


COUNTING_HASHERS = ["tests.test_security_throttles.CountingHasher"]


def test_a_flood_of_made_up_client_ids_runs_no_password_hash_and_one_query_each(demo, settings):
    # The work a refusal costs, counted: a slow password hash (~0.5 s of CPU in production) would let
    # a flood of made-up ids slow every user's pages; the refusal must cost a lookup, not a hash.
    settings.PASSWORD_HASHERS = COUNTING_HASHERS
    CountingHasher.computed = 0
    make_password("the counter counts")  # (the hasher in use is the counting one)
    assert CountingHasher.computed == 1
    ask_token("wv-made-up-warm", "x" * 43)  # the first request imports and connects
    CountingHasher.computed = 0
    with CaptureQueriesContext(connection) as queries:
        for i in range(30):
            assert ask_token(f"wv-made-up-{i}", f"made-up-secret-{i:02d}-" + "y" * 24).status_code == 401
    assert CountingHasher.computed == 0
    assert len(queries) <= 30, [q["sql"] for q in queries.captured_queries]


def test_a_throttled_pair_is_refused_before_any_lookup_or_hashing(orderer, settings):
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    client, secret = services.api_client_create(user=orderer)
    for _ in range(throttles.TOKEN_FAILURES.limit):
        assert ask_token(client.client_id, "wrong").status_code == 401
    with CaptureQueriesContext(connection) as queries:
        assert ask_token(client.client_id, secret).status_code == 429
    assert len(queries) == 0


def test_token_lockout_behind_the_proxy_keys_on_the_caller_not_the_proxy(orderer, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    attacked, attacked_secret = services.api_client_create(user=orderer)
    other, other_secret = services.api_client_create(user=orderer)
    for _ in range(throttles.TOKEN_FAILURES.limit):
        assert ask_token(attacked.client_id, "wrong", forwarded_for="203.0.113.5").status_code == 401
    assert ask_token(attacked.client_id, attacked_secret, forwarded_for="203.0.113.5").status_code == 429
    # The same client from its real address, behind the same proxy, still gets a token ...
    assert ask_token(attacked.client_id, attacked_secret, forwarded_for="198.51.100.7").status_code == 200
    # ... and another client from the locked-out address too.
    assert ask_token(other.client_id, other_secret, forwarded_for="203.0.113.5").status_code == 200


def test_made_up_client_ids_from_one_address_do_not_lock_out_real_clients(orderer, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    client, secret = services.api_client_create(user=orderer)
    for i in range(120):
        assert ask_token(f"wv-made-up-{i}", "x" * 43, forwarded_for="203.0.113.9").status_code == 401
    assert ask_token(client.client_id, secret, forwarded_for="203.0.113.9").status_code == 200


@pytest.mark.parametrize(
    "hops, forwarded, expected",
    [
        (0, "203.0.113.5", PROXY),  # no proxy trusted: a forged header is ignored
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # what the caller wrote itself is to the left
        (2, "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "203.0.113.5", PROXY),  # fewer hops than proxies: the connection is the truth
    ],
)
def test_the_client_address_is_the_nth_from_the_right(rf, settings, hops, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = hops
    request = rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert throttles.client_address(request) == expected


def test_sign_in_lockout_behind_the_proxy_is_per_user_and_caller(client, users, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    def sign_in(username, password, caller):
        return client.post(
            reverse("login"),
            {"username": username, "password": password},
            REMOTE_ADDR=PROXY,
            headers={"X-Forwarded-For": caller},
        )

    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("orderer", "wrong", "203.0.113.5")
    assert sign_in("orderer", "orderer-demo-pass", "203.0.113.5").status_code == 429
    # The real user, from another address behind the same proxy, signs in.
    assert sign_in("orderer", "orderer-demo-pass", "198.51.100.7").status_code == 302
    client.logout()
    # Another account from the locked-out address signs in too.
    assert sign_in("technician", "technician-demo-pass", "203.0.113.5").status_code == 302


def test_the_token_endpoint_answers_from_the_database_while_redis_is_down(orderer, settings):
    client, secret = services.api_client_create(user=orderer)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    assert ask_token(client.client_id, secret).status_code == 200
    assert ask_token(client.client_id, "wrong").status_code == 401


def test_secrets_are_stored_as_hmac_and_old_hashes_are_upgraded_on_first_use(orderer, settings):
    client, secret = services.api_client_create(user=orderer)
    assert client.secret_hash == services.api_secret_digest(secret) and secret not in client.secret_hash
    # A client made when secrets went through the password hasher.
    ApiClient.objects.filter(pk=client.pk).update(secret_hash=make_password(secret))
    assert ask_token(client.client_id, "wrong").status_code == 401
    assert not ApiClient.objects.get(pk=client.pk).secret_hash.startswith(services.API_SECRET_SCHEME)
    assert ask_token(client.client_id, secret).status_code == 200
    assert ApiClient.objects.get(pk=client.pk).secret_hash == services.api_secret_digest(secret)
    assert ask_token(client.client_id, secret).status_code == 200


def test_the_token_check_is_one_query_and_sees_revocation_and_deactivation(users):
    technician = users["technician"]
    api_client, secret = services.api_client_create(user=technician)
    token, record = services.api_token_issue(client_id=api_client.client_id, client_secret=secret)
    with CaptureQueriesContext(connection) as queries:
        found = selectors.api_token_for_bearer(token)
        assert (found.username, found.organization_id, found.bearer_token_id) == (
            "technician",
            technician.organization_id,
            record.pk,
        )
    assert len(queries) == 1
    # The password hash is not read with it.
    assert "password" in found.get_deferred_fields()
    technician.is_active = False
    technician.save()
    assert selectors.api_token_for_bearer(token) is None
    technician.is_active = True
    technician.save()
    assert selectors.api_token_for_bearer(token) is not None
    # A revoked client, a revoked or expired token: refused on the very next call.
    for model, pk, change in (
        (ApiClient, api_client.pk, {"revoked_at": timezone.now()}),
        (ApiToken, record.pk, {"revoked_at": timezone.now()}),
        (ApiToken, record.pk, {"expires_at": timezone.now() - timedelta(seconds=1)}),
    ):
        undo = {name: value for name, value in model.objects.filter(pk=pk).values(*change).get().items()}
        model.objects.filter(pk=pk).update(**change)
        assert selectors.api_token_for_bearer(token) is None
        model.objects.filter(pk=pk).update(**undo)
        assert selectors.api_token_for_bearer(token) is not None
