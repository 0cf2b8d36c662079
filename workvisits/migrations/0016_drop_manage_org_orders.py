# Who may change an order is CONTRACT "Modify"'s rule (the see-all grant), so "manage_org_orders" grants
# nothing: it goes, with its permission row (and so every grant of it), rather than stay offered in the admin.

from django.db import migrations


def drop_permission(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="workvisits", codename="manage_org_orders").delete()


class Migration(migrations.Migration):

    dependencies = [
        ('workvisits', '0015_series2_left_out_visitors'),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='order',
            options={'ordering': ['-created_at'], 'permissions': [('view_organization_orders', "Can see all of the organization's work-visit orders"), ('review_order', 'Can approve or reject work-visit orders'), ('resubmit_order', 'Can resubmit failed work-visit orders')]},
        ),
        migrations.RunPython(drop_permission, migrations.RunPython.noop),
    ]
