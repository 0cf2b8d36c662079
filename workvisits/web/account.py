"""Account pages: the password reset (rate-limited, its email sent by a worker)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpResponseRedirect

from .. import services, throttles

RESET_TOO_OFTEN = (
    "Too many password reset requests came from your network in the last hour; try again later, "
    "or ask your organization's administrator."
)


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's form; saving only hands the address to a worker (the same work for any address)."""

    def save(self, *, request=None, use_https=False, **kwargs):
        services.password_reset_request(
            email=self.cleaned_data["email"], domain=request.get_host(), use_https=use_https
        )


class PasswordResetView(auth_views.PasswordResetView):
    """At most so many requests per address and per account an hour; beyond the account's limit the
    page says the same as ever (so it tells nobody whether the account exists) and sends nothing."""

    form_class = QueuedPasswordResetForm

    def form_valid(self, form):
        address = throttles.client_address(self.request)
        if throttles.PASSWORD_RESET_PER_ADDRESS.exceeded(address):
            form.add_error(None, RESET_TOO_OFTEN)
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        throttles.PASSWORD_RESET_PER_ADDRESS.hit(address)
        account = form.cleaned_data["email"].strip().lower()
        if throttles.PASSWORD_RESET_PER_ACCOUNT.exceeded(account):
            return HttpResponseRedirect(self.get_success_url())
        throttles.PASSWORD_RESET_PER_ACCOUNT.hit(account)
        return super().form_valid(form)
