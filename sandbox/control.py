"""The control API under ``/_sandbox/`` (no token): faults, settings, the clock, state and reset."""

from __future__ import annotations

import json

from django.http import HttpResponse, JsonResponse

from .middleware import FAULT_KINDS, public
from .state import ORDER_STATUSES, SETTING_TYPES, get_sandbox, iso

DEFAULT_MATCH = "POST /colocations/v2/orders/workVisits"


def _refuse(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _body(request) -> dict | None:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _number(value, minimum: float = 0) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= minimum


@public
def faults_list(request):
    return JsonResponse({"faults": get_sandbox().snapshot()["faults"]})


@public
def faults_add(request):
    body = _body(request)
    if body is None:
        return _refuse("Send a JSON object.")
    kind = str(body.get("kind", ""))
    if kind not in FAULT_KINDS:
        return _refuse(f"kind must be one of {', '.join(FAULT_KINDS)}.")
    count = body.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        return _refuse("count must be a whole number of at least 1.")
    match = body.get("match") or DEFAULT_MATCH
    if not isinstance(match, str):
        return _refuse('match is "METHOD /path-prefix" or "/path-prefix".')
    for key in ("retryAfter", "delay"):
        if body.get(key) is not None and not _number(body[key]):
            return _refuse(f"{key} must be a number of seconds.")
    errors = body.get("errors")
    if errors is not None and not isinstance(errors, list):
        return _refuse("errors must be the upstream's error array.")
    fault = get_sandbox().add_fault({
        "kind": kind, "remaining": count, "match": match, "retryAfter": body.get("retryAfter"),
        "errors": errors, "delay": body.get("delay", 5 if kind == "slow" else None),
    })
    return JsonResponse(fault, status=201)


@public
def faults_clear(request):
    get_sandbox().clear_faults()
    return HttpResponse(status=204)


@public
def settings_show(request):
    return JsonResponse(get_sandbox().update_settings({}))


@public
def settings_change(request):
    body = _body(request)
    if body is None:
        return _refuse("Send a JSON object.")
    changes = {}
    for key, value in body.items():
        kind = SETTING_TYPES.get(key)
        if kind is None:
            return _refuse(f"Unknown setting {key}; settings are {', '.join(SETTING_TYPES)}.")
        if kind is bool:
            if not isinstance(value, bool):
                return _refuse(f"{key} must be true or false.")
        elif not _number(value) or (kind is int and value != int(value)):
            return _refuse(f"{key} must be a number of seconds, 0 or more.")
        changes[key] = kind(value)
    return JsonResponse(get_sandbox().update_settings(changes))


@public
def advance(request):
    body = _body(request)
    if body is None or not _number(body.get("seconds")):
        return _refuse("Send {\"seconds\": N} with N 0 or more.")
    return JsonResponse({"now": iso(get_sandbox().advance(body["seconds"]))})


@public
def clock(request):
    return JsonResponse({"now": iso(get_sandbox().now())})


@public
def state(request):
    return JsonResponse(get_sandbox().snapshot())


@public
def reset(request):
    sandbox = get_sandbox()
    sandbox.reset()
    return JsonResponse({"now": iso(sandbox.now())})


@public
def expire_tokens(request):
    get_sandbox().expire_tokens()
    return HttpResponse(status=204)


@public
def order_status(request, order_id: str):
    body = _body(request)
    if body is None or body.get("status") not in ORDER_STATUSES:
        return _refuse(f"status must be one of {', '.join(ORDER_STATUSES)}.")
    sandbox = get_sandbox()
    with sandbox.lock:
        order = sandbox.order_set_status(order_id, body["status"])
        if order is None:
            return _refuse(f"No order {order_id}.", 404)
        return JsonResponse(sandbox.order_summary(order))
