"""The upstream's routes, and the control API under /_sandbox/."""

from django.urls import path

from . import attachments, control, lookups, orders
from .web import methods

handler400 = "sandbox.errors.bad_request"
handler403 = "sandbox.errors.forbidden"
handler404 = "sandbox.errors.not_found"
handler500 = "sandbox.errors.server_error"

WORK_VISITS = "colocations/v2/orders/workVisits"

urlpatterns = [
    path("oauth2/v1/token", methods(POST=orders.token)),
    path(WORK_VISITS, methods(POST=orders.create)),
    path(f"{WORK_VISITS}/<str:order_id>", methods(PATCH=orders.modify)),
    path("colocations/v2/orders/<str:order_id>", methods(GET=orders.read)),
    path("colocations/v2/orders/<str:order_id>/cancel", methods(POST=orders.cancel)),
    path("colocations/v2/locations", methods(GET=lookups.locations_v2)),
    path("v1/orders/workvisit/locations", methods(GET=lookups.locations_v1)),
    path("v1/retrieve-orders", methods(POST=lookups.search)),
    path("v1/attachments/file", methods(POST=attachments.upload)),
    path("v1/attachments/<str:attachment_id>", methods(GET=attachments.detail, DELETE=attachments.delete)),
    path("v1/attachments/<str:attachment_id>/file", methods(GET=attachments.content)),
    path("_sandbox/faults", methods(GET=control.faults_list, POST=control.faults_add, DELETE=control.faults_clear)),
    path("_sandbox/settings", methods(GET=control.settings_show, POST=control.settings_change)),
    path("_sandbox/advance", methods(POST=control.advance)),
    path("_sandbox/clock", methods(GET=control.clock)),
    path("_sandbox/state", methods(GET=control.state)),
    path("_sandbox/reset", methods(POST=control.reset)),
    path("_sandbox/expire-tokens", methods(POST=control.expire_tokens)),
    path("_sandbox/orders/<str:order_id>/status", methods(POST=control.order_status)),
]
