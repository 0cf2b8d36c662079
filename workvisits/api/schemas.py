"""The JSON shapes of the API: serializers that describe them in OpenAPI, and the renderers of our objects."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers

from .. import rules, selectors
from ..choices import Availability, ContactType, OrderStatus, PurchaseOrderType
from ..models import IBX, Attachment, Order
from . import errors
from . import structure as st

ORDER_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}"  # the ids the portal gives its orders
# What an order route takes as its id: any one path segment, so that an id of another shape is an unknown
# order (EQ-2014005), not an unknown path.
ORDER_ID_SEGMENT = r"[^/]{1,100}"
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 20, 100
PRODUCT_TYPES = ["WORK_VISIT"]
# The enumerations under the names settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] gives them.
DETAIL_TYPES = list(rules.CONTACT_DETAIL_TYPES)
VISITOR_DETAIL_TYPES = list(rules.VISITOR_DETAIL_TYPES)
PURCHASE_ORDER_TYPES = PurchaseOrderType.values
PORTAL_STATUSES = OrderStatus.values
ORDER_CONTACT_TYPES = ["ORDERING", *ContactType.values]
MODIFY_CONTACT_TYPES = [ContactType.NOTIFICATION.value]
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
    value = serializers.CharField(required=False, help_text="The offending value, when it helps.")


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
# Work visits: the request bodies. Each serializer checks the structure (structure.py) and documents it;
# rules.py judges the content.
class DetailSerializer(st.Body):
    type = st.Choice(choices=DETAIL_TYPES, choice_text="one of EMAIL, PHONE, MOBILE", required=True)
    value = st.Text(lo=1, hi=rules.DETAIL_VALUE_MAX, required=True)


class VisitorDetailSerializer(st.Body):
    """A visitor's detail: its email or mobile phone (the upstream takes no PHONE for a visitor)."""

    type = st.Choice(
        choices=VISITOR_DETAIL_TYPES,
        choice_text="EMAIL or MOBILE",
        rule=rules.visitor_detail_type_error,
        required=True,
        help_text="EMAIL or MOBILE; a visitor's phone number is a MOBILE.",
    )
    value = st.Text(lo=1, hi=rules.DETAIL_VALUE_MAX, required=True)


def _usernames(required: bool = False) -> st.Strings:
    return st.Strings(
        hi=rules.MAX_USERNAMES_PER_ENTRY,
        what="usernames",
        item_text="a username (a non-empty string)",
        required=required,
        variant_required=True,
        help_text="Usernames of your organization's users.",
    )


def _name() -> st.Text:
    """A person's name: required for a person typed in (a rule of rules.py says so)."""
    return st.Text(lo=1, hi=rules.NAME_MAX, required=False, rule_required=True)


class VisitorSerializer(st.Body):
    """A registered user (registeredUsers) or a person typed in (names and company; details optional)."""

    registeredUsers = _usernames()
    firstName = _name()
    lastName = _name()
    companyName = _name()
    details = st.Many(
        child=VisitorDetailSerializer(),
        required=False,
        hi=rules.MAX_VISITOR_DETAILS,
        what="contact details (EMAIL or MOBILE)",
        help_text=f"At most {rules.MAX_VISITOR_DETAILS}, each EMAIL or MOBILE; optional.",
    )

    def variant(self, data):
        if "registeredUsers" in data:
            return ("registeredUsers",)
        return ("firstName", "lastName", "companyName", "details")


_AVAILABILITY = "WORK_HOURS or ANYTIME"


class ContactSerializer(st.Body):
    """A registered contact (registeredUsers) or a TECHNICAL person typed in (names, details with an email)."""

    unknown_after = 3
    type = st.Choice(
        choices=ContactType.values, choice_text="TECHNICAL or NOTIFICATION", how="say TECHNICAL or NOTIFICATION."
    )
    availability = st.Choice(
        choices=Availability.values, choice_text=_AVAILABILITY, required=False, help_text="Default WORK_HOURS."
    )
    timezone = st.Text(required=False, help_text="IANA name, e.g. Europe/Amsterdam; default the IBX's.")
    registeredUsers = _usernames()
    firstName = _name()
    lastName = _name()
    companyName = st.Ignored(required=False, help_text="Accepted and ignored (the upstream's contact has none).")
    # No cap of their own: the body's size limit bounds them.
    details = st.Many(
        child=DetailSerializer(),
        required=False,
        what="contact details (EMAIL, PHONE or MOBILE)",
        help_text="EMAIL, PHONE or MOBILE, an EMAIL among them; required for a person typed in.",
    )

    def variant(self, data):
        common = ("type", "availability", "timezone")
        if "registeredUsers" in data:
            return (*common, "registeredUsers")
        return (*common, "firstName", "lastName", "companyName", "details")


class CageRequestSerializer(st.Body):
    id = st.Text(lo=1, hi=rules.CATALOGUE_ID_MAX, required=True, help_text="Cage id, e.g. DC2:01:123456.")
    accountNumber = st.Text(lo=1, hi=rules.CATALOGUE_ID_MAX, required=False)
    cabinetId = st.Text(lo=1, hi=rules.CATALOGUE_ID_MAX, required=False)


class DetailsRequestSerializer(st.Body):
    cages = st.Many(child=CageRequestSerializer(), what="cages", rule_required=True, help_text="At least one.")
    openCabinet = st.Flag(required=False, default=False)
    visitStartDateTime = st.When(required=True, help_text=DATETIME_HELP)
    visitEndDateTime = st.When(required=True, help_text=DATETIME_HELP + " At most 14 days after the start.")
    visitors = st.Many(
        child=VisitorSerializer(),
        what="visitors",
        schema_hi=rules.MAX_VISITORS,
        rule_required=True,
        help_text="At least one.",
    )


class PurchaseOrderSerializer(st.Body):
    type = st.Choice(
        choices=PurchaseOrderType.values, choice_text="EXEMPTED, NEW or EXISTING", how="say EXEMPTED, NEW or EXISTING."
    )
    number = st.Code(
        hi=rules.PO_NUMBER_MAX,
        numbers=(int,),
        kind_text="a string or a whole number",
        required=False,
        help_text="Needed for EXISTING.",
    )
    amount = st.Code(hi=rules.PO_AMOUNT_MAX, numbers=(int, float), kind_text="a string or a number", required=False)
    startDate = st.Day(required=False)
    endDate = st.Day(required=False)
    attachmentId = st.Text(lo=1, hi=rules.CATALOGUE_ID_MAX, required=False)


class AttachmentRefSerializer(st.Body):
    id = st.Text(
        lo=1, hi=rules.CATALOGUE_ID_MAX, required=True, help_text="attachmentId from POST /v1/attachments/file."
    )
    name = st.Text(required=False, hi=rules.ATTACHMENT_NAME_MAX)


def _attachments() -> st.Many:
    return st.Many(child=AttachmentRefSerializer(), required=False, hi=rules.MAX_ATTACHMENTS, what="attachments")


class CreateRequestSerializer(st.Body):
    description = st.Documented(
        lo=rules.DESCRIPTION_MIN,
        hi=rules.DESCRIPTION_MAX,
        required=False,
        allow_null=True,
        help_text=f"Optional; when given, {rules.DESCRIPTION_MIN} to {rules.DESCRIPTION_MAX} characters.",
    )
    customerReferenceId = st.Documented(
        lo=rules.CUSTOMER_REFERENCE_MIN, hi=rules.CUSTOMER_REFERENCE_MAX, required=False
    )
    attachments = _attachments()
    contacts = st.Many(child=ContactSerializer(), required=False, what="contacts")
    details = DetailsRequestSerializer(how="give the cages, visit times and visitors.")
    purchaseOrder = PurchaseOrderSerializer(required=False)


class CreatedSerializer(serializers.Serializer):
    orderId = serializers.CharField()
    status = serializers.ChoiceField(choices=OrderStatus.values, help_text="The portal's status.")


class ModifyContactSerializer(st.Body):
    type = st.Choice(
        choices=MODIFY_CONTACT_TYPES,
        choice_text="NOTIFICATION; only notification contacts can be changed",
        how="say NOTIFICATION.",
    )
    availability = st.Choice(choices=Availability.values, choice_text=_AVAILABILITY, required=False)
    timezone = st.Text(required=False)
    registeredUsers = _usernames(required=True)


class ModifyDetailsSerializer(st.Body):
    visitStartDateTime = st.When(required=False, help_text=DATETIME_HELP)
    visitEndDateTime = st.When(required=False, help_text=DATETIME_HELP)
    openCabinet = st.Flag(required=False)


class ModifyRequestSerializer(st.Body):
    contacts = st.Many(child=ModifyContactSerializer(), required=False, hi=rules.MAX_MODIFY_CONTACTS, what="contacts")
    details = ModifyDetailsSerializer(required=False)


class CancelRequestSerializer(st.Body):
    reason = st.RuleText(
        rule=rules.cancel_reason_errors_and_clean, lo=rules.CANCEL_REASON_MIN, hi=rules.CANCEL_REASON_MAX
    )
    attachments = _attachments()
    lineIds = st.Strings(
        required=False,
        hi=rules.MAX_CANCEL_LINE_IDS,
        what="line ids",
        item_text="a line id of the order, as its details list them",
        item_hi=rules.CATALOGUE_ID_MAX,
        help_text="All of the order's lines (a work visit is cancelled whole), or leave it out.",
    )


# ---------------------------------------------------------------------------------------------
# Work visits: the order as the Orders v2 API reads it, and the portal's own fields.
# The upstream's order status enum: what a strict client can read.
UPSTREAM_ORDER_STATUSES = ["RECEIVED", "IN_PROGRESS", "ON_HOLD", "CLOSED", "CANCELLED"]
_TO_UPSTREAM_STATUS = {
    OrderStatus.PENDING_REVIEW: OrderStatus.RECEIVED,
    OrderStatus.QUEUED: OrderStatus.RECEIVED,
    OrderStatus.SUBMITTED: OrderStatus.RECEIVED,
    OrderStatus.FAILED: OrderStatus.ON_HOLD,
    OrderStatus.NEEDS_CHECK: OrderStatus.ON_HOLD,
    OrderStatus.REJECTED: OrderStatus.CANCELLED,
}


def upstream_status(status: str) -> str:
    """The portal's status on the upstream's enum (its own statuses as they are)."""
    return str(_TO_UPSTREAM_STATUS.get(status, status))


_CLOSED_UPSTREAM = {OrderStatus.CLOSED, OrderStatus.CANCELLED}


class OrderContactSerializer(serializers.Serializer):
    """A registered user (`registeredUser`) or a person typed in (names and details)."""

    type = serializers.ChoiceField(choices=ORDER_CONTACT_TYPES)
    registeredUser = serializers.CharField(required=False)
    firstName = serializers.CharField(required=False)
    lastName = serializers.CharField(required=False)
    details = DetailSerializer(many=True, required=False)
    availability = serializers.ChoiceField(choices=Availability.values, required=False)
    timezone = serializers.CharField(required=False)


class OrderPurchaseOrderSerializer(serializers.Serializer):
    """The purchase order as the order reads it (the upstream's OrderPurchaseOrder); absent fields had no value."""

    type = serializers.ChoiceField(choices=PurchaseOrderType.values)
    number = serializers.CharField(required=False)
    amount = serializers.FloatField(
        required=False,
        help_text="A number, e.g. 1500.5 or 2020 (the upstream's OrderPurchaseOrder.amount). Absent when the order "
        "has no amount, or only text that is no number (stored before amounts were checked).",
    )
    startDate = serializers.DateField(required=False)
    endDate = serializers.DateField(required=False)
    attachmentId = serializers.CharField(required=False)


class OrderLineSerializer(serializers.Serializer):
    lineId = serializers.CharField(help_text="`{orderId}-{n}`, one line per cage.")
    status = serializers.ChoiceField(choices=UPSTREAM_ORDER_STATUSES)
    productType = serializers.ChoiceField(choices=PRODUCT_TYPES)
    ibx = serializers.CharField()
    cage = serializers.CharField()
    accountNumber = serializers.CharField()
    cabinets = serializers.ListField(child=serializers.CharField())
    requestType = serializers.ChoiceField(choices=["NEW"])
    attachments = AttachmentRefSerializer(many=True)
    purchaseOrder = OrderPurchaseOrderSerializer(allow_null=True)


class CageSerializer(serializers.Serializer):
    id = serializers.CharField()
    accountNumber = serializers.CharField()
    cabinetId = serializers.CharField(allow_null=True)


class AttachmentSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    contentType = serializers.CharField()
    downloadUrl = serializers.CharField()


class WorkVisitSerializer(serializers.Serializer):
    description = serializers.CharField()
    cages = CageSerializer(many=True)
    visitors = VisitorSerializer(many=True)
    visitStartDateTime = serializers.DateTimeField()
    visitEndDateTime = serializers.DateTimeField()
    openCabinet = serializers.BooleanField()
    purchaseOrder = OrderPurchaseOrderSerializer(allow_null=True)
    attachments = AttachmentSerializer(many=True)


class ReasonSerializer(serializers.Serializer):
    property = serializers.CharField()
    reason = serializers.CharField()


class OrderSerializer(serializers.Serializer):
    orderId = serializers.CharField()
    accountNumber = serializers.CharField()
    accountName = serializers.CharField()
    contacts = OrderContactSerializer(many=True, help_text="The ORDERING contact first.")
    status = serializers.ChoiceField(
        choices=UPSTREAM_ORDER_STATUSES,
        help_text="PENDING_REVIEW, QUEUED, SUBMITTED -> RECEIVED; FAILED, NEEDS_CHECK -> ON_HOLD; "
        "REJECTED -> CANCELLED; the upstream's own statuses as they are. portalStatus has the full status.",
    )
    createdDateTime = serializers.DateTimeField()
    updatedDateTime = serializers.DateTimeField()
    closedDateTime = serializers.DateTimeField(allow_null=True, help_text="Set once the status is CLOSED or CANCELLED.")
    customerReferenceId = serializers.CharField(allow_blank=True)
    cancellable = serializers.BooleanField()
    modifiable = serializers.BooleanField()
    details = OrderLineSerializer(many=True, help_text="The order lines: one per cage.")
    portalStatus = serializers.ChoiceField(choices=OrderStatus.values, help_text="The portal's own status.")
    upstreamOrderId = serializers.CharField(allow_null=True, help_text="Null until the data centre accepted it.")
    rejectionReasons = ReasonSerializer(many=True, help_text="Why a REJECTED order was turned down.")
    version = serializers.IntegerField(help_text="Send it back in If-Match to modify (also the ETag).")
    workVisit = WorkVisitSerializer(help_text="The work visit as the create body names it.")


class PaginationSerializer(serializers.Serializer):
    page = serializers.IntegerField(allow_null=True, help_text="null when the page was asked by cursor.")
    size = serializers.IntegerField()
    totalCount = serializers.IntegerField(
        help_text="Exact up to 10,000 orders; above, PostgreSQL's estimate (see totalCountExact)."
    )
    totalPages = serializers.IntegerField()
    totalCountExact = serializers.BooleanField(help_text="false when totalCount is an estimate.")


class OrderListSerializer(serializers.Serializer):
    content = OrderSerializer(many=True)
    pagination = PaginationSerializer()


# ---------------------------------------------------------------------------------------------
# Order History search (POST /v1/retrieve-orders).
# Order History's status enum, and the portal statuses each one stands for.
# Order History's date ranges: days back from now (CUSTOM: fromDate and toDate).
DATE_RANGES = {"LAST_7_DAYS": 7, "LAST_30_DAYS": 30, "LAST_90_DAYS": 90, "LAST_12_MONTHS": 365, "CUSTOM": None}
HISTORY_STATUSES = {
    "ENTERED": (OrderStatus.PENDING_REVIEW, OrderStatus.QUEUED, OrderStatus.FAILED, OrderStatus.NEEDS_CHECK),
    "SUBMITTED": (OrderStatus.SUBMITTED, OrderStatus.RECEIVED),
    "IN_PROGRESS": (OrderStatus.IN_PROGRESS, OrderStatus.ON_HOLD),
    "PENDING_QA": (),
    "CANCELLED": (OrderStatus.CANCELLED, OrderStatus.REJECTED),
    "CLOSED": (OrderStatus.CLOSED,),
}
HISTORY_ORDER_STATUSES = list(HISTORY_STATUSES)
HISTORY_FILTER_STATUSES = [*HISTORY_STATUSES, *OrderStatus.values]
_TO_HISTORY_STATUS = {status: name for name, statuses in HISTORY_STATUSES.items() for status in statuses}


def history_status(status: str) -> str:
    return _TO_HISTORY_STATUS[status]


_HISTORY_SORTS = list(selectors.ORDER_SORTS)


def _one_of(values) -> str:
    return "one of " + ", ".join(values)


class HistoryFiltersSerializer(st.Body):
    """What the orders must match; every filter optional, null as absent."""

    ibxs = st.Strings(
        hi=None,
        what="IBX codes",
        item_text=f"an IBX code such as DC2 (a non-empty string of at most {rules.CATALOGUE_ID_MAX} characters)",
        item_hi=rules.CATALOGUE_ID_MAX,
        required=False,
        allow_null=True,
    )
    productTypes = st.Strings(
        hi=None,
        what="product types",
        item_text="a product type such as WORK_VISIT "
        f"(a non-empty string of at most {rules.CATALOGUE_ID_MAX} characters)",
        item_hi=rules.CATALOGUE_ID_MAX,
        required=False,
        allow_null=True,
        help_text="WORK_VISIT.",
    )
    orderStatus = st.Strings(
        hi=None,
        what="statuses",
        item_text=f"{_one_of(HISTORY_ORDER_STATUSES)} (Order History's statuses) or one of the portal's: "
        + ", ".join(OrderStatus.values),
        allowed=HISTORY_FILTER_STATUSES,
        required=False,
        allow_null=True,
        help_text="Order History statuses, or the portal's own.",
    )
    dateRange = st.Choice(
        choices=list(DATE_RANGES),
        choice_text=_one_of(DATE_RANGES),
        required=False,
        allow_null=True,
        help_text="On the creation time.",
    )
    fromDate = st.DayOrTime(
        end_of_day=False, required=False, allow_null=True, help_text="YYYY-MM-DD or an ISO 8601 UTC time (created at)."
    )
    toDate = st.DayOrTime(
        end_of_day=True,
        required=False,
        allow_null=True,
        help_text="YYYY-MM-DD (the whole day) or an ISO 8601 UTC time.",
    )


class HistorySortSerializer(st.Body):
    """One sort key, in the order given."""

    name = st.Choice(choices=_HISTORY_SORTS, choice_text=_one_of(_HISTORY_SORTS), required=True)
    direction = st.Choice(choices=["ASC", "DESC"], choice_text="ASC or DESC", required=False, help_text="Default DESC.")


class HistoryPageRequestSerializer(st.Body):
    """The page asked for (0-based)."""

    number = st.Whole(lo=0, hi=1_000_000, required=False, default=0, help_text="0-based.")
    size = st.Whole(lo=1, hi=PAGE_SIZE_MAX, required=False, default=PAGE_SIZE_DEFAULT)


class HistorySearchSerializer(st.Body):
    """An Order History search: every part optional, null as absent; unknown properties are refused."""

    filters = HistoryFiltersSerializer(required=False, allow_null=True)
    source = st.Text(required=False, allow_blank=True, allow_null=True, help_text="Accepted and ignored.")
    q = st.Text(
        required=False,
        allow_blank=True,
        allow_null=True,
        hi=100,
        help_text="Order number, reference or upstream id; empty or null searches nothing.",
    )
    sorts = st.Many(
        child=HistorySortSerializer(), required=False, allow_null=True, hi=len(_HISTORY_SORTS), what="sorts"
    )
    page = HistoryPageRequestSerializer(required=False, allow_null=True)


class LinkSerializer(serializers.Serializer):
    rel = serializers.CharField()
    href = serializers.CharField()


class HistoryAccountSerializer(serializers.Serializer):
    number = serializers.CharField()
    name = serializers.CharField()


class HistoryContactSerializer(serializers.Serializer):
    name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField(required=False)


class HistoryOrderSerializer(serializers.Serializer):
    orderNumber = serializers.CharField()
    type = serializers.ListField(child=serializers.ChoiceField(choices=PRODUCT_TYPES))
    orderStatus = serializers.ChoiceField(choices=HISTORY_ORDER_STATUSES)
    createdAt = serializers.DateTimeField()
    account = HistoryAccountSerializer()
    orderingContact = HistoryContactSerializer()
    ibx = serializers.ListField(child=serializers.CharField())
    customerReferenceNumbers = serializers.ListField(child=serializers.CharField())
    links = LinkSerializer(many=True)


class HistoryPageSerializer(serializers.Serializer):
    size = serializers.IntegerField()
    totalElements = serializers.IntegerField()
    totalPages = serializers.IntegerField()
    number = serializers.IntegerField()


class HistoryResultSerializer(serializers.Serializer):
    content = HistoryOrderSerializer(many=True)
    links = LinkSerializer(many=True)
    page = HistoryPageSerializer()


# ---------------------------------------------------------------------------------------------
# Locations: Lookup v2 and the v1 work-visit locations.
class LookupAccountSerializer(serializers.Serializer):
    accountNumber = serializers.CharField()
    accountName = serializers.CharField()
    allowOrder = serializers.BooleanField(help_text="False for an account on credit hold.")


class LookupCageSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The cage id.")
    type = serializers.CharField()
    accountNumbers = serializers.ListField(child=serializers.CharField())
    cabinetId = serializers.CharField(required=False, help_text="Absent on the cage's own entry.")
    cabinetType = serializers.CharField(required=False)


class LookupLocationSerializer(serializers.Serializer):
    ibx = serializers.CharField()
    accessRestricted = serializers.BooleanField()
    specialPrivilege = serializers.BooleanField()
    accounts = LookupAccountSerializer(many=True)
    cages = LookupCageSerializer(many=True, help_text="One entry for each cage, then one for each of its cabinets.")


class LookupLocationsSerializer(serializers.Serializer):
    crossConnects = LookupLocationSerializer(many=True)


class CabinetSerializer(serializers.Serializer):
    cabinet = serializers.CharField()
    cabinetType = serializers.CharField()


class AccountSerializer(HistoryAccountSerializer):
    """An account with its standing and its cabinets in the cage."""

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


# ---------------------------------------------------------------------------------------------
# Attachments.
class UploadRequestSerializer(serializers.Serializer):
    uploadFile = serializers.FileField(help_text="At most 10 MB; " + ", ".join(rules.ATTACHMENT_EXTENSIONS) + ".")


class LegacyUploadRequestSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="The file (or send it as uploadFile).")
    uploadFile = serializers.FileField(required=False)


class UploadedSerializer(serializers.Serializer):
    attachmentId = serializers.UUIDField()
    attachmentName = serializers.CharField()
    attachmentType = serializers.CharField(help_text="The file's type, as its extension: png, pdf, docx...")
    attachmentSize = serializers.IntegerField(help_text="Bytes.")
    createdDate = serializers.DateTimeField()
    createdBy = serializers.CharField(help_text="The username of the uploader.")
    lastUpdatedDate = serializers.DateTimeField()


# ---------------------------------------------------------------------------------------------
# Renderers: plain functions over prefetched objects, so a page costs no extra queries.
def _details_json(details) -> list[dict]:
    return [{"type": d.get("type", ""), "value": d.get("value", "")} for d in details]


def _visitor(visitor) -> dict:
    if visitor.user_id:
        return {"registeredUsers": [visitor.user.username]}
    data = {"firstName": visitor.first_name, "lastName": visitor.last_name, "companyName": visitor.company_name}
    if visitor.details:
        data["details"] = _details_json(visitor.details)
    return data


def _contact(contact, ibx_timezone: str) -> dict:
    data: dict = {"type": contact.contact_type}
    if contact.user_id:
        data["registeredUser"] = contact.user.username
    else:
        data.update(firstName=contact.first_name, lastName=contact.last_name, details=_details_json(contact.details))
    data["availability"] = contact.availability or Availability.WORK_HOURS
    data["timezone"] = contact.timezone or ibx_timezone
    return data


def attachment_json(attachment: Attachment) -> dict:
    return {
        "id": str(attachment.id),
        "name": attachment.name,
        "size": attachment.size,
        "contentType": attachment.content_type,
        "downloadUrl": f"/v1/attachments/{attachment.id}/file",
    }


def uploaded_json(attachment: Attachment) -> dict:
    """An upload as the Attachments v1 API describes it."""
    created = rules.format_datetime(attachment.created_at)
    return {
        "attachmentId": str(attachment.id),
        "attachmentName": attachment.name,
        "attachmentType": attachment.name.rsplit(".", 1)[-1].lower() if "." in attachment.name else "",
        "attachmentSize": attachment.size,
        "createdDate": created,
        "createdBy": attachment.uploaded_by.username,
        "lastUpdatedDate": created,
    }


def _purchase_order(order: Order) -> dict | None:
    if not order.po_type:
        return None
    data: dict = {"type": order.po_type}
    for key, value in (
        ("number", order.po_number or None),
        ("amount", rules.purchase_order_amount_number(order.po_amount)),
        ("startDate", order.po_start_date.isoformat() if order.po_start_date else None),
        ("endDate", order.po_end_date.isoformat() if order.po_end_date else None),
        ("attachmentId", str(order.po_attachment_id) if order.po_attachment_id else None),
    ):
        if value is not None:  # an amount of 0 is still an amount
            data[key] = value
    return data


def order_json(order: Order) -> dict:
    """An order with its parts (from selectors, prefetched) in the Orders v2 shape, with the portal's fields."""
    lines = selectors.order_lines(order)
    first_account = lines[0][1].account if lines else None
    status = upstream_status(order.status)
    purchase_order = _purchase_order(order)
    attachments = order.parts("attachments")
    references = [{"id": str(a.id), "name": a.name} for a in attachments]
    zone = order.ibx.timezone
    return {
        "orderId": order.order_id,
        "accountNumber": first_account.number if first_account else "",
        "accountName": first_account.name if first_account else "",
        "contacts": [
            {"type": "ORDERING", "registeredUser": order.ordered_by.username},
            *(_contact(c, zone) for c in order.parts("contacts")),
        ],
        "status": status,
        "createdDateTime": rules.format_datetime(order.created_at),
        "updatedDateTime": rules.format_datetime(order.updated_at),
        # A closed order changes no more, so its last change is when it closed.
        "closedDateTime": rules.format_datetime(order.updated_at) if status in _CLOSED_UPSTREAM else None,
        "customerReferenceId": order.customer_reference_id,
        "cancellable": order.cancellable,
        "modifiable": order.modifiable,
        "details": [
            {
                "lineId": line_id,
                "status": status,
                "productType": "WORK_VISIT",
                "ibx": order.ibx.code,
                "cage": c.cage.cage_id,
                "accountNumber": c.account.number,
                "cabinets": [c.cabinet.cabinet_id] if c.cabinet_id else [],
                "requestType": "NEW",
                "attachments": references,
                "purchaseOrder": purchase_order,
            }
            for line_id, c in lines
        ],
        "portalStatus": order.status,
        "upstreamOrderId": order.upstream_order_id,
        "rejectionReasons": [
            {"property": str(r.get("property", "")), "reason": str(r.get("reason", ""))}
            for r in order.rejection_reasons or []
            if isinstance(r, dict)
        ],
        "version": order.version,
        "workVisit": {
            "description": order.description,
            "cages": [
                {
                    "id": c.cage.cage_id,
                    "accountNumber": c.account.number,
                    "cabinetId": c.cabinet.cabinet_id if c.cabinet_id else None,
                }
                for _, c in lines
            ],
            "visitors": [_visitor(v) for v in order.parts("visitors")],
            "visitStartDateTime": rules.format_datetime(order.visit_start),
            "visitEndDateTime": rules.format_datetime(order.visit_end),
            "openCabinet": order.open_cabinet,
            "purchaseOrder": purchase_order,
            "attachments": [attachment_json(a) for a in attachments],
        },
    }


def history_order_json(order: Order) -> dict:
    """An order as Order History lists it."""
    lines = selectors.order_lines(order)
    account = lines[0][1].account if lines else None
    user = order.ordered_by
    contact = {"name": user.display_name(), "email": user.email}
    if user.phone:
        contact["phone"] = user.phone
    return {
        "orderNumber": order.order_id,
        "type": ["WORK_VISIT"],
        "orderStatus": history_status(order.status),
        "createdAt": rules.format_datetime(order.created_at),
        "account": {"number": account.number, "name": account.name} if account else {"number": "", "name": ""},
        "orderingContact": contact,
        "ibx": [order.ibx.code],
        "customerReferenceNumbers": [order.customer_reference_id] if order.customer_reference_id else [],
        "links": [{"rel": "orderFullDetails", "href": f"/colocations/v2/orders/{order.order_id}"}],
    }


def locations_json(ibxs: list[IBX]) -> dict:
    """selectors.locations_for_user in the v1 work-visit locations shape."""
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


def lookup_locations_json(ibxs: list[IBX]) -> dict:
    """selectors.locations_for_user in the Lookup v2 shape: per IBX its accounts, and its cages each
    followed by its cabinets (a cabinet's entry names the cage, the cabinet and the cabinet's account)."""
    result = []
    for ibx in ibxs:
        accounts: dict[str, dict] = {}
        cages: list[dict] = []
        for cage in ibx.orderable_cages:
            numbers = [a.number for a in cage.orderable_accounts]
            cages.append({"id": cage.cage_id, "type": cage.cage_type, "accountNumbers": numbers})
            for account in cage.orderable_accounts:
                accounts.setdefault(
                    account.number,
                    {
                        "accountNumber": account.number,
                        "accountName": account.name,
                        "allowOrder": not account.is_credit_hold,
                    },
                )
                cages.extend(
                    {
                        "id": cage.cage_id,
                        "type": cage.cage_type,
                        "accountNumbers": [account.number],
                        "cabinetId": c.cabinet_id,
                        "cabinetType": c.cabinet_type,
                    }
                    for c in account.cage_cabinets
                )
        result.append(
            {
                "ibx": ibx.code,
                "accessRestricted": False,
                "specialPrivilege": False,
                "accounts": sorted(accounts.values(), key=lambda a: a["accountNumber"]),
                "cages": cages,
            }
        )
    return {"crossConnects": result}
