from django.contrib import admin
from django.urls import include, path

from workvisits import health

admin.site.site_header = "Work-visit portal administration"
admin.site.site_title = "Work-visit portal"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("workvisits.api.urls")),
    path("", include("workvisits.web.urls")),
]
