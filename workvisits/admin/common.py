"""What the admin's pages share: how a visit, a JSON body and a list are shown; the read-only mixin."""

from __future__ import annotations

import json

from django.utils.html import format_html, format_html_join

from ..models import (
    Order,
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
