"""A new object and the new objects pointing at it, stored by one INSERT statement.

On PostgreSQL the rows are written by one statement of data-modifying CTEs: the parent's row (its key
drawn from its sequence), then per child table a CTE that draws one key per row from the table's
sequence (``nextval``) next to the row's position in its JSON array, and an INSERT of those rows with
those keys. The statement returns each table's keys ordered by position, so every instance gets the key
of its own row whatever order PostgreSQL writes or returns rows in. One round trip, atomic by itself (no
transaction needed around it); each table's rows travel as one JSON parameter, so the statement is the
same whatever the number of children and a connection prepares it once.

The columns and values come from the models' public metadata (``_meta.concrete_fields``, ``column``,
``db_table``) and the fields' documented methods, as save() takes them: defaults set by the
constructor, then ``pre_save(add=True)`` and ``get_db_prep_save()``, written as the JSON PostgreSQL
reads back into the column type. Other databases (SQLite for `make run`), or GRAPH_INSERT_ONE_STATEMENT
off, get the ORM's bulk_create() in one transaction. Like bulk_create(), no model signals are sent.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models import Model
from psycopg import sql
from psycopg.types.json import Json, Jsonb

_PARENT = "p"
# The key-drawing CTEs' own columns (no model column is read from them, so no name can clash).
_KEY, _POSITION, _ROW = "key", "position", "row"


def insert_graph(parent: Model, children: Iterable[tuple[str, Sequence[Model]]] = ()) -> None:
    """Insert `parent` and, for each (foreign key name, instances of one model) of `children`, those
    instances pointing at it. Sets the primary keys and the foreign keys on the instances.

    The instances must be new (no primary key yet); their field values are stored as save() would store
    them. Raises the database's error with nothing stored.
    """
    model = type(parent)
    alias = router.db_for_write(model, instance=parent)
    connection = connections[alias]
    groups = [(fk_name, list(objs)) for fk_name, objs in children]
    groups = [(fk_name, objs) for fk_name, objs in groups if objs]
    for fk_name, objs in groups:
        _check_group(model, fk_name, objs)
    if connection.vendor != "postgresql" or not settings.GRAPH_INSERT_ONE_STATEMENT:
        _insert_with_orm(alias, parent, groups)
        return

    # One JSON parameter per table: the statement is the same for any number of children.
    params = [json.dumps(_row(parent, connection, skip=None))]
    for fk_name, objs in groups:
        fk = objs[0]._meta.get_field(fk_name)
        params.append(json.dumps([_row(obj, connection, skip=fk) for obj in objs]))
    shape = tuple((type(objs[0]), fk_name) for fk_name, objs in groups)
    with connection.cursor() as cursor:
        cursor.execute(_statement(alias, model, shape), params)
        row = cursor.fetchone()

    parent.pk = row[0]
    _saved(parent, alias)
    for (fk_name, objs), keys in zip(groups, row[1:], strict=True):
        for obj, key in zip(objs, keys, strict=True):
            setattr(obj, fk_name, parent)
            obj.pk = key
            _saved(obj, alias)


def rows_json(objs: Sequence[Model], connection) -> str:
    """New instances of one model as the JSON array `jsonb_populate_recordset(NULL::table, ...)` reads:
    the values save() would store, without the primary key (see `insert_columns`)."""
    return json.dumps([_row(obj, connection, skip=None) for obj in objs])


def insert_columns(model: type[Model], quote) -> str:
    """The columns, quoted by `quote`, that an insert of new `model` instances writes (rows_json's)."""
    return ", ".join(quote(f.column) for f in _fields(model))


def _check_group(parent_model: type[Model], fk_name: str, objs: list[Model]) -> None:
    child_model = type(objs[0])
    if any(type(obj) is not child_model for obj in objs):
        raise TypeError(f"the children under {fk_name!r} are not all {child_model.__name__}s")
    fk = child_model._meta.get_field(fk_name)
    if not fk.many_to_one or fk.related_model is not parent_model:
        raise ValueError(f"{child_model.__name__}.{fk_name} is not a foreign key to {parent_model.__name__}")
    if fk.target_field is not parent_model._meta.pk:
        raise ValueError(f"{child_model.__name__}.{fk_name} does not point at {parent_model.__name__}'s primary key")


def _insert_with_orm(alias: str, parent: Model, groups: list[tuple[str, list[Model]]]) -> None:
    with transaction.atomic(using=alias):
        _orm_insert(alias, [parent])
        for fk_name, objs in groups:
            for obj in objs:
                setattr(obj, fk_name, parent)
            _orm_insert(alias, objs)


def _orm_insert(alias: str, objs: list[Model]) -> None:
    # bulk_create() sends no signals (neither does the statement); save() only where it returns no keys.
    if connections[alias].features.can_return_rows_from_bulk_insert:
        type(objs[0])._base_manager.using(alias).bulk_create(objs)
    else:
        for obj in objs:
            obj.save(force_insert=True, using=alias)


def _row(obj: Model, connection, *, skip) -> dict:
    """One row as JSON: {column: value} for the fields an insert writes, without `skip` (the foreign key
    to the parent, set once the parent has its key)."""
    if obj.pk is not None:
        raise ValueError(f"{obj!r} has a primary key already: insert_graph() stores new objects only")
    row = {}
    for field, as_is in _fields_and_shortcuts(type(obj)):
        if field is skip:
            continue
        if as_is is not None:
            value = getattr(obj, field.attname)
            if value is None:
                if as_is.none:
                    row[field.column] = None
                    continue
            elif type(value) in as_is.types or (as_is.text and isinstance(value, str)):
                row[field.column] = value
                continue
            elif as_is.aware and type(value) is datetime.datetime and value.tzinfo is not None:
                row[field.column] = value.isoformat()
                continue
        if field.many_to_one or field.one_to_one:
            _take_related_key(obj, field)
        value = field.pre_save(obj, True)
        if hasattr(value, "resolve_expression"):  # expressions: not needed so far
            raise NotImplementedError(f"insert_graph() stores plain values only, not {value!r} ({field})")
        row[field.column] = _json(field, field.get_db_prep_save(value, connection))
    return row


def _take_related_key(obj: Model, field) -> None:
    """As save() does: refuse a related object that is not saved, take the key of one saved since."""
    if getattr(obj, field.attname) is not None:
        return
    related = getattr(obj, field.name)  # no query: with no key, only an assigned object is returned
    if related is None:
        return
    key = getattr(related, field.target_field.attname)
    if key is None:
        raise ValueError(f"save() prohibited to prevent data loss due to unsaved related object '{field.name}'.")
    setattr(obj, field.attname, key)


def _json(field, value):
    """A value as get_db_prep_save() gives it, as the JSON value PostgreSQL reads back into the column."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, Json | Jsonb):  # a JSONField's value: its own encoder, if any, decides how it is written
        return json.loads(value.dumps(value.obj)) if field.encoder else value.obj
    raise NotImplementedError(f"insert_graph() cannot store {type(value).__name__} values ({field})")


@functools.cache
def _fields(model: type[Model]) -> tuple:
    """The columns an insert of a new `model` writes: its concrete fields but the primary key."""
    meta = model._meta
    if meta.proxy or any(f.model is not model for f in meta.concrete_fields):
        raise NotImplementedError(f"{model.__name__}: proxies and multi-table inheritance are not supported")
    if not isinstance(meta.pk, models.AutoField):
        raise NotImplementedError(f"{model.__name__}: only automatic primary keys are supported")
    fields = tuple(f for f in meta.concrete_fields if f is not meta.pk and not f.generated)
    unsupported = [f.name for f in fields if f.db_default is not models.NOT_PROVIDED or hasattr(f, "get_placeholder")]
    if unsupported:
        raise NotImplementedError(f"{model.__name__}: database defaults or own placeholders: {unsupported}")
    return fields


@dataclass(frozen=True)
class _AsIs:
    """The values of a field that need neither its pre_save() (which only reads the attribute) nor its
    get_db_prep_save() (which returns them unchanged): written as they are, an aware datetime as the ISO
    8601 text `_json()` makes of it."""

    types: tuple[type, ...]
    none: bool = True  # None too (not for a foreign key: its related object may be assigned unsaved)
    text: bool = False  # any text (a str subclass too, e.g. a choices enumeration's member)
    aware: bool = False  # an aware datetime, as ISO 8601 text


_TEXT = _AsIs((str,), text=True)
_JSON_VALUES = _AsIs((dict, list, str, int, float, bool))


def _as_is(field) -> _AsIs | None:
    """Which values of `field` skip pre_save() and get_db_prep_save() (None: every value goes through them).
    Only Django's own field classes, by exact type: a subclass may convert differently."""
    kind = type(field)
    if kind in (models.CharField, models.TextField, models.EmailField, models.SlugField):
        return _TEXT
    if kind is models.BooleanField:
        return _AsIs((bool,))
    if kind in (models.IntegerField, models.PositiveIntegerField, models.BigIntegerField, models.SmallIntegerField):
        return _AsIs((int,))
    if kind is models.ForeignKey and type(field.target_field) in (models.AutoField, models.BigAutoField):
        return _AsIs((int,), none=False)
    if kind is models.JSONField and field.encoder is None:
        return _JSON_VALUES
    if kind is models.DateTimeField and not (field.auto_now or field.auto_now_add) and settings.USE_TZ:
        return _AsIs((), aware=True)
    if kind is models.DateField and not (field.auto_now or field.auto_now_add):
        return _AsIs(())  # None only: a date's value is converted
    return None


@functools.cache
def _fields_and_shortcuts(model: type[Model]) -> tuple:
    return tuple((field, _as_is(field)) for field in _fields(model))


@functools.lru_cache(maxsize=256)
def _statement(alias: str, model: type[Model], shape: tuple[tuple[type[Model], str], ...]) -> str:
    """The statement for a parent of `model` and, per (child model, foreign key name), its children.

    Each row is read into the table's own row type (``jsonb_populate_record``) with its primary key (and a
    child's foreign key) merged into its JSON, and inserted whole, columns in the table's order: no column
    is listed, so the statement stays short whatever the number of columns (psycopg keeps the conversion
    of a statement up to 4 KB, and converts a longer one on every execution)."""
    for each in (model, *(child for child, _ in shape)):
        generated = [f.name for f in each._meta.concrete_fields if f.generated]
        if generated:  # a whole row cannot be inserted into a generated column
            raise NotImplementedError(f"{each.__name__}: generated fields are not supported: {generated}")
    # Only names from the models' metadata are formatted in, quoted as identifiers or (the JSON keys and the
    # arguments of pg_get_serial_sequence) as literals; the rows are parameters.
    q = connections[alias].ops.quote_name
    parent, pk, key, position, row = q(_PARENT), q(model._meta.pk.column), q(_KEY), q(_POSITION), q(_ROW)
    table = q(model._meta.db_table)
    ctes = [
        f"{parent} AS (INSERT INTO {table} SELECT r.* FROM jsonb_populate_record(NULL::{table}, "  # noqa: S608
        f"%s::jsonb || jsonb_build_object({_literal(model._meta.pk.column)}, {_next_key(q, model)})) AS r "
        f"RETURNING {pk})"
    ]
    selected = [f"{parent}.{pk}"]
    for number, (child, fk_name) in enumerate(shape):
        keyed, inserted, table = q(f"k{number}"), q(f"c{number}"), q(child._meta.db_table)
        merged = (
            f"jsonb_build_object({_literal(child._meta.pk.column)}, k.{key}, "
            f"{_literal(child._meta.get_field(fk_name).column)}, {parent}.{pk})"
        )
        # MATERIALIZED: the keys are drawn once, and the INSERT and the returned array read the same ones.
        ctes.append(
            f"{keyed} AS MATERIALIZED (SELECT {_next_key(q, child)} AS {key}, e.ordinality AS {position}, "  # noqa: S608
            f"e.value AS {row} FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e)"
        )
        ctes.append(
            f"{inserted} AS (INSERT INTO {table} SELECT r.* FROM {keyed} AS k CROSS JOIN {parent} "  # noqa: S608
            f"CROSS JOIN LATERAL jsonb_populate_record(NULL::{table}, k.{row} || {merged}) AS r)"
        )
        selected.append(f"ARRAY(SELECT {key} FROM {keyed} ORDER BY {position})")  # noqa: S608
    return f"WITH {', '.join(ctes)} SELECT {', '.join(selected)} FROM {parent}"  # noqa: S608


def _literal(text: str) -> str:
    return sql.Literal(text).as_string()


def _next_key(quote, model: type[Model]) -> str:
    """A new key from the sequence of `model`'s primary key (pg_get_serial_sequence reads a quoted table)."""
    return (
        f"nextval(pg_get_serial_sequence({_literal(quote(model._meta.db_table))}, {_literal(model._meta.pk.column)}))"
    )


def _saved(obj: Model, alias: str) -> None:
    # Model._state is documented (the instance reference, "Customizing model loading").
    obj._state.adding = False
    obj._state.db = alias
