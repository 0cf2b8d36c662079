"""The admin order list's rows, written in Python with each column worked out once per page.

The admin's own rows (`admin_list.items_for_result`) work out every cell from the start: the column's
field or method, its empty value, its CSS class, then `format_html`; at 50 rows and 7 columns that was a
fifth of the list's time, and the template's loop over the cells more (docs/performance.md, "Scale").
Here each column becomes one function of the row when the page starts, calling the admin's own display
functions (`display_for_field`, `display_for_value`), and a row is one string: the same HTML.
`tests/test_admin_order_list.py` compares both on every column the list shows.

Only the columns the order list has are written here: model fields that are not relations, and
callables (the admin's methods and its own functions). A list with anything else, editable rows or a
link column (a popup's) gets the admin's own rows.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.contrib.admin.templatetags.admin_list import ResultList, results
from django.contrib.admin.utils import display_for_field, display_for_value
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

Cell = Callable[[models.Model], str]


def result_rows(cl) -> list:
    """The rows of the change list `cl` as the admin's template reads them (one `ResultList` a row)."""
    cells = _cells(cl)
    if cells is None:
        return list(results(cl))
    rows = []
    for row in cl.result_list:
        # Each cell escapes its value (conditional_escape), as format_html does in the admin's own cells.
        rows.append(ResultList(None, [mark_safe("".join([cell(row) for cell in cells]))]))  # noqa: S308
    return rows


def _cells(cl) -> list[Cell] | None:
    if cl.formset is not None or cl.list_display_links is not None:
        return None
    cells = []
    for index, name in enumerate(cl.list_display):
        cell = _cell(cl, index, name)
        if cell is None:
            return None
        cells.append(cell)
    return cells


def _cell(cl, index: int, name) -> Cell | None:
    """One column's cell as a function of the row, as `items_for_result` writes it; None for a column it
    does not handle."""
    model_admin = cl.model_admin
    empty = model_admin.get_empty_value_display()
    if callable(name):
        css = f"field-lambda{index}" if name.__name__ == "<lambda>" else f"field-{name.__name__}"
        return _value_cell(name, css, empty)
    try:
        field = cl.lookup_opts.get_field(name)
    except FieldDoesNotExist:
        method = getattr(model_admin, name, None) if name != "__str__" else None
        if not callable(method):
            return None
        css = "action-checkbox" if name == "action_checkbox" else f"field-{name}"
        return _value_cell(method, css, empty)
    if field.is_relation or not field.concrete or field.auto_created:
        return None
    return _field_cell(field, f"field-{name}", empty)


def _blank(value):
    return "" if isinstance(value, str) and value.strip() == "" else value


def _value_cell(function, css: str, empty) -> Cell:
    empty = getattr(function, "empty_value_display", empty)
    boolean = getattr(function, "boolean", False)
    plain, dated = f'<td class="{css}">', f'<td class="{css} nowrap">'

    def cell(row) -> str:
        value = _blank(function(row))
        start = dated if isinstance(value, (datetime.date, datetime.time)) else plain
        return f"{start}{conditional_escape(display_for_value(value, empty, boolean))}</td>"

    return cell


def _field_cell(field, css: str, empty) -> Cell:
    nowrap = isinstance(field, (models.DateField, models.TimeField))
    start = f'<td class="{css} nowrap">' if nowrap else f'<td class="{css}">'
    attname = field.attname

    def cell(row) -> str:
        value = _blank(getattr(row, attname))
        return f"{start}{conditional_escape(display_for_field(value, field, empty))}</td>"

    return cell
