"""Typed upstream errors: permanent ones are never retried, transient ones are retried with backoff."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class UpstreamError(Exception):
    """An upstream call that did not succeed.

    `errors` is the upstream's array (``[{"errorCode", "errorMessage", "additionalInfo": [...]}]``);
    `ambiguous` says the request may have been processed although no answer came back.
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
            for item in info:
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
    """The upstream refused the request (4xx other than 408/429): sending it again changes nothing."""

    permanent = True


class TransientUpstreamError(UpstreamError):
    """A 5xx, 408, 429, timeout or connection failure: worth another try later."""


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


def is_transient_status(status: int) -> bool:
    return status >= 500 or status in (401, 408, 429)


def error_from_response(status: int, text: str, headers) -> UpstreamError:
    """The typed error of an unsuccessful response, with the upstream's error array parsed."""
    errors: list[dict] = []
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        body = [body]
    if isinstance(body, list):
        errors = [e for e in body if isinstance(e, dict)]
    message = "; ".join(str(e.get("errorMessage") or e.get("errorCode") or "") for e in errors) or (
        text[:200] if text else f"HTTP {status}"
    )
    retry_after = parse_retry_after(headers.get("Retry-After")) if headers is not None else None
    cls = TransientUpstreamError if is_transient_status(status) else PermanentUpstreamError
    return cls(message, status=status, errors=errors, retry_after=retry_after)
