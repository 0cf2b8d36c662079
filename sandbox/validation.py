"""The sandbox's own reading of the upstream's body rules (UPSTREAM_WIRE.md and the seed).

Each check records the JSON path of what is wrong; the views answer them as one error array.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import errors
from .catalogue import Catalogue

MAX_VISIT = timedelta(days=14)
MAX_REGISTERED_VISITORS = 10
MAX_VISITOR_DETAILS = 2
MAX_ATTACHMENTS = 5
DESCRIPTION_LENGTH = (10, 4000)
REFERENCE_LENGTH = (1, 40)
REASON_LENGTH = (5, 4000)
MAX_MODIFY_CONTACTS = 1

CREATE_KEYS = {"details", "description", "customerReferenceId", "purchaseOrder", "attachments", "contacts"}
DETAILS_KEYS = {"cages", "visitStartDateTime", "visitEndDateTime", "visitors", "openCabinet"}
CAGE_KEYS = {"id", "accountNumber", "cabinetId"}
REGISTERED_VISITOR_KEYS = {"registeredUsers"}
VISITOR_KEYS = {"firstName", "lastName", "companyName", "details"}
VISITOR_DETAIL_TYPES = ("MOBILE", "EMAIL")
REGISTERED_CONTACT_KEYS = {"registeredUsers", "type", "availability", "timezone"}
CONTACT_KEYS = {"firstName", "lastName", "type", "details", "availability", "timezone"}
CONTACT_TYPES = ("TECHNICAL", "NOTIFICATION")
CONTACT_DETAIL_TYPES = ("PHONE", "MOBILE", "EMAIL")
AVAILABILITIES = ("WORK_HOURS", "ANYTIME")
ATTACHMENT_KEYS = {"id", "name"}
PURCHASE_ORDER_KEYS = {"type", "number", "amount", "startDate", "endDate", "attachmentId"}
PURCHASE_ORDER_TYPES = ("EXEMPTED", "NEW", "EXISTING")
MODIFY_KEYS = {"contacts", "details"}
MODIFY_DETAILS_KEYS = {"visitStartDateTime", "visitEndDateTime", "openCabinet"}
CANCEL_KEYS = {"reason", "attachments", "lineIds"}

# yyyy-MM-dd'T'HH:mm:ss'Z', also with the quoted 'T' the seed's own examples show, and optional fractions.
DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T|'T')(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
ABSENT = object()


class Problems:
    """What is wrong with one body, by error code and JSON path."""

    def __init__(self):
        self.items: list[tuple[str, dict]] = []

    def __bool__(self):
        return bool(self.items)

    def missing(self, path: str) -> None:
        self.items.append((errors.MISSING, errors.info(path, f"{path} is required")))

    def invalid(self, path: str, reason: str, value=None) -> None:
        self.items.append((errors.INVALID, errors.info(path, reason, value)))

    def forbidden(self, code: str, path: str, reason: str, value=None) -> None:
        self.items.append((code, errors.info(path, reason, value)))

    @property
    def status(self) -> int:
        """403 when the caller lacks a permission (the other errors listed too), else 400."""
        return 403 if any(code in errors.PERMISSION_CODES for code, _ in self.items) else 400

    def grouped(self) -> list[tuple[str, list[dict]]]:
        codes: dict[str, list[dict]] = {}
        for code, item in self.items:
            codes.setdefault(code, []).append(item)
        return list(codes.items())

    def properties(self) -> list[str]:
        return [item["property"] for _, item in self.items]


@dataclass(frozen=True)
class Context:
    """What a body is checked against: the catalogue, the sandbox clock and the caller's attachments."""

    catalogue: Catalogue
    now: datetime
    attachment_ids: frozenset[str]
    organizations: frozenset[str] = frozenset()  # where the caller may order (its user's permission)


def parse_datetime(value) -> datetime | None:
    match = DATETIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        return datetime(*(int(g) for g in match.groups()[:6]), tzinfo=UTC)
    except ValueError:
        return None


def normal_visit(visit: dict) -> dict:
    """Visit fields as the upstream writes them back: times as yyyy-MM-ddTHH:mm:ssZ."""
    return {
        key: parse_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ") if key.endswith("DateTime") else value
        for key, value in visit.items()
    }


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _unknown(problems: Problems, body: dict, allowed: set[str], prefix: str, what: str) -> None:
    for key in body:
        if key not in allowed:
            problems.invalid(_join(prefix, key), f"{what} has no property {key}; leave it out.")
    for key, value in body.items():
        if key in allowed and value is None:
            problems.invalid(_join(prefix, key), f"{_join(prefix, key)} is null; leave it out instead.")


def _present(body: dict, key: str):
    value = body.get(key, ABSENT)
    return ABSENT if value is None else value


def _typed(problems: Problems, body: dict, key: str, prefix: str, kind, noun: str, *, required: bool):
    """The value at ``key`` when present and of the right type, else ABSENT (with the reason recorded)."""
    path = _join(prefix, key)
    value = _present(body, key)
    if value is ABSENT:
        if required and key not in body:
            problems.missing(path)
        return ABSENT
    if not isinstance(value, kind):
        problems.invalid(path, f"{path} must be {noun}.")
        return ABSENT
    if required and not (value.strip() if isinstance(value, str) else value):
        problems.missing(path)
        return ABSENT
    return value


def _string(problems: Problems, body: dict, key: str, prefix: str, *, required: bool,
            length: tuple[int, int] | None = None) -> str | None:
    value = _typed(problems, body, key, prefix, str, "a string", required=required)
    if value is ABSENT:
        return None
    if length and not length[0] <= len(value) <= length[1]:
        path = _join(prefix, key)
        problems.invalid(path, f"{path} must be {length[0]} to {length[1]} characters long (it is {len(value)}).")
        return None
    return value


def _object(problems: Problems, value, path: str) -> dict | None:
    if not isinstance(value, dict):
        problems.invalid(path, f"{path} must be an object.")
        return None
    return value


def _list(problems: Problems, body: dict, key: str, prefix: str, *, required: bool,
          most: int | None = None) -> list | None:
    value = _typed(problems, body, key, prefix, list, "an array", required=required)
    if value is ABSENT:
        return None
    if most is not None and len(value) > most:
        path = _join(prefix, key)
        problems.invalid(path, f"{path} may hold at most {most} items (it holds {len(value)}).")
        return None
    return value


def _objects(problems: Problems, body: dict, key: str, prefix: str, *, required: bool,
             most: int | None = None):
    """Each object of a list with its path (``details.cages[0]``); what is not an object is a problem."""
    for index, item in enumerate(_list(problems, body, key, prefix, required=required, most=most) or []):
        path = f"{_join(prefix, key)}[{index}]"
        if _object(problems, item, path) is not None:
            yield path, item


def _choice(problems: Problems, body: dict, key: str, prefix: str, choices, *, required: bool) -> str | None:
    value = _string(problems, body, key, prefix, required=required)
    if value is not None and value not in choices:
        problems.invalid(_join(prefix, key), f"{_join(prefix, key)} must be one of {', '.join(choices)}.", value)
        return None
    return value


def _usernames(problems: Problems, body: dict, prefix: str, ctx: Context, *, most: int | None = None) -> list[str]:
    users = _list(problems, body, "registeredUsers", prefix, required=True, most=most) or []
    known = []
    for index, user in enumerate(users):
        path = f"{_join(prefix, 'registeredUsers')}[{index}]"
        if not isinstance(user, str) or not user:
            problems.invalid(path, f"{path} must be a username.")
        elif user not in ctx.catalogue.users or not ctx.organizations & set(ctx.catalogue.users[user].organizations):
            problems.invalid(path, f"{user} is not a registered user of this organization.", user)
        else:
            known.append(user)
    return known


def _timezone(problems: Problems, body: dict, prefix: str) -> None:
    zone = _string(problems, body, "timezone", prefix, required=False)
    if zone is None:
        return
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.invalid(_join(prefix, "timezone"), "timezone must be an IANA time zone such as Europe/Amsterdam.",
                         zone)


def _visit_times(problems: Problems, start, end, prefix: str, ctx: Context, *, required: bool) -> None:
    parsed = {}
    for key, value in (("visitStartDateTime", start), ("visitEndDateTime", end)):
        path = _join(prefix, key)
        if value is ABSENT:
            if required:
                problems.missing(path)
            continue
        moment = parse_datetime(value)
        if moment is None:
            problems.invalid(path, f"{path} must be a UTC date and time like 2026-05-01T09:00:00Z.", value)
        else:
            parsed[key] = moment
    start_at, end_at = parsed.get("visitStartDateTime"), parsed.get("visitEndDateTime")
    if start_at is None or end_at is None:
        return
    end_path = _join(prefix, "visitEndDateTime")
    if end_at <= start_at:
        problems.invalid(end_path, "The visit must end after it starts.", end)
    elif end_at - start_at > MAX_VISIT:
        problems.invalid(end_path, "A work visit lasts at most 14 days; longer access needs Security Access "
                                   "approval.", end)
    elif end_at <= ctx.now:
        problems.invalid(end_path, "The visit is over already; choose a visit that ends in the future.", end)


def _attachments(problems: Problems, body: dict, ctx: Context) -> None:
    for path, item in _objects(problems, body, "attachments", "", required=False, most=MAX_ATTACHMENTS):
        _unknown(problems, item, ATTACHMENT_KEYS, path, "An attachment")
        attachment_id = _string(problems, item, "id", path, required=True)
        _string(problems, item, "name", path, required=False)
        if attachment_id is not None and attachment_id not in ctx.attachment_ids:
            problems.invalid(f"{path}.id", "No attachment with this id was uploaded (or it has expired).",
                             attachment_id)


def _cages(problems: Problems, details: dict, ctx: Context) -> list[str]:
    """Check the cages; returns the account numbers ordered on."""
    numbers = []
    for path, item in _objects(problems, details, "cages", "details", required=True):
        _unknown(problems, item, CAGE_KEYS, path, "A cage")
        cage_id = _string(problems, item, "id", path, required=True)
        number = _string(problems, item, "accountNumber", path, required=False)
        cabinet_id = _string(problems, item, "cabinetId", path, required=False)
        if cage_id is None:
            continue
        cage = ctx.catalogue.cages.get(cage_id)
        if cage is None:
            problems.invalid(f"{path}.id", f"No cage {cage_id} is available for work visits.", cage_id)
            continue
        if number is not None:
            account = ctx.catalogue.accounts.get(number)
            if number not in cage.account_numbers or account is None:
                problems.invalid(f"{path}.accountNumber", f"Account {number} is not an account of cage {cage_id}.",
                                 number)
                number = None
            elif account.credit_hold:
                problems.invalid(f"{path}.accountNumber", f"Account {number} is on credit hold; no orders can be "
                                                          "placed on it.", number)
            else:
                numbers.append(number)
        if cabinet_id is not None:
            cabinet = cage.cabinet(cabinet_id)
            if cabinet is None:
                problems.invalid(f"{path}.cabinetId", f"Cabinet {cabinet_id} is not in cage {cage_id}.", cabinet_id)
                cabinet_id = None
            elif number is not None and cabinet.account_number != number:
                problems.invalid(f"{path}.cabinetId", f"Cabinet {cabinet_id} is not on account {number}.",
                                 cabinet_id)
        ordered_on = cage.account_for(number, cabinet_id)
        organization = ctx.catalogue.accounts[ordered_on].organization
        if organization not in ctx.organizations:
            problems.forbidden(errors.NO_CREATE_PERMISSION, f"{path}.id",
                               f"You have no work-visit permission on cage {cage_id}.", cage_id)
            continue
        if _present(item, "accountNumber") is ABSENT:
            # No account named: the line goes on the cabinet's or the cage's account, held to the same rules.
            implied = cage.account_for(None, cabinet_id)
            if ctx.catalogue.accounts[implied].credit_hold:
                problems.invalid(f"{path}.id", f"Cage {cage_id} would be ordered on account {implied}, which is on "
                                               "credit hold; no orders can be placed on it.", cage_id)
            else:
                numbers.append(implied)
    return numbers


def _visitors(problems: Problems, details: dict, ctx: Context) -> None:
    for path, item in _objects(problems, details, "visitors", "details", required=True):
        if "registeredUsers" in item:
            _unknown(problems, item, REGISTERED_VISITOR_KEYS, path, "A registered visitor")
            _usernames(problems, item, path, ctx, most=MAX_REGISTERED_VISITORS)
            continue
        _unknown(problems, item, VISITOR_KEYS, path, "A visitor who is not a registered user")
        for key in ("firstName", "lastName", "companyName"):
            _string(problems, item, key, path, required=True)
        for d_index, detail in enumerate(_list(problems, item, "details", path, required=False,
                                               most=MAX_VISITOR_DETAILS) or []):
            _contact_detail(problems, detail, f"{path}.details[{d_index}]", VISITOR_DETAIL_TYPES)


def _contact_detail(problems: Problems, detail, path: str, types) -> str | None:
    if _object(problems, detail, path) is None:
        return None
    _unknown(problems, detail, {"type", "value"}, path, "A contact detail")
    kind = _choice(problems, detail, "type", path, types, required=True)
    value = _string(problems, detail, "value", path, required=True)
    if kind == "EMAIL" and value is not None and not EMAIL.fullmatch(value):
        problems.invalid(f"{path}.value", "This is not an email address.", value)
        return None
    return kind


def _contacts(problems: Problems, body: dict, ctx: Context) -> None:
    technical_paths = []
    for path, item in _objects(problems, body, "contacts", "", required=False):
        if "registeredUsers" in item:
            _unknown(problems, item, REGISTERED_CONTACT_KEYS, path, "A registered contact")
            kind = _choice(problems, item, "type", path, CONTACT_TYPES, required=True)
            users = _usernames(problems, item, path, ctx)
            if kind == "TECHNICAL":
                technical_paths += [f"{path}.registeredUsers"] * max(len(users), 1)
        else:
            if "companyName" in item:
                problems.invalid(f"{path}.companyName", "A contact who is not a registered user has no "
                                                        "companyName; leave it out.", item["companyName"])
            _unknown(problems, item, CONTACT_KEYS | {"companyName"}, path, "A contact who is not a registered user")
            kind = _string(problems, item, "type", path, required=True)
            if kind is not None and kind != "TECHNICAL":
                problems.invalid(f"{path}.type", "A contact who is not a registered user can only be the TECHNICAL "
                                                 "contact; notification contacts must be registered users.", kind)
            elif kind == "TECHNICAL":
                technical_paths.append(f"{path}.type")
            for key in ("firstName", "lastName"):
                _string(problems, item, key, path, required=True)
            kinds = [
                _contact_detail(problems, detail, f"{path}.details[{d_index}]", CONTACT_DETAIL_TYPES)
                for d_index, detail in enumerate(_list(problems, item, "details", path, required=True) or [])
            ]
            if kinds and "EMAIL" not in kinds and f"{path}.details" not in problems.properties():
                problems.invalid(f"{path}.details", "Give the contact's email address (a detail of type EMAIL).")
        _choice(problems, item, "availability", path, AVAILABILITIES, required=False)
        _timezone(problems, item, path)
    for path in technical_paths[1:]:
        problems.invalid(path, "There can be only one technical contact.")


def _purchase_order(problems: Problems, body: dict, po_bearing: list[str], ctx: Context) -> None:
    value = _present(body, "purchaseOrder")
    if value is ABSENT:
        if po_bearing:
            problems.items.append((errors.MISSING, errors.info(
                "purchaseOrder", f"Account {', '.join(po_bearing)} requires a purchase order (type NEW or EXISTING).")))
        return
    if _object(problems, value, "purchaseOrder") is None:
        return
    path = "purchaseOrder"
    _unknown(problems, value, PURCHASE_ORDER_KEYS, path, "A purchase order")
    kind = _choice(problems, value, "type", path, PURCHASE_ORDER_TYPES, required=True)
    if kind == "EXEMPTED" and po_bearing:
        problems.invalid(f"{path}.type", f"Account {', '.join(po_bearing)} requires a purchase order; "
                                         "use NEW or EXISTING.", kind)
    number = _present(value, "number")
    if number is not ABSENT and (isinstance(number, bool) or not isinstance(number, str | int) or number == ""):
        problems.invalid(f"{path}.number", "number must be the purchase order's number.")
    amount = _present(value, "amount")
    if amount is not ABSENT:
        try:
            if isinstance(amount, bool) or not math.isfinite(float(amount)) or float(amount) < 0:
                raise ValueError  # "nan", "inf" and the like are no amount
        except (TypeError, ValueError):
            problems.invalid(f"{path}.amount", "amount must be a non-negative number.")
    dates = {}
    for key in ("startDate", "endDate"):
        text = _string(problems, value, key, path, required=False)
        if text is None:
            continue
        try:
            if not DATE.fullmatch(text):
                raise ValueError
            dates[key] = date.fromisoformat(text)
        except ValueError:
            problems.invalid(f"{path}.{key}", f"{key} must be a date like 2026-05-22.", text)
    if len(dates) == 2 and dates["endDate"] < dates["startDate"]:
        problems.invalid(f"{path}.endDate", "The purchase order must end on or after its start date.")
    attachment_id = _string(problems, value, "attachmentId", path, required=False)
    if attachment_id is not None and attachment_id not in ctx.attachment_ids:
        problems.invalid(f"{path}.attachmentId", "No attachment with this id was uploaded.", attachment_id)


def create_problems(body, ctx: Context) -> Problems:
    """Everything wrong with a create body (``POST /colocations/v2/orders/workVisits``)."""
    problems = Problems()
    if _object(problems, body, "body") is None:
        return problems
    _unknown(problems, body, CREATE_KEYS, "", "A work visit request")
    _string(problems, body, "description", "", required=False, length=DESCRIPTION_LENGTH)
    _string(problems, body, "customerReferenceId", "", required=False, length=REFERENCE_LENGTH)
    po_bearing: list[str] = []
    details = _present(body, "details")
    if details is ABSENT:
        problems.missing("details")
    elif _object(problems, details, "details") is not None:
        _unknown(problems, details, DETAILS_KEYS, "details", "details")
        numbers = _cages(problems, details, ctx)
        po_bearing = sorted({n for n in numbers if ctx.catalogue.accounts[n].po_bearing})
        _visit_times(problems, _present(details, "visitStartDateTime"), _present(details, "visitEndDateTime"),
                     "details", ctx, required=True)
        if _present(details, "openCabinet") is not ABSENT and not isinstance(details["openCabinet"], bool):
            problems.invalid("details.openCabinet", "openCabinet must be true or false.")
        _visitors(problems, details, ctx)
    _contacts(problems, body, ctx)
    _attachments(problems, body, ctx)
    _purchase_order(problems, body, po_bearing, ctx)
    return problems


def modify_problems(body, ctx: Context, visit: dict) -> tuple[Problems, dict]:
    """Everything wrong with a modify body, and the change it asks for (``PATCH .../workVisits/{id}``)."""
    problems = Problems()
    change: dict = {}
    if _object(problems, body, "body") is None:
        return problems, change
    _unknown(problems, body, MODIFY_KEYS, "", "A work visit change")
    if not any(_present(body, k) is not ABSENT for k in MODIFY_KEYS):
        problems.missing("details")
        return problems, change
    contacts = []
    for path, item in _objects(problems, body, "contacts", "", required=False, most=MAX_MODIFY_CONTACTS):
        _unknown(problems, item, REGISTERED_CONTACT_KEYS, path, "A notification contact")
        kind = _string(problems, item, "type", path, required=True)
        if kind is not None and kind != "NOTIFICATION":
            problems.invalid(f"{path}.type", "Only a NOTIFICATION contact can be added to an order.", kind)
        users = _usernames(problems, item, path, ctx)
        _choice(problems, item, "availability", path, AVAILABILITIES, required=False)
        _timezone(problems, item, path)
        contacts.append({**{k: item[k] for k in ("availability", "timezone") if k in item},
                         "registeredUsers": users})
    details = _present(body, "details")
    if details is not ABSENT and _object(problems, details, "details") is not None:
        _unknown(problems, details, MODIFY_DETAILS_KEYS, "details", "details")
        start = _present(details, "visitStartDateTime")
        end = _present(details, "visitEndDateTime")
        if start is not ABSENT or end is not ABSENT:
            _visit_times(problems, visit["visitStartDateTime"] if start is ABSENT else start,
                         visit["visitEndDateTime"] if end is ABSENT else end, "details", ctx, required=True)
        open_cabinet = _present(details, "openCabinet")
        if open_cabinet is not ABSENT and not isinstance(open_cabinet, bool):
            problems.invalid("details.openCabinet", "openCabinet must be true or false.")
        change["visit"] = {k: v for k, v in details.items() if v is not None and k in MODIFY_DETAILS_KEYS}
    change["contacts"] = contacts
    return problems, change


def cancel_problems(body, ctx: Context, line_ids: list[str]) -> Problems:
    """Everything wrong with a cancel body (``POST /colocations/v2/orders/{id}/cancel``)."""
    problems = Problems()
    if _object(problems, body, "body") is None:
        return problems
    _unknown(problems, body, CANCEL_KEYS, "", "A cancellation")
    _string(problems, body, "reason", "", required=True, length=REASON_LENGTH)
    _attachments(problems, body, ctx)
    for index, line_id in enumerate(_list(problems, body, "lineIds", "", required=False) or []):
        if line_id not in line_ids:
            problems.invalid(f"lineIds[{index}]", "The order has no line with this id.", line_id)
    return problems
