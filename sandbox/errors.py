"""The upstream's error array: ``[{errorCode, errorMessage, correlationId, additionalInfo}]`` and nothing else."""

from django.http import JsonResponse

MISSING = "EQ-2016011"
INVALID = "EQ-2010010"
ORDER_NOT_FOUND = "EQ-2014005"
NO_CREATE_PERMISSION = "EQ-2012006"
NO_UPDATE_PERMISSION = "EQ-2012007"
PERMISSION_CODES = frozenset({NO_CREATE_PERMISSION, NO_UPDATE_PERMISSION})
NO_RESOURCE = "EQ-2014000"
CONFLICT = "EQ-2019001"
UNAUTHORIZED = "EQ-3000021"
NOT_ALLOWED = "EQ-2014009"
TOO_LARGE = "EQ-2010013"
UNSUPPORTED_MEDIA = "EQ-2010014"
UNAVAILABLE = "EQ-5000503"
SERVER_ERROR = "EQ-5000500"

MESSAGES = {
    MISSING: "One or more mandatory properties are missing.",
    INVALID: "One or more properties are invalid.",
    ORDER_NOT_FOUND: "The order was not found.",
    NO_CREATE_PERMISSION: "User does not have permission to create the order.",
    NO_UPDATE_PERMISSION: "User does not have permission to update or cancel the order.",
    NO_RESOURCE: "The resource was not found.",
    CONFLICT: "The order's state does not allow this action.",
    UNAUTHORIZED: "The access token is missing, invalid or expired.",
    NOT_ALLOWED: "The method is not allowed on this resource.",
    TOO_LARGE: "The request is too large.",
    UNSUPPORTED_MEDIA: "The content type is not supported.",
    UNAVAILABLE: "The service is temporarily unavailable; try again later.",
    SERVER_ERROR: "An internal error occurred.",
}


def info(prop: str, reason: str, value=None) -> dict:
    """One additionalInfo entry; ``value`` only for a scalar the caller sent."""
    entry = {"property": prop, "reason": reason}
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        entry["value"] = str(value)
    return entry


def entry(code: str, correlation_id: str, additional=(), message: str | None = None) -> dict:
    return {
        "errorCode": code,
        "errorMessage": message or MESSAGES.get(code, "The request failed."),
        "correlationId": correlation_id,
        "additionalInfo": list(additional),
    }


def correlation_id_of(request) -> str:
    return getattr(request, "correlation_id", "") or ""


def error_response(request, status: int, code: str, additional=(), message: str | None = None,
                   headers: dict | None = None) -> JsonResponse:
    """One error entry as the upstream answers it."""
    return errors_response(status, [entry(code, correlation_id_of(request), additional, message)], headers)


def errors_response(status: int, entries: list[dict], headers: dict | None = None) -> JsonResponse:
    response = JsonResponse(entries, status=status, safe=False)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def problems_response(request, problems) -> JsonResponse:
    """400 (403 for a missing permission) with one entry per error code, each listing its offending properties."""
    cid = correlation_id_of(request)
    return errors_response(problems.status, [entry(code, cid, items) for code, items in problems.grouped()])


def not_found(request, exception=None):
    return error_response(request, 404, NO_RESOURCE, message=f"No resource {request.method} {request.path}.")


def bad_request(request, exception=None):
    return error_response(request, 400, INVALID, [info("body", "The request could not be read.")])


def forbidden(request, exception=None):
    return error_response(request, 403, NOT_ALLOWED, message="The request is not allowed.")


def server_error(request):
    return error_response(request, 500, SERVER_ERROR)
