"""The correlation id of the current request or task, carried into every log line."""

import contextvars
import logging
import re
import uuid

_current: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")
HEADER = "X-Correlation-ID"
# A caller's id is kept (CONTRACT "Errors") when it is printable ASCII: no control characters, nothing a log
# line or a response header could be split by.
_ACCEPTABLE = re.compile(r"^[\x20-\x7e]{1,255}$")


def get() -> str:
    """The id of the request or task being served, or an empty string outside of one."""
    return _current.get()


def new_id() -> str:
    return uuid.uuid4().hex


def bind(value: str | None) -> contextvars.Token:
    """Make `value`, trimmed, the current correlation id; a fresh one when it is missing, empty, longer than
    255 characters or not printable ASCII."""
    value = (value or "").strip()
    if not value or not _ACCEPTABLE.fullmatch(value):
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
