"""Read-only calls around a work visit: Lookup v2 and v1 locations, and Order History search."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time

from django.http import JsonResponse

from . import errors
from .state import get_sandbox, iso
from .validation import Problems, parse_datetime
from .web import organizations_of, query_list, read_json

PERMISSION_CODES = ("CROSS_CONNECT", "WORK_VISIT", "SHIPMENTS")
# Orders v2 status -> the Order History enum (ENTERED SUBMITTED IN_PROGRESS PENDING_QA CANCELLED CLOSED)
HISTORY_STATUS = {
    "RECEIVED": "SUBMITTED",
    "IN_PROGRESS": "IN_PROGRESS",
    "ON_HOLD": "IN_PROGRESS",
    "CLOSED": "CLOSED",
    "CANCELLED": "CANCELLED",
}
HISTORY_STATUSES = ("ENTERED", "SUBMITTED", "IN_PROGRESS", "PENDING_QA", "CANCELLED", "CLOSED")
SEARCH_KEYS = {"filters", "source", "q", "sorts", "page"}
FILTER_KEYS = {"ibxs", "productTypes", "orderStatus", "dateRange", "fromDate", "toDate"}
SORT_NAMES = {"createdAt": lambda o: o["createdAt"], "orderNumber": lambda o: o["orderId"]}
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def locations_v2(request):
    """Lookup v2: ``{"crossConnects": [{ibx, accounts, cages: one entry per cabinet}]}``; the accounts and
    cages only with ``details=true`` (the catalogue's "returns cage, cabinet and account details")."""
    code = request.GET.get("permissionCode")
    if not code:
        return errors.error_response(request, 400, errors.MISSING, [errors.info(
            "permissionCode", "permissionCode is required (WORK_VISIT for work visits).")])
    if code not in PERMISSION_CODES:
        return errors.error_response(request, 400, errors.INVALID, [errors.info(
            "permissionCode", f"permissionCode must be one of {', '.join(PERMISSION_CODES)}.", code)])
    sandbox = get_sandbox()
    catalogue, allowed = sandbox.catalogue, organizations_of(sandbox, request.sandbox_client)
    ibxs = query_list(request, "ibxs")
    details = request.GET.get("details", "").lower() == "true"
    found = []
    for ibx in catalogue.ibxs:
        cages = catalogue.cages_in(ibx, allowed)  # only where the caller holds the permission
        if (ibxs and ibx not in ibxs) or not cages:
            continue
        if not details:
            found.append({"ibx": ibx, "accessRestricted": False, "specialPrivilege": False})
            continue
        numbers = sorted({n for cage in cages for n in catalogue.accounts_of(cage, allowed)})
        found.append({
            "ibx": ibx,
            "accessRestricted": False,
            "specialPrivilege": False,
            "accounts": [
                {"accountNumber": n, "accountName": catalogue.accounts[n].name,
                 "allowOrder": not catalogue.accounts[n].credit_hold}
                for n in numbers
            ],
            "cages": [
                {"id": cage.cage_id, "type": cage.cage_type, "accountNumbers": catalogue.accounts_of(cage, allowed),
                 "cabinetId": cabinet.cabinet_id, "cabinetType": cabinet.cabinet_type}
                for cage in cages
                for cabinet in cage.cabinets
                if cabinet.account_number in catalogue.accounts_of(cage, allowed)
            ],
        })
    return JsonResponse({"crossConnects": found})


def locations_v1(request):
    """Work Visit v1 locations: accounts with credit hold and PO-bearing flags, cabinets under accounts."""
    sandbox = get_sandbox()
    catalogue, allowed = sandbox.catalogue, organizations_of(sandbox, request.sandbox_client)
    ibxs, cage_ids = query_list(request, "ibxs"), query_list(request, "cages")
    found = []
    for ibx in catalogue.ibxs:
        if ibxs and ibx not in ibxs:
            continue
        cages = [c for c in catalogue.cages_in(ibx, allowed) if not cage_ids or c.cage_id in cage_ids]
        if not cages:
            continue
        found.append({"ibx": ibx, "cages": [
            {
                "cage": cage.cage_id,
                "cageTypes": [cage.cage_type],
                "accounts": [
                    {
                        "number": n,
                        "name": catalogue.accounts[n].name,
                        "isCreditHold": catalogue.accounts[n].credit_hold,
                        "isPOBearing": catalogue.accounts[n].po_bearing,
                        "cabinets": [{"cabinet": k.cabinet_id, "cabinetType": k.cabinet_type}
                                     for k in cage.cabinets if k.account_number == n],
                    }
                    for n in catalogue.accounts_of(cage, allowed)
                ],
            }
            for cage in cages
        ]})
    return JsonResponse({"locations": found})


def _day(value, end: bool) -> datetime | None:
    """A filter date: a day (its start, or its end for toDate) or an ISO date and time (UTC unless it says)."""
    if not isinstance(value, str):
        return None
    moment = parse_datetime(value)
    if moment is not None:
        return moment
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time.max if end else time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _search_query(body) -> tuple[Problems, dict]:
    problems = Problems()
    query = {"ibxs": None, "productTypes": None, "orderStatus": None, "from": None, "to": None, "q": None,
             "sorts": [("createdAt", True)], "number": 0, "size": DEFAULT_PAGE_SIZE}
    if body is None:
        return problems, query
    if not isinstance(body, dict):
        problems.invalid("body", "The search must be a JSON object.")
        return problems, query
    for key in body:
        if key not in SEARCH_KEYS:
            problems.invalid(key, f"The search has no property {key}.")
    filters = body.get("filters") or {}
    if not isinstance(filters, dict):
        problems.invalid("filters", "filters must be an object.")
        filters = {}
    for key, value in filters.items():
        path = f"filters.{key}"
        if key not in FILTER_KEYS:
            problems.invalid(path, f"filters has no property {key}.")
        elif key in ("ibxs", "productTypes", "orderStatus"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.invalid(path, f"{path} must be an array of strings.")
            elif key == "orderStatus" and set(value) - set(HISTORY_STATUSES):
                problems.invalid(path, f"{path} values must be among {', '.join(HISTORY_STATUSES)}.")
            else:
                query[key] = set(value)
        elif key in ("fromDate", "toDate"):
            moment = _day(value, end=key == "toDate")
            if moment is None:
                problems.invalid(path, f"{path} must be a date like 2026-05-01.", value)
            query["from" if key == "fromDate" else "to"] = moment
    q = body.get("q")
    if q is not None and not isinstance(q, str):
        problems.invalid("q", "q must be a string.")
    query["q"] = q.strip().lower() if isinstance(q, str) and q.strip() else None
    sorts = body.get("sorts")
    if sorts is not None:
        parsed = []
        for index, sort in enumerate(sorts if isinstance(sorts, list) else [None]):
            if not isinstance(sort, dict) or sort.get("name") not in SORT_NAMES or str(
                sort.get("direction", "DESC")
            ).upper() not in ("ASC", "DESC"):
                problems.invalid(f"sorts[{index}]", "A sort is {name: createdAt or orderNumber, direction: ASC or "
                                                    "DESC}.")
                continue
            parsed.append((sort["name"], str(sort.get("direction", "DESC")).upper() == "DESC"))
        query["sorts"] = parsed or query["sorts"]
    page = body.get("page") or {}
    if not isinstance(page, dict):
        problems.invalid("page", "page must be an object {number, size}.")
        page = {}
    number, size = page.get("number", 0), page.get("size", DEFAULT_PAGE_SIZE)
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        problems.invalid("page.number", "page.number is 0-based: 0 or more.")
    else:
        query["number"] = number
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        problems.invalid("page.size", f"page.size must be 1 to {MAX_PAGE_SIZE}.")
    else:
        query["size"] = size
    return problems, query


def _history_entry(order: dict, catalogue) -> dict:
    number = order["lines"][0]["accountNumber"]
    user = catalogue.users.get(order["userName"])
    contact = {"name": f"{user.first_name} {user.last_name}".strip(), "email": user.email} if user else {
        "name": order["userName"]}
    reference = order["body"].get("customerReferenceId")
    return {
        "orderNumber": order["orderId"],
        "type": ["WORK_VISIT"],
        "orderStatus": HISTORY_STATUS[order["status"]],
        "createdAt": iso(order["createdAt"]),
        "account": {"number": number, "name": catalogue.accounts[number].name},
        "orderingContact": contact,
        "ibx": sorted({line["ibx"] for line in order["lines"]}),
        "customerReferenceNumbers": [reference] if reference else [],
        "links": [],
    }


def _matches(order: dict, entry: dict, query: dict) -> bool:
    if query["ibxs"] and not set(entry["ibx"]) & query["ibxs"]:
        return False
    if query["productTypes"] and "WORK_VISIT" not in query["productTypes"]:
        return False
    if query["orderStatus"] and entry["orderStatus"] not in query["orderStatus"]:
        return False
    if query["from"] and order["createdAt"] < query["from"]:
        return False
    if query["to"] and order["createdAt"] > query["to"]:
        return False
    if query["q"]:
        # A text search, as a search box is: a part of a reference or order number matches too.
        haystack = [entry["orderNumber"], *entry["customerReferenceNumbers"]]
        return any(query["q"] in text.lower() for text in haystack)
    return True


def search(request):
    """Order History v1 (``POST /v1/retrieve-orders``): the caller's orders, filtered, sorted and paged."""
    sandbox = get_sandbox()
    if sandbox.setting("nosearch"):
        return errors.error_response(request, 404, errors.NO_RESOURCE, message=f"No resource POST {request.path}.")
    body, failure = read_json(request)
    if failure is not None:
        return failure
    problems, query = _search_query(body)
    if problems:
        return errors.problems_response(request, problems)
    with sandbox.lock:
        orders = sandbox.orders_of(request.sandbox_client)
        found = [(o, _history_entry(o, sandbox.catalogue)) for o in orders]
    found = [(o, e) for o, e in found if _matches(o, e, query)]
    for name, descending in reversed(query["sorts"]):
        found.sort(key=lambda pair, name=name: SORT_NAMES[name](pair[0]), reverse=descending)
    start = query["number"] * query["size"]
    return JsonResponse({
        "content": [e for _, e in found[start:start + query["size"]]],
        "links": [],
        "page": {"size": query["size"], "totalElements": len(found),
                 "totalPages": math.ceil(len(found) / query["size"]), "number": query["number"]},
    })
