"""Template helpers of the customer pages: times in the IBX's zone, status badges."""

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import forms, template
from django.utils.html import format_html

from workvisits import selectors
from workvisits.choices import OrderStatus
from workvisits.web import links, messages

register = template.Library()

STATUS_STYLES = {
    OrderStatus.PENDING_REVIEW: "text-bg-warning",
    OrderStatus.QUEUED: "text-bg-info",
    OrderStatus.SUBMITTED: "text-bg-primary",
    OrderStatus.RECEIVED: "text-bg-primary",
    OrderStatus.IN_PROGRESS: "text-bg-primary",
    OrderStatus.ON_HOLD: "text-bg-warning",
    OrderStatus.CLOSED: "text-bg-success",
    OrderStatus.CANCELLED: "text-bg-secondary",
    OrderStatus.REJECTED: "text-bg-danger",
    OrderStatus.FAILED: "text-bg-danger",
    OrderStatus.NEEDS_CHECK: "text-bg-warning",
}

STATUS_LABELS = dict(OrderStatus.choices)


def _zone(where) -> ZoneInfo:
    name = getattr(where, "timezone", where) or "UTC"
    return ZoneInfo(str(name))


@register.filter
def in_zone(value: datetime | None, where) -> str:
    """`value` (UTC) in the zone of `where` (an IBX or a zone name), the zone named and the UTC time beside it."""
    if not value:
        return ""
    zone = _zone(where)
    local = value.astimezone(zone)
    utc = value.astimezone(UTC)
    # A list page shows two per row: the names by index and the zone's part made once, not strftime's
    # parsing and five escapes per time (docs/performance.md, "Scale").
    return format_html(
        '<time datetime="{}">{}</time> {} <span class="text-body-secondary small text-nowrap">({} UTC)</span>',
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z",
        f"{DAYS[local.weekday()]} {local.day:02d} {MONTHS[local.month - 1]} {local.year}, "
        f"{local.hour:02d}:{local.minute:02d}",
        _zone_abbr(zone.key, local.tzname()),
        f"{utc.day:02d} {MONTHS[utc.month - 1]} {utc.hour:02d}:{utc.minute:02d}",
    )


DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.lru_cache(maxsize=1024)
def _zone_abbr(key: str, abbreviation: str | None) -> str:
    return format_html('<abbr title="{}">{}</abbr>', key, abbreviation)


@register.filter
def parts(order, name: str) -> list:
    """The order's cages, visitors, contacts or attachments however they were read (Order.parts)."""
    return order.parts(name)


@register.filter
def zone_label(where, on: datetime | None = None) -> str:
    """`America/New_York (EDT, UTC−04:00)` for an IBX or a zone name, on the date `on` (default now)."""
    return messages.zone_label(_zone(where), on if isinstance(on, datetime) else None)


@register.filter
def rejection_words(order) -> list[str]:
    """The order's rejection reasons, each a sentence that names the field in words."""
    names = messages.Names.from_order(order)
    return [messages.reason_words(r, names) for r in order.rejection_reasons or []]


@register.filter
def note_words(note: str, order) -> str:
    """A timeline note with any JSON path in it said in words."""
    if not note or not messages.PATH_PATTERN.search(note):
        return note
    return messages.humanize("", note, messages.Names.from_order(order))


@register.filter
def purchase_order_words(order) -> str:
    """``Existing PO PO-778812, 1,250.00 USD, valid 1 Jan–31 Dec 2027``."""
    return messages.purchase_order_words(
        order.po_type, order.po_number, order.po_amount, order.po_start_date, order.po_end_date
    )


@register.filter
def status_badge(order_or_status) -> str:
    return _badge(str(getattr(order_or_status, "status", order_or_status)))


@functools.lru_cache(maxsize=64)
def _badge(status: str) -> str:
    label = STATUS_LABELS.get(status, status)
    return format_html(
        '<span class="badge {}" data-status="{}">{}</span>', STATUS_STYLES.get(status, "text-bg-light"), status, label
    )


@register.filter
def filesize(num: int) -> str:
    if num is None:
        return ""
    if num < 1024:
        return f"{num} bytes"
    if num < 1024 * 1024:
        return f"{num / 1024:.0f} KB"
    return f"{num / 1048576:.1f} MB"


def _describedby(field) -> list[str]:
    ids = []
    if field.help_text:
        ids.append(f"{field.auto_id}_help")
    if field.errors:
        ids.append(f"{field.auto_id}_error")
    return ids


@register.filter
def widget(field, extra: str = ""):
    """The field's input with Bootstrap's class and its help text and errors tied to it (aria-describedby)."""
    widget = field.field.widget
    if isinstance(widget, forms.CheckboxInput):
        css = "form-check-input"
    elif isinstance(widget, forms.Select):
        css = "form-select"
    else:
        css = "form-control"
    attrs = {"class": " ".join(filter(None, [widget.attrs.get("class", ""), css, extra]))}
    ids = _describedby(field)
    if ids:
        attrs["aria-describedby"] = " ".join(ids)
    if field.errors:
        attrs["aria-invalid"] = "true"
        attrs["class"] += " is-invalid"
    return field.as_widget(attrs=attrs)


@register.filter
def describedby(field) -> str:
    return " ".join(_describedby(field))


@register.inclusion_tag("workvisits/_field.html")
def field_row(field, extra: str = "", hint: str = ""):
    """A labelled field with its help and its errors, for every kind of widget the pages use."""
    widget = field.field.widget
    kind = "text"
    if isinstance(widget, forms.CheckboxSelectMultiple):
        kind = "checkboxes"
    elif isinstance(widget, forms.RadioSelect):
        kind = "radios"
    elif isinstance(widget, forms.CheckboxInput):
        kind = "checkbox"
    elif isinstance(widget, forms.MultipleHiddenInput | forms.HiddenInput):
        kind = "hidden"
    return {"field": field, "kind": kind, "extra": extra, "hint": hint}


@register.simple_tag(takes_context=True)
def user_may_order(context, user) -> bool:
    """Whether the menu offers "Schedule a visit": only to users who hold an ordering grant (a page whose
    view already asked passes it as `may_order`: no second query)."""
    if "may_order" in context:
        return bool(context["may_order"])
    return bool(user.is_authenticated and selectors.user_may_order(user))


@register.simple_tag
def link(view_name: str, *args, **kwargs) -> str:
    """`{% url %}` for the customer pages, each URL reversed once per process (workvisits/web/links.py)."""
    return links.url(view_name, *args, **kwargs)
