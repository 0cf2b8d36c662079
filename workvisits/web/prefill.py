"""'Schedule again': the wizard's steps filled in from an earlier order (new dates are chosen afresh)."""

from __future__ import annotations

from ..choices import ContactType
from .forms import cage_key


def steps_from_order(order, user) -> dict[str, dict[str, list[str]]]:
    """Step data as the wizard stores a posted step: {"<step>-<field>": [values]}."""
    location = {"location-ibx": [order.ibx.code], "location-cages": []}
    for part in order.parts("cages"):
        key = cage_key(part.cage.cage_id)
        location["location-cages"].append(part.cage.cage_id)
        location[f"location-account_{key}"] = [part.account.number]
        location[f"location-cabinet_{key}"] = [part.cabinet.cabinet_id if part.cabinet_id else ""]

    visitors = order.parts("visitors")
    registered = [v.user.username for v in visitors if v.user_id]
    typed = [v for v in visitors if not v.user_id]
    visitors = {
        "visitors-TOTAL_FORMS": [str(max(len(typed), 1))],
        "visitors-INITIAL_FORMS": ["0"],
        "visitors-MIN_NUM_FORMS": ["0"],
        "visitors-MAX_NUM_FORMS": ["1000"],
        "visitors-registered": registered,
    }
    for i, v in enumerate(typed):
        visitors.update(
            {
                f"visitors-{i}-first_name": [v.first_name],
                f"visitors-{i}-last_name": [v.last_name],
                f"visitors-{i}-company_name": [v.company_name],
                f"visitors-{i}-email": [v.email],
                f"visitors-{i}-phone": [v.phone],
            }
        )
        if not v.notify:
            visitors[f"visitors-{i}-leave_out"] = ["on"]

    contacts = {"contacts-notification": []}
    for c in order.parts("contacts"):
        if c.contact_type == ContactType.NOTIFICATION:
            contacts["contacts-notification"].append(c.user.username)
            continue
        contacts["contacts-availability"] = [c.availability or "WORK_HOURS"]
        contacts["contacts-timezone"] = [c.timezone or order.ibx.timezone]
        if c.user_id and c.user_id == user.pk:
            contacts["contacts-technical"] = ["me"]
        elif c.user_id:
            contacts["contacts-technical"] = ["user"]
            contacts["contacts-technical_user"] = [c.user.username]
        else:
            contacts["contacts-technical"] = ["person"]
            contacts.update(
                {
                    "contacts-tech_first_name": [c.first_name],
                    "contacts-tech_last_name": [c.last_name],
                    "contacts-tech_company_name": [c.company_name],
                    "contacts-tech_email": [c.email],
                    "contacts-tech_phone": [c.phone],
                }
            )
    contacts.setdefault("contacts-technical", ["me"])
    contacts.setdefault("contacts-availability", ["WORK_HOURS"])

    details = {"details-description": [order.description]}
    if order.po_type:
        details.update(
            {
                "details-po_type": [order.po_type],
                "details-po_number": [order.po_number],
                "details-po_amount": [order.po_amount],
                "details-po_start_date": [order.po_start_date.isoformat() if order.po_start_date else ""],
                "details-po_end_date": [order.po_end_date.isoformat() if order.po_end_date else ""],
            }
        )
    return {"location": location, "visitors": visitors, "contacts": contacts, "details": details}
