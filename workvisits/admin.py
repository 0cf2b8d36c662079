"""The reviewers' and operators' admin.

Orders are read-only here: every change goes through a service (approve, reject, resubmit, cancel), which
checks the order's state and records who did it and why on the timeline. Roles are permissions: reviewers
hold `review_order`, operators `resubmit_order` and the task/upstream views (migration 0002_staff_roles)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from . import locations, notifications, rules, selectors, services, submission
from .catalogue import catalogue_changed
from .choices import CLOSED_STATUSES, OrderStatus
from .models import (
    IBX,
    Account,
    ApiClient,
    Attachment,
    Cabinet,
    Cage,
    Contact,
    LocationSync,
    Order,
    OrderCage,
    OrderEvent,
    OrderingGrant,
    Organization,
    SentNotification,
    SeriesOccurrence,
    UpstreamCall,
    User,
    Visitor,
    VisitSeries,
)
from .upstream import payloads
from .web.messages import Names, local_span, local_time, reason_words

logger = logging.getLogger(__name__)

# A QUEUED order not sent for this long, or a submission running this long, needs an operator's look.
STUCK_AFTER = timedelta(minutes=30)
REVIEW_PERMISSION = "workvisits.review_order"
RESUBMIT_PERMISSION = "workvisits.resubmit_order"


# ---------------------------------------------------------------------------------------------
# Display helpers.
def visit_window(order: Order) -> str:
    """`2026-03-02 09:00–13:00 America/New_York (EST)`: the visit in the IBX's own time, zone named."""
    zone = order.ibx.zone
    start, end = order.visit_start.astimezone(zone), order.visit_end.astimezone(zone)
    end_text = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
    return f"{start:%Y-%m-%d %H:%M}–{end_text} {order.ibx.timezone} ({start:%Z})"


def pretty_json(value) -> str:
    if value in (None, "", [], {}):
        return "—"
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', json.dumps(value, indent=2, sort_keys=True))


def bullet_list(items) -> str:
    items = list(items)
    if not items:
        return "—"
    return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((item,) for item in items)))


class ReadOnlyAdminMixin:
    """Records written by the portal itself (logs, runs): staff look, nobody edits."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# ---------------------------------------------------------------------------------------------
# Users, organizations and the locations catalogue.
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
    list_filter = ("organization", "is_staff", "is_active", "groups")
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
                "fields": (
                    "review_mode",
                    "review_within_24_hours",
                    "review_non_registered_visitors",
                    "review_new_purchase_order",
                    "review_night_or_weekend",
                ),
                "description": "Which orders wait for a reviewer. The conditions apply when the mode is "
                "'Review orders that match the conditions'; night is 20:00–07:00 in the IBX's time zone.",
            },
        ),
    )

    @admin.display(description="conditions")
    def review_conditions(self, obj):
        fields = (
            "review_within_24_hours",
            "review_non_registered_visitors",
            "review_new_purchase_order",
            "review_night_or_weekend",
        )
        return ", ".join(str(Organization._meta.get_field(f).verbose_name) for f in fields if getattr(obj, f)) or "—"


class CatalogueAdmin(admin.ModelAdmin):
    """IBXs, cages, accounts and cabinets: each save or delete here gives the cached catalogues a new
    version, in the admin's transaction (every organization's: such edits are rare, and a cage or an
    account can move between organizations)."""

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)  # after save_model(), with the m2m and inlines
        catalogue_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        catalogue_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        catalogue_changed()


@admin.register(IBX)
class IBXAdmin(CatalogueAdmin):
    list_display = ("code", "name", "timezone", "active", "cage_count")
    list_filter = ("active",)
    search_fields = ("code", "name")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_cages=Count("cages", filter=Q(cages__active=True)))

    @admin.display(description="active cages", ordering="_cages")
    def cage_count(self, obj):
        return obj._cages


class CabinetInline(admin.TabularInline):
    model = Cabinet
    extra = 0
    fields = ("cabinet_id", "account", "cabinet_type", "active")
    raw_id_fields = ("account",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


@admin.register(Cage)
class CageAdmin(CatalogueAdmin):
    list_display = ("cage_id", "ibx", "organization", "cage_type", "account_numbers", "active")
    list_filter = ("active", "ibx", "organization")
    list_select_related = ("ibx", "organization")
    search_fields = ("cage_id", "organization__name", "accounts__number")
    filter_horizontal = ("accounts",)
    inlines = [CabinetInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("accounts")

    @admin.display(description="accounts")
    def account_numbers(self, obj):
        return ", ".join(a.number for a in obj.accounts.all())


@admin.register(Account)
class AccountAdmin(CatalogueAdmin):
    list_display = ("number", "name", "organization", "is_credit_hold", "is_po_bearing")
    list_filter = ("is_credit_hold", "is_po_bearing", "organization")
    list_select_related = ("organization",)
    search_fields = ("number", "name", "organization__name")


@admin.register(Cabinet)
class CabinetAdmin(CatalogueAdmin):
    list_display = ("cabinet_id", "cage", "account", "cabinet_type", "active")
    list_filter = ("active", "cage__ibx")
    list_select_related = ("cage", "account")
    search_fields = ("cabinet_id", "cage__cage_id", "account__number")
    raw_id_fields = ("cage", "account")


@admin.register(OrderingGrant)
class OrderingGrantAdmin(SimpleHistoryAdmin):
    """The work-visit ordering permission, per user on a cage or on a whole IBX."""

    list_display = ("user", "user_organization", "cage", "ibx", "granted_by", "created_at")
    list_filter = ("ibx", "cage__ibx", "user__organization")
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


# ---------------------------------------------------------------------------------------------
# Orders.
class OrderPartInline(admin.TabularInline):
    """Parts of an order are shown with it, to whoever may view the order, and never edited here."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("workvisits.view_order")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrderCageInline(OrderPartInline):
    model = OrderCage
    fields = readonly_fields = ("cage", "account", "cabinet")
    verbose_name_plural = "cages"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("cage", "account", "cabinet")


class PersonInline(OrderPartInline):
    fields = readonly_fields = ("name", "company", "email", "phone", "registered")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").order_by("id")

    @admin.display(description="company")
    def company(self, obj):
        return obj.company_name or (obj.user.organization if obj.user_id else "")

    @admin.display(description="registered user")
    def registered(self, obj):
        return obj.user.username if obj.user_id else "—"


class VisitorInline(PersonInline):
    model = Visitor


class ContactInline(PersonInline):
    model = Contact
    fields = readonly_fields = ("contact_type", *PersonInline.fields, "availability", "timezone")


class AttachmentInline(OrderPartInline):
    model = Attachment
    fk_name = "order"
    fields = readonly_fields = ("name", "content_type", "size", "uploaded_by", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("uploaded_by")


class OrderEventInline(OrderPartInline):
    model = OrderEvent
    fields = readonly_fields = ("when", "what", "actor", "note")
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "order__ibx")

    @admin.display(description="when (IBX time)")
    def when(self, obj):
        return local_time(obj.created_at, obj.order.ibx.timezone)

    @admin.display(description="what happened")
    def what(self, obj):
        return str(obj)


class UpstreamCallInline(OrderPartInline):
    model = UpstreamCall
    fields = readonly_fields = ("created_at", "method", "url", "status_code", "duration_ms", "error")
    verbose_name_plural = "upstream calls"

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("workvisits.view_upstreamcall")


class VisitDateFilter(admin.SimpleListFilter):
    title = "visit date"
    parameter_name = "visit"

    def lookups(self, request, model_admin):
        return [
            ("today", "Today (UTC)"),
            ("tomorrow", "Tomorrow (UTC)"),
            ("week", "Next 7 days"),
            ("later", "Later"),
            ("past", "Past"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        day = timedelta(days=1)
        ranges = {
            "today": Q(visit_start__gte=midnight, visit_start__lt=midnight + day),
            "tomorrow": Q(visit_start__gte=midnight + day, visit_start__lt=midnight + 2 * day),
            "week": Q(visit_start__gte=now, visit_start__lt=now + 7 * day),
            "later": Q(visit_start__gte=now + 7 * day),
            "past": Q(visit_end__lt=now),
        }
        if self.value() in ranges:
            return queryset.filter(ranges[self.value()])
        return queryset


class NeedsOperatorFilter(admin.SimpleListFilter):
    """Stuck and failed orders: the operator's work list, with the resubmit action beside it."""

    title = "needs an operator"
    parameter_name = "problem"

    def lookups(self, request, model_admin):
        minutes = int(STUCK_AFTER.total_seconds() // 60)
        return [
            ("any", "Any of these"),
            ("needs_check", "To check with the data centre"),
            ("stuck", f"Queued or submitting for over {minutes} minutes"),
            ("failed", "Failed"),
        ]

    @staticmethod
    def stuck() -> Q:
        since = timezone.now() - STUCK_AFTER
        return Q(status=OrderStatus.QUEUED) & (Q(updated_at__lt=since) | Q(lease_expires_at__lt=timezone.now()))

    def queryset(self, request, queryset):
        failed = Q(status=OrderStatus.FAILED)
        check = Q(status=OrderStatus.NEEDS_CHECK)
        choice = {
            "any": self.stuck() | failed | check,
            "needs_check": check,
            "stuck": self.stuck(),
            "failed": failed,
        }.get(self.value())
        return queryset.filter(choice) if choice is not None else queryset


class LinkForm(forms.Form):
    upstream_order_id = forms.CharField(
        label="Data centre order number",
        max_length=100,
        help_text="As the data centre's portal shows it, e.g. 1-23232322. The order becomes SUBMITTED as that order.",
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text=f"{rules.CANCEL_REASON_MIN} to {rules.CANCEL_REASON_MAX} characters; the customer reads it.",
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"]
        errors = rules.cancel_reason_errors(reason)
        if errors:
            raise forms.ValidationError([e.message for e in errors])
        return reason.strip()


# The order page's buttons: (label, whether the order's status allows the action). The services decide;
# this only chooses which buttons to show.
STATUS_ACTIONS = {
    "approve_orders": ("Approve", lambda status: status == OrderStatus.PENDING_REVIEW),
    "reject_orders": ("Reject…", lambda status: status == OrderStatus.PENDING_REVIEW),
    "resubmit_orders": ("Resubmit", lambda status: status == OrderStatus.FAILED),
    "link_upstream_orders": ("Link to upstream order…", lambda status: status == OrderStatus.NEEDS_CHECK),
    "confirm_not_upstream": ("Not upstream: resubmit", lambda status: status == OrderStatus.NEEDS_CHECK),
    "cancel_orders": ("Cancel…", lambda status: status not in CLOSED_STATUSES),
}


class BoundedCountPaginator(Paginator):
    """Counts exactly up to EXACT_COUNT_UP_TO rows; a longer list shows the planner's estimate instead of
    counting every row on every page (selectors.bounded_count). Two cheap queries for any length of list."""

    EXACT_COUNT_UP_TO = selectors.COUNT_EXACTLY_UP_TO

    @cached_property
    def count(self) -> int:
        return selectors.bounded_count(self.object_list, self.EXACT_COUNT_UP_TO)[0]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    # Five columns that fit a 1280 px screen with the status always in view; the rest is on the order page.
    list_display = ("order_id", "status", "visit_window", "where", "visitor_list")
    list_filter = ("status", NeedsOperatorFilter, "ibx", "organization", VisitDateFilter)
    search_fields = (
        "order_id",
        "customer_reference_id",
        "upstream_order_id",
        "visitors__first_name",
        "visitors__last_name",
        "visitors__details",
        "visitors__user__username",
        "visitors__user__first_name",
        "visitors__user__last_name",
        "visitors__user__email",
        "contacts__first_name",
        "contacts__last_name",
        "contacts__details",
        "contacts__user__username",
        "contacts__user__first_name",
        "contacts__user__last_name",
        "contacts__user__email",
    )
    search_help_text = "Order id, customer reference, upstream id, or a visitor's or contact's name or email."
    # At hundreds of thousands of orders: no date hierarchy (its year links are a DISTINCT over every
    # row; the visit-date filter covers dates), no second count of the unfiltered table, and a page
    # count that stops counting at EXACT_COUNT_UP_TO rows.
    show_full_result_count = False
    paginator = BoundedCountPaginator
    actions = [
        "approve_orders",
        "reject_orders",
        "resubmit_orders",
        "link_upstream_orders",
        "confirm_not_upstream",
        "cancel_orders",
    ]
    inlines = [
        OrderCageInline,
        VisitorInline,
        ContactInline,
        AttachmentInline,
        OrderEventInline,
        UpstreamCallInline,
    ]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "order_id",
                    "status",
                    "organization",
                    "ibx",
                    "ordered_by",
                    "visit_window",
                    "open_cabinet",
                    "description",
                    "customer_reference_id",
                    "upstream_order_id",
                    "created_at",
                    "updated_at",
                )
            },
        ),
        ("Review", {"fields": ("review_reasons_display", "rejection_reasons_display")}),
        (
            "Purchase order",
            {"fields": ("po_type", "po_number", "po_amount", "po_start_date", "po_end_date", "po_attachment")},
        ),
        (
            "Submission to the upstream",
            {
                "fields": (
                    "reference_sent",
                    "submit_attempts",
                    "first_attempt_at",
                    "next_attempt_at",
                    "upstream_uncertain",
                    "lease_expires_at",
                    "sent_for_submission_at",
                    "upstream_cancelled_at",
                    "last_error",
                    "last_synced_at",
                    "version",
                    "upstream_payload_display",
                    "upstream_response_display",
                )
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        return [f for fieldset in self.fieldsets for f in fieldset[1]["fields"]]

    def get_list_display(self, request):
        # The operators' work list also says how often each order was tried and why it failed.
        if request.GET.get(NeedsOperatorFilter.parameter_name):
            return (*self.list_display, "reference_sent", "submit_attempts", "first_attempt_at", "short_last_error")
        return self.list_display

    @admin.display(description="last error")
    def short_last_error(self, obj):
        return obj.last_error[:120]

    @admin.display(description="reference sent upstream")
    def reference_sent(self, obj):
        return payloads.sent_reference(obj)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("organization", "ibx", "ordered_by")
            .prefetch_related(
                Prefetch("cages", queryset=OrderCage.objects.select_related("cage").order_by("id")),
                Prefetch("visitors", queryset=Visitor.objects.select_related("user").order_by("id")),
            )
        )

    # Orders are placed by customers and changed by the actions below, never edited or deleted here.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_review_permission(self, request):
        return request.user.has_perm(REVIEW_PERMISSION)

    def has_resubmit_permission(self, request):
        return request.user.has_perm(RESUBMIT_PERMISSION)

    def has_staff_cancel_permission(self, request):
        return self.has_review_permission(request) or self.has_resubmit_permission(request)

    @admin.display(description="cages")
    def cage_list(self, obj):
        return ", ".join(c.cage.cage_id for c in obj.cages.all())

    @admin.display(description="organization · cages", ordering="organization__name")
    def where(self, obj):
        return f"{obj.organization} · {self.cage_list(obj)}"

    @admin.display(description="visit (IBX time)", ordering="visit_start")
    def visit_window(self, obj):
        return visit_window(obj)

    @admin.display(description="visitors")
    def visitor_list(self, obj):
        names = [v.name for v in obj.visitors.all()]
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    @admin.display(description="review reasons")
    def review_reasons_display(self, obj):
        return bullet_list(obj.review_reasons)

    @admin.display(description="rejection reasons")
    def rejection_reasons_display(self, obj):
        names = Names.from_order(obj)
        return bullet_list(reason_words(r, names) for r in obj.rejection_reasons)

    @admin.display(description="upstream payload")
    def upstream_payload_display(self, obj):
        return pretty_json(obj.upstream_payload)

    @admin.display(description="upstream response")
    def upstream_response_display(self, obj):
        return pretty_json(obj.upstream_response)

    # -- actions: thin, one service call per order, every outcome told to the staff member ----------
    def _apply(self, request, queryset, verb: str, call) -> None:
        done = []
        for order in queryset.order_by("pk"):
            try:
                call(order)
            except services.OrderConflict as exc:
                self.message_user(request, f"{order.order_id}: not {verb}. {exc.message}", messages.WARNING)
            except rules.RuleViolation as exc:
                self.message_user(request, f"{order.order_id}: not {verb}. {exc}", messages.ERROR)
            else:
                done.append(order.order_id)
                logger.info("order %s %s by %s in the admin", order.order_id, verb, request.user.username)
        if done:
            self.message_user(request, f"{verb.capitalize()}: {', '.join(done)}.", messages.SUCCESS)

    def _reason_page(self, request, queryset, action: str, title: str, call, verb: str):
        """The intermediate page asking why; the reason goes on each order's timeline."""
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            self._apply(request, queryset, verb, lambda order: call(order, reason))
            return None  # back to the list
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "form": form,
            "orders": queryset.order_by("pk"),
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "verb": verb,
        }
        return TemplateResponse(request, "admin/workvisits/order/action_reason.html", context)

    @admin.action(description="Approve the selected orders (queue them for the data centre)", permissions=["review"])
    def approve_orders(self, request, queryset):
        self._apply(
            request,
            queryset,
            "approved",
            lambda order: services.order_approve(reviewer=request.user, order_pk=order.pk),
        )

    @admin.action(description="Reject the selected orders, telling the customer why", permissions=["review"])
    def reject_orders(self, request, queryset):
        return self._reason_page(
            request,
            queryset,
            "reject_orders",
            "Reject orders",
            lambda order, reason: services.order_reject(reviewer=request.user, order_pk=order.pk, reason=reason),
            "rejected",
        )

    @admin.action(description="Resubmit the selected FAILED orders", permissions=["resubmit"])
    def resubmit_orders(self, request, queryset):
        self._apply(
            request,
            queryset,
            "resubmitted",
            lambda order: services.order_resubmit(operator=request.user, order_pk=order.pk),
        )

    @admin.action(description="Link the selected order to the data centre's order…", permissions=["resubmit"])
    def link_upstream_orders(self, request, queryset):
        """The operator found the order in the data centre's portal and types its number."""
        if queryset.count() != 1:
            self.message_user(request, "Link one order at a time.", messages.WARNING)
            return None
        form = LinkForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            upstream_id = form.cleaned_data["upstream_order_id"]
            self._apply(
                request,
                queryset,
                "linked",
                lambda order: submission.order_link_upstream(
                    operator=request.user, order_pk=order.pk, upstream_order_id=upstream_id
                ),
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Link to the data centre's order",
            "opts": self.model._meta,
            "form": form,
            "orders": queryset,
            "action": "link_upstream_orders",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/workvisits/order/action_link.html", context)

    @admin.action(
        description="Confirm the selected orders are not at the data centre and resubmit them", permissions=["resubmit"]
    )
    def confirm_not_upstream(self, request, queryset):
        self._apply(
            request,
            queryset,
            "resubmitted",
            lambda order: submission.order_confirm_not_upstream(operator=request.user, order_pk=order.pk),
        )

    @admin.action(description="Cancel the selected orders, telling the customer why", permissions=["staff_cancel"])
    def cancel_orders(self, request, queryset):
        return self._reason_page(
            request,
            queryset,
            "cancel_orders",
            "Cancel orders",
            lambda order, reason: services.order_staff_cancel(staff=request.user, order_pk=order.pk, reason=reason),
            "cancelled",
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The order page offers the actions its status and the staff member's permissions allow."""
        extra_context = extra_context or {}
        order = self.get_object(request, object_id)
        if order is not None:
            available = self.get_actions(request)
            extra_context["order_actions"] = [
                (name, label, available[name][2])
                for name, (label, allowed) in STATUS_ACTIONS.items()
                if name in available and allowed(order.status)
            ]
            extra_context["action_checkbox_name"] = ACTION_CHECKBOX_NAME
        return super().change_view(request, object_id, form_url, extra_context)


# ---------------------------------------------------------------------------------------------
# What the portal did: upstream calls, emails, imports. Read-only.
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


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        help_text=f"UTF-8 CSV with a header row: {', '.join(locations.CSV_COLUMNS)}. "
        "ibx, cage and account_number are required; one row per cabinet."
    )


@admin.register(LocationSync)
class LocationSyncAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "source", "started_by", "changes", "error_count")
    list_filter = ("source",)
    list_select_related = ("started_by",)
    fields = ("created_at", "source", "started_by", "summary_display", "errors_display")
    readonly_fields = fields
    change_list_template = "admin/workvisits/locationsync/change_list.html"

    @admin.display(description="changes")
    def changes(self, obj):
        return locations.sync_counts(obj)

    @admin.display(description="errors")
    def error_count(self, obj):
        return len(obj.errors)

    @admin.display(description="summary")
    def summary_display(self, obj):
        return pretty_json(obj.summary)

    @admin.display(description="errors")
    def errors_display(self, obj):
        return pretty_json(obj.errors)

    def has_import_permission(self, request):
        return request.user.has_perm("workvisits.add_locationsync")

    def get_urls(self):
        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="workvisits_locationsync_upload"),
            path("fetch/", self.admin_site.admin_view(self.fetch_view), name="workvisits_locationsync_fetch"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_import": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def upload_view(self, request):
        """Import a CSV file now; good rows are applied and each bad row is reported."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = CsvUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                sync = locations.import_locations_csv(data=form.cleaned_data["file"].read(), started_by=request.user)
            except locations.ImportRefused as exc:
                form.add_error("file", str(exc))
            else:
                level = messages.WARNING if sync.errors else messages.SUCCESS
                self.message_user(
                    request, f"CSV imported: {locations.sync_counts(sync)}; {len(sync.errors)} rows refused.", level
                )
                return HttpResponseRedirect(reverse("admin:workvisits_locationsync_change", args=[sync.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import locations from a CSV file",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/workvisits/locationsync/upload.html", context)

    def fetch_view(self, request):
        """Ask a worker to import the upstream's locations now (the beat does it on its own schedule)."""
        if not self.has_import_permission(request) or request.method != "POST":
            raise PermissionDenied
        if services.enqueue(locations.import_locations):
            self.message_user(request, "A worker imports the upstream's locations now; reload in a moment.")
        else:
            self.message_user(request, "The task queue cannot be reached; try again later.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:workvisits_locationsync_changelist"))


@admin.register(ApiClient)
class ApiClientAdmin(SimpleHistoryAdmin):
    """JSON API credentials: created here (the secret is shown once, only its hash is kept) and revoked here."""

    list_display = ("client_id", "name", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("user",)
    search_fields = ("client_id", "name", "user__username")
    autocomplete_fields = ("user",)
    actions = ["revoke_clients"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name")
        return ("client_id", "user", "name", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("client_id", "user", "created_at", "last_used_at", "revoked_at")

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record stays for the audit

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        client, secret = services.api_client_create(user=obj.user, name=obj.name)
        obj.__dict__.update({k: v for k, v in client.__dict__.items() if k != "_state"})
        obj._state.adding = False
        request._api_client_secret = secret

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "title": "API client created",
            "opts": self.model._meta,
            "client": obj,
            "secret": request._api_client_secret,
        }
        response = TemplateResponse(request, "admin/workvisits/apiclient/secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected clients and their tokens", permissions=["change"])
    def revoke_clients(self, request, queryset):
        for client in queryset:
            services.api_client_revoke(client=client)
        self.message_user(request, f"Revoked {len(queryset)} client(s); their tokens no longer work.")


# ---------------------------------------------------------------------------------------------
# Visit series (workvisits/series.py): staff look, the customers change them.


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
# Webhooks (workvisits/webhooks.py): customers' endpoints and every delivery, for staff to look at and
# to send again. Customers manage their endpoints on the portal and in the API, not here.
from . import webhooks  # noqa: E402 (this block's own import, kept with it)
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: E402


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
    list_filter = ("active", "organization")
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
