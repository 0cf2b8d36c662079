from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _update_staff_roles(sender, **kwargs):
    from .roles import ensure_staff_roles

    ensure_staff_roles()


class WorkVisitsConfig(AppConfig):
    name = "workvisits"
    verbose_name = "Work visits"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Celery tasks defined outside tasks.py register when their module is imported.
        from . import locations, mfa  # noqa: F401  (mfa: its sign-in receiver)
        from .audit import connect_audit_signals

        connect_audit_signals()
        # Permissions added by later migrations reach the staff groups after every migrate.
        post_migrate.connect(_update_staff_roles, sender=self)
