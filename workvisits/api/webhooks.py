"""The portal's extension of the API: an organization's webhook endpoints and their deliveries.

Thin: parse, call one service of workvisits.webhooks, render. Only the organization's administrators
(the permission to manage webhook endpoints) get anything but 403; another organization's endpoint is 404.
"""

from __future__ import annotations

import uuid

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from .. import rules, webhooks
from ..choices import WebhookDeliveryStatus, WebhookEvent
from ..models import WebhookDelivery, WebhookEndpoint
from . import errors
from . import schemas as s
from .views import _AUTH_ERRORS, _BODY_ERRORS, ApiView, _header

TAGS = ["Webhooks (portal extension)"]
# Named in OpenAPI by SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].
WEBHOOK_EVENTS = WebhookEvent.values
DELIVERY_STATUSES = WebhookDeliveryStatus.values
_ENDPOINT_ID = OpenApiParameter("endpointId", OpenApiTypes.UUID, OpenApiParameter.PATH)
_DELIVERY_ID = OpenApiParameter("deliveryId", OpenApiTypes.UUID, OpenApiParameter.PATH)
_FORBIDDEN = {
    403: OpenApiResponse(
        s.ERRORS, description="EQ-2012007: only the organization's administrators manage its webhooks."
    )
}
_NOT_FOUND = {404: OpenApiResponse(s.ERRORS, description="No such endpoint (or delivery) of your organization.")}


# ---------------------------------------------------------------------------------------------
# Shapes.
class EndpointRequestSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="https:// URL on a public address (checked again at each delivery).")
    events = serializers.ListField(child=serializers.ChoiceField(choices=WEBHOOK_EVENTS), min_length=1)
    description = serializers.CharField(required=False, allow_blank=True, max_length=webhooks.DESCRIPTION_MAX)


class EndpointChangeSerializer(serializers.Serializer):
    active = serializers.BooleanField(help_text="false disables the endpoint; true enables it again.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300)


class EndpointSerializer(serializers.Serializer):
    endpointId = serializers.UUIDField()  # noqa: N815 (the API's names)
    url = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=WEBHOOK_EVENTS))
    active = serializers.BooleanField()
    disabledReason = serializers.CharField(allow_blank=True)  # noqa: N815
    disabledAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    createdAt = serializers.DateTimeField()  # noqa: N815
    createdBy = serializers.CharField(allow_null=True)  # noqa: N815


class CreatedEndpointSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="The signing secret, shown only in this answer.")


class EndpointListSerializer(serializers.Serializer):
    data = EndpointSerializer(many=True)


class AttemptSerializer(serializers.Serializer):
    startedAt = serializers.DateTimeField()  # noqa: N815
    responseCode = serializers.IntegerField(allow_null=True)  # noqa: N815
    durationMs = serializers.IntegerField()  # noqa: N815
    error = serializers.CharField(allow_blank=True)


class DeliverySerializer(serializers.Serializer):
    deliveryId = serializers.UUIDField()  # noqa: N815
    eventType = serializers.ChoiceField(choices=WEBHOOK_EVENTS)  # noqa: N815
    orderId = serializers.CharField()  # noqa: N815
    status = serializers.ChoiceField(choices=DELIVERY_STATUSES)
    attempts = serializers.IntegerField()
    lastResponseCode = serializers.IntegerField(allow_null=True)  # noqa: N815
    lastDurationMs = serializers.IntegerField(allow_null=True)  # noqa: N815
    lastError = serializers.CharField(allow_blank=True)  # noqa: N815
    nextAttemptAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    createdAt = serializers.DateTimeField()  # noqa: N815
    deliveredAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    attemptLog = AttemptSerializer(many=True)  # noqa: N815


class DeliveryListSerializer(serializers.Serializer):
    data = DeliverySerializer(many=True)


def _when(value):
    return rules.format_datetime(value) if value else None


def endpoint_json(endpoint: WebhookEndpoint) -> dict:
    return {
        "endpointId": str(endpoint.endpoint_id),
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events),
        "active": endpoint.active,
        "disabledReason": endpoint.disabled_reason,
        "disabledAt": _when(endpoint.disabled_at),
        "createdAt": _when(endpoint.created_at),
        "createdBy": endpoint.created_by.username if endpoint.created_by else None,
    }


def delivery_json(delivery: WebhookDelivery) -> dict:
    return {
        "deliveryId": str(delivery.delivery_id),
        "eventType": delivery.event_type,
        "orderId": delivery.order.order_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "lastResponseCode": delivery.last_response_code,
        "lastDurationMs": delivery.last_duration_ms,
        "lastError": delivery.last_error,
        "nextAttemptAt": _when(delivery.next_attempt_at) if delivery.status == WebhookDeliveryStatus.PENDING else None,
        "createdAt": _when(delivery.created_at),
        "deliveredAt": _when(delivery.delivered_at),
        "attemptLog": [
            {
                "startedAt": _when(a.started_at),
                "responseCode": a.response_code,
                "durationMs": a.duration_ms,
                "error": a.error,
            }
            for a in delivery.attempt_log.all()
        ],
    }


# ---------------------------------------------------------------------------------------------
def _body(request, allowed: tuple[str, ...]) -> dict:
    body = request.data
    if not isinstance(body, dict):
        raise errors.ApiError(rules.INVALID, [("$", "The request body must be a JSON object.")])
    unknown = [key for key in body if key not in allowed]
    if unknown:
        raise errors.ApiError(
            rules.INVALID,
            [(errors.printable(key), f"Unknown property; the known ones are {', '.join(allowed)}.") for key in unknown],
        )
    return body


def _require_admin(user) -> None:
    if not webhooks.user_may_manage_webhooks(user):
        raise webhooks.permission_denied()


def _endpoint(user, endpoint_id) -> WebhookEndpoint:
    _require_admin(user)
    try:
        return webhooks.endpoint_for_user(user, endpoint_id)
    except WebhookEndpoint.DoesNotExist:
        raise errors.ApiError(
            errors.NOT_FOUND, [("endpointId", f"Your organization has no webhook endpoint {endpoint_id}.")]
        ) from None


class EndpointsView(ApiView):
    @extend_schema(
        operation_id="listWebhookEndpoints",
        tags=TAGS,
        summary="List the organization's webhook endpoints",
        responses={200: EndpointListSerializer, **_FORBIDDEN, **_AUTH_ERRORS},
    )
    def get(self, request):
        _require_admin(request.user)
        return Response({"data": [endpoint_json(e) for e in webhooks.endpoints_for_user(request.user)]})

    @extend_schema(
        operation_id="createWebhookEndpoint",
        tags=TAGS,
        summary="Register a webhook endpoint",
        description="The answer carries the endpoint's signing `secret`, shown only this once. Deliveries are "
        "signed with it (see docs/api.md, Webhooks). The URL must be https:// on a public address.",
        request=EndpointRequestSerializer,
        parameters=[_header("Location", 201, "/colocations/v2/webhooks/{endpointId}")],
        responses={
            201: CreatedEndpointSerializer,
            400: OpenApiResponse(s.ERRORS, description="url, events or description missing or invalid."),
            **_FORBIDDEN,
            **_AUTH_ERRORS,
            **_BODY_ERRORS,
        },
    )
    def post(self, request):
        _require_admin(request.user)
        body = _body(request, ("url", "events", "description"))
        missing = [key for key in ("url", "events") if body.get(key) in (None, "", [])]
        if missing:
            raise errors.ApiError(rules.MISSING, [(key, f"{key} is required.") for key in missing])
        endpoint, secret = webhooks.endpoint_create(
            user=request.user, url=body["url"], events=body["events"], description=body.get("description") or ""
        )
        return Response(
            {**endpoint_json(endpoint), "secret": secret},
            status=201,
            headers={"Location": f"/colocations/v2/webhooks/{endpoint.endpoint_id}", "Cache-Control": "no-store"},
        )


class EndpointView(ApiView):
    @extend_schema(
        operation_id="getWebhookEndpoint",
        tags=TAGS,
        summary="Read a webhook endpoint",
        parameters=[_ENDPOINT_ID],
        responses={200: EndpointSerializer, **_FORBIDDEN, **_NOT_FOUND, **_AUTH_ERRORS},
    )
    def get(self, request, endpointId: uuid.UUID):  # noqa: N803 (the path's name)
        return Response(endpoint_json(_endpoint(request.user, endpointId)))

    @extend_schema(
        operation_id="changeWebhookEndpoint",
        tags=TAGS,
        summary="Disable or enable a webhook endpoint",
        description="Disabling gives up its pending deliveries (they can be sent again once it is enabled).",
        parameters=[_ENDPOINT_ID],
        request=EndpointChangeSerializer,
        responses={
            200: EndpointSerializer,
            400: OpenApiResponse(s.ERRORS, description="active missing or not true/false."),
            **_FORBIDDEN,
            **_NOT_FOUND,
            **_AUTH_ERRORS,
            **_BODY_ERRORS,
        },
    )
    def patch(self, request, endpointId: uuid.UUID):  # noqa: N803
        endpoint = _endpoint(request.user, endpointId)
        body = _body(request, ("active", "reason"))
        if "active" not in body or body["active"] is None:
            raise errors.ApiError(rules.MISSING, [("active", "active is required: true or false.")])
        if not isinstance(body["active"], bool):
            raise errors.ApiError(rules.INVALID, [("active", "active must be true or false.")])
        reason = body.get("reason") or ""
        if not isinstance(reason, str) or len(reason) > 300:
            raise errors.ApiError(rules.INVALID, [("reason", "reason is text of at most 300 characters.")])
        endpoint = webhooks.endpoint_set_active(
            user=request.user, endpoint=endpoint, active=body["active"], reason=reason
        )
        return Response(endpoint_json(endpoint))

    @extend_schema(
        operation_id="deleteWebhookEndpoint",
        tags=TAGS,
        summary="Delete a webhook endpoint and its deliveries",
        parameters=[_ENDPOINT_ID],
        responses={204: None, **_FORBIDDEN, **_NOT_FOUND, **_AUTH_ERRORS},
    )
    def delete(self, request, endpointId: uuid.UUID):  # noqa: N803
        webhooks.endpoint_delete(user=request.user, endpoint=_endpoint(request.user, endpointId))
        return Response(status=204)


class DeliveriesView(ApiView):
    @extend_schema(
        operation_id="listWebhookDeliveries",
        tags=TAGS,
        summary=f"The endpoint's latest deliveries ({webhooks.LATEST_DELIVERIES}), newest first, with every attempt",
        parameters=[_ENDPOINT_ID],
        responses={200: DeliveryListSerializer, **_FORBIDDEN, **_NOT_FOUND, **_AUTH_ERRORS},
    )
    def get(self, request, endpointId: uuid.UUID):  # noqa: N803
        endpoint = _endpoint(request.user, endpointId)
        return Response({"data": [delivery_json(d) for d in webhooks.deliveries_for_endpoint(endpoint)]})


class ResendView(ApiView):
    @extend_schema(
        operation_id="resendWebhookDelivery",
        tags=TAGS,
        summary="Send a delivery again",
        description="The same body and delivery id (receivers de-duplicate on Portal-Delivery), a new signature. "
        "It goes after any earlier pending delivery of the same order. No body.",
        parameters=[_ENDPOINT_ID, _DELIVERY_ID],
        request=None,
        responses={
            202: DeliverySerializer,
            400: OpenApiResponse(s.ERRORS, description="The endpoint is disabled."),
            **_FORBIDDEN,
            **_NOT_FOUND,
            **_AUTH_ERRORS,
        },
    )
    def post(self, request, endpointId: uuid.UUID, deliveryId: uuid.UUID):  # noqa: N803
        _endpoint(request.user, endpointId)
        try:
            delivery = webhooks.delivery_for_user(request.user, endpointId, deliveryId)
        except WebhookDelivery.DoesNotExist:
            raise errors.ApiError(
                errors.NOT_FOUND, [("deliveryId", f"The endpoint has no delivery {deliveryId}.")]
            ) from None
        delivery = webhooks.delivery_resend(delivery=delivery, user=request.user)
        return Response(delivery_json(delivery), status=202)

    def check_body(self, request) -> None:
        """No body is needed: any (or none) is ignored."""


urlpatterns = [
    path("colocations/v2/webhooks", EndpointsView.as_view(), name="api-webhooks"),
    path("colocations/v2/webhooks/<uuid:endpointId>", EndpointView.as_view(), name="api-webhook"),
    path(
        "colocations/v2/webhooks/<uuid:endpointId>/deliveries", DeliveriesView.as_view(), name="api-webhook-deliveries"
    ),
    path(
        "colocations/v2/webhooks/<uuid:endpointId>/deliveries/<uuid:deliveryId>/resend",
        ResendView.as_view(),
        name="api-webhook-resend",
    ),
]
