from django.apps import AppConfig


class WorkVisitsConfig(AppConfig):
    name = "workvisits"
    verbose_name = "Work visits"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Celery tasks defined outside tasks.py register when their module is imported.
        from . import health, locations, mfa  # noqa: F401  (mfa: its sign-in receiver)
        from .audit import connect_audit_signals

        connect_audit_signals()
