"""The series pages: a user's visit series, and one series' past and coming occurrences with its actions
(skip an occurrence, change from here, cancel the rest, resume). Thin: parse, call one service, redirect."""

from __future__ import annotations

from datetime import UTC

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from .. import rules, selectors, services
from .. import series as series_services
from ..choices import OccurrenceStatus, OrderStatus
from ..models import VisitSeries
from .messages import Names, local_span, rule_messages

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
OCCURRENCE_KEY_MAX = 40  # an occurrence is named by its start: ISO 8601 with its UTC offset


class OccurrenceForm(forms.Form):
    occurrence = forms.CharField(max_length=OCCURRENCE_KEY_MAX)


class ChangeForm(OccurrenceForm):
    """New start and end of one occurrence, on the IBX's wall clock; later ones move alike."""

    start = forms.DateTimeField(input_formats=[LOCAL_FORMAT], label="New start")
    end = forms.DateTimeField(input_formats=[LOCAL_FORMAT], label="New end")


class CancelRestForm(forms.Form):
    reason = forms.CharField(max_length=rules.CANCEL_REASON_MAX, label="Why")


def _series_or_404(user, series_id: str) -> VisitSeries:
    try:
        return series_services.series_for_user(user, series_id)
    except series_services.SeriesNotFound:
        raise Http404("No such visit series.") from None


def _status_words(status: str) -> str:
    if status in OrderStatus.values:
        return OrderStatus(status).label
    return OccurrenceStatus(status).label


@login_required
def series_list(request):
    return render(request, "workvisits/series_list.html", {"series_list": selectors.series_list_for_user(request.user)})


@login_required
def series_detail(request, series_id):
    series = _series_or_404(request.user, series_id)
    now = timezone.now()
    zone = series.ibx.zone
    rows = []
    for occurrence in series.occurrences.all():
        status = occurrence.shown_status
        rows.append(
            {
                "occurrence": occurrence,
                "key": rules.format_datetime(occurrence.visit_start),
                "when": local_span(occurrence.visit_start, occurrence.visit_end, series.ibx.timezone),
                "status": status,
                "status_words": _status_words(status),
                "past": occurrence.visit_end <= now,
                "start_local": occurrence.visit_start.astimezone(zone).strftime(LOCAL_FORMAT),
                "end_local": occurrence.visit_end.astimezone(zone).strftime(LOCAL_FORMAT),
                "changeable": occurrence.visit_start > now
                and (
                    occurrence.status == OccurrenceStatus.PLANNED or (occurrence.order_id and occurrence.order.is_open)
                ),
            }
        )
    context = {
        "series": series,
        "past": [r for r in rows if r["past"]],
        "coming": [r for r in rows if not r["past"]],
        "may_change": series.status in series_services.OPEN_SERIES
        and series_services.user_may_change_series(request.user, series),
        "zone": series.ibx.timezone,
    }
    return render(request, "workvisits/series_detail.html", context)


def _act(request, series_id: str, action, success: str):
    """Run a series action for a POST; rule errors and conflicts come back as messages in words."""
    series = _series_or_404(request.user, series_id)
    if not series_services.user_may_change_series(request.user, series):
        raise PermissionDenied(rules.CHANGE_DENIED)
    try:
        action(series)
    except series_services.SeriesNotFound:
        raise Http404("No such visit series.") from None
    except services.OrderChangeDenied:
        raise PermissionDenied(rules.CHANGE_DENIED) from None
    except services.OrderConflict as exc:
        messages.error(request, exc.message.removeprefix(f"{exc.property}: "))
    except rules.RuleViolation as exc:
        for text in rule_messages(exc.errors, Names.from_body(series.template)):
            messages.error(request, text)
    else:
        messages.success(request, success)
    return redirect("series_detail", series_id=series.series_id)


def _act_on_form(request, series_id: str, form_class: type[forms.Form], action, success: str):
    """A series action from a posted form: an invalid form comes back as messages at the series page, a
    valid one runs `action(series, cleaned_data)` through _act."""
    form = form_class(request.POST)
    if form.is_valid():
        return _act(request, series_id, lambda series: action(series, form.cleaned_data), success)
    for field, problems in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for problem in problems:
            messages.error(request, f"{label or field.capitalize()}: {problem}")
    return redirect("series_detail", series_id=series_id)


@login_required
@require_POST
def series_skip(request, series_id):
    return _act_on_form(
        request,
        series_id,
        OccurrenceForm,
        lambda series, data: series_services.occurrence_skip(
            user=request.user, series_id=series.series_id, visit_start=data["occurrence"]
        ),
        "The visit is skipped; its order, if placed, is cancelled.",
    )


@login_required
@require_POST
def series_change(request, series_id):
    def change(series, data):
        zone = series.ibx.zone
        start, end = (data[name].replace(tzinfo=None).replace(tzinfo=zone).astimezone(UTC) for name in ("start", "end"))
        series_services.series_modify(
            user=request.user,
            series_id=series.series_id,
            data={
                "fromOccurrence": data["occurrence"],
                "details": {
                    "visitStartDateTime": rules.format_datetime(start),
                    "visitEndDateTime": rules.format_datetime(end),
                },
            },
        )

    return _act_on_form(request, series_id, ChangeForm, change, "The series is changed from that visit on.")


@login_required
@require_POST
def series_cancel(request, series_id):
    return _act_on_form(
        request,
        series_id,
        CancelRestForm,
        lambda series, data: series_services.series_cancel(
            user=request.user, series_id=series.series_id, reason=data["reason"]
        ),
        "The rest of the series is cancelled.",
    )


@login_required
@require_POST
def series_resume(request, series_id):
    return _act(
        request,
        series_id,
        lambda series: series_services.series_resume(user=request.user, series_id=series.series_id),
        "The series is active again.",
    )
