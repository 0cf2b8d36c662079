"""The customer pages."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from . import account, mfa, series, views, visitor_check, visits_calendar, webhooks
from .wizard import WorkVisitWizard

wizard = WorkVisitWizard.as_view(url_name="wizard_step", done_step_name="finish")

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True,
            extra_context={
                "failure_limit": settings.AXES_FAILURE_LIMIT,
                "cooloff_minutes": round(settings.AXES_COOLOFF_TIME * 60),
            },
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", account.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("new/", wizard, name="wizard"),
    re_path(r"^new/(?P<step>[a-z]+)/$", wizard, name="wizard_step"),
    path("wizard/cages/", views.wizard_cages, name="wizard_cages"),
    path("wizard/cabinets/", views.wizard_cabinets, name="wizard_cabinets"),
    path("wizard/schedule-check/", views.wizard_schedule_check, name="wizard_schedule_check"),
    path("wizard/attachments/", views.wizard_upload, name="wizard_upload"),
    path("wizard/visitors-check/", visitor_check.wizard_visitors_check, name="wizard_visitors_check"),
    path("orders/<str:order_id>/", views.order_detail, name="order_detail"),
    path("orders/<str:order_id>/placed/", views.order_confirmation, name="order_confirmation"),
    path("orders/<str:order_id>/live/", views.order_live, name="order_live"),
    path("orders/<str:order_id>/visit.ics", views.order_calendar, name="order_calendar"),
    path("visits/calendar/", visits_calendar.visits_calendar, name="visits_calendar"),
    path("calendar/", views.calendar_settings, name="calendar_settings"),
    path("calendar/feed/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
    path("orders/<str:order_id>/reschedule/", views.order_reschedule, name="order_reschedule"),
    path("orders/<str:order_id>/notification-contact/", views.order_add_notification, name="order_add_notification"),
    path("orders/<str:order_id>/cancel/", views.order_cancel, name="order_cancel"),
    path(
        "orders/<str:order_id>/attachments/<uuid:attachment_id>/",
        views.attachment_download,
        name="order_attachment",
    ),
    path("account/two-factor/", mfa.setup, name="mfa_setup"),
    path("account/two-factor/verify/", mfa.verify, name="mfa_verify"),
    path("account/two-factor/recovery-codes/", mfa.recovery_codes, name="mfa_recovery_codes"),
]

# Visit series (workvisits/web/series.py).
urlpatterns += [
    path("series/", series.series_list, name="series_list"),
    path("series/<str:series_id>/", series.series_detail, name="series_detail"),
    path("series/<str:series_id>/skip/", series.series_skip, name="series_skip"),
    path("series/<str:series_id>/change/", series.series_change, name="series_change"),
    path("series/<str:series_id>/cancel/", series.series_cancel, name="series_cancel"),
    path("series/<str:series_id>/resume/", series.series_resume, name="series_resume"),
]

urlpatterns += webhooks.urlpatterns
