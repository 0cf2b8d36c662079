"""Trigram indexes for the staff's search (the admin's order list): the text anywhere in a visitor's or
contact's name or details, found through an index instead of a scan of every person (PostgreSQL only)."""

from django.db import migrations, models
from django.db.models.functions import Cast

from workvisits.migration_operations import add_trigram


class Migration(migrations.Migration):
    dependencies = [
        ("workvisits", "0017_visitor_phone_is_mobile"),
    ]

    operations = [
        add_trigram("contact", "first_name", "contact_search_first_name"),
        add_trigram("contact", "last_name", "contact_search_last_name"),
        add_trigram("contact", Cast("details", models.TextField()), "contact_search_details"),
        add_trigram("visitor", Cast("details", models.TextField()), "visitor_search_details"),
    ]
