"""Trigram indexes for the searches: the text anywhere in an order id, reference, upstream id or a typed-in
visitor's name, found through an index instead of a scan of every order (PostgreSQL only)."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from workvisits.migration_operations import add_trigram as _trigram


class Migration(migrations.Migration):
    dependencies = [
        ("workvisits", "0011_merged_round_fields"),
    ]

    operations = [
        TrigramExtension(),  # (does nothing on other databases)
        _trigram("order", "order_id", "order_search_id"),
        _trigram("order", "customer_reference_id", "order_search_reference"),
        _trigram("order", "upstream_order_id", "order_search_upstream_id"),
        _trigram("visitor", "first_name", "visitor_search_first_name"),
        _trigram("visitor", "last_name", "visitor_search_last_name"),
    ]
