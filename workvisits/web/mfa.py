"""The second sign-in factor's pages: enrol an authenticator app, give a code at sign-in, new recovery codes."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from .. import mfa

WRONG_CODE = (
    "That code is wrong or has expired: enter the 6 digits your authenticator app shows now, "
    "or one of your recovery codes."
)

MUST_WAIT = "Too many wrong codes in a row: wait a minute, then enter the code your app shows then."


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("admin:index") if request.user.is_staff else reverse("dashboard")


@login_required
@require_http_methods(["GET", "POST"])
def setup(request):
    """Enrol an authenticator app: scan the QR code (or type the key), then confirm with its first code."""
    if request.user.is_verified():
        return render(request, "workvisits/mfa_status.html", {"next": _next(request)})
    if mfa.has_second_factor(request.user):
        return redirect(f"{reverse('mfa_verify')}?{urlencode({'next': _next(request)})}")
    device = mfa.pending_app_device(request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = mfa.app_device_confirm(user=request.user, device=device, code=form.cleaned_data["code"])
        if codes is not None:
            otp_login(request, device)
            mfa.remember(request.session, request.user)
            return render(request, "workvisits/mfa_recovery.html", {"codes": codes, "next": _next(request)})
        form.add_error("code", WRONG_CODE)
    context = {
        "form": form,
        "next": _next(request),
        "picture": mfa.enrolment_picture(device),
        "secret": mfa.secret_text(device),
        "required": request.user.is_staff,
    }
    return render(request, "workvisits/mfa_setup.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def verify(request):
    """The second step of signing in: a code from the app or a recovery code."""
    if request.user.is_verified():
        return redirect(_next(request))
    if not mfa.has_second_factor(request.user):
        # (Removed by an administrator since this session began: the pages decide again, without it.)
        mfa.remember(request.session, request.user)
        return redirect(_next(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if mfa.must_wait(request.user):
            form.add_error("code", MUST_WAIT)
        elif (device := mfa.verified_device(user=request.user, code=form.cleaned_data["code"])) is not None:
            otp_login(request, device)
            return redirect(_next(request))
        else:
            form.add_error("code", WRONG_CODE)
    return render(request, "workvisits/mfa_verify.html", {"form": form, "next": _next(request)})


@login_required
@require_POST
def recovery_codes(request):
    """New recovery codes (the earlier ones stop working), for a session signed in with its factor."""
    if not request.user.is_verified():
        return redirect(f"{reverse('mfa_verify')}?{urlencode({'next': reverse('mfa_setup')})}")
    codes = mfa.recovery_codes_replace(user=request.user)
    return render(request, "workvisits/mfa_recovery.html", {"codes": codes, "next": _next(request)})
