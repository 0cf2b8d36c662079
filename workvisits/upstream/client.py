"""The only code that speaks HTTP to the upstream (the real one or the sandbox), as UPSTREAM_WIRE.md says.

OAuth2 client credentials; the token is kept in the Django cache until 30 s before its end and
fetched again once when a call answers 401. Every call carries `X-Correlation-Id` (the same one
across the retries of one logical call), waits for the global rate limit (ratelimit.py), and is
recorded as an UpstreamCall row with its status, duration and a redacted body. With
`record_later=True` those rows are kept in memory until `save_calls()`, so that no database
connection is needed while the upstream is being waited on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import cache

from portal import correlation

from ..models import UpstreamCall
from . import payloads, ratelimit
from .errors import PermanentUpstreamError, TransientUpstreamError, UpstreamError, error_from_response

logger = logging.getLogger(__name__)

TOKEN = "/oauth2/v1/token"  # noqa: S105 - a path, not a secret
ORDERS = "/colocations/v2/orders"
WORK_VISITS = "/colocations/v2/orders/workVisits"
ATTACHMENTS = "/v1/attachments/file"
ORDER_HISTORY = "/v1/retrieve-orders"
# The order id in a create's or modify's Location header (the SDK's own pattern).
LOCATION_ORDER_ID = re.compile(r".*/orders/([^/\s?]+)")
TOKEN_MARGIN = 30  # seconds before its end at which a token is no longer used
# The upstream's order statuses (Orders v2); any other value reads as unknown.
ORDER_STATUSES = frozenset({"RECEIVED", "IN_PROGRESS", "ON_HOLD", "CLOSED", "CANCELLED"})
_SECRET_KEYS = {"client_secret", "access_token", "password", "authorization", "secret"}
_PERSONAL_KEYS = {"value", "firstName", "lastName"}
_RESPONSE_LOG_CHARS = 4000

_clients: dict[int, httpx.Client] = {}
_clients_lock = threading.Lock()


def _http() -> httpx.Client:
    """One pooled httpx client per process (a client must not cross a fork)."""
    key = os.getpid()
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            _clients.clear()
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
            client = _clients[key] = httpx.Client(follow_redirects=False, limits=limits)
        return client


def compact(value: Any) -> Any:
    """A copy of a JSON body without null fields (the upstream's clients omit them)."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """A copy of a JSON body with secrets and personal details blanked out."""
    if isinstance(value, dict):
        return {k: "***" if k.lower() in _SECRET_KEYS or k in _PERSONAL_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _redact_text(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text[:_RESPONSE_LOG_CHARS]
    return json.dumps(redact(body))[:_RESPONSE_LOG_CHARS]


def token_lifetime(value: Any) -> int:
    """Seconds a token lasts from its `token_timeout` (a string; only its leading digits count)."""
    match = re.match(r"\d+", str(value if value is not None else "").strip())
    return int(match.group()) if match else 0


def order_id_from_location(location: str | None) -> str | None:
    match = LOCATION_ORDER_ID.match(location or "")
    return match.group(1) if match else None


def new_correlation_id() -> str:
    return str(uuid.uuid4())


class UpstreamClient:
    """Calls of the upstream. `order` (optional, per call) ties the recorded calls to a portal order;
    `deadline` (a time.monotonic() value) bounds every call: none waits past it."""

    def __init__(
        self,
        base_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        deadline: float | None = None,
        record_later: bool = False,
    ):
        self.base_url = (base_url or settings.UPSTREAM_BASE_URL).rstrip("/")
        self.client_id = client_id or settings.UPSTREAM_CLIENT_ID
        self.client_secret = client_secret or settings.UPSTREAM_CLIENT_SECRET
        self.deadline = deadline
        self.record_later = record_later
        self.calls: list = []
        digest = hashlib.sha256(f"{self.base_url}|{self.client_id}".encode()).hexdigest()[:16]
        self.cache_key = f"upstream-token:{digest}"

    # -- the token ---------------------------------------------------------------------------
    def token(self, *, fresh: bool = False) -> str:
        """A bearer token: from the cache, or fetched from the token endpoint."""
        if not fresh:
            try:
                cached = cache.get(self.cache_key)
            except Exception:  # a down cache costs a token request, not the call
                logger.warning("token cache unavailable", exc_info=True)
                cached = None
            if cached:
                return cached
        body = {"client_id": self.client_id, "client_secret": self.client_secret, "grant_type": "client_credentials"}
        try:
            response = self._send("POST", TOKEN, json=body, authorized=False, correlation_id=new_correlation_id())
        except PermanentUpstreamError as exc:
            # The portal's credentials or configuration, not the order: never a reason to reject one.
            raise TransientUpstreamError(
                f"the token endpoint refused the credentials: {exc}", status=exc.status
            ) from exc
        data = response.json()
        token = data.get("access_token") if isinstance(data, dict) else None
        if not token:
            raise TransientUpstreamError("the token endpoint answered without an access_token")
        keep = token_lifetime(data.get("token_timeout")) - TOKEN_MARGIN
        if keep > 0:  # a token without a usable lifetime serves this call only
            try:
                cache.set(self.cache_key, token, timeout=keep)
            except Exception:
                logger.warning("token cache unavailable", exc_info=True)
        return token

    def forget_token(self) -> None:
        try:
            cache.delete(self.cache_key)
        except Exception:
            logger.warning("token cache unavailable", exc_info=True)

    # -- one call ----------------------------------------------------------------------------
    def _timeout(self) -> httpx.Timeout:
        read = settings.UPSTREAM_READ_TIMEOUT
        connect = settings.UPSTREAM_CONNECT_TIMEOUT
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0.05:
                raise TransientUpstreamError("no time left for this call (not sent)")
            read, connect = min(read, left), min(connect, left)
        return httpx.Timeout(read, connect=connect)

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
        correlation_id: str,
    ) -> httpx.Response:
        url = self.base_url + path
        headers = {correlation.HEADER: correlation_id, "Accept": "application/json"}
        content = None
        if files is None:
            headers["Content-Type"] = "application/json"
            if json is not None:
                content = _dumps(compact(json))
        if authorized:
            headers["Authorization"] = f"Bearer {token or self.token()}"
        try:
            started_at = ratelimit.acquire(self.deadline)
        except ratelimit.Paused as exc:
            raise TransientUpstreamError(str(exc), retry_after=exc.wait) from None
        started = time.monotonic()
        response = None
        failure: UpstreamError | None = None
        try:
            response = _http().request(
                method, url, content=content, params=params, files=files, headers=headers, timeout=self._timeout()
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            failure = TransientUpstreamError(f"cannot reach the upstream (not sent): {exc!r}")
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            # The request went out: the upstream may have acted on it.
            failure = TransientUpstreamError(f"no answer from the upstream: {exc!r}", ambiguous=True)
        duration = int((time.monotonic() - started) * 1000)
        if response is not None and response.status_code >= 400:
            failure = error_from_response(response.status_code, response.text, response.headers)
            if failure.retry_after and response.status_code in (429, 503):
                ratelimit.pause(failure.retry_after)
        logged_body = redact(json) if json is not None else ({"file": files["uploadFile"][0]} if files else None)
        self.calls.append(
            UpstreamCall(
                order=order,
                method=method,
                url=url[:500],
                status_code=response.status_code if response is not None else None,
                duration_ms=duration,
                correlation_id=correlation_id,
                request_body=logged_body,
                response_body=_redact_text(response.text) if response is not None else "",
                error=str(failure) if failure else "",
                started_at=started_at,
            )
        )
        if not self.record_later:
            self.save_calls()
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

    def save_calls(self) -> None:
        """Store the calls made since the last save (the log must never break the calls it records)."""
        calls, self.calls = self.calls, []
        if not calls:
            return
        try:
            if len(calls) == 1:
                calls[0].save()  # one INSERT: bulk_create() wraps even one row in a transaction
            else:
                UpstreamCall.objects.bulk_create(calls)
        except Exception:
            logger.warning("could not record %d upstream calls", len(calls), exc_info=True)

    def _call(self, method: str, path: str, *, correlation_id: str | None = None, **kwargs) -> httpx.Response:
        """A call with the bearer token, fetched again once when the upstream answers 401."""
        correlation_id = correlation_id or new_correlation_id()
        try:
            return self._send(method, path, correlation_id=correlation_id, **kwargs)
        except UpstreamError as exc:
            if exc.status != 401:
                raise
        self.forget_token()
        return self._send(method, path, token=self.token(fresh=True), correlation_id=correlation_id, **kwargs)

    # -- the API -----------------------------------------------------------------------------
    def create_work_visit(self, body: dict, *, order=None, correlation_id: str | None = None) -> str:
        """Create a work visit; returns the upstream order id from the Location header (body unread).
        Any 2xx is success (the upstream documents 201)."""
        response = self._call("POST", WORK_VISITS, json=body, order=order, correlation_id=correlation_id)
        order_id = order_id_from_location(response.headers.get("location"))
        if not response.is_success or not order_id:
            # Accepted, but no id to tell which order: only a look-up can say.
            raise TransientUpstreamError(
                f"the upstream answered {response.status_code} without an order id in Location", ambiguous=True
            )
        return order_id

    def modify_work_visit(
        self, upstream_order_id: str, body: dict, *, order=None, correlation_id: str | None = None
    ) -> None:
        """PATCH the visit window, open-cabinet flag or notification contact (202)."""
        self._call("PATCH", f"{WORK_VISITS}/{upstream_order_id}", json=body, order=order, correlation_id=correlation_id)

    def cancel_order(
        self,
        upstream_order_id: str,
        reason: str,
        *,
        attachments: list[dict] | None = None,
        order=None,
        correlation_id: str | None = None,
    ) -> None:
        """Cancel an upstream order (`{reason, attachments?}`: the whole order; 202 or 204, body unread).
        `attachments` are `{id, name}` of files already uploaded to the upstream."""
        self._call(
            "POST",
            f"{ORDERS}/{upstream_order_id}/cancel",
            json=payloads.cancel_body(reason, attachments),
            order=order,
            correlation_id=correlation_id,
        )

    def get_order(self, upstream_order_id: str, *, order=None) -> dict:
        """The upstream's order (Orders v2), with `status` None when it is not one the portal knows.
        An answer that is not a JSON object (204, an empty body, HTML) is PermanentUpstreamError: this
        order cannot be read now, which says nothing of the upstream's health."""
        data = _parsed(self._call("GET", f"{ORDERS}/{upstream_order_id}", order=order))
        if not isinstance(data, dict):
            raise PermanentUpstreamError(f"the upstream's order {upstream_order_id} did not come as a JSON object")
        status = data.get("status")
        if not isinstance(status, str) or status not in ORDER_STATUSES:
            data["status"] = None
        return data

    def search_orders(self, query: str, *, ibx: str | None = None, order=None, size: int = 50) -> dict:
        """Order History search (`q`), newest first: `{"content": [...], "page": {...}}`."""
        body: dict = {
            "q": query,
            "sorts": [{"name": "createdAt", "direction": "DESC"}],
            "page": {"number": 0, "size": size},
        }
        if ibx:
            body["filters"] = {"ibxs": [ibx]}
        data = _parsed(self._call("POST", ORDER_HISTORY, json=body, order=order))
        if isinstance(data, dict) and isinstance(data.get("content"), dict):
            data["content"] = [data["content"]]  # a single object where the array is declared: one item
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise PermanentUpstreamError("the Order History answer has no content list")
        return data

    def upload_attachment(self, name: str, content: bytes, *, purpose: str | None = None, order=None) -> str:
        """Upload one file (multipart part `uploadFile`; `purpose` PO_DOCUMENT for a purchase order's
        document, none for a work visit's other files); returns the upstream's attachmentId."""
        files = {"uploadFile": (name, content, "application/octet-stream")}
        params = {"purpose": purpose} if purpose else None
        data = self._call("POST", ATTACHMENTS, files=files, params=params, order=order).json()
        if not isinstance(data, dict) or not data.get("attachmentId"):
            raise TransientUpstreamError("the upstream stored the attachment without an id")
        return data["attachmentId"]

    # -- the locations catalogue (read by workvisits.locations) -------------------------------
    def lookup_locations(self, permission_code: str = "WORK_VISIT") -> Any:
        """Lookup v2 (`{"crossConnects": [...]}`) as parsed JSON; None for an empty answer (204 or no body).
        A body that is not JSON raises ValueError naming what came back."""
        params = {"permissionCode": permission_code, "details": "true"}  # without details: no cages or accounts
        return _json_or_none(self._call("GET", "/colocations/v2/locations", params=params))

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


def _parsed(response: httpx.Response) -> Any:
    """The answer's JSON; None for an empty answer or one that is not JSON (the caller says what it lacks)."""
    try:
        return _json_or_none(response)
    except ValueError:
        return None


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
