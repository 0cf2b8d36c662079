"""The admin's views of the visits, for staff with the orders' view permission (reviewers, operators):
the door list (today's and tomorrow's visits of every organization, per IBX, in each IBX's own days
and time, for the people who let visitors in; printable) and the calendar of every organization's
visits (the customers' month and week pages, across organizations)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone

from .. import selectors
from ..choices import OrderStatus
from ..models import IBX, Order, Organization
from ..web import visits_calendar
from ..web.messages import zone_label
from ..web.visits_calendar import local_days

DOOR_PERMISSION = "workvisits.view_order"


def door_days(orders, ibxs, now) -> list[dict]:
    """Per IBX: its zone, and its today and tomorrow (local days), each with the visits on it, soonest first."""
    by_ibx: dict[int, list[Order]] = {}
    for order in orders:
        by_ibx.setdefault(order.ibx_id, []).append(order)
    result = []
    for ibx in ibxs:
        today = now.astimezone(ibx.zone).date()
        days = []
        for label, day in (("Today", today), ("Tomorrow", today + timedelta(days=1))):
            entries = [e for order in by_ibx.get(ibx.pk, []) for e in local_days(order, day, day)]
            entries.sort(key=lambda e: (e.start, e.order.order_id))
            days.append({"label": label, "day": day, "entries": entries})
        result.append({"ibx": ibx, "zone": zone_label(ibx.zone, now), "days": days})
    return result


def door_list_view(request):
    """The door list, for one IBX (``?ibx=DC2``) or all of them."""
    if not request.user.has_perm(DOOR_PERMISSION):
        raise PermissionDenied
    now = timezone.now()
    all_ibxs = list(IBX.objects.filter(active=True).order_by("code"))
    code = request.GET.get("ibx", "")
    ibxs = [i for i in all_ibxs if i.code == code] or all_ibxs
    code = code if len(ibxs) == 1 and ibxs[0].code == code else ""
    todays = [now.astimezone(i.zone).date() for i in ibxs] or [now.date()]
    orders = selectors.door_orders(first_day=min(todays), last_day=max(todays) + timedelta(days=1), ibx=code)
    more = len(orders) > selectors.CALENDAR_MAX_VISITS
    context = {
        **admin.site.each_context(request),
        "title": "Door list: today's and tomorrow's visits",
        "opts": Order._meta,
        "ibxs": door_days(orders[: selectors.CALENDAR_MAX_VISITS], ibxs, now),
        "all_ibxs": all_ibxs,
        "chosen": code,
        "more": more,
        "max_visits": selectors.CALENDAR_MAX_VISITS,
        "now": now,
    }
    return TemplateResponse(request, "admin/workvisits/order/door_list.html", context)


class StaffCalendarFilters(forms.Form):
    ibx = forms.ChoiceField(label="IBX", required=False)
    organization = forms.ChoiceField(label="Organization", required=False)
    status = forms.ChoiceField(label="Status", required=False)

    def __init__(self, *args, ibxs=(), organizations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ibx"].choices = [("", "Every IBX")] + [(i.code, f"{i.code} – {i.name}") for i in ibxs]
        named = [(str(o.pk), o.name) for o in organizations]
        self.fields["organization"].choices = [("", "Every organization"), *named]
        self.fields["status"].choices = [("", "Any status"), *OrderStatus.choices]


def staff_calendar_view(request):
    """Every organization's visits, a month or a week (``?view=week&date=2027-03-15``), narrowed by IBX,
    organization and status; each visit on the local days of its IBX, linked to its admin page."""
    if not request.user.has_perm(DOOR_PERMISSION):
        raise PermissionDenied
    today = visits_calendar.user_today(request.user)
    span = visits_calendar.requested_span(request, today)
    params = StaffCalendarFilters(
        request.GET or None,
        ibxs=IBX.objects.order_by("code"),
        organizations=Organization.objects.order_by("name").only("pk", "name"),
    )
    data = params.cleaned_data if params.is_valid() else {}
    orders = selectors.staff_calendar_orders(
        first_day=span.first_day,
        last_day=span.last_day,
        ibx=data.get("ibx") or "",
        organization_id=int(data["organization"]) if data.get("organization") else None,
        statuses=(data["status"],) if data.get("status") else (),
    )
    kept = {k: v for k, v in data.items() if v}
    context = {
        **admin.site.each_context(request),
        **visits_calendar.page_context(orders, span, today, kept),
        "title": f"Visits calendar: {span.title}",
        "opts": Order._meta,
        "filters": params,
        "staff": True,
    }
    return TemplateResponse(request, "admin/workvisits/order/visits_calendar.html", context)
