"""Webhooks: an organization's endpoints are told of its orders' events, signed, at least once, in order.

- The outbox: where an order's event is recorded (services.record_event, order_create), in the same
  transaction, one WebhookDelivery row per subscribed endpoint holds the body; the delivery task is sent
  on commit, and the sweeper sends again whatever is due (the rows survive a lost broker).
- In order per order: a delivery is attempted only when no earlier delivery of the same order to the
  same endpoint is still pending; finishing one (success, or given up) sends the next.
- Signing: ``Portal-Signature: t=<unix time>,v1=<hex HMAC-SHA-256 of "<t>.<body>">`` with the endpoint's
  secret, which is derived (never stored): HMAC-SHA-256(WEBHOOKS_SECRET_KEY, the endpoint's nonce).
- Request forgery: a target must resolve to global addresses only (unless WEBHOOKS_ALLOW_PRIVATE_TARGETS),
  checked at registration and again at each attempt, which connects to the address it checked.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.crypto import salted_hmac

from . import queueing, rules, selectors, tasks
from .api.schemas import order_json
from .choices import EventKind, OrderStatus, WebhookDeliveryStatus, WebhookEvent
from .graph_read import read_rows
from .models import (
    WEBHOOK_URL_MAX,
    Order,
    OrderEvent,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)

MANAGE_WEBHOOKS = "workvisits.manage_org_webhooks"
SIGNATURE_HEADER = "Portal-Signature"
DELIVERY_HEADER = "Portal-Delivery"
EVENT_HEADER = "Portal-Event"
USER_AGENT = "WorkVisitPortal-Webhooks/1"
MAX_ENDPOINTS_PER_ORGANIZATION = 10
LATEST_DELIVERIES = 100  # an endpoint's deliveries its page and the API show
DESCRIPTION_MAX = 200
PENDING, SUCCEEDED, FAILED = (
    WebhookDeliveryStatus.PENDING,
    WebhookDeliveryStatus.SUCCEEDED,
    WebhookDeliveryStatus.FAILED,
)
_jitter = secrets.SystemRandom()

# The webhook event of an order event that moves the order to one of these statuses.
_STATUS_EVENTS = {
    OrderStatus.SUBMITTED: WebhookEvent.ACCEPTED,
    OrderStatus.CANCELLED: WebhookEvent.CANCELLED,
    OrderStatus.REJECTED: WebhookEvent.REJECTED,
    OrderStatus.FAILED: WebhookEvent.FAILED,
    OrderStatus.NEEDS_CHECK: WebhookEvent.NEEDS_CHECK,
}


def event_type(kind: str, from_status: str, to_status: str) -> str | None:
    """The webhook event an order event is, if any (timeline notes and emails are none)."""
    if kind == EventKind.CREATED:
        return WebhookEvent.PLACED
    if kind == EventKind.MODIFIED:
        return WebhookEvent.MODIFIED
    if to_status and to_status != from_status:
        return _STATUS_EVENTS.get(to_status, WebhookEvent.STATUS_CHANGED)
    return None


# ---------------------------------------------------------------------------------------------
# Who may manage an organization's endpoints.
def user_may_manage_webhooks(user: User) -> bool:
    """A member of a customer organization holding the permission to manage its webhook endpoints."""
    return bool(user.is_authenticated and user.organization_id and user.has_perm(MANAGE_WEBHOOKS))


def endpoints_for_user(user: User) -> QuerySet[WebhookEndpoint]:
    """The endpoints `user` may see and manage: their organization's, if they hold the permission."""
    if not user_may_manage_webhooks(user):
        return WebhookEndpoint.objects.none()
    return WebhookEndpoint.objects.filter(organization_id=user.organization_id).select_related("created_by")


def endpoint_for_user(user: User, endpoint_id) -> WebhookEndpoint:
    """One endpoint `user` may manage; WebhookEndpoint.DoesNotExist for another organization's or none."""
    return endpoints_for_user(user).get(endpoint_id=endpoint_id)


def deliveries_for_endpoint(endpoint: WebhookEndpoint, limit: int = LATEST_DELIVERIES) -> list[WebhookDelivery]:
    """The endpoint's latest deliveries, newest first, with their attempts and orders."""
    return list(
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("order")
        .prefetch_related("attempt_log")
        .order_by("-created_at", "-id")[:limit]
    )


def delivery_for_user(user: User, endpoint_id, delivery_id) -> WebhookDelivery:
    """One delivery of an endpoint `user` may manage; WebhookDelivery.DoesNotExist otherwise."""
    return WebhookDelivery.objects.select_related("endpoint", "order").get(
        endpoint__in=endpoints_for_user(user), endpoint__endpoint_id=endpoint_id, delivery_id=delivery_id
    )


def organization_admins(organization_id: int) -> list[User]:
    """The organization's active members who manage its webhook endpoints (the endpoints' owners)."""
    members = User.objects.filter(organization_id=organization_id, is_active=True).exclude(email="")
    return [user for user in members if user.has_perm(MANAGE_WEBHOOKS)]


# ---------------------------------------------------------------------------------------------
# Targets: HTTPS, and only global addresses (no request forgery against the deployment's own network).
class TargetRefused(Exception):
    """The URL may not be a webhook target; the message says why, for a person."""


def _refused_address(address: str) -> tuple[object, str] | None:
    """Why the address may not be connected to, or None. Loopback, private, link-local, shared, reserved,
    multicast and unspecified addresses are all not global."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return ip, "a loopback address"
    if ip.is_link_local:
        return ip, "a link-local address"
    if ip.is_private:
        return ip, "a private address"
    if not ip.is_global or ip.is_multicast:
        return ip, "not a public address"
    return None


@dataclass(frozen=True)
class Target:
    """Where an attempt connects: the address that was checked, and the URL's own host for TLS and Host."""

    url: str
    host: str
    port: int
    address: str


HTTPS_ONLY = "The URL must start with https:// (deliveries are sent over TLS only)."


def _split(url: str) -> tuple[str, int, str]:
    if not isinstance(url, str) or not url.strip():
        raise TargetRefused("Give the endpoint's URL, e.g. https://hooks.example.com/work-visits.")
    if len(url) > WEBHOOK_URL_MAX:
        raise TargetRefused(f"The URL has {len(url)} characters; at most {WEBHOOK_URL_MAX} are accepted.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise TargetRefused("This is not a URL; give one like https://hooks.example.com/work-visits.") from None
    if parts.scheme not in ("https", "http"):
        raise TargetRefused(HTTPS_ONLY)
    if not parts.hostname:
        raise TargetRefused("The URL has no host name.")
    if parts.username or parts.password:
        raise TargetRefused("The URL may not carry a user name or password; check the signature instead.")
    if parts.fragment:
        raise TargetRefused("The URL may not have a #fragment.")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80), parts.scheme


def resolve_target(url: str) -> Target:
    """Check `url` and look its host up; every address it resolves to must be allowed. Raises TargetRefused."""
    host, port, scheme = _split(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise TargetRefused(f"The host name {host} does not resolve to an address.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise TargetRefused(f"The host name {host} does not resolve to an address.")
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        for address in addresses:
            refused = _refused_address(address)
            if refused:
                ip, kind = refused
                literal = host == address.split("%", 1)[0]
                what = f"{ip} is {kind}" if literal else f"{host} resolves to {ip}, {kind}"
                raise TargetRefused(f"{what}; webhooks are sent only to public addresses.")
    if scheme != "https" and not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        raise TargetRefused(HTTPS_ONLY)
    return Target(url=url.strip(), host=host, port=port, address=addresses[0])


# ---------------------------------------------------------------------------------------------
# Secrets and signatures.
def endpoint_secret(endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret, derived again from its nonce (see WebhookEndpoint)."""
    mac = salted_hmac(
        "workvisits.webhooks.endpoint-secret",
        endpoint.secret_nonce,
        secret=settings.WEBHOOKS_SECRET_KEY,
        algorithm="sha256",
    ).hexdigest()
    return f"whsec_{mac}"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Portal-Signature header's value for `body` signed at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def delivery_body(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent (and signed): the same for every attempt of a delivery."""
    return json.dumps(delivery.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# ---------------------------------------------------------------------------------------------
# Managing endpoints (services: the API, the pages and the admin call these).
def _violation(path: str, message: str, code: str = rules.INVALID) -> rules.RuleViolation:
    return rules.RuleViolation([rules.RuleError(path, code, message)])


def permission_denied() -> rules.RuleViolation:
    """The error of a user who may not manage the organization's webhooks (403 in the API)."""
    return rules.RuleViolation(
        [
            rules.RuleError(
                "request",
                rules.NO_UPDATE_PERMISSION,
                "Only your organization's administrators (with the permission to manage webhook endpoints) "
                "may do this.",
            )
        ]
    )


def clean_events(events) -> list[str]:
    """The subscribed event types, checked; raises RuleViolation naming the entry at fault."""
    if not isinstance(events, list) or not events:
        raise _violation("events", f"Choose at least one event of: {', '.join(WebhookEvent.values)}.", rules.MISSING)
    errors = [
        rules.RuleError(
            f"events[{i}]",
            rules.INVALID,
            f"{str(e)[:40]!r} is not an event; use one of: {', '.join(WebhookEvent.values)}.",
        )
        for i, e in enumerate(events)
        if e not in WebhookEvent.values
    ]
    if errors:
        raise rules.RuleViolation(errors)
    return [e for e in WebhookEvent.values if e in events]


def endpoint_create(*, user: User, url, events, description="") -> tuple[WebhookEndpoint, str]:
    """Register an endpoint of the user's organization. Returns it and its secret, shown this once."""
    if not user_may_manage_webhooks(user):
        raise permission_denied()
    try:
        target = resolve_target(url)
    except TargetRefused as exc:
        raise _violation("url", str(exc)) from None
    chosen = clean_events(events)
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        raise _violation("description", f"The description is text of at most {DESCRIPTION_MAX} characters.")
    with transaction.atomic():
        count = WebhookEndpoint.objects.select_for_update().filter(organization_id=user.organization_id).count()
        if count >= MAX_ENDPOINTS_PER_ORGANIZATION:
            raise _violation("url", f"Your organization has {count} endpoints, the most allowed; delete one first.")
        endpoint = WebhookEndpoint.objects.create(
            organization_id=user.organization_id,
            url=target.url,
            events=chosen,
            description=description.strip(),
            secret_nonce=secrets.token_hex(32),
            created_by=user,
        )
    logger.info("webhook endpoint %s registered by %s", endpoint.endpoint_id, user.username)
    return endpoint, endpoint_secret(endpoint)


def endpoint_set_active(*, user: User, endpoint: WebhookEndpoint, active: bool, reason: str = "") -> WebhookEndpoint:
    """Disable (its pending deliveries are given up) or enable again an endpoint the user manages."""
    if not user_may_manage_webhooks(user) or endpoint.organization_id != user.organization_id:
        raise permission_denied()
    if active:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            active=True, disabled_at=None, disabled_reason="", failing_since=None
        )
    else:
        _disable(endpoint.pk, reason.strip()[:300] or f"Disabled by {user.username}.", notify=False)
    endpoint.refresh_from_db()
    return endpoint


def endpoint_delete(*, user: User, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint and its deliveries."""
    if not user_may_manage_webhooks(user) or endpoint.organization_id != user.organization_id:
        raise permission_denied()
    endpoint.delete()
    logger.info("webhook endpoint %s deleted by %s", endpoint.endpoint_id, user.username)


def delivery_resend(*, delivery: WebhookDelivery, user: User | None = None) -> WebhookDelivery:
    """Send a delivery again, with the same delivery id (user None: staff in the admin)."""
    endpoint = delivery.endpoint
    if user is not None and (not user_may_manage_webhooks(user) or endpoint.organization_id != user.organization_id):
        raise permission_denied()
    if not endpoint.active:
        raise _violation("endpoint", "The endpoint is disabled; enable it before sending deliveries again.")
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=PENDING, attempts=0, next_attempt_at=timezone.now(), lease_expires_at=None, last_error=""
        )
        _send_on_commit([delivery.pk])
    delivery.refresh_from_db()
    return delivery


# ---------------------------------------------------------------------------------------------
# The outbox.
def endpoints_for_event(organization_id: int, event: str) -> list[WebhookEndpoint]:
    """The organization's active endpoints subscribed to `event`."""
    active = WebhookEndpoint.objects.filter(organization_id=organization_id, active=True).only("pk", "events")
    return [endpoint for endpoint in active if event in endpoint.events]


HAS_ENDPOINTS = "has_webhook_endpoints"


def with_endpoints_flag(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Orders read with whether their organization has an active endpoint (in the same query), so that
    their events cost no lookup when it has none."""
    active = WebhookEndpoint.objects.filter(organization_id=OuterRef("organization_id"), active=True)
    return orders.annotate(**{HAS_ENDPOINTS: Exists(active)})


def order_locked(order_pk: int) -> Order:
    """The order, its row locked until the transaction ends, read with_endpoints_flag; raises
    Order.DoesNotExist. On PostgreSQL one statement of the portal's (graph_read.read_rows): compiling the
    ORM's query (every column and the EXISTS) cost more CPU than running it."""
    if connection.vendor != "postgresql":
        return with_endpoints_flag(Order.objects.select_for_update()).get(pk=order_pk)
    found = read_rows(Order, _order_locked_sql(), [order_pk], extra=(HAS_ENDPOINTS,))
    if not found:
        raise Order.DoesNotExist(f"no order {order_pk}")
    return found[0]


@functools.cache
def _order_locked_sql() -> str:
    q = connection.ops.quote_name
    endpoint = {name: q(WebhookEndpoint._meta.get_field(name).column) for name in ("organization", "active")}
    columns = ", ".join(f"o.{q(f.column)}" for f in Order._meta.concrete_fields)
    return (
        f"SELECT {columns}, EXISTS(SELECT 1 FROM {q(WebhookEndpoint._meta.db_table)} e "  # noqa: S608
        f"WHERE e.{endpoint['organization']} = o.{q(Order._meta.get_field('organization').column)} "
        f"AND e.{endpoint['active']}) AS {q(HAS_ENDPOINTS)} "
        f"FROM {q(Order._meta.db_table)} o WHERE o.{q(Order._meta.pk.column)} = %s FOR UPDATE OF o"
    )


def order_event_recorded(
    *, order: Order, event: OrderEvent, endpoints: list[WebhookEndpoint] | None = None
) -> list[int]:
    """Called in the transaction that records an order event: the deliveries it makes, sent on commit.

    `endpoints`, when given, were looked up by the caller (order_create, before its insert); an order
    read through with_endpoints_flag whose organization has none costs no query.
    """
    kind = event_type(event.kind, event.from_status, event.to_status)
    if kind is None or getattr(order, HAS_ENDPOINTS, None) is False:
        return []
    if endpoints is None:
        endpoints = endpoints_for_event(order.organization_id, kind)
    if not endpoints:
        return []
    shape = order_json(selectors.order_with_parts(order.pk))
    created_at = rules.format_datetime(event.created_at or timezone.now())
    deliveries = []
    for endpoint in endpoints:
        delivery = WebhookDelivery(endpoint_id=endpoint.pk, order_id=order.pk, event_type=kind)
        delivery.payload = {
            "id": str(delivery.delivery_id),
            "type": str(kind),
            "createdAt": created_at,
            "data": {"order": shape},
        }
        deliveries.append(delivery)
    pks = [d.pk for d in WebhookDelivery.objects.bulk_create(deliveries)]
    _send_on_commit(pks)
    return pks


def _send(pks: list[int], countdown: float | None = None) -> None:
    for pk in pks:
        queueing.enqueue(tasks.deliver_webhook, pk, countdown=countdown)


def _send_on_commit(pks: list[int]) -> None:
    if pks:
        transaction.on_commit(lambda: _send(pks))


# ---------------------------------------------------------------------------------------------
# Delivering.
class Transport:
    """The only HTTP of webhooks: one POST to the checked address, no redirects, bounded timeouts.

    `verify` is httpx's: the system's certificate authorities (a test gives its own)."""

    def __init__(self, verify: ssl.SSLContext | str | bool = True):
        self.verify = verify

    def post(self, target: Target, body: bytes, headers: dict[str, str]) -> int:
        scheme = urlsplit(target.url).scheme
        url = httpx.URL(target.url)
        default_port = 443 if scheme == "https" else 80
        host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
        if ":" in target.host:
            host_header = f"[{target.host}]" + ("" if target.port == default_port else f":{target.port}")
        extensions = {}
        if scheme == "https":
            # TLS is checked against the URL's host name while the connection goes to the checked address.
            extensions["sni_hostname"] = target.host
        timeout = httpx.Timeout(settings.WEBHOOKS_READ_TIMEOUT, connect=settings.WEBHOOKS_CONNECT_TIMEOUT)
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, verify=self.verify) as client:
            request = client.build_request(
                "POST",
                url.copy_with(host=target.address.split("%", 1)[0]),
                content=body,
                headers={**headers, "Host": host_header},
                extensions=extensions,
            )
            # Only the status is read: a large or endless answer costs nothing.
            response = client.send(request, stream=True)
            response.close()
            return response.status_code


transport = Transport()


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: base · 2^(n-1), at most the maximum, then between half and all of it."""
    delay = min(settings.WEBHOOKS_RETRY_MAX_SECONDS, settings.WEBHOOKS_RETRY_BASE_SECONDS * 2 ** (attempts - 1))
    return delay * _jitter.uniform(0.5, 1.0)


def _earlier_pending(delivery: WebhookDelivery) -> bool:
    return WebhookDelivery.objects.filter(
        endpoint_id=delivery.endpoint_id, order_id=delivery.order_id, status=PENDING, id__lt=delivery.pk
    ).exists()


def _next_in_line(delivery: WebhookDelivery) -> list[int]:
    pk = (
        WebhookDelivery.objects.filter(
            endpoint_id=delivery.endpoint_id, order_id=delivery.order_id, status=PENDING, id__gt=delivery.pk
        )
        .order_by("id")
        .values_list("pk", flat=True)
        .first()
    )
    return [pk] if pk else []


def _due(now: datetime) -> Q:
    return (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)) & (
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    )


def delivery_attempt(*, delivery_pk: int) -> str:
    """One attempt of a delivery, if it is due and first in line; records it and schedules what follows."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOKS_LEASE_SECONDS)
    if not WebhookDelivery.objects.filter(_due(now), pk=delivery_pk, status=PENDING).update(lease_expires_at=lease):
        return "not due"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_pk)
    if _earlier_pending(delivery):
        WebhookDelivery.objects.filter(pk=delivery_pk, lease_expires_at=lease).update(lease_expires_at=None)
        # The earlier one sends this one when it is done; it may have finished while we looked.
        if not _earlier_pending(delivery):
            _send([delivery_pk])
        return "waiting for an earlier delivery"
    endpoint = delivery.endpoint
    if not endpoint.active:
        _finish(delivery, lease, status=FAILED, last_error="The endpoint is disabled.")
        return "endpoint disabled"

    body = delivery_body(delivery)
    started = timezone.now()
    clock = time.monotonic()
    code, error = None, ""
    try:
        target = resolve_target(endpoint.url)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: str(delivery.delivery_id),
            EVENT_HEADER: delivery.event_type,
            SIGNATURE_HEADER: signature(endpoint_secret(endpoint), int(time.time()), body),
        }
        code = transport.post(target, body, headers)
        if not 200 <= code < 300:
            error = f"The endpoint answered {code}."
    except TargetRefused as exc:
        error = f"Refused: {exc}"
    except httpx.TimeoutException:
        error = "The endpoint did not answer in time."
    except httpx.HTTPError as exc:
        error = f"Could not reach the endpoint: {exc.__class__.__name__}: {str(exc)[:200]}"
    duration_ms = int((time.monotonic() - clock) * 1000)
    WebhookAttempt.objects.create(
        delivery_id=delivery.pk, started_at=started, response_code=code, duration_ms=duration_ms, error=error
    )
    attempts = delivery.attempts + 1
    common = {"attempts": attempts, "last_response_code": code, "last_duration_ms": duration_ms, "last_error": error}
    if not error:
        _finish(delivery, lease, status=SUCCEEDED, delivered_at=timezone.now(), next_attempt_at=None, **common)
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(failing_since=None)
        return f"delivered ({code})"
    WebhookDelivery.objects.filter(pk=delivery.pk, lease_expires_at=lease).update(**common)
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=started)
    if endpoint_disable_if_failing(endpoint_pk=endpoint.pk, error=error):
        return f"failed ({error}); endpoint disabled"
    if attempts >= settings.WEBHOOKS_MAX_ATTEMPTS:
        _finish(delivery, lease, status=FAILED, next_attempt_at=None, **common)
        logger.warning("webhook delivery %s given up after %s attempts: %s", delivery.delivery_id, attempts, error)
        return f"gave up ({error})"
    delay = retry_delay(attempts)
    WebhookDelivery.objects.filter(pk=delivery.pk, lease_expires_at=lease).update(
        next_attempt_at=timezone.now() + timedelta(seconds=delay), lease_expires_at=None, **common
    )
    _send([delivery.pk], countdown=delay)
    return f"failed ({error}); again in {delay:.1f} s"


def _finish(delivery: WebhookDelivery, lease: datetime, *, status: str, **fields) -> None:
    """The delivery is done (succeeded or given up): the next one of the same order may go."""
    WebhookDelivery.objects.filter(pk=delivery.pk, lease_expires_at=lease).update(
        status=status, lease_expires_at=None, **fields
    )
    _send(_next_in_line(delivery))


def _disable(endpoint_pk: int, reason: str, *, notify: bool) -> bool:
    """Disable an active endpoint and give up its pending deliveries; True if this call disabled it."""
    with transaction.atomic():
        done = WebhookEndpoint.objects.filter(pk=endpoint_pk, active=True).update(
            active=False, disabled_at=timezone.now(), disabled_reason=reason
        )
        if done:
            WebhookDelivery.objects.filter(endpoint_id=endpoint_pk, status=PENDING).update(
                status=FAILED, next_attempt_at=None, last_error="The endpoint was disabled."
            )
            if notify:
                transaction.on_commit(lambda: _tell_owners(endpoint_pk))
    return bool(done)


def endpoint_disable_if_failing(*, endpoint_pk: int, error: str = "", now: datetime | None = None) -> bool:
    """An endpoint whose every attempt failed for WEBHOOKS_DISABLE_AFTER_HOURS is disabled, its owners told."""
    now = now or timezone.now()
    since = now - timedelta(hours=settings.WEBHOOKS_DISABLE_AFTER_HOURS)
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_pk, active=True, failing_since__lte=since).first()
    if endpoint is None:
        return False
    reason = f"Every delivery failed since {rules.format_datetime(endpoint.failing_since)}" + (
        f"; the last: {error}" if error else "."
    )
    return _disable(endpoint_pk, reason[:300], notify=True)


def _tell_owners(endpoint_pk: int) -> int:
    endpoint = WebhookEndpoint.objects.select_related("organization", "created_by").get(pk=endpoint_pk)
    people = {u.email for u in organization_admins(endpoint.organization_id)}
    if endpoint.created_by and endpoint.created_by.email and endpoint.created_by.is_active:
        people.add(endpoint.created_by.email)
    if not people:
        logger.warning("webhook endpoint %s disabled; nobody to tell", endpoint.endpoint_id)
        return 0
    context = {"endpoint": endpoint, "portal_url": settings.PORTAL_BASE_URL}
    subject = f"Webhook endpoint {endpoint.url} disabled"
    try:
        return send_mail(subject, render_to_string("emails/webhook_disabled.txt", context), None, sorted(people))
    except Exception:  # the endpoint stays disabled and shows why on its page; the email is best effort
        logger.exception("could not email the owners of webhook endpoint %s", endpoint.endpoint_id)
        return 0


def deliveries_sweep(*, now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """The beat: send again the due deliveries first in line, disable endpoints failing for a day,
    and remove finished deliveries older than WEBHOOKS_KEEP_DAYS."""
    now = now or timezone.now()
    earlier = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"), order_id=OuterRef("order_id"), status=PENDING, id__lt=OuterRef("id")
    )
    due = list(
        WebhookDelivery.objects.filter(_due(now), status=PENDING)
        .filter(~Exists(earlier))
        .order_by("id")
        .values_list("pk", flat=True)[:batch]
    )
    _send(due)
    since = now - timedelta(hours=settings.WEBHOOKS_DISABLE_AFTER_HOURS)
    failing = WebhookEndpoint.objects.filter(active=True, failing_since__lte=since).values_list("pk", flat=True)
    disabled = sum(endpoint_disable_if_failing(endpoint_pk=pk, now=now) for pk in list(failing))
    old = now - timedelta(days=settings.WEBHOOKS_KEEP_DAYS)
    _, removed = WebhookDelivery.objects.filter(created_at__lt=old).exclude(status=PENDING).delete()
    return {
        "sent again": len(due),
        "endpoints disabled": disabled,
        "old deliveries removed": removed.get("workvisits.WebhookDelivery", 0),
    }
