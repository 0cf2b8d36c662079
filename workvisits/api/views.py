"""The endpoints of the Work Visits v2 compatible JSON API: parse, call one service or selector, render."""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime, timedelta
from functools import wraps

from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import downloads, rules, selectors, services, throttles
from ..choices import OrderStatus
from ..models import Order
from . import errors
from . import schemas as s
from . import structure as st
from .auth import BearerTokenAuthentication, HasToken
from .parsers import UploadParser

logger = logging.getLogger(__name__)

MAX_JSON_BYTES = 1024 * 1024
# Room for the multipart boundaries and headers around a file of the maximum size.
MAX_UPLOAD_BYTES = rules.MAX_ATTACHMENT_BYTES + 64 * 1024
# An oversized body up to this size is read and thrown away before the 413 goes out, so that a client
# that sends the whole body before it reads the answer gets the answer and not a reset connection.
# Larger ones are not read at all: such a client may see the connection reset.
MAX_DISCARDED_BYTES = 64 * 1024 * 1024
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = s.PAGE_SIZE_DEFAULT, s.PAGE_SIZE_MAX
_IBX_CODE = re.compile(r"^[A-Za-z0-9]{1,16}$")
_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')

_AUTH_ERRORS = {401: OpenApiResponse(s.ERRORS, description="No token, or an unknown, expired or revoked one.")}
_BODY_ERRORS = {
    411: OpenApiResponse(
        s.ERRORS, description="EQ-2010012: the body was sent in chunks; send the body with a Content-Length header."
    ),
    413: OpenApiResponse(s.ERRORS, description="The body is larger than allowed."),
    415: OpenApiResponse(s.ERRORS, description="The body is not JSON (send Content-Type: application/json)."),
}
_ORDER_ID = OpenApiParameter(
    "orderId",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=f"^{s.ORDER_ID_PATTERN}$",
    description="The order's id, as the create answered it; any other id is an unknown order (404, EQ-2014005).",
)
_ATTACHMENT_ID = OpenApiParameter("attachmentId", OpenApiTypes.UUID, OpenApiParameter.PATH)
_CORRELATION = OpenApiParameter(
    "X-Correlation-Id",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Your id for the request (up to 255 printable ASCII characters, trimmed); echoed as "
    "X-Correlation-ID and in errors. Any other value is replaced by a new id.",
)


def _header(name: str, status: int, description: str) -> OpenApiParameter:
    """A response header, for the OpenAPI document."""
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.HEADER, response=[status], description=description)


_NO_SUCH_ORDER = OpenApiResponse(s.ERRORS, description="EQ-2014005: unknown, or another organization's order.")
_NO_SUCH_ATTACHMENT = OpenApiResponse(s.ERRORS, description="No such attachment you may see.")
_CHANGED_HEADERS = [_header("Location", 202, "/orders/{orderId}"), _header("ETag", 202, "The new version.")]


def _change_responses(accepted: str, invalid: str, conflict: str) -> dict:
    """The answers of a change to an order (modify, cancel)."""
    return {
        202: OpenApiResponse(s.OrderSerializer, description=accepted),
        400: OpenApiResponse(s.ERRORS, description=invalid),
        403: OpenApiResponse(
            s.ERRORS,
            description="EQ-2012007: not the ordering or technical contact, nor a user who sees all the "
            "organization's orders.",
        ),
        404: _NO_SUCH_ORDER,
        409: OpenApiResponse(s.ERRORS, description=conflict),
        **_AUTH_ERRORS,
        **_BODY_ERRORS,
    }


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
        # A method the endpoint does not have is answered before the caller or the body is looked at.
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)
        if request.method in ("POST", "PUT", "PATCH"):
            self.check_body(request)

    def check_body(self, request) -> None:
        """Refuse a body that is too large or not of our type before any of it is parsed."""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.max_body_bytes:
            if length <= MAX_DISCARDED_BYTES:
                while request.read(64 * 1024):
                    pass
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


def read_only(view):
    """The OpenAPI document and its docs pages (drf-spectacular's views) answer GET and HEAD; any other method
    gets the API's own 405 error array, as every other endpoint does, never an HTML page."""

    @csrf_exempt
    @wraps(view)
    def answer(request, *args, **kwargs):
        if request.method in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        reason = f"{exceptions.MethodNotAllowed(request.method).detail} Use GET."
        body = errors.error_entries([(errors.METHOD_NOT_ALLOWED, [("method", reason)])])
        return JsonResponse(body, status=405, safe=False, headers={"Allow": "GET, HEAD"})

    return answer


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
        description=f"Failed attempts are throttled: after {throttles.TOKEN_FAILURES.limit} failures for one client id "
        "from one address, further requests for that client id from that address get 429 for "
        f"{throttles.TOKEN_FAILURES.window // 60} minutes; other clients are not affected.",
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
        wrong = [key for key in ("grant_type", "client_id", "client_secret") if not isinstance(body[key], str)]
        if wrong:
            raise errors.ApiError(rules.INVALID, [(key, f"{key} must be a string.") for key in wrong])
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
        "With a permission error (EQ-2012006) the status is 403 and the array lists the other errors too. "
        "The order id is in the Location header (`/orders/{orderId}`).",
        request=s.CreateRequestSerializer,
        parameters=[_CORRELATION, _header("Location", 201, "/orders/{orderId}")],
        responses={
            201: OpenApiResponse(s.CreatedSerializer, description="Created; Location: /orders/{orderId}."),
            400: OpenApiResponse(s.ERRORS, description="EQ-2016011 missing or EQ-2010010 invalid properties."),
            403: OpenApiResponse(s.ERRORS, description="EQ-2012006: no work-visit permission on a cage."),
            **_AUTH_ERRORS,
            **_BODY_ERRORS,
        },
    )
    def post(self, request):
        order = st.with_structure(
            s.CreateRequestSerializer,
            request.data,
            lambda found: services.order_create(user=request.user, data=request.data, structure_errors=found),
        )
        return Response(
            {"orderId": order.order_id, "status": order.status}, status=201, headers={"Location": _location(order)}
        )


_ISSUED_ORDER_ID = re.compile(s.ORDER_ID_PATTERN)


class OrderRouteView(ApiView):
    """An endpoint of one order: an id the portal never gives (its routes take any path segment) is an unknown
    order, answered before anything looks it up."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        order_id = kwargs.get("orderId", "")
        if not _ISSUED_ORDER_ID.fullmatch(order_id):
            raise services.OrderNotFound(errors.printable(order_id))


def _order_for(user, order_id: str) -> Order:
    try:
        return selectors.order_for_user(user, order_id)
    except Order.DoesNotExist:
        raise services.OrderNotFound(order_id) from None


def _changed(request, order_id: str) -> Response:
    """The order as it is after a change: 202, its Location and new ETag."""
    order = _order_for(request.user, order_id)
    return _order_response(order, 202, Location=_location(order))


class ModifyView(OrderRouteView):
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
            _CORRELATION,
            OpenApiParameter(
                "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description='The version read, e.g. "3".'
            ),
            *_CHANGED_HEADERS,
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
        responses=_change_responses(
            accepted="Accepted; Location: /orders/{orderId}, new ETag.",
            invalid="Missing or invalid properties, or a malformed If-Match.",
            conflict="The order is closed, or changed since the If-Match version.",
        ),
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
        st.with_structure(
            s.ModifyRequestSerializer,
            request.data,
            lambda found: services.order_modify(
                user=request.user,
                order_id=order_id,
                data=request.data,
                expected_version=expected,
                structure_errors=found,
            ),
        )
        return _changed(request, order_id)


class CancelView(OrderRouteView):
    @extend_schema(
        operation_id="cancelWorkVisit",
        tags=["Work visits"],
        summary="Cancel a work visit",
        description="A work visit is cancelled as a whole: `lineIds`, when sent, must list all of its lines. "
        "`attachments` (your organization's unused uploads) are attached to the order.",
        parameters=[_ORDER_ID, _CORRELATION, *_CHANGED_HEADERS],
        request=s.CancelRequestSerializer,
        responses=_change_responses(
            accepted="Cancelled (the upstream is told if it holds it).",
            invalid="reason, attachments or lineIds missing or invalid.",
            conflict="The order is already closed, cancelled or rejected.",
        ),
    )
    def post(self, request, orderId):  # noqa: N803
        order_id = orderId
        problems, body = st.check(s.CancelRequestSerializer, request.data)
        if problems:
            raise rules.RuleViolation(problems)
        line_ids = body.get("lineIds")
        services.order_cancel(
            user=request.user,
            order_id=order_id,
            reason=body["reason"],
            attachments=body.get("attachments"),
            line_ids=line_ids,
        )
        return _changed(request, order_id)


class OrderView(OrderRouteView):
    @extend_schema(
        operation_id="getWorkVisit",
        tags=["Work visits"],
        summary="Read a work visit (Orders v2)",
        description="The order in the Orders v2 shape (order lines in `details`, one per cage; contacts with the "
        "ORDERING contact first; `status` on the upstream's enum) plus the portal's own fields: `portalStatus`, "
        "`upstreamOrderId`, `rejectionReasons`, `version` and `workVisit`.",
        parameters=[
            _ORDER_ID,
            _CORRELATION,
            _header("ETag", 200, 'The order\'s version, e.g. "3"; send it in If-Match.'),
        ],
        responses={
            200: OpenApiResponse(s.OrderSerializer, description="The order; ETag carries its version."),
            404: _NO_SUCH_ORDER,
            **_AUTH_ERRORS,
        },
    )
    def get(self, request, orderId):  # noqa: N803
        order_id = orderId
        return _order_response(_order_for(request.user, order_id))


def _parse_time(value: str, name: str, end_of_day: bool) -> datetime:
    """A date (YYYY-MM-DD: the start of the day, or the end with `end_of_day`) or an ISO 8601 UTC time."""
    parsed = rules.parse_day_bound(value, end_of_day=end_of_day)
    if parsed is None:
        raise errors.ApiError(
            rules.INVALID,
            [(name, f"{name} must be {st.DAY_OR_TIME}.")],
        )
    return parsed


def _query_datetime(request, name: str, end_of_day: bool) -> datetime | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    return _parse_time(value, name, end_of_day)


def _query_int(request, name: str, default: int, lo: int, hi: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if not value.isascii() or not value.isdigit() or not lo <= int(value) <= hi:
        raise errors.ApiError(rules.INVALID, [(name, f"{name} must be a whole number from {lo} to {hi}.")])
    return int(value)


def _query_list(request, name: str) -> list[str]:
    """A list parameter, repeated (`ibxs=AM1&ibxs=DC2`) or comma-separated (`ibxs=AM1,DC2`)."""
    return [v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]


class OrderListView(ApiView):
    @extend_schema(
        operation_id="listWorkVisits",
        tags=["Work visits"],
        summary="List your organization's work visits (the portal's extension)",
        description="Newest first, each in the Orders v2 shape. Without the permission to see all of the "
        "organization's orders, only the orders you placed or take part in. Order History's search is "
        "POST /v1/retrieve-orders.",
        parameters=[
            _CORRELATION,
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                description="One or more portal statuses, comma-separated: " + ", ".join(OrderStatus.values),
            ),
            OpenApiParameter("ibx", OpenApiTypes.STR, description="IBX code, e.g. DC2.", pattern=_IBX_CODE.pattern),
            OpenApiParameter(
                "visitStartFrom", OpenApiTypes.STR, description="Visits starting at or after (date or UTC time)."
            ),
            OpenApiParameter(
                "visitStartTo", OpenApiTypes.STR, description="Visits starting before (a date includes the day)."
            ),
            OpenApiParameter("page", OpenApiTypes.INT, description="1-based page number.", default=1),
            OpenApiParameter(
                "cursor",
                OpenApiTypes.STR,
                description='Instead of page: the cursor of the previous answer\'s Link rel="next"; the page '
                "starts right after that answer's last order (also when it has been deleted meanwhile), at the same "
                "cost however deep. With a cursor, pagination.page is null.",
            ),
            _header("Link", 200, '<...?cursor=...>; rel="next": the next page by cursor, unless this is the last.'),
            OpenApiParameter("size", OpenApiTypes.INT, description=f"Page size, at most {PAGE_SIZE_MAX}.", default=20),
        ],
        responses={
            200: s.OrderListSerializer,
            400: OpenApiResponse(s.ERRORS, description="EQ-2010010: a filter is invalid."),
            **_AUTH_ERRORS,
        },
    )
    def get(self, request):
        statuses = _query_list(request, "status")
        wrong = [v for v in statuses if v not in OrderStatus.values]
        if wrong:
            raise errors.ApiError(rules.INVALID, [("status", f"status must be among {', '.join(OrderStatus.values)}.")])
        ibx = request.query_params.get("ibx")
        if ibx and not _IBX_CODE.match(ibx):
            raise errors.ApiError(rules.INVALID, [("ibx", "ibx must be an IBX code such as DC2.")])
        filters = selectors.OrderFilters(
            statuses=tuple(statuses),
            ibx=ibx.upper() if ibx else "",
            visit_start_from=_query_datetime(request, "visitStartFrom", end_of_day=False),
            visit_start_to=_query_datetime(request, "visitStartTo", end_of_day=True),
        )
        page = _query_int(request, "page", 1, 1, 1_000_000)
        size = _query_int(request, "size", PAGE_SIZE_DEFAULT, 1, PAGE_SIZE_MAX)
        cursor = request.query_params.get("cursor") or None
        if cursor and request.query_params.get("page"):
            raise errors.ApiError(rules.INVALID, [("page", "Send page or cursor, not both.")])
        try:
            found = selectors.order_list_page(user=request.user, filters=filters, page=page, size=size, cursor=cursor)
        except selectors.InvalidCursor:
            raise errors.ApiError(
                rules.INVALID, [("cursor", "cursor must be a pagination.nextCursor value of an earlier answer.")]
            ) from None
        return Response(
            {
                "content": [s.order_json(order) for order in found.orders],
                "pagination": {
                    "page": None if cursor else page,
                    "size": size,
                    "totalCount": found.total,
                    "totalPages": math.ceil(found.total / size),
                    "totalCountExact": found.total_exact,
                },
            },
            headers=_next_link(request, found.next_cursor),
        )


def _next_link(request, cursor: str | None) -> dict:
    """The next page by keyset, as an RFC 8288 Link (the body keeps its shape)."""
    if cursor is None:
        return {}
    query = request.query_params.copy()
    query.pop("page", None)
    query["cursor"] = cursor
    return {"Link": f'<{request.path}?{query.urlencode()}>; rel="next"'}


class RetrieveOrdersView(ApiView):
    @extend_schema(
        operation_id="retrieveOrders",
        tags=["Order History"],
        summary="Search your organization's orders (Order History v1)",
        description="Filters, free text `q` (order number, customer reference or the data centre's order id), "
        "sorts (createdAt, orderNumber, orderStatus, ibx; ASC or DESC; default createdAt DESC) and a 0-based page. "
        "`orderStatus` is on Order History's enum: ENTERED (waiting for review or for the data centre, failed, "
        "or being checked), SUBMITTED (submitted, received), IN_PROGRESS (in progress, on hold), CANCELLED "
        "(cancelled, rejected), CLOSED; PENDING_QA matches nothing. The filter also takes the portal's statuses. "
        "`productTypes` without WORK_VISIT matches nothing; `source` is ignored.",
        parameters=[_CORRELATION],
        request=s.HistorySearchSerializer,
        responses={
            200: s.HistoryResultSerializer,
            400: OpenApiResponse(s.ERRORS, description="EQ-2010010: a filter, sort or page is invalid."),
            **_AUTH_ERRORS,
            **_BODY_ERRORS,
        },
    )
    def post(self, request):
        problems, data = st.check(s.HistorySearchSerializer, {} if request.data is None else request.data)
        if problems:
            raise rules.RuleViolation(problems)
        filters = data.get("filters") or {}
        statuses = None
        if filters.get("orderStatus"):
            statuses = frozenset(
                status for name in filters["orderStatus"] for status in s.HISTORY_STATUSES.get(name, (name,))
            )
        created_from = created_to = None
        days = s.DATE_RANGES.get(filters.get("dateRange") or "")
        if days:
            created_from = timezone.now() - timedelta(days=days)
        created_from = filters.get("fromDate") or created_from
        created_to = filters.get("toDate")
        search = selectors.OrderSearch(
            ibxs=tuple(code.upper() for code in filters.get("ibxs") or []),
            statuses=statuses,
            product_types=tuple(filters.get("productTypes") or []),
            created_from=created_from,
            created_to=created_to,
            q=(data.get("q") or "").strip(),
            sorts=tuple(
                (sort["name"], (sort.get("direction") or "DESC") == "DESC") for sort in data.get("sorts") or []
            ),
        )
        page = data.get("page") or {}
        number, size = page.get("number", 0), page.get("size", PAGE_SIZE_DEFAULT)
        rows, total = selectors.order_search_page(user=request.user, search=search, number=number, size=size)
        pages = math.ceil(total / size)
        links = [{"rel": "self", "href": f"/v1/retrieve-orders?page={number}"}]
        if number + 1 < pages:
            links.append({"rel": "next", "href": f"/v1/retrieve-orders?page={number + 1}"})
        if number > 0:
            links.append({"rel": "previous", "href": f"/v1/retrieve-orders?page={min(number, pages) - 1}"})
        return Response(
            {
                "content": [s.history_order_json(order) for order in rows],
                "links": links,
                "page": {"size": size, "totalElements": total, "totalPages": pages, "number": number},
            }
        )


def _locations(request, *, ibx_param: str) -> list:
    """The caller's orderable locations, narrowed by the `ibxs` (and v1's `cages`) parameters."""
    ibxs = {code.upper() for code in _query_list(request, ibx_param)}
    cages = set(_query_list(request, "cages"))
    locations = selectors.locations_for_user(request.user)
    if ibxs:
        locations = [ibx for ibx in locations if ibx.code in ibxs]
    if cages:
        for ibx in locations:
            ibx.orderable_cages = [cage for cage in ibx.orderable_cages if cage.cage_id in cages]
        locations = [ibx for ibx in locations if ibx.orderable_cages]
    return locations


class LocationsView(ApiView):
    @extend_schema(
        operation_id="getLocations",
        tags=["Locations"],
        summary="Where you may order work visits (Lookup v2)",
        description="Per IBX its accounts and its cages: one entry for each cage (its accounts, no cabinetId), "
        "followed by one entry for each of its cabinets (the cage id, the cabinet and the cabinet's account). "
        "Only the cages on which you hold the work-visit ordering permission. accessRestricted and "
        "specialPrivilege are always false: the portal keeps no such restriction. `details` is accepted and "
        "ignored (the answer always has the details). The accounts' credit hold and PO-bearing flags, which "
        "this body has no place for, are in the Work Visit v1 body at /v1/orders/workvisit/locations (this path "
        "answered that body before).",
        parameters=[
            _CORRELATION,
            OpenApiParameter(
                "permissionCode", OpenApiTypes.STR, enum=["WORK_VISIT"], default="WORK_VISIT", description="WORK_VISIT"
            ),
            OpenApiParameter("ibxs", OpenApiTypes.STR, description="IBX codes, comma-separated or repeated."),
            OpenApiParameter("details", OpenApiTypes.BOOL, description="Accepted; the details are always given."),
        ],
        responses={
            200: s.LookupLocationsSerializer,
            400: OpenApiResponse(s.ERRORS, description="EQ-2010010: an unsupported permissionCode."),
            **_AUTH_ERRORS,
        },
    )
    def get(self, request):
        code = request.query_params.get("permissionCode", "WORK_VISIT")
        if code != "WORK_VISIT":
            raise errors.ApiError(rules.INVALID, [("permissionCode", "permissionCode must be WORK_VISIT.")])
        return Response(s.lookup_locations_json(_locations(request, ibx_param="ibxs")))


class WorkVisitLocationsView(ApiView):
    @extend_schema(
        operation_id="getWorkVisitLocations",
        tags=["Locations"],
        summary="Where you may order work visits (Work Visit v1 locations)",
        description="IBXs, cages, accounts (credit hold, PO-bearing) and cabinets, only where you may order. "
        "`detail` is accepted and ignored (the answer always has the details).",
        parameters=[
            _CORRELATION,
            OpenApiParameter("ibxs", OpenApiTypes.STR, description="IBX codes, comma-separated or repeated."),
            OpenApiParameter("cages", OpenApiTypes.STR, description="Cage ids, comma-separated or repeated."),
            OpenApiParameter("detail", OpenApiTypes.BOOL, description="Accepted; the details are always given."),
        ],
        responses={200: s.LocationsSerializer, **_AUTH_ERRORS},
    )
    def get(self, request):
        return Response(s.locations_json(_locations(request, ibx_param="ibxs")))


# ---------------------------------------------------------------------------------------------
_UPLOAD_RESPONSES = {
    201: s.UploadedSerializer,
    400: OpenApiResponse(s.ERRORS, description="No file, or a type or content that is not accepted."),
    403: OpenApiResponse(s.ERRORS, description="You may not upload attachments."),
    411: _BODY_ERRORS[411],
    413: OpenApiResponse(s.ERRORS, description="Larger than 10 MB: refused before the body is parsed."),
    415: OpenApiResponse(s.ERRORS, description="Not multipart/form-data."),
    **_AUTH_ERRORS,
}
_UPLOAD_DESCRIPTION = (
    "At most 10 MB, of the types "
    + ", ".join(rules.ATTACHMENT_EXTENSIONS)
    + ", checked by content. Reference it in a create or cancel body's attachments (at most 5)."
)


class AttachmentUploadView(ApiView):
    """POST /v1/attachments/file: the file in the multipart part `uploadFile`."""

    parser_classes = [UploadParser]
    max_body_bytes = MAX_UPLOAD_BYTES
    body_media_type = "multipart/form-data"
    fields = ("uploadFile",)

    @extend_schema(
        operation_id="uploadAttachment",
        tags=["Attachments"],
        summary="Upload an attachment",
        description=_UPLOAD_DESCRIPTION,
        parameters=[_CORRELATION],
        request={"multipart/form-data": s.UploadRequestSerializer},
        responses=_UPLOAD_RESPONSES,
    )
    def post(self, request):
        sent = [field for field in self.fields if field in request.FILES]
        if len(sent) > 1:
            either = " or ".join(self.fields)
            raise errors.ApiError(
                rules.INVALID,
                [(field, f"{field}: send the file in one part, {either}, not in both.") for field in sent],
            )
        name = next(iter(sent), None)
        if name is None:
            field = self.fields[0]
            raise errors.ApiError(
                rules.MISSING, [(field, f"{field} is required: send the file in the multipart part '{field}'.")]
            )
        uploaded = request.FILES[name]
        if uploaded.size > rules.MAX_ATTACHMENT_BYTES:
            raise errors.ApiError(
                errors.TOO_LARGE, [(name, f"{name} has {uploaded.size} bytes; attachments may be at most 10 MB.")]
            )
        attachment = services.attachment_create(user=request.user, uploaded=uploaded, path=name)
        return Response(s.uploaded_json(attachment), status=201)


class LegacyAttachmentUploadView(AttachmentUploadView):
    """The first contract's upload path: the part `file` (or `uploadFile`)."""

    fields = ("file", "uploadFile")

    @extend_schema(
        operation_id="uploadAttachmentDeprecated",
        tags=["Attachments"],
        summary="Upload an attachment (deprecated: use POST /v1/attachments/file)",
        description=_UPLOAD_DESCRIPTION + " The file goes in the part `file` or `uploadFile`.",
        deprecated=True,
        parameters=[_CORRELATION],
        request={"multipart/form-data": s.LegacyUploadRequestSerializer},
        responses=_UPLOAD_RESPONSES,
    )
    def post(self, request):
        return super().post(request)


class AttachmentView(ApiView):
    @extend_schema(
        operation_id="getAttachment",
        tags=["Attachments"],
        summary="An attachment's description",
        parameters=[_ATTACHMENT_ID, _CORRELATION],
        responses={
            200: s.UploadedSerializer,
            404: _NO_SUCH_ATTACHMENT,
            **_AUTH_ERRORS,
        },
    )
    def get(self, request, attachmentId):  # noqa: N803
        attachment = downloads.attachment_for_user(request.user, attachmentId)
        return Response(s.uploaded_json(attachment))

    @extend_schema(
        operation_id="deleteAttachment",
        tags=["Attachments"],
        summary="Delete an upload no order uses",
        description="An upload of your organization that no order uses (neither as an attachment nor as a "
        "purchase order's document) is deleted, by the member who uploaded it or a user who may see all of the "
        "organization's orders (403 for anyone else). One that an order uses stays with the order: 409.",
        parameters=[_ATTACHMENT_ID, _CORRELATION],
        responses={
            204: OpenApiResponse(description="Deleted."),
            403: OpenApiResponse(s.ERRORS, description="Neither the uploader nor a user who sees all orders."),
            404: _NO_SUCH_ATTACHMENT,
            409: OpenApiResponse(s.ERRORS, description="An order uses the attachment."),
            **_AUTH_ERRORS,
        },
    )
    def delete(self, request, attachmentId):  # noqa: N803
        services.attachment_delete(user=request.user, attachment_id=attachmentId)
        return Response(status=204)


_DOWNLOAD_RESPONSES = {
    (200, "*/*"): OpenApiResponse(
        OpenApiTypes.BINARY, description="The file, as an attachment (the stored type, nosniff)."
    ),
    (404, "application/json"): _NO_SUCH_ATTACHMENT,
    (401, "application/json"): _AUTH_ERRORS[401],
}


class AttachmentDownloadView(ApiView):
    @extend_schema(
        operation_id="downloadAttachment",
        tags=["Attachments"],
        summary="Download an attachment of your organization",
        parameters=[_ATTACHMENT_ID, _CORRELATION],
        responses=_DOWNLOAD_RESPONSES,
    )
    def get(self, request, attachmentId):  # noqa: N803
        return downloads.attachment_download(request.user, attachmentId)


class LegacyAttachmentDownloadView(AttachmentDownloadView):
    @extend_schema(
        operation_id="downloadAttachmentDeprecated",
        tags=["Attachments"],
        summary="Download an attachment (deprecated: use GET /v1/attachments/{attachmentId}/file)",
        deprecated=True,
        parameters=[_ATTACHMENT_ID, _CORRELATION],
        responses=_DOWNLOAD_RESPONSES,
    )
    def get(self, request, attachmentId):  # noqa: N803
        return super().get(request, attachmentId)
