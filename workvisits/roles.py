"""Staff roles: reviewers review orders; operators watch tasks and the upstream and resubmit.

The groups are brought up to date after every migrate (apps.py) and by seed_demo.
"""

from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

ROLES = {
    # Reviewers: orders (view, approve, reject) and what they need to judge them.
    "Reviewers": [
        ("workvisits", "view_order"),
        ("workvisits", "review_order"),
        ("workvisits", "view_orderevent"),
        ("workvisits", "view_attachment"),
        ("workvisits", "view_sentnotification"),
        ("workvisits", "view_organization"),
        ("workvisits", "view_cage"),
        ("workvisits", "view_ibx"),
        ("workvisits", "view_account"),
        ("workvisits", "view_cabinet"),
        ("workvisits", "view_visitseries"),
    ],
    # Operators: the tasks, the upstream log, resubmitting failed orders, the locations catalogue and grants.
    "Operators": [
        ("workvisits", "view_order"),
        ("workvisits", "resubmit_order"),
        ("workvisits", "view_orderevent"),
        ("workvisits", "view_upstreamcall"),
        ("workvisits", "view_sentnotification"),
        ("workvisits", "view_locationsync"),
        ("workvisits", "add_locationsync"),
        ("workvisits", "view_organization"),
        ("workvisits", "view_ibx"),
        ("workvisits", "view_cage"),
        ("workvisits", "view_account"),
        ("workvisits", "view_cabinet"),
        ("workvisits", "view_user"),
        ("workvisits", "view_orderinggrant"),
        ("workvisits", "view_visitseries"),
        ("workvisits", "add_orderinggrant"),
        ("workvisits", "change_orderinggrant"),
        ("workvisits", "delete_orderinggrant"),
        ("django_celery_results", "view_taskresult"),
        ("django_celery_results", "view_groupresult"),
        ("django_celery_beat", "view_periodictask"),
        ("django_celery_beat", "change_periodictask"),
        ("django_celery_beat", "view_intervalschedule"),
        ("django_celery_beat", "view_crontabschedule"),
        # Customers' webhook endpoints and their deliveries; sending a delivery again.
        ("workvisits", "view_webhookendpoint"),
        ("workvisits", "view_webhookdelivery"),
        ("workvisits", "change_webhookdelivery"),
    ],
}


def ensure_staff_roles() -> None:
    """Create the staff groups with their permissions; running it again changes nothing."""
    from django.apps import apps

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    for name, codes in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = Q()
        for app_label, codename in codes:
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.add(*Permission.objects.filter(wanted))
