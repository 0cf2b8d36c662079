"""Users, their organizations (and review policy), and who may order where."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from simple_history.admin import SimpleHistoryAdmin

from .. import rules
from ..models import (
    REVIEW_CONDITION_FIELDS,
    OrderingGrant,
    Organization,
    User,
)
from .common import organization_filters


@admin.register(User)
class UserAdmin(SimpleHistoryAdmin, BaseUserAdmin):
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Organization", {"fields": ("organization", "phone", "timezone")}),
        (
            "At the data centre",
            {
                "fields": ("upstream_username",),
                "description": "Sent to the data centre as a registered user only with this name; "
                "without it the person is sent by name and email. Import many at once with "
                "manage.py import_upstream_usernames.",
            },
        ),
    )
    list_display = ("username", "email", "first_name", "last_name", "organization", "upstream_username", "is_staff")
    list_filter = (*organization_filters(), "is_staff", "is_active", "groups")
    list_select_related = ("organization",)
    search_fields = ("username", "email", "first_name", "last_name", "upstream_username")


@admin.register(Organization)
class OrganizationAdmin(SimpleHistoryAdmin):
    list_display = ("name", "review_mode", "review_conditions")
    list_filter = ("review_mode",)
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("name", "retention_days")}),
        (
            "Review policy",
            {
                "fields": ("review_mode", *REVIEW_CONDITION_FIELDS),
                "description": "Which orders wait for a reviewer. The conditions apply when the mode is 'Review "
                f"orders that match the conditions'; night is {rules.NIGHT_STARTS:02}:00–{rules.NIGHT_ENDS:02}:00 in "
                "the IBX's time zone.",
            },
        ),
    )

    @admin.display(description="conditions")
    def review_conditions(self, obj):
        fields = REVIEW_CONDITION_FIELDS
        return ", ".join(str(Organization._meta.get_field(f).verbose_name) for f in fields if getattr(obj, f)) or "—"


@admin.register(OrderingGrant)
class OrderingGrantAdmin(SimpleHistoryAdmin):
    """The work-visit ordering permission, per user on a cage or on a whole IBX."""

    list_display = ("user", "user_organization", "cage", "ibx", "granted_by", "created_at")
    list_filter = ("ibx", "cage__ibx", *organization_filters("user__organization"))
    list_select_related = ("user__organization", "cage", "ibx", "granted_by")
    search_fields = ("user__username", "user__email", "cage__cage_id", "ibx__code")
    autocomplete_fields = ("user", "cage", "ibx")
    fields = ("user", "cage", "ibx", "granted_by", "created_at")
    readonly_fields = ("granted_by", "created_at")

    @admin.display(description="organization", ordering="user__organization__name")
    def user_organization(self, obj):
        return obj.user.organization

    def save_model(self, request, obj, form, change):
        if not change:
            obj.granted_by = request.user
        super().save_model(request, obj, form, change)
