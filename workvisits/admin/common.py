"""What the admin's pages share: how a visit, a JSON body and a list are shown; the read-only mixin; the
organization filters."""

from __future__ import annotations

import json

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import PAGE_VAR
from django.utils.html import format_html, format_html_join

from ..models import (
    Order,
    Organization,
)


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
# Filters by organization: a data centre has thousands of customers, so the lists neither read nor show
# them one link each (the admin's own filter of a foreign key did: 2,000 organizations made the order
# list 230 KB and 56 ms instead of 62 KB and 20 ms, docs/performance.md, "Scale").
def organization_filters(path: str = "organization") -> tuple[type, type]:
    """The filters of a list by the organization at `path` (a lookup from the list's model): the one chosen
    by a link (`?<path>__id__exact=N`, as the admin's own filter wrote it), shown so it can be removed, and
    a text box narrowing the list to the organizations whose name holds what is typed in."""

    class ChosenOrganization(admin.SimpleListFilter):
        title = "organization"
        parameter_name = f"{path}__id__exact"

        def lookups(self, request, model_admin):
            # Only the one chosen, if any: a filter with a choice is applied (and one without is not).
            value = self.value()
            if value is None:
                return []
            found = list(Organization.objects.filter(pk=value).values_list("pk", "name")) if _is_number(value) else []
            return found or [(value, "No such organization")]

        def queryset(self, request, queryset):
            value = self.value()
            if value is None:
                return queryset
            if not _is_number(value):
                raise IncorrectLookupParameters(f"{self.parameter_name} must be an organization's number")
            return queryset.filter(**{f"{path}__id": value})

    class OrganizationName(admin.SimpleListFilter):
        title = "organization name"
        parameter_name = f"{path}_name"
        template = "admin/workvisits/text_filter.html"

        def lookups(self, request, model_admin):
            return [("", "")]  # shown on every list; its template draws a text box, not this choice

        def queryset(self, request, queryset):
            text = (self.value() or "").strip()
            return queryset.filter(**{f"{path}__name__icontains": text}) if text else queryset

        def choices(self, changelist):
            # "All" (the text removed), and what the text box's form sends along: the list's other
            # parameters (its filters, search and sorting), not its page.
            kept = [
                (name, value) for name, value in self.request.GET.items() if name not in (self.parameter_name, PAGE_VAR)
            ]
            query_string = changelist.get_query_string(remove=[self.parameter_name])
            yield {"selected": self.value() is None, "query_string": query_string, "display": "All", "kept": kept}

    return ChosenOrganization, OrganizationName


def _is_number(value: str | None) -> bool:
    """A key as a link writes it: ASCII digits, short enough for the key's column."""
    return bool(value) and value.isascii() and value.isdigit() and len(value) <= 18
