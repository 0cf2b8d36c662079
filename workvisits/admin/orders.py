"""Orders: read-only pages, the reviewers' and operators' filters, and the actions that call the services.

Every change goes through a service (approve, reject, resubmit, cancel), which checks the order's state and
records who did it and why on the timeline. Roles are permissions: reviewers hold `review_order`, operators
`resubmit_order` and the task/upstream views (migration 0002_staff_roles)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.utils import quote
from django.contrib.postgres.expressions import ArraySubquery
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import OuterRef, Prefetch, Q
from django.db.models.functions import JSONArray
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext

from .. import rules, selectors, services, submission
from ..choices import NEEDS_CHECK_STATUSES, RESUBMITTABLE_STATUSES, REVIEWABLE_STATUSES, OrderStatus
from ..models import (
    Attachment,
    Contact,
    Order,
    OrderCage,
    OrderEvent,
    UpstreamCall,
    Visitor,
)
from ..upstream import payloads
from ..web.messages import Names, local_time, reason_words
from .common import ReadOnlyAdminMixin, bullet_list, organization_filters, pretty_json, visit_window

logger = logging.getLogger(__name__)

# A QUEUED order not sent for this long, or a submission running this long, needs an operator's look.
STUCK_AFTER = timedelta(minutes=30)
REVIEW_PERMISSION = "workvisits.review_order"
RESUBMIT_PERMISSION = "workvisits.resubmit_order"
LINK_PLACEHOLDER = "0-object-id-0"  # an object id no admin URL holds otherwise


# ---------------------------------------------------------------------------------------------
# Orders.
class OrderPartInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Parts of an order are shown with it, to whoever may view the order, and never edited here."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("workvisits.view_order")


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
        max_length=rules.UPSTREAM_ORDER_ID_MAX,
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


# The order page's buttons: (label, whether the order's status allows the action), from the statuses the
# services accept. The services decide; this only chooses which buttons to show.
STATUS_ACTIONS = {
    "approve_orders": ("Approve", REVIEWABLE_STATUSES.__contains__),
    "reject_orders": ("Reject…", REVIEWABLE_STATUSES.__contains__),
    "resubmit_orders": ("Resubmit", RESUBMITTABLE_STATUSES.__contains__),
    "link_upstream_orders": ("Link to upstream order…", NEEDS_CHECK_STATUSES.__contains__),
    "confirm_not_upstream": ("Not upstream: resubmit", NEEDS_CHECK_STATUSES.__contains__),
    "cancel_orders": ("Cancel…", rules.order_is_open),
}


class BoundedCountPaginator(Paginator):
    """Counts exactly up to EXACT_COUNT_UP_TO rows; a longer list shows the planner's estimate instead of
    counting every row on every page (selectors.bounded_count). Two cheap queries for any length of list."""

    EXACT_COUNT_UP_TO = selectors.COUNT_EXACTLY_UP_TO

    @cached_property
    def count(self) -> int:
        return selectors.bounded_count(self.object_list, self.EXACT_COUNT_UP_TO)[0]


def _each_order(service, actor: str, verb: str, *, description: str, permission: str):
    """An admin action calling `service(<actor>=the staff member, order_pk=...)` for each selected order."""

    @admin.action(description=description, permissions=[permission])
    def action(self, request, queryset):
        self._apply(request, queryset, verb, lambda order: service(**{actor: request.user}, order_pk=order.pk))

    return action


def _each_order_with_reason(service, actor: str, verb: str, *, title: str, description: str, permission: str):
    """The same with a reason asked on an intermediate page first (rejecting, cancelling)."""

    @admin.action(description=description, permissions=[permission])
    def action(self, request, queryset):
        return self._reason_page(
            request,
            queryset,
            title,
            lambda order, reason: service(**{actor: request.user}, order_pk=order.pk, reason=reason),
            verb,
        )

    return action


# What a row of the order list shows: list_display's cells, the operators' work list's four more.
LIST_COLUMNS = (
    "order_id",
    "status",
    "visit_start",
    "visit_end",
    "organization__name",
    "ibx__code",
    "ibx__timezone",
    "customer_reference_id",
    "submit_attempts",
    "first_attempt_at",
    "last_error",
)


# Where the list's rows keep their parts (OrderAdmin._list_rows): on PostgreSQL arrays of cage ids and of
# visitors' name fields (selectors.VISITOR_NAME_FIELDS); elsewhere prefetched models in plain lists.
LISTED_CAGE_IDS = "listed_cage_ids"
LISTED_PEOPLE = "listed_people"
LISTED_CAGES = "listed_cages"
LISTED_VISITORS = "listed_visitors"


def _listed(order: Order, attr: str, related: str):
    """An order's prefetched parts of the list, or (elsewhere) its related manager's."""
    parts = getattr(order, attr, None)
    return parts if parts is not None else getattr(order, related).all()


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    # Five columns that fit a 1280 px screen with the status always in view; the rest is on the order page.
    list_display = ("order_id", "status", "visit_window", "where", "visitor_list")
    list_filter = ("status", NeedsOperatorFilter, "ibx", *organization_filters(), VisitDateFilter)
    search_fields = selectors.STAFF_SEARCH_FIELDS
    search_help_text = "Order id, customer reference, upstream id, or a visitor's or contact's name or email."
    # At hundreds of thousands of orders: no date hierarchy (its year links are a DISTINCT over every
    # row; the visit-date filter covers dates), no second count of the unfiltered table, and a page
    # count that stops counting at EXACT_COUNT_UP_TO rows.
    show_full_result_count = False
    # Each row goes through the admin's per-cell rendering (a checkbox widget, a link, several cells): the
    # list's time is its rows', so a page holds 50 (docs/performance.md, "Scale").
    list_per_page = 50
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

    def action_checkbox(self, obj):
        """The row's selection box, the same HTML as the admin's own: written out, not rendered through a
        form widget's template, which took a sixth of the list's time (docs/performance.md, "Scale")."""
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            ACTION_CHECKBOX_NAME,
            obj.pk,
            format_html(gettext("Select this object for an action - {}"), str(obj)),
        )

    def get_search_results(self, request, queryset, search_term):
        """The admin's search, word by word as its own (each word somewhere in the order, its visitors or
        contacts; quotes keep a phrase together), each word's orders found through the trigram indexes
        (`selectors.staff_order_matches`) on PostgreSQL: the admin's own OR across the joined visitors,
        contacts and users read every row of each (about 4 s at 300,000 orders). Unlike the admin's own,
        two words may be found in two different people of the order."""
        if connection.vendor != "postgresql":
            return super().get_search_results(request, queryset, search_term)
        for word in smart_split(search_term):
            if word.startswith(('"', "'")) and word[0] == word[-1]:
                word = unescape_string_literal(word)
            queryset = queryset.filter(selectors.staff_order_condition(word))
        return queryset, False

    def get_readonly_fields(self, request, obj=None):
        return [f for fieldset in self.fieldsets for f in fieldset[1]["fields"]]

    def get_list_display(self, request):
        columns = self.list_display
        if not ({IS_POPUP_VAR, TO_FIELD_VAR} & set(request.GET)):
            columns = (self._order_link(request), *columns[1:])
        # The operators' work list also says how often each order was tried and why it failed.
        if request.GET.get(NeedsOperatorFilter.parameter_name):
            return (*columns, "reference_sent", "submit_attempts", "first_attempt_at", "short_last_error")
        return columns

    def get_list_display_links(self, request, list_display):
        return None if callable(list_display[0]) else super().get_list_display_links(request, list_display)

    def _order_link(self, request):
        """The first column, linking each row to its order page with the list's filters kept, as the admin's
        own link does; the admin's link resolves its own URL again for every row (a sixth of the list's time,
        docs/performance.md, "Scale"), this one reverses the URL once per page."""
        # The change URL around a placeholder object id, split once; each row's id goes between the parts.
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_change"
        url = reverse(name, args=[LINK_PLACEHOLDER], current_app=self.admin_site.name)
        before, _, after = url.partition(LINK_PLACEHOLDER)
        preserved = self.get_preserved_filters(request)
        after += f"?{preserved}" if preserved else ""

        @admin.display(description="order id", ordering="order_id")
        def order_id(obj):
            return format_html('<a href="{}{}{}">{}</a>', before, quote(obj.pk), after, obj.order_id)

        return order_id

    @admin.display(description="last error")
    def short_last_error(self, obj):
        return obj.last_error[:120]

    @admin.display(description="reference sent upstream")
    def reference_sent(self, obj):
        return payloads.sent_reference(obj)

    def get_queryset(self, request):
        # The list and its actions (their pages show the same columns) read the narrowed rows; the order page all.
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == "workvisits_order_changelist":
            return self._list_rows(super().get_queryset(request))
        return (
            super()
            .get_queryset(request)
            .select_related("organization", "ibx", "ordered_by")
            .prefetch_related(
                Prefetch("cages", queryset=OrderCage.objects.select_related("cage").order_by("id")),
                Prefetch("visitors", queryset=Visitor.objects.select_related("user").order_by("id")),
            )
        )

    @staticmethod
    def _list_rows(orders):
        """The list's rows with the columns its cells show (the operators' four more included), not the
        payloads, reasons and the rest only the order's own page shows: a third of the list's time was
        making the rows' models. On PostgreSQL each row's cage ids and visitors come in the same
        statement, as arrays (`ArraySubquery`): no model per cage and visitor, none referring back to
        its order (a cycle only the garbage collector frees), two queries fewer. Elsewhere they are
        prefetched into plain lists (`to_attr`), not into the related managers, where each row's parts
        cost a queryset clone of their own."""
        rows = orders.select_related("organization", "ibx").only(*LIST_COLUMNS)
        if connection.vendor == "postgresql":
            parts_of_row = {"order": OuterRef("pk")}
            return rows.annotate(
                **{
                    LISTED_CAGE_IDS: ArraySubquery(
                        OrderCage.objects.filter(**parts_of_row).order_by("id").values("cage__cage_id")
                    ),
                    LISTED_PEOPLE: ArraySubquery(
                        Visitor.objects.filter(**parts_of_row)
                        .order_by("id")
                        .values(person=JSONArray(*selectors.VISITOR_NAME_FIELDS))
                    ),
                }
            )
        return rows.prefetch_related(
            Prefetch(
                "cages",
                queryset=OrderCage.objects.select_related("cage").only("order_id", "cage__cage_id").order_by("id"),
                to_attr=LISTED_CAGES,
            ),
            Prefetch(
                "visitors",
                queryset=Visitor.objects.select_related("user")
                .only("order_id", *selectors.VISITOR_NAME_FIELDS)
                .order_by("id"),
                to_attr=LISTED_VISITORS,
            ),
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
        cage_ids = getattr(obj, LISTED_CAGE_IDS, None)
        if cage_ids is None:
            cage_ids = [c.cage.cage_id for c in _listed(obj, LISTED_CAGES, "cages")]
        return ", ".join(cage_ids)

    @admin.display(description="organization · cages", ordering="organization__name")
    def where(self, obj):
        return f"{obj.organization} · {self.cage_list(obj)}"

    @admin.display(description="visit (IBX time)", ordering="visit_start")
    def visit_window(self, obj):
        return visit_window(obj)

    @admin.display(description="visitors")
    def visitor_list(self, obj):
        people = getattr(obj, LISTED_PEOPLE, None)
        if people is None:
            names = [v.name for v in _listed(obj, LISTED_VISITORS, "visitors")]
        else:
            names = [selectors.visitor_name(*person) for person in people]
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

    def _reason_page(self, request, queryset, title: str, call, verb: str):
        """The intermediate page asking why; the reason goes on each order's timeline."""
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            self._apply(request, queryset, verb, lambda order: call(order, reason))
            return None  # back to the list
        # Posted again to the action the admin's form named.
        action = request.POST["action"]
        return self._action_page(request, "action_reason.html", title, form, queryset.order_by("pk"), action, verb=verb)

    def _action_page(self, request, template: str, title: str, form, orders, action: str, **extra):
        """An action's intermediate page: the form, the orders it applies to, and the action to post again."""
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "form": form,
            "orders": orders,
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            **extra,
        }
        return TemplateResponse(request, f"admin/workvisits/order/{template}", context)

    approve_orders = _each_order(
        services.order_approve,
        "reviewer",
        "approved",
        description="Approve the selected orders (queue them for the data centre)",
        permission="review",
    )
    reject_orders = _each_order_with_reason(
        services.order_reject,
        "reviewer",
        "rejected",
        title="Reject orders",
        description="Reject the selected orders, telling the customer why",
        permission="review",
    )
    resubmit_orders = _each_order(
        services.order_resubmit,
        "operator",
        "resubmitted",
        description="Resubmit the selected FAILED orders",
        permission="resubmit",
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
        return self._action_page(
            request, "action_link.html", "Link to the data centre's order", form, queryset, "link_upstream_orders"
        )

    confirm_not_upstream = _each_order(
        submission.order_confirm_not_upstream,
        "operator",
        "resubmitted",
        description="Confirm the selected orders are not at the data centre and resubmit them",
        permission="resubmit",
    )
    cancel_orders = _each_order_with_reason(
        services.order_staff_cancel,
        "staff",
        "cancelled",
        title="Cancel orders",
        description="Cancel the selected orders, telling the customer why",
        permission="staff_cancel",
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
