"""Staff roles: reviewers review orders; operators watch tasks and the upstream and resubmit."""

from django.db import migrations

from workvisits.roles import ROLES, ensure_staff_roles


def create_roles(apps, schema_editor):
    ensure_staff_roles(apps)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("workvisits", "0001_initial"),
        ("django_celery_results", "0011_taskresult_periodic_task_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
