"""The webhooks pages: an organization's admin registers, disables, enables and deletes endpoints,
reads their deliveries and sends one again. Thin: every write is a service of workvisits.webhooks."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from .. import rules, webhooks
from ..choices import WebhookEvent
from ..models import WEBHOOK_URL_MAX, WebhookDelivery, WebhookEndpoint


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=WEBHOOK_URL_MAX,
        help_text="An https:// address of your system on the internet, e.g. https://hooks.example.com/work-visits.",
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=WebhookEvent.values,
        error_messages={"required": "Choose at least one event."},
    )
    description = forms.CharField(max_length=webhooks.DESCRIPTION_MAX, required=False)

    def add_violation(self, violation: rules.RuleViolation) -> None:
        """The service's errors at their fields ("events[1]" belongs to events)."""
        for error in violation.errors:
            field = error.path.split("[", 1)[0].split(".", 1)[0]
            self.add_error(field if field in self.fields else None, error.message)


def _admin_only(request) -> None:
    if not webhooks.user_may_manage_webhooks(request.user):
        raise PermissionDenied("Only your organization's administrators manage its webhook endpoints.")


def _endpoint_or_404(request, endpoint_id) -> WebhookEndpoint:
    _admin_only(request)
    try:
        return webhooks.endpoint_for_user(request.user, endpoint_id)
    except WebhookEndpoint.DoesNotExist:
        raise Http404("No such webhook endpoint.") from None


# The new endpoint's secret waits in the session for the page the registration redirects to, which shows
# it once and forgets it (a reload neither registers again nor shows the secret again).
NEW_ENDPOINT_SESSION_KEY = "webhooks.new_endpoint"


@login_required
def endpoint_list(request):
    """The organization's endpoints, and the registration form; a new endpoint's secret is shown once."""
    _admin_only(request)
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = webhooks.endpoint_create(user=request.user, **form.cleaned_data)
        except rules.RuleViolation as exc:
            form.add_violation(exc)
        else:
            request.session[NEW_ENDPOINT_SESSION_KEY] = {"url": created.url, "secret": secret}
            return redirect("webhooks")
    new = request.session.pop(NEW_ENDPOINT_SESSION_KEY, None) if request.method == "GET" else None
    context = {"endpoints": webhooks.endpoints_for_user(request.user), "form": form, "new": new}
    response = render(request, "workvisits/webhooks.html", context)
    if new:
        response["Cache-Control"] = "no-store"
    return response


@login_required
def endpoint_detail(request, endpoint_id):
    endpoint = _endpoint_or_404(request, endpoint_id)
    context = {"endpoint": endpoint, "deliveries": webhooks.deliveries_for_endpoint(endpoint)}
    return render(request, "workvisits/webhook_detail.html", context)


@login_required
@require_POST
def endpoint_active(request, endpoint_id):
    endpoint = _endpoint_or_404(request, endpoint_id)
    active = request.POST.get("active") == "true"
    webhooks.endpoint_set_active(user=request.user, endpoint=endpoint, active=active)
    messages.success(request, "The endpoint is enabled." if active else "The endpoint is disabled.")
    return redirect("webhook_detail", endpoint_id=endpoint.endpoint_id)


@login_required
@require_POST
def endpoint_delete(request, endpoint_id):
    endpoint = _endpoint_or_404(request, endpoint_id)
    webhooks.endpoint_delete(user=request.user, endpoint=endpoint)
    messages.success(request, f"The endpoint {endpoint.url} is deleted.")
    return redirect("webhooks")


@login_required
@require_POST
def delivery_resend(request, endpoint_id, delivery_id):
    endpoint = _endpoint_or_404(request, endpoint_id)
    try:
        delivery = webhooks.delivery_for_user(request.user, endpoint.endpoint_id, delivery_id)
    except WebhookDelivery.DoesNotExist:
        raise Http404("No such delivery.") from None
    try:
        webhooks.delivery_resend(delivery=delivery, user=request.user)
    except rules.RuleViolation as exc:
        messages.error(request, " ".join(e.message for e in exc.errors))
    else:
        messages.success(
            request, f"The {delivery.get_event_type_display().lower()} event of {delivery.order} is sent again."
        )
    return redirect("webhook_detail", endpoint_id=endpoint.endpoint_id)


urlpatterns = [
    path("webhooks/", endpoint_list, name="webhooks"),
    path("webhooks/<uuid:endpoint_id>/", endpoint_detail, name="webhook_detail"),
    path("webhooks/<uuid:endpoint_id>/active/", endpoint_active, name="webhook_active"),
    path("webhooks/<uuid:endpoint_id>/delete/", endpoint_delete, name="webhook_delete"),
    path(
        "webhooks/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/resend/",
        delivery_resend,
        name="webhook_resend",
    ),
]
