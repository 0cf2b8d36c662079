"""The correlation id of the current request or task, carried into every log line."""

import contextvars
import logging
import re
import uuid

_current: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")
HEADER = "X-Correlation-ID"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def get() -> str:
    """The id of the request or task being served, or an empty string outside of one."""
    return _current.get()


def new_id() -> str:
    return uuid.uuid4().hex


def bind(value: str | None) -> contextvars.Token:
    """Make `value` (or a fresh id when it is missing or unsafe) the current correlation id."""
    if not value or not _ACCEPTABLE.match(value):
        value = new_id()
    return _current.set(value)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # django.request logs 4xx/5xx after the middleware has returned; its record carries the request.
        record.correlation_id = _current.get() or getattr(getattr(record, "request", None), "correlation_id", "")
        return True


class CorrelationIdMiddleware:
    """Takes the caller's X-Correlation-ID (or makes one) and returns it on every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = bind(request.headers.get(HEADER))
        request.correlation_id = get()
        try:
            response = self.get_response(request)
            response[HEADER] = request.correlation_id
            return response
        finally:
            reset(token)
