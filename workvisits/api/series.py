"""Visit series in the JSON API: the portal's extension beside the Work Visits v2 endpoints.

`POST /colocations/v2/orders/workVisits/series` (the create body plus `recurrence`), `GET` and `PATCH`
of `/colocations/v2/orders/workVisits/series/{seriesId}`, and `POST .../{seriesId}/skip` and
`.../{seriesId}/cancel`. Thin: parse, call one service of workvisits.series, render.
"""

from __future__ import annotations

from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from .. import recurrence, rules
from .. import series as services
from ..choices import OccurrenceStatus, OrderStatus, SeriesStatus
from ..models import VisitSeries
from . import errors
from . import schemas as s
from . import structure as st
from .views import _AUTH_ERRORS, _BODY_ERRORS, _CORRELATION, ApiView, _header

SERIES_ID_PATTERN = r"WS-[A-Za-z0-9]{1,29}"
TAGS = ["Visit series (portal extension)"]
_SERIES_ID = OpenApiParameter("seriesId", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=f"^{SERIES_ID_PATTERN}$")
_NOT_FOUND = {404: OpenApiResponse(s.ERRORS, description="EQ-2014005: no such series of your organization.")}
_CHANGE_ERRORS = {
    403: OpenApiResponse(s.ERRORS, description="EQ-2012007: not the series' owner or technical contact."),
    409: OpenApiResponse(s.ERRORS, description="The series or the occurrence is over, cancelled or skipped."),
}
RECURRENCE_HELP = (
    "An RFC 5545 RRULE (without DTSTART): the first visit is the body's visit start, later ones recur at the "
    "same local time in the IBX's zone (09:00 stays 09:00 across daylight-saving changes). FREQ DAILY, WEEKLY, "
    f"MONTHLY or YEARLY; it must end: COUNT (at most {recurrence.MAX_OCCURRENCES}) or UNTIL (a date, the end of "
    f"that day in the IBX, or a UTC time, not before the first visit); the last visit within "
    f"{recurrence.MAX_SPAN.days} days of the first; visits may not overlap. INTERVAL at most "
    + ", ".join(f"{top} with {freq}" for freq, top in recurrence.MAX_INTERVAL.items())
    + "; BYxxx parts within RFC 5545's ranges (e.g. BYMONTHDAY 1..31 or -31..-1, a numbered BYDAY such as 1TU "
    "only with MONTHLY (1..5) or YEARLY). E.g. FREQ=WEEKLY;BYDAY=TU;COUNT=6, FREQ=MONTHLY;BYDAY=1TU;UNTIL=20271231."
)


# ---------------------------------------------------------------------------------------------
# Schemas (for the OpenAPI document).
# The request bodies are checked by the same structure as the single visit's (api/structure.py), the rules
# then judge the content; a property a rule of the series checks whole is only documented here.
class SeriesCreateRequestSerializer(s.CreateRequestSerializer):
    recurrence = st.Documented(hi=recurrence.RECURRENCE_MAX_LENGTH, required=True, help_text=RECURRENCE_HELP)


class OccurrenceSerializer(serializers.Serializer):
    visitStartDateTime = serializers.CharField(help_text="UTC.")
    visitEndDateTime = serializers.CharField(help_text="UTC.")
    orderId = serializers.CharField(allow_null=True, help_text="The occurrence's order; null until it is created.")
    status = serializers.ChoiceField(
        choices=[*OrderStatus.values, *OccurrenceStatus.values],
        help_text="The order's portal status once it exists; before: PLANNED, SKIPPED, CANCELLED, NOT_CREATED "
        "(a rule was broken when it was due; the series paused) or MISSED (its start passed while paused).",
    )
    reason = serializers.CharField(required=False, help_text="Why it was not created.")


class SeriesSerializer(serializers.Serializer):
    seriesId = serializers.CharField()
    recurrence = serializers.CharField(help_text="The RRULE as stored (UNTIL in UTC).")
    status = serializers.ChoiceField(choices=SeriesStatus.values)
    statusReason = serializers.CharField(help_text="Why it paused, or the cancellation's reason.")
    ibx = serializers.CharField()
    occurrences = OccurrenceSerializer(many=True)


class SeriesModifyDetailsSerializer(st.Body):
    visitStartDateTime = st.When(required=False, help_text="The new start of that occurrence (UTC).")
    visitEndDateTime = st.When(required=False, help_text="The new end of that occurrence (UTC).")
    visitors = st.Many(
        child=s.VisitorSerializer(),
        what="visitors",
        schema_hi=rules.MAX_VISITORS,
        required=False,
        rule_required=True,
        help_text="They replace the visitors of the occurrences not yet ordered; at least one.",
    )


class SeriesModifyRequestSerializer(st.Body):
    fromOccurrence = st.Documented(required=True, help_text="The visitStartDateTime of the first occurrence to change.")
    contacts = st.Many(
        child=s.ContactSerializer(),
        required=False,
        what="contacts",
        help_text="They replace the contacts of the occurrences not yet ordered.",
    )
    details = SeriesModifyDetailsSerializer(required=False)


class SkipRequestSerializer(serializers.Serializer):
    visitStartDateTime = serializers.CharField(help_text="The occurrence's visitStartDateTime.")
    reason = serializers.CharField(required=False, help_text="Sent with the cancellation of its order, if placed.")


class SeriesCancelRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=rules.CANCEL_REASON_MIN, max_length=rules.CANCEL_REASON_MAX)


def series_json(series: VisitSeries) -> dict:
    """A series with its occurrences (prefetched, with their orders)."""
    occurrences = []
    for occurrence in series.occurrences.all():
        item = {
            "visitStartDateTime": rules.format_datetime(occurrence.visit_start),
            "visitEndDateTime": rules.format_datetime(occurrence.visit_end),
            "orderId": occurrence.order.order_id if occurrence.order_id else None,
            "status": occurrence.shown_status,
        }
        if occurrence.reason:
            item["reason"] = occurrence.reason
        occurrences.append(item)
    return {
        "seriesId": series.series_id,
        "recurrence": series.recurrence,
        "status": series.status,
        "statusReason": series.status_reason,
        "ibx": series.ibx.code,
        "occurrences": occurrences,
    }


def _location(series: VisitSeries) -> str:
    return f"/orders/workVisits/series/{series.series_id}"


def _series_for(user, series_id: str) -> VisitSeries:
    try:
        return services.series_for_user(user, series_id)
    except services.SeriesNotFound:
        raise errors.ApiError(
            rules.NOT_FOUND, [("seriesId", f"There is no series {series_id} that you may see.")]
        ) from None


def _series_schema(**entry):
    """The OpenAPI entry of an operation on one series (its id in the path)."""
    return extend_schema(tags=TAGS, parameters=[_SERIES_ID, _CORRELATION], **entry)


def _change_responses(success: int, invalid: str) -> dict:
    """The documented answers of a change of a series: the series, or why not (`invalid`: what a 400 says)."""
    return {
        success: SeriesSerializer,
        400: OpenApiResponse(s.ERRORS, description=invalid),
        **_CHANGE_ERRORS,
        **_NOT_FOUND,
        **_AUTH_ERRORS,
        **_BODY_ERRORS,
    }


def _object(data) -> dict:
    if not isinstance(data, dict):
        raise rules.RuleViolation([rules.RuleError("$", rules.INVALID, "The request body must be a JSON object.")])
    return data


# ---------------------------------------------------------------------------------------------
class SeriesCreateView(ApiView):
    @extend_schema(
        operation_id="createWorkVisitSeries",
        tags=TAGS,
        summary="Create a series of work visits",
        description="The create body of a single work visit plus `recurrence`. The first visit is checked by every "
        "rule of a single visit, with the same errors (JSON paths as for POST /colocations/v2/orders/workVisits); "
        "`recurrence` errors name `recurrence`. A series carries no attachments. Each occurrence becomes an "
        "ordinary order SERIES_LEAD_DAYS (default 14) days before it, ordered by you; one that then breaks a rule "
        "(a revoked permission, a retired cage) is not created, the series pauses and you are emailed why.",
        request=SeriesCreateRequestSerializer,
        parameters=[_CORRELATION, _header("Location", 201, "/orders/workVisits/series/{seriesId}")],
        examples=[
            OpenApiExample(
                "Weekly on Tuesdays, six times",
                request_only=True,
                value={
                    "description": "Monthly routine check of the racks",
                    "details": {
                        "cages": [{"id": "DC2:01:000001", "accountNumber": "100001"}],
                        "visitStartDateTime": "2027-01-05T14:00:00Z",
                        "visitEndDateTime": "2027-01-05T17:00:00Z",
                        "visitors": [{"registeredUsers": ["technician"]}],
                    },
                    "recurrence": "FREQ=WEEKLY;BYDAY=TU;COUNT=6",
                },
            )
        ],
        responses={
            201: OpenApiResponse(
                SeriesSerializer, description="Created; Location: /orders/workVisits/series/{seriesId}."
            ),
            400: OpenApiResponse(s.ERRORS, description="EQ-2016011 missing or EQ-2010010 invalid properties."),
            403: OpenApiResponse(s.ERRORS, description="EQ-2012006: no work-visit permission on a cage."),
            **_AUTH_ERRORS,
            **_BODY_ERRORS,
        },
    )
    def post(self, request):
        created = st.with_structure(
            SeriesCreateRequestSerializer,
            _object(request.data),
            lambda found: services.series_create(user=request.user, data=request.data, structure_errors=found),
        )
        series = _series_for(request.user, created.series_id)
        return Response(series_json(series), status=201, headers={"Location": _location(series)})


class SeriesView(ApiView):
    @_series_schema(
        operation_id="getWorkVisitSeries",
        summary="Read a series and its occurrences",
        responses={200: SeriesSerializer, **_NOT_FOUND, **_AUTH_ERRORS},
    )
    def get(self, request, seriesId):  # noqa: N803 (the path's name)
        return Response(series_json(_series_for(request.user, seriesId)))

    @_series_schema(
        operation_id="modifyWorkVisitSeries",
        summary="Change a series from one occurrence on",
        description="`fromOccurrence` names the occurrence by its visitStartDateTime. A new visit start and end "
        "move it and every later occurrence alike on the IBX's wall clock (e.g. 09:00 to 10:00 local); placed "
        "orders are modified as by PATCH /colocations/v2/orders/workVisits/{orderId}. New `details.visitors` and "
        "`contacts` replace those of the occurrences not yet ordered (a placed order keeps its people). The "
        "changed occurrence is checked by every rule of a single visit.",
        request=SeriesModifyRequestSerializer,
        responses=_change_responses(200, "Missing or invalid properties."),
    )
    def patch(self, request, seriesId):  # noqa: N803
        _series_for(request.user, seriesId)
        series = st.with_structure(
            SeriesModifyRequestSerializer,
            _object(request.data),
            lambda found: services.series_modify(
                user=request.user, series_id=seriesId, data=request.data, structure_errors=found
            ),
        )
        return Response(series_json(series))


class SeriesSkipView(ApiView):
    @_series_schema(
        operation_id="skipWorkVisitSeriesOccurrence",
        summary="Skip one occurrence",
        description="Its order, if placed, is cancelled (at the data centre too); the invite gets an EXDATE.",
        request=SkipRequestSerializer,
        responses={200: SeriesSerializer, **_CHANGE_ERRORS, **_NOT_FOUND, **_AUTH_ERRORS, **_BODY_ERRORS},
    )
    def post(self, request, seriesId):  # noqa: N803
        _series_for(request.user, seriesId)
        body = _object(request.data)
        reason = body.get("reason") or ""
        if reason:
            problems = rules.cancel_reason_errors(reason)
            if problems:
                raise rules.RuleViolation(problems)
        services.occurrence_skip(
            user=request.user, series_id=seriesId, visit_start=body.get("visitStartDateTime"), reason=reason
        )
        return Response(series_json(_series_for(request.user, seriesId)))


class SeriesCancelView(ApiView):
    @_series_schema(
        operation_id="cancelWorkVisitSeries",
        summary="Cancel the rest of a series",
        description="Every occurrence yet to start is cancelled; each placed order through the ordinary "
        "cancellation (the data centre is told). Visits under way or over stay as they are.",
        request=SeriesCancelRequestSerializer,
        responses=_change_responses(202, "reason missing or invalid."),
    )
    def post(self, request, seriesId):  # noqa: N803
        _series_for(request.user, seriesId)
        body = _object(request.data)
        unknown = [key for key in body if key != "reason"]
        if unknown:
            raise rules.RuleViolation(
                [
                    rules.RuleError(key, rules.INVALID, f"{key} is not a property of a series' cancellation.")
                    for key in unknown
                ]
            )
        series = services.series_cancel(user=request.user, series_id=seriesId, reason=body.get("reason"))
        return Response(series_json(series), status=202, headers={"Location": _location(series)})


_series_id = f"(?P<seriesId>{SERIES_ID_PATTERN})"
urlpatterns = [
    re_path(r"^colocations/v2/orders/workVisits/series$", SeriesCreateView.as_view(), name="api-series-create"),
    re_path(rf"^colocations/v2/orders/workVisits/series/{_series_id}$", SeriesView.as_view(), name="api-series"),
    re_path(
        rf"^colocations/v2/orders/workVisits/series/{_series_id}/skip$",
        SeriesSkipView.as_view(),
        name="api-series-skip",
    ),
    re_path(
        rf"^colocations/v2/orders/workVisits/series/{_series_id}/cancel$",
        SeriesCancelView.as_view(),
        name="api-series-cancel",
    ),
]
