"""The admin's door list: today's and tomorrow's visits of every organization, per IBX, in each IBX's
own days and time, for the people who let visitors in. Printable; staff with the orders' view
permission (reviewers, operators) may read it."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone

from . import selectors
from .models import IBX, Order
from .web.messages import zone_label
from .web.visits_calendar import local_days

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
