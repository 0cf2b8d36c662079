from django.contrib import admin
from django.urls import include, path

from portal import health
from workvisits.admin import door

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
