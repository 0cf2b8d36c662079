"""Work Visits v2 request bodies built from a portal order."""

from __future__ import annotations

from ..choices import ContactType
from ..rules import DESCRIPTION_MAX, format_datetime

MAX_USERNAMES = 10


def _person(person) -> dict:
    if person.user_id:
        return {"registeredUsers": [person.user.username]}
    return {
        "firstName": person.first_name,
        "lastName": person.last_name,
        "companyName": person.company_name,
        "details": [{"type": d["type"], "value": d["value"]} for d in person.details],
    }


def _description(order) -> str:
    """The customer's description; their own reference and the portal's order id follow when they fit."""
    extra = f"\n\nPortal order {order.order_id}"
    if order.customer_reference_id:
        extra += f", customer reference {order.customer_reference_id}"
    text = order.description + extra + "."
    return text if len(text) <= DESCRIPTION_MAX else order.description


def sent_reference(order) -> str:
    """The `customerReferenceId` sent upstream: the customer's own, or else the portal's order id.
    A submission whose answer was lost is looked up by it."""
    return order.customer_reference_id or order.order_id


def create_body(order, attachments: list[dict] | None = None, po_attachment_id: str | None = None) -> dict:
    """The create body of `order` (fetched with its parts)."""
    body: dict = {"description": _description(order), "customerReferenceId": sent_reference(order)}
    if order.po_type:
        po: dict = {"type": order.po_type}
        if order.po_number:
            po["number"] = order.po_number
        if order.po_amount:
            po["amount"] = order.po_amount
        if order.po_start_date:
            po["startDate"] = order.po_start_date.isoformat()
        if order.po_end_date:
            po["endDate"] = order.po_end_date.isoformat()
        if po_attachment_id:
            po["attachmentId"] = po_attachment_id
        body["purchaseOrder"] = po
    if attachments:
        body["attachments"] = attachments
    contacts = []
    for contact in order.contacts.all():
        item = {"type": contact.contact_type, **_person(contact)}
        if contact.availability:
            item["availability"] = contact.availability
        if contact.timezone:
            item["timezone"] = contact.timezone
        contacts.append(item)
    if contacts:
        body["contacts"] = contacts
    cages = []
    for part in order.cages.all():
        cage = {"id": part.cage.cage_id, "accountNumber": part.account.number}
        if part.cabinet_id:
            cage["cabinetId"] = part.cabinet.cabinet_id
        cages.append(cage)
    body["details"] = {
        "cages": cages,
        "openCabinet": order.open_cabinet,
        "visitStartDateTime": format_datetime(order.visit_start),
        "visitEndDateTime": format_datetime(order.visit_end),
        "visitors": [_person(v) for v in order.visitors.all()],
    }
    return body


def modify_body(order) -> dict:
    """The PATCH body: the current visit window and open-cabinet flag, and the notification contacts
    (registered users, in the one contact entry the upstream allows)."""
    body: dict = {
        "details": {
            "visitStartDateTime": format_datetime(order.visit_start),
            "visitEndDateTime": format_datetime(order.visit_end),
            "openCabinet": order.open_cabinet,
        }
    }
    usernames = [
        c.user.username for c in order.contacts.all() if c.contact_type == ContactType.NOTIFICATION and c.user_id
    ]
    if usernames:
        body["contacts"] = [{"registeredUsers": usernames[-MAX_USERNAMES:], "type": ContactType.NOTIFICATION}]
    return body
