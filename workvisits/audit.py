"""The staff audit trail (django-simple-history on users, organizations, grants and API clients): a
sign-in only moves last_login, which is no change of the account, so it adds no history row."""

from django.db.models.signals import pre_save

from .models import User


def _skip_sign_ins(sender, instance, update_fields=None, **kwargs):
    if update_fields is not None and set(update_fields) == {"last_login"}:
        instance.skip_history_when_saving = True
    elif "skip_history_when_saving" in instance.__dict__:
        del instance.skip_history_when_saving


def connect_audit_signals() -> None:
    pre_save.connect(_skip_sign_ins, sender=User, dispatch_uid="workvisits-audit-skip-sign-ins")
