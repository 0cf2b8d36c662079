"""The Work Visits v2 compatible JSON API, its OpenAPI document and its docs pages."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from . import series, views, webhooks
from .schemas import ORDER_ID_SEGMENT

order_id = f"(?P<orderId>{ORDER_ID_SEGMENT})"

urlpatterns = [
    # Visit series (the portal's extension, workvisits/api/series.py): before the order paths they resemble.
    *series.urlpatterns,
    path("oauth2/v1/token", views.TokenView.as_view(), name="api-token"),
    path("colocations/v2/openapi.json", views.read_only(SpectacularJSONAPIView.as_view()), name="api-schema"),
    # The split view serves its start-up script as a file: the Content-Security-Policy allows no inline script.
    path(
        "colocations/v2/docs",
        views.read_only(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path(
        "colocations/v2/redoc",
        views.read_only(SpectacularRedocView.as_view(url_name="api-schema")),
        name="api-redoc",
    ),
    path("colocations/v2/locations", views.LocationsView.as_view(), name="api-locations"),
    path("v1/orders/workvisit/locations", views.WorkVisitLocationsView.as_view(), name="api-locations-v1"),
    path("colocations/v2/orders", views.OrderListView.as_view(), name="api-orders"),
    path("colocations/v2/orders/workVisits", views.CreateView.as_view(), name="api-create"),
    re_path(rf"^colocations/v2/orders/workVisits/{order_id}$", views.ModifyView.as_view(), name="api-modify"),
    re_path(rf"^colocations/v2/orders/{order_id}/cancel$", views.CancelView.as_view(), name="api-cancel"),
    re_path(rf"^colocations/v2/orders/{order_id}$", views.OrderView.as_view(), name="api-order"),
    path("v1/retrieve-orders", views.RetrieveOrdersView.as_view(), name="api-retrieve-orders"),
    path("v1/attachments/file", views.AttachmentUploadView.as_view(), name="api-upload"),
    path("v1/attachments/<uuid:attachmentId>", views.AttachmentView.as_view(), name="api-attachment"),
    path("v1/attachments/<uuid:attachmentId>/file", views.AttachmentDownloadView.as_view(), name="api-download"),
    # The first contract's paths, kept as deprecated aliases.
    path("colocations/v2/attachments/file", views.LegacyAttachmentUploadView.as_view(), name="api-upload-v2"),
    path(
        "colocations/v2/attachments/<uuid:attachmentId>/file",
        views.LegacyAttachmentDownloadView.as_view(),
        name="api-download-v2",
    ),
    # The portal's extension: webhook endpoints and deliveries (workvisits/api/webhooks.py).
    *webhooks.urlpatterns,
    re_path(r"^(?:colocations|v1|oauth2)(?:/[\s\S]*)?$", views.NotFoundView.as_view()),
]
