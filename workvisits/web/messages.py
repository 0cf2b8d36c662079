"""What a person reads: rule errors and upstream reasons in words, and times in the IBX's zone.

The rules key every error by the JSON path of the property (``details.cages[0].accountNumber``);
the API keeps those paths. Pages and emails pass through here instead, so that the path becomes the
thing it names: "Cage DC2:01:123456: account 1234567890 is on credit hold…".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# ---------------------------------------------------------------------------------------------
# Times


def _zone(where) -> ZoneInfo:
    if isinstance(where, ZoneInfo):
        return where
    return ZoneInfo(str(getattr(where, "timezone", where) or "UTC"))


def local_time(value: datetime, where) -> str:
    """``Tue 01 Dec 2026 09:00 EST (America/New_York)``: the abbreviation is that of the date itself."""
    zone = _zone(where)
    local = value.astimezone(zone)
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()} ({zone.key})"


def local_span(start: datetime, end: datetime, where) -> str:
    """A visit window in the zone: the end's date is left out when it is the start's."""
    zone = _zone(where)
    a, b = start.astimezone(zone), end.astimezone(zone)
    until = f"{b:%H:%M} {b.tzname()}" if a.date() == b.date() else f"{b:%a %d %b %Y %H:%M} {b.tzname()}"
    return f"{a:%a %d %b %Y %H:%M} {a.tzname()} – {until} ({zone.key})"


def zone_label(where, on: datetime | None = None) -> str:
    """``America/New_York (EDT, UTC−04:00)``: the abbreviation and offset on `on` (default now)."""
    zone = _zone(where)
    moment = (on or datetime.now(UTC)).astimezone(zone)
    offset = moment.strftime("%z")
    return f"{zone.key} ({moment.tzname()}, UTC{offset[0]}{offset[1:3]}:{offset[3:]})"


# ---------------------------------------------------------------------------------------------
# Rule errors and upstream reasons
@dataclass
class Names:
    """How the page names what a path points at: cages by id, people by name, files by name."""

    cages: list[str] = field(default_factory=list)
    visitors: list[str] = field(default_factory=list)
    visitor_details: list[list[str]] = field(default_factory=list)  # EMAIL/PHONE of each typed-in visitor
    contacts: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)

    @classmethod
    def from_body(cls, body: dict, *, visitors: list[str] | None = None, attachments: list[str] | None = None):
        """From a create body; `visitors` overrides how each visitor is named (the wizard's "Person 1")."""
        details = body.get("details") if isinstance(body, dict) else None
        details = details if isinstance(details, dict) else {}
        cages = [c.get("id", "") if isinstance(c, dict) else "" for c in details.get("cages") or []]
        raw_visitors = [v if isinstance(v, dict) else {} for v in details.get("visitors") or []]
        raw_contacts = [c if isinstance(c, dict) else {} for c in body.get("contacts") or []]
        return cls(
            cages=cages,
            visitors=visitors or [_person_name(v) for v in raw_visitors],
            visitor_details=[
                [d.get("type", "") for d in v.get("details") or [] if isinstance(d, dict)] for v in raw_visitors
            ],
            contacts=[_contact_name(c) for c in raw_contacts],
            attachments=attachments or [],
        )

    @classmethod
    def from_order(cls, order):
        """From a stored order, in the order its parts were sent upstream."""
        visitors = order.parts("visitors")
        return cls(
            cages=[c.cage.cage_id for c in order.parts("cages")],
            visitors=[f"Visitor {v.name}" for v in visitors],
            visitor_details=[[d.get("type", "") for d in v.details] for v in visitors],
            contacts=[
                "The technical contact" if c.contact_type == "TECHNICAL" else f"Notification contact {c.name}"
                for c in order.parts("contacts")
            ],
            attachments=[a.name for a in order.parts("attachments")],
        )


def _person_name(person: dict) -> str:
    if person.get("registeredUsers"):
        return "Visitor " + ", ".join(str(u) for u in person["registeredUsers"])
    name = f"{person.get('firstName') or ''} {person.get('lastName') or ''}".strip()
    return f"Visitor {name}" if name else "A visitor"


def _contact_name(contact: dict) -> str:
    if contact.get("type") == "NOTIFICATION":
        users = ", ".join(str(u) for u in contact.get("registeredUsers") or [])
        return f"Notification contact {users}".strip()
    return "The technical contact"


_FIELDS = {
    "$": "The order",
    "orderId": "The order",
    "details": "The visit",
    "details.cages": "Cages",
    "details.visitors": "Visitors",
    "details.visitStartDateTime": "The visit start",
    "details.visitEndDateTime": "The visit end",
    "details.openCabinet": "The open-cabinet choice",
    "description": "The description",
    "customerReferenceId": "Your reference",
    "contacts": "Contacts",
    "attachments": "Attachments",
    "purchaseOrder": "The purchase order",
    "purchaseOrder.type": "The purchase order type",
    "purchaseOrder.number": "The purchase order number",
    "purchaseOrder.amount": "The purchase order amount",
    "purchaseOrder.startDate": "The purchase order's start date",
    "purchaseOrder.endDate": "The purchase order's end date",
    "purchaseOrder.attachmentId": "The purchase order's attachment",
    "reason": "The reason",
    "file": "The file",
    # Visit series (workvisits/series.py).
    "recurrence": "The repetition",
    "fromOccurrence": "The visit to change from",
    "visitStartDateTime": "The visit",
    "seriesId": "The series",
}
_PERSON_PARTS = {
    "firstName": "first name",
    "lastName": "last name",
    "companyName": "company",
    "registeredUsers": "user",
    "details": "email or phone",
    "type": "contact type",
    "availability": "availability",
    "timezone": "time zone",
}
_ITEM = re.compile(r"^(details\.cages|details\.visitors|contacts|attachments)\[(\d+)\](.*)$")
_DETAIL = re.compile(r"^\.details\[(\d+)\]")
# A JSON path anywhere in a sentence: a known top-level property followed by .key or [n] parts.
PATH_PATTERN = re.compile(
    r"\b(?:details|contacts|purchaseOrder|attachments|customerReferenceId|description)"
    r"(?:\.[A-Za-z]+|\[\d+\])+|\b(?:details|contacts|attachments)\[\d+\]|\bcustomerReferenceId\b"
)
# Words of the API that a person does not choose in the pages.
_API_WORDS = [
    (re.compile(r"give the contact's email address \(type EMAIL\) among the details"), "give their email address"),
    (
        re.compile(r"[Gg]ive at least 1 of the contact details \(EMAIL, PHONE or MOBILE\)"),
        "give an email address or a phone number",
    ),
    (re.compile(r"^[Gg]ive at least 1 of the (\w+)"), r"give at least one of the \1"),
    (
        re.compile(r"pick one from GET /colocations/v2/locations\?permissionCode=WORK_VISIT"),
        "pick one of the cages listed",
    ),
    (re.compile(r"upload it first with POST /colocations/v2/attachments/file"), "upload the file again"),
    (re.compile(r"give registeredUsers, or make this person the TECHNICAL contact"), "choose a registered user"),
    (re.compile(r"say WORK_HOURS or ANYTIME"), "choose working hours or any time"),
    (re.compile(r"must be WORK_HOURS or ANYTIME"), "must be working hours or any time"),
    (re.compile(r"say TECHNICAL or NOTIFICATION"), "say whether the person is the technical or a notification contact"),
    (re.compile(r"say EXEMPTED, NEW or EXISTING"), "choose Exempted, New or Existing"),
    (re.compile(r"EXEMPTED, NEW or EXISTING"), "Exempted, New or Existing"),
    (re.compile(r"give type NEW or EXISTING"), "choose a new or an existing purchase order"),
    (re.compile(r"EXEMPTED is not allowed, use NEW or EXISTING"), "Exempted is not allowed: choose New or Existing"),
    (re.compile(r"an EXISTING purchase order"), "an existing purchase order"),
    (re.compile(r"give an ISO 8601 UTC time such as [0-9TZ:-]+"), "give a date and time"),
    (re.compile(r"must be an ISO 8601 date and time in UTC, such as [0-9TZ:-]+"), "must be a date and time"),
    (re.compile(r"make the others NOTIFICATION contacts"), "make the others notification contacts"),
    (re.compile(r"an order has only one TECHNICAL contact"), "an order has only one technical contact"),
    (re.compile(r"\bNOTIFICATION contact"), "notification contact"),
]


def subject(path: str, names: Names) -> str:
    """What `path` names, as the subject of a sentence: "Cage DC2:01:123456", "The visit start"."""
    match = _ITEM.match(path)
    if not match:
        return _FIELDS.get(path) or _FIELDS.get(path.split("[")[0]) or "This entry"
    kind, index, _ = match.group(1), int(match.group(2)), match.group(3)
    if kind == "details.cages":
        cage = names.cages[index] if index < len(names.cages) else ""
        return f"Cage {cage}" if cage else f"Cage {index + 1}"
    if kind == "details.visitors":
        return names.visitors[index] if index < len(names.visitors) else f"Visitor {index + 1}"
    if kind == "contacts":
        return names.contacts[index] if index < len(names.contacts) else f"Contact {index + 1}"
    name = names.attachments[index] if index < len(names.attachments) else ""
    return f"Attachment {name}" if name else f"Attachment {index + 1}"


def field_words(path: str, names: Names) -> str:
    """The field `path` names: "The account of cage DC2:01:123456", "The first name of Person 1"."""
    match = _ITEM.match(path)
    if not match:
        return subject(path, names)
    kind, index, rest = match.group(1), int(match.group(2)), match.group(3)
    owner = subject(path, names)
    key = rest.lstrip(".").split("[")[0].split(".")[0]
    if not key or key == "id":
        return owner
    if kind == "details.cages":
        part = {"accountNumber": "account", "cabinetId": "cabinet"}.get(key, key)
        return f"The {part} of {owner[0].lower()}{owner[1:]}"
    part = _PERSON_PARTS.get(key, "entry")
    if kind == "contacts" and key == "details":
        part = "email address"  # a contact typed in is reached by email
    detail = _DETAIL.match(rest)
    if kind == "details.visitors" and detail and index < len(names.visitor_details):
        types = names.visitor_details[index]
        number = int(detail.group(1))
        part = {"EMAIL": "email", "PHONE": "phone", "MOBILE": "mobile phone"}.get(
            types[number] if number < len(types) else "", part
        )
    return f"The {part} of {_lowered(owner)}"


def _lowered(words: str) -> str:
    return words[0].lower() + words[1:] if words.startswith(("The ", "A ", "Visitor ", "Notification ")) else words


def humanize(path: str, message: str, names: Names | None = None) -> str:
    """A rule's message with its path (and any other path it mentions) turned into words."""
    names = names or Names()
    text = message.strip()
    if path and text.startswith(path):
        rest = text[len(path) :]
        if rest.startswith(" is required: "):
            how = rest[len(" is required: ") :]
            if how.startswith("give at least"):
                text = how
            else:
                text = f"{field_words(path, names)} is missing: {how}"
        elif rest.startswith(":"):
            text = subject(path, names) + rest
        else:
            text = field_words(path, names) + rest
    text = PATH_PATTERN.sub(lambda m: _lowered(field_words(m.group(0), names)), text)
    for pattern, words in _API_WORDS:
        text = pattern.sub(words, text)
    return text[:1].upper() + text[1:]


def reason_words(reason: dict, names: Names | None = None) -> str:
    """An upstream or reviewer reason ``{"property", "reason"}`` as one sentence naming the field."""
    prop = str(reason.get("property") or "").strip()
    text = str(reason.get("reason") or "").strip()
    if not prop or prop == "$":
        return humanize("", text, names)
    if text.startswith(prop):
        return humanize(prop, text, names)
    # The reason is quoted as the data centre or the reviewer wrote it, after the field it concerns.
    return f"{field_words(prop, names or Names())}: {humanize('', text, names)}"


def rule_messages(errors, names: Names | None = None) -> list[str]:
    return [humanize(e.path, e.message, names) for e in errors]


# ---------------------------------------------------------------------------------------------
# Purchase orders
_PO_KIND = {"EXEMPTED": "Exempted from a purchase order", "NEW": "New PO", "EXISTING": "Existing PO"}
_AMOUNT = re.compile(r"^\s*([A-Za-z]{3})?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([A-Za-z]{3})?\s*$")


def amount_words(amount: str) -> str:
    """``1250.00 USD`` as ``1,250.00 USD``; anything else as typed."""
    match = _AMOUNT.match(amount or "")
    if not match:
        return (amount or "").strip()
    before, number, after = match.groups()
    whole, _, cents = number.replace(",", "").partition(".")
    text = f"{int(whole):,}" + (f".{cents}" if cents else "")
    currency = (before or after or "").upper()
    return f"{text} {currency}".strip()


def _day(value, with_year: bool) -> str:
    return f"{value.day} {value:%b}" + (f" {value.year}" if with_year else "")


def date_range_words(start, end) -> str:
    if start and end:
        return f"{_day(start, start.year != end.year)}–{_day(end, True)}"
    if start:
        return f"from {_day(start, True)}"
    if end:
        return f"until {_day(end, True)}"
    return ""


def purchase_order_words(kind: str, number: str = "", amount: str = "", start=None, end=None) -> str:
    """A purchase order as a person says it: ``Existing PO PO-778812, 1,250.00 USD, valid 1 Jan–31 Dec 2027``."""
    if not kind:
        return "No purchase order"
    parts = [_PO_KIND.get(kind, kind) + (f" {number}" if number else "")]
    if amount:
        parts.append(amount_words(str(amount)))
    dates = date_range_words(start, end)
    if dates:
        parts.append(f"valid {dates}")
    return ", ".join(parts)
