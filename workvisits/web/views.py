"""The customer pages: dashboard, order page and its actions, and the wizard's small helpers.

Thin views: read through selectors, write through services, show rule errors at their fields.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.forms.utils import ErrorDict
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from .. import downloads, rules, selectors, services
from ..models import Order
from . import calendar, forms
from .messages import Names
from .wizard import require_ordering_permission

PAGE_SIZE = 20


# ---------------------------------------------------------------------------------------------
# Dashboard
def order_filters(params: forms.OrderFilterForm) -> selectors.OrderFilters:
    """The dashboard's filters and search as the selectors take them (invalid ones narrow nothing)."""
    data = params.cleaned_data if params.is_bound and params.is_valid() else {}
    return selectors.OrderFilters(
        statuses=(data["status"],) if data.get("status") else (),
        ibx=data.get("ibx") or "",
        when=data.get("when") or "",
        text=data.get("q") or "",
    )


@login_required
def dashboard(request):
    user = request.user
    ibx_codes = selectors.orderable_ibx_codes(user)
    choices = sorted(set(ibx_codes) | set(selectors.ibx_codes_with_orders(user=user)))
    params = forms.OrderFilterForm(request.GET or None, ibxs=choices)
    orders = selectors.dashboard_orders(
        user=user, filters=order_filters(params), now=timezone.now(), page_size=PAGE_SIZE
    )
    paginator = Paginator(orders, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    if not page.object_list and page.number > 1 and not orders.exact:
        # Past the end of an estimated count: count every row once and show the real last page.
        paginator = Paginator(orders.counted_exactly(), PAGE_SIZE)
        page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filters": params,
        "page": page,
        "page_links": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "ellipsis": paginator.ELLIPSIS,
        "query": query.urlencode(),
        "count_exact": orders.exact,
        "may_order": bool(ibx_codes),
    }
    template = "workvisits/_order_list.html" if request.htmx else "workvisits/dashboard.html"
    return render(request, template, context)


# ---------------------------------------------------------------------------------------------
# The order page
def _order_or_404(user, order_id: str) -> Order:
    try:
        return selectors.order_for_user(user, order_id)
    except Order.DoesNotExist:
        raise Http404("No such work visit.") from None


def _local(value, zone):
    return value.astimezone(zone).replace(tzinfo=None)


# What each notice's emails were about, for the timeline's one entry per notice.
NOTICE_TITLES = {
    "submitted": "Received",
    "accepted": "Accepted",
    "modified": "Changed",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
    "failed": "Could not be sent",
    "reminder": "Reminder",
}
# Statuses an order leaves by itself soon (a reviewer, the workers or the data centre move it): the
# order page and the "placed" page look again every few seconds while it is in one of them.
MOVING_STATUSES = frozenset({"PENDING_REVIEW", "QUEUED", "NEEDS_CHECK"})
POLL_SECONDS = 3


def is_moving(order) -> bool:
    return order.status in MOVING_STATUSES or order.lease_expires_at is not None


def timeline(order) -> list[dict]:
    """The order's story, newest first; the emails of one notice are one entry ("Received: emailed to 3 people")."""
    entries: list[dict] = []
    by_notice: dict[str, dict] = {}
    for event in selectors.order_events(order):
        notice = str(event.data.get("notice") or "") if event.kind == "EMAIL" else ""
        recipient = event.data.get("recipient") if notice else None
        if recipient:
            entry = by_notice.get(notice)
            if entry is None:
                base = notice.split(":")[0]
                entry = {
                    "kind": "EMAIL",
                    "created_at": event.created_at,
                    "notice": notice,
                    "title": NOTICE_TITLES.get(base, "Email"),
                    "subject": event.data.get("subject") or "",
                    "recipients": [],
                }
                by_notice[notice] = entry
                entries.append(entry)
            entry["recipients"].append(
                {"email": recipient, "invite": event.data.get("invite") or "", "at": event.created_at}
            )
            continue
        entries.append({"kind": event.kind, "created_at": event.created_at, "event": event})
    for entry in entries:
        if "recipients" in entry:  # an email event that names no notice or recipient stays a plain entry
            count = len(entry["recipients"])
            entry["summary"] = f"{entry['title']}: emailed to {count} {'person' if count == 1 else 'people'}"
    return list(reversed(entries))


def _order_context(request, order, *, reschedule=None, notify=None, cancel=None) -> dict:
    user = request.user
    may_change = order.is_open and selectors.user_may_change_order(user, order)
    zone = order.ibx.zone
    known = {c.user_id for c in order.parts("contacts") if c.user_id and c.contact_type == "NOTIFICATION"}
    return {
        "order": order,
        "timeline": timeline(order),
        "moving": is_moving(order),
        "poll_seconds": POLL_SECONDS,
        "may_change": may_change,
        "may_order": selectors.user_may_order(user),
        "reschedule_form": reschedule
        or forms.RescheduleForm(
            zone_name=order.ibx.timezone,
            initial={
                "start": _local(order.visit_start, zone),
                "end": _local(order.visit_end, zone),
                "open_cabinet": order.open_cabinet,
                "version": order.version,
            },
        ),
        # The organization's members are read only for an order the user may change (the form's only use).
        "notify_form": notify
        or (
            forms.NotificationContactForm(
                users=[u for u in selectors.organization_users(user) if u.pk not in known],
                initial={"version": order.version},
            )
            if may_change
            else None
        ),
        "cancel_form": cancel or forms.CancelForm(),
    }


@login_required
def order_detail(request, order_id):
    order = _order_or_404(request.user, order_id)
    return render(request, "workvisits/order_detail.html", _order_context(request, order))


@login_required
def order_live(request, order_id):
    """The parts of the order page that move by themselves (htmx polls them while the order is moving)."""
    order = _order_or_404(request.user, order_id)
    if request.GET.get("placed"):
        context = {"order": order, "moving": is_moving(order), "poll_seconds": POLL_SECONDS}
        return render(request, "workvisits/_placed_live.html", context)
    shown = request.GET.get("shown")
    if shown and shown != order.status and request.htmx:
        # The status moved: the whole page changes (its actions, the reasons of a rejection).
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    context = {"order": order, "timeline": timeline(order), "moving": is_moving(order), "poll_seconds": POLL_SECONDS}
    return render(request, "workvisits/_order_live.html", context)


@login_required
def order_confirmation(request, order_id):
    order = _order_or_404(request.user, order_id)
    context = {"order": order, "moving": is_moving(order), "poll_seconds": POLL_SECONDS}
    response = render(request, "workvisits/order_confirmation.html", context)
    # Back from here must not show the wizard's last step from the browser's cache.
    response["Cache-Control"] = "no-store"
    return response


@login_required
def order_calendar(request, order_id):
    """The visit as an .ics file for "Add to calendar"."""
    order = _order_or_404(request.user, order_id)
    response = HttpResponse(calendar.order_ics(order), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{order.order_id}.ics"'
    return response


@login_required
def calendar_settings(request):
    """The user's private calendar feed: make a new link (the old one stops working) or switch it off."""
    feed_url = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            services.calendar_feed_revoke(user=request.user)
            messages.success(request, "Your calendar feed is switched off; its link no longer works.")
            return redirect("calendar_settings")
        token = services.calendar_feed_create(user=request.user)
        feed_url = calendar.feed_url(request, token)
    context = {"feed_url": feed_url, "has_feed": selectors.calendar_feed_active(request.user)}
    return render(request, "workvisits/calendar.html", context)


@require_GET
def calendar_feed(request, token):
    """The feed a calendar application subscribes to: no session, the token in the URL is the key."""
    user = selectors.calendar_feed_user(token)
    if user is None:
        raise Http404("No such calendar feed.")
    response = HttpResponse(calendar.feed_ics(user), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response


def _change_view(request, order_id, *, make_form, change, panel: str, success_message: str):
    """A change panel of the order page (reschedule, add a contact, cancel): a valid form goes to the
    service `change(order, form)`; rule errors come back at their fields, a conflict as a message.
    `success_message` may name `{order_id}`."""
    order = _order_or_404(request.user, order_id)
    if not selectors.user_may_change_order(request.user, order):
        raise PermissionDenied(rules.CHANGE_DENIED)
    form = make_form(order)
    if form.is_valid():
        try:
            change(order, form)
        except services.OrderNotFound:
            raise Http404("No such work visit.") from None
        except services.OrderChangeDenied:
            raise PermissionDenied(rules.CHANGE_DENIED) from None
        except services.OrderConflict as exc:
            messages.error(request, exc.message)
            return redirect("order_detail", order_id=order.order_id)
        except rules.RuleViolation as exc:
            forms.apply_rule_errors(form, exc.errors, form.field_for, Names.from_order(order))
        else:
            messages.success(request, success_message.format(order_id=order.order_id))
            return redirect("order_detail", order_id=order.order_id)
    context = _order_context(request, order, **{panel: form})
    context["open_panel"] = panel
    return render(request, "workvisits/order_detail.html", context, status=400)


def _modify(request):
    """The change of a valid reschedule or notification-contact form, at the version the page showed."""

    def change(order, form):
        services.order_modify(
            user=request.user, order_id=order.order_id, data=form.body(), expected_version=form.cleaned_data["version"]
        )

    return change


@login_required
@require_POST
def order_reschedule(request, order_id):
    return _change_view(
        request,
        order_id,
        make_form=lambda order: forms.RescheduleForm(request.POST, zone_name=order.ibx.timezone, user=request.user),
        change=_modify(request),
        panel="reschedule",
        success_message="The visit has been changed.",
    )


@login_required
@require_POST
def order_add_notification(request, order_id):
    return _change_view(
        request,
        order_id,
        make_form=lambda order: forms.NotificationContactForm(
            request.POST, users=selectors.organization_users(request.user), user=request.user
        ),
        change=_modify(request),
        panel="notify",
        success_message="The notification contact has been added.",
    )


@login_required
@require_POST
def order_cancel(request, order_id):
    return _change_view(
        request,
        order_id,
        make_form=lambda order: forms.CancelForm(request.POST),
        change=lambda order, form: services.order_cancel(
            user=request.user, order_id=order.order_id, reason=form.cleaned_data["reason"]
        ),
        panel="cancel",
        success_message="Work visit {order_id} has been cancelled.",
    )


@login_required
def attachment_download(request, order_id, attachment_id):
    order = _order_or_404(request.user, order_id)
    if not any(str(a.id) == str(attachment_id) for a in order.parts("attachments")):
        raise Http404("No such attachment.")
    return downloads.attachment_download(request.user, attachment_id)


# ---------------------------------------------------------------------------------------------
# The wizard's helpers: the dependent choices, the live schedule check, uploads.
def _wizard_location_form(request):
    """Step 1's form as typed so far, to redraw its choices; not judged yet (that happens on Next)."""
    form = forms.LocationForm(
        request.GET,
        prefix="location",
        user=request.user,
        ctx=None,
        locations=selectors.locations_for_user(request.user),
    )
    form._errors = ErrorDict()
    return form


@login_required
@require_GET
def wizard_cages(request):
    """The cage rows of the IBX chosen in step 1 (htmx), keeping what was already ticked."""
    require_ordering_permission(request.user)
    form = _wizard_location_form(request)
    return render(request, "workvisits/_cage_rows.html", {"form": form, "rows": form.rows_for(form.selected_ibx())})


@login_required
@require_GET
def wizard_cabinets(request):
    """The cabinet options of one cage for the account chosen (htmx)."""
    require_ordering_permission(request.user)
    form = _wizard_location_form(request)
    cage_id = request.GET.get("cage", "")
    ibx = next((i for i in form.locations for c in i.orderable_cages if c.cage_id == cage_id), None)
    row = next((r for r in form.rows_for(ibx) if r["cage"].cage_id == cage_id), None)
    if row is None:
        return HttpResponseBadRequest("Unknown cage.")
    return render(request, "workvisits/_cabinet_options.html", {"row": row})


@login_required
@require_POST
def wizard_schedule_check(request):
    """The visit window as typed, in UTC, with the rules' verdict: shown live beside the fields (htmx)."""
    require_ordering_permission(request.user)
    code = request.POST.get("ibx", "")
    ibx = next((i for i in selectors.locations_for_user(request.user) if i.code == code), None)
    if ibx is None:
        return HttpResponseBadRequest("Unknown IBX.")
    form = forms.ScheduleForm(request.POST, prefix="schedule", zone_name=ibx.timezone, user=request.user, ctx=None)
    form.is_valid()
    return render(request, "workvisits/_schedule_check.html", {"form": form, "ibx": ibx, "live": True})


@login_required
@require_POST
def wizard_upload(request):
    """Store one attachment for the wizard's details step; the content is checked by the service."""
    require_ordering_permission(request.user)
    uploaded = request.FILES.get("file")
    if uploaded is None:
        return JsonResponse({"errors": ["Choose a file to attach."]}, status=400)
    try:
        attachment = services.attachment_create(user=request.user, uploaded=uploaded, path=uploaded.name or "file")
    except rules.RuleViolation as exc:
        return JsonResponse({"errors": [e.message for e in exc.errors]}, status=400)
    row = render_to_string("workvisits/_attachment_row.html", {"attachment": attachment}, request=request)
    return JsonResponse({"id": str(attachment.id), "name": attachment.name, "html": row}, status=201)
