"""Client credentials and bearer tokens of the JSON API. Secrets and tokens are stored only as hashes.

Used by the token endpoint, `manage.py create_api_client` and the admin ("create credentials", "revoke").
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from ..models import ApiClient, ApiToken, Organization, User

# Failed token requests: after this many for one client id from one address, or this many from one
# address in total, further requests are refused for the window.
FAILURES_PER_CLIENT = 5
FAILURES_PER_ADDRESS = 100
FAILURE_WINDOW_SECONDS = 15 * 60
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class InvalidCredentials(Exception):
    """The client id and secret do not match an active client."""


class TooManyFailures(Exception):
    """Too many failed token requests; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"retry after {retry_after} s")


@functools.cache
def _dummy_hash() -> str:
    """A well-formed hash to check against when the client id is unknown, so both cases take as long."""
    return make_password(secrets.token_urlsafe(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def api_client_create(*, user: User, name: str = "") -> tuple[ApiClient, str]:
    """New client credentials acting as `user`. Returns the client and its secret, shown only this once."""
    secret = secrets.token_urlsafe(32)
    client = ApiClient.objects.create(
        user=user,
        name=name[:100],
        client_id=f"wv-{secrets.token_hex(12)}",
        secret_hash=make_password(secret),
    )
    return client, secret


def api_client_revoke(*, client: ApiClient) -> None:
    """Revoke the client and every token it was given."""
    now = timezone.now()
    with transaction.atomic():
        ApiClient.objects.filter(pk=client.pk, revoked_at__isnull=True).update(revoked_at=now)
        ApiToken.objects.filter(client=client, revoked_at__isnull=True).update(revoked_at=now)
    client.revoked_at = client.revoked_at or now


def _failure_keys(client_id: str, address: str) -> list[tuple[str, int]]:
    client_key = hashlib.sha256(f"{client_id}|{address}".encode("utf-8", "surrogatepass")).hexdigest()
    return [
        (f"api-token-failures:client:{client_key}", FAILURES_PER_CLIENT),
        (f"api-token-failures:address:{address}", FAILURES_PER_ADDRESS),
    ]


def _check_throttle(client_id: str, address: str) -> None:
    counts = cache.get_many([key for key, _ in _failure_keys(client_id, address)])
    for key, limit in _failure_keys(client_id, address):
        if counts.get(key, 0) >= limit:
            raise TooManyFailures(FAILURE_WINDOW_SECONDS)


def _record_failure(client_id: str, address: str) -> None:
    for key, _ in _failure_keys(client_id, address):
        cache.add(key, 0, FAILURE_WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, FAILURE_WINDOW_SECONDS)


def api_failures_reset(*, address: str) -> None:
    """Forget the failures counted for an address (an operator unblocking a script)."""
    cache.delete(f"api-token-failures:address:{address}")


def api_token_issue(*, client_id, client_secret, address: str = "") -> tuple[str, ApiToken]:
    """A new bearer token for valid client credentials; raises InvalidCredentials or TooManyFailures."""
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        client_id = ""
    _check_throttle(client_id, address)
    client = None
    if client_id:
        client = ApiClient.objects.select_related("user").filter(client_id=client_id).first()
    valid = isinstance(client_secret, str) and 0 < len(client_secret) <= 256
    matches = check_password(client_secret if valid else "", client.secret_hash if client else _dummy_hash())
    if not (client and valid and matches and client.revoked_at is None and client.user.is_active):
        _record_failure(client_id, address)
        raise InvalidCredentials()
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    record = ApiToken.objects.create(
        client=client, token_hash=_token_hash(token), expires_at=now + timedelta(seconds=settings.API_TOKEN_SECONDS)
    )
    ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
    record.client = client
    return token, record


# Never read on the hot path; loaded on access if ever needed (they stay deferred).
_UNREAD_FIELDS = frozenset({"secret_hash", "password"})
_VERIFY_MODELS = (ApiToken, ApiClient, User, Organization)


@functools.cache
def _verify_statement() -> tuple[str, tuple[list[str], ...]]:
    """One SELECT of the live token with its client, user and organization; the attribute names per model."""
    q = connection.ops.quote_name
    aliases = ("t", "c", "u", "o")
    columns, names = [], []
    for alias, model in zip(aliases, _VERIFY_MODELS, strict=True):
        fields = [f for f in model._meta.concrete_fields if f.name not in _UNREAD_FIELDS]
        columns += [f"{alias}.{q(f.column)}" for f in fields]
        names.append([f.attname for f in fields])
    table = {alias: q(model._meta.db_table) for alias, model in zip(aliases, _VERIFY_MODELS, strict=True)}
    # Only quoted identifiers from the models' metadata are formatted in; the values are parameters.
    sql = (
        f"SELECT {', '.join(columns)} FROM {table['t']} t "  # noqa: S608
        f"JOIN {table['c']} c ON c.{q('id')} = t.{q('client_id')} "
        f"JOIN {table['u']} u ON u.{q('id')} = c.{q('user_id')} "
        f"LEFT JOIN {table['o']} o ON o.{q('id')} = u.{q('organization_id')} "
        f"WHERE t.{q('token_hash')} = %s AND t.{q('revoked_at')} IS NULL AND t.{q('expires_at')} > %s "
        f"AND c.{q('revoked_at')} IS NULL AND u.{q('is_active')}"
    )
    return sql, tuple(names)


def api_token_verify(token: str) -> ApiToken | None:
    """The live token record (with its client, user and organization) for a bearer token, or None.

    Checked against the database on every call (expiry, revocation of the token or its client, and a
    deactivated user take effect at once), in one plain SELECT: the ORM's query building cost more than
    the query itself on this, the hottest path of the API.
    """
    if not token or len(token) > 200:
        return None
    sql, names = _verify_statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, [_token_hash(token), timezone.now()])
        row = cursor.fetchone()
    if row is None:
        return None
    instances, start = [], 0
    for model, attnames in zip(_VERIFY_MODELS, names, strict=True):
        values = row[start : start + len(attnames)]
        start += len(attnames)
        instances.append(model.from_db(connection.alias, attnames, values) if values[0] is not None else None)
    record, client, user, organization = instances
    if organization is not None:
        user.organization = organization
    client.user = user
    record.client = client
    return record


def api_token_revoke(*, token: ApiToken) -> None:
    """Revoke one token; calls with it fail from now on."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
