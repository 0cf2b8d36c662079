"""The visits calendar: a month or a week of the visits a user may see, each on the local days of its IBX.

Laid out here from the orders one selector reads; the customers' page and the staff's door list use it.
"""

from __future__ import annotations

import calendar as stdlib_calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from .. import rules, selectors
from ..choices import OrderStatus
from . import forms
from .messages import zone_label
from .views import order_filters  # the dashboard's reading of its filter form

MONTH, WEEK = "month", "week"

# The local days a visit can fall on: a stored instant (rules' bounds) seen from UTC-12 to UTC+14. A page
# outside them shows the nearest one inside, so no day, arrow or query reaches past the ends of Python's dates.
FIRST_DAY = (rules.EARLIEST_INSTANT - selectors.CALENDAR_ZONE_SLACK_AFTER).date()  # 31 December 0001
LAST_DAY = (rules.LATEST_INSTANT - timedelta(microseconds=1) + selectors.CALENDAR_ZONE_SLACK_BEFORE).date()

# Each status's colour family on the calendar (its name is always written beside it: colour is a help,
# never the only sign). Bootstrap's "subtle" backgrounds with "emphasis" text keep the contrast.
STATUS_TONES = {
    OrderStatus.PENDING_REVIEW: "warning",
    OrderStatus.NEEDS_CHECK: "warning",
    OrderStatus.ON_HOLD: "warning",
    OrderStatus.QUEUED: "info",
    OrderStatus.SUBMITTED: "primary",
    OrderStatus.RECEIVED: "primary",
    OrderStatus.IN_PROGRESS: "primary",
    OrderStatus.CLOSED: "success",
    OrderStatus.CANCELLED: "secondary",
    OrderStatus.REJECTED: "danger",
    OrderStatus.FAILED: "danger",
}
TONE_WORDS = {
    "warning": "waiting or held",
    "info": "waiting for the data centre",
    "primary": "with the data centre",
    "success": "done",
    "secondary": "cancelled",
    "danger": "refused or failed",
}


@dataclass
class Entry:
    """One visit on one local day of its IBX."""

    order: object
    day: date
    start: datetime  # local, in the IBX's zone
    end: datetime
    first_day: bool
    last_day: bool

    @property
    def tone(self) -> str:
        return STATUS_TONES.get(self.order.status, "secondary")

    @property
    def status_label(self) -> str:
        return OrderStatus(self.order.status).label if self.order.status in OrderStatus.values else self.order.status

    @property
    def hours(self) -> str:
        """``09:00–17:00 EST``, ``from 22:00 EST``, ``until 06:00 EST`` or ``all day``: the IBX's time, zone named."""
        if self.first_day and self.last_day:
            if (self.start.tzname(), self.start.utcoffset()) == (self.end.tzname(), self.end.utcoffset()):
                return f"{self.start:%H:%M}–{self.end:%H:%M} {self.end.tzname()}"
            # Across a clock change each end is named in its own offset: 01:30 CET–04:30 CEST.
            return f"{self.start:%H:%M} {self.start.tzname()}–{self.end:%H:%M} {self.end.tzname()}"
        if self.first_day:
            return f"from {self.start:%H:%M} {self.start.tzname()}"
        if self.last_day:
            return f"until {self.end:%H:%M} {self.end.tzname()}"
        return "all day"


@dataclass
class Day:
    day: date
    in_span: bool  # false for the days of the next or previous month that fill a month's weeks
    is_today: bool
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Span:
    """The days a calendar page shows, and where its arrows lead."""

    view: str
    anchor: date
    first_day: date  # the grid's first day (a Monday)
    last_day: date  # its last (a Sunday)
    title: str
    previous: date | None  # None at the first span the calendar shows
    next: date | None  # and at its last
    notice: str = ""  # why the page shows another span than the one asked for


def _month_name(day: date, form: str = "%B") -> str:
    return f"{day:{form}} {day.year:04d}"  # strftime's %Y leaves years before 1000 unpadded


def _long_date(day: date) -> str:
    return f"{day.day} {_month_name(day)}"


def span_of(view: str, anchor: date) -> Span:
    """The week or month holding `anchor` (brought within FIRST_DAY..LAST_DAY), with its arrows' dates."""
    anchor = min(max(anchor, FIRST_DAY), LAST_DAY)
    monday = anchor - timedelta(days=anchor.weekday())
    if view == WEEK:
        sunday = monday + timedelta(days=6)
        if monday.month == sunday.month:
            title = f"{monday.day}–{sunday.day} {_month_name(sunday)}"
        elif monday.year == sunday.year:
            title = f"{monday.day} {monday:%b} – {sunday.day} {_month_name(sunday, '%b')}"
        else:
            title = f"{monday.day} {_month_name(monday, '%b')} – {sunday.day} {_month_name(sunday, '%b')}"
        previous = max(anchor - timedelta(days=7), FIRST_DAY) if monday > FIRST_DAY else None
        following = min(anchor + timedelta(days=7), LAST_DAY) if sunday < LAST_DAY else None
        return Span(WEEK, anchor, monday, sunday, f"Week of {title}", previous, following)
    first = anchor.replace(day=1)
    days_in_month = stdlib_calendar.monthrange(first.year, first.month)[1]
    last = first.replace(day=days_in_month)
    grid_first = first - timedelta(days=first.weekday())
    grid_last = last + timedelta(days=6 - last.weekday())
    previous = max((first - timedelta(days=1)).replace(day=1), FIRST_DAY) if first > FIRST_DAY else None
    following = last + timedelta(days=1) if last < LAST_DAY else None
    return Span(MONTH, first, grid_first, grid_last, _month_name(first), previous, following)


def local_days(order, first_day: date, last_day: date) -> list[Entry]:
    """The order's visit on each local day of its IBX within first_day..last_day (a visit ending at
    midnight does not show on the day that midnight starts)."""
    zone = ZoneInfo(order.ibx.timezone)
    start = order.visit_start.astimezone(zone)
    end = order.visit_end.astimezone(zone)
    start_day = start.date()
    end_day = end.date() if end.timetz().replace(tzinfo=None) != time(0) else end.date() - timedelta(days=1)
    end_day = max(end_day, start_day)
    entries = []
    day = max(start_day, first_day)
    while day <= min(end_day, last_day):
        entries.append(Entry(order, day, start, end, day == start_day, day == end_day))
        day += timedelta(days=1)
    return entries


def lay_out(orders, span: Span, today: date) -> list[Day]:
    """The span's days, each with its visits in IBX order, then by start."""
    days = {}
    day = span.first_day
    while day <= span.last_day:
        in_span = span.view == WEEK or day.month == span.anchor.month
        days[day] = Day(day, in_span, day == today)
        day += timedelta(days=1)
    for order in orders:
        for entry in local_days(order, span.first_day, span.last_day):
            days[entry.day].entries.append(entry)
    for each in days.values():
        each.entries.sort(key=lambda e: (e.order.ibx.code, e.start, e.order.order_id))
    return list(days.values())


def zones_shown(orders, on: date) -> list[tuple[str, str]]:
    """Each IBX on the page with its zone (``DC2``, ``America/New_York (EST, UTC−05:00)``) on the date `on`."""
    moment = datetime.combine(on, time(12), tzinfo=timezone.get_fixed_timezone(0))
    ibxs = {order.ibx.code: order.ibx.timezone for order in orders}
    return [(code, zone_label(ZoneInfo(name), moment)) for code, name in sorted(ibxs.items())]


def legend() -> list[tuple[str, str, list[str]]]:
    """(tone, words, status names) for the page's key."""
    by_tone: dict[str, list[str]] = {}
    for status, tone in STATUS_TONES.items():
        by_tone.setdefault(tone, []).append(status.label)
    return [(tone, TONE_WORDS[tone], labels) for tone, labels in by_tone.items()]


def user_today(user) -> date:
    """Today where the user is (their time zone when they set a valid one, else UTC)."""
    name = getattr(user, "timezone", "") or ""
    zone = ZoneInfo(name) if rules.valid_timezone(name) else timezone.get_fixed_timezone(0)
    return timezone.now().astimezone(zone).date()


def _anchor(value: str | None, today: date) -> date:
    try:
        return date.fromisoformat(value) if value else today
    except ValueError:
        return today


def _holds(span: Span, day: date) -> bool:
    """Whether `day` is one of the span's own days (not one of the next or previous month's in its grid)."""
    if span.view == WEEK:
        return span.first_day <= day <= span.last_day
    return (day.year, day.month) == (span.anchor.year, span.anchor.month)


def _week_of(span: Span, today: date) -> date:
    """The week the "Week" button opens: this week when the month shown holds today, else the span's first
    (the calendar's first day, in the month that holds it)."""
    if span.view == MONTH and _holds(span, today):
        return today
    return max(span.anchor, FIRST_DAY)


def requested_span(request, today: date) -> Span:
    """The span the page's ``view`` and ``date`` parameters name (this month by default); for a date
    outside FIRST_DAY..LAST_DAY, the nearest span inside, with a notice saying so."""
    view = WEEK if request.GET.get("view") == WEEK else MONTH
    anchor = _anchor(request.GET.get("date"), today)
    span = span_of(view, anchor)
    if not _holds(span, anchor):
        span.notice = (
            f"The calendar covers {_long_date(FIRST_DAY)} to {_long_date(LAST_DAY)}. {_long_date(anchor)} is "
            f"outside it, so this is the nearest {view} to that date."
        )
    return span


def page_context(orders: list, span: Span, today: date, kept: dict) -> dict:
    """What a calendar page shows of `orders` (at most CALENDAR_MAX_VISITS + 1, as the selectors read
    them); `kept` are the filters its links keep."""
    more = len(orders) > selectors.CALENDAR_MAX_VISITS
    orders = orders[: selectors.CALENDAR_MAX_VISITS]

    def link(view: str, day: date | None) -> str:
        return "?" + urlencode({**kept, "view": view, "date": day.isoformat()}) if day else ""

    return {
        "span": span,
        "days": lay_out(orders, span, today),
        "weekdays": [stdlib_calendar.day_name[i] for i in range(7)],
        "zones": zones_shown(orders, span.anchor),
        "legend": legend(),
        "more": more,
        "max_visits": selectors.CALENDAR_MAX_VISITS,
        "filter_query": kept,
        "links": {
            "previous": link(span.view, span.previous),
            "next": link(span.view, span.next),
            "today": link(span.view, today),
            "month": link(MONTH, span.anchor),
            "week": link(WEEK, _week_of(span, today)),
        },
    }


@login_required
@require_GET
def visits_calendar(request):
    """The month or week of visits the user may see, narrowed by the dashboard's filters."""
    user = request.user
    today = user_today(user)
    span = requested_span(request, today)
    ibx_codes = [ibx.code for ibx in selectors.locations_for_user(user)]
    choices = sorted(set(ibx_codes) | set(selectors.ibx_codes_with_orders(user=user)))
    params = forms.OrderFilterForm(request.GET or None, ibxs=choices)
    orders = selectors.calendar_orders(
        user=user, filters=order_filters(params), first_day=span.first_day, last_day=span.last_day
    )
    kept = {k: v for k, v in request.GET.items() if k in params.fields and v}
    context = {"filters": params, **page_context(orders, span, today, kept)}
    return render(request, "workvisits/visits_calendar.html", context)
