"""Request guards of the whole site: addresses no view can use are refused, and personal answers are
never kept by a cache."""

from __future__ import annotations

import time
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode

from . import mfa, rules, uploads
from .api.errors import API_PREFIXES, LENGTH_REQUIRED, TOO_LARGE, error_entries
from .web import links

# Public documents of the API: cacheable like any static page.
PUBLIC_API_PATHS = ("/colocations/v2/openapi.json", "/colocations/v2/docs", "/colocations/v2/redoc")


def _bad_text(raw: bytes) -> bool:
    if b"\x00" in raw:
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def address_problem(request) -> str | None:
    """Why the path (a NUL character) or query string (a NUL or invalid UTF-8) cannot be served, or None."""
    # (Invalid UTF-8 in the path is percent-encoded again by Django and matches no page: a 404.)
    if "\x00" in request.path:
        return "path"
    query = request.META.get("QUERY_STRING", "")
    if query and _bad_text(unquote_to_bytes(query.replace("+", " "))):
        return "query"
    return None


class BadAddressMiddleware:
    """A page's path or query string with a NUL character or invalid UTF-8 is answered 400 before any view
    (no database can hold a NUL; such text never names an order, a filter or a page). The JSON API checks
    its own parameters and names the offending one; an order route looks up only ids of the portal's shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = None if request.path.startswith(API_PREFIXES) else address_problem(request)
        if problem is None:
            return self.get_response(request)
        reason = (
            f"The {'address' if problem == 'path' else 'query string'} contains a NUL character or text that "
            "is not UTF-8; remove it and try again."
        )
        return HttpResponseBadRequest(reason, content_type="text/plain; charset=utf-8")


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every page of a signed-in user and on every API answer except the
    public documents: they carry personal data (names, emails, visits)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        api = request.path.startswith(API_PREFIXES) and not request.path.startswith(PUBLIC_API_PATHS)
        if signed_in or api:
            add_never_cache_headers(response)
        return response


class BodyLimitMiddleware:
    """A request body is judged by its `Content-Length` before a byte of it is read.

    The pages take at most one attachment (uploads.MAX_WEB_BODY_BYTES): a larger body is refused 413
    unread, before the CSRF check would parse it. A body sent in chunks (`Transfer-Encoding: chunked`,
    no length) is refused 411 on every path, the API's included: its size cannot be judged before it is
    read, and the application would see it empty ("file is required"). The API bounds each endpoint's
    length itself. The wizard's upload is answered in its JSON shape, the API in its array format.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        api = request.path.startswith(API_PREFIXES)
        most = rules.MAX_ATTACHMENT_BYTES // 1048576
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            status, code = 411, LENGTH_REQUIRED
            reason = (
                "The body was sent in chunks without a length; send the body with a Content-Length header "
                f"(an attachment may be at most {most} MB)."
            )
        elif not api and length > uploads.MAX_WEB_BODY_BYTES:
            status, code = 413, TOO_LARGE
            reason = f"The file is {length / 1048576:.1f} MB; attachments may be at most {most} MB."
        else:
            return self.get_response(request)
        if api:
            body = error_entries([(code, [("Content-Length", reason)])])
            return JsonResponse(body, status=status, safe=False)
        if request.path == reverse("wizard_upload"):
            return JsonResponse({"errors": [reason]}, status=status)
        return HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")


class SecondFactorMiddleware:
    """A signed-in user who has a second factor (workvisits.mfa) gives its code before any page; staff
    without one enrol before any admin page when STAFF_MFA_REQUIRED. The sign-in, sign-out, password
    reset and second-factor pages, static files, health checks and the API (bearer tokens) are exempt."""

    def __init__(self, get_response):
        self.get_response = get_response

    def _exempt(self, path: str) -> bool:
        exempt = (
            settings.STATIC_URL,
            "/account/two-factor/",
            links.url("login"),
            links.url("logout"),
            "/password-reset/",
            links.url("admin:login"),
            links.url("admin:logout"),
            "/healthz",
            "/readyz",
            *API_PREFIXES,
        )
        return path.startswith(exempt)

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_verified() or self._exempt(request.path):
            return self.get_response(request)
        has_factor = request.session.get(mfa.SESSION_KEY)
        if has_factor is None:  # (a session from before the factor was known)
            has_factor = mfa.remember(request.session, user)
        admin = request.path.startswith(links.url("admin:index"))
        if has_factor:
            target = "mfa_verify"
        elif admin and user.is_staff and settings.STAFF_MFA_REQUIRED:
            target = "mfa_setup"
        else:
            return self.get_response(request)
        if request.method != "GET" or request.headers.get("HX-Request"):
            return HttpResponseForbidden(
                "Give your second sign-in factor's code first.", content_type="text/plain; charset=utf-8"
            )
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


class SessionIdleMiddleware:
    """A signed-in session's idle period starts again with each request, but the session row is written
    only when its last write is SESSION_REFRESH_SECONDS old (not on every request): the session then
    ends between SESSION_IDLE_HOURS minus that and SESSION_IDLE_HOURS after the last request."""

    KEY = "idle_refreshed_at"

    @classmethod
    def signed_in(cls, sender, request, user, **kwargs):
        """The sign-in writes the session anyway: the idle period starts there (user_logged_in receiver)."""
        if getattr(request, "session", None) is not None:
            request.session[cls.KEY] = int(time.time())

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is not None and user is not None and user.is_authenticated:
            now = int(time.time())
            if now - int(session.get(self.KEY, 0)) >= settings.SESSION_REFRESH_SECONDS:
                session[self.KEY] = now  # marks the session modified: saved with a new expiry
        return self.get_response(request)
