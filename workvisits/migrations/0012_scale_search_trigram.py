"""Trigram indexes for the searches: the text anywhere in an order id, reference, upstream id or a typed-in
visitor's name, found through an index instead of a scan of every order (PostgreSQL only)."""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations
from django.db.models.functions import Upper


class AddIndexOnPostgreSQL(migrations.AddIndex):
    """The index on PostgreSQL; elsewhere (the development SQLite database) only in the migration state:
    GIN and pg_trgm are PostgreSQL's, and a search there still works, by a scan."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def _trigram(model_name: str, column: str, name: str) -> AddIndexOnPostgreSQL:
    return AddIndexOnPostgreSQL(
        model_name=model_name, index=GinIndex(OpClass(Upper(column), name="gin_trgm_ops"), name=name)
    )


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
