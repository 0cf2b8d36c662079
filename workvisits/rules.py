"""Every rule of a work visit, as pure functions over plain data.

No ORM and no HTTP: callers (the wizard, the JSON API, the admin, the sandbox upstream) gather the
facts into the small dataclasses below and get back *every* error at once, each keyed by the JSON
path of the offending property (``details.cages[0].id``) with an upstream error code and a
sentence that says how to fix it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .choices import CLOSED_STATUSES, ContactType, DetailType, PurchaseOrderType

# ---------------------------------------------------------------------------------------------
# Limits, named once. Models, forms and the API schema take their bounds from here.
DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 4000
CUSTOMER_REFERENCE_MIN, CUSTOMER_REFERENCE_MAX = 1, 40
CANCEL_REASON_MIN, CANCEL_REASON_MAX = 5, 4000
NAME_MAX = 100
CATALOGUE_ID_MAX = 100  # cage, account, cabinet and attachment ids
ATTACHMENT_NAME_MAX = 255
DETAIL_VALUE_MAX = 254
PO_NUMBER_MAX = 40
PO_AMOUNT_MAX = 40
UPSTREAM_ORDER_ID_MAX = 100  # the data centre's order number
MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_VISIT_LENGTH = timedelta(days=14)
# How far ahead a visit may start when it is ordered: a data centre plans its access a season or so ahead,
# and a visit years away is a typing error (a series' later visits are ordered SERIES_LEAD_DAYS before each).
MAX_START_AHEAD = timedelta(days=365)
MAX_VISITORS = 50
MAX_USERNAMES_PER_ENTRY = 10
MAX_VISITOR_DETAILS = 2
MAX_MODIFY_CONTACTS = 1
# Days after a visit ends until its visitors' and non-registered contacts' personal data is removed
# (each organization may set its own).
PERSONAL_DATA_RETENTION_DAYS = 90
ERASED_NAME = "(removed)"
ATTACHMENT_EXTENSIONS = "bmp jpg jpeg gif png tif tiff txt doc docx xls xlsx ppt pps ppsx pdf vsd".split()

# Upstream error codes.
MISSING = "EQ-2016011"
INVALID = "EQ-2010010"
NO_CREATE_PERMISSION = "EQ-2012006"
NO_UPDATE_PERMISSION = "EQ-2012007"
NOT_FOUND = "EQ-2014005"
ERROR_MESSAGES = {
    MISSING: "One or more mandatory properties are missing.",
    INVALID: "One or more properties are invalid",
    NO_CREATE_PERMISSION: "User does not have permission to create the order.",
    NO_UPDATE_PERMISSION: "User does not have permission to update or cancel the order.",
    NOT_FOUND: "Order not found.",
}

CHANGE_DENIED = (
    "Only the ordering user, the technical contact or a user who may see all of the organization's work "
    "visits can change or cancel this order; ask one of them, or ask your administrator for that grant."
)
UPLOAD_DELETE_DENIED = (
    "Only the person who uploaded this file or a user who may see all of the organization's work visits can "
    "delete it; ask one of them, or attach it to an order instead."
)
UPLOAD_DENIED = (
    "Attachments belong to work-visit orders: you need the work-visit ordering permission on a cage to "
    "upload one; ask your administrator for it."
)
SECURITY_ACCESS_HINT = (
    "Work visits last at most 14 days; visits longer than 14 days need a Security Access request "
    "instead. Shorten the visit or request Security Access."
)
FAR_AHEAD_HINT = (
    f"Work visits are ordered at most {MAX_START_AHEAD.days} days before they start; choose an earlier start, "
    "or place the order nearer the time."
)


@dataclass(frozen=True)
class RuleError:
    path: str
    code: str
    message: str


class RuleViolation(Exception):
    """Raised by services with every error of a request."""

    def __init__(self, errors: Iterable[RuleError]):
        self.errors = list(errors)
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in self.errors))


# ---------------------------------------------------------------------------------------------
# Facts the callers gather.
@dataclass(frozen=True)
class AccountFacts:
    number: str
    name: str = ""
    is_credit_hold: bool = False
    is_po_bearing: bool = False
    cabinets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CageFacts:
    cage_id: str
    ibx: str
    accounts: Mapping[str, AccountFacts] = field(default_factory=dict)


@dataclass(frozen=True)
class AttachmentFacts:
    attachment_id: str
    name: str
    in_use: bool = False


@dataclass(frozen=True)
class OrderingContext:
    """What the rules need to know about the caller and the catalogue."""

    now: datetime
    cages: Mapping[str, CageFacts]  # every cage of the caller's organization
    orderable: frozenset[str]  # the cage ids the caller may order work visits for
    usernames: frozenset[str]  # users of the caller's organization
    attachments: Mapping[str, AttachmentFacts] = field(default_factory=dict)  # the organization's


# ---------------------------------------------------------------------------------------------
# Cleaned values: what the services store once the rules have passed.
@dataclass
class CleanDetail:
    type: str
    value: str


@dataclass
class CleanPerson:
    """A visitor or contact: a registered user, or a person typed in."""

    username: str | None = None
    first_name: str = ""
    last_name: str = ""
    company_name: str = ""
    details: list[CleanDetail] = field(default_factory=list)
    type: str | None = None  # contacts only
    availability: str = ""
    timezone: str = ""


@dataclass
class CleanCage:
    cage_id: str
    account_number: str
    cabinet_id: str | None


@dataclass
class CleanPurchaseOrder:
    type: str
    number: str = ""
    amount: str = ""
    start_date: date | None = None
    end_date: date | None = None
    attachment_id: str | None = None


@dataclass
class CleanOrder:
    description: str
    customer_reference_id: str
    purchase_order: CleanPurchaseOrder | None
    attachment_ids: list[str]
    contacts: list[CleanPerson]
    cages: list[CleanCage]
    open_cabinet: bool
    visit_start: datetime
    visit_end: datetime
    visitors: list[CleanPerson]


@dataclass
class CleanModification:
    visit_start: datetime | None = None
    visit_end: datetime | None = None
    open_cabinet: bool | None = None
    notification_usernames: list[str] | None = None
    notification_availability: str = ""
    notification_timezone: str = ""


# ---------------------------------------------------------------------------------------------
# Small helpers.
class _Errors:
    def __init__(self):
        self.items: list[RuleError] = []

    def missing(self, path: str, how: str = "") -> None:
        self.items.append(RuleError(path, MISSING, f"{path} is required{': ' + how if how else '.'}"))

    def invalid(self, path: str, message: str) -> None:
        self.items.append(RuleError(path, INVALID, message))

    def denied(self, path: str, message: str, code: str = NO_CREATE_PERMISSION) -> None:
        self.items.append(RuleError(path, code, message))

    def __bool__(self) -> bool:
        return bool(self.items)


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(prefix: str, key: str | int) -> str:
    """The JSON path of `key` under `prefix`: ``details.cages[0]``; odd keys quoted: ``details["a b"]``."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    if not _PLAIN_KEY.match(key):
        return f"{prefix}[{json.dumps(key)[:80]}]" if prefix else f"$[{json.dumps(key)[:80]}]"
    return f"{prefix}.{key}" if prefix else key


_join = json_path


class Shape:
    """Where a body's structure is broken: the JSON paths of its structure errors (checked before the rules,
    by the API's serializers). The rules judge what is well formed and leave the rest alone."""

    def __init__(self, broken: Iterable[str] = ()):
        self.broken = frozenset(broken)

    def ok(self, path: str) -> bool:
        return path not in self.broken

    def whole(self, path: str) -> bool:
        """Nothing at or under `path` is broken."""
        return not any(p == path or p.startswith((path + ".", path + "[")) for p in self.broken)


WELL_FORMED = Shape()


def _text(obj: Mapping, key: str, prefix: str, shape: Shape) -> str | None:
    """A well-formed string property, stripped; None when absent, null or malformed."""
    value = obj.get(key)
    if not isinstance(value, str) or not shape.ok(_join(prefix, key)):
        return None
    return value.strip()


def _blank(obj: Mapping, key: str) -> bool:
    value = obj.get(key)
    return value is None or (isinstance(value, str) and not value.strip())


def _objects(value, prefix: str, shape: Shape) -> Iterator[tuple[str, Mapping]]:
    """The well-formed list's objects, each with its path."""
    if isinstance(value, list) and shape.ok(prefix):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield _join(prefix, index), item


def _at_least_one(errors: _Errors, value, path: str, what: str) -> None:
    """A list the work visit cannot do without."""
    if value is None:
        errors.missing(path)
    elif value == []:
        errors.missing(path, f"give at least 1 of the {what}.")


def _string(
    errors: _Errors,
    obj: Mapping,
    key: str,
    prefix: str,
    *,
    required: bool,
    lo: int = 0,
    hi: int = 10_000,
    what: str = "",
) -> str | None:
    """The free texts' length limits (description, reference, cancel reason)."""
    path = _join(prefix, key) if prefix else key
    value = obj.get(key)
    if value is None:
        if required:
            errors.missing(path, what)
        return None
    if not isinstance(value, str):
        kind = {dict: "an object", list: "an array", bool: "a boolean"}.get(type(value), "a number")
        errors.invalid(path, f"{path} must be a string, not {kind}.")
        return None
    length = len(value.strip())
    if required and length == 0:
        errors.missing(path, what)
        return None
    if length < lo or len(value) > hi:
        errors.invalid(path, f"{path} must be {lo} to {hi} characters long; it has {len(value)}.")
        return None
    return value.strip()


def _text_errors_and_clean(
    value, path: str, *, required: bool, lo: int, hi: int, what: str = ""
) -> tuple[list[RuleError], str | None]:
    """One free text on its own (a field of a form or of a request): its errors, or the stripped text."""
    errors = _Errors()
    clean = _string(errors, {path: value}, path, "", required=required, lo=lo, hi=hi, what=what)
    return errors.items, clean


# ---------------------------------------------------------------------------------------------
# Dates and times.
# Instants outside these bounds cannot be shown in every IBX's zone (Python's dates end with year 9999).
EARLIEST_INSTANT = datetime(2, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9999, 1, 1, tzinfo=UTC)


def to_utc(value: datetime) -> datetime | None:
    """An aware datetime in UTC, or None when it lies outside the instants the portal can store and show."""
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        return None
    return instant if EARLIEST_INSTANT <= instant < LATEST_INSTANT else None


def parse_datetime(value: str) -> datetime | None:
    """An ISO 8601 instant as an aware UTC datetime; accepts the upstream's ``'T'`` quirk."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    text = value.strip().replace("'T'", "T")
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if "T" not in text.upper() or parsed.tzinfo is None:
        return None
    return to_utc(parsed)


def parse_day_bound(value: str, *, end_of_day: bool) -> datetime | None:
    """A query bound given as a UTC date (YYYY-MM-DD: its midnight, or the next one for an end) or an
    instant; None when it is neither or out of range."""
    parsed = parse_datetime(value)
    if parsed is not None:
        return parsed
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        return to_utc(day + timedelta(days=1) if end_of_day else day)
    except (ValueError, OverflowError):
        return None


def format_datetime(value: datetime) -> str:
    """The wire form of an instant: UTC, second precision, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule_errors(
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    *,
    start_path: str = "details.visitStartDateTime",
    end_path: str = "details.visitEndDateTime",
    check_start_in_past: bool = True,
    check_start_ahead: bool = True,
) -> list[RuleError]:
    """The visit window rules: start not in the past and at most MAX_START_AHEAD from now (both judged only
    with `check_start_in_past`), end after start, at most 14 days.

    Lengths are real elapsed time between two UTC instants, so a daylight-saving change inside
    the visit neither adds nor removes an hour.
    """
    errors = _Errors()
    if start is not None and check_start_in_past and start < now:
        errors.invalid(start_path, f"{start_path} is in the past; choose a start time from now on.")
    elif start is not None and check_start_in_past and check_start_ahead and start - now > MAX_START_AHEAD:
        errors.invalid(start_path, f"{start_path} is more than {MAX_START_AHEAD.days} days from now. {FAR_AHEAD_HINT}")
    if start is not None and end is not None:
        if end <= start:
            errors.invalid(end_path, f"{end_path} must be after the visit start; choose a later end time.")
        elif end - start > MAX_VISIT_LENGTH:
            errors.invalid(end_path, SECURITY_ACCESS_HINT)
    if end is not None and end <= now and (start is None or end > start):
        errors.invalid(end_path, f"{end_path} is in the past; choose an end time in the future.")
    return errors.items


# ---------------------------------------------------------------------------------------------
# People: visitors and contacts.
# An address as a mail server reads it: a dot-atom local part (no commas, quotes, angle brackets or
# spaces, which would turn one address into several or into a display name) and a host name.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL = re.compile(
    rf"^(?=.{{1,64}}@){_ATOM}(?:\.{_ATOM})*@(?=.{{1,253}}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,63}}$"
)
_PHONE = re.compile(r"^\+?[0-9 ()./-]{6,30}$")


def detail_value_error(kind: str, value: str) -> str | None:
    """Why an email or phone value is not usable, or None."""
    if kind == DetailType.EMAIL and not _EMAIL.match(value):
        return "is not an email address; write it as name@example.com."
    if kind in (DetailType.PHONE, DetailType.MOBILE) and not _PHONE.match(value):
        return "is not a phone number; use digits with an optional leading + and country code."
    return None


# What a person's details may be: a contact is reached by email, phone or mobile; the upstream takes a
# visitor's email or mobile only.
CONTACT_DETAIL_TYPES = (DetailType.EMAIL, DetailType.PHONE, DetailType.MOBILE)
VISITOR_DETAIL_TYPES = (DetailType.EMAIL, DetailType.MOBILE)


def visitor_detail_type_error(kind: str) -> str | None:
    """Why `kind` cannot be the type of a visitor's detail, or None."""
    if kind in VISITOR_DETAIL_TYPES:
        return None
    return "must be EMAIL or MOBILE: a visitor is reached by email or mobile phone; give a phone number as MOBILE."


def email_address_error(value: str) -> str | None:
    """Why `value` is not one email address a mail server would deliver to, or None."""
    return detail_value_error(DetailType.EMAIL, value)


def _details(
    errors: _Errors, obj: Mapping, prefix: str, shape: Shape, *, required: bool, visitor: bool = False
) -> list[CleanDetail]:
    """A person's details, each of its kind: a contact's EMAIL, PHONE or MOBILE, a visitor's EMAIL or MOBILE."""
    path = _join(prefix, "details")
    if required:
        _at_least_one(errors, obj.get("details"), path, "contact details (EMAIL, PHONE or MOBILE)")
    clean: list[CleanDetail] = []
    for item_path, item in _objects(obj.get("details"), path, shape):
        kind, value = _text(item, "type", item_path, shape), _text(item, "value", item_path, shape)
        type_problem = visitor_detail_type_error(kind) if visitor and kind else None
        if type_problem:
            errors.invalid(_join(item_path, "type"), f"{_join(item_path, 'type')} {type_problem}")
        elif kind and value:
            problem = detail_value_error(kind, value)
            if problem:
                errors.invalid(_join(item_path, "value"), f"{_join(item_path, 'value')} {problem}")
            else:
                clean.append(CleanDetail(kind, value))
    return clean


def valid_timezone(name: str) -> bool:
    if not name or name not in _timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


_TIMEZONES: frozenset[str] | None = None


def _timezones() -> frozenset[str]:
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = frozenset(available_timezones())
    return _TIMEZONES


def _usernames(errors: _Errors, obj: Mapping, prefix: str, ctx: OrderingContext, shape: Shape) -> list[str]:
    """Registered users named by username: users of the caller's organization."""
    path = _join(prefix, "registeredUsers")
    names = obj.get("registeredUsers")
    clean = []
    for i, name in enumerate(names if isinstance(names, list) and shape.ok(path) else []):
        name_path = _join(path, i)
        if not isinstance(name, str) or not shape.ok(name_path):
            continue
        if name not in ctx.usernames:
            errors.invalid(
                name_path,
                f"{name_path}: '{name}' is not a user of your organization; "
                "give a registered username or enter the person's name and contact details.",
            )
        else:
            clean.append(name)
    return clean


def _name(errors: _Errors, obj: Mapping, key: str, prefix: str, shape: Shape, how: str) -> str:
    if _blank(obj, key):
        errors.missing(_join(prefix, key), how)
        return ""
    return _text(obj, key, prefix, shape) or ""


def _non_registered(errors: _Errors, obj: Mapping, prefix: str, shape: Shape, *, contact: bool = False) -> CleanPerson:
    """A person typed in. A visitor needs a company and may give up to two details; a contact has no
    company (one sent is ignored) and needs an email among its details."""
    person = CleanPerson(
        first_name=_name(errors, obj, "firstName", prefix, shape, "write the first name as on the photo ID."),
        last_name=_name(errors, obj, "lastName", prefix, shape, "write the last name as on the photo ID."),
    )
    if not contact:
        person.company_name = _name(errors, obj, "companyName", prefix, shape, "give the company the person works for.")
        person.details = _details(errors, obj, prefix, shape, required=False, visitor=True)
        return person
    person.details = _details(errors, obj, prefix, shape, required=True)
    path = _join(prefix, "details")
    raw = obj.get("details")
    # Reported with the details' other errors (all at once); an EMAIL with a bad value has its own error.
    if (
        isinstance(raw, list)
        and raw
        and shape.whole(path)
        and not any(isinstance(item, Mapping) and item.get("type") == DetailType.EMAIL for item in raw)
    ):
        errors.missing(path, "give the contact's email address (type EMAIL) among the details.")
    return person


def _zone(errors: _Errors, item: Mapping, path: str, shape: Shape) -> str:
    """A contact's time zone: an IANA name, or "" (the IBX's zone)."""
    timezone = _text(item, "timezone", path, shape) or ""
    if timezone and not valid_timezone(timezone):
        errors.invalid(
            _join(path, "timezone"),
            f"{_join(path, 'timezone')} '{timezone}' is not a time zone; use an IANA name such as Europe/Amsterdam.",
        )
        return ""
    return timezone


def visitors_errors_and_clean(
    raw_visitors,
    ctx: OrderingContext,
    prefix: str = "details.visitors",
    shape: Shape = WELL_FORMED,
) -> tuple[list[RuleError], list[CleanPerson]]:
    """Visitors: at least one, at most 50, registered users of the organization or people typed in."""
    errors = _Errors()
    _at_least_one(errors, raw_visitors, prefix, "visitors")
    clean: list[CleanPerson] = []
    seen: set[tuple] = set()
    for path, item in _objects(raw_visitors, prefix, shape):
        if "registeredUsers" in item:
            people = [CleanPerson(username=name) for name in _usernames(errors, item, path, ctx, shape)]
        else:
            people = [_non_registered(errors, item, path, shape)]
        for person in people:
            key = _person_key(person)
            if key in seen:
                who = person.username or f"{person.first_name} {person.last_name}"
                errors.invalid(path, f"{path}: {who} is listed twice as a visitor; remove the duplicate.")
                continue
            seen.add(key)
            clean.append(person)
    if len(clean) > MAX_VISITORS:
        errors.invalid(prefix, f"{prefix} may name at most {MAX_VISITORS} visitors; it names {len(clean)}.")
    return errors.items, clean


def _person_key(person: CleanPerson) -> tuple:
    if person.username:
        return ("user", person.username)
    emails = sorted(d.value.lower() for d in person.details)
    return ("person", person.first_name.lower(), person.last_name.lower(), tuple(emails))


def contacts_errors_and_clean(
    raw_contacts, ctx: OrderingContext, ordering_username: str, prefix: str = "contacts", shape: Shape = WELL_FORMED
) -> tuple[list[RuleError], list[CleanPerson]]:
    """Contacts: at most one TECHNICAL (registered or not); NOTIFICATION contacts are registered users.

    The ordering user is the technical and notification contact unless others are given.
    """
    errors = _Errors()
    clean: list[CleanPerson] = []
    technical_paths: list[str] = []
    for path, item in _objects(raw_contacts, prefix, shape):
        kind = _text(item, "type", path, shape)
        kind = kind if kind in ContactType.values else None
        # Availability and time zone are optional: work hours, the IBX's zone.
        availability = _text(item, "availability", path, shape) or ""
        timezone = _zone(errors, item, path, shape)
        if "registeredUsers" in item:
            people = [CleanPerson(username=name) for name in _usernames(errors, item, path, ctx, shape)]
        else:
            if kind == ContactType.NOTIFICATION:
                errors.invalid(
                    path,
                    f"{path}: notification contacts must be registered users; "
                    "give registeredUsers, or make this person the TECHNICAL contact.",
                )
                continue
            people = [_non_registered(errors, item, path, shape, contact=True)]
        for person in people:
            person.type, person.availability, person.timezone = kind, availability, timezone
            if kind == ContactType.TECHNICAL:
                technical_paths.append(path)
            clean.append(person)
    if len(technical_paths) > 1:
        errors.invalid(
            technical_paths[1],
            f"{technical_paths[1]}: an order has only one TECHNICAL contact; make the others NOTIFICATION contacts.",
        )
    seen: set[tuple] = set()
    unique: list[CleanPerson] = []
    for person in clean:
        key = (person.type, *_person_key(person))
        if key not in seen:
            seen.add(key)
            unique.append(person)
    if not technical_paths:
        unique.insert(0, CleanPerson(username=ordering_username, type=ContactType.TECHNICAL))
    if not any(p.type == ContactType.NOTIFICATION for p in unique):
        unique.append(CleanPerson(username=ordering_username, type=ContactType.NOTIFICATION))
    return errors.items, unique


# ---------------------------------------------------------------------------------------------
# Cages, accounts and cabinets.
def cages_errors_and_clean(
    raw_cages,
    ctx: OrderingContext,
    prefix: str = "details.cages",
    shape: Shape = WELL_FORMED,
) -> tuple[list[RuleError], list[CleanCage]]:
    """At least one cage the caller may order for; account and cabinet belong to that cage."""
    errors = _Errors()
    _at_least_one(errors, raw_cages, prefix, "cages")
    clean: list[CleanCage] = []
    ibxs: set[str] = set()
    seen: set[str] = set()
    for path, item in _objects(raw_cages, prefix, shape):
        cage_id = _text(item, "id", path, shape)
        account_number = _text(item, "accountNumber", path, shape)
        cabinet_id = _text(item, "cabinetId", path, shape)
        if not cage_id:
            continue
        cage = ctx.cages.get(cage_id)
        id_path = _join(path, "id")
        if cage is None:
            errors.invalid(
                id_path,
                f"{id_path}: there is no cage '{cage_id}' of your organization; "
                "pick one from GET /colocations/v2/locations?permissionCode=WORK_VISIT.",
            )
            continue
        if cage_id not in ctx.orderable:
            errors.denied(
                id_path,
                f"{id_path}: you do not hold the work-visit ordering permission on cage "
                f"{cage_id}; ask your organization's administrator to grant it.",
            )
            continue
        if cage_id in seen:
            errors.invalid(id_path, f"{id_path}: cage {cage_id} is listed twice; list each cage once.")
            continue
        seen.add(cage_id)
        ibxs.add(cage.ibx)
        if len(ibxs) > 1:
            errors.invalid(
                id_path,
                f"{id_path}: all cages of one work visit must be in the same IBX; place a separate order for each IBX.",
            )
            continue
        account_path = _join(path, "accountNumber")
        if account_number is None:
            # The upstream requires only the cage's id: the account is the cage's only one, or the one
            # its named cabinet is billed to.
            billed = [n for n, a in cage.accounts.items() if cabinet_id is not None and cabinet_id in a.cabinets]
            if len(cage.accounts) == 1 or len(billed) == 1:
                account_number = billed[0] if billed else next(iter(cage.accounts))
            elif "accountNumber" not in item:
                errors.missing(
                    account_path,
                    f"cage {cage_id} has several accounts ({', '.join(sorted(cage.accounts))}); say which one "
                    "(or name a cabinet of the cage, whose account is then used).",
                )
                continue
            else:
                continue
        account = cage.accounts.get(account_number)
        if account is None:
            errors.invalid(
                account_path,
                f"{account_path}: account {account_number} does not belong to cage "
                f"{cage_id}; use one of {', '.join(sorted(cage.accounts)) or 'none'}.",
            )
            continue
        if account.is_credit_hold:
            errors.invalid(
                account_path,
                f"{account_path}: account {account_number} is on credit hold and "
                "cannot order work visits; contact your billing team to lift the hold.",
            )
            continue
        if cabinet_id is not None and cabinet_id not in account.cabinets:
            errors.invalid(
                _join(path, "cabinetId"),
                f"{_join(path, 'cabinetId')}: cabinet {cabinet_id} does not belong to cage {cage_id} "
                f"and account {account_number}; leave it out or pick one of "
                f"{', '.join(sorted(account.cabinets)) or 'none'}.",
            )
            continue
        clean.append(CleanCage(cage_id, account_number, cabinet_id))
    return errors.items, clean


# ---------------------------------------------------------------------------------------------
# Purchase order and attachments.
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# The upstream takes an amount as a JSON number (UPSTREAM_WIRE.md); the seed writes it as a string of one.
_AMOUNT = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


def _day(errors: _Errors, obj: Mapping, key: str, prefix: str, shape: Shape) -> date | None:
    """A purchase order's date written YYYY-MM-DD (absent or blank: None); any other is an error, never dropped."""
    path = _join(prefix, key)
    value = obj.get(key)
    if value is None or (isinstance(value, str) and not value.strip()) or not shape.ok(path):
        return None
    if isinstance(value, str) and _DAY.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    errors.invalid(path, f"{path} must be a real date written YYYY-MM-DD, such as 2026-05-22.")
    return None


def purchase_order_amount_error(amount: str) -> str | None:
    """Why an amount (as text) is not one the upstream takes, or None: a non-negative, finite number."""
    if _AMOUNT.match(amount) and math.isfinite(float(amount)):
        return None
    return (
        "must be a non-negative number, such as 1250 or 1250.50: digits with an optional decimal point, "
        "without a currency or thousands separators."
    )


def _code(value, kinds: tuple) -> str:
    """A purchase order's number or amount as text ("" when absent or of another type)."""
    return str(value).strip() if isinstance(value, kinds) and not isinstance(value, bool) else ""


def purchase_order_amount_number(text: str) -> int | float | None:
    """The JSON number a stored purchase-order amount says: an int when whole (exact), else the nearest float
    (as DRF's encoder writes a Decimal); None when there is none or it is no finite number (text stored
    before amounts were checked)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    number = float(value)
    if abs(number) == float("inf"):  # beyond what a JSON reader's double holds
        return None
    return int(value) if value == value.to_integral_value() else number


def purchase_order_errors_and_clean(
    raw_po,
    po_bearing_accounts: Iterable[str],
    ctx: OrderingContext,
    prefix: str = "purchaseOrder",
    shape: Shape = WELL_FORMED,
) -> tuple[list[RuleError], CleanPurchaseOrder | None]:
    """PO type EXEMPTED, NEW or EXISTING (with a number); PO-bearing accounts need one other than EXEMPTED."""
    errors = _Errors()
    po_bearing = sorted(po_bearing_accounts)
    if raw_po is None:
        if po_bearing:
            errors.missing(
                prefix, f"account {', '.join(po_bearing)} requires a purchase order; give type NEW or EXISTING."
            )
        return errors.items, None
    if not isinstance(raw_po, dict):
        return errors.items, None
    po = raw_po
    kind = _text(po, "type", prefix, shape)
    kind = kind if kind in PurchaseOrderType.values else None
    number = _code(po.get("number"), (str, int))
    if kind == PurchaseOrderType.EXISTING and not number:
        errors.missing(_join(prefix, "number"), "an EXISTING purchase order needs its number.")
    if kind == PurchaseOrderType.EXEMPTED and po_bearing:
        errors.invalid(
            _join(prefix, "type"),
            f"{_join(prefix, 'type')}: account {', '.join(po_bearing)} requires a purchase order; "
            "EXEMPTED is not allowed, use NEW or EXISTING.",
        )
    amount = _code(po.get("amount"), (str, int, float))
    amount_path = _join(prefix, "amount")
    if amount and shape.ok(amount_path) and (why := purchase_order_amount_error(amount)):
        errors.invalid(amount_path, f"{amount_path} {why}")
    start, end = _day(errors, po, "startDate", prefix, shape), _day(errors, po, "endDate", prefix, shape)
    if start and end and end < start:
        errors.invalid(_join(prefix, "endDate"), f"{_join(prefix, 'endDate')} must not be before the start date.")
    attachment_id = _text(po, "attachmentId", prefix, shape)
    if attachment_id is not None and attachment_id not in ctx.attachments:
        errors.invalid(
            _join(prefix, "attachmentId"),
            f"{_join(prefix, 'attachmentId')}: no attachment {attachment_id} of your organization; "
            "upload it first with POST /v1/attachments/file.",
        )
    if errors or kind is None or not shape.whole(prefix):
        return errors.items, None
    return errors.items, CleanPurchaseOrder(kind, number, amount, start, end, attachment_id)


def attachments_errors_and_clean(
    raw,
    ctx: OrderingContext,
    prefix: str = "attachments",
    shape: Shape = WELL_FORMED,
) -> tuple[list[RuleError], list[str]]:
    """At most five attachments, each uploaded by the caller's organization and not used by another order."""
    errors = _Errors()
    clean: list[str] = []
    for path, item in _objects(raw, prefix, shape):
        attachment_id = _text(item, "id", path, shape)
        if not attachment_id:
            continue
        facts = ctx.attachments.get(attachment_id)
        if facts is None:
            errors.invalid(
                _join(path, "id"),
                f"{_join(path, 'id')}: no attachment {attachment_id} of your "
                "organization; upload it first with POST /v1/attachments/file.",
            )
        elif facts.in_use:
            errors.invalid(
                _join(path, "id"),
                f"{_join(path, 'id')}: attachment {attachment_id} belongs to another order; upload the file again.",
            )
        elif attachment_id in clean:
            errors.invalid(_join(path, "id"), f"{_join(path, 'id')}: attachment {attachment_id} is listed twice.")
        else:
            clean.append(attachment_id)
    return errors.items, clean


# Leading bytes of each accepted type. Office's old formats share the OLE2 container and the new
# ones the ZIP container, so the extension picks the member of the family.
_SIGNATURES: list[tuple[bytes, tuple[str, ...], str]] = [
    (b"\x89PNG\r\n\x1a\n", ("png",), "image/png"),
    (b"\xff\xd8\xff", ("jpg", "jpeg"), "image/jpeg"),
    (b"GIF87a", ("gif",), "image/gif"),
    (b"GIF89a", ("gif",), "image/gif"),
    (b"BM", ("bmp",), "image/bmp"),
    (b"II*\x00", ("tif", "tiff"), "image/tiff"),
    (b"MM\x00*", ("tif", "tiff"), "image/tiff"),
    (b"%PDF-", ("pdf",), "application/pdf"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ("doc", "xls", "ppt", "pps", "vsd"), "application/x-ole-storage"),
    (b"PK\x03\x04", ("docx", "xlsx", "ppsx"), "application/zip"),
]
_CONTENT_TYPES = {
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "pps": "application/vnd.ms-powerpoint",
    "vsd": "application/vnd.visio",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppsx": "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
    "txt": "text/plain",
}
# Markup that a browser could be talked into rendering, wherever it hides in the first bytes.
_ACTIVE_MARKUP = re.compile(rb"<\s*(html|script|body|iframe|svg|object|embed|meta|!doctype\s+html)\b", re.I)
SNIFF_BYTES = 8192


def attachment_file_errors(name: str, size: int, head: bytes, path: str = "file") -> tuple[list[RuleError], str]:
    """Is this upload acceptable? Judged by its name, its size and its first bytes (at least 8 KiB).

    Returns the errors and the content type the bytes show.
    """
    errors = _Errors()
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if size > MAX_ATTACHMENT_BYTES:
        most = MAX_ATTACHMENT_BYTES // 1048576
        errors.invalid(path, f"{path} is {size / 1048576:.1f} MB; attachments may be at most {most} MB.")
    if not name or len(name) > ATTACHMENT_NAME_MAX or "/" in name or "\\" in name or "\x00" in name:
        errors.invalid(path, f"{path} needs a plain file name of at most {ATTACHMENT_NAME_MAX} characters.")
    if extension not in ATTACHMENT_EXTENSIONS:
        errors.invalid(
            path,
            f"{path}: .{extension or '(none)'} files are not accepted; use one of {', '.join(ATTACHMENT_EXTENSIONS)}.",
        )
        return errors.items, ""
    if size == 0:
        errors.invalid(path, f"{path} is empty; attach a file with content.")
        return errors.items, ""
    content_type = ""
    if extension == "txt":
        if b"\x00" in head:
            errors.invalid(path, f"{path} is named .txt but is not text; attach a plain text file.")
        else:
            content_type = _CONTENT_TYPES["txt"]
    else:
        for signature, extensions, mime in _SIGNATURES:
            if head.startswith(signature):
                if extension in extensions:
                    content_type = _CONTENT_TYPES.get(extension, mime)
                break
        if not content_type:
            errors.invalid(
                path,
                f"{path}: the content is not a .{extension} file; attach a real .{extension} "
                "file or rename it to match its type.",
            )
    if content_type and _ACTIVE_MARKUP.search(head):
        errors.invalid(
            path,
            f"{path} contains web page markup (HTML or script), which is not accepted; attach the document itself.",
        )
        content_type = ""
    return errors.items, content_type


# ---------------------------------------------------------------------------------------------
# Free text of the order.
def description_errors_and_clean(value, path: str = "description") -> tuple[list[RuleError], str]:
    """The description of the work: optional (absent, null or blank is stored empty), else 10 to 4000
    characters."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return [], ""
    errors, clean = _text_errors_and_clean(value, path, required=False, lo=DESCRIPTION_MIN, hi=DESCRIPTION_MAX)
    return errors, clean or ""


def customer_reference_errors_and_clean(value, path: str = "customerReferenceId") -> tuple[list[RuleError], str]:
    """The customer's own reference: optional, 1 to 40 characters."""
    errors, clean = _text_errors_and_clean(
        value, path, required=False, lo=CUSTOMER_REFERENCE_MIN, hi=CUSTOMER_REFERENCE_MAX
    )
    return errors, clean or ""


# ---------------------------------------------------------------------------------------------
# The whole create and modify bodies, once their structure is checked (`shape` says where it is broken).
def validate_create(
    body, ctx: OrderingContext, ordering_username: str, shape: Shape = WELL_FORMED, *, check_start_ahead: bool = True
) -> tuple[list[RuleError], CleanOrder | None]:
    """Every rule of a new work visit. Returns every error, or the cleaned order when there are none
    (and the structure is whole). `check_start_ahead=False` leaves out MAX_START_AHEAD, for a visit checked
    now but ordered later (a series' coming occurrence, ordered SERIES_LEAD_DAYS before it)."""
    errors = _Errors()
    if not isinstance(body, dict):
        return [], None
    description_errors, description = description_errors_and_clean(body.get("description"))
    errors.items += description_errors
    reference_errors, reference = customer_reference_errors_and_clean(body.get("customerReferenceId"))
    errors.items += reference_errors
    attachment_errors, attachment_ids = attachments_errors_and_clean(body.get("attachments"), ctx, shape=shape)
    errors.items += attachment_errors
    contact_errors, contacts = contacts_errors_and_clean(body.get("contacts"), ctx, ordering_username, shape=shape)
    errors.items += contact_errors

    cages: list[CleanCage] = []
    visitors: list[CleanPerson] = []
    start = end = None
    details = body.get("details")
    if isinstance(details, dict):
        cage_errors, cages = cages_errors_and_clean(details.get("cages"), ctx, shape=shape)
        errors.items += cage_errors
        start = parse_datetime(details.get("visitStartDateTime"))
        end = parse_datetime(details.get("visitEndDateTime"))
        errors.items += schedule_errors(start, end, ctx.now, check_start_ahead=check_start_ahead)
        visitor_errors, visitors = visitors_errors_and_clean(details.get("visitors"), ctx, shape=shape)
        errors.items += visitor_errors

    po_bearing = {c.account_number for c in cages if ctx.cages[c.cage_id].accounts[c.account_number].is_po_bearing}
    po_errors, purchase_order = purchase_order_errors_and_clean(body.get("purchaseOrder"), po_bearing, ctx, shape=shape)
    errors.items += po_errors
    if errors or shape.broken or not isinstance(details, dict):
        return errors.items, None
    return [], CleanOrder(
        description=description,
        customer_reference_id=reference,
        purchase_order=purchase_order,
        attachment_ids=attachment_ids,
        contacts=contacts,
        cages=cages,
        open_cabinet=details.get("openCabinet", False),
        visit_start=start,
        visit_end=end,
        visitors=visitors,
    )


@dataclass(frozen=True)
class OrderFacts:
    """What the modify and cancel rules need to know about an existing order."""

    status: str
    visit_start: datetime
    visit_end: datetime
    ordered_by: str
    technical_usernames: frozenset[str] = frozenset()


def order_is_open(status: str) -> bool:
    """Modifiable and cancellable: not cancelled, closed or rejected."""
    return status not in CLOSED_STATUSES


def may_change_order(username: str, *, sees_all_orders: bool, order: OrderFacts) -> bool:
    """Changing or cancelling (CONTRACT "Modify"): the order's ordering user or technical contact, or a user
    who may see all the organization's orders."""
    return sees_all_orders or username == order.ordered_by or username in order.technical_usernames


def may_delete_upload(*, is_uploader: bool, sees_all_orders: bool) -> bool:
    """Deleting an upload no order uses: the member who uploaded it, or a user who may see all the
    organization's orders (any member may attach it to an order)."""
    return is_uploader or sees_all_orders


def validate_modify(
    body, ctx: OrderingContext, order: OrderFacts, shape: Shape = WELL_FORMED
) -> tuple[list[RuleError], CleanModification | None]:
    """A change to an order: visit start/end, openCabinet and at most one notification contact."""
    errors = _Errors()
    if not isinstance(body, dict):
        return [], None
    change = CleanModification()
    for path, item in _objects(body.get("contacts"), "contacts", shape):
        change.notification_availability = _text(item, "availability", path, shape) or ""
        change.notification_timezone = _zone(errors, item, path, shape)
        change.notification_usernames = _usernames(errors, item, path, ctx, shape)
    details = body.get("details")
    if isinstance(details, dict):
        change.visit_start = parse_datetime(details.get("visitStartDateTime"))
        change.visit_end = parse_datetime(details.get("visitEndDateTime"))
        if isinstance(details.get("openCabinet"), bool):
            change.open_cabinet = details["openCabinet"]
    if change.visit_start is not None or change.visit_end is not None:
        start = change.visit_start or order.visit_start
        end = change.visit_end or order.visit_end
        errors.items += schedule_errors(
            start, end, ctx.now, check_start_in_past=change.visit_start is not None and start != order.visit_start
        )
    if not errors and not shape.broken and change == CleanModification():
        errors.missing("details", "give a new visit start or end, openCabinet, or a notification contact.")
    if errors or shape.broken:
        return errors.items, None
    return [], change


def cancel_reason_errors_and_clean(reason, path: str = "reason") -> tuple[list[RuleError], str | None]:
    """Why an order is cancelled: 5 to 4000 characters."""
    what = f"say why in {CANCEL_REASON_MIN} to {CANCEL_REASON_MAX} characters."
    return _text_errors_and_clean(reason, path, required=True, lo=CANCEL_REASON_MIN, hi=CANCEL_REASON_MAX, what=what)


def cancel_reason_errors(reason) -> list[RuleError]:
    return cancel_reason_errors_and_clean(reason)[0]


MAX_CANCEL_LINE_IDS = 100


def cancel_lines_errors(line_ids: list[str] | None, order_lines: list[str]) -> list[RuleError]:
    """A work visit is one access grant: it is cancelled whole, so lineIds (when given) name all its lines."""
    errors = _Errors()
    if line_ids is None:
        return []
    for i, line_id in enumerate(line_ids):
        if line_id not in order_lines:
            errors.invalid(
                f"lineIds[{i}]",
                f"lineIds[{i}]: {line_id} is not a line of this order; its lines are {', '.join(order_lines)}.",
            )
    if not errors and set(line_ids) != set(order_lines):
        errors.invalid(
            "lineIds",
            "lineIds: a work visit is cancelled as a whole; list all of its lines "
            f"({', '.join(order_lines)}) or leave lineIds out.",
        )
    return errors.items


# ---------------------------------------------------------------------------------------------
# Review policy: which orders wait for a reviewer.
@dataclass(frozen=True)
class ReviewPolicy:
    mode: str  # choices.ReviewMode
    within_24_hours: bool = False
    non_registered_visitors: bool = False
    new_purchase_order: bool = False
    night_or_weekend: bool = False


NIGHT_STARTS, NIGHT_ENDS = 20, 7  # local hours: 20:00 to 07:00 counts as night


def review_reasons(
    policy: ReviewPolicy,
    *,
    now: datetime,
    visit_start: datetime,
    visit_end: datetime,
    ibx_timezone: str,
    has_non_registered_visitors: bool,
    purchase_order_type: str | None,
) -> list[str]:
    """Why an order must wait for a reviewer under `policy`; empty when it goes straight to the upstream."""
    if policy.mode == "OFF":
        return []
    if policy.mode == "ALL":
        return ["The organization reviews every order."]
    reasons = []
    if policy.within_24_hours and visit_start - now < timedelta(hours=24):
        reasons.append("The visit starts within 24 hours.")
    if policy.non_registered_visitors and has_non_registered_visitors:
        reasons.append("Some visitors are not registered users.")
    if policy.new_purchase_order and purchase_order_type == PurchaseOrderType.NEW:
        reasons.append("The order raises a NEW purchase order.")
    if policy.night_or_weekend and _touches_night_or_weekend(visit_start, visit_end, ZoneInfo(ibx_timezone)):
        reasons.append("The visit falls at night or at a weekend in the IBX's time zone.")
    return reasons


def _touches_night_or_weekend(start: datetime, end: datetime, zone: ZoneInfo) -> bool:
    step = timedelta(minutes=30)
    moment = start
    while moment < end:
        local = moment.astimezone(zone)
        if local.weekday() >= 5 or local.hour >= NIGHT_STARTS or local.hour < NIGHT_ENDS:
            return True
        moment += step
    local_end = (end - timedelta(seconds=1)).astimezone(zone)
    return local_end.weekday() >= 5 or local_end.hour >= NIGHT_STARTS or local_end.hour < NIGHT_ENDS
