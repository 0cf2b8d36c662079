"""The endpoints of the Work Visits v2 compatible JSON API: parse, call one service or selector, render."""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import downloads, rules, selectors, services, throttles
from ..choices import OrderStatus
from ..models import Order
from . import errors
from . import schemas as s
from .auth import BearerTokenAuthentication, HasToken

logger = logging.getLogger(__name__)

MAX_JSON_BYTES = 1024 * 1024
# Room for the multipart boundaries and headers around a file of the maximum size.
MAX_UPLOAD_BYTES = rules.MAX_ATTACHMENT_BYTES + 64 * 1024
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 20, 100
_IBX_CODE = re.compile(r"^[A-Za-z0-9]{1,16}$")
_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')

_AUTH_ERRORS = {401: OpenApiResponse(s.ERRORS, description="No token, or an unknown, expired or revoked one.")}
_BODY_ERRORS = {
    413: OpenApiResponse(s.ERRORS, description="The body is larger than allowed."),
    415: OpenApiResponse(s.ERRORS, description="The body is not JSON (send Content-Type: application/json)."),
}
_ORDER_ID = OpenApiParameter("orderId", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=f"^{s.ORDER_ID_PATTERN}$")


def _header(name: str, status: int, description: str) -> OpenApiParameter:
    """A response header, for the OpenAPI document."""
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.HEADER, response=[status], description=description)


class AlwaysJSON(BaseContentNegotiation):
    """Answer JSON whatever the Accept header says (downloads set their own type)."""

    def select_parser(self, request, parsers):
        for parser in parsers:
            if request.content_type and request.content_type.split(";")[0].strip().lower() == parser.media_type:
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ApiView(APIView):
    """Bearer-token authenticated, JSON in and out, every error in the upstream's array format."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasToken]
    parser_classes = [errors.JSONBodyParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AlwaysJSON
    max_body_bytes = MAX_JSON_BYTES
    body_media_type = "application/json"

    def get_exception_handler(self):
        return errors.api_exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method in ("POST", "PUT", "PATCH"):
            self.check_body(request)

    def check_body(self, request) -> None:
        """Refuse a body that is too large or not of our type before a byte of it is read."""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.max_body_bytes:
            raise errors.ApiError(
                errors.TOO_LARGE,
                [("body", f"The body has {length} bytes; at most {self.max_body_bytes} are accepted here.")],
            )
        content_type = request.META.get("CONTENT_TYPE", "")
        media_type = content_type.split(";")[0].strip().lower()
        if media_type != self.body_media_type:
            sent = errors.printable(content_type) or "(none)"
            reason = f"'{sent}' is not accepted; send {self.body_media_type}."
            raise errors.ApiError(errors.UNSUPPORTED_MEDIA_TYPE, [("Content-Type", reason)])


class NotFoundView(ApiView):
    """Any other path under the API's prefixes: a 404 in the array format, not an HTML page."""

    authentication_classes = []
    permission_classes = []

    def initial(self, request, *args, **kwargs):
        raise errors.ApiError(
            errors.NOT_FOUND, [("path", "There is no such endpoint; see /colocations/v2/openapi.json.")]
        )


# ---------------------------------------------------------------------------------------------
class TokenView(ApiView):
    authentication_classes = []
    permission_classes = []
    max_body_bytes = 16 * 1024

    @extend_schema(
        operation_id="token",
        tags=["Authentication"],
        summary="Get an access token (client credentials)",
        description="Failed attempts are throttled: after 5 failures for one client id from one address, further "
        "requests for that client id from that address get 429 for 15 minutes; other clients are not affected.",
        request=s.TokenRequestSerializer,
        responses={
            200: s.TokenSerializer,
            400: OpenApiResponse(s.ERRORS, description="grant_type, client_id or client_secret missing or invalid."),
            401: OpenApiResponse(s.ERRORS, description="Unknown client, wrong secret or revoked credentials."),
            429: OpenApiResponse(s.ERRORS, description="Too many failed attempts; see Retry-After."),
            **_BODY_ERRORS,
        },
    )
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise errors.ApiError(rules.INVALID, [("$", "The request body must be a JSON object.")])
        missing = [key for key in ("grant_type", "client_id", "client_secret") if body.get(key) in (None, "")]
        if missing:
            raise errors.ApiError(rules.MISSING, [(key, f"{key} is required.") for key in missing])
        if body["grant_type"] != "client_credentials":
            raise errors.ApiError(rules.INVALID, [("grant_type", "grant_type must be client_credentials.")])
        try:
            token, record = services.api_token_issue(
                client_id=body["client_id"],
                client_secret=body["client_secret"],
                address=throttles.client_address(request),
            )
        except services.TooManyFailures as exc:
            raise errors.ApiError(
                errors.TOO_MANY_REQUESTS,
                [("client_id", f"Too many failed attempts; try again in {exc.retry_after} seconds.")],
                headers={"Retry-After": str(exc.retry_after)},
            ) from None
        except services.InvalidCredentials:
            logger.info("token refused for client id %r", str(body["client_id"])[:64])
            raise errors.ApiError(
                errors.UNAUTHORIZED,
                [("client_secret", "The client id and secret do not match active credentials.")],
            ) from None
        seconds = settings.API_TOKEN_SECONDS
        logger.info("token issued to client %s", record.client.client_id)
        return Response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "token_timeout": str(seconds),
                "user_name": record.client.user.username,
            },
            headers={"Cache-Control": "no-store"},
        )


# ---------------------------------------------------------------------------------------------
def _location(order: Order) -> str:
    return f"/orders/{order.order_id}"


def _etag(order: Order) -> str:
    return f'"{order.version}"'


def _order_response(order: Order, status: int = 200, **headers) -> Response:
    return Response(s.order_json(order), status=status, headers={"ETag": _etag(order), **headers})


class CreateView(ApiView):
    @extend_schema(
        operation_id="createWorkVisit",
        tags=["Work visits"],
        summary="Create a work visit",
        description="Every rule is checked and every broken one reported, each with the JSON path of the property. "
        "With a permission error (EQ-2012006) the status is 403 and the array lists the other errors too.",
        request=s.CreateRequestSerializer,
        parameters=[_header("Location", 201, "/orders/{orderId}")],
        responses={
            201: OpenApiResponse(s.CreatedSerializer, description="Created; Location: /orders/{orderId}."),
            400: OpenApiResponse(s.ERRORS, description="EQ-2016011 missing or EQ-2010010 invalid properties."),
            403: OpenApiResponse(s.ERRORS, description="EQ-2012006: no work-visit permission on a cage."),
            **_AUTH_ERRORS,
            **_BODY_ERRORS,
        },
    )
    def post(self, request):
        order = services.order_create(user=request.user, data=request.data)
        return Response(
            {"orderId": order.order_id, "status": order.status}, status=201, headers={"Location": _location(order)}
        )


def _order_for(user, order_id: str) -> Order:
    try:
        return selectors.order_for_user(user, order_id)
    except Order.DoesNotExist:
        raise services.OrderNotFound(order_id) from None


class ModifyView(ApiView):
    @extend_schema(
        operation_id="modifyWorkVisit",
        tags=["Work visits"],
        summary="Modify a work visit",
        description="Only the visit start and end, openCabinet and at most one notification contact can change. "
        "Send the version you read (the ETag or `version`) in If-Match: a change made by someone else in "
        "between gives 409 instead of being overwritten. Without If-Match the change applies to the "
        "version read while serving the request.",
        parameters=[
            _ORDER_ID,
            OpenApiParameter(
                "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description='The version read, e.g. "3".'
            ),
            _header("Location", 202, "/orders/{orderId}"),
            _header("ETag", 202, "The new version."),
        ],
        request=s.ModifyRequestSerializer,
        examples=[
            OpenApiExample(
                "The upstream's sample",
                request_only=True,
                value={
                    "contacts": [{"registeredUsers": ["john_doe1"], "type": "NOTIFICATION"}],
                    "details": {
                        "visitStartDateTime": "2020-12-17'T'09:15:44Z",
                        "visitEndDateTime": "2020-12-18'T'09:15:44Z",
                        "openCabinet": False,
                    },
                },
            )
        ],
        responses={
            202: OpenApiResponse(s.OrderSerializer, description="Accepted; Location: /orders/{orderId}, new ETag."),
            400: OpenApiResponse(s.ERRORS, description="Missing or invalid properties, or a malformed If-Match."),
            403: OpenApiResponse(s.ERRORS, description="EQ-2012007: not the ordering or technical contact."),
            404: OpenApiResponse(s.ERRORS, description="EQ-2014005: no such order of your organization."),
            409: OpenApiResponse(s.ERRORS, description="The order is closed, or changed since the If-Match version."),
            **_AUTH_ERRORS,
            **_BODY_ERRORS,
        },
    )
    def patch(self, request, orderId):  # noqa: N803 (the contract's name)
        order_id = orderId
        expected = None
        if_match = request.META.get("HTTP_IF_MATCH")
        if if_match is not None:
            match = _ETAG.match(if_match)
            if not match:
                raise errors.ApiError(rules.INVALID, [("If-Match", 'If-Match must be the version read, e.g. "3".')])
            expected = int(match.group(1))
        services.order_modify(user=request.user, order_id=order_id, data=request.data, expected_version=expected)
        order = _order_for(request.user, order_id)
        return _order_response(order, 202, Location=_location(order))


class CancelView(ApiView):
    @extend_schema(
        operation_id="cancelWorkVisit",
        tags=["Work visits"],
        summary="Cancel a work visit",
        parameters=[_ORDER_ID, _header("Location", 202, "/orders/{orderId}"), _header("ETag", 202, "The new version.")],
        request=s.CancelRequestSerializer,
        responses={
            202: OpenApiResponse(s.OrderSerializer, description="Cancelled (the upstream is told if it holds it)."),
            400: OpenApiResponse(s.ERRORS, description="reason missing or not 5 to 4000 characters."),
            403: OpenApiResponse(s.ERRORS, description="EQ-2012007: not the ordering or technical contact."),
            404: OpenApiResponse(s.ERRORS, description="EQ-2014005: no such order of your organization."),
            409: OpenApiResponse(s.ERRORS, description="The order is already closed, cancelled or rejected."),
            **_AUTH_ERRORS,
            **_BODY_ERRORS,
        },
    )
    def post(self, request, orderId):  # noqa: N803
        order_id = orderId
        problems, reason = rules.validate_cancel(request.data)
        if problems:
            raise rules.RuleViolation(problems)
        services.order_cancel(user=request.user, order_id=order_id, reason=reason)
        order = _order_for(request.user, order_id)
        return _order_response(order, 202, Location=_location(order))


class OrderView(ApiView):
    @extend_schema(
        operation_id="getWorkVisit",
        tags=["Work visits"],
        summary="Read a work visit",
        parameters=[_ORDER_ID, _header("ETag", 200, 'The order\'s version, e.g. "3"; send it in If-Match.')],
        responses={
            200: OpenApiResponse(s.OrderSerializer, description="The order; ETag carries its version."),
            404: OpenApiResponse(s.ERRORS, description="EQ-2014005: unknown, or another organization's order."),
            **_AUTH_ERRORS,
        },
    )
    def get(self, request, orderId):  # noqa: N803
        order_id = orderId
        return _order_response(_order_for(request.user, order_id))


def _query_datetime(request, name: str, end_of_day: bool) -> datetime | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    parsed = rules.parse_day_bound(value, end_of_day=end_of_day)
    if parsed is None:
        raise errors.ApiError(
            rules.INVALID,
            [(name, f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 UTC time before the year 9999.")],
        )
    return parsed


def _query_int(request, name: str, default: int, lo: int, hi: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if not value.isascii() or not value.isdigit() or not lo <= int(value) <= hi:
        raise errors.ApiError(rules.INVALID, [(name, f"{name} must be a whole number from {lo} to {hi}.")])
    return int(value)


class OrderListView(ApiView):
    @extend_schema(
        operation_id="listWorkVisits",
        tags=["Work visits"],
        summary="List your organization's work visits",
        description="Newest first. Without the permission to see all of the organization's orders, only the "
        "orders you placed or take part in.",
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                description="One or more statuses, comma-separated: " + ", ".join(OrderStatus.values),
            ),
            OpenApiParameter("ibx", OpenApiTypes.STR, description="IBX code, e.g. DC2.", pattern=_IBX_CODE.pattern),
            OpenApiParameter(
                "visitStartFrom", OpenApiTypes.STR, description="Visits starting at or after (date or UTC time)."
            ),
            OpenApiParameter(
                "visitStartTo", OpenApiTypes.STR, description="Visits starting before (a date includes the day)."
            ),
            OpenApiParameter("page", OpenApiTypes.INT, description="1-based page number.", default=1),
            OpenApiParameter("size", OpenApiTypes.INT, description=f"Page size, at most {PAGE_SIZE_MAX}.", default=20),
        ],
        responses={
            200: s.OrderListSerializer,
            400: OpenApiResponse(s.ERRORS, description="EQ-2010010: a filter is invalid."),
            **_AUTH_ERRORS,
        },
    )
    def get(self, request):
        orders = selectors.orders_for_user(request.user)
        statuses = [v.strip() for raw in request.query_params.getlist("status") for v in raw.split(",") if v.strip()]
        wrong = [v for v in statuses if v not in OrderStatus.values]
        if wrong:
            raise errors.ApiError(rules.INVALID, [("status", f"status must be among {', '.join(OrderStatus.values)}.")])
        if statuses:
            orders = orders.filter(status__in=statuses)
        ibx = request.query_params.get("ibx")
        if ibx:
            if not _IBX_CODE.match(ibx):
                raise errors.ApiError(rules.INVALID, [("ibx", "ibx must be an IBX code such as DC2.")])
            orders = orders.filter(ibx__code=ibx.upper())
        start_from = _query_datetime(request, "visitStartFrom", end_of_day=False)
        start_to = _query_datetime(request, "visitStartTo", end_of_day=True)
        if start_from:
            orders = orders.filter(visit_start__gte=start_from)
        if start_to:
            orders = orders.filter(visit_start__lt=start_to)
        page = _query_int(request, "page", 1, 1, 1_000_000)
        size = _query_int(request, "size", PAGE_SIZE_DEFAULT, 1, PAGE_SIZE_MAX)
        total = orders.count()
        rows = list(orders.order_by("-created_at", "-id")[(page - 1) * size : page * size]) if total else []
        return Response(
            {
                "content": [s.order_json(order) for order in rows],
                "pagination": {
                    "page": page,
                    "size": size,
                    "totalCount": total,
                    "totalPages": math.ceil(total / size),
                },
            }
        )


class LocationsView(ApiView):
    @extend_schema(
        operation_id="getLocations",
        tags=["Locations"],
        summary="IBXs, cages, accounts and cabinets where you may order work visits",
        parameters=[
            OpenApiParameter(
                "permissionCode", OpenApiTypes.STR, enum=["WORK_VISIT"], default="WORK_VISIT", description="WORK_VISIT"
            )
        ],
        responses={
            200: s.LocationsSerializer,
            400: OpenApiResponse(s.ERRORS, description="EQ-2010010: an unsupported permissionCode."),
            **_AUTH_ERRORS,
        },
    )
    def get(self, request):
        code = request.query_params.get("permissionCode", "WORK_VISIT")
        if code != "WORK_VISIT":
            raise errors.ApiError(rules.INVALID, [("permissionCode", "permissionCode must be WORK_VISIT.")])
        return Response(s.locations_json(selectors.locations_for_user(request.user)))


# ---------------------------------------------------------------------------------------------
class AttachmentUploadView(ApiView):
    parser_classes = [MultiPartParser]
    max_body_bytes = MAX_UPLOAD_BYTES
    body_media_type = "multipart/form-data"

    @extend_schema(
        operation_id="uploadAttachment",
        tags=["Attachments"],
        summary="Upload an attachment",
        description="At most 10 MB, of the types "
        + ", ".join(rules.ATTACHMENT_EXTENSIONS)
        + ", checked by content. Reference it in a create body's attachments (at most 5).",
        request={"multipart/form-data": s.UploadRequestSerializer},
        responses={
            201: s.UploadedSerializer,
            400: OpenApiResponse(s.ERRORS, description="No file, or a type or content that is not accepted."),
            403: OpenApiResponse(s.ERRORS, description="The user belongs to no customer organization."),
            413: OpenApiResponse(s.ERRORS, description="Larger than 10 MB: refused before the body is read."),
            415: OpenApiResponse(s.ERRORS, description="Not multipart/form-data."),
            **_AUTH_ERRORS,
        },
    )
    def post(self, request):
        uploaded = request.FILES.get("file")
        if uploaded is None:
            raise errors.ApiError(
                rules.MISSING, [("file", "file is required: send the file in the form field 'file'.")]
            )
        if uploaded.size > rules.MAX_ATTACHMENT_BYTES:
            raise errors.ApiError(
                errors.TOO_LARGE, [("file", f"file has {uploaded.size} bytes; attachments may be at most 10 MB.")]
            )
        attachment = services.attachment_create(user=request.user, uploaded=uploaded, path="file")
        return Response({"attachmentId": str(attachment.id), "attachmentName": attachment.name}, status=201)


class AttachmentDownloadView(ApiView):
    @extend_schema(
        operation_id="downloadAttachment",
        tags=["Attachments"],
        summary="Download an attachment of your organization",
        parameters=[OpenApiParameter("attachmentId", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, as an attachment (the stored type, nosniff)."
            ),
            (404, "application/json"): OpenApiResponse(s.ERRORS, description="No such attachment you may see."),
            (401, "application/json"): _AUTH_ERRORS[401],
        },
    )
    def get(self, request, attachmentId):  # noqa: N803
        return downloads.attachment_download(request.user, attachmentId)
