# A visitor is reached by email or mobile (CONTRACT, the upstream): the phones the wizard once stored as
# PHONE become MOBILE, so that every stored visitor reads back as the API now takes one.

from django.db import migrations

BATCH = 1000


def phone_to_mobile(apps, schema_editor):
    Visitor = apps.get_model("workvisits", "Visitor")
    visitors = Visitor.objects.exclude(details=[]).only("id", "details")
    if schema_editor.connection.vendor == "postgresql":  # jsonb containment: read only the visitors to change
        visitors = visitors.filter(details__contains=[{"type": "PHONE"}])
    changed = []
    for visitor in visitors.iterator():
        if not any(d.get("type") == "PHONE" for d in visitor.details):
            continue
        visitor.details = [{**d, "type": "MOBILE"} if d.get("type") == "PHONE" else d for d in visitor.details]
        changed.append(visitor)
        if len(changed) >= BATCH:
            Visitor.objects.bulk_update(changed, ["details"])
            changed = []
    Visitor.objects.bulk_update(changed, ["details"])


class Migration(migrations.Migration):

    dependencies = [
        ('workvisits', '0016_drop_manage_org_orders'),
    ]

    operations = [
        migrations.RunPython(phone_to_mobile, migrations.RunPython.noop),
    ]
