"""Visit series (workvisits/series.py): staff look, the customers change them."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from ..models import (
    SeriesOccurrence,
    VisitSeries,
)
from ..web.messages import local_span
from .common import ReadOnlyAdminMixin
from .orders import OrderPartInline


class SeriesOccurrenceInline(OrderPartInline):
    model = SeriesOccurrence
    fields = ("visit", "status", "order_link", "reason")
    readonly_fields = fields

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("workvisits.view_visitseries")

    @admin.display(description="Visit (IBX time)")
    def visit(self, obj):
        return local_span(obj.visit_start, obj.visit_end, obj.series.ibx.timezone)

    @admin.display(description="Order")
    def order_link(self, obj):
        if not obj.order_id:
            return "—"
        url = reverse("admin:workvisits_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a> ({})', url, obj.order.order_id, obj.order.get_status_display())

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order", "series__ibx")


@admin.register(VisitSeries)
class VisitSeriesAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("series_id", "organization", "ibx", "owner", "recurrence", "status", "created_at")
    list_filter = ("status", "ibx")
    search_fields = ("series_id", "owner__username", "organization__name")
    list_select_related = ("organization", "ibx", "owner")
    fields = (
        "series_id",
        "organization",
        "ibx",
        "owner",
        "recurrence",
        "status",
        "status_reason",
        "invite_sequence",
        "created_at",
    )
    readonly_fields = fields
    inlines = [SeriesOccurrenceInline]
