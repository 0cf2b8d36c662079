"""What the portal did: upstream calls, emails and webhook deliveries. Read-only, but for sending a delivery again."""

from __future__ import annotations

import logging

from django.contrib import admin, messages

from .. import notifications, rules, webhooks
from ..models import (
    SentNotification,
    UpstreamCall,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from .common import ReadOnlyAdminMixin, organization_filters, pretty_json

logger = logging.getLogger(__name__)


@admin.register(UpstreamCall)
class UpstreamCallAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("when", "method", "short_url", "status_code", "duration_ms", "order", "short_error")
    list_filter = ("method", "status_code")
    list_select_related = ("order",)
    search_fields = ("url", "correlation_id", "order__order_id", "error")
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "order",
        "method",
        "url",
        "status_code",
        "duration_ms",
        "correlation_id",
        "request_body_display",
        "response_body",
        "error",
    )
    readonly_fields = fields

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.error[:60]

    @admin.display(description="when (UTC)", ordering="created_at")
    def when(self, obj):
        return f"{obj.created_at:%Y-%m-%d %H:%M:%S} UTC"

    @admin.display(description="path")
    def short_url(self, obj):
        path = "/" + obj.url.split("://", 1)[-1].split("/", 1)[-1] if "://" in obj.url else obj.url
        return path if len(path) <= 60 else path[:57] + "…"

    @admin.display(description="request body (redacted)")
    def request_body_display(self, obj):
        return pretty_json(obj.request_body)


@admin.register(SentNotification)
class SentNotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("when", "order", "subject", "recipient", "sent")
    list_filter = ("notice",)

    @admin.display(description="when (UTC)", ordering="created_at")
    def when(self, obj):
        return f"{obj.created_at:%Y-%m-%d %H:%M} UTC"

    @admin.display(description="subject")
    def subject(self, obj):
        return notifications.notice_subject(obj.order, obj.notice)

    @admin.display(description="sent", boolean=True)
    def sent(self, obj):
        return obj.sent_at is not None

    list_select_related = ("order",)
    search_fields = ("order__order_id", "recipient", "notice")
    date_hierarchy = "created_at"


# Webhooks (workvisits/webhooks.py): customers' endpoints and every delivery, for staff to look at and
# to send again. Customers manage their endpoints on the portal and in the API, not here.


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("started_at", "response_code", "duration_ms", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("url", "organization", "active", "failing_since", "disabled_reason", "created_at")
    list_filter = ("active", *organization_filters())
    list_select_related = ("organization",)
    search_fields = ("url", "organization__name", "endpoint_id")
    fields = (
        "endpoint_id",
        "organization",
        "url",
        "description",
        "events",
        "active",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "created_by",
        "created_at",
    )
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "event_type", "order", "endpoint_url", "status", "attempts", "last_response_code")
    list_filter = ("status", "event_type")
    list_select_related = ("order", "endpoint", "endpoint__organization")
    search_fields = ("delivery_id", "order__order_id", "endpoint__url")
    date_hierarchy = "created_at"
    fields = (
        "delivery_id",
        "endpoint",
        "order",
        "event_type",
        "status",
        "attempts",
        "last_response_code",
        "last_duration_ms",
        "last_error",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "payload_display",
    )
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["resend_deliveries"]

    @admin.display(description="endpoint", ordering="endpoint__url")
    def endpoint_url(self, obj):
        return f"{obj.endpoint.url} ({obj.endpoint.organization})"

    @admin.display(description="body")
    def payload_display(self, obj):
        return pretty_json(obj.payload)

    def has_resend_permission(self, request):
        return request.user.has_perm("workvisits.change_webhookdelivery")

    @admin.action(description="Send the selected deliveries again (same delivery id)", permissions=["resend"])
    def resend_deliveries(self, request, queryset):
        done = []
        for delivery in queryset.select_related("endpoint").order_by("pk"):
            try:
                webhooks.delivery_resend(delivery=delivery)
            except rules.RuleViolation as exc:
                self.message_user(request, f"{delivery.delivery_id}: not sent again. {exc}", messages.WARNING)
            else:
                done.append(str(delivery.delivery_id))
                logger.info("webhook delivery %s sent again by %s", delivery.delivery_id, request.user.username)
        if done:
            self.message_user(request, f"Sent again: {', '.join(done)}.", messages.SUCCESS)
