"""Who is calling and how often they failed: the client address behind the trusted proxies, and failure
counters keyed by (account, address) so that one address never locks out every account behind it.

Used by the sign-in lockout (django-axes), the API's token endpoint and the password reset. The counters
live in the cache; while it is down nothing is throttled and the requests are answered from the database.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def client_address(request) -> str:
    """The caller's address: the connecting one, or with TRUSTED_PROXY_COUNT = N the Nth address from the
    right of X-Forwarded-For (each trusted proxy appends the address it was reached from)."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < hops:
        # Fewer hops than proxies: the request did not come through them all; the connection is the truth.
        return remote
    return forwarded[-hops][:64]


def axes_client_ip(request) -> str:
    """AXES_CLIENT_IP_CALLABLE: the sign-in lockout sees the same address as the other throttles."""
    return client_address(request)


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Throttle:
    """At most `limit` events per `window` seconds for one key; `name` separates the counters."""

    name: str
    limit: int
    window: int

    def _key(self, *parts: str) -> str:
        return f"throttle:{self.name}:{_digest(*parts)}"

    def exceeded(self, *parts: str) -> bool:
        """Whether the key has used up its events: checked before any work is done for the request."""
        try:
            return (cache.get(self._key(*parts)) or 0) >= self.limit
        except Exception:  # cache down: answer from the database rather than refuse everyone
            logger.warning("throttle %s not checked: the cache is unavailable", self.name, exc_info=True)
            return False

    def hit(self, *parts: str) -> None:
        """Count one event for the key (the window starts with its first event)."""
        key = self._key(*parts)
        try:
            if not cache.add(key, 1, self.window):
                try:
                    cache.incr(key)
                except ValueError:  # expired between add and incr
                    cache.set(key, 1, self.window)
        except Exception:
            logger.warning("throttle %s not counted: the cache is unavailable", self.name, exc_info=True)


# Failed token requests for one client id from one address.
TOKEN_FAILURES = Throttle("token-failures", limit=5, window=15 * 60)
# Password reset requests: from one address, and for one account (by the email typed).
PASSWORD_RESET_PER_ADDRESS = Throttle("password-reset-address", limit=10, window=3600)
PASSWORD_RESET_PER_ACCOUNT = Throttle("password-reset-account", limit=3, window=3600)
