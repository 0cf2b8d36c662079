"""Every error of the JSON API in the upstream's array format, with the request's correlation id.

`[{"errorCode", "errorMessage", "correlationId", "additionalInfo": [{"property", "reason"}]}]`, and
nothing else: a strict client drops an entry with any other key.
"""

from __future__ import annotations

import logging

from django.core.exceptions import DisallowedHost, RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from portal import correlation

from .. import rules
from ..exceptions import OrderConflict, OrderNotFound

# The paths the API answers under: errors there are JSON arrays, never HTML.
API_PREFIXES = ("/colocations/", "/v1/", "/oauth2/")

logger = logging.getLogger(__name__)

# Codes beyond the upstream's rule codes (those live in rules.py): documented in the OpenAPI text.
MALFORMED = "EQ-2010011"
UNAUTHORIZED = "EQ-2011001"
FORBIDDEN = "EQ-2012001"
NOT_FOUND = "EQ-2014004"
CONFLICT = "EQ-2019009"
METHOD_NOT_ALLOWED = "EQ-2010005"
NOT_ACCEPTABLE = "EQ-2010006"
TOO_LARGE = "EQ-2010013"
LENGTH_REQUIRED = "EQ-2010012"
UNSUPPORTED_MEDIA_TYPE = "EQ-2010015"
TOO_MANY_REQUESTS = "EQ-2010029"
INTERNAL = "EQ-2015000"
MESSAGES = {
    **rules.ERROR_MESSAGES,
    MALFORMED: "The request body is not well-formed JSON.",
    UNAUTHORIZED: "Authentication failed.",
    FORBIDDEN: "Not allowed.",
    NOT_FOUND: "Not found.",
    CONFLICT: "The order's state does not allow this.",
    METHOD_NOT_ALLOWED: "Method not allowed.",
    NOT_ACCEPTABLE: "Only application/json responses are available.",
    TOO_LARGE: "The request is too large.",
    LENGTH_REQUIRED: "Length required: send the body with a Content-Length header, not in chunks.",
    UNSUPPORTED_MEDIA_TYPE: "Unsupported media type.",
    TOO_MANY_REQUESTS: "Too many requests.",
    INTERNAL: "Internal error; the correlation id identifies it in our logs.",
}
# Which HTTP status each code is sent with.
STATUS = {
    rules.MISSING: 400,
    rules.INVALID: 400,
    MALFORMED: 400,
    UNAUTHORIZED: 401,
    rules.NO_CREATE_PERMISSION: 403,
    rules.NO_UPDATE_PERMISSION: 403,
    FORBIDDEN: 403,
    rules.NOT_FOUND: 404,
    NOT_FOUND: 404,
    METHOD_NOT_ALLOWED: 405,
    NOT_ACCEPTABLE: 406,
    CONFLICT: 409,
    LENGTH_REQUIRED: 411,
    TOO_LARGE: 413,
    UNSUPPORTED_MEDIA_TYPE: 415,
    TOO_MANY_REQUESTS: 429,
    INTERNAL: 500,
}
_PERMISSION_CODES = (rules.NO_CREATE_PERMISSION, rules.NO_UPDATE_PERMISSION)
MAX_JSON_DEPTH = 32


class ApiError(Exception):
    """An error answered as is: one code, its properties and reasons."""

    def __init__(self, code: str, reasons: list[tuple[str, str]], headers: dict | None = None):
        self.code, self.reasons, self.headers = code, reasons, headers or {}
        super().__init__(f"{code}: {reasons}")


def error_entries(groups: list[tuple[str, list[tuple[str, str]]]]) -> list[dict]:
    cid = correlation.get()
    return [
        {
            "errorCode": code,
            "errorMessage": MESSAGES.get(code, ""),
            "correlationId": cid,
            "additionalInfo": [{"property": prop, "reason": reason} for prop, reason in reasons],
        }
        for code, reasons in groups
    ]


def error_response(code: str, reasons: list[tuple[str, str]], headers: dict | None = None) -> Response:
    return Response(error_entries([(code, reasons)]), status=STATUS[code], headers=headers)


def violation_response(violation: rules.RuleViolation) -> Response:
    """Rule errors grouped by code (one array entry per code). Any permission error makes it a 403."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for error in violation.errors:
        grouped.setdefault(error.code, []).append((error.path, error.message))
    order = sorted(grouped, key=lambda code: (code not in _PERMISSION_CODES, code != rules.MISSING))
    status_code = next((STATUS[c] for c in order if c in _PERMISSION_CODES), 400)
    return Response(error_entries([(code, grouped[code]) for code in order]), status=status_code)


def _detail(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, list | tuple):
        detail = " ".join(str(d) for d in detail)
    elif isinstance(detail, dict):
        detail = " ".join(f"{k}: {v}" for k, v in detail.items())
    return str(detail)


def api_exception_handler(exc, context) -> Response:
    """DRF's exception handler for our views: the array format for every failure, a 500 only for our bugs."""
    if isinstance(exc, rules.RuleViolation):
        return violation_response(exc)
    if isinstance(exc, ApiError):
        return error_response(exc.code, exc.reasons, exc.headers)
    if isinstance(exc, OrderNotFound):
        return error_response(rules.NOT_FOUND, [("orderId", f"There is no order {exc} that you may see.")])
    if isinstance(exc, OrderConflict):
        return error_response(CONFLICT, [(exc.property, exc.message)])
    if isinstance(exc, Http404 | exceptions.NotFound):
        return error_response(NOT_FOUND, [("path", "Nothing here; see /colocations/v2/openapi.json.")])
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        return error_response(TOO_LARGE, [("body", str(exc))])
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        headers = {"WWW-Authenticate": exc.auth_header} if getattr(exc, "auth_header", None) else None
        return error_response(UNAUTHORIZED, [("Authorization", _detail(exc))], headers)
    if isinstance(exc, exceptions.Throttled):
        headers = {"Retry-After": str(int(exc.wait))} if exc.wait else None
        return error_response(TOO_MANY_REQUESTS, [("request", _detail(exc))], headers)
    simple = {
        exceptions.ParseError: (MALFORMED, "body"),
        exceptions.UnsupportedMediaType: (UNSUPPORTED_MEDIA_TYPE, "Content-Type"),
        exceptions.MethodNotAllowed: (METHOD_NOT_ALLOWED, "method"),
        exceptions.NotAcceptable: (NOT_ACCEPTABLE, "Accept"),
        exceptions.PermissionDenied: (FORBIDDEN, "request"),
        exceptions.ValidationError: (rules.INVALID, "body"),
    }
    for kind, (code, prop) in simple.items():
        if isinstance(exc, kind):
            return error_response(code, [(prop, _detail(exc))])
    if isinstance(exc, exceptions.APIException):
        code = next((c for c, s in STATUS.items() if s == exc.status_code), INTERNAL)
        return Response(error_entries([(code, [("request", _detail(exc))])]), status=exc.status_code)
    logger.exception("unexpected error in the JSON API")
    return error_response(INTERNAL, [("request", "Something went wrong on our side; quote the correlation id.")])


def printable(key) -> str:
    """Text safe to echo in an error: lone surrogates and NUL characters escaped."""
    return str(key).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def check_json_text(data) -> None:
    """Refuse what no column can store: NUL characters and lone surrogates, and absurd nesting.

    Raises rules.RuleViolation naming the JSON path of each offending value.
    """
    problems: list[rules.RuleError] = []
    # (value, its parent's entry, its key or index there, depth); a path is spelled out only for a problem.
    stack: list[tuple] = [(data, None, None, 0)]
    while stack and len(problems) < 20:
        entry = stack.pop()
        value, _, _, depth = entry
        if depth > MAX_JSON_DEPTH:
            where = _json_path(entry) or "$"
            problems.append(rules.RuleError(where, rules.INVALID, f"{where} is nested too deeply to be a work visit."))
            continue
        if isinstance(value, str):
            if _bad_text(value):
                where = _json_path(entry) or "$"
                problems.append(
                    rules.RuleError(where, rules.INVALID, f"{where} contains a NUL character or invalid Unicode.")
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                if _bad_text(str(key)):
                    child = _json_path((item, entry, str(key), depth + 1))  # odd names come out JSON-quoted
                    problems.append(rules.RuleError(child, rules.INVALID, f"{child}: the property name has bad text."))
                else:
                    stack.append((item, entry, str(key), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, entry, i, depth + 1) for i, item in enumerate(value))
    if problems:
        raise rules.RuleViolation(problems)


def _bad_text(text: str) -> bool:
    """A NUL character or a lone surrogate (which UTF-8 cannot encode). ASCII text has no surrogates."""
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_path(entry) -> str:
    """The JSON path of a check_json_text() stack entry: its keys from the root, as the errors spell paths."""
    keys = []
    while entry[1] is not None:
        keys.append(entry[2])
        entry = entry[1]
    path = ""
    for key in reversed(keys):
        path = f"{path or '$'}[{key}]" if isinstance(key, int) else rules.json_path(path, key)
    return path


class JSONBodyParser(JSONParser):
    """DRF's JSON parser, also refusing deep nesting and text a database cannot hold."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
        check_json_text(data)
        return data


def bad_request(request, exception):
    """Django's 400 (a request it judged suspicious, such as a Host header not in ALLOWED_HOSTS): the
    error array under the API's prefixes, Django's own page elsewhere."""
    if not request.path.startswith(API_PREFIXES):
        return defaults.bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        problem = ("Host", "The Host header names no host this portal answers to; send the portal's own host name.")
    else:
        problem = ("request", "The request was refused as malformed; send a well-formed request.")
    return JsonResponse(error_entries([(rules.INVALID, [problem])]), status=400, safe=False)
