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
        from django.contrib.auth.signals import user_logged_in

        from . import mfa  # noqa: F401  (its sign-in receiver)
        from .audit import connect_audit_signals
        from .middleware import SessionIdleMiddleware

        connect_audit_signals()
        user_logged_in.connect(SessionIdleMiddleware.signed_in, dispatch_uid="workvisits-session-idle-start")
        # Permissions added by later migrations reach the staff groups after every migrate.
        post_migrate.connect(_update_staff_roles, sender=self)
