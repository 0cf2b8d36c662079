"""Typed upstream errors, by what they say about the upstream's state.

- permanent: a 4xx other than 401/408/429 — the upstream read the request and refused it; sending it
  again changes nothing. Its `additionalInfo` is kept.
- transient, definite: 503, 429, 408, 401 (credentials), or a request that never left (connection
  refused, connect timeout, a paused or rate-limited call): the upstream did not act; try again later.
- transient, **ambiguous**: no answer (dropped or reset connection, read timeout after the request
  was sent), 500, 502, 504: the upstream may have acted. Only these call for a look-up.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Statuses after which the upstream may have carried the request out.
AMBIGUOUS_STATUSES = frozenset({500, 502, 504})
# 4xx answers that refuse nothing: the request was not acted on and may be sent again.
DEFINITE_RETRY_STATUSES = frozenset({401, 408, 429})


class UpstreamError(Exception):
    """An upstream call that did not succeed.

    `errors` is the upstream's array (``[{"errorCode", "errorMessage", "additionalInfo": [...]}]``);
    `ambiguous` says the request may have been carried out although no usable answer came back.
    """

    permanent = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: list[dict] | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors or []
        self.retry_after = retry_after
        self.ambiguous = ambiguous

    def reasons(self) -> list[dict]:
        """The offending properties as ``[{"property", "reason"}]``, the shape orders keep."""
        reasons = []
        for error in self.errors:
            info = error.get("additionalInfo") or []
            for item in info if isinstance(info, list) else []:
                if isinstance(item, dict):
                    reasons.append({"property": str(item.get("property") or ""), "reason": str(item.get("reason", ""))})
            if not info:
                message = error.get("errorMessage") or error.get("errorCode") or ""
                reasons.append({"property": "", "reason": str(message)})
        return reasons or [{"property": "", "reason": self.message}]

    def __str__(self):
        prefix = f"HTTP {self.status}: " if self.status else ""
        return prefix + self.message


class PermanentUpstreamError(UpstreamError):
    """The upstream refused the request: sending it again changes nothing."""

    permanent = True


class TransientUpstreamError(UpstreamError):
    """Worth another try later; `ambiguous` says whether the upstream may have acted meanwhile."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds, or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def parse_errors(text: str) -> list[dict]:
    """The upstream's error entries: a JSON array first, then a single object, else none (HTML pages)."""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        return []
    if isinstance(body, dict):
        body = [body]
    return [e for e in body if isinstance(e, dict)] if isinstance(body, list) else []


def error_from_response(status: int, text: str, headers) -> UpstreamError:
    """The typed error of an unsuccessful response, with the upstream's error array parsed."""
    errors = parse_errors(text)
    message = "; ".join(str(e.get("errorMessage") or e.get("errorCode") or "") for e in errors).strip("; ") or (
        text[:200] if text else f"HTTP {status}"
    )
    retry_after = parse_retry_after(headers.get("Retry-After")) if headers is not None else None
    if status >= 500 or status in DEFINITE_RETRY_STATUSES:
        return TransientUpstreamError(
            message, status=status, errors=errors, retry_after=retry_after, ambiguous=status in AMBIGUOUS_STATUSES
        )
    return PermanentUpstreamError(message, status=status, errors=errors, retry_after=retry_after)
