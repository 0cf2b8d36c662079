"""Work visit orders: the token call, create, modify, read and cancel."""

from __future__ import annotations

import copy

from django.http import JsonResponse

from . import errors, validation
from .middleware import public
from .state import FINAL_STATUSES, get_sandbox, iso
from .web import context, query_list, read_json


@public
def token(request):
    body, failure = read_json(request)
    if failure is not None:
        return failure
    body = body if isinstance(body, dict) else {}
    if body.get("grant_type") != "client_credentials":
        return errors.error_response(request, 401, errors.UNAUTHORIZED, [errors.info(
            "grant_type", "grant_type must be client_credentials.", body.get("grant_type"))])
    issued = get_sandbox().issue_token(body.get("client_id"), body.get("client_secret"))
    if issued is None:
        return errors.error_response(request, 401, errors.UNAUTHORIZED, [errors.info(
            "client_secret", "Unknown client_id or wrong client_secret.")])
    access_token, client, timeout = issued
    return JsonResponse({"access_token": access_token, "token_timeout": str(timeout),
                         "user_name": client.user_name, "token_type": "Bearer"})  # nosec B105 - a token type


def _location(order_id: str, status: int) -> JsonResponse:
    response = JsonResponse({"message": "The work visit request was received."} if status == 201 else {},
                            status=status)
    response["Location"] = f"/orders/{order_id}"
    return response


def _not_found(request, order_id: str):
    return errors.error_response(request, 404, errors.ORDER_NOT_FOUND, [errors.info(
        "orderId", f"No order {order_id} is visible to this user.", order_id)])


def _conflict(request, order: dict, action: str):
    return errors.error_response(request, 409, errors.CONFLICT, [errors.info(
        "orderId", f"The order is {order['status']}; it can no longer be {action}.", order["orderId"])])


def create(request):
    body, failure = read_json(request)
    if failure is not None:
        return failure
    sandbox = get_sandbox()
    problems = validation.create_problems(body, context(sandbox, request.sandbox_client))
    if problems:
        return errors.problems_response(request, problems)
    order = sandbox.order_create(client=request.sandbox_client, body=body)
    return _location(order["orderId"], 201)


def _change(request, order_id: str, action: str, apply):
    """Run ``apply(sandbox, order, body, ctx) -> Problems`` on the caller's open order; None when it applied."""
    body, failure = read_json(request)
    if failure is not None:
        return failure
    sandbox = get_sandbox()
    ctx = context(sandbox, request.sandbox_client)
    with sandbox.lock:
        order = sandbox.order_for(request.sandbox_client, order_id)
        if order is None:
            return _not_found(request, order_id)
        if order["status"] in FINAL_STATUSES:
            return _conflict(request, order, action)
        problems = apply(sandbox, order, body, ctx)
    return errors.problems_response(request, problems) if problems else None


def _modify(sandbox, order, body, ctx):
    problems, change = validation.modify_problems(body, ctx, order["visit"])
    if not problems:
        sandbox.order_modify(order, body=body, change=change)
    return problems


def _cancel(sandbox, order, body, ctx):
    problems = validation.cancel_problems(body, ctx, [line["lineId"] for line in order["lines"]])
    if not problems:
        sandbox.order_cancel(order, body=body)
    return problems


def modify(request, order_id: str):
    return _change(request, order_id, "changed", _modify) or _location(order_id, 202)


def cancel(request, order_id: str):
    return _change(request, order_id, "cancelled", _cancel) or JsonResponse(True, status=202, safe=False)


def read(request, order_id: str):
    sandbox = get_sandbox()
    ibxs = query_list(request, "ibxs")
    with sandbox.lock:
        order = sandbox.order_for(request.sandbox_client, order_id)
        if order is None or (ibxs and not {line["ibx"] for line in order["lines"]} & set(ibxs)):
            return _not_found(request, order_id)
        return JsonResponse(order_view(order, sandbox.catalogue))


def order_view(order: dict, catalogue) -> dict:
    """The order as Orders v2 answers it: contacts one person each, order lines in ``details``."""
    body = order["body"]
    open_ = order["status"] not in FINAL_STATUSES
    first = order["lines"][0]
    view = {
        "orderId": order["orderId"],
        "accountNumber": first["accountNumber"],
        "accountName": catalogue.accounts[first["accountNumber"]].name,
        "contacts": copy.deepcopy(order["contacts"]),
        "status": order["status"],
        "createdDateTime": iso(order["createdAt"]),
        "updatedDateTime": iso(order["updatedAt"]),
        "channel": "API",
        "cancellable": open_,
        "modifiable": open_,
        "details": [],
    }
    if order["closedAt"] is not None:
        view["closedDateTime"] = iso(order["closedAt"])
    if "customerReferenceId" in body:  # the Orders v2 order has no description at the top level
        view["customerReferenceId"] = body["customerReferenceId"]
    for line in order["lines"]:
        item = {
            "lineId": line["lineId"],
            "status": line["status"],
            "productType": "WORK_VISIT",
            "requestType": "NEW",
            "ibx": line["ibx"],
            "cage": line["cage"],
            "cabinets": list(line["cabinets"]),
            "accountNumber": line["accountNumber"],
            **copy.deepcopy(order["visit"]),
            "visitors": copy.deepcopy(body["details"]["visitors"]),
        }
        for key in ("attachments", "purchaseOrder"):
            if key in body:
                item[key] = copy.deepcopy(body[key])
        view["details"].append(item)
    return view
