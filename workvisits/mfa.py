"""A second sign-in factor (django-otp): a TOTP authenticator app, with one-time recovery codes.

Staff (reviewers, operators, superusers) must have one to use the admin when STAFF_MFA_REQUIRED (always
with HTTPS=true); any user may enrol, and once enrolled every sign-in asks for a code
(workvisits.middleware.SecondFactorMiddleware). Devices are django-otp's own models: a superuser removes
a lost one in the admin, and its owner enrols again on the next sign-in.
"""

from __future__ import annotations

import base64

import django_otp
import segno
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import User

RECOVERY_CODES = 10
APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
# The session remembers whether its user has a confirmed factor, so a page costs no query to know it.
SESSION_KEY = "workvisits:has_second_factor"


def has_second_factor(user: User) -> bool:
    return django_otp.user_has_device(user, confirmed=True)


def remember(session, user: User) -> bool:
    """Note in the session whether the user has a confirmed second factor; returns it."""
    found = has_second_factor(user)
    session[SESSION_KEY] = found
    return found


@receiver(user_logged_in, dispatch_uid="workvisits.mfa.remember")
def _remember_on_sign_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        remember(request.session, user)


def pending_app_device(user: User) -> TOTPDevice:
    """The user's authenticator-app device waiting for its first code (made on first use)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)


def enrolment_picture(device: TOTPDevice) -> str:
    """The QR code an authenticator app scans (an SVG data URI: no script, allowed by the CSP)."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def secret_text(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for typing into an app that cannot scan."""
    key = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def clean_code(code: str) -> str:
    return "".join((code or "").split()).lower()


def app_device_confirm(*, user: User, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the app with its first code; then the user's recovery codes (new), or None if it is wrong."""
    if device.user_id != user.pk or device.confirmed or not device.verify_token(clean_code(code)):
        return None
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return recovery_codes_replace(user=user)


def recovery_codes_replace(*, user: User) -> list[str]:
    """New one-time recovery codes for the user; the earlier ones stop working."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def must_wait(user: User) -> bool:
    """Whether every device of the user refuses codes for now, after wrong ones (django-otp's throttling)."""
    devices = list(django_otp.devices_for_user(user, confirmed=True))
    return bool(devices) and not any(device.verify_is_allowed()[0] for device in devices)


def verified_device(*, user: User, code: str):
    """The user's device that accepts `code` (an app code, or a recovery code, used up), or None.

    Each device checks the code itself, with django-otp's throttling of repeated failures.
    """
    code = clean_code(code)
    if not code:
        return None
    with transaction.atomic():
        for device in django_otp.devices_for_user(user, confirmed=True, for_verify=True):
            if device.verify_token(code):
                return device
    return None
