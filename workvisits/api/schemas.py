"""The JSON shapes of the API: serializers that document them in OpenAPI, and the renderers of our objects.

Input is never validated here: the body goes as parsed JSON to the services, whose rules module
reports every error. These serializers only describe the bodies for the OpenAPI document.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers

from .. import rules
from ..choices import Availability, ContactType, DetailType, OrderStatus, PurchaseOrderType
from ..models import IBX, Attachment, Order
from . import errors

ORDER_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}"
DATETIME_HELP = "ISO 8601 in UTC, e.g. 2026-12-01T09:00:00Z (the upstream's 2026-12-01'T'09:00:00Z is accepted too)."


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "workvisits.api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An access_token from POST /oauth2/v1/token.",
        }


# ---------------------------------------------------------------------------------------------
# Errors.
_CODE_TABLE = "; ".join(f"{code} ({errors.STATUS[code]}): {message}" for code, message in errors.MESSAGES.items())


class ErrorInfoSerializer(serializers.Serializer):
    property = serializers.CharField(help_text="JSON path of the offending property, e.g. details.cages[0].id.")
    reason = serializers.CharField(help_text="What is wrong and how to fix it.")


class ErrorSerializer(serializers.Serializer):
    errorCode = serializers.ChoiceField(choices=list(errors.MESSAGES), help_text=_CODE_TABLE)
    errorMessage = serializers.CharField()
    correlationId = serializers.CharField(help_text="The request's X-Correlation-ID; quote it when asking for help.")
    additionalInfo = ErrorInfoSerializer(many=True)


ERRORS = ErrorSerializer(many=True)


# ---------------------------------------------------------------------------------------------
# Token.
class TokenRequestSerializer(serializers.Serializer):
    grant_type = serializers.ChoiceField(choices=["client_credentials"])
    client_id = serializers.CharField(max_length=64)
    client_secret = serializers.CharField(max_length=256)


class TokenSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.ChoiceField(choices=["Bearer"])
    token_timeout = serializers.CharField(help_text="Seconds the token is valid for, as a string.")
    user_name = serializers.CharField(help_text="The user the calls act as.")


# ---------------------------------------------------------------------------------------------
# Work visits: the bodies (documentation only).
class DetailSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=DetailType.values)
    value = serializers.CharField(max_length=rules.DETAIL_VALUE_MAX)


class VisitorSerializer(serializers.Serializer):
    """A registered user (registeredUsers) or a person typed in (names, company, details)."""

    registeredUsers = serializers.ListField(
        child=serializers.CharField(), max_length=rules.MAX_USERNAMES_PER_ENTRY, required=False
    )
    firstName = serializers.CharField(max_length=rules.NAME_MAX, required=False)
    lastName = serializers.CharField(max_length=rules.NAME_MAX, required=False)
    companyName = serializers.CharField(max_length=rules.NAME_MAX, required=False)
    details = DetailSerializer(many=True, required=False, max_length=rules.MAX_VISITOR_DETAILS)


class ContactSerializer(VisitorSerializer):
    """A contact: a visitor's shape plus its type; a typed-in one also availability and time zone."""

    type = serializers.ChoiceField(choices=ContactType.values)
    availability = serializers.ChoiceField(choices=Availability.values, required=False)
    timezone = serializers.CharField(required=False, help_text="IANA name, e.g. Europe/Amsterdam.")


class CageRequestSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=100, help_text="Cage id, e.g. DC2:01:123456.")
    accountNumber = serializers.CharField(max_length=100, required=False)
    cabinetId = serializers.CharField(max_length=100, required=False)


class DetailsRequestSerializer(serializers.Serializer):
    cages = CageRequestSerializer(many=True)
    openCabinet = serializers.BooleanField(required=False, default=False)
    visitStartDateTime = serializers.CharField(help_text=DATETIME_HELP)
    visitEndDateTime = serializers.CharField(help_text=DATETIME_HELP + " At most 14 days after the start.")
    visitors = VisitorSerializer(many=True, max_length=rules.MAX_VISITORS)


class PurchaseOrderSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=PurchaseOrderType.values)
    number = serializers.CharField(max_length=rules.PO_NUMBER_MAX, required=False, help_text="Needed for EXISTING.")
    amount = serializers.CharField(max_length=40, required=False)
    startDate = serializers.DateField(required=False)
    endDate = serializers.DateField(required=False)
    attachmentId = serializers.CharField(required=False)


class AttachmentRefSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="attachmentId from POST /colocations/v2/attachments/file.")
    name = serializers.CharField(required=False)


class CreateRequestSerializer(serializers.Serializer):
    description = serializers.CharField(min_length=rules.DESCRIPTION_MIN, max_length=rules.DESCRIPTION_MAX)
    customerReferenceId = serializers.CharField(
        min_length=rules.CUSTOMER_REFERENCE_MIN, max_length=rules.CUSTOMER_REFERENCE_MAX, required=False
    )
    purchaseOrder = PurchaseOrderSerializer(required=False)
    attachments = AttachmentRefSerializer(many=True, required=False, max_length=rules.MAX_ATTACHMENTS)
    contacts = ContactSerializer(many=True, required=False)
    details = DetailsRequestSerializer()


class CreatedSerializer(serializers.Serializer):
    orderId = serializers.CharField()
    status = serializers.ChoiceField(choices=OrderStatus.values)


class ModifyContactSerializer(serializers.Serializer):
    registeredUsers = serializers.ListField(child=serializers.CharField(), max_length=rules.MAX_USERNAMES_PER_ENTRY)
    type = serializers.ChoiceField(choices=[ContactType.NOTIFICATION])


class ModifyDetailsSerializer(serializers.Serializer):
    visitStartDateTime = serializers.CharField(required=False, help_text=DATETIME_HELP)
    visitEndDateTime = serializers.CharField(required=False, help_text=DATETIME_HELP)
    openCabinet = serializers.BooleanField(required=False)


class ModifyRequestSerializer(serializers.Serializer):
    contacts = ModifyContactSerializer(many=True, required=False, max_length=rules.MAX_MODIFY_CONTACTS)
    details = ModifyDetailsSerializer(required=False)


class CancelRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=rules.CANCEL_REASON_MIN, max_length=rules.CANCEL_REASON_MAX)


# ---------------------------------------------------------------------------------------------
# Work visits: what we send back.
class CageSerializer(serializers.Serializer):
    id = serializers.CharField()
    accountNumber = serializers.CharField()
    cabinetId = serializers.CharField(allow_null=True)


class OrderDetailsSerializer(serializers.Serializer):
    cages = CageSerializer(many=True)
    visitors = VisitorSerializer(many=True)
    visitStartDateTime = serializers.DateTimeField()
    visitEndDateTime = serializers.DateTimeField()
    openCabinet = serializers.BooleanField()


class AttachmentSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    contentType = serializers.CharField()
    downloadUrl = serializers.CharField()


class ReasonSerializer(serializers.Serializer):
    property = serializers.CharField()
    reason = serializers.CharField()


class OrderSerializer(serializers.Serializer):
    orderId = serializers.CharField()
    status = serializers.ChoiceField(choices=OrderStatus.values)
    upstreamOrderId = serializers.CharField(allow_null=True, help_text="Null until the upstream accepted the order.")
    ibx = serializers.CharField()
    customerReferenceId = serializers.CharField(allow_blank=True)
    description = serializers.CharField()
    purchaseOrder = PurchaseOrderSerializer(allow_null=True)
    contacts = ContactSerializer(many=True)
    details = OrderDetailsSerializer()
    attachments = AttachmentSerializer(many=True)
    rejectionReasons = ReasonSerializer(many=True, help_text="Why a REJECTED order was turned down.")
    version = serializers.IntegerField(help_text="Send it back in If-Match to modify (also the ETag).")
    createdDateTime = serializers.DateTimeField()
    updatedDateTime = serializers.DateTimeField()
    cancellable = serializers.BooleanField()
    modifiable = serializers.BooleanField()


class PaginationSerializer(serializers.Serializer):
    page = serializers.IntegerField(allow_null=True, help_text="null when the page was asked by cursor.")
    size = serializers.IntegerField()
    totalCount = serializers.IntegerField()
    totalPages = serializers.IntegerField()


class OrderListSerializer(serializers.Serializer):
    content = OrderSerializer(many=True)
    pagination = PaginationSerializer()


class CabinetSerializer(serializers.Serializer):
    cabinet = serializers.CharField()
    cabinetType = serializers.CharField()


class AccountSerializer(serializers.Serializer):
    number = serializers.CharField()
    name = serializers.CharField()
    isCreditHold = serializers.BooleanField()
    isPOBearing = serializers.BooleanField()
    cabinets = CabinetSerializer(many=True)


class LocationCageSerializer(serializers.Serializer):
    cage = serializers.CharField()
    cageTypes = serializers.ListField(child=serializers.CharField())
    accounts = AccountSerializer(many=True)


class LocationSerializer(serializers.Serializer):
    ibx = serializers.CharField()
    cages = LocationCageSerializer(many=True)


class LocationsSerializer(serializers.Serializer):
    locations = LocationSerializer(many=True)


class UploadRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="At most 10 MB; " + ", ".join(rules.ATTACHMENT_EXTENSIONS) + ".")


class UploadedSerializer(serializers.Serializer):
    attachmentId = serializers.CharField()
    attachmentName = serializers.CharField()


# ---------------------------------------------------------------------------------------------
# Renderers: plain functions over prefetched objects, so a page costs no extra queries.
def _person(person, extra: dict | None = None) -> dict:
    if person.user_id:
        data = {"registeredUsers": [person.user.username]}
    else:
        data = {
            "firstName": person.first_name,
            "lastName": person.last_name,
            "companyName": person.company_name,
            "details": [{"type": d.get("type", ""), "value": d.get("value", "")} for d in person.details],
        }
    return {**(extra or {}), **data}


def _contact(contact) -> dict:
    extra = {"type": contact.contact_type}
    if not contact.user_id:
        extra.update(availability=contact.availability or Availability.WORK_HOURS, timezone=contact.timezone or "UTC")
    return _person(contact, extra)


def attachment_json(attachment: Attachment) -> dict:
    return {
        "id": str(attachment.id),
        "name": attachment.name,
        "size": attachment.size,
        "contentType": attachment.content_type,
        "downloadUrl": f"/colocations/v2/attachments/{attachment.id}/file",
    }


def _purchase_order(order: Order) -> dict | None:
    if not order.po_type:
        return None
    data: dict = {"type": order.po_type}
    for key, value in (
        ("number", order.po_number),
        ("amount", order.po_amount),
        ("startDate", order.po_start_date.isoformat() if order.po_start_date else ""),
        ("endDate", order.po_end_date.isoformat() if order.po_end_date else ""),
        ("attachmentId", str(order.po_attachment_id) if order.po_attachment_id else ""),
    ):
        if value:
            data[key] = value
    return data


def order_json(order: Order) -> dict:
    """An order with its parts (from selectors, prefetched) in the API's shape."""
    return {
        "orderId": order.order_id,
        "status": order.status,
        "upstreamOrderId": order.upstream_order_id,
        "ibx": order.ibx.code,
        "customerReferenceId": order.customer_reference_id,
        "description": order.description,
        "purchaseOrder": _purchase_order(order),
        "contacts": [_contact(c) for c in order.contacts.all()],
        "details": {
            "cages": [
                {
                    "id": c.cage.cage_id,
                    "accountNumber": c.account.number,
                    "cabinetId": c.cabinet.cabinet_id if c.cabinet_id else None,
                }
                for c in order.cages.all()
            ],
            "visitors": [_person(v) for v in order.visitors.all()],
            "visitStartDateTime": rules.format_datetime(order.visit_start),
            "visitEndDateTime": rules.format_datetime(order.visit_end),
            "openCabinet": order.open_cabinet,
        },
        "attachments": [attachment_json(a) for a in order.attachments.all()],
        "rejectionReasons": [
            {"property": str(r.get("property", "")), "reason": str(r.get("reason", ""))}
            for r in order.rejection_reasons or []
            if isinstance(r, dict)
        ],
        "version": order.version,
        "createdDateTime": rules.format_datetime(order.created_at),
        "updatedDateTime": rules.format_datetime(order.updated_at),
        "cancellable": order.cancellable,
        "modifiable": order.modifiable,
    }


def locations_json(ibxs: list[IBX]) -> dict:
    """selectors.locations_for_user in the upstream's locations shape."""
    return {
        "locations": [
            {
                "ibx": ibx.code,
                "cages": [
                    {
                        "cage": cage.cage_id,
                        "cageTypes": [cage.cage_type],
                        "accounts": [
                            {
                                "number": account.number,
                                "name": account.name,
                                "isCreditHold": account.is_credit_hold,
                                "isPOBearing": account.is_po_bearing,
                                "cabinets": [
                                    {"cabinet": c.cabinet_id, "cabinetType": c.cabinet_type}
                                    for c in account.cage_cabinets
                                ],
                            }
                            for account in cage.orderable_accounts
                        ],
                    }
                    for cage in ibx.orderable_cages
                ],
            }
            for ibx in ibxs
        ]
    }
