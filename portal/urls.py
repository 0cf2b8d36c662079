import logging

from django.contrib import admin
from django.http import HttpResponseServerError
from django.template import loader
from django.urls import include, path
from django.utils.html import escape

from portal import correlation, health
from workvisits.admin import door

logger = logging.getLogger(__name__)

admin.site.site_header = "Work-visit portal administration"
admin.site.site_title = "Work-visit portal"

urlpatterns = [
    path("admin/door-list/", admin.site.admin_view(door.door_list_view), name="admin_door_list"),
    path("admin/visits-calendar/", admin.site.admin_view(door.staff_calendar_view), name="admin_visits_calendar"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("workvisits.api.urls")),
    path("", include("workvisits.web.urls")),
]

# A 400 Django raises itself (a disallowed Host header, a suspicious request) in the API's error array.
handler400 = "workvisits.api.errors.bad_request"


def server_error(request):
    """Django's 500: templates/500.html with the request's correlation id to quote to support. It never
    raises itself: if the page cannot be rendered, a bare one still carries the id."""
    correlation_id = correlation.get() or getattr(request, "correlation_id", "") or ""
    try:
        body = loader.render_to_string("500.html", {"correlation_id": correlation_id})
    except Exception:  # whatever broke the request (a template, a setting) may break its page too
        logger.exception("the server error page could not be rendered")
        body = (
            "<!doctype html><title>Server error</title><h1>Server error (500)</h1>"
            f"<p>Quote this reference to support: {escape(correlation_id)}</p>"
        )
    return HttpResponseServerError(body)


# A 500 shows the correlation id the response's X-Correlation-ID header carries and the logs record.
handler500 = "portal.urls.server_error"
