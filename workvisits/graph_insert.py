"""A new object and the new objects pointing at it, stored by one INSERT statement.

On PostgreSQL the rows are written by one statement of data-modifying CTEs (``WITH p AS (INSERT ...
SELECT ... FROM jsonb_populate_record(...) RETURNING id), c0 AS (INSERT ... SELECT (SELECT id FROM p),
... FROM jsonb_populate_recordset(...)) SELECT ...``): one round trip, and atomic by itself, so no
transaction is needed around it. Each table's rows travel as one JSON parameter, so the statement is
the same whatever the number of children (a connection prepares it once) and psycopg parses its
placeholders once. The columns and values come from the models' metadata exactly as the ORM's insert
takes them (defaults set by the constructor, then each field's ``pre_save(add=True)`` and
``get_db_prep_save()``, written as the JSON that PostgreSQL reads back into the column type), so a model
change flows through. Other databases (SQLite for `make run`) get the ORM's bulk_create() (save() where
it returns no keys) in one transaction.

Like bulk_create(), no model signals are sent. Child primary keys are matched to the instances in the
order PostgreSQL returns the inserted rows, which is the order of the JSON array (inserted ORDER BY its
ordinality; bulk_create() relies on the same property of VALUES).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import json
import uuid
from collections.abc import Iterable, Sequence

from django.db import connections, router, transaction
from django.db.models import Model
from psycopg.types.json import Json, Jsonb

_PARENT = "p"


def insert_graph(parent: Model, children: Iterable[tuple[str, Sequence[Model]]] = ()) -> None:
    """Insert `parent` and, for each (foreign key name, instances of one model) of `children`, those
    instances pointing at it. Sets the primary keys and the foreign keys on the instances.

    The instances must be new (no primary key from the database yet); their field values are stored as
    save() would store them. Raises the database's error with nothing stored.
    """
    model = type(parent)
    alias = router.db_for_write(model, instance=parent)
    connection = connections[alias]
    groups = [(fk_name, list(objs)) for fk_name, objs in children]
    groups = [(fk_name, objs) for fk_name, objs in groups if objs]
    for fk_name, objs in groups:
        _check_group(model, fk_name, objs)
    if connection.vendor != "postgresql":
        _insert_with_orm(alias, parent, groups)
        return

    # One JSON parameter per table (the parent's row, each group's rows): the statement is the same
    # for any number of children, so a connection prepares it once.
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
    for (fk_name, objs), pks in zip(groups, row[1:], strict=True):
        if len(pks) != len(objs):  # never expected: the statement inserts every row or fails
            raise RuntimeError(f"{len(objs)} rows inserted into {type(objs[0]).__name__}, {len(pks)} returned")
        for obj, pk in zip(objs, pks, strict=True):
            setattr(obj, fk_name, parent)
            obj.pk = pk
            _saved(obj, alias)


def _check_group(parent_model: type[Model], fk_name: str, objs: list[Model]) -> None:
    child_model = type(objs[0])
    if any(type(obj) is not child_model for obj in objs):
        raise TypeError(f"the children under {fk_name!r} are not all {child_model.__name__}s")
    fk = child_model._meta.get_field(fk_name)
    if not fk.many_to_one or fk.remote_field.model._meta.concrete_model is not parent_model._meta.concrete_model:
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
    # bulk_create() sends no signals (neither does the statement); save() only where it returns no pks.
    if connections[alias].features.can_return_rows_from_bulk_insert:
        type(objs[0])._base_manager.using(alias).bulk_create(objs)
    else:
        for obj in objs:
            obj.save(force_insert=True, using=alias)


def _row(obj: Model, connection, *, skip) -> dict:
    """One row as JSON: {column: value} for `_fields()` without `skip` (the foreign key to the parent)."""
    meta = obj._meta
    if obj._is_pk_set(meta):
        if meta.auto_field is not None:
            raise ValueError(f"{obj!r} has a primary key already: insert_graph() stores new objects only")
    else:
        obj.pk = meta.pk.get_pk_value_on_save(obj)
    fields, related = _plan(type(obj), skip)
    if related is None or related:
        obj._prepare_related_fields_for_save(operation_name="save", fields=related)
    row = {}
    for field in fields:
        value = field.pre_save(obj, True)
        if hasattr(value, "resolve_expression"):  # expressions and database defaults: not needed so far
            raise NotImplementedError(f"insert_graph() stores plain values only, not {value!r} ({field})")
        row[field.column] = _json(field, field.get_db_prep_save(value, connection))
    return row


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
def _plan(model: type[Model], skip) -> tuple[tuple, frozenset | None]:
    """The fields whose values a row takes (all but `skip`) and the relations whose related objects save()
    would check (None: all of them; `skip`, the foreign key to the parent, is set after the insert)."""
    fields = tuple(f for f in _fields(model) if f is not skip)
    if skip is None:
        return fields, None
    return fields, frozenset(f for f in model._meta.concrete_fields if f.is_relation and f is not skip)


@functools.cache
def _fields(model: type[Model]) -> tuple:
    """The columns an insert of a new `model` writes: those of save(force_insert=True) without a pk."""
    meta = model._meta
    for parent in meta.all_parents:
        if parent._meta.concrete_model is not meta.concrete_model:
            raise NotImplementedError(f"{model.__name__}: multi-table inheritance is not supported")
    if any(f is not meta.pk for f in meta.db_returning_fields):
        raise NotImplementedError(f"{model.__name__}: fields with database defaults are not supported")
    fields = tuple(f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field)
    special = [f.name for f in fields if hasattr(f, "get_placeholder")]
    if special:
        raise NotImplementedError(f"{model.__name__}: fields with their own placeholders: {special}")
    return fields


@functools.lru_cache(maxsize=256)
def _statement(alias: str, model: type[Model], shape: tuple[tuple[type[Model], str], ...]) -> str:
    """The statement for a parent of `model` and, per (child model, foreign key name), its children."""
    # Only quoted identifiers from the models' metadata are formatted in; the values are parameters.
    q = connections[alias].ops.quote_name
    parent, pk = q(_PARENT), q(model._meta.pk.column)
    columns = ", ".join(q(f.column) for f in _fields(model))
    table = q(model._meta.db_table)
    ctes = [
        f"{parent} AS (INSERT INTO {table} ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM jsonb_populate_record(NULL::{table}, %s::jsonb) RETURNING {pk})"
    ]
    selected = [f"{parent}.{pk}"]
    for number, (child, fk_name) in enumerate(shape):
        name, fk, child_pk = q(f"c{number}"), child._meta.get_field(fk_name), q(child._meta.pk.column)
        fields = [f for f in _fields(child) if f is not fk]
        table, columns = q(child._meta.db_table), ", ".join(q(f.column) for f in fields)
        values = ", ".join(f"r.{q(f.column)}" for f in fields)
        ctes.append(
            f"{name} AS (INSERT INTO {table} ({q(fk.column)}, {columns}) "  # noqa: S608
            f"SELECT (SELECT {pk} FROM {parent}), {values} "
            f"FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) WITH ORDINALITY AS r "
            f"ORDER BY r.ordinality RETURNING {child_pk})"
        )
        selected.append(f"ARRAY(SELECT {name}.{child_pk} FROM {name})")  # noqa: S608
    return f"WITH {', '.join(ctes)} SELECT {', '.join(selected)} FROM {parent}"  # noqa: S608


def _saved(obj: Model, alias: str) -> None:
    obj._state.adding = False
    obj._state.db = alias
