"""Operations the migrations share: trigram indexes that exist on PostgreSQL only."""

from django.contrib.postgres.indexes import GinIndex, OpClass
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


def trigram_index(expression, name: str) -> GinIndex:
    """A trigram index on UPPER(`expression`) (a column name or an expression), what Django's icontains
    compares: `text LIKE '%...%'` found through the index instead of a scan."""
    return GinIndex(OpClass(Upper(expression), name="gin_trgm_ops"), name=name)


def add_trigram(model_name: str, expression, name: str) -> AddIndexOnPostgreSQL:
    return AddIndexOnPostgreSQL(model_name=model_name, index=trigram_index(expression, name))
