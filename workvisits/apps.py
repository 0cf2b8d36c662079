from django.apps import AppConfig


class WorkVisitsConfig(AppConfig):
    name = "workvisits"
    verbose_name = "Work visits"
    default_auto_field = "django.db.models.BigAutoField"
