"""Work Visits v2 request bodies built from a portal order, as the upstream takes them (UPSTREAM_WIRE.md).

Bodies are compact: a field with no value is left out, never sent as null. Portal users are not the
data centre's users: a person is sent as a registered user only under their `upstream_username`;
anyone else is sent by name and email. A NOTIFICATION contact can only be a registered user upstream,
so one without an upstream username is left out of the body and told by the portal's own emails.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from ..choices import ContactType, DetailType
from ..rules import DESCRIPTION_MAX, MAX_USERNAMES_PER_ENTRY, format_datetime, purchase_order_amount_number

ORDER_ID_LABEL = "Portal order"
# Marks a customer's description shortened so that the portal's order id still fits at its end.
TRIMMED = "…"


def sent_reference(order) -> str:
    """The `customerReferenceId` the create body carries: the customer's own, or the portal's order id."""
    return order.customer_reference_id or order.order_id


def description(order) -> str:
    """The customer's description with the portal's order id at its end, within DESCRIPTION_MAX:
    the customer's text is shortened when it must be, the id never. With no description, the sentence
    naming the portal's order alone (longer than DESCRIPTION_MIN: the upstream takes 10..4000 characters)."""
    reference = f"{ORDER_ID_LABEL} {order.order_id}"
    text = (order.description or "").strip()
    if not text:
        return reference
    suffix = f"\n\n{reference}"
    room = DESCRIPTION_MAX - len(suffix)
    if len(text) > room:
        text = text[: room - len(TRIMMED)].rstrip() + TRIMMED
    return text + suffix


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _upstream_username(user) -> str | None:
    return (user.upstream_username or "").strip() or None


def _email_details(user) -> list[dict] | None:
    return [{"type": DetailType.EMAIL, "value": user.email}] if user.email else None


def _names(user) -> dict:
    # The upstream requires both names; a user who gave none is named by their portal username.
    return {"firstName": user.first_name or user.username, "lastName": user.last_name or user.username}


def _typed_details(person, renamed: dict | None = None) -> list[dict] | None:
    renamed = renamed or {}
    details = [{"type": renamed.get(d["type"], d["type"]), "value": d["value"]} for d in person.details or []]
    return details or None


# A visitor's details are MOBILE or EMAIL upstream; the wizard once stored visitors' phones as PHONE.
_VISITOR_DETAIL_TYPES = {DetailType.PHONE: DetailType.MOBILE}


def visitor_entry(visitor, organization_name: str) -> dict:
    """One `details.visitors[]` entry."""
    if visitor.user_id:
        user = visitor.user
        name = _upstream_username(user)
        if name:
            return {"registeredUsers": [name]}
        company = user.organization.name if user.organization_id else organization_name
        return {**_names(user), "companyName": company, "details": _email_details(user)}
    return {
        "firstName": visitor.first_name,
        "lastName": visitor.last_name,
        "companyName": visitor.company_name,
        "details": _typed_details(visitor, _VISITOR_DETAIL_TYPES),
    }


def _reachable(contact) -> dict:
    """A contact's optional `availability` and `timezone` (None, so left out, when the portal holds none)."""
    return {"availability": contact.availability or None, "timezone": contact.timezone or None}


def contact_entry(contact) -> dict | None:
    """One `contacts[]` entry, or None when the upstream cannot take this contact (see the module text)."""
    extra = {"type": contact.contact_type, **_reachable(contact)}
    if contact.user_id:
        user = contact.user
        name = _upstream_username(user)
        if name:
            return {"registeredUsers": [name], **extra}
        if contact.contact_type != ContactType.TECHNICAL or not user.email:
            return None
        return {**_names(user), **extra, "details": _email_details(user)}
    # A person typed in: no companyName, which the upstream's non-registered contact does not have.
    return {"firstName": contact.first_name, "lastName": contact.last_name, **extra, "details": _typed_details(contact)}


def _amount(text: str):
    """The purchase-order amount as a JSON number when it is one, else as the customer wrote it."""
    number = purchase_order_amount_number(text)
    return number if number is not None else (text or None)


def _purchase_order(order, po_attachment_id: str | None) -> dict | None:
    if not order.po_type:
        return None
    return {
        "type": order.po_type,
        "number": order.po_number or None,
        "amount": _amount(order.po_amount),
        "startDate": order.po_start_date.isoformat() if order.po_start_date else None,
        "endDate": order.po_end_date.isoformat() if order.po_end_date else None,
        "attachmentId": po_attachment_id,
    }


def create_body(order, attachments: list[dict] | None = None, po_attachment_id: str | None = None) -> dict:
    """The create body of `order` (fetched with its parts). `attachments` are `{id, name}` with the
    upstream's attachment ids; `po_attachment_id` is the upstream id of the purchase order's file."""
    organization_name = order.organization.name
    contacts = [entry for entry in (contact_entry(c) for c in order.parts("contacts")) if entry]
    cages = [
        {
            "id": part.cage.cage_id,
            "accountNumber": part.account.number,
            "cabinetId": part.cabinet.cabinet_id if part.cabinet_id else None,
        }
        for part in order.parts("cages")
    ]
    body = {
        "description": description(order),
        "customerReferenceId": sent_reference(order),
        "purchaseOrder": _purchase_order(order, po_attachment_id),
        "attachments": [{"id": a["id"], "name": a.get("name")} for a in attachments] if attachments else None,
        "contacts": contacts or None,
        "details": {
            "cages": cages,
            "visitStartDateTime": format_datetime(order.visit_start),
            "visitEndDateTime": format_datetime(order.visit_end),
            "visitors": [visitor_entry(v, organization_name) for v in order.parts("visitors")],
            "openCabinet": order.open_cabinet,
        },
    }
    return _without_nulls(body)


def modify_body(order, now: datetime | None = None) -> dict:
    """The PATCH body: the current visit window and open-cabinet flag, and the notification contacts
    that have upstream usernames, in the one contact entry the upstream allows. Once the visit has
    started its start is left out: it can no longer change, and a start in the past is refused.

    The entry carries the `availability` and `timezone` of the most recently added of the contacts it
    names (the change the customer just made), as `contact_entry` sends them: empty ones left out."""
    started = order.visit_start <= (now or timezone.now())
    notified = [
        (name, contact)
        for contact in sorted(order.parts("contacts"), key=lambda c: c.pk)
        if contact.contact_type == ContactType.NOTIFICATION
        and contact.user_id
        and (name := _upstream_username(contact.user))
    ]
    names = list(dict.fromkeys(name for name, _ in notified))[-MAX_USERNAMES_PER_ENTRY:]
    latest = next((contact for name, contact in reversed(notified) if name in names), None)
    body = {
        "details": {
            "visitStartDateTime": None if started else format_datetime(order.visit_start),
            "visitEndDateTime": format_datetime(order.visit_end),
            "openCabinet": order.open_cabinet,
        },
        "contacts": [{"registeredUsers": names, "type": ContactType.NOTIFICATION, **_reachable(latest)}]
        if latest
        else None,
    }
    return _without_nulls(body)


def cancel_body(reason: str, attachments: list[dict] | None = None) -> dict:
    """The cancel body: `{reason, attachments?}` (the whole order: no `lineIds`)."""
    items = [{"id": a["id"], "name": a.get("name")} for a in attachments] if attachments else None
    return _without_nulls({"reason": reason, "attachments": items})
