"""An object with the objects it points to and the objects pointing at it, read by one SELECT.

The counterpart of graph_insert.py for the submission's read of an order: on PostgreSQL one statement
reads the row, the rows its foreign keys name (joined), and each set of children as one JSON array
(a subquery per set, `json_agg` of `json_build_array` rows, with each child's own foreign keys joined
too). The ORM's prefetches read the same in one statement per set, and compiling those statements
costs more CPU than running them (docs/performance.md, "Pipeline").

The columns come from the models' public metadata (``_meta.concrete_fields``, ``column``, ``attname``,
``db_table``); the values are made model instances by the documented ``Model.from_db()``, each
JSON-carried value first read by its field's ``to_python()``, each column read directly by its
field's ``from_db_value()`` where it has one, as the ORM reads them. Foreign keys are set by plain
assignment (which fills the ORM's cache of the related object); each set of children is stored on
the instance as a list in ``read_parts`` (see ``Order.parts()``). No model signals are sent.

A joined object (an IBX, an organization, a user, a cage...) is made once per statement: the rows
naming the same one share the instance, as the ORM's prefetches share theirs. A page of an
organization's orders names the same few IBXs, cages and people on every row.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connections, models, router
from django.db.models import Model

_PARENT = "p"


@dataclass(frozen=True)
class Children:
    """A set of children: the models pointing at the parent through `fk`, each read with the objects
    its foreign keys in `joins` name; ordered by `ordering` (field names, `-` for descending)."""

    name: str  # the key in read_parts, e.g. "cages"
    model: type[Model]
    fk: str
    joins: tuple[str, ...] = ()
    ordering: tuple[str, ...] = ("pk",)
    single: bool = False  # at most one (a reverse one-to-one): stored as the instance or None


def read_graph(model: type[Model], pk, *, joins: Sequence[str] = (), children: Sequence[Children] = ()) -> Model:
    """The `model` instance of primary key `pk`, its foreign keys in `joins` filled, and
    `read_parts[c.name]` for each of `children`. Raises model.DoesNotExist."""
    found = read_graphs(model, [pk], joins=joins, children=children)
    if not found:
        raise model.DoesNotExist(f"{model.__name__} matching query does not exist.")
    return found[0]


def read_graphs(model: type[Model], pks, *, joins: Sequence[str] = (), children: Sequence[Children] = ()) -> list:
    """read_graph for every primary key of `pks` in one statement (those that exist, in no set order)."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    joins, children = tuple(joins), tuple(children)
    with connection.cursor() as cursor:
        cursor.execute(_statement(alias, model, joins, children), [list(pks)])
        rows = cursor.fetchall()
    joined: _Joined = {}
    return [_graph(model, row, joins, children, connection, alias, joined) for row in rows]


# The joined objects one statement has made, by model and primary key.
_Joined = dict[tuple[type[Model], object], Model]


def _graph(model, row, joins, children, connection, alias: str, joined: _Joined) -> Model:
    values = iter(row)
    parent = _from_row(model, values, connection, alias)
    for name in joins:
        related_model = model._meta.get_field(name).related_model
        setattr(parent, name, _joined_from_row(related_model, values, connection, alias, joined))
    parts = {}
    for child in children:
        data = next(values)
        if isinstance(data, str):
            data = json.loads(data)
        if child.single:
            parts[child.name] = _child(child, data, parent, alias, joined) if data is not None else None
        else:
            parts[child.name] = [_child(child, item, parent, alias, joined) for item in data or ()]
    parent.read_parts = parts
    return parent


def _joined_from_row(model: type[Model], values, connection, alias: str, joined: _Joined) -> Model | None:
    """The object a row's LEFT JOIN found (None for a null foreign key), made once per statement."""
    reading = _reading(model)
    columns = [next(values) for _ in reading.attnames]
    pk = columns[reading.pk_index]
    if pk is None:
        return None
    found = joined.get((model, pk))
    if found is None:
        found = joined[model, pk] = _from_row(model, iter(columns), connection, alias, reading)
    return found


def read_rows(model: type[Model], sql: str, params, *, fields=None, extra: Sequence[str] = ()) -> list[Model]:
    """Instances of `model` from a statement whose columns are `fields` (default: every concrete field, in
    the model's order; one left out is deferred) and then `extra` (set on each instance by name).

    What ``Manager.raw()`` gives, without its reading of the cursor's description to match columns to
    fields (a third of a short raw query's CPU): the statement is built with these columns in this order.
    """
    alias = router.db_for_read(model)
    connection = connections[alias]
    reading = _reading(model) if fields is None else _reading_of(tuple(fields))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found = []
    for row in rows:
        values = iter(row)
        obj = _from_row(model, values, connection, alias, reading)
        for name in extra:
            setattr(obj, name, next(values))
        found.append(obj)
    return found


def _fields(model: type[Model]) -> list[models.Field]:
    return list(model._meta.concrete_fields)


def _from_row(model: type[Model], values, connection, alias: str, reading: _Reading | None = None) -> Model:
    reading = reading or _reading(model)
    read = []
    for converter in reading.from_db:
        value = next(values)
        if value is not None and converter is not None:
            value = converter(value, None, connection)
        read.append(value)
    return model.from_db(alias, reading.attnames, read)


def _from_json(model: type[Model], values: list, alias: str) -> Model | None:
    reading = _reading(model)
    if values[reading.pk_index] is None:
        return None  # a LEFT JOIN that found nothing: a null foreign key
    read = [
        value if value is None or type(value) in as_is else to_python(value)
        for (as_is, to_python), value in zip(reading.from_json, values, strict=True)
    ]
    return model.from_db(alias, reading.attnames, read)


# The JSON values a field's to_python() returns unchanged, by the exact class of Django's own fields (a
# subclass may convert differently): text as text, booleans, integers, and a foreign key to an automatic key.
_TEXT_FIELDS = (models.CharField, models.TextField, models.EmailField, models.SlugField)
_INTEGER_FIELDS = (models.IntegerField, models.PositiveIntegerField, models.BigIntegerField, models.SmallIntegerField)
_AUTO_FIELDS = (models.AutoField, models.BigAutoField)
_EVERY_JSON_VALUE = (dict, list, str, int, float, bool)


def _json_as_is(field) -> tuple[type, ...]:
    kind = type(field)
    if isinstance(field, models.JSONField):
        return _EVERY_JSON_VALUE  # (a JSON column's value stays as JSON gives it)
    if kind in _TEXT_FIELDS:
        return (str,)
    if kind is models.BooleanField:
        return (bool,)
    if kind in _INTEGER_FIELDS or kind in _AUTO_FIELDS:
        return (int,)
    if kind is models.ForeignKey and type(field.target_field) in _AUTO_FIELDS:
        return (int,)
    return ()


@dataclass(frozen=True)
class _Reading:
    """How a model's columns become an instance: the attribute names, the primary key's position, each
    column's `from_db_value` (or None), and each JSON value's (types kept as they are, `to_python`)."""

    attnames: list[str]
    pk_index: int | None
    from_db: tuple
    from_json: tuple

    @classmethod
    def of(cls, fields: tuple) -> _Reading:
        pks = [i for i, f in enumerate(fields) if f.primary_key]
        return cls(
            attnames=[f.attname for f in fields],
            pk_index=pks[0] if pks else None,
            from_db=tuple(getattr(f, "from_db_value", None) for f in fields),
            from_json=tuple((_json_as_is(f), f.to_python) for f in fields),
        )


@functools.cache
def _reading(model: type[Model]) -> _Reading:
    return _Reading.of(tuple(_fields(model)))


@functools.lru_cache(maxsize=64)
def _reading_of(fields: tuple) -> _Reading:
    return _Reading.of(fields)


def _child(child: Children, data: list, parent: Model, alias: str, joined: _Joined) -> Model:
    values = iter(data)
    obj = _from_json(child.model, [next(values) for _ in _fields(child.model)], alias)
    setattr(obj, child.fk, parent)
    for name in child.joins:
        related_model = child.model._meta.get_field(name).related_model
        columns = [next(values) for _ in _fields(related_model)]
        pk = columns[_reading(related_model).pk_index]
        found = joined.get((related_model, pk)) if pk is not None else None
        if found is None and pk is not None:
            found = joined[related_model, pk] = _from_json(related_model, columns, alias)
        setattr(obj, name, found)
    return obj


# Values JSON cannot carry exactly (a decimal becomes a float, bytes and durations have no JSON form):
# such a field of a child is read by the ORM's prefetch instead.
_NOT_IN_JSON = (models.DecimalField, models.BinaryField, models.DurationField)


def _check_json_fields(model: type[Model]) -> None:
    unsupported = [f.name for f in _fields(model) if isinstance(f, _NOT_IN_JSON)]
    if unsupported:
        raise NotImplementedError(f"{model.__name__}: {unsupported} cannot be read from JSON exactly")


@functools.cache
def _statement(alias: str, model: type[Model], joins: tuple[str, ...], children: tuple[Children, ...]) -> str:
    quote = connections[alias].ops.quote_name
    pk = model._meta.pk.column
    for child in children:
        for part in (child.model, *(child.model._meta.get_field(name).related_model for name in child.joins)):
            _check_json_fields(part)

    def columns(table_alias: str, of: type[Model]) -> list[str]:
        return [f"{table_alias}.{quote(f.column)}" for f in _fields(of)]

    def joined(table_alias: str, of: type[Model], names: tuple[str, ...], prefix: str) -> tuple[list[str], str]:
        selected, sql = columns(table_alias, of), ""
        for i, name in enumerate(names):
            field = of._meta.get_field(name)
            target = field.related_model
            other = f"{prefix}{i}"
            selected += columns(other, target)
            sql += (
                f" LEFT JOIN {quote(target._meta.db_table)} {other}"
                f" ON {other}.{quote(target._meta.pk.column)} = {table_alias}.{quote(field.column)}"
            )
        return selected, sql

    selected, from_sql = joined(_PARENT, model, joins, "j")
    for n, child in enumerate(children):
        table_alias = f"c{n}"
        fk = child.model._meta.get_field(child.fk)
        items, child_joins = joined(table_alias, child.model, child.joins, f"c{n}j")
        order = ", ".join(
            f"{table_alias}.{quote(_column(child.model, name.lstrip('-')))}" + (" DESC" if name.startswith("-") else "")
            for name in child.ordering
        )
        row = f"json_build_array({', '.join(items)})"
        source = (
            f"FROM {quote(child.model._meta.db_table)} {table_alias}{child_joins}"
            f" WHERE {table_alias}.{quote(fk.column)} = {_PARENT}.{quote(pk)}"
        )
        selected.append(
            f"(SELECT {row} {source})" if child.single else f"(SELECT json_agg({row} ORDER BY {order}) {source})"
        )
    return (
        f"SELECT {', '.join(selected)} FROM {quote(model._meta.db_table)} {_PARENT}{from_sql}"  # noqa: S608
        f" WHERE {_PARENT}.{quote(pk)} = ANY(%s::{model._meta.pk.rel_db_type(connections[alias])}[])"
    )


def _column(model: type[Model], name: str) -> str:
    return model._meta.pk.column if name == "pk" else model._meta.get_field(name).column


@dataclass(frozen=True)
class SqlNames:
    """The quoted names of models' tables and columns on a database, from their public metadata: what the
    portal's hand-written statements format in (never a value: those are parameters)."""

    alias: str

    def quote(self, name: str) -> str:
        return connections[self.alias].ops.quote_name(name)

    def table(self, model: type[Model]) -> str:
        return self.quote(model._meta.db_table)

    def column(self, model: type[Model], name: str) -> str:
        """The column of field `name` ("pk" for the primary key)."""
        return self.quote(_column(model, name))

    def pk(self, model: type[Model]) -> str:
        return self.column(model, "pk")
