"""The only code that speaks HTTP to the upstream Work Visits v2 API (or the sandbox).

OAuth2 client credentials; the token is kept in the Django cache (Redis when REDIS_URL is set)
until shortly before it expires and fetched again once when a call answers 401. Every call is
logged as an UpstreamCall row with its status, duration, correlation id and a redacted body.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import cache

from .. import correlation
from .errors import PermanentUpstreamError, TransientUpstreamError, UpstreamError, error_from_response

logger = logging.getLogger(__name__)

ORDERS = "/colocations/v2/orders"
WORK_VISITS = "/colocations/v2/orders/workVisits"
TOKEN = "/oauth2/v1/token"  # noqa: S105 - a path, not a secret
# Seconds before the token's end at which it is no longer used.
TOKEN_MARGIN = 60
_SECRET_KEYS = {"client_secret", "access_token", "password", "authorization", "secret"}
_PERSONAL_KEYS = {"value", "firstName", "lastName"}
_RESPONSE_LOG_CHARS = 4000

_clients: dict[int, httpx.Client] = {}


def _http() -> httpx.Client:
    """One pooled httpx client per process (workers fork, and a client must not cross a fork)."""
    pid = os.getpid()
    client = _clients.get(pid)
    if client is None:
        timeout = httpx.Timeout(settings.UPSTREAM_READ_TIMEOUT, connect=settings.UPSTREAM_CONNECT_TIMEOUT)
        client = httpx.Client(timeout=timeout, follow_redirects=False)
        _clients.clear()
        _clients[pid] = client
    return client


def redact(value: Any) -> Any:
    """A copy of a JSON body with secrets and personal details blanked out."""
    if isinstance(value, dict):
        return {
            k: "***" if k.lower() in _SECRET_KEYS or k in _PERSONAL_KEYS else redact(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _redact_text(text: str) -> str:
    import json

    try:
        body = json.loads(text)
    except ValueError:
        return text[:_RESPONSE_LOG_CHARS]
    return json.dumps(redact(body))[:_RESPONSE_LOG_CHARS]


class UpstreamClient:
    """Calls of the Work Visits v2 API. `order` (optional) ties the logged calls to a portal order."""

    def __init__(self, base_url: str | None = None, client_id: str | None = None, client_secret: str | None = None):
        self.base_url = (base_url or settings.UPSTREAM_BASE_URL).rstrip("/")
        self.client_id = client_id or settings.UPSTREAM_CLIENT_ID
        self.client_secret = client_secret or settings.UPSTREAM_CLIENT_SECRET
        digest = hashlib.sha256(f"{self.base_url}|{self.client_id}".encode()).hexdigest()[:16]
        self._cache_key = f"upstream-token:{digest}"

    # -- the token ---------------------------------------------------------------------------
    def token(self, *, fresh: bool = False) -> str:
        """A bearer token: from the cache, or fetched from the token endpoint."""
        if not fresh:
            try:
                cached = cache.get(self._cache_key)
            except Exception:  # a down cache costs a token request, not the call
                logger.warning("token cache unavailable", exc_info=True)
                cached = None
            if cached:
                return cached
        body = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret}
        response = self._send("POST", TOKEN, json=body, authorized=False)
        data = response.json()
        token = data["access_token"]
        try:
            lifetime = float(data.get("token_timeout") or 0)
        except (TypeError, ValueError):
            lifetime = 0
        keep = max(0.0, lifetime - max(TOKEN_MARGIN, lifetime * 0.1)) if lifetime else 300
        if keep > 0:
            try:
                cache.set(self._cache_key, token, timeout=keep)
            except Exception:
                logger.warning("token cache unavailable", exc_info=True)
        return token

    # -- one call ----------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict | None = None,
        files: dict | None = None,
        authorized: bool = True,
        order=None,
        token: str | None = None,
    ) -> httpx.Response:
        from ..models import UpstreamCall

        url = self.base_url + path
        corr = correlation.get() or correlation.new_id()
        headers = {correlation.HEADER: corr, "Accept": "application/json"}
        if authorized:
            headers["Authorization"] = f"Bearer {token or self.token()}"
        started = time.monotonic()
        response = None
        failure: UpstreamError | None = None
        try:
            response = _http().request(method, url, json=json, params=params, files=files, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            failure = TransientUpstreamError(f"cannot reach the upstream: {exc!r}")
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            # The request went out: the upstream may have acted on it.
            failure = TransientUpstreamError(f"no answer from the upstream: {exc!r}", ambiguous=True)
        duration = int((time.monotonic() - started) * 1000)
        if response is not None and response.status_code >= 400:
            failure = error_from_response(response.status_code, response.text, response.headers)
        logged_body = redact(json) if json is not None else ({"file": files["file"][0]} if files else None)
        try:
            UpstreamCall.objects.create(
                order=order,
                method=method,
                url=url[:500],
                status_code=response.status_code if response is not None else None,
                duration_ms=duration,
                correlation_id=(response.headers.get(correlation.HEADER) if response is not None else None) or corr,
                request_body=logged_body,
                response_body=_redact_text(response.text) if response is not None else "",
                error=str(failure) if failure else "",
            )
        except Exception:  # the log must never break the call it records
            logger.warning("could not record the upstream call", exc_info=True)
        logger.info(
            "upstream %s %s -> %s in %d ms",
            method,
            path,
            response.status_code if response is not None else failure,
            duration,
        )
        if failure:
            raise failure
        return response

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        """A call with the bearer token, fetched again once when the upstream answers 401."""
        try:
            return self._send(method, path, **kwargs)
        except UpstreamError as exc:
            if exc.status != 401:
                raise
        try:
            cache.delete(self._cache_key)
        except Exception:
            logger.warning("token cache unavailable", exc_info=True)
        return self._send(method, path, token=self.token(fresh=True), **kwargs)

    # -- the API -----------------------------------------------------------------------------
    def create_work_visit(self, body: dict, *, order=None) -> str:
        """POST a work visit; returns the upstream order id taken from the Location header."""
        response = self._call("POST", WORK_VISITS, json=body, order=order)
        location = response.headers.get("Location", "")
        order_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not order_id:
            raise TransientUpstreamError("the upstream accepted the order without a Location", ambiguous=True)
        return order_id

    def modify_work_visit(self, upstream_order_id: str, body: dict, *, order=None) -> None:
        self._call("PATCH", f"{WORK_VISITS}/{upstream_order_id}", json=body, order=order)

    def get_order(self, upstream_order_id: str, *, order=None) -> dict:
        return self._call("GET", f"{ORDERS}/{upstream_order_id}", order=order).json()

    def find_order_by_reference(self, reference: str, *, order=None) -> dict | None:
        """The upstream order carrying `reference` as its customerReferenceId, or None."""
        data = self._call("GET", ORDERS, params={"customerReferenceId": reference}, order=order).json()
        items = data.get("data", data) if isinstance(data, dict) else data
        for item in items or []:
            if isinstance(item, dict) and item.get("customerReferenceId") == reference:
                return item
        return None

    def cancel_order(self, upstream_order_id: str, reason: str, *, order=None) -> None:
        self._call("POST", f"{ORDERS}/{upstream_order_id}/cancel", json={"reason": reason}, order=order)

    def list_locations(self, permission_code: str = "WORK_VISIT") -> Any:
        """The upstream's locations (IBXs, cages, accounts, cabinets) as parsed JSON."""
        return self._call("GET", "/colocations/v2/locations", params={"permissionCode": permission_code}).json()

    def upload_attachment(self, name: str, content: bytes, content_type: str, *, order=None) -> str:
        """Upload one file; returns the upstream's attachmentId."""
        response = self._call(
            "POST", "/colocations/v2/attachments/file", files={"file": (name, content, content_type)}, order=order
        )
        data = response.json()
        if not data.get("attachmentId"):
            raise PermanentUpstreamError("the upstream stored the attachment without an id")
        return data["attachmentId"]

    # -- the locations catalogue (read by workvisits.locations) -------------------------------
    def lookup_locations(self, permission_code: str = "WORK_VISIT") -> Any:
        """Lookup v2 (`{"crossConnects": [...]}`) as parsed JSON; None for an empty answer (204 or no body).
        A body that is not JSON raises ValueError naming what came back."""
        return _json_or_none(self._call("GET", "/colocations/v2/locations", params={"permissionCode": permission_code}))

    def workvisit_locations_v1(self) -> Any:
        """The v1 work-visit locations (`{"locations": [...]}`, credit hold and PO flags) as parsed JSON;
        None for an empty answer. A body that is not JSON raises ValueError."""
        return _json_or_none(self._call("GET", "/v1/orders/workvisit/locations", params={"detail": "true"}))


def _json_or_none(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        raise ValueError(f"the answer is not JSON ({kind}): {response.text[:80]!r}") from None
